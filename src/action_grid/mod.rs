//! SpatialVLA's adaptive action grid, faithful to the reference (spec sections 2-4).
//!
//! A 7-D action `[dx, dy, dz, droll, dpitch, dyaw, gripper]` is normalised with a dataset's
//! q01/q99 ([`ActionStatistics`]), its translation turned into spherical coordinates
//! ([`spherical`]), and each of theta/phi/r/roll/pitch/yaw binned on equal-probability edges
//! of a fitted Gaussian ([`ActionGrid`]); the bins become 3 tokens per step
//! ([`TokenLayout`]). Decoding takes bin midpoints and un-normalises. [`decode_chunk`]
//! reproduces the processor's chunk decoding and says what was malformed; [`adapt`]
//! re-grids the action-token embeddings for a new robot.
//!
//! Pure: std, serde and libm only; no GUI, GPU or ML crates.

pub mod adapt;
mod chunk;
pub mod compare;
mod config;
pub mod distribution;
mod error;
pub mod gaussian;
mod grid;
mod linear;
mod normalize;
mod reading;
pub mod spherical;
mod token_value;
mod tokens;

pub use chunk::{ChunkDecode, ChunkIssue, EOS_ID, decode_chunk};
pub use config::ProcessorConfig;
pub use error::{GridError, Result};
pub use gaussian::Gaussian;
pub use grid::{ActionBins, ActionGrid, Axis, BinCounts, bin_index};
pub use linear::LinearBins;
pub use normalize::{ActionStatistics, check_action, percentile_sorted, rank_keys_by_spans};
pub use reading::{ActionReading, read_action};
pub use token_value::{TokenValue, token_value};
pub use tokens::{RELEASED_ACTION_TOKEN_BEGIN_ID, Slot, TokenLayout};
