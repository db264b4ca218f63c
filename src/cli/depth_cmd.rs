//! `spatialscope depth --model DIR PATH [--episode N] [--step S] --out DIR`: what ZoeDepth
//! estimates for the model camera of one step, at the model input size where SpatialVLA uses
//! it, and how that compares with the episode's sensor depth when it has one.
//!
//! Writes into `--out` (never inside a dataset): `estimated_depth_mm.png` (16-bit, mm, 0 =
//! invalid), `estimated_depth_preview.png` (turbo), and with sensor depth
//! `sensor_depth_mm.png`, `sensor_depth_preview.png`, `difference_preview.png` (estimated -
//! sensor, blue = too near, red = too far) and `depth_stats.json` in every case (the chosen
//! ZoeDepth domain, and the error statistics or `null`). The sensor depth is resampled to the
//! model size as SpatialVLA's Ego3D input would be (nearest sample).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::geometry::depth_compare::{compare, signed_difference};
use crate::model::Predictor;
use crate::model::preprocess::depth_to_model_size;

#[derive(Debug, clap::Args)]
pub struct DepthArgs {
    /// Checkpoint folder (default: the bundled tiny checkpoint).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Dataset file or folder.
    pub path: PathBuf,
    /// Episode index in the listing (across datasets).
    #[arg(long, default_value_t = 0)]
    pub episode: usize,
    #[arg(long, default_value_t = 0)]
    pub step: usize,
    /// Output folder (created; never inside a dataset).
    #[arg(long)]
    pub out: PathBuf,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Compare the camera's raw depth with depth experts instead (repeatable): each expert
    /// aligned to the raw depth by a robust scale and shift, its disagreement map and
    /// statistics (see `depth_expert_cmd.rs`).
    #[arg(long, value_enum)]
    pub expert: Vec<super::depth_expert_cmd::ExpertName>,
    /// Depth Anything V2 weights: an official `.pth`, a `.safetensors` file in the official
    /// names, or a folder holding one.
    #[arg(long)]
    pub expert_model: Option<PathBuf>,
    /// Depth Anything V2's input size (the official default 518; lower is faster).
    #[arg(long, default_value_t = 518)]
    pub expert_input_size: usize,
    /// Read the Depth Anything V2 checkpoint as metric with this maximum depth (metres;
    /// inferred from the metadata or the released metric file names otherwise).
    #[arg(long)]
    pub max_depth: Option<f64>,
    /// Depth Anything V2's attention heads, for a checkpoint of non-released widths whose
    /// file does not say (default: the safetensors metadata, else 64-wide heads).
    #[arg(long)]
    pub num_heads: Option<usize>,
    /// Camera name (default: the model camera).
    #[arg(long)]
    pub camera: Option<String>,
    /// Relative disagreement that counts as "disagrees" (0.1 = 10 %).
    #[arg(long, default_value_t = 0.1)]
    pub threshold: f64,
}

pub(super) fn write_mm_png(path: &Path, depth_m: &[f32], (w, h): (u32, u32)) -> anyhow::Result<()> {
    let mm: Vec<u16> = depth_m
        .iter()
        .map(|d| {
            if d.is_finite() && *d > 0.0 {
                (d * 1000.0).round().clamp(1.0, 65535.0) as u16
            } else {
                0
            }
        })
        .collect();
    let img = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(w, h, mm)
        .context("depth image size")?;
    img.save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(super) fn write_rgba_png(path: &Path, rgba: Vec<u8>, (w, h): (u32, u32)) -> anyhow::Result<()> {
    let img = image::RgbaImage::from_raw(w, h, rgba).context("preview size")?;
    img.save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(a: &DepthArgs) -> anyhow::Result<String> {
    if !a.expert.is_empty() {
        return super::depth_expert_cmd::run(a);
    }
    let ep = super::open_step(&a.path, &a.out, a.episode, a.step, 64 << 20)?;
    let dir = a
        .model
        .clone()
        .unwrap_or_else(crate::util::assets::default_model_path);
    let device = super::predict_cmd::device_from_name(&a.device)?;
    let predictor = Predictor::load(&dir, &device, candle_core::DType::F32)
        .with_context(|| format!("cannot load the checkpoint {}", dir.display()))?;
    let cam = crate::pipeline::model_camera(&ep)
        .with_context(|| format!("{} has no camera image", ep.name))?;
    let camera = &ep.cameras[cam];
    let rgb = ep.rgb(a.step, cam)?;
    let est = crate::pipeline::depth_expert::zoe_estimate(&predictor, &rgb)?;
    let size = est.size;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let s = (size as u32, size as u32);
    write_mm_png(&a.out.join("estimated_depth_mm.png"), &est.depth_m, s)?;
    let sensor = ep.depth(a.step, cam)?.map(|d| {
        depth_to_model_size(&d.depth_m, d.width_px as usize, d.height_px as usize, size).0
    });
    // One colour range for both maps, so they can be compared by eye.
    let range = crate::render::colormap::robust_depth_range_m(
        &est.depth_m
            .iter()
            .chain(sensor.iter().flatten())
            .copied()
            .collect::<Vec<f32>>(),
    )
    .unwrap_or((0.0, 1.0));
    write_rgba_png(
        &a.out.join("estimated_depth_preview.png"),
        crate::render::colormap::depth_to_rgba(&est.depth_m, range.0, range.1),
        s,
    )?;
    let mut report = format!(
        "{} step {} camera {}: ZoeDepth ({} head) {:.0} ms, depth range {:.3}..{:.3} m\n",
        ep.name, a.step, camera.name, est.domain, est.ms, range.0, range.1
    );
    let stats = match &sensor {
        Some(sensor) => {
            write_mm_png(&a.out.join("sensor_depth_mm.png"), sensor, s)?;
            write_rgba_png(
                &a.out.join("sensor_depth_preview.png"),
                crate::render::colormap::depth_to_rgba(sensor, range.0, range.1),
                s,
            )?;
            let diff = signed_difference(&est.depth_m, sensor);
            let max_abs = diff
                .iter()
                .filter(|d| d.is_finite())
                .fold(0f32, |m, d| m.max(d.abs()));
            write_rgba_png(
                &a.out.join("difference_preview.png"),
                crate::render::colormap::difference_to_rgba(&diff, max_abs),
                s,
            )?;
            let st = compare(&est.depth_m, sensor);
            match &st {
                Some(st) => report.push_str(&format!(
                    "vs sensor depth ({} of {} px valid): abs-rel {:.3}, RMSE {:.3} m, within 5 % {:.1} %, delta<1.25 {:.1} %, median scale {:.3}\n",
                    st.valid_px, st.total_px, st.abs_rel, st.rmse_m, 100.0 * st.within_5pct, 100.0 * st.delta_1_25, st.median_scale
                )),
                None => report.push_str("sensor depth has no valid pixel to compare\n"),
            }
            st
        }
        None => {
            report.push_str("no sensor depth in this episode: nothing to compare\n");
            None
        }
    };
    let json = serde_json::json!({
        "episode": ep.name,
        "step": a.step,
        "camera": camera.name,
        "checkpoint": predictor.label,
        "size_px": size,
        "zoe_domain": est.domain,
        "zoe_domain_logits": est.domain_logits,
        "sensor_depth": sensor.is_some(),
        "stats": stats,
        "note": "both maps at the model input size; the sensor depth resampled as SpatialVLA's Ego3D input (nearest sample)",
    });
    std::fs::write(
        a.out.join("depth_stats.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", a.out.display()))?;
    report.push_str(&format!("wrote {}\n", a.out.display()));
    Ok(report)
}
