//! Glue between episodes and the model: which camera and depth a step gives the model,
//! which unnorm key applies, and how a prediction compares with the ground truth. Used by
//! the worker (app) and by `spatialscope predict`, so both run the model the same way.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use crate::action_grid::compare::{StepErrors, step_errors};
use crate::episode::Episode;
use crate::model::processor::{IntrinsicsPrecision, IntrinsicsSource};
use crate::model::{
    DepthChoice, DepthInput, GenerateOptions, PredictRequest, Prediction, Predictor,
};
use crate::render::PointCloud;

/// The camera the model looks through: the first real (non-placeholder) camera, as the
/// reference pipelines feed the primary image.
pub fn model_camera(ep: &Episode) -> Option<usize> {
    ep.cameras.iter().position(|c| !c.placeholder)
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
    /// Estimated vs sensor depth at the model input, with clouds for the 3-D view.
    #[serde(skip)]
    pub depth_view: Option<Arc<DepthView>>,
}

/// Colour of the estimated-depth cloud when overlaid on the sensor one.
pub const ESTIMATED_COLOR: [u8; 3] = [255, 150, 40];
/// Colour of the sensor-depth cloud in the overlay.
pub const SENSOR_COLOR: [u8; 3] = [60, 200, 255];

/// The depth the model could use at one step, at the model input size: ZoeDepth's estimate,
/// the sensor depth (when the camera has one) and how they differ, as images (RGBA, egui-free)
/// and as clouds lifted with the K the model used.
#[derive(Debug)]
pub struct DepthView {
    pub size: usize,
    pub estimated_m: Vec<f32>,
    pub sensor_m: Option<Vec<f32>>,
    pub stats: Option<crate::geometry::depth_compare::DepthErrorStats>,
    /// Shared colour range of the two previews, metres.
    pub range_m: (f32, f32),
    pub estimated_rgba: Vec<u8>,
    pub sensor_rgba: Option<Vec<u8>>,
    /// est - sensor, blue (too near) .. white .. red (too far), and the |max| it spans.
    pub difference_rgba: Option<Vec<u8>>,
    pub difference_max_m: f32,
    /// The estimated depth lifted, coloured by the RGB frame.
    pub estimated_cloud: Arc<PointCloud>,
    /// Both lifted with the same K, in [`ESTIMATED_COLOR`] and [`SENSOR_COLOR`].
    pub overlay_cloud: Option<Arc<PointCloud>>,
    /// Where the K came from (nominal entries are labelled by the processor).
    pub k_label: String,
}

fn depth_view(
    ep: &Episode,
    step: usize,
    cam: usize,
    rgb: &crate::episode::RgbImage,
    prediction: &Prediction,
) -> Option<DepthView> {
    use crate::geometry::depth_compare::{compare, signed_difference};
    use crate::scene::{DepthCloudColor, model_size_depth_points};
    let est = prediction.estimated_depth.as_ref()?;
    let size = est.size;
    let k = &prediction.intrinsics.k;
    let sensor_m = match ep.depth(step, cam) {
        Ok(Some(d)) => Some(
            crate::model::preprocess::depth_to_model_size(
                &d.depth_m,
                d.width_px as usize,
                d.height_px as usize,
                size,
            )
            .0,
        ),
        _ => None,
    };
    let all: Vec<f32> = est
        .depth_m
        .iter()
        .chain(sensor_m.iter().flatten())
        .copied()
        .collect();
    let range_m = crate::colormap::robust_depth_range_m(&all).unwrap_or((0.0, 1.0));
    let (est_pts, world) = model_size_depth_points(
        ep,
        step,
        cam,
        &est.depth_m,
        size,
        k,
        DepthCloudColor::Rgb(rgb),
    )?;
    let overlay_cloud = sensor_m.as_ref().and_then(|s| {
        let (mut a, world) = model_size_depth_points(
            ep,
            step,
            cam,
            &est.depth_m,
            size,
            k,
            DepthCloudColor::Solid(ESTIMATED_COLOR),
        )?;
        let (b, _) = model_size_depth_points(
            ep,
            step,
            cam,
            s,
            size,
            k,
            DepthCloudColor::Solid(SENSOR_COLOR),
        )?;
        a.extend(b);
        Some(Arc::new(PointCloud::new(a, world)))
    });
    let diff = sensor_m
        .as_ref()
        .map(|s| signed_difference(&est.depth_m, s));
    let difference_max_m = diff
        .iter()
        .flatten()
        .filter(|d| d.is_finite())
        .fold(0f32, |m, d| m.max(d.abs()));
    Some(DepthView {
        size,
        stats: sensor_m.as_ref().and_then(|s| compare(&est.depth_m, s)),
        estimated_rgba: crate::colormap::depth_to_rgba(&est.depth_m, range_m.0, range_m.1),
        sensor_rgba: sensor_m
            .as_ref()
            .map(|s| crate::colormap::depth_to_rgba(s, range_m.0, range_m.1)),
        difference_rgba: diff
            .as_ref()
            .map(|d| crate::colormap::difference_to_rgba(d, difference_max_m)),
        difference_max_m,
        estimated_cloud: Arc::new(PointCloud::new(est_pts, world)),
        overlay_cloud,
        k_label: format!(
            "K: {}{} ({})",
            prediction.intrinsics.entry,
            if prediction.intrinsics.entry.starts_with("camera ") {
                ""
            } else {
                ": nominal, the checkpoint's intrinsics table entry"
            },
            match prediction.intrinsics.precision {
                IntrinsicsPrecision::Float32 => "float32",
                IntrinsicsPrecision::Bfloat16 => "bfloat16",
            }
        ),
        estimated_m: est.depth_m.clone(),
        sensor_m,
        range_m,
    })
}

/// Runs the model on one step of an episode.
pub fn predict_step(
    predictor: &Predictor,
    ep: &Episode,
    step: usize,
    settings: &RunSettings,
    cancel: &AtomicBool,
) -> anyhow::Result<StepPrediction> {
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
    let req = PredictRequest {
        rgb: &rgb.pixels,
        width: rgb.width_px as usize,
        height: rgb.height_px as usize,
        instruction: &ep.instruction,
        depth,
        depth_choice: settings.depth_choice,
        compare_depth: settings.compare_depth,
        unnorm_key: &settings.unnorm_key,
        intrinsics: settings.intrinsics,
        intrinsics_source,
        options: settings.options,
    };
    let prediction = predictor
        .predict(&req, cancel)
        .with_context(|| format!("{} step {step}", ep.name))?;
    let depth_view = depth_view(ep, step, cam, &rgb, &prediction).map(Arc::new);
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
    Ok(StepPrediction {
        episode: ep.name.clone(),
        step,
        camera: camera.name.clone(),
        prediction,
        ground_truth,
        errors,
        depth_view,
    })
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
