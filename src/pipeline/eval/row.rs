//! One evaluated step: what the model predicted, what the robot did, and the metrics between
//! them, built from a [`StepPrediction`] ([`EvalRow::from_prediction`]). The metrics are
//! recomputable from the stored chunks alone ([`EvalRow::recompute_metrics`]), which the
//! tests hold the store to.

use serde::{Deserialize, Serialize};

use crate::action_grid::compare::step_errors;
use crate::pipeline::predict::StepPrediction;

/// Actions per chunk (SpatialVLA predicts 4) and values per action.
pub const CHUNK: usize = 4;
pub const DIMS: usize = 7;
/// Action tokens per chunk (3 per action).
pub const TOKENS: usize = 3 * CHUNK;

/// A step is low-confidence when any of its action tokens had less than this probability.
pub const LOW_CONFIDENCE_PROBABILITY: f32 = 0.2;

/// One row of `steps.parquet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Dataset name as listed.
    pub dataset: String,
    /// Episode index within its dataset, and its name.
    pub episode_index: u32,
    pub episode: String,
    pub step: u32,
    pub instruction: String,
    /// The first [`TOKENS`] generated ids (fewer when generation stopped early).
    pub token_ids: Vec<i64>,
    pub token_probabilities: Vec<f32>,
    pub token_entropy_nats: Vec<f32>,
    /// The decoded chunk, [`CHUNK`] x [`DIMS`] row-major (NaN when it could not be decoded).
    pub predicted: Vec<f32>,
    /// The next [`CHUNK`] ground-truth actions, NaN past the episode's end.
    pub ground_truth: Vec<f32>,
    /// How many ground-truth actions exist (< CHUNK at the end of an episode).
    pub ground_truth_len: u8,
    /// Metrics of the first action and over the chunk (over the existing ground truth).
    pub first_translation_l2: f32,
    pub chunk_translation_l2: f32,
    /// NaN where either translation is too small for a direction.
    pub first_direction_deg: f32,
    pub first_rotation_l2: f32,
    /// Fraction of the chunk's steps whose gripper state agrees.
    pub gripper_agreement: f32,
    /// |predicted - truth| of the first action, per dimension.
    pub first_abs_error: Vec<f32>,
    /// The chunk could not be decoded as a well-formed action chunk.
    pub malformed: bool,
    /// Some action token had less than [`LOW_CONFIDENCE_PROBABILITY`].
    pub low_confidence: bool,
    pub unnorm_key: String,
    pub depth_source: String,
    pub intrinsics: String,
    /// Time for this step (frame decode, depth, model), milliseconds.
    pub time_ms: f32,
}

fn nan_chunk() -> Vec<f32> {
    vec![f32::NAN; CHUNK * DIMS]
}

fn flatten(rows: &[[f64; 7]]) -> Vec<f32> {
    let mut out = nan_chunk();
    for (r, a) in rows.iter().take(CHUNK).enumerate() {
        for d in 0..DIMS {
            out[r * DIMS + d] = a[d] as f32;
        }
    }
    out
}

/// Metrics computed from a stored chunk pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub first_translation_l2: f32,
    pub chunk_translation_l2: f32,
    pub first_direction_deg: f32,
    pub first_rotation_l2: f32,
    pub gripper_agreement: f32,
    pub first_abs_error: [f32; DIMS],
}

/// The metrics between a predicted and a ground-truth chunk (flattened, NaN-padded), over the
/// first `gt_len` actions; all NaN when nothing can be compared.
pub fn metrics(predicted: &[f32], ground_truth: &[f32], gt_len: usize) -> Metrics {
    let row = |v: &[f32], r: usize| -> Option<[f64; 7]> {
        let s = v.get(r * DIMS..(r + 1) * DIMS)?;
        let a: [f64; 7] = std::array::from_fn(|d| f64::from(s[d]));
        a.iter().all(|x| x.is_finite()).then_some(a)
    };
    let pairs: Vec<([f64; 7], [f64; 7])> = (0..gt_len.min(CHUNK))
        .filter_map(|r| Some((row(predicted, r)?, row(ground_truth, r)?)))
        .collect();
    let Some((p0, t0)) = pairs.first().copied() else {
        return Metrics {
            first_translation_l2: f32::NAN,
            chunk_translation_l2: f32::NAN,
            first_direction_deg: f32::NAN,
            first_rotation_l2: f32::NAN,
            gripper_agreement: f32::NAN,
            first_abs_error: [f32::NAN; DIMS],
        };
    };
    let errs: Vec<_> = pairs.iter().map(|(p, t)| step_errors(p, t)).collect();
    let n = errs.len() as f64;
    Metrics {
        first_translation_l2: errs[0].translation_l2 as f32,
        chunk_translation_l2: (errs.iter().map(|e| e.translation_l2).sum::<f64>() / n) as f32,
        first_direction_deg: errs[0].direction_deg.map_or(f32::NAN, |d| d as f32),
        first_rotation_l2: errs[0].rotation_l2 as f32,
        gripper_agreement: (errs.iter().filter(|e| e.gripper_agrees).count() as f64 / n) as f32,
        first_abs_error: std::array::from_fn(|d| (p0[d] - t0[d]).abs() as f32),
    }
}

impl EvalRow {
    /// The row for one prediction of episode `episode_index` of `dataset`.
    pub fn from_prediction(
        dataset: &str,
        episode_index: usize,
        sp: &StepPrediction,
        time_ms: f64,
    ) -> Self {
        let p = &sp.prediction;
        let tokens = &p.tokens[..p.tokens.len().min(TOKENS)];
        let predicted = p.chunk.actions.as_deref().map_or_else(nan_chunk, flatten);
        let ground_truth = flatten(&sp.ground_truth);
        let gt_len = sp.ground_truth.len().min(CHUNK);
        let m = metrics(&predicted, &ground_truth, gt_len);
        Self {
            dataset: dataset.to_owned(),
            episode_index: episode_index as u32,
            episode: sp.episode.clone(),
            step: sp.step as u32,
            instruction: p.instruction.clone(),
            token_ids: tokens.iter().map(|t| t.id).collect(),
            token_probabilities: tokens.iter().map(|t| t.probability).collect(),
            token_entropy_nats: tokens.iter().map(|t| t.entropy_nats).collect(),
            predicted,
            ground_truth,
            ground_truth_len: gt_len as u8,
            first_translation_l2: m.first_translation_l2,
            chunk_translation_l2: m.chunk_translation_l2,
            first_direction_deg: m.first_direction_deg,
            first_rotation_l2: m.first_rotation_l2,
            gripper_agreement: m.gripper_agreement,
            first_abs_error: m.first_abs_error.to_vec(),
            malformed: !p.issues.is_empty() || p.chunk.actions.is_none(),
            low_confidence: tokens
                .iter()
                .any(|t| t.probability < LOW_CONFIDENCE_PROBABILITY),
            unnorm_key: p.unnorm_key.clone(),
            depth_source: p.depth_source.clone(),
            intrinsics: serde_json::to_string(&p.intrinsics).unwrap_or_default(),
            time_ms: time_ms as f32,
        }
    }

    /// The metrics again, from the stored chunks only.
    pub fn recompute_metrics(&self) -> Metrics {
        metrics(
            &self.predicted,
            &self.ground_truth,
            usize::from(self.ground_truth_len),
        )
    }

    /// (dataset, episode, step): what makes a row unique in a store.
    pub fn key(&self) -> (String, u32, u32) {
        (self.dataset.clone(), self.episode_index, self.step)
    }
}
