//! Raw depth against a depth expert (SpatialActor's question: was the sensor wrong here,
//! and would the expert have known better?).
//!
//! A relative expert (Depth Anything V2) predicts inverse depth up to an unknown scale and
//! shift, so it is aligned per frame to the raw depth where the raw depth is valid: fitted in
//! inverse depth, `1 / z_raw ~ s * d + t`, as MiDaS-style evaluations do; a metric expert
//! (ZoeDepth, Depth Anything's metric variants) is fitted in depth, `z_raw ~ s * z + t`, so
//! `s` and `t` say how far off its metres are.
//!
//! The fit is robust because raw depth is exactly what is in question: a Theil-Sen start
//! (median of slopes over a fixed pseudo-random set of pixel pairs, median intercept), then
//! least squares on the pixels whose residual is within 3 robust standard deviations
//! (1.4826 x MAD), repeated until the inlier set stops changing. Up to about a quarter of the
//! raw pixels can be wrong without moving the fit.

use super::depth_compare::{DepthErrorStats, compare, signed_difference};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignSpace {
    /// `1 / z_raw ~ s * d + t` (relative experts: d is inverse depth).
    InverseDepth,
    /// `z_raw ~ s * z + t` (metric experts).
    Depth,
}

/// A fitted scale and shift and how well they hold.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Alignment {
    pub space: AlignSpace,
    pub scale: f64,
    pub shift: f64,
    /// Pixels with both values valid (the fit's candidates).
    pub fitted_px: usize,
    /// Of those, the ones inside the final 3-sigma band.
    pub inlier_px: usize,
    pub iterations: usize,
    /// Robust standard deviation of the inlier residuals (1/m or m by `space`).
    pub residual_sigma: f64,
}

fn valid(v: f32) -> bool {
    v.is_finite() && v > 0.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Least squares `y ~ s x + t` over the marked pairs; `None` when x does not vary.
fn least_squares(pairs: &[(f64, f64)], keep: &[bool]) -> Option<(f64, f64)> {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (p, k) in pairs.iter().zip(keep) {
        if *k {
            n += 1.0;
            sx += p.0;
            sy += p.1;
        }
    }
    if n < 2.0 {
        return None;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (p, k) in pairs.iter().zip(keep) {
        if *k {
            sxx += (p.0 - mx) * (p.0 - mx);
            sxy += (p.0 - mx) * (p.1 - my);
        }
    }
    if sxx <= f64::EPSILON * n * mx.abs().max(1.0) {
        return None;
    }
    let s = sxy / sxx;
    Some((s, my - s * mx))
}

/// Median of slopes over up to 4,000 pixel pairs chosen by a fixed xorshift sequence.
fn theil_sen(pairs: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = pairs.len() as u64;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n) as usize
    };
    let mut slopes = Vec::with_capacity(4000);
    for _ in 0..16_000 {
        let (a, b) = (pairs[next()], pairs[next()]);
        let dx = b.0 - a.0;
        if dx.abs() > 1e-12 * a.0.abs().max(b.0.abs()).max(1e-30) {
            slopes.push((b.1 - a.1) / dx);
            if slopes.len() == 4000 {
                break;
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let s = median(&mut slopes);
    let mut icpt: Vec<f64> = pairs.iter().map(|p| p.1 - s * p.0).collect();
    Some((s, median(&mut icpt)))
}

/// Fits `expert` to `raw_m` (same pixel grid). `None` when fewer than 16 pixels are valid in
/// both or the expert is constant over them.
pub fn fit(expert: &[f32], raw_m: &[f32], space: AlignSpace) -> Option<Alignment> {
    if expert.len() != raw_m.len() {
        return None;
    }
    let pairs: Vec<(f64, f64)> = expert
        .iter()
        .zip(raw_m)
        .filter(|(e, r)| e.is_finite() && valid(**r))
        .map(|(e, r)| {
            let y = match space {
                AlignSpace::InverseDepth => 1.0 / f64::from(*r),
                AlignSpace::Depth => f64::from(*r),
            };
            (f64::from(*e), y)
        })
        .collect();
    if pairs.len() < 16 {
        return None;
    }
    let (mut s, mut t) = theil_sen(&pairs)?;
    // The inputs are float32: residuals below ~1e-6 of the values are rounding, and an
    // exact fit (MAD 0) must not reject them.
    let floor = 1e-6 * pairs.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
    let mut keep = vec![true; pairs.len()];
    let (mut iterations, mut sigma) = (0, 0.0);
    for it in 1..=20 {
        iterations = it;
        let res: Vec<f64> = pairs.iter().map(|p| p.1 - (s * p.0 + t)).collect();
        let med = median(&mut res.clone());
        let mut dev: Vec<f64> = res.iter().map(|r| (r - med).abs()).collect();
        sigma = (1.4826 * median(&mut dev)).max(floor);
        let next: Vec<bool> = res.iter().map(|r| r.abs() <= 3.0 * sigma).collect();
        let Some((ns, nt)) = least_squares(&pairs, &next) else {
            break;
        };
        let stable = next == keep;
        (s, t, keep) = (ns, nt, next);
        if stable {
            break;
        }
    }
    Some(Alignment {
        space,
        scale: s,
        shift: t,
        fitted_px: pairs.len(),
        inlier_px: keep.iter().filter(|k| **k).count(),
        iterations,
        residual_sigma: sigma,
    })
}

/// The expert in metres after the alignment; NaN where it maps to no positive depth.
pub fn apply(expert: &[f32], a: &Alignment) -> Vec<f32> {
    expert
        .iter()
        .map(|e| {
            let v = a.scale * f64::from(*e) + a.shift;
            let z = match a.space {
                AlignSpace::InverseDepth if v > 1e-6 => 1.0 / v,
                AlignSpace::Depth if v > 0.0 => v,
                _ => f64::NAN,
            };
            z as f32
        })
        .collect()
}

/// How the aligned expert and the raw depth agree, over one frame.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RawVsExpert {
    pub alignment: Alignment,
    /// Error statistics of the aligned expert against the raw depth (valid in both).
    pub stats: Option<DepthErrorStats>,
    pub total_px: usize,
    /// Raw pixels that are missing (NaN, 0, negative).
    pub raw_missing_fraction: f64,
    /// Of the pixels valid in both, those with |expert - raw| / raw above `threshold`.
    pub disagree_fraction: f64,
    pub threshold: f64,
    /// Missing or disagreeing raw pixels, over all pixels: where the raw depth is in question.
    pub suspect_fraction: f64,
}

/// Fits, applies and compares; returns the aligned expert (metres), the signed difference
/// (expert - raw, metres, NaN where either is invalid) and the summary.
pub fn raw_vs_expert(
    expert: &[f32],
    raw_m: &[f32],
    space: AlignSpace,
    threshold: f64,
) -> Option<(Vec<f32>, Vec<f32>, RawVsExpert)> {
    let alignment = fit(expert, raw_m, space)?;
    let aligned = apply(expert, &alignment);
    let diff = signed_difference(&aligned, raw_m);
    let total = raw_m.len();
    let missing = raw_m.iter().filter(|r| !valid(**r)).count();
    let (mut both, mut disagree) = (0usize, 0usize);
    for (d, r) in diff.iter().zip(raw_m) {
        if d.is_finite() {
            both += 1;
            disagree += usize::from(f64::from(d.abs()) / f64::from(*r) > threshold);
        }
    }
    let summary = RawVsExpert {
        alignment,
        stats: compare(&aligned, raw_m),
        total_px: total,
        raw_missing_fraction: missing as f64 / total.max(1) as f64,
        disagree_fraction: disagree as f64 / both.max(1) as f64,
        threshold,
        suspect_fraction: (missing + disagree) as f64 / total.max(1) as f64,
    };
    Some((aligned, diff, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A depth ramp 0.5..3 m over `n` pixels.
    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| 0.5 + 2.5 * i as f32 / n as f32).collect()
    }

    #[test]
    fn recovers_a_known_scale_and_shift_in_inverse_depth_despite_bad_raw_pixels() {
        let (s, t) = (0.35f64, 0.12f64);
        let raw = ramp(5000);
        // The expert's inverse depth: 1/z = s d + t.
        let expert: Vec<f32> = raw
            .iter()
            .map(|z| ((1.0 / f64::from(*z) - t) / s) as f32)
            .collect();
        let mut noisy = raw.clone();
        for (i, z) in noisy.iter_mut().enumerate() {
            match i % 10 {
                0 => *z = 0.0,      // missing (10 %)
                1 | 2 => *z *= 1.8, // 20 % wrong by a lot
                _ => {}
            }
        }
        let (aligned, diff, r) =
            raw_vs_expert(&expert, &noisy, AlignSpace::InverseDepth, 0.05).unwrap();
        let a = r.alignment;
        assert!((a.scale - s).abs() < 1e-5 * s, "{a:?}");
        assert!((a.shift - t).abs() < 1e-5, "{a:?}");
        assert_eq!(a.fitted_px, 4500);
        assert_eq!(a.inlier_px, 3500, "exactly the untouched pixels");
        for (x, z) in aligned.iter().zip(&raw) {
            assert!((x - z).abs() < 1e-4 * z, "{x} vs {z}");
        }
        assert!((r.raw_missing_fraction - 0.1).abs() < 1e-12);
        assert!((r.disagree_fraction - 1000.0 / 4500.0).abs() < 1e-12);
        assert!((r.suspect_fraction - 1500.0 / 5000.0).abs() < 1e-12);
        assert!(
            diff[0].is_nan() && diff[1] < 0.0,
            "expert nearer than the inflated raw"
        );
    }

    #[test]
    fn metric_experts_are_fitted_in_depth() {
        let raw = ramp(400);
        let zoe: Vec<f32> = raw.iter().map(|z| (z - 0.05) / 1.1).collect();
        let a = fit(&zoe, &raw, AlignSpace::Depth).unwrap();
        assert!(
            (a.scale - 1.1).abs() < 1e-5 && (a.shift - 0.05).abs() < 1e-5,
            "{a:?}"
        );
        let back = apply(&zoe, &a);
        assert!((back[17] - raw[17]).abs() < 1e-5);
    }

    #[test]
    fn too_few_or_constant_inputs_give_no_fit() {
        assert!(fit(&[1.0; 10], &[1.0; 10], AlignSpace::Depth).is_none());
        assert!(fit(&[2.0; 100], &ramp(100), AlignSpace::Depth).is_none());
        assert!(fit(&[1.0; 100], &[1.0; 99], AlignSpace::Depth).is_none());
        // A non-positive mapped inverse depth is no depth.
        let a = Alignment {
            space: AlignSpace::InverseDepth,
            scale: 1.0,
            shift: -1.0,
            fitted_px: 0,
            inlier_px: 0,
            iterations: 0,
            residual_sigma: 0.0,
        };
        assert!(apply(&[0.5], &a)[0].is_nan());
    }
}
