//! Colour maps for scalar images (depth), pure math shared by the worker and exports.
//!
//! Turbo via its published degree-5 polynomial fit (Mikhailov 2019 / Du's approximation):
//! smooth, perceptually ordered, and cheap enough to evaluate per pixel.

/// Turbo colour for `t` in [0, 1] (clamped), as 8-bit RGB.
pub fn turbo(t: f32) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0);
    let (x2, x3) = (x * x, x * x * x);
    let (x4, x5) = (x2 * x2, x2 * x3);
    let r = 0.135_721_38 + 4.615_392_6 * x - 42.660_32 * x2 + 132.131_08 * x3 - 152.942_39 * x4
        + 59.286_38 * x5;
    let g = 0.091_402_61 + 2.194_188_4 * x + 4.842_966_6 * x2 - 14.185_033 * x3
        + 4.277_298_6 * x4
        + 2.829_566 * x5;
    let b = 0.106_673_3 + 12.641_946 * x - 60.582_05 * x2 + 110.362_77 * x3 - 89.903_11 * x4
        + 27.348_25 * x5;
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [q(r), q(g), q(b)]
}

/// A cosine similarity as a colour: turbo over [-1, 1] (blue = opposed, red = aligned),
/// grey where it is undefined (padding, a zero vector).
pub fn cosine_rgb(c: f32) -> [u8; 3] {
    if c.is_finite() {
        turbo((c + 1.0) / 2.0)
    } else {
        [90, 90, 90]
    }
}

/// Colours a depth image (metres, 0 = invalid) with turbo between `near_m` and `far_m`
/// (near = blue end); invalid pixels are black. Returns RGBA8, row-major.
pub fn depth_to_rgba(depth_m: &[f32], near_m: f32, far_m: f32) -> Vec<u8> {
    let span = (far_m - near_m).max(1e-6);
    let mut out = Vec::with_capacity(depth_m.len() * 4);
    for &d in depth_m {
        if d > 0.0 && d.is_finite() {
            let [r, g, b] = turbo((d - near_m) / span);
            out.extend_from_slice(&[r, g, b, 255]);
        } else {
            out.extend_from_slice(&[0, 0, 0, 255]);
        }
    }
    out
}

/// A robust colour range for a depth image: the 2nd and 98th percentiles of the valid
/// pixels (so a far background or a few outliers do not flatten the scene). `None` when no
/// pixel is valid. Samples at most ~16k pixels (a percentile of a colour range needs no
/// more; every pixel cost a fifth of a step in the dev build).
pub fn robust_depth_range_m(depth_m: &[f32]) -> Option<(f32, f32)> {
    let stride = (depth_m.len() / 16_384).max(1);
    let mut valid: Vec<f32> = depth_m
        .iter()
        .step_by(stride)
        .copied()
        .filter(|d| *d > 0.0 && d.is_finite())
        .collect();
    if valid.is_empty() {
        return None;
    }
    let n = valid.len();
    let lo_i = (n - 1) * 2 / 100;
    let hi_i = (n - 1) * 98 / 100;
    let lo = *valid.select_nth_unstable_by(lo_i, f32::total_cmp).1;
    let hi = *valid.select_nth_unstable_by(hi_i, f32::total_cmp).1;
    Some(if hi > lo { (lo, hi) } else { (lo, lo + 1e-3) })
}

/// Diverging colours for est - sensor: blue (estimate too near) .. white .. red (too far).
pub fn difference_to_rgba(diff_m: &[f32], max_abs_m: f32) -> Vec<u8> {
    let mut out = Vec::with_capacity(diff_m.len() * 4);
    for d in diff_m {
        if !d.is_finite() {
            out.extend([0, 0, 0, 255]);
            continue;
        }
        let t = (d / max_abs_m.max(1e-6)).clamp(-1.0, 1.0);
        let (r, g, b) = if t >= 0.0 {
            (1.0, 1.0 - t, 1.0 - t)
        } else {
            (1.0 + t, 1.0 + t, 1.0)
        };
        out.extend([(r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8, 255]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_runs_from_dark_blue_to_dark_red_through_green() {
        // Turbo starts near black (0.14, 0.09, 0.11) and turns blue quickly.
        let zero = turbo(0.0);
        assert!(zero.iter().all(|&c| c < 50), "{zero:?}");
        let lo = turbo(0.1);
        let mid = turbo(0.5);
        let hi = turbo(1.0);
        assert!(lo[2] > 2 * lo[0] && lo[2] > 200, "low end is blue: {lo:?}");
        assert!(mid[1] > 200, "middle is bright green-yellow: {mid:?}");
        assert!(hi[0] > hi[2] && hi[0] > 100, "high end is red: {hi:?}");
    }

    #[test]
    fn robust_range_ignores_outliers_and_invalid_pixels() {
        let mut d: Vec<f32> = (0..1000).map(|i| 1.0 + i as f32 / 1000.0).collect();
        d.extend([0.0, f32::NAN, 500.0]);
        let (lo, hi) = robust_depth_range_m(&d).expect("range");
        assert!(
            (lo - 1.02).abs() < 0.01 && (hi - 1.98).abs() < 0.01,
            "{lo} {hi}"
        );
        assert_eq!(robust_depth_range_m(&[0.0, 0.0]), None);
    }

    #[test]
    fn invalid_depth_is_black() {
        let rgba = depth_to_rgba(&[0.0, f32::NAN, 1.0], 0.5, 1.5);
        assert_eq!(&rgba[0..4], &[0, 0, 0, 255]);
        assert_eq!(&rgba[4..8], &[0, 0, 0, 255]);
        assert_ne!(&rgba[8..11], &[0, 0, 0]);
    }
}
