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

pub mod align;
pub mod pca;
pub mod ridge;
pub mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use super::predict::{RunSettings, with_step_request};
use crate::episode::Episode;
use crate::model::Predictor;
use crate::model::align::FeatureDump;
use crate::model::features::LayerFeatures;
use crate::model::spa::SpaVit;
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
    /// Linear CKA between the layer and the 3-D foundation model's tokens pooled to the
    /// same patches (the frames with a feature dump, padding patches left out).
    pub cka_with_features3d: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeReport {
    pub checkpoint: String,
    pub random_weights: bool,
    /// (episode, step) of every frame used, in order; the last `test_frames` are held out.
    pub frames: Vec<(String, usize)>,
    pub test_frames: usize,
    pub patches_per_frame: usize,
    /// Frames that had a 3-D feature dump (the CKA with it uses these).
    pub features3d_frames: usize,
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

/// A frame's patch features by layer (`model::features`), with SPA's ViT features of the
/// model camera's image appended as the layer `spa` when `spa` is given.
pub fn frame_features(
    predictor: &Predictor,
    spa: Option<&SpaVit>,
    ep: &Episode,
    step: usize,
    settings: &RunSettings,
) -> anyhow::Result<LayerFeatures> {
    let mut lf = with_step_request(ep, step, settings, |r| predictor.layer_features(r))?
        .with_context(|| format!("{} step {step}", ep.name))?;
    if let Some(spa) = spa {
        let cam = ep.model_camera().context("no camera image")?;
        let rgb = ep.rgb(step, cam)?;
        let f = spa
            .features(&rgb.pixels, rgb.width_px as usize, rgb.height_px as usize)
            .with_context(|| format!("SPA on {} step {step}", ep.name))?;
        lf.names.push("spa".into());
        lf.widths.push(f.width);
        lf.features.push(f.patches);
    }
    Ok(lf)
}

/// The probe's data, gathered one frame at a time (the app adds a frame between other
/// work; the command line in a loop), then fitted by [`ProbeRun::finish`].
#[derive(Default)]
pub struct ProbeRun {
    names: Vec<String>,
    widths: Vec<usize>,
    /// Per layer: every frame's rows, float32 until each layer is fitted.
    features: Vec<Vec<f32>>,
    positions: Vec<f64>,
    used: Vec<(String, usize)>,
    patches: usize,
    /// Rows (global patch indices) that have 3-D tokens, and those tokens (f32).
    dump_rows: Vec<usize>,
    dump_tokens: Vec<f32>,
    dump_width: usize,
    dump_frames: usize,
}

impl ProbeRun {
    /// Adds one frame's features (and its 3-D feature dump, when there is one).
    pub fn add(
        &mut self,
        episode: &str,
        step: usize,
        lf: &LayerFeatures,
        dump: Option<&FeatureDump>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            !lf.patch_xyz.is_empty(),
            "{episode} step {step}: the patches have no 3-D positions (no Ego3D)"
        );
        if self.names.is_empty() {
            self.names = lf.names.clone();
            self.widths = lf.widths.clone();
            self.features = vec![Vec::new(); lf.names.len()];
            self.patches = lf.patch_xyz.len();
        }
        anyhow::ensure!(
            lf.patch_xyz.len() == self.patches && lf.names == self.names,
            "{episode} step {step}: another patch or layer count than the first frame"
        );
        let first_row = self.used.len() * self.patches;
        if let Some(d) = dump {
            let side = (self.patches as f64).sqrt().round() as usize;
            anyhow::ensure!(
                side * side == self.patches,
                "{} patches are not a square grid",
                self.patches
            );
            let (tokens, valid) = d.pooled(side)?;
            let width = tokens.dim(1)?;
            anyhow::ensure!(
                self.dump_frames == 0 || width == self.dump_width,
                "{episode} step {step}: the 3-D feature dump is {width} wide, earlier ones {}",
                self.dump_width
            );
            self.dump_width = width;
            let tokens: Vec<f32> = tokens.flatten_all()?.to_vec1()?;
            for (p, ok) in valid.iter().enumerate() {
                if *ok {
                    self.dump_rows.push(first_row + p);
                    self.dump_tokens
                        .extend_from_slice(&tokens[p * width..(p + 1) * width]);
                }
            }
            self.dump_frames += 1;
        }
        for (acc, f) in self.features.iter_mut().zip(&lf.features) {
            acc.extend_from_slice(f);
        }
        self.positions
            .extend(lf.patch_xyz.iter().flat_map(|p| p.map(f64::from)));
        self.used.push((episode.to_owned(), step));
        Ok(())
    }

    pub fn frames(&self) -> usize {
        self.used.len()
    }

    /// Fits every layer: ridge on the first 80 % of the frames, R^2 on the rest; CKA with
    /// the positions and, where dumps were given, with the 3-D tokens.
    pub fn finish(self, checkpoint: &str, random_weights: bool) -> anyhow::Result<ProbeReport> {
        let n_frames = self.used.len();
        anyhow::ensure!(
            n_frames >= 5,
            "the probe needs at least 5 frames, got {n_frames}"
        );
        let patches = self.patches;
        let test_frames = (n_frames / 5).max(1);
        let n = n_frames * patches;
        let train: Vec<usize> = (0..(n_frames - test_frames) * patches).collect();
        let test: Vec<usize> = ((n_frames - test_frames) * patches..n).collect();
        let y = Matrix::new(n, 3, self.positions);
        let dump = (self.dump_frames > 0).then(|| {
            Matrix::new(
                self.dump_rows.len(),
                self.dump_width,
                self.dump_tokens.iter().map(|v| f64::from(*v)).collect(),
            )
        });
        let dump_rows = self.dump_rows;
        let layers = self
            .names
            .into_iter()
            .zip(self.widths)
            .zip(self.features)
            .map(|((layer, width), f)| {
                let x = Matrix::new(n, width, f.into_iter().map(f64::from).collect());
                LayerProbe {
                    fit: ridge_probe(&x, &y, &train, &test),
                    cka_with_positions: linear_cka(&x, &y),
                    cka_with_features3d: dump
                        .as_ref()
                        .and_then(|d| linear_cka(&x.select(&dump_rows), d)),
                    layer,
                    width,
                }
            })
            .collect();
        Ok(ProbeReport {
            checkpoint: checkpoint.to_owned(),
            random_weights,
            frames: self.used,
            test_frames,
            patches_per_frame: patches,
            features3d_frames: self.dump_frames,
            layers,
        })
    }
}

/// Runs the probe over `frames` ((episode index, step) into `episodes`). `dumps`: a folder
/// of per-step 3-D feature dumps (`align::dumps_in`) for the CKA with them (one episode).
/// `progress(done, total)` after each frame; `cancel` stops between frames.
pub fn probe(
    predictor: &Predictor,
    episodes: &[Arc<Episode>],
    frames: &[(usize, usize)],
    settings: &RunSettings,
    dumps: Option<&std::path::Path>,
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
    let found = dumps.map(align::dumps_in).transpose()?.unwrap_or_default();
    let mut run = ProbeRun::default();
    for (done, &(e, step)) in frames.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            anyhow::bail!("cancelled after {done} of {} frames", frames.len());
        }
        let ep = &episodes[e];
        let lf = frame_features(predictor, None, ep, step, settings)?;
        let dump = found
            .iter()
            .find(|(s, _)| *s == Some(step))
            .map(|(_, p)| {
                FeatureDump::load(p, &candle_core::Device::Cpu)
                    .with_context(|| format!("cannot read the feature dump {}", p.display()))
            })
            .transpose()?;
        run.add(&ep.name, step, &lf, dump.as_ref())?;
        progress(done + 1, frames.len());
    }
    run.finish(&predictor.label, predictor.random_weights)
}
