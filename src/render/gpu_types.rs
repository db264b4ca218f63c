//! GPU-visible structs. Keep in sync with shaders/point_struct.wgsl (PointGpu), shaders/points.wgsl (PointUniforms) and shaders/lift.wgsl (LiftCameraGpu, in lift.rs).

use bytemuck::{Pod, Zeroable};

/// One point (32 bytes; WGSL `Point`: vec3 position, then u32/f32/u32 and two f32).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct PointGpu {
    /// World (or camera) frame position, metres.
    pub position: [f32; 3],
    /// RGBA8 packed with R in the low byte (WGSL `unpack4x8unorm`).
    pub rgb: u32,
    /// Depth along the source camera's optical axis, metres.
    pub depth_m: f32,
    /// Index of the source camera in the low 16 bits; in the high 16 bits 1 + the index of
    /// the model's image patch this point falls in (0: none), for the attention colour mode.
    pub camera: u32,
    /// Camera-frame x and y, metres (with `depth_m` as z: the point as the camera saw it, for
    /// the Ego3D-encoding colour mode).
    pub cam_xy: [f32; 2],
}

/// Packs a camera index and an optional model patch index into `PointGpu::camera`.
pub fn pack_camera_patch(camera: usize, patch: Option<usize>) -> u32 {
    (camera as u32 & 0xFFFF) | (patch.map_or(0, |p| (p as u32 + 1) & 0xFFFF) << 16)
}

/// Per-draw uniforms (112 bytes; WGSL `Uniforms`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct PointUniforms {
    /// Column-major view-projection (wgpu clip space, depth 0..1).
    pub view_proj: [[f32; 4]; 4],
    pub viewport_px: [f32; 2],
    pub point_size_px: f32,
    /// 0 RGB, 1 depth, 2 height, 3 camera id, 4 Ego3D channel, 5 attention, 6 patch colours.
    pub color_mode: u32,
    pub height_range: [f32; 2],
    pub depth_range: [f32; 2],
    /// Ego3D feature of a sample: `axis * 17 + j` (j 0 = the centred value, 1..=8 sin, 9..=16
    /// cos of 2^k v').
    pub ego3d_channel: u32,
    /// Multiplies attention values (1 / max of the shown map).
    pub attention_scale: f32,
    /// When > 0, points are discs of this diameter in metres instead of `point_size_px`.
    pub point_size_m: f32,
    /// Focal length of the view in pixels (for metric point sizes).
    pub focal_px: f32,
}

const _: () = assert!(size_of::<PointGpu>() == 32);
const _: () = assert!(size_of::<PointUniforms>() == 112);

/// Packs RGB into the shader's RGBA8 word.
pub fn pack_rgb(r: u8, g: u8, b: u8) -> u32 {
    u32::from(r) | (u32::from(g) << 8) | (u32::from(b) << 16) | (255 << 24)
}

impl PointUniforms {
    /// Uniforms for drawing `cloud` from `camera` into `size_px` pixels.
    pub fn for_view(
        camera: &super::OrbitCamera,
        cloud: &super::PointCloud,
        size_px: [u32; 2],
        point_size_px: f32,
        color_mode: super::ColorMode,
    ) -> Self {
        let (lo, hi) = cloud.bounds;
        PointUniforms {
            view_proj: camera.view_proj(size_px[0] as f32 / size_px[1].max(1) as f32),
            viewport_px: [size_px[0] as f32, size_px[1] as f32],
            point_size_px,
            color_mode: color_mode.shader_index(),
            height_range: [lo[2], hi[2]],
            depth_range: [cloud.depth_range_m.0, cloud.depth_range_m.1],
            ego3d_channel: 0,
            attention_scale: 1.0,
            point_size_m: 0.0,
            focal_px: size_px[1] as f32 / 2.0 / (camera.fov_y_rad / 2.0).tan(),
        }
    }
}
