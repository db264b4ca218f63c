//! Several frames through the model at once: each request is prepared on its own (pixel
//! values, ZoeDepth, intrinsics, prompt ids), then requests whose prompts have one length
//! (one instruction, as the steps of an episode have) go through SigLIP, the projector, the
//! prefill and greedy generation as one batch. What a step gets is what
//! [`Predictor::predict`] gives it, within float rounding of a batched matrix product
//! (`tests/it/predict_batch.rs` checks ids and probabilities against batch 1).
//!
//! ZoeDepth runs per frame: its domain classifier picks a bin configuration per image, so a
//! batch would have to split there anyway, and its cost is per pixel, not per call.
//! Timings: `image_ms` and `generate_ms` of each prediction are its share (the batch's time
//! divided by its size, plus its own preparation).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::error::Result;
use super::predict::{PredictRequest, Prediction, Predictor, Prepared};

impl Predictor {
    /// Predictions for `reqs`, in order; a request that cannot be prepared (bad image,
    /// unknown key, no depth) fails alone. `options` of the first request apply to all
    /// (attention is never kept in a batch).
    pub fn predict_batch(
        &self,
        reqs: &[PredictRequest],
        cancel: &AtomicBool,
    ) -> Vec<Result<Prediction>> {
        let mut results: Vec<Option<Result<Prediction>>> = reqs.iter().map(|_| None).collect();
        // Prepared requests grouped by prompt length (request order kept within a group).
        let mut groups: BTreeMap<usize, Vec<(usize, Prepared)>> = BTreeMap::new();
        // Preparation (mostly ZoeDepth, many of whose kernels run on one core) goes frame
        // by frame across the cores.
        let prepared = self.prepare_across_cores(reqs);
        for (i, p) in prepared.into_iter().enumerate() {
            match p {
                Ok(p) => groups
                    .entry(p.input.prompt_ids.len())
                    .or_default()
                    .push((i, p)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let mut options = reqs.first().map(|r| r.options).unwrap_or_default();
        options.attention = false;
        for group in groups.into_values() {
            match self.run_group(group, options, cancel) {
                Ok(done) => {
                    for (i, r) in done {
                        results[i] = Some(r);
                    }
                }
                Err((indices, e)) => {
                    for i in indices {
                        results[i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(super::error::ModelError::Cancelled)))
            .collect()
    }

    /// [`Predictor::prepare`] of every request, in order, on up to one thread per core.
    fn prepare_across_cores(&self, reqs: &[PredictRequest]) -> Vec<Result<Prepared>> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = reqs.len().div_ceil(cores.max(1)).max(1);
        if per_thread == reqs.len() {
            return reqs.iter().map(|r| self.prepare(r)).collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = reqs
                .chunks(per_thread)
                .map(|part| {
                    let h = scope
                        .spawn(move || part.iter().map(|r| self.prepare(r)).collect::<Vec<_>>());
                    (part.len(), h)
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|(n, h)| {
                    h.join().unwrap_or_else(|_| {
                        let e = super::ModelError::Compute("preparing a frame panicked".into());
                        (0..n).map(|_| Err(e.clone())).collect()
                    })
                })
                .collect::<Vec<Result<Prepared>>>()
        })
    }

    /// One group of equal-length prompts through the network; on failure, every index of
    /// the group with the error.
    #[expect(
        clippy::type_complexity,
        reason = "a private helper's pair of outcomes, named where it is used"
    )]
    fn run_group(
        &self,
        group: Vec<(usize, Prepared)>,
        options: super::GenerateOptions,
        cancel: &AtomicBool,
    ) -> std::result::Result<Vec<(usize, Result<Prediction>)>, (Vec<usize>, super::ModelError)>
    {
        let indices: Vec<usize> = group.iter().map(|(i, _)| *i).collect();
        let fail = |e| (indices.clone(), e);
        let b = group.len() as f64;
        let t0 = Instant::now();
        let inputs: Vec<&super::FrameInput> = group.iter().map(|(_, p)| &p.input).collect();
        let features = self.model.image_features_batch(&inputs).map_err(fail)?;
        let image_ms = t0.elapsed().as_secs_f64() * 1e3 / b;
        let t1 = Instant::now();
        let prompts: Vec<Vec<u32>> = group
            .iter()
            .map(|(_, p)| p.input.prompt_ids.clone())
            .collect();
        let generations = self
            .model
            .generate_batch(&features, &prompts, options, cancel)
            .map_err(fail)?;
        let generate_ms = t1.elapsed().as_secs_f64() * 1e3 / b;
        Ok(group
            .into_iter()
            .zip(features)
            .zip(generations)
            .map(|(((i, p), f), g)| {
                let image_ms = image_ms + p.prepare_ms;
                (i, self.finish(p, f, g, image_ms, generate_ms))
            })
            .collect())
    }
}
