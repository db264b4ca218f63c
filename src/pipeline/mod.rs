//! Work on episodes that is neither a file format nor drawing, with no threads and no GUI:
//! the worker threads and the command line call the same functions.
//!
//! - [`predict`]: one step through the model (camera, depth, K, unnorm key), compared with
//!   the ground truth; the attention of a token over the image.
//! - [`distribution`]: a dataset's action distribution against the action grid, computed in
//!   small pieces so a worker can interleave it with other work and cancel it.
//! - [`eval`]: open-loop evaluation rows, the evaluation store and its summary.
//! - [`doctor`]: health checks over every episode of a dataset (the same one-episode-per-step
//!   shape), with findings, severities and a keep list.

pub mod depth_expert;
pub mod distribution;
pub mod doctor;
pub mod eval;
pub mod predict;
pub mod probe;

pub use predict::{
    AttentionSelection, IntrinsicsChoice, RunSettings, StepPrediction, attention_over_image,
    choose_unnorm_key, model_camera, predict_step, predict_steps,
};
