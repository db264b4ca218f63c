//! The 3-D scene of one step: every camera with depth and intrinsics back-projected at full
//! resolution (invalid depth skipped) and coloured by its RGB frame, in the world frame when
//! the cameras' poses are known (multi-camera fusion), else in the first depth camera's own
//! frame. Built on the worker; the result is GPU-ready.

use crate::episode::{Episode, Result};
use crate::geometry::{backproject_depth, inverse_pinhole, to_world};
use crate::render::{PointCloud, PointGpu, pack_rgb};

/// Builds the cloud of `step`; cameras without depth or intrinsics are skipped, and so are
/// cameras whose frames fail to decode (their errors surface in the camera views).
pub fn step_cloud(
    ep: &Episode,
    step: usize,
    enabled: impl Fn(usize) -> bool,
) -> Result<PointCloud> {
    let usable: Vec<usize> = (0..ep.cameras.len())
        .filter(|&c| enabled(c) && ep.cameras[c].has_depth && ep.cameras[c].intrinsics.is_some())
        .collect();
    let world = !usable.is_empty()
        && usable
            .iter()
            .all(|&c| ep.cameras[c].poses.world_from_camera(step).is_some());
    let cams: Vec<usize> = if world {
        usable
    } else {
        usable.into_iter().take(1).collect()
    };
    let mut points = Vec::new();
    for ci in cams {
        let cam = &ep.cameras[ci];
        let Some(k) = cam.intrinsics else { continue };
        let kf = [
            [k.fx_px as f32, 0.0, k.cx_px as f32],
            [0.0, k.fy_px as f32, k.cy_px as f32],
            [0.0, 0.0, 1.0],
        ];
        let Some(k_inv) = inverse_pinhole(&kf) else {
            continue;
        };
        let (Ok(Some(depth)), Ok(rgb)) = (ep.depth(step, ci), ep.rgb(step, ci)) else {
            continue;
        };
        let lifted = backproject_depth(&depth.depth_m, depth.width_px, depth.height_px, &k_inv);
        let cam_pts: Vec<[f32; 3]> = lifted.iter().map(|(_, p)| *p).collect();
        let positions = match (world, cam.poses.world_from_camera(step)) {
            (true, Some(pose)) => to_world(pose, &cam_pts),
            _ => cam_pts,
        };
        let same_size = rgb.width_px == depth.width_px && rgb.height_px == depth.height_px;
        for ((pixel, cam_p), pos) in lifted.iter().zip(positions) {
            let color = if same_size {
                let o = pixel * 3;
                pack_rgb(rgb.pixels[o], rgb.pixels[o + 1], rgb.pixels[o + 2])
            } else {
                pack_rgb(200, 200, 200)
            };
            points.push(PointGpu {
                position: pos,
                rgb: color,
                depth_m: cam_p[2],
                camera: ci as u32,
                pad: [0; 2],
            });
        }
    }
    Ok(PointCloud::new(points, world))
}
