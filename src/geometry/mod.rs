//! Geometry of SpatialVLA's Ego3D position encoding (spec section 5) and of metric depth in
//! general: intrinsics as the reference scales and rounds them, back-projection of depth to
//! camera-frame points (full resolution, and the model's patch-level sampling), and the
//! sinusoidal encoding the model adds to its vision tokens.
//!
//! Pure math (float32 where the reference computes in float32, so results agree to the ulp
//! or within the golden tolerances); no GUI, GPU, ML or file-format crates.

pub mod backproject;
pub mod depth_align;
pub mod depth_compare;
pub mod ego3d;
pub mod intrinsics;

pub use backproject::{PatchSampling, backproject_depth, lift, patch_points, to_world};
pub use ego3d::{EGO3D_CENTRE_M, EGO3D_N_FREQS, frequency_encoding, frequency_encoding_n};
pub use intrinsics::{Mat3f, bf16_matrix, bf16_round, inverse_pinhole, scale_to};
