//! wgpu rendering inside egui: the 3-D point view (depth-tested into its own targets and
//! composited into the panel), its orbit camera, and the GPU-visible types. WGSL lives in
//! `shaders/`, one file per pipeline.

pub mod camera;
pub mod cloud;
pub mod gpu_types;
pub mod lines;
pub mod offscreen;
pub mod points;

pub use camera::OrbitCamera;
pub use cloud::PointCloud;
pub use gpu_types::{PointGpu, PointUniforms, pack_camera_patch, pack_rgb};
pub use lines::{LineBuilder, LineGpu, LineSet};
pub use points::{PointCloudCallback, PointRenderer};
