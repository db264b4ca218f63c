//! `summary.json` of an evaluation store: what was evaluated and with what, aggregates over
//! all rows and per episode, per-dimension MAE and RMSE of the first action, and the worst
//! steps by each metric. Computed from the stored rows only (so a resumed run's summary
//! covers everything stored).

use std::collections::BTreeMap;

use serde::Serialize;

use super::row::{DIMS, EvalRow};
use super::store::Manifest;
use crate::action_grid::distribution::DIMENSION_NAMES;

/// Steps listed per metric in `worst`.
pub const WORST: usize = 10;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Aggregate {
    pub steps: usize,
    pub first_translation_l2_mean: Option<f64>,
    pub chunk_translation_l2_mean: Option<f64>,
    pub first_direction_deg_mean: Option<f64>,
    pub first_rotation_l2_mean: Option<f64>,
    pub gripper_agreement_mean: Option<f64>,
    pub malformed: usize,
    pub low_confidence: usize,
    pub time_ms_mean: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DimensionError {
    pub dimension: &'static str,
    pub mae: Option<f64>,
    pub rmse: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorstStep {
    pub dataset: String,
    pub episode_index: u32,
    pub episode: String,
    pub step: u32,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub manifest: Manifest,
    /// False when the run stopped before every step was evaluated (Ctrl-C).
    pub complete: bool,
    pub overall: Aggregate,
    pub first_action_error: Vec<DimensionError>,
    /// Per (dataset, episode index).
    pub episodes: Vec<(String, u32, String, Aggregate)>,
    /// Metric name -> the worst steps by it (largest error; smallest gripper agreement).
    pub worst: BTreeMap<&'static str, Vec<WorstStep>>,
}

fn mean(v: impl Iterator<Item = f32>) -> Option<f64> {
    let (mut s, mut n) = (0f64, 0usize);
    for x in v.filter(|x| x.is_finite()) {
        s += f64::from(x);
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

pub fn aggregate(rows: &[&EvalRow]) -> Aggregate {
    Aggregate {
        steps: rows.len(),
        first_translation_l2_mean: mean(rows.iter().map(|r| r.first_translation_l2)),
        chunk_translation_l2_mean: mean(rows.iter().map(|r| r.chunk_translation_l2)),
        first_direction_deg_mean: mean(rows.iter().map(|r| r.first_direction_deg)),
        first_rotation_l2_mean: mean(rows.iter().map(|r| r.first_rotation_l2)),
        gripper_agreement_mean: mean(rows.iter().map(|r| r.gripper_agreement)),
        malformed: rows.iter().filter(|r| r.malformed).count(),
        low_confidence: rows.iter().filter(|r| r.low_confidence).count(),
        time_ms_mean: mean(rows.iter().map(|r| r.time_ms)),
    }
}

/// The metrics `worst` ranks, with whether larger is worse.
const RANKED: [(&str, bool); 5] = [
    ("first_translation_l2", true),
    ("chunk_translation_l2", true),
    ("first_direction_deg", true),
    ("first_rotation_l2", true),
    ("gripper_agreement", false),
];

fn metric(r: &EvalRow, name: &str) -> f32 {
    match name {
        "first_translation_l2" => r.first_translation_l2,
        "chunk_translation_l2" => r.chunk_translation_l2,
        "first_direction_deg" => r.first_direction_deg,
        "first_rotation_l2" => r.first_rotation_l2,
        _ => r.gripper_agreement,
    }
}

pub fn summarize(manifest: &Manifest, rows: &[EvalRow], complete: bool) -> Summary {
    let all: Vec<&EvalRow> = rows.iter().collect();
    let first_action_error = (0..DIMS)
        .map(|d| {
            let e: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.first_abs_error.get(d).copied())
                .filter(|x| x.is_finite())
                .map(f64::from)
                .collect();
            let n = e.len() as f64;
            DimensionError {
                dimension: DIMENSION_NAMES[d],
                mae: (!e.is_empty()).then(|| e.iter().sum::<f64>() / n),
                rmse: (!e.is_empty()).then(|| (e.iter().map(|x| x * x).sum::<f64>() / n).sqrt()),
            }
        })
        .collect();
    let mut by_episode: BTreeMap<(String, u32), Vec<&EvalRow>> = BTreeMap::new();
    for r in rows {
        by_episode
            .entry((r.dataset.clone(), r.episode_index))
            .or_default()
            .push(r);
    }
    let episodes = by_episode
        .into_iter()
        .map(|((d, i), rs)| (d, i, rs[0].episode.clone(), aggregate(&rs)))
        .collect();
    let worst = RANKED
        .iter()
        .map(|&(name, larger_is_worse)| {
            let mut v: Vec<&EvalRow> = rows
                .iter()
                .filter(|r| metric(r, name).is_finite())
                .collect();
            v.sort_by(|a, b| {
                let (x, y) = (metric(a, name), metric(b, name));
                if larger_is_worse {
                    y.total_cmp(&x)
                } else {
                    x.total_cmp(&y)
                }
                .then(a.key().cmp(&b.key()))
            });
            let list = v
                .into_iter()
                .take(WORST)
                .map(|r| WorstStep {
                    dataset: r.dataset.clone(),
                    episode_index: r.episode_index,
                    episode: r.episode.clone(),
                    step: r.step,
                    value: f64::from(metric(r, name)),
                })
                .collect();
            (name, list)
        })
        .collect();
    Summary {
        manifest: manifest.clone(),
        complete,
        overall: aggregate(&all),
        first_action_error,
        episodes,
        worst,
    }
}
