//! The line overlay of a step's 3-D view: world axes, a ground grid, every shown camera's
//! frustum at its pose, the end-effector trajectory and the current action as an arrow; and
//! the predicted chunk as a "worm" from the current end-effector position.
//!
//! Trajectory source, stated in the view: the recorded end-effector position (proprio
//! `eef x/y/z (m)`) when the episode has it; otherwise the actions integrated from the
//! origin when they are metric deltas in the world or base frame (drift included); else none.
//! Arrows and worms are drawn at true scale (metres) from the end-effector.

use crate::episode::{ActionFrame, Episode, TranslationUnit};
use crate::render::lines::colors;
use crate::render::{LineBuilder, LineSet, PointCloud};

/// Where the trajectory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrajectorySource {
    Proprio,
    IntegratedActions,
}

impl TrajectorySource {
    pub fn label(self) -> &'static str {
        match self {
            Self::Proprio => "end-effector from proprio",
            Self::IntegratedActions => "integrated actions from the origin",
        }
    }
}

/// End-effector positions per step (world frame, metres), if they can be had.
pub fn end_effector_track(ep: &Episode) -> Option<(Vec<[f32; 3]>, TrajectorySource)> {
    if let Some(p) = &ep.proprio {
        let idx = |n: &str| p.names.iter().position(|x| x.starts_with(n));
        if let (Some(x), Some(y), Some(z)) = (idx("eef x"), idx("eef y"), idx("eef z")) {
            let track = p
                .values
                .iter()
                .map(|v| [v.get(x), v.get(y), v.get(z)].map(|c| c.copied().unwrap_or(f32::NAN)))
                .collect();
            return Some((track, TrajectorySource::Proprio));
        }
    }
    let c = &ep.actions.convention;
    if c.translation == TranslationUnit::MetresDelta
        && matches!(c.frame, ActionFrame::World | ActionFrame::RobotBase)
    {
        let mut pos = [0f32; 3];
        let mut track = vec![pos];
        for a in &ep.actions.values {
            for i in 0..3 {
                pos[i] += a[i];
            }
            track.push(pos);
        }
        track.truncate(ep.num_steps().max(1));
        return Some((track, TrajectorySource::IntegratedActions));
    }
    None
}

/// The overlay of `step`. `world`: whether the cloud is in the world frame (else only the
/// first shown camera's frustum at the origin and its axes are meaningful).
pub fn step_lines(
    ep: &Episode,
    step: usize,
    hidden: &[usize],
    world: bool,
    cloud: Option<&PointCloud>,
) -> LineSet {
    let mut b = LineBuilder::default();
    let frustum_depth_m = cloud.map_or(0.3, |c| (c.spread_m * 0.25).clamp(0.05, 0.5)) as f64;
    for (ci, cam) in ep.cameras.iter().enumerate() {
        if hidden.contains(&ci) || cam.placeholder {
            continue;
        }
        let Some(k) = cam.intrinsics else { continue };
        let pose = if world {
            match cam.poses.world_from_camera(step) {
                Some(p) => *p,
                None => continue,
            }
        } else if cam.has_depth {
            nalgebra::Matrix4::identity()
        } else {
            continue;
        };
        b.frustum(
            &pose,
            k.fx_px,
            k.fy_px,
            k.cx_px,
            k.cy_px,
            f64::from(k.width_px),
            f64::from(k.height_px),
            frustum_depth_m,
            colors::FRUSTUM,
        );
        if !world {
            break;
        }
    }
    if world {
        b.axes([0.0; 3], 0.1);
        let (cx, cy) = cloud.map_or((0.0, 0.0), |c| (c.median[0], c.median[1]));
        b.ground_grid(
            (cx * 10.0).round() / 10.0,
            (cy * 10.0).round() / 10.0,
            0.0,
            1.0,
            0.1,
        );
        if let Some((track, _)) = end_effector_track(ep) {
            b.polyline(&track, colors::TRAJECTORY, 1.5);
            if let (Some(p), Some(a)) = (track.get(step), ep.actions.values.get(step))
                && ep.actions.convention.translation == TranslationUnit::MetresDelta
            {
                b.arrow(
                    *p,
                    [p[0] + a[0], p[1] + a[1], p[2] + a[2]],
                    colors::ACTION,
                    3.0,
                );
            }
        }
    } else {
        b.axes([0.0; 3], 0.05);
    }
    b.build()
}

/// The predicted chunk as a polyline from `start`: cumulative translations (metres).
pub fn chunk_worm(start: [f32; 3], chunk: &[[f64; 7]], color: [u8; 3]) -> LineSet {
    let mut pts = vec![start];
    let mut p = start;
    for a in chunk {
        for i in 0..3 {
            p[i] += a[i] as f32;
        }
        pts.push(p);
    }
    let mut b = LineBuilder::default();
    b.polyline(&pts, color, 3.0);
    for w in pts.windows(2).skip(pts.len().saturating_sub(2)) {
        b.arrow(w[0], w[1], color, 3.0);
    }
    b.build()
}

/// The model's patch grid over an "as the model sees it" cloud: the `reso x reso` samples of
/// each patch are consecutive in packing order; their outline is drawn (for reso 2, the
/// quad (0,0)-(0,1)-(1,1)-(1,0)).
pub fn patch_outlines(cloud: &PointCloud, reso: usize) -> LineSet {
    let mut b = LineBuilder::default();
    let per = reso * reso;
    if reso < 2 {
        return b.build();
    }
    // Perimeter of a reso x reso block in (row, col) order.
    let mut ring: Vec<(usize, usize)> = (0..reso).map(|c| (0, c)).collect();
    ring.extend((1..reso).map(|r| (r, reso - 1)));
    ring.extend((0..reso - 1).rev().map(|c| (reso - 1, c)));
    ring.extend((1..reso - 1).rev().map(|r| (r, 0)));
    ring.push((0, 0));
    for patch in cloud.points.chunks_exact(per) {
        let pts: Vec<[f32; 3]> = ring
            .iter()
            .map(|&(r, c)| patch[r * reso + c].position)
            .collect();
        b.polyline(&pts, colors::PATCH, 1.0);
    }
    b.build()
}

/// The action grid's translation bin of the step's action, as a wireframe wedge in metres
/// around the end-effector: SpatialVLA bins the *normalised* translation in polar form
/// (theta, phi, r), so the bin's boundary (two theta cones, two phi half-planes, two r
/// shells) is drawn in normalised space and mapped back with the statistics' q01/q99 (an
/// affine map per axis, so the wedge is stretched, and its apex sits at the q01/q99 mid-range
/// translation, not at zero motion). The decoded bin centre is drawn as a small cross.
pub fn grid_wedge(
    grid: &crate::action_grid::ActionGrid,
    stats: &crate::action_grid::ActionStatistics,
    action: &[f32; 7],
    origin: [f32; 3],
) -> Option<LineSet> {
    use crate::action_grid::Axis;
    use crate::action_grid::spherical::{Spherical, cartesian_from_spherical};
    let raw: Vec<f64> = action.iter().map(|&v| f64::from(v)).collect();
    let n = stats.normalize(&raw).ok()?;
    let bins = grid.encode(&n).ok()?;
    let edge = |axis: Axis, i: usize| grid.edges(axis).get(i).copied();
    let (t0, t1) = (
        edge(Axis::Theta, bins.theta)?,
        edge(Axis::Theta, bins.theta + 1)?,
    );
    let (p0, p1) = (edge(Axis::Phi, bins.phi)?, edge(Axis::Phi, bins.phi + 1)?);
    let (r0, r1) = (edge(Axis::R, bins.r)?, edge(Axis::R, bins.r + 1)?);
    let to_world = |theta: f64, phi: f64, r: f64| -> [f32; 3] {
        let c = cartesian_from_spherical(Spherical {
            theta_rad: theta,
            phi_rad: phi,
            r,
        });
        let m = stats.unnormalize(&[c[0], c[1], c[2], 0.0, 0.0, 0.0, 0.0]);
        [
            origin[0] + m[0] as f32,
            origin[1] + m[1] as f32,
            origin[2] + m[2] as f32,
        ]
    };
    const K: usize = 12;
    let lerp = |a: f64, b: f64, i: usize| a + (b - a) * i as f64 / K as f64;
    let mut b = LineBuilder::default();
    for &t in &[t0, t1] {
        for &p in &[p0, p1] {
            // Radial edges.
            b.segment(to_world(t, p, r0), to_world(t, p, r1), colors::WEDGE, 1.5);
        }
    }
    for &r in &[r0, r1] {
        for &t in &[t0, t1] {
            let arc: Vec<[f32; 3]> = (0..=K).map(|i| to_world(t, lerp(p0, p1, i), r)).collect();
            b.polyline(&arc, colors::WEDGE, 1.5);
        }
        for &p in &[p0, p1] {
            let arc: Vec<[f32; 3]> = (0..=K).map(|i| to_world(lerp(t0, t1, i), p, r)).collect();
            b.polyline(&arc, colors::WEDGE, 1.5);
        }
    }
    let c = grid.translation_centre(&bins);
    let centre = to_world(c.theta_rad, c.phi_rad, c.r);
    let s = 0.004;
    for axis in 0..3 {
        let (mut a, mut z) = (centre, centre);
        a[axis] -= s;
        z[axis] += s;
        b.segment(a, z, colors::WEDGE, 2.0);
    }
    Some(b.build())
}

/// [`grid_wedge`] of `step` with the statistics the app defaults to (the dataset's
/// SpatialVLA key when the checkpoint has it, else the episode's own q01/q99), at the
/// end-effector. `None` without a metric action or an end-effector position.
pub fn step_wedge(
    ep: &Episode,
    step: usize,
    cfg: &crate::action_grid::ProcessorConfig,
) -> Option<LineSet> {
    if ep.actions.convention.translation != TranslationUnit::MetresDelta {
        return None;
    }
    let (track, _) = end_effector_track(ep)?;
    let origin = *track.get(step)?;
    let action = ep.actions.values.get(step)?;
    let own;
    let stats = match ep
        .dataset_key
        .as_deref()
        .and_then(|k| cfg.statistics.get(k))
    {
        Some(s) => s,
        None => {
            let acts: Vec<[f64; 7]> = ep.actions.values.iter().map(|a| a.map(f64::from)).collect();
            own = crate::action_grid::ActionStatistics::from_actions(&acts)?;
            &own
        }
    };
    grid_wedge(&cfg.grid, stats, action, origin)
}
