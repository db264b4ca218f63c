//! wgpu rendering inside egui: the 3-D point view (depth-tested into its own targets and
//! composited into the panel), its orbit camera, the GPU-visible types, the colour modes and
//! colour maps, and depth images lifted to points on the GPU (`lift`, a compute pass). WGSL
//! lives in `shaders/`, one file per pipeline plus `point_struct.wgsl`, the point layout the
//! point pipeline and the lift share.
//!
//! Knows no files, models or panels: it draws a [`PointCloud`] and a [`LineSet`] that the
//! `scene` layer assembled. `renderer` holds the egui paint callback and its pipelines,
//! `offscreen` the same drawing into a texture read back as an image.

pub mod camera;
pub mod cloud;
pub mod color_mode;
pub mod colormap;
pub mod gpu_types;
pub mod lift;
mod lift_gpu;
pub mod lines;
pub mod offscreen;
pub mod palette;
pub mod renderer;

pub use camera::OrbitCamera;
pub use cloud::PointCloud;
pub use color_mode::ColorMode;
pub use gpu_types::{PointGpu, PointUniforms, pack_camera_patch, pack_rgb};
pub use lift::{LiftDepth, LiftFrames, LiftImage};
pub use lines::{LineBuilder, LineGpu, LineSet};
pub use renderer::{PointCloudCallback, PointRenderer};
