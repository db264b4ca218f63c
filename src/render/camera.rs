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

#[cfg(test)]
mod tests {
    use super::*;

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
