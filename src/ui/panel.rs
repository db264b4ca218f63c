//! The panel protocol. A panel draws from the [`Session`] (read-only) and its own view
//! state, and returns [`Intent`]s for everything that changes the session or needs a
//! worker; it never sends commands, reads files or runs the model.
//!
//! The registry is this file: a panel is added by writing its file (a type implementing
//! [`Panel`]), and here a [`PanelId`] with its title, a field of [`Panels`] and a line of
//! [`Panels::get_mut`]; the dock then shows it, lets it be moved, maximised and hidden, and
//! persists where it is.

use serde::{Deserialize, Serialize};

use super::Intent;
use super::camera_view::CamerasPanel;
use super::episode_list::EpisodesPanel;
use super::expert_panel::ExpertPanel;
use super::feature_panel::FeaturePanel;
use super::grid_panel::GridPanel;
use super::model_panel::ModelPanel;
use super::plots::PlotsPanel;
use super::session::Session;
use super::view3d::View3dPanel;

/// A dockable panel.
pub trait Panel {
    /// Draws the panel into `ui` (the dock's pane); returns what it asks the app to do.
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent>;
}

/// Which panel a dock pane shows (persisted in the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PanelId {
    Episodes,
    Cameras,
    View3d,
    Plots,
    Grid,
    Model,
    Experts,
    Features,
}

impl PanelId {
    /// Every panel, in the View menu's order.
    pub const ALL: [PanelId; 8] = [
        PanelId::Episodes,
        PanelId::Cameras,
        PanelId::View3d,
        PanelId::Plots,
        PanelId::Grid,
        PanelId::Model,
        PanelId::Experts,
        PanelId::Features,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Episodes => "Episodes",
            Self::Cameras => "Cameras",
            Self::View3d => "3-D view",
            Self::Plots => "Plots",
            Self::Grid => "Action grid",
            Self::Model => "Model",
            Self::Experts => "Depth experts",
            Self::Features => "Features",
        }
    }
}

/// Every panel with its view state.
#[derive(Default)]
pub struct Panels {
    pub episodes: EpisodesPanel,
    pub cameras: CamerasPanel,
    pub view3d: View3dPanel,
    pub plots: PlotsPanel,
    pub grid: GridPanel,
    pub model: ModelPanel,
    pub experts: ExpertPanel,
    pub features: FeaturePanel,
}

impl Panels {
    /// The panel behind `id`.
    pub fn get_mut(&mut self, id: PanelId) -> &mut dyn Panel {
        match id {
            PanelId::Episodes => &mut self.episodes,
            PanelId::Cameras => &mut self.cameras,
            PanelId::View3d => &mut self.view3d,
            PanelId::Plots => &mut self.plots,
            PanelId::Grid => &mut self.grid,
            PanelId::Model => &mut self.model,
            PanelId::Experts => &mut self.experts,
            PanelId::Features => &mut self.features,
        }
    }
}
