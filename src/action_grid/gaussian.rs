//! Equal-probability bin edges of a Gaussian truncated to a range (spec 3.2).
//!
//! `s = max(sigma, min_sigma)`; M + 1 probabilities evenly spaced (numpy `linspace`
//! arithmetic) between the normal CDF at the range ends; edges are the normal quantiles of
//! those probabilities, clipped to the range. The CDF follows Cephes `ndtr` (erf near 0,
//! erfc in the tails) and the quantile is refined with Halley steps on that CDF, so both
//! agree with scipy's `norm.cdf` / `norm.ppf` to a few ulp.

use super::{GridError, Result};

/// Standard normal CDF (Cephes `ndtr` structure on libm's erf/erfc).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x * std::f64::consts::FRAC_1_SQRT_2;
    if z.is_nan() {
        return f64::NAN;
    }
    if z.abs() < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * libm::erf(z)
    } else {
        let y = 0.5 * libm::erfc(z.abs());
        if z > 0.0 { 1.0 - y } else { y }
    }
}

/// Upper tail 1 - CDF(x), accurate for large x.
fn normal_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x * std::f64::consts::FRAC_1_SQRT_2)
}

/// Standard normal quantile: -inf at 0, +inf at 1, NaN outside [0, 1].
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    // Work in the smaller tail for accuracy: q = min(p, 1 - p), x = quantile(q) <= 0.
    let upper = p > 0.5;
    let q = if upper { 1.0 - p } else { p };
    let mut x = initial_quantile(q);
    // Halley refinement on the lower-tail CDF (which is the upper tail of -x).
    for _ in 0..3 {
        let cdf = normal_sf(-x);
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        if pdf == 0.0 {
            break;
        }
        let e = (cdf - q) / pdf;
        x -= e / (1.0 + 0.5 * x * e);
    }
    if upper { -x } else { x }
}

/// Acklam's rational approximation (relative error ~1e-9) for q in (0, 0.5].
fn initial_quantile(q: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    if q < P_LOW {
        let t = (-2.0 * q.ln()).sqrt();
        (((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5])
            / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1.0)
    } else {
        let u = q - 0.5;
        let t = u * u;
        (((((A[0] * t + A[1]) * t + A[2]) * t + A[3]) * t + A[4]) * t + A[5]) * u
            / (((((B[0] * t + B[1]) * t + B[2]) * t + B[3]) * t + B[4]) * t + 1.0)
    }
}

/// numpy `linspace(start, stop, n)` arithmetic (step multiply, exact last element).
pub fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let div = (n - 1) as f64;
            let step = (stop - start) / div;
            let mut v: Vec<f64> = (0..n).map(|k| k as f64 * step + start).collect();
            v[n - 1] = stop;
            v
        }
    }
}

/// A fitted Gaussian of one grid dimension (normalised units / radians).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Gaussian {
    pub mu: f64,
    pub sigma: f64,
}

/// `bins + 1` equal-probability edges on [lo, hi] for `g` with sigma floored at `min_sigma`;
/// uniform edges when `g` is `None`.
pub fn edges_from_gaussian(
    axis: &'static str,
    lo: f64,
    hi: f64,
    bins: usize,
    g: Option<Gaussian>,
    min_sigma: f64,
) -> Result<Vec<f64>> {
    if bins == 0 {
        return Err(GridError::BadEdges {
            axis,
            what: "needs at least one bin".to_owned(),
        });
    }
    let Some(g) = g else {
        return Ok(linspace(lo, hi, bins + 1));
    };
    let s = g.sigma.max(min_sigma);
    if !(g.mu.is_finite() && s.is_finite() && s > 0.0) {
        return Err(GridError::BadGaussian {
            axis,
            what: format!(
                "mu {} and sigma {} (floored to {s}) must be finite with sigma > 0",
                g.mu, g.sigma
            ),
        });
    }
    let cdf_lo = normal_cdf((lo - g.mu) / s);
    let cdf_hi = normal_cdf((hi - g.mu) / s);
    Ok(linspace(cdf_lo, cdf_hi, bins + 1)
        .into_iter()
        .map(|p| (normal_quantile(p) * s + g.mu).clamp(lo, hi))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_cdf_to_machine_precision() {
        for &p in &[
            1e-300,
            1e-12,
            1e-6,
            0.001,
            0.02425,
            0.1,
            0.3,
            0.5,
            0.7,
            0.9,
            0.999,
            1.0 - 1e-12,
        ] {
            let x = normal_quantile(p);
            let back = normal_cdf(x);
            assert!(
                ((back - p) / p).abs() < 1e-13 || (back - p).abs() < 1e-16,
                "p {p}: x {x} cdf {back}"
            );
        }
        assert_eq!(normal_quantile(0.5), 0.0);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        // Known value: the 97.5 % quantile.
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-15);
    }

    #[test]
    fn a_mean_far_outside_the_range_collapses_to_the_range_end() {
        let e = edges_from_gaussian(
            "roll",
            -1.0,
            1.0,
            4,
            Some(Gaussian {
                mu: 50.0,
                sigma: 0.1,
            }),
            0.0,
        )
        .expect("edges");
        assert!(e.iter().all(|&v| v == 1.0 || v == -1.0), "{e:?}");
        let err = edges_from_gaussian(
            "roll",
            -1.0,
            1.0,
            4,
            Some(Gaussian {
                mu: 0.0,
                sigma: 0.0,
            }),
            0.0,
        );
        assert!(err.is_err(), "sigma 0 with no floor is rejected");
    }
}
