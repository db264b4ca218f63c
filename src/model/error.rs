//! Errors of the model layer. Every variant names what is wrong in terms a user can act on:
//! the file, the config field or the tensor name, never just "shape mismatch".

use std::path::PathBuf;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {what}")]
    Io { path: PathBuf, what: String },
    #[error("{path}: field `{field}`: {what}")]
    Config {
        path: PathBuf,
        field: String,
        what: String,
    },
    #[error("checkpoint {dir}: tensor `{name}`: {what}")]
    Tensor {
        dir: PathBuf,
        name: String,
        what: String,
    },
    #[error("tokenizer {path}: {what}")]
    Tokenizer { path: PathBuf, what: String },
    #[error("input: {0}")]
    Input(String),
    #[error("model computation failed: {0}")]
    Compute(String),
    #[error("cancelled")]
    Cancelled,
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        ModelError::Compute(e.to_string())
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
