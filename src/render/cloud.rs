//! A point cloud ready for the GPU, built on the worker, shared by `Arc`, uploaded once per
//! version (scrubbing uploads only the new step's cloud).

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use super::gpu_types::PointGpu;
use super::lift::LiftFrames;

static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// Points sampled for the robust bounds, the median and the spread (percentiles need no
/// more; all of a large cloud made them most of a step's cost in the dev build).
const ROBUST_SAMPLES: usize = 8_192;
#[derive(Debug, Clone)]
pub struct PointCloud {
    /// Unique per built cloud: the renderer re-uploads only when this changes.
    pub version: u64,
    pub points: Vec<PointGpu>,
    /// Axis-aligned bounds (min, max), metres.
    pub bounds: ([f32; 3], [f32; 3]),
    /// 2nd-98th percentile bounds per axis (framing ignores a far background).
    pub robust_bounds: ([f32; 3], [f32; 3]),
    /// Per-axis median: where the view looks first.
    pub median: [f32; 3],
    /// Median distance of the points from `median`, metres: the scale of the bulk of the
    /// scene, robust to a far background (sets the initial viewing distance).
    pub spread_m: f32,
    /// Depth range over the points, metres.
    pub depth_range_m: (f32, f32),
    /// Whether positions are in the world frame (false: one camera's frame).
    pub world_frame: bool,
    /// Problems met while building it (invalid depth skipped, singular K, a pose that is not
    /// a rigid transform), shown above the view.
    pub warnings: Vec<String>,
    /// Depth images the renderer lifts itself (`points` then holds only a sample of their
    /// points, which the statistics above came from, and is not drawn).
    pub lift: Option<Arc<LiftFrames>>,
}

impl PointCloud {
    pub fn new(points: Vec<PointGpu>, world_frame: bool) -> Self {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        let (mut dlo, mut dhi) = (f32::INFINITY, f32::NEG_INFINITY);
        for p in &points {
            for i in 0..3 {
                lo[i] = lo[i].min(p.position[i]);
                hi[i] = hi[i].max(p.position[i]);
            }
            dlo = dlo.min(p.depth_m);
            dhi = dhi.max(p.depth_m);
        }
        if points.is_empty() {
            lo = [0.0; 3];
            hi = [1.0; 3];
            dlo = 0.0;
            dhi = 1.0;
        }
        let mut median = [0f32; 3];

        let robust_bounds = if points.is_empty() {
            (lo, hi)
        } else {
            let stride = (points.len() / ROBUST_SAMPLES).max(1);
            let mut rlo = [0f32; 3];
            let mut rhi = [0f32; 3];
            for i in 0..3 {
                let mut v: Vec<f32> = points
                    .iter()
                    .step_by(stride)
                    .map(|p| p.position[i])
                    .collect();
                // Three selections, not a sort (the sort was most of a step's cost).
                let n = v.len() - 1;
                rlo[i] = *v.select_nth_unstable_by(n * 2 / 100, f32::total_cmp).1;
                rhi[i] = *v.select_nth_unstable_by(n * 98 / 100, f32::total_cmp).1;
                median[i] = *v.select_nth_unstable_by(n / 2, f32::total_cmp).1;
            }
            (rlo, rhi)
        };
        let spread_m = {
            let stride = (points.len() / ROBUST_SAMPLES).max(1);
            let mut d: Vec<f32> = points
                .iter()
                .step_by(stride)
                .map(|p| {
                    ((p.position[0] - median[0]).powi(2)
                        + (p.position[1] - median[1]).powi(2)
                        + (p.position[2] - median[2]).powi(2))
                    .sqrt()
                })
                .collect();
            let mid = d.len() / 2;
            if d.is_empty() {
                1.0
            } else {
                d.select_nth_unstable_by(mid, f32::total_cmp).1.max(0.01)
            }
        };
        Self {
            version: NEXT_VERSION.fetch_add(1, Ordering::Relaxed),
            points,
            bounds: (lo, hi),
            robust_bounds,
            spread_m,
            median,
            depth_range_m: (dlo, dhi),
            world_frame,
            warnings: Vec::new(),
            lift: None,
        }
    }

    /// A cloud the GPU lifts from `lift`'s images; `sample` (points lifted on the CPU from
    /// a subset of their pixels) gives the framing statistics, `depth_range_m` is over every
    /// valid pixel.
    pub fn gpu_lifted(
        sample: Vec<PointGpu>,
        world_frame: bool,
        lift: LiftFrames,
        depth_range_m: (f32, f32),
    ) -> Self {
        let mut c = Self::new(sample, world_frame);
        c.depth_range_m = depth_range_m;
        c.lift = Some(Arc::new(lift));
        c
    }

    /// Takes `other`'s framing statistics (bounds, robust bounds, median, spread), keeping
    /// its own points and depth range.
    pub fn frame_like(&mut self, other: &PointCloud) {
        self.bounds = other.bounds;
        self.robust_bounds = other.robust_bounds;
        self.median = other.median;
        self.spread_m = other.spread_m;
    }

    /// Points drawn: the lifted points, or the valid pixels of the images the GPU lifts.
    pub fn point_count(&self) -> usize {
        match &self.lift {
            Some(l) => l.point_count(),
            None => self.points.len(),
        }
    }

    /// The points the CPU holds and the renderer draws as they are (none when the GPU
    /// lifts the cloud: those points are only a sample).
    pub fn drawn_points(&self) -> &[PointGpu] {
        if self.lift.is_some() {
            &[]
        } else {
            &self.points
        }
    }
}
