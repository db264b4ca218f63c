//! The point clouds of one step: every camera with depth and intrinsics back-projected at
//! full resolution (invalid depth skipped) and coloured by its RGB frame, in the world frame
//! when the cameras' poses are known (multi-camera fusion), else in the first depth camera's
//! own frame; the model's Ego3D samples ("as the model sees it"); and model-size depth maps
//! lifted with the model's K. Built off the UI thread; the results are GPU-ready.

use std::sync::Arc;

use crate::episode::{DepthImage, Episode, Result, RgbImage};
use crate::geometry::PatchSampling;
use crate::geometry::{backproject_depth, inverse_pinhole, to_world};
use crate::render::{PointCloud, PointGpu, pack_camera_patch, pack_rgb};

/// A camera of a step's cloud, checked and decoded: what the CPU lift and the GPU lift
/// both start from.
pub(crate) struct CloudCamera {
    pub ci: usize,
    pub name: String,
    pub k_inv: crate::geometry::Mat3f,
    /// World-from-camera when the cloud is in the world frame.
    pub pose: Option<nalgebra::Matrix4<f64>>,
    pub depth: Arc<DepthImage>,
    /// The RGB frame when it has the depth's size (else points take the unknown colour).
    pub rgb: Option<Arc<RgbImage>>,
    /// Whether this is the camera the model sees (its points know their model patch).
    pub is_model_camera: bool,
}

/// The cameras of `step` that make its cloud, whether it is in the world frame, and the
/// problems met. Cameras without depth or intrinsics are skipped, and so are cameras whose
/// frames fail to decode (their errors surface in the camera views). `world`: `None` decides
/// (every usable camera has a pose at `step`), `Some(false)` forces the first camera's frame.
pub(crate) fn cloud_cameras(
    ep: &Episode,
    step: usize,
    enabled: impl Fn(usize) -> bool,
    world: Option<bool>,
) -> (Vec<CloudCamera>, bool, Vec<String>) {
    let usable: Vec<usize> = (0..ep.cameras.len())
        .filter(|&c| enabled(c) && ep.cameras[c].has_depth && ep.cameras[c].intrinsics.is_some())
        .collect();
    let world = world.unwrap_or(true)
        && !usable.is_empty()
        && usable
            .iter()
            .all(|&c| ep.cameras[c].poses.world_from_camera(step).is_some());
    let ids: Vec<usize> = if world {
        usable
    } else {
        usable.into_iter().take(1).collect()
    };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let model_camera = ep.model_camera();
    for ci in ids {
        let cam = &ep.cameras[ci];
        let Some(k) = cam.intrinsics else { continue };
        let pose = cam.poses.world_from_camera(step).filter(|_| world);
        if let Some(err) = pose.and_then(rigid_error).filter(|e| *e > 1e-3) {
            warnings.push(format!(
                "camera {}: the pose's rotation is not orthonormal (|R^T R - I| up to {err:.3}); its points may be distorted",
                cam.name
            ));
        }
        let kf = [
            [k.fx_px as f32, 0.0, k.cx_px as f32],
            [0.0, k.fy_px as f32, k.cy_px as f32],
            [0.0, 0.0, 1.0],
        ];
        let Some(k_inv) =
            inverse_pinhole(&kf).filter(|_| kf.iter().flatten().all(|v| v.is_finite()))
        else {
            warnings.push(format!(
                "camera {}: intrinsics are singular or not finite ({k:?}); skipped",
                cam.name
            ));
            continue;
        };
        let depth = match ep.depth(step, ci) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                warnings.push(format!(
                    "camera {}: depth unreadable ({e}); skipped",
                    cam.name
                ));
                continue;
            }
        };
        let Ok(rgb) = ep.rgb(step, ci) else {
            warnings.push(format!(
                "camera {}: RGB unreadable; its depth is skipped",
                cam.name
            ));
            continue;
        };
        if k.width_px != depth.width_px || k.height_px != depth.height_px {
            warnings.push(format!(
                "camera {}: depth is {}x{} but K is for {}x{}",
                cam.name, depth.width_px, depth.height_px, k.width_px, k.height_px
            ));
        }
        let same_size = rgb.width_px == depth.width_px && rgb.height_px == depth.height_px;
        out.push(CloudCamera {
            ci,
            name: cam.name.clone(),
            k_inv,
            pose: pose.copied(),
            depth,
            rgb: same_size.then_some(rgb),
            is_model_camera: Some(ci) == model_camera,
        });
    }
    (out, world, warnings)
}

/// The warning for a camera whose depth has invalid pixels.
pub(crate) fn invalid_warning(name: &str, valid: usize, total: usize) -> Option<String> {
    (valid < total).then(|| {
        format!(
            "camera {name}: {} of {total} depth pixels invalid (NaN, zero, negative or infinite), skipped",
            total - valid
        )
    })
}

/// 1 + the model patch of pixel (`u`, `v`) of a `w` x `h` model-camera image (the image is
/// squashed to the model input, so the patch grid spans the whole frame).
pub(crate) fn patch_of(u: usize, v: usize, w: usize, h: usize) -> usize {
    let patches = PatchSampling::RELEASED.patches_per_side();
    (v * patches / h) * patches + (u * patches / w)
}

/// Builds the cloud of `step` on the CPU, every valid depth pixel lifted (see
/// [`cloud_cameras`] for which cameras make it). Its framing statistics come from the pixel
/// sample the GPU lift uses ([`super::lift::sample_points`]); the depth range is exact.
pub fn step_cloud(
    ep: &Episode,
    step: usize,
    enabled: impl Fn(usize) -> bool,
) -> Result<PointCloud> {
    let (cameras, world, mut warnings) = cloud_cameras(ep, step, enabled, None);
    let mut points = Vec::new();
    let mut sample = Vec::new();
    for cam in cameras {
        super::lift::sample_points(&cam, &mut sample);
        let depth = &cam.depth;
        let lifted = backproject_depth(&depth.depth_m, depth.width_px, depth.height_px, &cam.k_inv);
        warnings.extend(invalid_warning(
            &cam.name,
            lifted.len(),
            depth.depth_m.len(),
        ));
        let cam_pts: Vec<[f32; 3]> = lifted.iter().map(|(_, p)| *p).collect();
        let positions = match &cam.pose {
            Some(pose) => to_world(pose, &cam_pts),
            None => cam_pts,
        };
        let w = depth.width_px as usize;
        let h = depth.height_px as usize;
        let [ur, ug, ub] = crate::render::palette::UNKNOWN_POINT;
        for ((pixel, cam_p), pos) in lifted.iter().zip(positions) {
            let patch = cam
                .is_model_camera
                .then(|| patch_of(pixel % w, pixel / w, w, h));
            let color = match &cam.rgb {
                Some(rgb) => {
                    let o = pixel * 3;
                    pack_rgb(rgb.pixels[o], rgb.pixels[o + 1], rgb.pixels[o + 2])
                }
                None => pack_rgb(ur, ug, ub),
            };
            points.push(PointGpu {
                position: pos,
                rgb: color,
                depth_m: cam_p[2],
                camera: pack_camera_patch(cam.ci, patch),
                cam_xy: [cam_p[0], cam_p[1]],
            });
        }
    }
    let mut cloud = PointCloud::new(points, world);
    cloud.frame_like(&PointCloud::new(sample, world));
    cloud.warnings = warnings;
    Ok(cloud)
}

/// How far a pose's rotation is from orthonormal: max |R^T R - I|, or `None` if not finite.
fn rigid_error(pose: &nalgebra::Matrix4<f64>) -> Option<f64> {
    let r = pose.fixed_view::<3, 3>(0, 0);
    let e = r.transpose() * r - nalgebra::Matrix3::identity();
    let m = e.iter().fold(0f64, |m, v| m.max(v.abs()));
    m.is_finite().then_some(m)
}

/// "As the model sees it": the Ego3D samples SpatialVLA would compute for camera `ci` at
/// `step` if fed this depth: the depth resized to the 224 x 224 model input (nearest
/// neighbour, so invalid pixels stay 0 as they would reach the model), K scaled row-wise to
/// 224 (and rounded to bfloat16 when `bf16_intrinsics`, as the reference inference path
/// does), 7 x 7 pooling, 2 x 2 samples per 14-px patch, lifted, in the world frame when the
/// camera has a pose. 1024 points, coloured by the RGB pixel under each sample.
pub fn model_view_cloud(
    ep: &Episode,
    step: usize,
    ci: usize,
    bf16_intrinsics: bool,
) -> Option<PointCloud> {
    use crate::geometry::{bf16_matrix, patch_points, scale_to};
    let cam = ep.cameras.get(ci)?;
    let k = cam.intrinsics?;
    let depth = ep.depth(step, ci).ok()??;
    let rgb = ep.rgb(step, ci).ok()?;
    let s = PatchSampling::RELEASED;
    let n = s.image_size;
    let (w, h) = (depth.width_px as usize, depth.height_px as usize);
    let resized: Vec<f32> = (0..n * n)
        .map(|i| {
            let (x, y) = (i % n, i / n);
            let sx = ((x as f32 + 0.5) * w as f32 / n as f32) as usize;
            let sy = ((y as f32 + 0.5) * h as f32 / n as f32) as usize;
            depth.depth_m[sy.min(h - 1) * w + sx.min(w - 1)]
        })
        .collect();
    let k_full = [
        [k.fx_px, 0.0, k.cx_px],
        [0.0, k.fy_px, k.cy_px],
        [0.0, 0.0, 1.0],
    ];
    let mut k224 = scale_to(&k_full, k.width_px, k.height_px, n as u32, n as u32);
    if bf16_intrinsics {
        k224 = bf16_matrix(&k224);
    }
    let k_inv = inverse_pinhole(&k224)?;
    let rows = patch_points(&s, &resized, &k_inv)?;
    let cam_pts: Vec<[f32; 3]> = rows
        .iter()
        .flat_map(|r| r.chunks(3).map(|c| [c[0], c[1], c[2]]))
        .collect();
    let world = cam.poses.world_from_camera(step);
    let positions = match world {
        Some(pose) => to_world(pose, &cam_pts),
        None => cam_pts.clone(),
    };
    // Sample pixel of each point, in packing order (patch-major, 2 x 2 within a patch).
    let pixels = s.sample_pixels();
    let side = s.samples_per_side();
    let (p, r) = (s.patches_per_side(), s.reso);
    let mut order = Vec::with_capacity(side * side);
    for pr in 0..p {
        for pc in 0..p {
            for a in 0..r {
                for b in 0..r {
                    order.push((pr * r + a) * side + (pc * r + b));
                }
            }
        }
    }
    let (rw, rh) = (rgb.width_px as usize, rgb.height_px as usize);
    let points = order
        .iter()
        .zip(positions.iter().zip(&cam_pts))
        .enumerate()
        .map(|(k, (&i, (pos, cp)))| {
            let (u, v) = pixels[i];
            let x = ((u * rw as f32 / n as f32) as usize).min(rw - 1);
            let y = ((v * rh as f32 / n as f32) as usize).min(rh - 1);
            let o = (y * rw + x) * 3;
            PointGpu {
                position: *pos,
                rgb: pack_rgb(rgb.pixels[o], rgb.pixels[o + 1], rgb.pixels[o + 2]),
                depth_m: cp[2],
                // Packing order: the `reso^2` samples of a patch are consecutive.
                camera: pack_camera_patch(ci, Some(k / (r * r))),
                cam_xy: [cp[0], cp[1]],
            }
        })
        .collect();
    Some(PointCloud::new(points, world.is_some()))
}

/// How the points of a model-size depth map are coloured.
#[derive(Debug, Clone, Copy)]
pub enum DepthCloudColor<'a> {
    /// The camera's RGB frame under each pixel (any size; sampled).
    Rgb(&'a RgbImage),
    /// One colour for every point (to tell two depth sources apart).
    Solid([u8; 3]),
}

/// A depth map at the model input size (`size` x `size`, metres, 0 = invalid) lifted with
/// the K the model used at that size, in the world frame when the camera's pose at `step` is
/// known (else the camera frame): the cloud SpatialVLA's Ego3D sees, from whichever depth
/// source it was given. Returns the points only (callers merge and wrap them).
pub fn model_size_depth_points(
    ep: &Episode,
    step: usize,
    ci: usize,
    depth_m: &[f32],
    size: usize,
    k_model: &crate::geometry::Mat3f,
    color: DepthCloudColor<'_>,
) -> Option<(Vec<PointGpu>, bool)> {
    let k_inv = inverse_pinhole(k_model)?;
    if depth_m.len() != size * size {
        return None;
    }
    let lifted = backproject_depth(depth_m, size as u32, size as u32, &k_inv);
    let cam_pts: Vec<[f32; 3]> = lifted.iter().map(|(_, p)| *p).collect();
    let pose = ep.cameras.get(ci)?.poses.world_from_camera(step);
    let positions = match pose {
        Some(p) => to_world(p, &cam_pts),
        None => cam_pts.clone(),
    };
    let patches = PatchSampling::RELEASED.patches_per_side();
    let points = lifted
        .iter()
        .zip(positions)
        .map(|((pixel, cp), pos)| {
            let (u, v) = (pixel % size, pixel / size);
            let rgb = match color {
                DepthCloudColor::Solid(c) => pack_rgb(c[0], c[1], c[2]),
                DepthCloudColor::Rgb(img) => {
                    let (w, h) = (img.width_px as usize, img.height_px as usize);
                    let x = (u * w / size).min(w.saturating_sub(1));
                    let y = (v * h / size).min(h.saturating_sub(1));
                    let o = (y * w + x) * 3;
                    pack_rgb(img.pixels[o], img.pixels[o + 1], img.pixels[o + 2])
                }
            };
            let patch = (v * patches / size) * patches + (u * patches / size);
            PointGpu {
                position: pos,
                rgb,
                depth_m: cp[2],
                camera: pack_camera_patch(ci, Some(patch)),
                cam_xy: [cp[0], cp[1]],
            }
        })
        .collect();
    Some((points, pose.is_some()))
}
