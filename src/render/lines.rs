//! Line geometry for the 3-D view: segments of constant pixel width (expanded on the GPU,
//! `shaders/lines.wgsl`), and builders for what researchers expect around a cloud: world
//! axes, a ground grid, pinhole camera frustums, polylines (trajectories) and arrows.
//! Pure math over nalgebra; knows nothing of episodes (`scene.rs` decides what to draw).

use std::sync::atomic::{AtomicU64, Ordering};

use bytemuck::{Pod, Zeroable};
use nalgebra::{Matrix4, Point3, Vector3};

use super::gpu_types::pack_rgb;

/// One segment (32 bytes; WGSL `Segment`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct LineGpu {
    pub a: [f32; 3],
    /// RGBA8, R in the low byte.
    pub rgba: u32,
    pub b: [f32; 3],
    pub width_px: f32,
}

const _: () = assert!(size_of::<LineGpu>() == 32);

static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// A set of segments, uploaded once per `version`.
#[derive(Debug, Clone, Default)]
pub struct LineSet {
    pub version: u64,
    pub segments: Vec<LineGpu>,
}

/// Colours of the standard line kinds.
pub mod colors {
    use crate::render::palette;
    pub const AXIS_X: [u8; 3] = palette::AXES[0];
    pub const AXIS_Y: [u8; 3] = palette::AXES[1];
    pub const AXIS_Z: [u8; 3] = palette::AXES[2];
    pub const GRID: [u8; 3] = palette::GRID_LINE;
    pub const FRUSTUM: [u8; 3] = palette::FRUSTUM;
    pub const TRAJECTORY: [u8; 3] = palette::GROUND_TRUTH;
    pub const ACTION: [u8; 3] = palette::ACTION;
    pub const PREDICTION: [u8; 3] = palette::PREDICTION;
    pub const PATCH: [u8; 3] = palette::PATCH;
    pub const WEDGE: [u8; 3] = palette::GRID_BIN;
}

impl LineSet {
    /// A set with a fresh version.
    pub fn new(segments: Vec<LineGpu>) -> Self {
        LineSet {
            version: NEXT_VERSION.fetch_add(1, Ordering::Relaxed),
            segments,
        }
    }

    /// This set followed by `other`, with a fresh version.
    pub fn merged(&self, other: &LineSet) -> LineSet {
        let mut s = self.segments.clone();
        s.extend_from_slice(&other.segments);
        LineSet::new(s)
    }
}

/// Accumulates segments.
#[derive(Debug, Default)]
pub struct LineBuilder {
    pub segments: Vec<LineGpu>,
}

fn p3(p: &Point3<f64>) -> [f32; 3] {
    [p.x as f32, p.y as f32, p.z as f32]
}

impl LineBuilder {
    pub fn segment(&mut self, a: [f32; 3], b: [f32; 3], color: [u8; 3], width_px: f32) {
        if a.iter().chain(&b).all(|v| v.is_finite()) {
            self.segments.push(LineGpu {
                a,
                rgba: pack_rgb(color[0], color[1], color[2]),
                b,
                width_px,
            });
        }
    }

    /// World axes at `origin`, `length_m` long (x red, y green, z blue).
    pub fn axes(&mut self, origin: [f32; 3], length_m: f32) {
        for (i, c) in [colors::AXIS_X, colors::AXIS_Y, colors::AXIS_Z]
            .into_iter()
            .enumerate()
        {
            let mut b = origin;
            b[i] += length_m;
            self.segment(origin, b, c, 2.5);
        }
    }

    /// A square grid on the plane z = `z_m`, centred on (`cx`, `cy`), `half_m` in each
    /// direction with lines every `spacing_m`.
    pub fn ground_grid(&mut self, cx: f32, cy: f32, z_m: f32, half_m: f32, spacing_m: f32) {
        if spacing_m <= 0.0 || half_m <= 0.0 {
            return;
        }
        let n = (half_m / spacing_m).floor() as i32;
        for i in -n..=n {
            let o = i as f32 * spacing_m;
            self.segment(
                [cx + o, cy - half_m, z_m],
                [cx + o, cy + half_m, z_m],
                colors::GRID,
                1.0,
            );
            self.segment(
                [cx - half_m, cy + o, z_m],
                [cx + half_m, cy + o, z_m],
                colors::GRID,
                1.0,
            );
        }
    }

    /// A pinhole camera's frustum out to `depth_m`: the image corners lifted with K^-1 and
    /// moved by `world_from_camera` (OpenCV axes), joined to the centre and to each other,
    /// plus a short tick on the image's top edge so up is visible.
    #[expect(
        clippy::too_many_arguments,
        reason = "a pose, the four pinhole numbers, the image size, depth and colour"
    )]
    pub fn frustum(
        &mut self,
        world_from_camera: &Matrix4<f64>,
        fx: f64,
        fy: f64,
        cx: f64,
        cy: f64,
        width_px: f64,
        height_px: f64,
        depth_m: f64,
        color: [u8; 3],
    ) {
        if fx == 0.0 || fy == 0.0 {
            return;
        }
        let lift = |u: f64, v: f64| {
            let pc = Point3::new((u - cx) / fx * depth_m, (v - cy) / fy * depth_m, depth_m);
            world_from_camera.transform_point(&pc)
        };
        let centre = world_from_camera.transform_point(&Point3::origin());
        let corners = [
            lift(0.0, 0.0),
            lift(width_px, 0.0),
            lift(width_px, height_px),
            lift(0.0, height_px),
        ];
        for (i, c) in corners.iter().enumerate() {
            self.segment(p3(&centre), p3(c), color, 1.5);
            self.segment(p3(c), p3(&corners[(i + 1) % 4]), color, 1.5);
        }
        let top_mid = lift(width_px / 2.0, 0.0);
        let up = lift(width_px / 2.0, -0.15 * height_px);
        self.segment(p3(&top_mid), p3(&up), color, 1.5);
    }

    /// Joins consecutive points (non-finite points break the line).
    pub fn polyline(&mut self, points: &[[f32; 3]], color: [u8; 3], width_px: f32) {
        for w in points.windows(2) {
            self.segment(w[0], w[1], color, width_px);
        }
    }

    /// An arrow from `from` to `to` with a two-stroke head.
    pub fn arrow(&mut self, from: [f32; 3], to: [f32; 3], color: [u8; 3], width_px: f32) {
        self.segment(from, to, color, width_px);
        let f = Vector3::new(from[0], from[1], from[2]);
        let t = Vector3::new(to[0], to[1], to[2]);
        let d = t - f;
        let len = d.norm();
        if len < 1e-6 || !len.is_finite() {
            return;
        }
        let dir = d / len;
        let helper = if dir.z.abs() < 0.9 {
            Vector3::z()
        } else {
            Vector3::x()
        };
        let side = dir.cross(&helper).normalize();
        let head = len * 0.25;
        for s in [1.0f32, -1.0] {
            let h = t - dir * head + side * (s * head * 0.5);
            self.segment(to, [h.x, h.y, h.z], color, width_px);
        }
    }

    pub fn build(self) -> LineSet {
        LineSet::new(self.segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frustum_corners_lie_on_the_image_rays() {
        let mut b = LineBuilder::default();
        b.frustum(
            &Matrix4::identity(),
            100.0,
            100.0,
            50.0,
            40.0,
            100.0,
            80.0,
            2.0,
            colors::FRUSTUM,
        );
        // The first segment goes from the centre to the top-left corner at depth 2.
        let s = b.segments[0];
        assert_eq!(s.a, [0.0, 0.0, 0.0]);
        assert_eq!(s.b, [-1.0, -0.8, 2.0]);
        assert_eq!(b.segments.len(), 9);
    }

    #[test]
    fn non_finite_points_are_skipped() {
        let mut b = LineBuilder::default();
        b.polyline(
            &[[0.0; 3], [f32::NAN, 0.0, 0.0], [1.0, 0.0, 0.0]],
            colors::TRAJECTORY,
            1.0,
        );
        assert!(b.segments.is_empty());
        b.arrow([0.0; 3], [0.0, 0.0, 1.0], colors::ACTION, 2.0);
        assert_eq!(b.segments.len(), 3);
    }

    #[test]
    fn versions_are_fresh() {
        let a = LineSet::new(Vec::new());
        let b = a.merged(&LineSet::new(Vec::new()));
        assert_ne!(a.version, b.version);
    }
}
