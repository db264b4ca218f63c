//! One step through the model: which camera and depth a step gives the model, which unnorm
//! key applies, and how a prediction compares with the ground truth. Used by the model
//! worker (app), `spatialscope predict` and `spatialscope export`, so all run the model the
//! same way. No threads, no GUI, no render types: what the 3-D view makes of a prediction
//! (its depth clouds) is built by `scene::depth_view`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use crate::action_grid::compare::{StepErrors, step_errors};
use crate::episode::{Episode, RgbImage};
use crate::model::processor::{IntrinsicsPrecision, IntrinsicsSource};
use crate::model::{
    DepthChoice, DepthInput, GenerateOptions, PredictRequest, Prediction, Predictor,
};

/// The camera the model looks through: the first real (non-placeholder) camera, as the
/// reference pipelines feed the primary image.
pub fn model_camera(ep: &Episode) -> Option<usize> {
    ep.model_camera()
}

/// The statistics key: the user's choice if given, else the episode's dataset key when the
/// checkpoint has statistics for it.
pub fn choose_unnorm_key(
    predictor: &Predictor,
    ep: &Episode,
    requested: Option<&str>,
) -> anyhow::Result<String> {
    let keys = predictor.unnorm_keys();
    if let Some(k) = requested {
        anyhow::ensure!(
            keys.iter().any(|x| x == k),
            "unnorm key `{k}` is not in {} (it has: {})",
            predictor.dir.join("processor_config.json").display(),
            keys.join(", ")
        );
        return Ok(k.to_owned());
    }
    if let Some(k) = ep
        .dataset_key
        .as_deref()
        .filter(|k| keys.iter().any(|x| x == k))
    {
        return Ok(k.to_owned());
    }
    anyhow::bail!(
        "episode {} has no dataset key the checkpoint knows; choose one of: {}",
        ep.name,
        keys.join(", ")
    )
}

/// Which K the model gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IntrinsicsChoice {
    /// The checkpoint's entry for the unnorm key (reference behaviour).
    #[default]
    Processor,
    /// A named entry of the checkpoint's table.
    Entry(String),
    /// The model camera's own calibration from the episode.
    EpisodeCamera,
}

/// Settings of a run that are not per step.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub unnorm_key: String,
    pub intrinsics: IntrinsicsPrecision,
    pub intrinsics_choice: IntrinsicsChoice,
    /// Estimated (ZoeDepth, the reference) or the camera's sensor depth.
    pub depth_choice: DepthChoice,
    /// Estimate depth also when sensor depth is chosen, for the comparison view.
    pub compare_depth: bool,
    pub options: GenerateOptions,
}

/// A prediction at one step with its comparison to the ground truth.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepPrediction {
    pub episode: String,
    pub step: usize,
    pub camera: String,
    pub prediction: Prediction,
    /// The next `chunk` ground-truth actions (fewer at the end of the episode).
    pub ground_truth: Vec<[f64; 7]>,
    pub errors: Vec<StepErrors>,
    /// The model camera's index in the episode.
    #[serde(skip)]
    pub camera_index: usize,
}

/// What one step gives the model, owned (so several steps can be batched).
struct StepInput {
    camera_index: usize,
    rgb: Arc<RgbImage>,
    depth: Option<DepthInput>,
    intrinsics_source: IntrinsicsSource,
}

impl StepInput {
    fn read(ep: &Episode, step: usize, settings: &RunSettings) -> anyhow::Result<Self> {
        let cam =
            model_camera(ep).with_context(|| format!("episode {} has no camera image", ep.name))?;
        let camera = &ep.cameras[cam];
        let rgb = ep.rgb(step, cam)?;
        let depth = if camera.has_depth {
            ep.depth(step, cam)?.map(|d| DepthInput {
                depth_m: d.depth_m.clone(),
                width: d.width_px as usize,
                height: d.height_px as usize,
                source: format!("sensor depth of camera {}", camera.name),
            })
        } else {
            None
        };
        let intrinsics_source = match &settings.intrinsics_choice {
            IntrinsicsChoice::Processor => IntrinsicsSource::Processor,
            IntrinsicsChoice::Entry(name) => IntrinsicsSource::Entry(name.clone()),
            IntrinsicsChoice::EpisodeCamera => {
                let k = camera.intrinsics.with_context(|| {
                    format!(
                        "camera {} has no calibration to give the model",
                        camera.name
                    )
                })?;
                IntrinsicsSource::Explicit {
                    k: [
                        [k.fx_px, 0.0, k.cx_px],
                        [0.0, k.fy_px, k.cy_px],
                        [0.0, 0.0, 1.0],
                    ],
                    width: k.width_px,
                    height: k.height_px,
                    label: format!(
                        "camera {} ({})",
                        camera.name,
                        camera.intrinsics_source.label()
                    ),
                }
            }
        };
        Ok(StepInput {
            camera_index: cam,
            rgb,
            depth,
            intrinsics_source,
        })
    }

    fn request<'a>(&'a self, ep: &'a Episode, settings: &'a RunSettings) -> PredictRequest<'a> {
        PredictRequest {
            rgb: &self.rgb.pixels,
            width: self.rgb.width_px as usize,
            height: self.rgb.height_px as usize,
            instruction: &ep.instruction,
            depth: self.depth.clone(),
            depth_choice: settings.depth_choice,
            compare_depth: settings.compare_depth,
            unnorm_key: &settings.unnorm_key,
            intrinsics: settings.intrinsics,
            intrinsics_source: self.intrinsics_source.clone(),
            options: settings.options,
        }
    }
}

/// A prediction set beside the next ground-truth actions.
fn against_truth(ep: &Episode, step: usize, cam: usize, prediction: Prediction) -> StepPrediction {
    let chunk = prediction.chunk.actions.clone().unwrap_or_default();
    let ground_truth: Vec<[f64; 7]> = ep
        .actions
        .values
        .iter()
        .skip(step)
        .take(chunk.len())
        .map(|a| a.map(f64::from))
        .collect();
    let errors = chunk
        .iter()
        .zip(&ground_truth)
        .map(|(p, t)| step_errors(p, t))
        .collect();
    StepPrediction {
        episode: ep.name.clone(),
        step,
        camera: ep.cameras[cam].name.clone(),
        prediction,
        ground_truth,
        errors,
        camera_index: cam,
    }
}

/// Calls `f` with the model request for one step (the model camera's frame, its depth, the
/// chosen K), as [`predict_step`] builds it.
pub fn with_step_request<R>(
    ep: &Episode,
    step: usize,
    settings: &RunSettings,
    f: impl FnOnce(&PredictRequest<'_>) -> R,
) -> anyhow::Result<R> {
    let input = StepInput::read(ep, step, settings)?;
    Ok(f(&input.request(ep, settings)))
}

/// Runs the model on one step of an episode.
pub fn predict_step(
    predictor: &Predictor,
    ep: &Episode,
    step: usize,
    settings: &RunSettings,
    cancel: &AtomicBool,
) -> anyhow::Result<StepPrediction> {
    let input = StepInput::read(ep, step, settings)?;
    let prediction = predictor
        .predict(&input.request(ep, settings), cancel)
        .with_context(|| format!("{} step {step}", ep.name))?;
    Ok(against_truth(ep, step, input.camera_index, prediction))
}

/// Runs the model on several steps of one episode as one batch
/// ([`Predictor::predict_batch`]); results in the order of `steps`, each failing alone.
pub fn predict_steps(
    predictor: &Predictor,
    ep: &Episode,
    steps: &[usize],
    settings: &RunSettings,
    cancel: &AtomicBool,
) -> Vec<anyhow::Result<StepPrediction>> {
    let inputs: Vec<anyhow::Result<StepInput>> = steps
        .iter()
        .map(|&s| StepInput::read(ep, s, settings).with_context(|| format!("{} step {s}", ep.name)))
        .collect();
    let ready: Vec<(usize, &StepInput)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().ok().map(|x| (i, x)))
        .collect();
    let reqs: Vec<PredictRequest> = ready.iter().map(|(_, x)| x.request(ep, settings)).collect();
    let mut predictions = predictor.predict_batch(&reqs, cancel).into_iter();
    let mut out: Vec<anyhow::Result<StepPrediction>> = Vec::with_capacity(steps.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let step = steps[i];
        out.push(match input {
            Err(e) => Err(e),
            Ok(x) => match predictions.next() {
                Some(Ok(p)) => Ok(against_truth(ep, step, x.camera_index, p)),
                Some(Err(e)) => {
                    Err(anyhow::Error::new(e).context(format!("{} step {step}", ep.name)))
                }
                None => Err(anyhow::anyhow!("{} step {step}: no prediction", ep.name)),
            },
        });
    }
    out
}

/// Which attention to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AttentionSelection {
    /// `None`: mean over layers.
    pub layer: Option<usize>,
    /// `None`: mean over heads.
    pub head: Option<usize>,
}

/// Attention of generated token `token` over the image patches (row-major, `patches`
/// values): each selected (layer, head) row is renormalised over the image keys (spec 6.6:
/// most mass sits on `<bos>` and early text), then averaged. `None` when attention was not
/// recorded or the selection is out of range.
pub fn attention_over_image(
    p: &Prediction,
    token: usize,
    sel: AttentionSelection,
) -> Option<Vec<f32>> {
    let rows = p.image_attention.get(token)?;
    let (layers, heads) = (p.attention_layers, p.attention_heads);
    let patches = p.patches_per_side * p.patches_per_side;
    if layers * heads * patches != rows.len() {
        return None;
    }
    let layer_range = match sel.layer {
        Some(l) if l < layers => l..l + 1,
        Some(_) => return None,
        None => 0..layers,
    };
    let head_range = match sel.head {
        Some(h) if h < heads => h..h + 1,
        Some(_) => return None,
        None => 0..heads,
    };
    let mut out = vec![0f32; patches];
    let mut count = 0usize;
    for l in layer_range {
        for h in head_range.clone() {
            let row = &rows[(l * heads + h) * patches..(l * heads + h + 1) * patches];
            let total: f32 = row.iter().sum();
            if total > 0.0 {
                for (o, v) in out.iter_mut().zip(row) {
                    *o += v / total;
                }
                count += 1;
            }
        }
    }
    if count == 0 {
        return None;
    }
    out.iter_mut().for_each(|v| *v /= count as f32);
    Some(out)
}
