//! Estimated depth against sensor depth: the standard monocular-depth error statistics over
//! the pixels where both are valid (finite, > 0). Both maps must be on the same pixel grid
//! (the model input, where SpatialVLA uses depth); the caller resamples.

/// Error statistics of `estimated` against `reference` (the sensor), metres.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DepthErrorStats {
    /// Pixels where both are valid.
    pub valid_px: usize,
    pub total_px: usize,
    /// mean(|est - ref| / ref).
    pub abs_rel: f64,
    /// sqrt(mean((est - ref)^2)), metres.
    pub rmse_m: f64,
    /// mean(est - ref), metres: positive when the estimate is too far.
    pub mean_signed_m: f64,
    /// Fraction with |est - ref| / ref < 0.05.
    pub within_5pct: f64,
    /// Fraction with max(est/ref, ref/est) < 1.25 (the usual delta_1).
    pub delta_1_25: f64,
    /// median(ref) / median(est): the scale that would align them.
    pub median_scale: f64,
}

fn valid(d: f32) -> bool {
    d.is_finite() && d > 0.0
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The statistics, `None` when the sizes differ or no pixel is valid in both.
pub fn compare(estimated: &[f32], reference: &[f32]) -> Option<DepthErrorStats> {
    if estimated.len() != reference.len() {
        return None;
    }
    let pairs: Vec<(f64, f64)> = estimated
        .iter()
        .zip(reference)
        .filter(|(e, r)| valid(**e) && valid(**r))
        .map(|(e, r)| (f64::from(*e), f64::from(*r)))
        .collect();
    let n = pairs.len();
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let (mut abs_rel, mut sq, mut signed, mut w5, mut d1) = (0.0, 0.0, 0.0, 0usize, 0usize);
    for &(e, r) in &pairs {
        let rel = (e - r).abs() / r;
        abs_rel += rel;
        sq += (e - r) * (e - r);
        signed += e - r;
        w5 += usize::from(rel < 0.05);
        d1 += usize::from((e / r).max(r / e) < 1.25);
    }
    Some(DepthErrorStats {
        valid_px: n,
        total_px: estimated.len(),
        abs_rel: abs_rel / nf,
        rmse_m: (sq / nf).sqrt(),
        mean_signed_m: signed / nf,
        within_5pct: w5 as f64 / nf,
        delta_1_25: d1 as f64 / nf,
        median_scale: median(pairs.iter().map(|p| p.1).collect())
            / median(pairs.iter().map(|p| p.0).collect()),
    })
}

/// est - ref per pixel, NaN where either is invalid.
pub fn signed_difference(estimated: &[f32], reference: &[f32]) -> Vec<f32> {
    estimated
        .iter()
        .zip(reference)
        .map(|(e, r)| {
            if valid(*e) && valid(*r) {
                e - r
            } else {
                f32::NAN
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_errors() {
        // ref 1 m everywhere; est: exact, +4 %, +10 %, -30 %, and one invalid pixel.
        let r = [1.0, 1.0, 1.0, 1.0, 1.0];
        let e = [1.0, 1.04, 1.1, 0.7, 0.0];
        let s = compare(&e, &r).unwrap();
        assert_eq!((s.valid_px, s.total_px), (4, 5));
        assert!((s.abs_rel - (0.0 + 0.04 + 0.1 + 0.3) / 4.0).abs() < 1e-6);
        assert!((s.within_5pct - 0.5).abs() < 1e-12);
        assert!((s.delta_1_25 - 0.75).abs() < 1e-12, "0.7 m is 1.43x off");
        let rmse = ((0.04f64.powi(2) + 0.1f64.powi(2) + 0.3f64.powi(2)) / 4.0).sqrt();
        assert!((s.rmse_m - rmse).abs() < 1e-6);
        assert!((s.mean_signed_m - (0.04 + 0.1 - 0.3) / 4.0).abs() < 1e-6);
        assert!(compare(&[0.0], &[1.0]).is_none());
        assert!(compare(&[1.0], &[1.0, 2.0]).is_none());
        let d = signed_difference(&e, &r);
        assert!(d[4].is_nan() && (d[3] + 0.3).abs() < 1e-6);
    }
}
