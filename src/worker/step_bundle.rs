//! One step made ready to show: each camera's decoded RGB and colour-mapped depth as egui
//! images (cameras side by side, one thread each) and the 3-D scene. The frame worker calls
//! it per step; `benches/playback.rs` measures it against the dataset's fps.

use std::sync::Arc;

use super::{CameraFrame, FrameBundle, UserError};
use crate::episode::Episode;
use crate::scene::{SceneOptions, StepScene};

/// Everything the panels show of one step: each camera's decoded RGB and colour-mapped
/// depth as egui images, and the 3-D scene. What playback waits for per step
/// (`benches/playback.rs` measures it against the dataset's fps).
pub fn step_bundle(
    ep: &Episode,
    step: usize,
    options: &SceneOptions,
    grid: Option<&crate::action_grid::ProcessorConfig>,
) -> FrameBundle {
    let camera = |ci: usize| -> CameraFrame {
        {
            let rgb = ep.rgb(step, ci).map_err(|e| UserError::from(&e));
            let rgb_image = rgb.as_ref().ok().map(|img| {
                Arc::new(egui::ColorImage::from_rgb(
                    [img.width_px as usize, img.height_px as usize],
                    &img.pixels,
                ))
            });
            let depth = match ep.depth(step, ci) {
                Ok(Some(d)) => Some(Ok(d)),
                Ok(None) => None,
                Err(e) => Some(Err(UserError::from(&e))),
            };
            let (depth_image, depth_range_m) = match &depth {
                Some(Ok(d)) => {
                    let range = crate::render::colormap::robust_depth_range_m(&d.depth_m)
                        .unwrap_or((0.0, 1.0));
                    let rgba = crate::render::colormap::depth_to_rgba(&d.depth_m, range.0, range.1);
                    let img = egui::ColorImage::from_rgba_unmultiplied(
                        [d.width_px as usize, d.height_px as usize],
                        &rgba,
                    );
                    (Some(Arc::new(img)), Some(range))
                }
                _ => (None, None),
            };
            CameraFrame {
                rgb,
                rgb_image,
                depth,
                depth_image,
                depth_range_m,
            }
        }
    };
    // Cameras decode side by side (each its own file or stream); one camera, no thread.
    let indices: Vec<usize> = (0..ep.cameras.len()).collect();
    let cameras = crate::util::parallel::map_each(&indices, "decoding a camera", |&ci| camera(ci));
    let scene = StepScene::build(ep, step, options, grid);
    FrameBundle {
        episode_uid: ep.uid,
        step,
        cameras,
        scene,
    }
}
