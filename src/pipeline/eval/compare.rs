//! Two evaluation stores of the same dataset side by side: the steps both evaluated, per-step
//! deltas of every metric (B - A), the overall change, and the steps where B is much worse
//! than A first (the regressions a fine-tune brought), then where it is much better.

use std::collections::HashMap;

use serde::Serialize;

use super::row::EvalRow;
use super::store::Manifest;

/// The metrics compared: (name, value, whether larger is worse).
type Metric = (&'static str, fn(&EvalRow) -> f32, bool);

pub const METRICS: [Metric; 5] = [
    ("first_translation_l2", |r| r.first_translation_l2, true),
    ("chunk_translation_l2", |r| r.chunk_translation_l2, true),
    ("first_direction_deg", |r| r.first_direction_deg, true),
    ("first_rotation_l2", |r| r.first_rotation_l2, true),
    ("gripper_agreement", |r| r.gripper_agreement, false),
];

/// Steps listed in each direction.
pub const LISTED: usize = 20;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepDelta {
    pub dataset: String,
    pub episode_index: u32,
    pub episode: String,
    pub step: u32,
    pub a: f32,
    pub b: f32,
    /// How much worse B is than A (positive: worse), in the metric's units.
    pub worse_by: f32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricComparison {
    pub metric: &'static str,
    /// Steps where both values are finite.
    pub steps: usize,
    pub mean_a: Option<f64>,
    pub mean_b: Option<f64>,
    /// Steps where B is worse / better than A.
    pub b_worse: usize,
    pub b_better: usize,
    /// The largest regressions of B, worst first; then its largest improvements.
    pub most_worse: Vec<StepDelta>,
    pub most_better: Vec<StepDelta>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Manifest,
    pub b: Manifest,
    pub shared_steps: usize,
    pub only_in_a: usize,
    pub only_in_b: usize,
    pub metrics: Vec<MetricComparison>,
}

/// Compares the steps both stores hold.
pub fn compare(a: (&Manifest, &[EvalRow]), b: (&Manifest, &[EvalRow])) -> Comparison {
    let index: HashMap<_, &EvalRow> = b.1.iter().map(|r| (r.key(), r)).collect();
    let pairs: Vec<(&EvalRow, &EvalRow)> =
        a.1.iter()
            .filter_map(|ra| index.get(&ra.key()).map(|rb| (ra, *rb)))
            .collect();
    let metrics = METRICS
        .iter()
        .map(|&(name, value, larger_is_worse)| {
            let mut deltas: Vec<StepDelta> = pairs
                .iter()
                .filter(|(ra, rb)| value(ra).is_finite() && value(rb).is_finite())
                .map(|(ra, rb)| {
                    let (x, y) = (value(ra), value(rb));
                    StepDelta {
                        dataset: ra.dataset.clone(),
                        episode_index: ra.episode_index,
                        episode: ra.episode.clone(),
                        step: ra.step,
                        a: x,
                        b: y,
                        worse_by: if larger_is_worse { y - x } else { x - y },
                    }
                })
                .collect();
            let n = deltas.len();
            let mean = |f: fn(&StepDelta) -> f32| {
                (n > 0).then(|| deltas.iter().map(|d| f64::from(f(d))).sum::<f64>() / n as f64)
            };
            let (mean_a, mean_b) = (mean(|d| d.a), mean(|d| d.b));
            let b_worse = deltas.iter().filter(|d| d.worse_by > 0.0).count();
            let b_better = deltas.iter().filter(|d| d.worse_by < 0.0).count();
            deltas.sort_by(|x, y| {
                y.worse_by
                    .total_cmp(&x.worse_by)
                    .then((x.episode_index, x.step).cmp(&(y.episode_index, y.step)))
            });
            let most_worse = deltas
                .iter()
                .filter(|d| d.worse_by > 0.0)
                .take(LISTED)
                .cloned()
                .collect();
            let most_better = deltas
                .iter()
                .rev()
                .filter(|d| d.worse_by < 0.0)
                .take(LISTED)
                .cloned()
                .collect();
            MetricComparison {
                metric: name,
                steps: n,
                mean_a,
                mean_b,
                b_worse,
                b_better,
                most_worse,
                most_better,
            }
        })
        .collect();
    Comparison {
        a: a.0.clone(),
        b: b.0.clone(),
        shared_steps: pairs.len(),
        only_in_a: a.1.len() - pairs.len(),
        only_in_b: b.1.len() - pairs.len(),
        metrics,
    }
}
