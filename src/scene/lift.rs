//! A step's cloud for the GPU to lift ([`crate::render::lift`]): the same cameras, poses,
//! K and warnings as the CPU lift ([`super::cloud::step_cloud`]), but what leaves here is each
//! camera's depth image as stored and its RGB bytes, shared with the frame cache (no copy).
//!
//! The CPU makes one read-only pass over each depth image: it counts the valid pixels, takes
//! their depth range and, where every value is a whole number of millimetres (a 16-bit PNG
//! decoded with the millimetre scale, bit for bit), re-packs it as u16 so 2 bytes per pixel
//! go up instead of 4. The framing statistics (bounds, median, spread) come from a sample of
//! about [`SAMPLE_PIXELS`] pixels per image lifted on the CPU, the same sample the CPU lift
//! takes them from, so both lifts frame and colour a step identically.
//!
//! A window of N steps lifts each step's images in that step's camera pose, so a moving
//! wrist camera maps the scene; it needs poses (in a camera's own frame the steps would not
//! line up), and without them only the current step is shown.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::cloud::{CloudCamera, cloud_cameras, invalid_warning, patch_of};
use crate::episode::{DepthImage, Episode, MM_TO_M as MM, RgbImage, millimetres_if_exact};
use crate::geometry::{PatchSampling, lift, to_world};
use crate::render::lift::{IDENTITY, LiftDepth, LiftFrames, LiftImage, SharedBytes};
use crate::render::{PointCloud, PointGpu, pack_camera_patch, pack_rgb};

/// Pixels a window of steps may lift at most (32 Mi: 1 GiB of 32-byte points on the GPU);
/// a longer window keeps its newest steps and says so.
pub const MAX_WINDOW_PIXELS: usize = 32 << 20;
/// Pixels per image lifted on the CPU for the framing statistics.
pub const SAMPLE_PIXELS: usize = 4_096;

struct RgbBytes(Arc<RgbImage>);
impl AsRef<[u8]> for RgbBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0.pixels
    }
}
struct DepthBytes(Arc<DepthImage>);
impl AsRef<[u8]> for DepthBytes {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0.depth_m)
    }
}

/// What one pass over a depth image finds.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthScan {
    pub valid_px: usize,
    /// (min, max) over valid pixels, metres; `None` when none is valid.
    pub range_m: Option<(f32, f32)>,
    /// The image as whole millimetres (0: invalid), when every pixel is one bit for bit.
    pub millimetres: Option<Vec<u16>>,
}

/// Counts, ranges and (when exact, [`millimetres_if_exact`]) re-packs `depth_m` as
/// millimetres.
pub fn scan_depth(depth_m: &[f32]) -> DepthScan {
    let (mut valid, mut lo, mut hi) = (0usize, f32::INFINITY, f32::NEG_INFINITY);
    for &d in depth_m {
        let ok = d > 0.0 && d < f32::INFINITY;
        valid += usize::from(ok);
        lo = lo.min(if ok { d } else { f32::INFINITY });
        hi = hi.max(if ok { d } else { f32::NEG_INFINITY });
    }
    DepthScan {
        valid_px: valid,
        range_m: (valid > 0).then_some((lo, hi)),
        millimetres: millimetres_if_exact(depth_m),
    }
}

/// Names an image's content for the renderer's cache.
fn image_key(ep: &Episode, step: usize, ci: usize, world: bool) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (ep.uid, step, ci, world).hash(&mut h);
    h.finish()
}

/// `pose` as the shader's column-major f32 matrix.
fn column_major(pose: &nalgebra::Matrix4<f64>) -> [[f32; 4]; 4] {
    std::array::from_fn(|c| std::array::from_fn(|r| pose[(r, c)] as f32))
}

/// About [`SAMPLE_PIXELS`] of `cam`'s valid pixels lifted on the CPU, appended to `sample`:
/// what a step's framing statistics are computed from, for either lift (so both frame a
/// step identically).
pub(crate) fn sample_points(cam: &CloudCamera, sample: &mut Vec<PointGpu>) {
    let d = &cam.depth;
    let (w, h) = (d.width_px as usize, d.height_px as usize);
    let stride = (w * h / SAMPLE_PIXELS).max(1);
    let mut cam_pts = Vec::new();
    let mut pixels = Vec::new();
    for p in (0..w * h).step_by(stride) {
        let z = d.depth_m[p];
        if z > 0.0 && z.is_finite() {
            cam_pts.push(lift(&cam.k_inv, (p % w) as f32, (p / w) as f32, z));
            pixels.push(p);
        }
    }
    let world = match &cam.pose {
        Some(pose) => to_world(pose, &cam_pts),
        None => cam_pts.clone(),
    };
    let fallback = unknown_rgb();
    for ((&p, c), pos) in pixels.iter().zip(&cam_pts).zip(world) {
        let rgb = cam.rgb.as_ref().map_or(fallback, |img| {
            let o = p * 3;
            pack_rgb(img.pixels[o], img.pixels[o + 1], img.pixels[o + 2])
        });
        let patch = cam.is_model_camera.then(|| patch_of(p % w, p / w, w, h));
        sample.push(PointGpu {
            position: pos,
            rgb,
            depth_m: c[2],
            camera: pack_camera_patch(cam.ci, patch),
            cam_xy: [c[0], c[1]],
        });
    }
}

fn unknown_rgb() -> u32 {
    let [r, g, b] = crate::render::palette::UNKNOWN_POINT;
    pack_rgb(r, g, b)
}

/// One camera's image for the GPU.
fn lift_image(cam: &CloudCamera, key: u64, scan: DepthScan) -> LiftImage {
    let d = &cam.depth;
    let depth = match scan.millimetres {
        Some(v) => LiftDepth::U16 {
            values: Arc::new(v),
            scale_m: MM,
        },
        None => LiftDepth::F32(Arc::new(DepthBytes(cam.depth.clone())) as SharedBytes),
    };
    LiftImage {
        key,
        width_px: d.width_px,
        height_px: d.height_px,
        depth,
        rgb: cam
            .rgb
            .clone()
            .map(|img| Arc::new(RgbBytes(img)) as SharedBytes),
        fallback_rgb: unknown_rgb(),
        k_inv: cam.k_inv,
        world_from_camera: cam.pose.as_ref().map_or(IDENTITY, column_major),
        camera: cam.ci as u32,
        patches_per_side: if cam.is_model_camera {
            PatchSampling::RELEASED.patches_per_side() as u32
        } else {
            0
        },
        valid_px: scan.valid_px,
    }
}

/// The cloud of `step` (and of the `window_steps - 1` steps before it, when every camera has
/// a pose at each) for the GPU to lift; `None` when no camera gives a valid pixel.
pub fn step_cloud_gpu(
    ep: &Episode,
    step: usize,
    enabled: impl Fn(usize) -> bool,
    window_steps: usize,
) -> Option<PointCloud> {
    step_cloud_gpu_within(ep, step, enabled, window_steps, MAX_WINDOW_PIXELS)
}

/// [`step_cloud_gpu`] with a window of at most `max_pixels` pixels (the newest steps that
/// fit, and a warning saying so; always at least this step).
pub fn step_cloud_gpu_within(
    ep: &Episode,
    step: usize,
    enabled: impl Fn(usize) -> bool,
    window_steps: usize,
    max_pixels: usize,
) -> Option<PointCloud> {
    let (now, world, mut warnings) = cloud_cameras(ep, step, &enabled, None);
    let step_px: usize = now.iter().map(|c| c.depth.depth_m.len()).sum();
    let fit = (max_pixels / step_px.max(1)).max(1);
    let wanted = window_steps.clamp(1, step + 1);
    if wanted > fit {
        warnings.push(format!(
            "accumulating {wanted} steps would lift {:.1} M pixels; showing the newest {fit} \
             (at most {:.1} M pixels, {:.2} GB of points on the GPU)",
            (wanted * step_px) as f64 / 1e6,
            max_pixels as f64 / 1e6,
            (max_pixels * size_of::<PointGpu>()) as f64 / 1e9,
        ));
    }
    let first = step + 1 - wanted.min(fit);
    let mut steps: Vec<(usize, Vec<CloudCamera>)> = Vec::new();
    if first < step {
        if world {
            for s in first..step {
                let (cams, w, _) = cloud_cameras(ep, s, &enabled, None);
                if w {
                    steps.push((s, cams));
                }
            }
        } else {
            warnings.push(
                "accumulating steps needs every shown camera's pose; showing this step only"
                    .to_owned(),
            );
        }
    }
    steps.push((step, now));
    let cams: Vec<(usize, CloudCamera)> = steps
        .into_iter()
        .flat_map(|(s, cams)| cams.into_iter().map(move |c| (s, c)))
        .collect();
    // One scan per image, the images side by side (each is a pass over its own memory).
    let scans = crate::util::parallel::map_each(&cams, "scanning a depth image", |(_, c)| {
        scan_depth(&c.depth.depth_m)
    });
    let mut images = Vec::new();
    let mut sample = Vec::new();
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    {
        for ((s, cam), scan) in cams.into_iter().zip(scans) {
            if s == step {
                warnings.extend(invalid_warning(
                    &cam.name,
                    scan.valid_px,
                    cam.depth.depth_m.len(),
                ));
            }
            if let Some((a, b)) = scan.range_m {
                lo = lo.min(a);
                hi = hi.max(b);
            }
            let key = image_key(ep, s, cam.ci, world);
            sample_points(&cam, &mut sample);
            images.push(lift_image(&cam, key, scan));
        }
    }
    let frames = LiftFrames { images };
    if frames.point_count() == 0 {
        return None;
    }
    let mut cloud = PointCloud::gpu_lifted(sample, world, frames, (lo, hi));
    cloud.warnings = warnings;
    Some(cloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millimetre_depth_is_repacked_exactly_and_anything_else_is_not() {
        let mm: Vec<f32> = [0u16, 1, 523, 65_535]
            .iter()
            .map(|&v| f32::from(v) * MM)
            .collect();
        let s = scan_depth(&mm);
        assert_eq!(s.millimetres.as_deref(), Some(&[0u16, 1, 523, 65_535][..]));
        assert_eq!(s.valid_px, 3);
        assert_eq!(s.range_m, Some((mm[1], mm[3])));
        // A value between millimetres, NaN, a negative or a too-far depth keeps f32.
        for bad in [0.5234f32, f32::NAN, -0.25, 70.0, f32::INFINITY, 0.0004] {
            let s = scan_depth(&[0.5, bad]);
            assert_eq!(s.millimetres, None, "{bad}");
        }
        let s = scan_depth(&[f32::NAN, -1.0, 0.0]);
        assert_eq!((s.valid_px, s.range_m), (0, None));
    }
}
