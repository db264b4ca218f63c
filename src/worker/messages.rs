//! What the UI and the worker say to each other: commands in, messages out, and the
//! decoded, display-ready data the messages carry.

use std::path::PathBuf;
use std::sync::Arc;

use crate::episode::{
    self, DatasetFormat, DepthImage, Episode, EpisodeError, EpisodeSummary, RgbImage,
};

/// Requests from the UI.
#[derive(Debug, Clone)]
pub enum Command {
    /// Open a file or folder (replaces the current collection).
    Open(PathBuf),
    /// Open episode `episode` of dataset `dataset` of the current collection.
    OpenEpisode { dataset: usize, episode: usize },
    /// Decode the frames of `step` of the open episode and build its 3-D scene with the
    /// view's options (latest wins). The view's state lives in the app only: every request
    /// carries it.
    ShowStep {
        episode_uid: u64,
        step: usize,
        scene: crate::scene::SceneOptions,
    },
    /// Stop background work (summaries, prefetch).
    Cancel,
    /// Load the action grid and statistics from a checkpoint folder or processor_config.json.
    LoadGrid(PathBuf),
    /// Export the open episode (and the predictions computed so far) as a Rerun recording,
    /// on its own thread with progress; `Cancel` stops it.
    ExportRecording {
        episode_uid: u64,
        predictions: std::collections::BTreeMap<usize, Arc<crate::pipeline::StepPrediction>>,
        target: super::export::RecordingTarget,
        /// Frames that are not already JPEG stored as JPEG of this quality (else PNG).
        jpeg_quality: Option<u8>,
    },
    /// Render the 3-D view offscreen and save it as a PNG.
    SaveViewPng(Box<super::export::PngRequest>),
    /// Reopen an HDF5 dataset with another image orientation (the open episode of it is
    /// reopened by the app, which gets `DatasetReplaced`).
    SetOrientation {
        dataset: usize,
        orientation: episode::ImageOrientation,
    },
    /// Compute the action distribution of a dataset against the loaded grid (background,
    /// with progress; `Cancel` stops it).
    ComputeDistribution {
        dataset: usize,
        source: crate::pipeline::distribution::StatsSource,
        noop_threshold: f64,
    },
    /// Read the bookmarks file.
    LoadBookmarks(PathBuf),
    /// Write every bookmark to the bookmarks file.
    SaveBookmarks {
        file: PathBuf,
        all: crate::util::bookmarks::Bookmarks,
    },
    /// Write bookmarks as `bookmarks.csv`, `bookmarks.json` and `bookmarks_lerobot.txt` into
    /// `dir` (never inside a dataset).
    ExportBookmarks {
        dir: PathBuf,
        list: Vec<crate::util::bookmarks::Bookmark>,
    },
    /// Look up the evaluation stores recorded for the dataset at `root` in the registry of
    /// the data folder `dir`.
    FindStores { dir: PathBuf, root: PathBuf },
    /// Read an evaluation store (`spatialscope eval`'s folder) into slot 0 (A) or 1 (B, the
    /// one compared with `compare_with`, A, when given).
    OpenStore {
        path: PathBuf,
        slot: usize,
        compare_with: Option<Arc<crate::pipeline::eval::LoadedStore>>,
    },
    /// Run the dataset doctor over a dataset (background, with progress; `Cancel` stops it).
    RunDoctor {
        dataset: usize,
        options: crate::pipeline::doctor::DoctorOptions,
    },
}

/// A failure the user should see: the file and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct UserError {
    pub file: Option<PathBuf>,
    pub message: String,
}

impl From<&EpisodeError> for UserError {
    fn from(e: &EpisodeError) -> Self {
        Self {
            file: e.path().map(ToOwned::to_owned),
            message: e.to_string(),
        }
    }
}

/// What the UI needs to list a dataset.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    pub name: String,
    pub format: DatasetFormat,
    pub root: PathBuf,
    pub summaries: Vec<EpisodeSummary>,
    /// Per episode: the error that stopped it opening, if any (filled in as found).
    pub failures: Vec<Option<UserError>>,
    /// The action statistics the dataset ships with (LeRobot `meta/stats.json`).
    pub declared_stats: Option<episode::DeclaredStats>,
    /// HDF5 only: the image orientation in use and why.
    pub orientation: Option<(episode::ImageOrientation, String)>,
}

impl DatasetInfo {
    pub fn of(d: &episode::Dataset) -> Self {
        Self {
            name: d.name.clone(),
            format: d.format,
            root: d.root.clone(),
            summaries: (0..d.len()).map(|i| d.quick_summary(i)).collect(),
            failures: vec![None; d.len()],
            declared_stats: d.declared_stats().cloned(),
            orientation: d.orientation(),
        }
    }
}

/// One camera's decoded frame at a step.
#[derive(Debug, Clone)]
pub struct CameraFrame {
    pub rgb: Result<Arc<RgbImage>, UserError>,
    /// RGB as an egui image, ready for a texture (converted here, not on the UI thread).
    pub rgb_image: Option<Arc<egui::ColorImage>>,
    pub depth: Option<Result<Arc<DepthImage>, UserError>>,
    /// Depth coloured with turbo over `depth_range_m`.
    pub depth_image: Option<Arc<egui::ColorImage>>,
    /// (near, far) of the colour scale, metres.
    pub depth_range_m: Option<(f32, f32)>,
}

/// All cameras of one step.
#[derive(Debug, Clone)]
pub struct FrameBundle {
    pub episode_uid: u64,
    pub step: usize,
    pub cameras: Vec<CameraFrame>,
    /// The step's 3-D scene (cloud and lines), when some shown camera has depth and
    /// intrinsics.
    pub scene: Option<crate::scene::StepScene>,
}

/// Messages to the UI.
#[derive(Debug, Clone)]
pub enum WorkerMessage {
    /// Long work in progress; `total == 0` means unknown.
    Progress {
        task: String,
        done: usize,
        total: usize,
    },
    /// Long work finished or cancelled.
    Idle,
    CollectionOpened {
        root: PathBuf,
        datasets: Vec<DatasetInfo>,
    },
    /// One dataset was reopened (new orientation): its new listing.
    DatasetReplaced {
        dataset: usize,
        info: Box<DatasetInfo>,
    },
    SummaryUpdated {
        dataset: usize,
        episode: usize,
        summary: EpisodeSummary,
    },
    /// The episode could not be opened (also sent as `Error`); the list marks it.
    EpisodeFailed {
        dataset: usize,
        episode: usize,
        error: UserError,
    },
    EpisodeOpened {
        dataset: usize,
        episode: usize,
        data: Arc<Episode>,
    },
    Frame(Arc<FrameBundle>),
    /// The action grid and statistics of a checkpoint.
    GridLoaded(Arc<crate::action_grid::ProcessorConfig>),
    /// A finished distribution of `dataset`.
    Distribution {
        dataset: usize,
        result: Arc<crate::action_grid::distribution::Distribution>,
    },
    /// The bookmarks file's content (or why it could not be read).
    BookmarksLoaded {
        file: PathBuf,
        result: Result<crate::util::bookmarks::Bookmarks, String>,
    },
    /// The evaluation stores recorded for the open dataset (may be empty).
    StoresFound(Vec<crate::pipeline::eval::registry::RegisteredStore>),
    /// An evaluation store read into `slot`, with its comparison against A when it is B.
    StoreOpened {
        slot: usize,
        store: Arc<crate::pipeline::eval::LoadedStore>,
        comparison: Option<Arc<crate::pipeline::eval::compare::Comparison>>,
    },
    /// The doctor's findings on `dataset`.
    Doctor {
        dataset: usize,
        result: Arc<crate::pipeline::doctor::DatasetHealth>,
    },
    /// An export finished (what was written, for the status line).
    Exported(String),
    Error(UserError),
}
