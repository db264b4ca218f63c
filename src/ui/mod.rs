//! Panels of the desktop app. Each panel is a function `*_ui(ui, ..)` over the state it
//! shows, returning [`Intent`]s instead of mutating shared data or touching files: the app
//! turns intents into worker commands.

pub mod camera_view;
pub mod distribution_panel;
pub mod episode_list;
pub mod grid_panel;
pub mod model_panel;
pub mod plots;
pub mod settings;
pub mod status;
pub mod theme;
pub mod timeline;
pub mod view3d;

use std::path::PathBuf;

/// What a panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Open a file or folder (from the menu dialog, drag-and-drop).
    Open(PathBuf),
    /// Show the native file dialog (off the UI thread).
    PickPath { folder: bool },
    /// Select an episode of the collection.
    SelectEpisode { dataset: usize, episode: usize },
    /// The current step changed (scrub, keys, playback, plot click).
    StepChanged(usize),
    /// Stop background work.
    Cancel,
    /// Compute the action distribution of a dataset.
    ComputeDistribution { dataset: usize },
    /// Reopen an HDF5 dataset with this image orientation.
    SetOrientation {
        dataset: usize,
        orientation: crate::episode::ImageOrientation,
    },
    /// Show the folder dialog for a checkpoint.
    PickModel,
    /// Load a checkpoint folder.
    LoadModel(PathBuf),
    /// Run the model on the current step.
    Predict,
    /// Run the model on every step of the episode.
    RunEpisode,
    /// Stop model work.
    CancelModel,
    /// Ask where to save the episode as a Rerun recording, then export it.
    SaveRecording,
    /// Stream the episode to a running Rerun viewer.
    SendToRerun,
}
