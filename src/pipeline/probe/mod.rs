//! Per-layer spatial probe: where in SpatialVLA the 3-D position of an image patch is
//! linearly readable. Over sampled steps of one or more episodes, every layer's image-patch
//! representations (SigLIP's output, the decoder's input embeddings, each Gemma2 layer;
//! `model::features`) are regressed (ridge, `ridge.rs`) onto each patch's 3-D position as the
//! model itself computes it (the mean of its Ego3D samples, camera frame), trained on the
//! first 80 % of the frames and scored on the rest (held-out R^2); linear CKA between each
//! layer and the positions says how much of the layer's geometry the positions explain.
//!
//! Needs nothing external. A checkpoint that does not use depth has no Ego3D positions and
//! is refused by name.

pub mod pca;
pub mod ridge;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use super::predict::{RunSettings, with_step_request};
use crate::episode::Episode;
use crate::model::Predictor;
use ridge::{Matrix, ProbeFit, linear_cka, ridge_probe};

/// One layer's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerProbe {
    pub layer: String,
    pub width: usize,
    /// `None` when the split was too small or the fit failed.
    pub fit: Option<ProbeFit>,
    /// Linear CKA between the layer and the patch positions (all frames).
    pub cka_with_positions: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeReport {
    pub checkpoint: String,
    pub random_weights: bool,
    /// (episode, step) of every frame used, in order; the last `test_frames` are held out.
    pub frames: Vec<(String, usize)>,
    pub test_frames: usize,
    pub patches_per_frame: usize,
    pub layers: Vec<LayerProbe>,
}

/// The frames to probe: every `every`-th step of each episode, at most `max_frames` in all,
/// spread evenly over the episodes' sampled steps.
pub fn frames(episodes: &[Arc<Episode>], every: usize, max_frames: usize) -> Vec<(usize, usize)> {
    let all: Vec<(usize, usize)> = episodes
        .iter()
        .enumerate()
        .flat_map(|(e, ep)| {
            (0..ep.num_steps())
                .step_by(every.max(1))
                .map(move |s| (e, s))
        })
        .collect();
    if all.len() <= max_frames || max_frames == 0 {
        return all;
    }
    (0..max_frames)
        .map(|i| all[i * all.len() / max_frames])
        .collect()
}

/// Runs the probe over `frames` ((episode index, step) into `episodes`). `progress(done,
/// total)` after each frame; `cancel` stops between frames.
pub fn probe(
    predictor: &Predictor,
    episodes: &[Arc<Episode>],
    frames: &[(usize, usize)],
    settings: &RunSettings,
    cancel: &AtomicBool,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<ProbeReport> {
    anyhow::ensure!(
        predictor.model.uses_depth(),
        "{}: the checkpoint does not use Ego3D (use_vision_zoe is false), so patches have no 3-D positions to probe for",
        predictor.label
    );
    anyhow::ensure!(
        frames.len() >= 5,
        "the probe needs at least 5 frames, got {}",
        frames.len()
    );
    let mut names = Vec::new();
    let mut widths = Vec::new();
    // Per layer: every frame's rows, float32 until each layer is fitted.
    let mut features: Vec<Vec<f32>> = Vec::new();
    let mut positions: Vec<f64> = Vec::new();
    let mut used = Vec::new();
    let mut patches = 0;
    for (done, &(e, step)) in frames.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            anyhow::bail!("cancelled after {done} of {} frames", frames.len());
        }
        let ep = &episodes[e];
        let lf = with_step_request(ep, step, settings, |req| predictor.layer_features(req))?
            .with_context(|| format!("{} step {step}", ep.name))?;
        if names.is_empty() {
            names = lf.names.clone();
            widths = lf.widths.clone();
            features = vec![Vec::new(); names.len()];
            patches = lf.patch_xyz.len();
        }
        anyhow::ensure!(
            lf.patch_xyz.len() == patches && lf.features.len() == names.len(),
            "{} step {step}: another patch or layer count than the first frame",
            ep.name
        );
        for (acc, f) in features.iter_mut().zip(&lf.features) {
            acc.extend_from_slice(f);
        }
        positions.extend(lf.patch_xyz.iter().flat_map(|p| p.map(f64::from)));
        used.push((ep.name.clone(), step));
        progress(done + 1, frames.len());
    }
    let n_frames = used.len();
    let test_frames = (n_frames / 5).max(1);
    let n = n_frames * patches;
    let train: Vec<usize> = (0..(n_frames - test_frames) * patches).collect();
    let test: Vec<usize> = ((n_frames - test_frames) * patches..n).collect();
    let y = Matrix::new(n, 3, positions);
    let layers = names
        .into_iter()
        .zip(widths)
        .zip(features)
        .map(|((layer, width), f)| {
            let x = Matrix::new(n, width, f.into_iter().map(f64::from).collect());
            LayerProbe {
                fit: ridge_probe(&x, &y, &train, &test),
                cka_with_positions: linear_cka(&x, &y),
                layer,
                width,
            }
        })
        .collect();
    Ok(ProbeReport {
        checkpoint: predictor.label.clone(),
        random_weights: predictor.random_weights,
        frames: used,
        test_frames,
        patches_per_frame: patches,
        layers,
    })
}
