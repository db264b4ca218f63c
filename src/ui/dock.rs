//! The dockable layout (egui_tiles, as Rerun's viewer): every [`PanelId`] is a pane with a
//! tab the user can drag to rearrange, resize, hide from the View menu, or maximise (the
//! button at the right of each tab bar, or View > Maximise; Escape restores). The tree is
//! persisted under a versioned key; a restored tree that lacks a panel or holds one twice
//! is replaced by the default layout.

use egui_tiles::{Container, SimplificationOptions, Tile, TileId, Tiles, Tree, UiResponse};
use serde::{Deserialize, Serialize};

use super::Intent;
use super::panel::{PanelId, Panels};
use super::session::Session;

/// Storage key of the layout; bump the version when [`PanelId`] changes meaning.
pub const STORAGE_KEY: &str = "spatialscope.dock.v1";

/// The layout and which panel, if any, fills the window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dock {
    pub tree: Tree<PanelId>,
    #[serde(skip)]
    pub maximized: Option<PanelId>,
}

impl Default for Dock {
    fn default() -> Self {
        Self {
            tree: default_tree(),
            maximized: None,
        }
    }
}

/// Episodes on the left; cameras, the 3-D view and the plots in the middle; the action
/// grid, the model, the depth experts and the features as tabs on the right.
pub fn default_tree() -> Tree<PanelId> {
    let mut tiles = Tiles::default();
    let tab = |tiles: &mut Tiles<PanelId>, id| {
        let pane = tiles.insert_pane(id);
        tiles.insert_tab_tile(vec![pane])
    };
    let episodes = tab(&mut tiles, PanelId::Episodes);
    let cameras = tab(&mut tiles, PanelId::Cameras);
    let view3d = tab(&mut tiles, PanelId::View3d);
    let plots = tab(&mut tiles, PanelId::Plots);
    let grid = tiles.insert_pane(PanelId::Grid);
    let model = tiles.insert_pane(PanelId::Model);
    let experts = tiles.insert_pane(PanelId::Experts);
    let features = tiles.insert_pane(PanelId::Features);
    let right = tiles.insert_tab_tile(vec![grid, model, experts, features]);
    let middle = tiles.insert_vertical_tile(vec![cameras, view3d, plots]);
    set_shares(
        &mut tiles,
        middle,
        &[(cameras, 1.25), (view3d, 1.5), (plots, 0.85)],
    );
    let root = tiles.insert_horizontal_tile(vec![episodes, middle, right]);
    set_shares(
        &mut tiles,
        root,
        &[(episodes, 0.8), (middle, 2.2), (right, 1.4)],
    );
    Tree::new(egui::Id::unique("spatialscope_dock"), root, tiles)
}

fn set_shares(tiles: &mut Tiles<PanelId>, container: TileId, shares: &[(TileId, f32)]) {
    if let Some(Tile::Container(Container::Linear(lin))) = tiles.get_mut(container) {
        for (id, share) in shares {
            lin.shares.set_share(*id, *share);
        }
    }
}

impl Dock {
    /// A restored layout if it holds every panel exactly once, else the default.
    pub fn validated(self) -> Self {
        let mut seen = Vec::new();
        for tile in self.tree.tiles.tiles() {
            if let Tile::Pane(id) = tile {
                seen.push(*id);
            }
        }
        let complete = self.tree.root().is_some()
            && seen.len() == PanelId::ALL.len()
            && PanelId::ALL.iter().all(|id| seen.contains(id));
        if complete { self } else { Self::default() }
    }

    /// The pane showing `id`.
    fn pane(&self, id: PanelId) -> Option<TileId> {
        self.tree.tiles.find_pane(&id)
    }

    /// Whether `id` is shown (not hidden from the View menu).
    pub fn is_visible(&self, id: PanelId) -> bool {
        self.pane(id)
            .is_some_and(|t| self.tree.tiles.is_visible(t) && self.visible_parent(t))
    }

    fn visible_parent(&self, tile: TileId) -> bool {
        self.tree
            .tiles
            .parent_of(tile)
            .is_none_or(|p| self.tree.tiles.is_visible(p))
    }

    /// Shows or hides `id`; a tab container left with nothing shown is hidden with it.
    pub fn set_visible(&mut self, id: PanelId, visible: bool) {
        let Some(tile) = self.pane(id) else { return };
        self.tree.tiles.set_visible(tile, visible);
        if let Some(parent) = self.tree.tiles.parent_of(tile)
            && let Some(Tile::Container(c)) = self.tree.tiles.get(parent)
        {
            let children: Vec<TileId> = c.children().copied().collect();
            let any = children.iter().any(|c| self.tree.tiles.is_visible(*c));
            self.tree.tiles.set_visible(parent, any);
            if visible
                && let Some(Tile::Container(Container::Tabs(tabs))) =
                    self.tree.tiles.get_mut(parent)
            {
                tabs.active = Some(tile);
            }
        }
        if visible {
            self.tree
                .make_active(|_, t| matches!(t, Tile::Pane(p) if *p == id));
        }
    }

    /// Draws the layout (or the maximised panel) and collects the panels' intents.
    pub fn ui(&mut self, ui: &mut egui::Ui, panels: &mut Panels, session: &Session) -> Vec<Intent> {
        if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            self.maximized = None;
        }
        let mut intents = Vec::new();
        if let Some(id) = self.maximized {
            ui.horizontal(|ui| {
                ui.strong(id.title());
                if ui
                    .button("Restore layout")
                    .on_hover_text("back to the docked panels (Escape)")
                    .clicked()
                {
                    self.maximized = None;
                }
            });
            ui.separator();
            intents.extend(panels.get_mut(id).ui(ui, session));
            return intents;
        }
        let mut behavior = Behavior {
            panels,
            session,
            intents: &mut intents,
            maximize: None,
        };
        self.tree.ui(&mut behavior, ui);
        if let Some(id) = behavior.maximize {
            self.maximized = Some(id);
        }
        intents
    }
}

/// Draws each pane with its panel.
struct Behavior<'a> {
    panels: &'a mut Panels,
    session: &'a Session,
    intents: &'a mut Vec<Intent>,
    /// Set when a tab bar's maximise button is clicked.
    maximize: Option<PanelId>,
}

impl egui_tiles::Behavior<PanelId> for Behavior<'_> {
    fn pane_ui(&mut self, ui: &mut egui::Ui, _tile: TileId, pane: &mut PanelId) -> UiResponse {
        // Panels fill their pane; those that can overflow scroll themselves.
        egui::Frame::new()
            .inner_margin(egui::Margin::same(4))
            .show(ui, |ui| {
                ui.set_min_size(ui.available_size());
                self.intents
                    .extend(self.panels.get_mut(*pane).ui(ui, self.session));
            });
        UiResponse::None
    }

    fn tab_title_for_pane(&mut self, pane: &PanelId) -> egui::WidgetText {
        pane.title().into()
    }

    fn top_bar_right_ui(
        &mut self,
        tiles: &Tiles<PanelId>,
        ui: &mut egui::Ui,
        _tile: TileId,
        tabs: &egui_tiles::Tabs,
        _scroll_offset: &mut f32,
    ) {
        let active = tabs.active.and_then(|t| tiles.get_pane(&t)).copied();
        if let Some(id) = active
            && ui
                .small_button("Maximise")
                .on_hover_text(format!("maximise {} (Escape restores)", id.title()))
                .clicked()
        {
            self.maximize = Some(id);
        }
    }

    fn simplification_options(&self) -> SimplificationOptions {
        SimplificationOptions {
            all_panes_must_have_tabs: true,
            ..SimplificationOptions::default()
        }
    }

    fn min_size(&self) -> f32 {
        80.0
    }
}
