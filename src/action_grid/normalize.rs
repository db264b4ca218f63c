//! Action normalisation with a dataset's 1st/99th percentiles (spec 2.2).
//!
//! Forward: `n = clip(2 (a - q01) / (q99 - q01 + 1e-8) - 1, -1, 1)` on masked dimensions,
//! others pass through, and any dimension with `min == max` is forced to 0. Inverse:
//! `a = 0.5 (n + 1) (q99 - q01) + q01` on masked dimensions (no 1e-8 term), others pass
//! through (the gripper comes back as exactly 0 or 1).

use serde::Deserialize;

use super::{GridError, Result};

/// One unnorm key's action statistics (7 entries each).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActionStatistics {
    pub q01: [f64; 7],
    pub q99: [f64; 7],
    /// `null` entries (a non-finite value in the file) read as NaN.
    #[serde(default, deserialize_with = "nullable7")]
    pub min: Option<[f64; 7]>,
    #[serde(default, deserialize_with = "nullable7")]
    pub max: Option<[f64; 7]>,
    #[serde(default, deserialize_with = "nullable7")]
    pub mean: Option<[f64; 7]>,
    /// The released checkpoint stores `Infinity` for some keys' std (unused by SpatialVLA).
    #[serde(default, deserialize_with = "nullable7")]
    pub std: Option<[f64; 7]>,
    /// Dimensions that are normalised; absent means all.
    #[serde(default)]
    pub mask: Option<[bool; 7]>,
}

/// numpy's default (linear) percentile of sorted values, `q` in [0, 100].
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let pos = q / 100.0 * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let t = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * t
}

/// Seven numbers where `null` (a Python NaN/Infinity token) stands for NaN.
fn nullable7<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<[f64; 7]>, D::Error> {
    let v: Option<Vec<Option<f64>>> = Option::deserialize(d)?;
    v.map(|v| {
        let n = v.len();
        let arr: Vec<f64> = v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect();
        arr.try_into()
            .map_err(|_| serde::de::Error::custom(format!("expected 7 values, found {n}")))
    })
    .transpose()
}

/// Checks that an action has 7 finite values.
pub fn check_action(a: &[f64]) -> Result<[f64; 7]> {
    let arr: [f64; 7] = a
        .try_into()
        .map_err(|_| GridError::WrongWidth { got: a.len() })?;
    if let Some(dim) = arr.iter().position(|v| !v.is_finite()) {
        return Err(GridError::NonFiniteAction {
            dim,
            value: arr[dim],
        });
    }
    Ok(arr)
}

impl ActionStatistics {
    fn masked(&self, i: usize) -> bool {
        self.mask.is_none_or(|m| m[i])
    }

    /// Dimensions whose recorded range is zero (forced to 0 when normalising).
    pub fn zero_range_dims(&self) -> Vec<usize> {
        match (&self.min, &self.max) {
            (Some(lo), Some(hi)) => (0..7).filter(|&i| lo[i] == hi[i]).collect(),
            _ => Vec::new(),
        }
    }

    /// Raw dataset units -> normalised [-1, 1] (the data pipeline's forward transform).
    pub fn normalize(&self, raw: &[f64]) -> Result<[f64; 7]> {
        let a = check_action(raw)?;
        let mut n = a;
        for i in 0..7 {
            if self.masked(i) {
                let v = 2.0 * (a[i] - self.q01[i]) / (self.q99[i] - self.q01[i] + 1e-8) - 1.0;
                n[i] = v.clamp(-1.0, 1.0);
            }
        }
        for i in self.zero_range_dims() {
            n[i] = 0.0;
        }
        Ok(n)
    }

    /// The forward transform without the clip (to see how far outside [-1, 1] a value is).
    pub fn normalize_unclipped(&self, raw: &[f64; 7]) -> [f64; 7] {
        let mut n = *raw;
        for i in 0..7 {
            if self.masked(i) {
                n[i] = 2.0 * (raw[i] - self.q01[i]) / (self.q99[i] - self.q01[i] + 1e-8) - 1.0;
            }
        }
        n
    }

    /// Statistics of a set of actions, the way the data pipeline computes them: q01/q99 as
    /// numpy's linear-interpolation percentiles, min/max/mean/std, and the gripper (last
    /// dimension) unmasked. `None` for no actions.
    pub fn from_actions(actions: &[[f64; 7]]) -> Option<Self> {
        if actions.is_empty() {
            return None;
        }
        let mut q01 = [0.0; 7];
        let mut q99 = [0.0; 7];
        let mut min = [0.0; 7];
        let mut max = [0.0; 7];
        let mut mean = [0.0; 7];
        let mut std = [0.0; 7];
        for d in 0..7 {
            let mut v: Vec<f64> = actions.iter().map(|a| a[d]).collect();
            v.sort_by(f64::total_cmp);
            q01[d] = percentile_sorted(&v, 1.0);
            q99[d] = percentile_sorted(&v, 99.0);
            min[d] = v[0];
            max[d] = v[v.len() - 1];
            let m = v.iter().sum::<f64>() / v.len() as f64;
            mean[d] = m;
            std[d] = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        }
        Some(Self {
            q01,
            q99,
            min: Some(min),
            max: Some(max),
            mean: Some(mean),
            std: Some(std),
            mask: Some([true, true, true, true, true, true, false]),
        })
    }

    /// Normalised -> raw dataset units (the processor's inverse transform).
    pub fn unnormalize(&self, n: &[f64; 7]) -> [f64; 7] {
        let mut a = *n;
        for i in 0..7 {
            if self.masked(i) {
                a[i] = 0.5 * (n[i] + 1.0) * (self.q99[i] - self.q01[i]) + self.q01[i];
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear_interpolation() {
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(percentile_sorted(&v, 1.0), 0.1);
        assert_eq!(percentile_sorted(&v, 99.0), 9.9);
        assert_eq!(percentile_sorted(&[3.0], 50.0), 3.0);
        // np.percentile([1, 2, 4, 8], 99) = 4 + 0.97 * 4 = 7.88
        assert!((percentile_sorted(&[1.0, 2.0, 4.0, 8.0], 99.0) - 7.88).abs() < 1e-12);
    }

    #[test]
    fn statistics_of_actions_normalise_their_own_range_to_minus_one_one() {
        let acts: Vec<[f64; 7]> = (0..101)
            .map(|i| {
                [
                    f64::from(i) * 0.001,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    f64::from(i % 2),
                ]
            })
            .collect();
        let s = ActionStatistics::from_actions(&acts).expect("stats");
        assert!((s.q01[0] - 0.001).abs() < 1e-12 && (s.q99[0] - 0.099).abs() < 1e-12);
        let n = s
            .normalize(&[0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
            .expect("normalize");
        assert!(n[0].abs() < 1e-6, "the median maps near 0: {}", n[0]);
        assert_eq!(n[1], 0.0, "zero-range dimension forced to 0");
        assert_eq!(n[6], 1.0, "gripper passes through");
        // As in the reference, a constant dimension is forced to 0, the gripper included.
        let constant: Vec<[f64; 7]> = (0..5)
            .map(|_| [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
            .collect();
        let s = ActionStatistics::from_actions(&constant).expect("stats");
        assert_eq!(s.normalize(&constant[0]).expect("normalize")[6], 0.0);
    }
}

/// Keys ranked by how well their q01..q99 spans match `own` (an episode's or dataset's own
/// statistics) on the six motion dimensions: the mean |ln(key span / own span)|, smallest
/// first. A guess for data whose dataset key the checkpoint does not know: statistics of the
/// right units and scale clip and stretch the actions least. Spans narrower than `1e-6` are
/// floored (a frozen dimension must not dominate).
pub fn rank_keys_by_spans<'a>(
    keys: impl IntoIterator<Item = (&'a str, &'a ActionStatistics)>,
    own: &ActionStatistics,
) -> Vec<(String, f64)> {
    let span = |s: &ActionStatistics, d: usize| (s.q99[d] - s.q01[d]).abs().max(1e-6);
    let mut ranked: Vec<(String, f64)> = keys
        .into_iter()
        .map(|(k, s)| {
            let score = (0..6)
                .map(|d| (span(s, d) / span(own, d)).ln().abs())
                .sum::<f64>()
                / 6.0;
            (k.to_owned(), score)
        })
        .filter(|(_, score)| score.is_finite())
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    ranked
}

#[cfg(test)]
mod rank_tests {
    use super::*;

    fn stats(span: f64) -> ActionStatistics {
        ActionStatistics {
            q01: [-span / 2.0; 7],
            q99: [span / 2.0; 7],
            min: None,
            max: None,
            mean: None,
            std: None,
            mask: None,
        }
    }

    #[test]
    fn the_key_of_the_same_scale_ranks_first() {
        let (a, b, c) = (stats(0.02), stats(1.0), stats(0.05));
        let own = stats(0.04);
        let r = rank_keys_by_spans([("a", &a), ("b", &b), ("c", &c)], &own);
        assert_eq!(
            r.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["c", "a", "b"]
        );
        assert!((r[0].1 - (0.05f64 / 0.04).ln()).abs() < 1e-12);
    }
}
