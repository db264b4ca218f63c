//! Panels of the desktop app, behind one protocol ([`panel::Panel`]): a panel draws from
//! the [`session::Session`] (read-only) and its own view state, and returns [`Intent`]s
//! instead of mutating shared data, sending commands or touching files; the app turns
//! intents into session changes and worker commands. The panels live in a dockable,
//! persisted layout ([`dock`]); the menu, instruction header, timeline and status bar are
//! the app's fixed chrome around it.

pub mod bookmarks_panel;
pub mod camera_view;
pub mod distribution_panel;
pub mod dock;
pub mod doctor_panel;
pub mod episode_list;
pub mod expert_panel;
pub mod failures_panel;
pub mod feature_panel;
pub mod feature_session;
pub mod grid_panel;
pub mod model_panel;
pub mod panel;
pub mod path_prompt;
pub mod plots;
pub mod scene_toggles;
pub mod session;
pub mod settings;
pub mod status;
pub mod theme;
pub mod timeline;
pub mod view3d;

pub use panel::{Panel, PanelId, Panels};
pub use session::Session;

use std::path::PathBuf;

/// Steps and dimensions the plots mark (from a doctor finding).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Highlight {
    /// First and last step, inclusive.
    pub steps: Option<(usize, usize)>,
    /// Dimension names (`dx`, a state name); empty: every plot.
    pub dims: Vec<String>,
}

/// What a panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Open a file or folder (from the menu dialog, drag-and-drop).
    Open(PathBuf),
    /// Show the native file dialog (off the UI thread).
    PickPath {
        folder: bool,
    },
    /// Select an episode of the collection.
    SelectEpisode {
        dataset: usize,
        episode: usize,
    },
    /// The current step changed (scrub, keys, playback, plot click).
    StepChanged(usize),
    /// Stop background work.
    Cancel,
    /// Compute the action distribution of a dataset.
    ComputeDistribution {
        dataset: usize,
    },
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
    /// The 3-D view's scene options changed (cameras shown, the model's view): rebuild the
    /// step's scene.
    SceneChanged,
    /// Ask where to save the 3-D view as a PNG drawn with these uniforms at `size` pixels.
    SavePng {
        uniforms: crate::render::PointUniforms,
        size: [u32; 2],
    },
    /// Normalise with other statistics (grid panel, distribution).
    SetStatsChoice(grid_panel::StatsChoice),
    /// Open the action-distribution window.
    ShowDistribution,
    /// Show the typed-path prompt for opening a dataset (File > Open path…).
    OpenPathPrompt,
    /// Save the episode as a Rerun recording at this path (typed, no dialog).
    SaveRecordingTo(PathBuf),
    /// Save the 3-D view as PNG at this path (typed, no dialog).
    SavePngTo {
        path: PathBuf,
        uniforms: crate::render::PointUniforms,
        size: [u32; 2],
    },
    /// Bookmark the current step (tag and note from the Bookmarks window).
    AddBookmark,
    /// Remove bookmark `index` of dataset root `root`.
    RemoveBookmark {
        root: String,
        index: usize,
    },
    /// Export the bookmarks of the open datasets into a folder.
    ExportBookmarks(PathBuf),
    /// Read an evaluation store into slot 0 (A) or 1 (B, compared with A).
    OpenStore {
        path: PathBuf,
        slot: usize,
    },
    /// Close the store in a slot (closing A closes B too).
    CloseStore(usize),
    /// Run the dataset doctor on a dataset.
    RunDoctor {
        dataset: usize,
    },
    /// Open an episode at a step (a doctor finding), marking what the finding is about.
    JumpTo {
        dataset: usize,
        episode: usize,
        step: Option<usize>,
        highlight: Option<Highlight>,
    },
    /// Which depth the 3-D view lifts once the step has a prediction.
    SetCloudDepth(crate::scene::CloudDepth),
    /// Load Depth Anything V2 weights on the model thread.
    LoadExpert(PathBuf),
    /// Compare the current step's raw depth with depth experts.
    CompareDepth(crate::worker::expert::ExpertRequest),
    SetExpertCloud(crate::scene::expert_view::ExpertCloud),
    /// The attention shown (token, layer/head, overlay).
    SetAttention(session::AttentionView),
    /// Load SPA ViT weights on the model thread.
    LoadSpa(PathBuf),
    /// Feature maps of the current step (the app adds the model panel's run settings).
    ComputeFeatures(feature_panel::FeatureAsk),
    /// The per-layer probe over the open episode.
    RunFeatureProbe {
        every: usize,
        max_frames: usize,
        dumps: Option<PathBuf>,
    },
    /// Spatial Forcing's mean cosine for every step with a dump.
    RunAlignSeries(crate::pipeline::probe::view::AlignSettings),
    CancelFeatureRun,
    /// Colour the 3-D view by the Features panel's patch colours (this map).
    SetCloudPatchColours(feature_session::CloudPatchColours),
}
