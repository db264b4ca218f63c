//! SpatialVLA in candle (spec 5-7): the real architecture loading the published checkpoint
//! layout, run on CPU (or CUDA with the `cuda` feature) in float32 or bfloat16.
//!
//! - `config`, `checkpoint`: `config.json` with the library defaults resolved; the
//!   safetensors headers checked against the tensor table before anything is built.
//! - `preprocess`: Pillow-exact resize and rescale; sensor depth at the model size.
//! - `siglip`, `ego3d`, `gemma2`, `spatialvla`: the network, weight paths mirroring the
//!   checkpoint's tensor names.
//! - `prompt`: the tokenizer and the prompt layout.
//! - `predict`: one frame in, tokens, probabilities, attention and the decoded chunk out;
//!   `predict_batch`: several frames through the network as one batch.
//!
//! This layer knows candle but nothing of the GUI; the worker calls it.

pub mod activation;
pub mod align;
pub mod amx;
pub mod attention;
pub mod batched;
pub mod checkpoint;
pub mod config;
pub mod conv1x1;
pub mod conv3x3;
pub mod conv_transpose;
pub mod depth_anything;
pub mod device;
pub mod ego3d;
pub mod error;
pub mod expert;
pub mod features;
pub mod gemma2;
pub mod linear;
mod linear_bf16;
pub mod packed_load;
pub mod predict;
pub mod predict_batch;
pub mod preprocess;
pub mod processor;
pub mod prompt;
pub mod pth;
pub mod resample;
pub mod sgemm;
pub mod siglip;
pub mod spa;
pub mod spatialvla;
pub mod strided;
#[cfg(test)]
mod test_values;
pub mod vit_block;
pub mod weights;
pub mod zoe_config;
pub mod zoe_resample;
pub mod zoedepth;

pub use checkpoint::{Checkpoint, expected_tensors};
pub use config::SpatialVlaConfig;
pub use error::{ModelError, Result};
pub use predict::{DepthChoice, DepthInput, EstimatedDepth, PredictRequest, Prediction, Predictor};
pub use spatialvla::{FrameInput, GenerateOptions, Generation, SpatialVla};
