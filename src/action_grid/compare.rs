//! Per-step errors of a predicted action against the ground truth, in the dataset's units:
//! translation L2, the angle between the two translation directions (undefined when either
//! is a near no-op), rotation L2 over roll/pitch/yaw, and whether the gripper command (open
//! when >= 0.5) agrees.

/// Translations shorter than this have no meaningful direction.
pub const DIRECTION_MIN_NORM: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StepErrors {
    pub translation_l2: f64,
    pub direction_deg: Option<f64>,
    pub rotation_l2: f64,
    pub gripper_agrees: bool,
}

fn norm3(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

pub fn step_errors(predicted: &[f64; 7], truth: &[f64; 7]) -> StepErrors {
    let dt: Vec<f64> = (0..3).map(|i| predicted[i] - truth[i]).collect();
    let dr: Vec<f64> = (3..6).map(|i| predicted[i] - truth[i]).collect();
    let (np, nt) = (norm3(&predicted[..3]), norm3(&truth[..3]));
    let direction_deg = (np > DIRECTION_MIN_NORM && nt > DIRECTION_MIN_NORM).then(|| {
        let dot: f64 = (0..3).map(|i| predicted[i] * truth[i]).sum();
        (dot / (np * nt)).clamp(-1.0, 1.0).acos().to_degrees()
    });
    StepErrors {
        translation_l2: norm3(&dt),
        direction_deg,
        rotation_l2: norm3(&dr),
        gripper_agrees: (predicted[6] >= 0.5) == (truth[6] >= 0.5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors() {
        let e = step_errors(
            &[1.0, 0.0, 0.0, 0.1, 0.0, 0.0, 1.0],
            &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        );
        assert!((e.translation_l2 - 2f64.sqrt()).abs() < 1e-12);
        assert!((e.direction_deg.unwrap() - 90.0).abs() < 1e-9);
        assert!((e.rotation_l2 - 0.1).abs() < 1e-12);
        assert!(!e.gripper_agrees);
        let z = step_errors(&[0.0; 7], &[0.0; 7]);
        assert_eq!(z.direction_deg, None);
        assert!(z.gripper_agrees);
    }
}
