//! Robot episodes: the typed model every other layer reads, and the file formats that
//! produce it.
//!
//! Pure data layer: std, serde, image and protobuf only; nothing here knows about the GUI,
//! the GPU or the model. Opening a dataset reads metadata only ([`Dataset::open`]); opening
//! an episode reads its small data (actions, poses) and decodes frames only on demand
//! through a byte-bounded [`FrameCache`].

mod action;
mod cache;
mod camera;
mod dataset;
mod encoded_check;
mod error;
pub mod formats;
mod frame;
pub mod intrinsics_table;
mod types;

pub use action::{
    ActionConvention, ActionFrame, Actions, DeclaredStats, DimStats, GripperSense, Proprio,
    RotationConvention, TranslationUnit,
};
pub use cache::{CacheStats, CachedFrame, FrameCache, FrameKey};
pub use camera::{CalibrationOrigin, Camera, CameraPoses, Intrinsics, opencv_from_opengl};
pub use dataset::{Collection, Dataset, EpisodeSummary, open_path};
pub use error::{CrcKind, EpisodeError, FrameKind, RecordLabel, Result};
pub use frame::{DepthImage, MM_TO_M, RgbImage, millimetres_if_exact};
pub use types::{
    DatasetFormat, EncodedFrame, Episode, EpisodeSource, FrameSource, ImageOrientation, VideoFacts,
};
