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
