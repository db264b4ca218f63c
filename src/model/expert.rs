//! A depth expert's output for one camera frame and its comparison with the raw depth, as
//! plain data: made by `pipeline::depth_expert`, drawn by `scene::expert_view`.

use crate::geometry::depth_align::RawVsExpert;
use crate::model::depth_anything::ExpertOutput;

/// What one expert predicted for a frame, on the raw depth's grid.
#[derive(Debug, Clone)]
pub struct ExpertRun {
    /// `depth-anything-v2` or `zoedepth`.
    pub name: &'static str,
    pub label: String,
    pub output: ExpertOutput,
    /// Row-major, `width_px * height_px`.
    pub values: Vec<f32>,
    pub width_px: usize,
    pub height_px: usize,
    pub ms: f64,
}

/// An expert run compared with the raw depth.
#[derive(Debug, Clone)]
pub struct ExpertComparison {
    pub run: ExpertRun,
    /// The expert in metres after alignment (or as predicted, for a metric expert with no
    /// raw depth to align to); `None` for a relative expert with nothing to align to.
    pub aligned_m: Option<Vec<f32>>,
    /// aligned - raw, metres; NaN where either is invalid.
    pub difference_m: Option<Vec<f32>>,
    pub summary: Option<RawVsExpert>,
    /// Why there is no alignment, when there is none.
    pub note: Option<String>,
}
