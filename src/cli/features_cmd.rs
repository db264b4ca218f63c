//! `spatialscope features PATH [--model DIR] [--episode N] [--step S] [--layer NAME]
//! [--fit frame|episode] [--every K] [--depth-source estimated|sensor] --out DIR`: what the
//! network's image patches hold at every layer, for one step.
//!
//! Writes into `--out` (never inside a dataset or the checkpoint): `features.safetensors`
//! (one `patches x width` float32 tensor per layer, named `siglip`, `embeddings`,
//! `layer_0` ..., and `patch_xyz`, the patches' Ego3D positions), and per chosen layer the
//! first three principal components as colours (`pipeline::probe::pca`):
//! `pca_<layer>.png` (the patch grid at the model input size) and `pca_<layer>_overlay.png`
//! (blended over the camera frame); `pca.json` with each layer's explained variance. With
//! `--fit episode` the components are fitted on every K-th step of the episode, so the
//! colours of different steps compare. `--spa WEIGHTS` adds SPA's ViT features of the same
//! frame as the layer `spa` (its own 14 x 14 grid), for two encoders side by side.
//! `--projector FILE --features3d DUMP` adds Spatial Forcing's per-patch alignment
//! (`align_out.rs`; a folder of per-step dumps adds the mean cosine of every step).
//! `--save-frames` writes the model camera's frames (`frames/step_<S>.png`, every K-th
//! step) for `scripts/vggt_dump.py --frames`.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use candle_core::{Device, Tensor};

use crate::model::Predictor;
use crate::model::features::LayerFeatures;
use crate::model::spa::SpaVit;
use crate::pipeline::model_camera;
use crate::pipeline::probe::frame_features;
use crate::pipeline::probe::pca::Pca;
use crate::pipeline::probe::ridge::Matrix;

#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Dataset file or folder.
    pub path: PathBuf,
    /// Checkpoint folder (default: the bundled tiny checkpoint).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub run_on: super::predict_cmd::RunOn,
    /// Episode index in the listing (across datasets).
    #[arg(long, default_value_t = 0)]
    pub episode: usize,
    #[arg(long, default_value_t = 0)]
    pub step: usize,
    /// One layer (`siglip`, `embeddings`, `layer_3`, ...); default: every layer.
    #[arg(long)]
    pub layer: Option<String>,
    /// Fit the components on this step alone (`frame`) or on every K-th step of the
    /// episode (`episode`: colours stable across steps).
    #[arg(long, default_value = "frame")]
    pub fit: String,
    #[arg(long, default_value_t = 5)]
    pub every: usize,
    /// Which depth Ego3D lifts: estimated (ZoeDepth, the reference) or sensor.
    #[arg(long, default_value = "estimated")]
    pub depth_source: String,
    /// SPA ViT weights (`.safetensors` in SPA's names): its patch features of the same
    /// frame are added as the layer `spa`, beside SpatialVLA's.
    #[arg(long)]
    pub spa: Option<PathBuf>,
    /// Spatial Forcing's trained `AlignProjector` (`.pt`/`.pth` state dict or
    /// safetensors); with `--features3d`, the per-patch alignment of `--align-layer`.
    #[arg(long, requires = "features3d")]
    pub projector: Option<PathBuf>,
    /// The frame's 3-D foundation-model tokens (`scripts/vggt_dump.py`): one dump file, or
    /// a folder of per-step dumps `step_<S>.safetensors` (then also the mean cosine of
    /// every step that has one).
    #[arg(long, requires = "projector")]
    pub features3d: Option<PathBuf>,
    /// Also write the model camera's frame of every K-th step (`--every`) as
    /// `frames/step_<S>.png`, the input `scripts/vggt_dump.py --frames` turns into dumps.
    #[arg(long)]
    pub save_frames: bool,
    /// Which layer the projector reads (default: the last decoder layer).
    #[arg(long)]
    pub align_layer: Option<String>,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
}

fn safe_name(layer: &str) -> String {
    layer.replace(' ', "_")
}

fn matrix(lf: &LayerFeatures, i: usize) -> Matrix {
    let w = lf.widths[i];
    Matrix::new(
        lf.features[i].len() / w.max(1),
        w,
        lf.features[i].iter().map(|v| f64::from(*v)).collect(),
    )
}

pub fn run(a: &FeaturesArgs) -> anyhow::Result<String> {
    let depth_choice = super::feature_common::depth_choice(&a.depth_source)?;
    let per_episode = match a.fit.as_str() {
        "frame" => false,
        "episode" => true,
        other => bail!("--fit {other:?}: `frame` or `episode`"),
    };
    if a.every == 0 {
        bail!("--every must be at least 1");
    }
    let model_dir = a
        .model
        .clone()
        .unwrap_or_else(crate::util::assets::default_model_path);
    let ep = super::open_step(&a.path, &a.out, a.episode, a.step, 256 << 20)?;
    super::feature_common::ensure_outside_checkpoint(&a.out, &model_dir)?;
    let (device, dtype) = a.run_on.open()?;
    let predictor = Predictor::load(&model_dir, &device, dtype)
        .with_context(|| format!("cannot load the checkpoint {}", model_dir.display()))?;
    let settings = super::feature_common::features_settings(&predictor, &ep, depth_choice)?;
    let spa = a
        .spa
        .as_ref()
        .map(|p| {
            SpaVit::load(p, &Device::Cpu)
                .with_context(|| format!("cannot load SPA weights from {}", p.display()))
        })
        .transpose()?;
    let cam = model_camera(&ep).context("no camera image")?;
    let features_at = |step: usize| frame_features(&predictor, spa.as_ref(), &ep, step, &settings);
    let lf = features_at(a.step)?;
    let chosen: Vec<usize> = match &a.layer {
        None => (0..lf.names.len()).collect(),
        Some(l) => vec![
            lf.names
                .iter()
                .position(|n| safe_name(n) == *l || n == l)
                .with_context(|| {
                    let names: Vec<String> = lf.names.iter().map(|n| safe_name(n)).collect();
                    format!("no layer `{l}` (this checkpoint has: {})", names.join(", "))
                })?,
        ],
    };
    // The episode's frames for an episode-wide fit (this step's features first).
    let fit_frames: Vec<LayerFeatures> = if per_episode {
        (0..ep.num_steps())
            .step_by(a.every)
            .filter(|s| *s != a.step)
            .map(features_at)
            .collect::<anyhow::Result<_>>()?
    } else {
        Vec::new()
    };
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut tensors = HashMap::new();
    for (i, name) in lf.names.iter().enumerate() {
        let rows = lf.features[i].len() / lf.widths[i].max(1);
        tensors.insert(
            safe_name(name),
            Tensor::from_vec(lf.features[i].clone(), (rows, lf.widths[i]), &Device::Cpu)?,
        );
    }
    if !lf.patch_xyz.is_empty() {
        let xyz: Vec<f32> = lf.patch_xyz.iter().flatten().copied().collect();
        tensors.insert(
            "patch_xyz".into(),
            Tensor::from_vec(xyz, (lf.patch_xyz.len(), 3), &Device::Cpu)?,
        );
    }
    candle_core::safetensors::save(&tensors, a.out.join("features.safetensors"))
        .with_context(|| format!("cannot write into {}", a.out.display()))?;
    if a.save_frames {
        let dir = a.out.join("frames");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for s in (0..ep.num_steps()).step_by(a.every) {
            let f = ep.rgb(s, cam)?;
            image::RgbImage::from_raw(f.width_px, f.height_px, f.pixels.clone())
                .context("a frame of the wrong size")?
                .save(dir.join(format!("step_{s}.png")))
                .with_context(|| format!("cannot write into {}", dir.display()))?;
        }
    }
    let frame = ep.rgb(a.step, cam)?;
    let size = predictor.model.config().vision.image_size as u32;
    let mut report = format!("{} step {} ({}):\n", ep.name, a.step, predictor.label);
    let mut summary = Vec::new();
    for &i in &chosen {
        let x = matrix(&lf, i);
        let side = (x.rows as f64).sqrt().round() as usize;
        anyhow::ensure!(
            side * side == x.rows,
            "{} patches are not a square grid",
            x.rows
        );
        let fit_x = if per_episode {
            let mut data = x.data.clone();
            for f in &fit_frames {
                data.extend(matrix(f, i).data);
            }
            Matrix::new(data.len() / x.cols, x.cols, data)
        } else {
            x.clone()
        };
        let pca = Pca::fit(&fit_x, 3).context("too few patches for PCA")?;
        let rgb = pca.rgb(&x);
        let name = safe_name(&lf.names[i]);
        let grid = image::RgbImage::from_fn(size, size, |u, v| {
            let (pu, pv) = (
                u as usize * side / size as usize,
                v as usize * side / size as usize,
            );
            image::Rgb(rgb[pv * side + pu])
        });
        grid.save(a.out.join(format!("pca_{name}.png")))
            .with_context(|| format!("cannot write into {}", a.out.display()))?;
        let (w, h) = (frame.width_px, frame.height_px);
        let overlay = image::RgbImage::from_fn(w, h, |u, v| {
            let (pu, pv) = (
                u as usize * side / w as usize,
                v as usize * side / h as usize,
            );
            let c = rgb[pv * side + pu];
            let o = (v as usize * w as usize + u as usize) * 3;
            let f = &frame.pixels[o..o + 3];
            image::Rgb([0, 1, 2].map(|k| ((u16::from(f[k]) + u16::from(c[k])) / 2) as u8))
        });
        overlay
            .save(a.out.join(format!("pca_{name}_overlay.png")))
            .with_context(|| format!("cannot write into {}", a.out.display()))?;
        let explained: Vec<f64> = pca
            .variance
            .iter()
            .map(|v| v / pca.total_variance.max(1e-300))
            .collect();
        report.push_str(&format!(
            "  {:<12} width {:>5}: PC1-3 explain {}\n",
            lf.names[i],
            x.cols,
            explained
                .iter()
                .map(|e| format!("{:.1} %", 100.0 * e))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        summary.push(serde_json::json!({
            "layer": lf.names[i],
            "width": x.cols,
            "explained_variance_ratio": explained,
            "fit_rows": fit_x.rows,
            "score_ranges_p01_p99": pca.ranges,
        }));
    }
    if let (Some(proj), Some(dumps)) = (&a.projector, &a.features3d) {
        report.push_str(&super::align_out::write_alignment(
            &a.out,
            &super::align_out::AlignInputs {
                lf: &lf,
                step: a.step,
                layer: a.align_layer.as_deref(),
                frame: &frame,
                projector: proj,
                dumps,
            },
            &features_at,
        )?);
    }
    let json = serde_json::json!({
        "episode": ep.name,
        "step": a.step,
        "camera": ep.cameras[cam].name,
        "checkpoint": predictor.label,
        "fit": a.fit,
        "layers": summary,
    });
    std::fs::write(
        a.out.join("pca.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", a.out.display()))?;
    report.push_str(&format!("wrote {}\n", a.out.display()));
    Ok(report)
}
