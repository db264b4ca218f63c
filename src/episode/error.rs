//! Typed errors of the episode layer.
//!
//! Every variant names the file it is about and, where it applies, the record (TFRecord
//! index), the step and the camera, so the app and the CLI can show "which file, where, what"
//! without any extra context. Library code returns these; only the edges (worker, CLI) wrap
//! them in `anyhow`.

use std::path::PathBuf;

/// Anything that can go wrong while opening a dataset, an episode or a frame.
#[derive(Debug, thiserror::Error)]
pub enum EpisodeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not a dataset spatialscope can read ({reason})")]
    UnknownFormat { path: PathBuf, reason: String },

    #[error("{path}: {what}")]
    InvalidMetadata { path: PathBuf, what: String },

    #[error("{path}: JSON field `{field}`: {reason}")]
    Json {
        path: PathBuf,
        field: String,
        reason: String,
    },

    #[error("{path}: record {record} at byte {offset}: truncated ({what})")]
    TruncatedRecord {
        path: PathBuf,
        record: usize,
        offset: u64,
        what: String,
    },

    #[error(
        "{path}: record {record} at byte {offset}: {which} CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        path: PathBuf,
        record: usize,
        offset: u64,
        which: CrcKind,
        stored: u32,
        computed: u32,
    },

    #[error("{path}: record {record}: {what}")]
    BadRecord {
        path: PathBuf,
        record: usize,
        what: String,
    },

    #[error("{path}{record}: step {step}, camera `{camera}`: cannot decode image: {reason}")]
    ImageDecode {
        path: PathBuf,
        record: RecordLabel,
        step: usize,
        camera: String,
        reason: String,
    },

    #[error(
        "{path}{record}: step {step}, camera `{camera}`: {kind} is {got_w}x{got_h} px, the camera is {want_w}x{want_h} px"
    )]
    ImageSize {
        path: PathBuf,
        record: RecordLabel,
        step: usize,
        camera: String,
        kind: FrameKind,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },

    #[error("{path}{record}: step {step}, dimension {dim}: action is not finite ({value})")]
    NonFiniteAction {
        path: PathBuf,
        record: RecordLabel,
        step: usize,
        dim: usize,
        value: f32,
    },

    #[error("{path}: step {step}: no such step (the episode has {len})")]
    StepOutOfRange {
        path: PathBuf,
        step: usize,
        len: usize,
    },

    #[error("{path}: no camera `{camera}`")]
    NoSuchCamera { path: PathBuf, camera: String },

    #[error("{path}: episode {index}: no such episode (the dataset has {len})")]
    EpisodeOutOfRange {
        path: PathBuf,
        index: usize,
        len: usize,
    },

    #[error("{path}: path template `{template}` leaves the dataset folder")]
    PathEscapes { path: PathBuf, template: String },

    #[error(
        "{path}: refusing to read it: it resolves to {target}, outside the dataset folder {root} (a symbolic link out of the dataset?)"
    )]
    OutsideDataset {
        path: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },

    #[error("{path}: episode {episode}: {what}")]
    EpisodeData {
        path: PathBuf,
        episode: usize,
        what: String,
    },

    #[error("{path}: episode {episode}, step {step}, camera `{camera}`: video: {reason}")]
    Video {
        path: PathBuf,
        episode: usize,
        step: usize,
        camera: String,
        reason: String,
    },

    #[error("cancelled")]
    Cancelled,
}

/// Optional record index, displayed as ", record N" (or nothing) after a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordLabel(pub Option<usize>);

impl std::fmt::Display for RecordLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(r) => write!(f, ", record {r}"),
            None => Ok(()),
        }
    }
}

/// Which of the two TFRecord checksums failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcKind {
    /// The masked CRC32C of the 8-byte length field.
    Length,
    /// The masked CRC32C of the payload.
    Data,
}

impl std::fmt::Display for CrcKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Length => "length",
            Self::Data => "data",
        })
    }
}

/// RGB or depth, for messages and cache keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    Rgb,
    Depth,
}

impl std::fmt::Display for FrameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rgb => "RGB image",
            Self::Depth => "depth image",
        })
    }
}

impl EpisodeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn metadata(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Self::InvalidMetadata {
            path: path.into(),
            what: what.into(),
        }
    }

    /// The file the error is about, when there is one (for the status bar).
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Io { path, .. }
            | Self::UnknownFormat { path, .. }
            | Self::InvalidMetadata { path, .. }
            | Self::Json { path, .. }
            | Self::TruncatedRecord { path, .. }
            | Self::CrcMismatch { path, .. }
            | Self::BadRecord { path, .. }
            | Self::ImageDecode { path, .. }
            | Self::ImageSize { path, .. }
            | Self::NonFiniteAction { path, .. }
            | Self::StepOutOfRange { path, .. }
            | Self::NoSuchCamera { path, .. }
            | Self::EpisodeOutOfRange { path, .. }
            | Self::PathEscapes { path, .. }
            | Self::OutsideDataset { path, .. }
            | Self::EpisodeData { path, .. }
            | Self::Video { path, .. } => Some(path),
            Self::Cancelled => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, EpisodeError>;
