//! Errors of the action-grid layer: bad actions, bad configurations, unknown keys.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("action dimension {dim} is not finite ({value})")]
    NonFiniteAction { dim: usize, value: f64 },

    #[error("an action has {got} values; SpatialVLA actions have 7")]
    WrongWidth { got: usize },

    #[error("unknown unnorm key `{key}`; known keys: {}", known.join(", "))]
    UnknownKey { key: String, known: Vec<String> },

    #[error("{path}: {what}")]
    Config { path: PathBuf, what: String },

    #[error("grid axis `{axis}`: {what}")]
    BadEdges { axis: &'static str, what: String },

    #[error("Gaussian for `{axis}`: {what}")]
    BadGaussian { axis: &'static str, what: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, GridError>;
