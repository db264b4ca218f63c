//! The Spatial Forcing outputs of `spatialscope features --projector FILE --features3d DUMP`
//! (`pipeline::probe::align`): the chosen layer's image-token states projected, the dump's
//! 3-D tokens pooled to the same patch grid, and per patch their cosine similarity:
//! `alignment.json` (mean, median, a 20-bin histogram over [-1, 1], every patch's value),
//! `alignment_heatmap.png` (the patch grid at 224 px, turbo: blue = -1 .. red = 1, grey =
//! padding) and `alignment_overlay.png` (blended over the camera frame). When `DUMP` is a
//! folder of per-step dumps, also the mean cosine of every step that has one:
//! `alignment_per_step.json` and `alignment_per_step.png` (one bar per step).

use std::path::Path;

use anyhow::Context;
use candle_core::Device;

use crate::episode::RgbImage;
use crate::export::charts::BarChart;
use crate::model::align::{AlignProjector, FeatureDump};
use crate::model::features::LayerFeatures;
use crate::pipeline::probe::align::{
    FrameAlignment, align_frame, align_layer_index, dump_for_step, dumps_in,
};
use crate::render::colormap::cosine_rgb;

/// What the alignment of one step needs.
pub struct AlignInputs<'a> {
    pub lf: &'a LayerFeatures,
    pub step: usize,
    /// `None`: the last decoder layer.
    pub layer: Option<&'a str>,
    pub frame: &'a RgbImage,
    pub projector: &'a Path,
    /// One dump file or a folder of per-step dumps.
    pub dumps: &'a Path,
}

fn load_dump(p: &Path) -> anyhow::Result<FeatureDump> {
    FeatureDump::load(p, &Device::Cpu)
        .with_context(|| format!("cannot read the feature dump {}", p.display()))
}

/// Writes the alignment of the step (and, for a folder, the series over its steps) and
/// returns the report lines. `features_at(step)` gives another step's features.
pub fn write_alignment(
    out: &Path,
    a: &AlignInputs<'_>,
    features_at: &dyn Fn(usize) -> anyhow::Result<LayerFeatures>,
) -> anyhow::Result<String> {
    let proj = AlignProjector::load(a.projector, &Device::Cpu)
        .with_context(|| format!("cannot load the projector {}", a.projector.display()))?;
    let layer = align_layer_index(a.lf, a.layer)?;
    let dump_path = dump_for_step(a.dumps, a.step)?.with_context(|| {
        format!(
            "{} holds no dump for step {} (step_{}.safetensors)",
            a.dumps.display(),
            a.step,
            a.step
        )
    })?;
    let dump = load_dump(&dump_path)?;
    let fa = align_frame(a.lf, layer, &proj, &dump)?;
    write_frame(out, &fa, a.frame, a.projector, &dump_path)?;
    let s = fa.summary;
    let mut report = format!(
        "alignment of `{}` with the 3-D features: mean cosine {:.4}, median {:.4} over {} patches\n",
        fa.layer, s.mean, s.median, s.patches
    );
    let per_step: Vec<(usize, std::path::PathBuf)> = dumps_in(a.dumps)?
        .into_iter()
        .filter_map(|(s, p)| Some((s?, p)))
        .collect();
    if per_step.len() > 1 {
        let mut series = Vec::new();
        for (i, (step, path)) in per_step.iter().enumerate() {
            eprint!("\ralignment: {}/{} steps", i + 1, per_step.len());
            let lf = if *step == a.step {
                None
            } else {
                Some(features_at(*step)?)
            };
            let lf = lf.as_ref().unwrap_or(a.lf);
            let f = align_frame(lf, layer, &proj, &load_dump(path)?)
                .with_context(|| format!("step {step} ({})", path.display()))?;
            series.push((*step, f.summary.mean, f.summary.patches));
        }
        eprintln!();
        write_series(out, &fa.layer, &series)?;
        let mean = series.iter().map(|s| s.1).sum::<f64>() / series.len() as f64;
        report.push_str(&format!(
            "mean cosine over the {} steps with a dump: {mean:.4} (alignment_per_step.json)\n",
            series.len()
        ));
    }
    Ok(report)
}

fn write_frame(
    out: &Path,
    fa: &FrameAlignment,
    frame: &RgbImage,
    projector: &Path,
    dump: &Path,
) -> anyhow::Result<()> {
    let (side, cos) = (fa.side, &fa.cosine);
    let size = 224u32;
    let grid = image::RgbImage::from_fn(size, size, |u, v| {
        let (pu, pv) = (
            u as usize * side / size as usize,
            v as usize * side / size as usize,
        );
        image::Rgb(cosine_rgb(cos[pv * side + pu]))
    });
    grid.save(out.join("alignment_heatmap.png"))
        .with_context(|| format!("cannot write into {}", out.display()))?;
    let (fw, fh) = (frame.width_px, frame.height_px);
    let overlay = image::RgbImage::from_fn(fw, fh, |u, v| {
        let (pu, pv) = (
            u as usize * side / fw as usize,
            v as usize * side / fh as usize,
        );
        let c = cosine_rgb(cos[pv * side + pu]);
        let o = (v as usize * fw as usize + u as usize) * 3;
        let f = &frame.pixels[o..o + 3];
        image::Rgb([0, 1, 2].map(|k| ((u16::from(f[k]) + u16::from(c[k])) / 2) as u8))
    });
    overlay
        .save(out.join("alignment_overlay.png"))
        .with_context(|| format!("cannot write into {}", out.display()))?;
    let s = &fa.summary;
    let json = serde_json::json!({
        "layer": fa.layer,
        "projector": projector.display().to_string(),
        "features3d": dump.display().to_string(),
        "dump_grid": fa.dump_grid,
        "vla_grid": [side, side],
        "patches_compared": s.patches,
        "mean_cosine": s.mean,
        "median_cosine": s.median,
        "histogram_bins_over_minus1_to_1": s.histogram,
        "cosine_per_patch": cos.iter().map(|c| c.is_finite().then_some(*c)).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("alignment.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", out.display()))
}

fn write_series(out: &Path, layer: &str, series: &[(usize, f64, usize)]) -> anyhow::Result<()> {
    let json = serde_json::json!({
        "layer": layer,
        "steps": series.iter().map(|(s, m, n)| serde_json::json!({
            "step": s, "mean_cosine": m, "patches": n
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("alignment_per_step.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", out.display()))?;
    let chart = BarChart {
        title: format!("mean cosine of `{layer}` with the 3-D features, per step"),
        x_label: "step".to_owned(),
        bars: series.iter().map(|(s, m, _)| (*s as f64, *m)).collect(),
        bar_width: 0.8,
        bar_colour: [200, 110, 60],
        vlines: Vec::new(),
        hlines: Vec::new(),
    };
    chart
        .render(1280, 720)
        .save(out.join("alignment_per_step.png"))
        .with_context(|| format!("cannot write into {}", out.display()))
}
