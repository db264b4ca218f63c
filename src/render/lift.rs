//! Depth images lifted to points on the GPU: what the CPU hands the renderer per step is each
//! camera's depth image as stored (u16 with a scale, or f32 metres) and its RGB bytes, with
//! K^-1 and the pose; a compute pass (`shaders/lift.wgsl`) lifts each image once into a
//! buffer of points on the GPU, which the point pipeline draws every frame. Per step the
//! upload is 5-7 bytes per pixel instead of 32 per lifted point, and the CPU lifts nothing.
//!
//! Buffers, not textures: WebGPU has no 3-byte RGB texture format, so a texture would make
//! the CPU widen every pixel to RGBA first; a storage buffer takes the decoder's bytes as
//! they are and the shader picks out its three bytes. Each image carries a [`LiftImage::key`]
//! naming its content (episode, step, camera): the renderer keeps the buffers of the images it
//! drew last and uploads only images it has not seen, so a sliding window of N steps uploads
//! one step's images per step.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

/// Bytes shared with the data they came from (a decoded frame behind an `Arc`), uploaded
/// without a copy on the CPU.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A depth image as the renderer receives it.
#[derive(Clone)]
pub enum LiftDepth {
    /// Integer depth (0: invalid), `scale_m` metres per unit, as 16-bit PNGs store it.
    U16 { values: Arc<Vec<u16>>, scale_m: f32 },
    /// Float metres (invalid: 0, negative, NaN or infinite), as the bytes of `f32`s.
    F32(SharedBytes),
}

impl LiftDepth {
    /// The bytes uploaded.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::U16 { values, .. } => bytemuck::cast_slice(values.as_slice()),
            Self::F32(b) => (**b).as_ref(),
        }
    }
}

/// One camera's images at one step, with what lifts them.
#[derive(Clone)]
pub struct LiftImage {
    /// Names the content (episode, step, camera): equal keys mean equal images and poses.
    pub key: u64,
    pub width_px: u32,
    pub height_px: u32,
    pub depth: LiftDepth,
    /// RGB bytes (3 per pixel, row-major) of the same size as the depth; `None`: missing or
    /// of another size (points take `fallback_rgb`).
    pub rgb: Option<SharedBytes>,
    pub fallback_rgb: u32,
    /// K^-1 of the depth image's pixels (rows).
    pub k_inv: [[f32; 3]; 3],
    /// Column-major world-from-camera (identity: the cloud is in this camera's frame).
    pub world_from_camera: [[f32; 4]; 4],
    /// The camera's index (camera-id colours).
    pub camera: u32,
    /// Patches per side of the model's patch grid when this is the model camera (its points
    /// then know their patch, for the attention and patch-colour modes), else 0.
    pub patches_per_side: u32,
    /// Valid depth pixels (the points this image draws).
    pub valid_px: usize,
}

impl std::fmt::Debug for LiftImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiftImage")
            .field("key", &self.key)
            .field("size_px", &(self.width_px, self.height_px))
            .field("depth_u16", &matches!(self.depth, LiftDepth::U16 { .. }))
            .field("has_rgb", &self.rgb.is_some())
            .field("camera", &self.camera)
            .field("valid_px", &self.valid_px)
            .finish()
    }
}

impl LiftImage {
    pub fn pixels(&self) -> usize {
        self.width_px as usize * self.height_px as usize
    }

    /// Whether the buffers hold a whole image (checked before drawing: the shader indexes
    /// them by pixel).
    pub fn is_consistent(&self) -> bool {
        let n = self.pixels();
        let depth_ok = match &self.depth {
            LiftDepth::U16 { values, .. } => values.len() == n,
            LiftDepth::F32(b) => (**b).as_ref().len() == n * 4,
        };
        let rgb_ok = self
            .rgb
            .as_ref()
            .is_none_or(|b| (**b).as_ref().len() == n * 3);
        n > 0 && depth_ok && rgb_ok
    }

    /// The uniform block of this image.
    pub fn gpu(&self) -> LiftCameraGpu {
        let row = |r: [f32; 3]| [r[0], r[1], r[2], 0.0];
        let (depth_u16, depth_scale_m) = match &self.depth {
            LiftDepth::U16 { scale_m, .. } => (1, *scale_m),
            LiftDepth::F32(_) => (0, 1.0),
        };
        LiftCameraGpu {
            world_from_camera: self.world_from_camera,
            k_inv_rows: self.k_inv.map(row),
            width_px: self.width_px,
            height_px: self.height_px,
            depth_u16,
            depth_scale_m,
            camera: self.camera,
            patches_per_side: self.patches_per_side,
            has_rgb: u32::from(self.rgb.is_some()),
            fallback_rgb: self.fallback_rgb,
        }
    }

    /// Bytes this image uploads (depth and RGB, each padded to whole 4-byte words).
    pub fn upload_bytes(&self) -> u64 {
        let pad = |n: usize| n.div_ceil(4) as u64 * 4;
        pad(self.depth.bytes().len()) + self.rgb.as_ref().map_or(0, |b| pad((**b).as_ref().len()))
    }
}

/// The images of a step (or of a window of steps) to lift on the GPU.
#[derive(Debug, Clone, Default)]
pub struct LiftFrames {
    pub images: Vec<LiftImage>,
}

impl LiftFrames {
    /// Points drawn: the valid depth pixels of every image.
    pub fn point_count(&self) -> usize {
        self.images.iter().map(|i| i.valid_px).sum()
    }
}

/// One image's uniform block (144 bytes; WGSL `LiftCamera` in shaders/lift.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct LiftCameraGpu {
    pub world_from_camera: [[f32; 4]; 4],
    /// Rows of K^-1, each padded to a vec4.
    pub k_inv_rows: [[f32; 4]; 3],
    pub width_px: u32,
    pub height_px: u32,
    pub depth_u16: u32,
    pub depth_scale_m: f32,
    pub camera: u32,
    pub patches_per_side: u32,
    pub has_rgb: u32,
    pub fallback_rgb: u32,
}

const _: () = assert!(size_of::<LiftCameraGpu>() == 144);

/// Column-major identity (a cloud in its camera's own frame).
pub const IDENTITY: [[f32; 4]; 4] = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];
