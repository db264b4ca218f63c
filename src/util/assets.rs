//! The bundled data: found in the working directory when run from the repository (as
//! `cargo run` does), else next to the crate's manifest (for a binary run from elsewhere).

use std::path::{Path, PathBuf};

fn bundled(relative: &str) -> PathBuf {
    let local = Path::new(relative);
    if local.exists() {
        return local.to_owned();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The bundled sample episodes (`sample_episodes/`).
pub fn default_sample_path() -> PathBuf {
    bundled("sample_episodes")
}

/// The bundled released action grid and statistics (`assets/spatialvla/`).
pub fn default_grid_path() -> PathBuf {
    bundled("assets/spatialvla")
}

/// The bundled tiny random-weight SpatialVLA checkpoint (`assets/tiny_spatialvla/`).
pub fn default_model_path() -> PathBuf {
    bundled("assets/tiny_spatialvla")
}

/// The tiny random-weight Depth Anything V2 checkpoint the tests compare with the official
/// code (`tests/golden/depth_anything_v2/tiny_relative.safetensors`): what the "Depth
/// experts" panel offers until the user points it at real weights.
pub fn default_depth_expert_path() -> PathBuf {
    bundled("tests/golden/depth_anything_v2/tiny_relative.safetensors")
}

/// The tiny random-weight SPA ViT the tests compare with SPA's own code
/// (`tests/golden/spa/tiny_spa.safetensors`): what the Features panel offers until the
/// user points it at real weights.
pub fn default_spa_path() -> PathBuf {
    bundled("tests/golden/spa/tiny_spa.safetensors")
}
