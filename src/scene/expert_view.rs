//! What the "Depth experts" panel and the 3-D view show of one camera frame's raw depth
//! against depth experts (`pipeline::depth_expert`): the raw depth and each aligned expert on
//! the raw depth's colour range, each signed disagreement map, the statistics, and clouds
//! lifted with the camera's own K and pose: the raw depth alone, an expert alone (RGB
//! colours), or both (expert orange, raw blue). Built on the model thread; the UI uploads.

use std::sync::Arc;

use crate::episode::{Episode, RgbImage};
use crate::geometry::depth_align::RawVsExpert;
use crate::geometry::{backproject_depth, inverse_pinhole, to_world};
use crate::model::depth_anything::ExpertOutput;
use crate::model::expert::ExpertComparison;
use crate::render::colormap;
use crate::render::{PointCloud, PointGpu, pack_camera_patch, pack_rgb};

/// One expert as shown.
#[derive(Debug)]
pub struct ExpertPane {
    pub name: &'static str,
    pub label: String,
    pub output: ExpertOutput,
    pub ms: f64,
    /// The aligned expert (or a metric one as predicted) on the raw colour range; for a
    /// relative expert with nothing to align to, its inverse depth on its own range.
    pub depth_rgba: Vec<u8>,
    /// expert - raw: blue = the expert is nearer, red = farther, and the |max| it spans.
    pub difference_rgba: Option<Vec<u8>>,
    pub difference_max_m: f32,
    pub summary: Option<RawVsExpert>,
    pub note: Option<String>,
    /// The aligned expert lifted, coloured by the RGB frame.
    pub cloud: Option<Arc<PointCloud>>,
    /// Expert (orange) and raw (blue) lifted together.
    pub overlay: Option<Arc<PointCloud>>,
}

#[derive(Debug)]
pub struct ExpertView {
    pub step: usize,
    pub camera: usize,
    pub camera_name: String,
    pub width_px: usize,
    pub height_px: usize,
    pub range_m: (f32, f32),
    pub raw_rgba: Option<Vec<u8>>,
    /// This camera's raw depth lifted alone (RGB colours).
    pub raw_cloud: Option<Arc<PointCloud>>,
    pub experts: Vec<ExpertPane>,
}

/// Colour of the expert cloud in the overlay.
pub const EXPERT_COLOR: [u8; 3] = crate::render::palette::ESTIMATED_DEPTH;
/// Colour of the raw cloud in the overlay.
pub const RAW_COLOR: [u8; 3] = crate::render::palette::SENSOR_DEPTH;

enum Colour<'a> {
    Rgb(&'a RgbImage),
    Solid([u8; 3]),
}

/// `depth_m` (`w x h`) lifted with the camera's K, in the world frame when it has a pose.
fn lift(
    ep: &Episode,
    step: usize,
    cam: usize,
    depth_m: &[f32],
    (w, h): (usize, usize),
    colour: Colour<'_>,
) -> Option<(Vec<PointGpu>, bool)> {
    let k = ep.cameras.get(cam)?.intrinsics?;
    if depth_m.len() != w * h {
        return None;
    }
    // K as the scene uses it for this camera's depth (`scene::cloud::step_cloud`).
    let kf = [
        [k.fx_px as f32, 0.0, k.cx_px as f32],
        [0.0, k.fy_px as f32, k.cy_px as f32],
        [0.0, 0.0, 1.0],
    ];
    let k_inv = inverse_pinhole(&kf).filter(|_| kf.iter().flatten().all(|v| v.is_finite()))?;
    let lifted = backproject_depth(depth_m, w as u32, h as u32, &k_inv);
    let cam_pts: Vec<[f32; 3]> = lifted.iter().map(|(_, p)| *p).collect();
    let pose = ep.cameras[cam].poses.world_from_camera(step);
    let positions = match pose {
        Some(p) => to_world(p, &cam_pts),
        None => cam_pts,
    };
    let points = lifted
        .iter()
        .zip(positions)
        .map(|((pixel, cp), pos)| {
            let rgb = match &colour {
                Colour::Solid(c) => pack_rgb(c[0], c[1], c[2]),
                Colour::Rgb(img) => {
                    let (iw, ih) = (img.width_px as usize, img.height_px as usize);
                    let x = ((pixel % w) * iw / w).min(iw.saturating_sub(1));
                    let y = ((pixel / w) * ih / h).min(ih.saturating_sub(1));
                    let o = (y * iw + x) * 3;
                    pack_rgb(img.pixels[o], img.pixels[o + 1], img.pixels[o + 2])
                }
            };
            PointGpu {
                position: pos,
                rgb,
                depth_m: cp[2],
                camera: pack_camera_patch(cam, None),
                cam_xy: [cp[0], cp[1]],
            }
        })
        .collect();
    Some((points, pose.is_some()))
}

fn cloud(points: Option<(Vec<PointGpu>, bool)>) -> Option<Arc<PointCloud>> {
    points.map(|(p, world)| Arc::new(PointCloud::new(p, world)))
}

/// One colour range for the raw depth and every aligned expert, so the maps compare by eye:
/// the raw depth's robust range when there is one, else the aligned experts'.
pub fn shared_range_m(raw_m: Option<&[f32]>, comparisons: &[ExpertComparison]) -> (f32, f32) {
    match raw_m {
        Some(d) => colormap::robust_depth_range_m(d),
        None => colormap::robust_depth_range_m(
            &comparisons
                .iter()
                .filter_map(|c| c.aligned_m.as_ref())
                .flatten()
                .copied()
                .collect::<Vec<f32>>(),
        ),
    }
    .unwrap_or((0.0, 1.0))
}

/// Builds the view of `comparisons` (all on the raw grid of camera `cam` at `step`).
pub fn expert_view(
    ep: &Episode,
    step: usize,
    cam: usize,
    comparisons: Vec<ExpertComparison>,
) -> Option<ExpertView> {
    let rgb = ep.rgb(step, cam).ok()?;
    let raw = ep.depth(step, cam).ok().flatten();
    let first = comparisons.first()?;
    let grid = (first.run.width_px, first.run.height_px);
    let range_m = shared_range_m(raw.as_ref().map(|d| d.depth_m.as_slice()), &comparisons);
    let raw_lift = |c: Colour<'_>| {
        raw.as_ref()
            .and_then(|d| lift(ep, step, cam, &d.depth_m, grid, c))
    };
    // The raw points of the overlays, lifted once for every expert.
    let raw_solid = raw_lift(Colour::Solid(RAW_COLOR));
    let experts = comparisons
        .into_iter()
        .map(|c| {
            let depth_rgba = match &c.aligned_m {
                Some(m) => colormap::depth_to_rgba(m, range_m.0, range_m.1),
                None => {
                    let v = &c.run.values;
                    let (lo, hi) = colormap::robust_depth_range_m(v).unwrap_or((0.0, 1.0));
                    let flipped: Vec<f32> = v.iter().map(|x| hi + lo - x).collect();
                    colormap::depth_to_rgba(&flipped, lo, hi)
                }
            };
            let difference_max_m = c
                .difference_m
                .iter()
                .flatten()
                .filter(|d| d.is_finite())
                .fold(0f32, |m, d| m.max(d.abs()));
            let overlay = c.aligned_m.as_ref().and_then(|m| {
                let (mut a, world) = lift(ep, step, cam, m, grid, Colour::Solid(EXPERT_COLOR))?;
                let (b, _) = raw_solid.as_ref()?;
                a.extend_from_slice(b);
                Some(Arc::new(PointCloud::new(a, world)))
            });
            ExpertPane {
                name: c.run.name,
                label: c.run.label.clone(),
                output: c.run.output,
                ms: c.run.ms,
                depth_rgba,
                difference_rgba: c
                    .difference_m
                    .as_ref()
                    .map(|d| colormap::difference_to_rgba(d, difference_max_m)),
                difference_max_m,
                summary: c.summary,
                note: c.note.clone(),
                cloud: cloud(
                    c.aligned_m
                        .as_ref()
                        .and_then(|m| lift(ep, step, cam, m, grid, Colour::Rgb(&rgb))),
                ),
                overlay,
            }
        })
        .collect();
    Some(ExpertView {
        step,
        camera: cam,
        camera_name: ep.cameras[cam].name.clone(),
        width_px: grid.0,
        height_px: grid.1,
        range_m,
        raw_rgba: raw
            .as_ref()
            .map(|d| colormap::depth_to_rgba(&d.depth_m, range_m.0, range_m.1)),
        raw_cloud: cloud(raw_lift(Colour::Rgb(&rgb))),
        experts,
    })
}

/// What the 3-D view shows from an expert view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpertCloud {
    /// The step's own scene (experts not shown).
    #[default]
    Off,
    /// This camera's raw depth alone.
    Raw,
    /// Expert `i` alone, aligned.
    Expert(usize),
    /// Expert `i` (orange) and the raw depth (blue).
    Both(usize),
}

/// The cloud `choice` picks from `view`, if it has one.
pub fn expert_cloud(view: &ExpertView, choice: ExpertCloud) -> Option<Arc<PointCloud>> {
    match choice {
        ExpertCloud::Off => None,
        ExpertCloud::Raw => view.raw_cloud.clone(),
        ExpertCloud::Expert(i) => view.experts.get(i)?.cloud.clone(),
        ExpertCloud::Both(i) => view.experts.get(i)?.overlay.clone(),
    }
}
