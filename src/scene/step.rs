//! [`StepScene::build`]: the one place a step's 3-D scene is assembled. Which cameras are
//! fused, which camera "as the model sees it" shows, whether its K is rounded to bfloat16,
//! the lines around the cloud and the action grid's wedge all follow [`SceneOptions`], so
//! the app, `spatialscope render`, the export and a saved PNG show the same scene.

use std::sync::Arc;

use super::depth_view::DepthView;
use super::{cloud, lines};
use crate::action_grid::ProcessorConfig;
use crate::episode::Episode;
use crate::render::{LineSet, PointCloud};

/// How a step's scene is built (the 3-D view's settings that change the geometry).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SceneOptions {
    /// Camera indices left out of the cloud and the frustums.
    pub hidden_cameras: Vec<usize>,
    /// Show the model's Ego3D samples of the first shown depth camera instead of the full
    /// cloud, with the model's patch outlines.
    pub model_view: bool,
    /// In that view, K rounded to bfloat16 as the reference's `predict_action` does.
    pub model_view_bf16: bool,
    /// Where the full cloud's depth pixels are lifted to points.
    pub lift: CloudLift,
    /// Steps shown together (this one and those before it, each in its cameras' pose at
    /// that step; needs poses): 0 and 1 show this step only. GPU lift only.
    pub window_steps: usize,
}

/// Where a step's depth images become points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudLift {
    /// On the GPU (`render::lift`, a compute pass): the CPU uploads the images as decoded.
    #[default]
    Gpu,
    /// On the CPU (`cloud::step_cloud`): every point uploaded (exports and tests use it).
    Cpu,
}

/// The cloud and lines of one step.
#[derive(Debug, Clone)]
pub struct StepScene {
    pub cloud: Arc<PointCloud>,
    pub lines: Arc<LineSet>,
}

impl StepScene {
    /// Builds the scene of `step`; `None` when no shown camera has depth and intrinsics (or
    /// none of their pixels is valid). `grid` adds the action's grid wedge (world frame only).
    pub fn build(
        ep: &Episode,
        step: usize,
        options: &SceneOptions,
        grid: Option<&ProcessorConfig>,
    ) -> Option<Self> {
        let hidden = &options.hidden_cameras;
        let cloud = if options.model_view {
            ep.first_depth_camera(hidden)
                .and_then(|c| cloud::model_view_cloud(ep, step, c, options.model_view_bf16))
        } else if options.lift == CloudLift::Gpu {
            super::lift::step_cloud_gpu(ep, step, |c| !hidden.contains(&c), options.window_steps)
        } else {
            cloud::step_cloud(ep, step, |c| !hidden.contains(&c)).ok()
        }
        .filter(|c| c.point_count() > 0)?;
        let mut l = lines::step_lines(ep, step, hidden, cloud.world_frame, Some(&cloud));
        if options.model_view {
            l = l.merged(&lines::patch_outlines(&cloud, 2));
        }
        if cloud.world_frame
            && let Some(wedge) = grid.and_then(|g| lines::step_wedge(ep, step, g))
        {
            l = l.merged(&wedge);
        }
        Some(Self {
            cloud: Arc::new(cloud),
            lines: Arc::new(l),
        })
    }

    /// The Ego3D samples the model computes from the first depth camera at `step` (K as
    /// float32, as the training path), with that camera's index: what the export logs.
    pub fn ego3d_samples(ep: &Episode, step: usize) -> Option<(usize, PointCloud)> {
        let c = ep.first_depth_camera(&[])?;
        cloud::model_view_cloud(ep, step, c, false).map(|cloud| (c, cloud))
    }
}

/// What the 3-D view shows once a step has a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudDepth {
    /// The episode's sensor depth (full resolution, as the scene is built).
    #[default]
    Sensor,
    /// ZoeDepth's estimate at the model input, coloured by the image.
    Estimated,
    /// Both at the model input: estimated orange, sensor blue.
    Overlay,
}

/// The cloud the view draws: the sensor scene's, or, once the step has a depth view, the
/// estimate (always for RGB-only data, whose frames give no cloud) or the overlay.
pub fn chosen_cloud(
    sensor: Option<&Arc<PointCloud>>,
    depth_view: Option<&DepthView>,
    choice: CloudDepth,
) -> Option<Arc<PointCloud>> {
    match (depth_view, choice, sensor) {
        (Some(v), CloudDepth::Overlay, _) if v.overlay_cloud.is_some() => v.overlay_cloud.clone(),
        (Some(v), CloudDepth::Estimated, _) | (Some(v), _, None) => Some(v.estimated_cloud.clone()),
        (_, _, s) => s.cloned(),
    }
}

/// The step's lines plus the predicted chunk as a worm from the end-effector, when the cloud
/// is in the world frame and the end-effector position at `step` is known.
/// `chunks`: (colour, chunk) pairs, the live prediction's and the stores'.
pub fn lines_with_prediction(
    ep: &Episode,
    step: usize,
    base: &Arc<LineSet>,
    world_frame: bool,
    chunks: &[(crate::render::palette::Rgb, &[[f64; 7]])],
) -> Arc<LineSet> {
    let start = lines::end_effector_track(ep).and_then(|(t, _)| t.get(step).copied());
    match (world_frame, start) {
        (true, Some(s)) if !chunks.is_empty() => {
            let mut merged = (**base).clone();
            for (color, c) in chunks {
                merged = merged.merged(&lines::chunk_worm(s, c, *color));
            }
            Arc::new(merged)
        }
        _ => base.clone(),
    }
}
