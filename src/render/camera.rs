//! Orbit camera for the 3-D view: yaw/pitch around a target point in a z-up world, with
//! distance; drag to orbit, right-drag (or shift-drag) to pan, scroll to zoom.

use nalgebra::{Matrix4, Point3, Vector3};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    pub target: [f32; 3],
    /// Angle around +z, radians.
    pub yaw_rad: f32,
    /// Elevation above the xy-plane, radians.
    pub pitch_rad: f32,
    pub distance_m: f32,
    pub fov_y_rad: f32,
}

impl OrbitCamera {
    /// A camera looking at the centre of an axis-aligned box from the front-left, above,
    /// far enough back to see all of it.
    pub fn framing(min: [f32; 3], max: [f32; 3]) -> Self {
        let c = [
            (min[0] + max[0]) / 2.0,
            (min[1] + max[1]) / 2.0,
            (min[2] + max[2]) / 2.0,
        ];
        let extent =
            ((max[0] - min[0]).powi(2) + (max[1] - min[1]).powi(2) + (max[2] - min[2]).powi(2))
                .sqrt();
        Self::at_distance(c, extent * 1.1)
    }

    /// The first view of a cloud: at its median, 2.5 spreads back (the bulk of the scene),
    /// widened to keep every `focus` point in view (the end-effector's path: a lifted object
    /// and the gripper are few points above a table of many, so the bulk alone cuts them
    /// off). The target moves to the middle of the bulk and the focus points, and the
    /// distance is the one at which a sphere around them fits the vertical field of view.
    pub fn initial_view(median: [f32; 3], spread_m: f32, focus: &[[f32; 3]]) -> Self {
        let bulk = Self::at_distance(median, spread_m * 2.5);
        let finite: Vec<&[f32; 3]> = focus
            .iter()
            .filter(|p| p.iter().all(|v| v.is_finite()))
            .collect();
        if finite.is_empty() {
            return bulk;
        }
        let (mut lo, mut hi) = (median, median);
        for i in 0..3 {
            lo[i] -= spread_m;
            hi[i] += spread_m;
        }
        for p in finite {
            for i in 0..3 {
                lo[i] = lo[i].min(p[i]);
                hi[i] = hi[i].max(p[i]);
            }
        }
        let target = [0, 1, 2].map(|i| (lo[i] + hi[i]) / 2.0);
        let radius = (0..3).map(|i| (hi[i] - lo[i]).powi(2)).sum::<f32>().sqrt() / 2.0;
        let fit = radius / (bulk.fov_y_rad / 2.0).sin() * 1.05;
        Self::at_distance(target, fit.max(spread_m * 2.5))
    }

    /// A camera looking at `target` from `distance_m`, from the front-left, above.
    pub fn at_distance(target: [f32; 3], distance_m: f32) -> Self {
        Self {
            target,
            yaw_rad: -2.4,
            pitch_rad: 0.55,
            distance_m: distance_m.clamp(0.2, 50.0),
            fov_y_rad: 45f32.to_radians(),
        }
    }

    pub fn eye(&self) -> [f32; 3] {
        let (sy, cy) = self.yaw_rad.sin_cos();
        let (sp, cp) = self.pitch_rad.sin_cos();
        let t = self.target;
        [
            t[0] + self.distance_m * cp * cy,
            t[1] + self.distance_m * cp * sy,
            t[2] + self.distance_m * sp,
        ]
    }

    /// View-projection for wgpu (depth 0..1), column-major.
    pub fn view_proj(&self, aspect: f32) -> [[f32; 4]; 4] {
        let e = self.eye();
        let view = Matrix4::look_at_rh(
            &Point3::new(e[0], e[1], e[2]),
            &Point3::new(self.target[0], self.target[1], self.target[2]),
            &Vector3::z(),
        );
        let near = (self.distance_m * 0.01).max(0.001);
        let proj = Matrix4::new_perspective(
            aspect.max(1e-3),
            self.fov_y_rad,
            near,
            self.distance_m * 20.0 + 10.0,
        );
        // OpenGL clip depth (-1..1) to wgpu (0..1).
        let gl_to_wgpu = Matrix4::new(
            1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 1.0,
        );
        let m = gl_to_wgpu * proj * view;
        let mut out = [[0f32; 4]; 4];
        for (c, col) in out.iter_mut().enumerate() {
            for (r, v) in col.iter_mut().enumerate() {
                *v = m[(r, c)];
            }
        }
        out
    }

    /// Orbit by a drag of (dx, dy) points.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.yaw_rad -= dx * 0.01;
        self.pitch_rad = (self.pitch_rad + dy * 0.01).clamp(-1.5, 1.5);
    }

    /// Pan the target in the view plane by (dx, dy) points.
    pub fn pan(&mut self, dx: f32, dy: f32) {
        let (sy, cy) = self.yaw_rad.sin_cos();
        let scale = self.distance_m * 0.0015;
        // Right vector in the xy-plane, and world up.
        let right = [-sy, cy, 0.0];
        self.target[0] -= right[0] * dx * scale;
        self.target[1] -= right[1] * dx * scale;
        self.target[2] += dy * scale;
    }

    /// Zoom by a scroll of `delta` points.
    pub fn zoom(&mut self, delta: f32) {
        self.distance_m = (self.distance_m * (-delta * 0.002).exp()).clamp(0.02, 200.0);
    }
}

/// A pinhole camera as the view: what "look through the episode camera" shows. OpenCV
/// camera axes (x right, y down, z forward), `world_from_camera` the camera's pose, K in
/// pixels of a `width` x `height` image. Returns the column-major wgpu view-projection
/// (depth 0..1 between `near_m` and `far_m`) and the focal length in pixels per unit of the
/// view's height (`fy / height`), for metric point sizes. `None` for a singular pose or K.
#[expect(
    clippy::too_many_arguments,
    reason = "a pose, the four pinhole numbers, the image size and the clip planes, as named scalars"
)]
pub fn pinhole_view_proj(
    world_from_camera: &Matrix4<f64>,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    width: f64,
    height: f64,
    near_m: f64,
    far_m: f64,
) -> Option<([[f32; 4]; 4], f32)> {
    if fx <= 0.0 || fy <= 0.0 || width <= 0.0 || height <= 0.0 || far_m <= near_m || near_m <= 0.0 {
        return None;
    }
    let view = world_from_camera.try_inverse()?;
    let (a, b) = (far_m / (far_m - near_m), -far_m * near_m / (far_m - near_m));
    #[rustfmt::skip]
    let proj = Matrix4::new(
        2.0 * fx / width, 0.0, 2.0 * cx / width - 1.0, 0.0,
        0.0, -2.0 * fy / height, 1.0 - 2.0 * cy / height, 0.0,
        0.0, 0.0, a, b,
        0.0, 0.0, 1.0, 0.0,
    );
    let m = proj * view;
    let mut out = [[0f32; 4]; 4];
    for (c, col) in out.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().enumerate() {
            *v = m[(r, c)] as f32;
        }
    }
    Some((out, (fy / height) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every focus point projects inside the image (clip space within [-1, 1]).
    #[test]
    fn the_initial_view_keeps_the_focus_points_in_view() {
        let focus = [[0.1, 0.0, 1.4], [0.0, 0.1, 1.1], [-0.1, 0.0, 0.9]];
        let cam = OrbitCamera::initial_view([0.0, 0.0, 0.8], 0.15, &focus);
        let vp = cam.view_proj(1.6);
        for p in focus {
            let clip: Vec<f32> = (0..4)
                .map(|r| (0..3).map(|c| vp[c][r] * p[c]).sum::<f32>() + vp[3][r])
                .collect();
            for v in &clip[..2] {
                assert!((v / clip[3]).abs() <= 1.0, "{p:?} at {clip:?}");
            }
        }
        // No focus: the bulk view, unchanged.
        assert_eq!(
            OrbitCamera::initial_view([0.0; 3], 0.2, &[]),
            OrbitCamera::at_distance([0.0; 3], 0.5)
        );
    }

    #[test]
    fn looking_through_a_camera_puts_points_on_their_pixels() {
        // A camera 1 m above the origin looking down -z (x right, y down in the image).
        let pose = Matrix4::new(
            1.0, 0.0, 0.0, 0.0, //
            0.0, -1.0, 0.0, 0.0, //
            0.0, 0.0, -1.0, 1.0, //
            0.0, 0.0, 0.0, 1.0,
        );
        let (m, _) =
            pinhole_view_proj(&pose, 100.0, 100.0, 64.0, 48.0, 128.0, 96.0, 0.05, 10.0).unwrap();
        // World (0.2, -0.1, 0) is camera (0.2, 0.1, 1): pixel (84, 58).
        let p = [0.2f32, -0.1, 0.0];
        let clip: Vec<f32> = (0..4)
            .map(|r| m[0][r] * p[0] + m[1][r] * p[1] + m[2][r] * p[2] + m[3][r])
            .collect();
        let (x, y) = (clip[0] / clip[3], clip[1] / clip[3]);
        let (u, v) = ((x + 1.0) / 2.0 * 128.0, (1.0 - y) / 2.0 * 96.0);
        assert!(
            (u - 84.0).abs() < 1e-3 && (v - 58.0).abs() < 1e-3,
            "({u}, {v})"
        );
        assert!((0.0..1.0).contains(&(clip[2] / clip[3])));
    }

    #[test]
    fn the_target_projects_to_the_centre_of_the_view() {
        let cam = OrbitCamera::framing([-1.0, -1.0, 0.0], [1.0, 1.0, 1.0]);
        let m = cam.view_proj(1.5);
        let t = cam.target;
        let clip: Vec<f32> = (0..4)
            .map(|r| m[0][r] * t[0] + m[1][r] * t[1] + m[2][r] * t[2] + m[3][r])
            .collect();
        assert!((clip[0] / clip[3]).abs() < 1e-5 && (clip[1] / clip[3]).abs() < 1e-5);
        let z = clip[2] / clip[3];
        assert!((0.0..1.0).contains(&z), "depth in wgpu range: {z}");
    }
}
