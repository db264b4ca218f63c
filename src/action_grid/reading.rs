//! Everything the tool shows about one action on the grid: its normalised value, the bins
//! and tokens it falls into, the bin centre it decodes to, and the quantisation error split
//! into direction (angle between the true and decoded translation) and magnitude (radius).

use super::grid::{ActionBins, ActionGrid};
use super::normalize::ActionStatistics;
use super::spherical::{Spherical, spherical_from_cartesian};
use super::tokens::TokenLayout;
use super::{Result, check_action};

/// One action read through the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionReading {
    pub raw: [f64; 7],
    /// Normalised and clipped to [-1, 1] (what the tokenizer bins).
    pub normalized: [f64; 7],
    /// Which dimensions hit the clip (|normalised| reached 1 before clipping).
    pub clipped: [bool; 7],
    pub spherical: Spherical,
    pub bins: ActionBins,
    pub ids: [i64; 3],
    pub tokens: [String; 3],
    /// The bin centres' (theta, phi, r).
    pub centre: Spherical,
    pub decoded_normalized: [f64; 7],
    pub decoded_raw: [f64; 7],
    /// Angle between the normalised translation and its decoded value (NaN when either is 0).
    pub direction_error_rad: f64,
    /// Decoded radius minus true radius (normalised units; after the decode clip).
    pub magnitude_error: f64,
}

/// Reads a raw action through `stats` (normalisation) and the grid.
pub fn read_action(
    grid: &ActionGrid,
    layout: &TokenLayout,
    stats: &ActionStatistics,
    raw: &[f64],
) -> Result<ActionReading> {
    let raw = check_action(raw)?;
    let unclipped = stats.normalize_unclipped(&raw);
    let normalized = stats.normalize(&raw)?.map(|v| v.clamp(-1.0, 1.0));
    let clipped = std::array::from_fn(|i| unclipped[i].abs() > 1.0 && i < 6);
    let bins = grid.encode(&normalized)?;
    let decoded_normalized = grid.decode(&bins);
    let t = [normalized[0], normalized[1], normalized[2]];
    let d = [
        decoded_normalized[0],
        decoded_normalized[1],
        decoded_normalized[2],
    ];
    let dot: f64 = t.iter().zip(&d).map(|(a, b)| a * b).sum();
    let (nt, nd) = (norm(&t), norm(&d));
    let direction_error_rad = if nt > 0.0 && nd > 0.0 {
        (dot / (nt * nd)).clamp(-1.0, 1.0).acos()
    } else {
        f64::NAN
    };
    Ok(ActionReading {
        raw,
        normalized,
        clipped,
        spherical: spherical_from_cartesian(t),
        ids: layout.ids(&bins),
        tokens: layout.strings(&bins),
        centre: grid.translation_centre(&bins),
        decoded_raw: stats.unnormalize(&decoded_normalized),
        decoded_normalized,
        direction_error_rad,
        magnitude_error: nd - nt,
        bins,
    })
}

fn norm(v: &[f64; 3]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}
