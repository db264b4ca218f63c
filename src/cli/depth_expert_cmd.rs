//! `spatialscope depth PATH --expert depth-anything-v2 [--expert zoedepth] ...`: one camera
//! frame's raw depth against depth experts, each aligned to the raw depth by a robust
//! per-frame scale and shift (`geometry::depth_align`).
//!
//! Writes into `--out` (never inside a dataset), on the raw depth's pixel grid:
//! `raw_depth_mm.png` + `raw_depth_preview.png`; per expert `<expert>_depth_mm.png` (aligned
//! metres, 16-bit mm, 0 = none), `<expert>_depth_preview.png` (the raw depth's colour range),
//! `<expert>_difference_preview.png` (expert - raw: blue = the expert is nearer, red =
//! farther, grey = raw missing); and `expert_stats.json`: per expert its label, output kind,
//! time, the alignment (space, scale, shift, inliers, sigma) and the comparison (abs-rel,
//! RMSE, within 5 %, delta < 1.25, raw missing, disagreeing beyond `--threshold`, suspect).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::depth_cmd::{DepthArgs, write_mm_png, write_rgba_png};
use crate::model::Predictor;
use crate::model::depth_anything::{DepthAnythingV2, ExpertOutput};
use crate::pipeline::depth_expert::{
    ExpertComparison, compare_with_raw, run_depth_anything, run_zoedepth,
};
use crate::render::colormap::{depth_to_rgba, difference_to_rgba, robust_depth_range_m};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpertName {
    /// Depth Anything V2 (`--expert-model`).
    DepthAnythingV2,
    /// SpatialVLA's embedded ZoeDepth (`--model`, default the bundled checkpoint).
    Zoedepth,
}

fn load_depth_anything(
    a: &DepthArgs,
    device: &candle_core::Device,
) -> anyhow::Result<DepthAnythingV2> {
    let path: &PathBuf = a
        .expert_model
        .as_ref()
        .context("--expert depth-anything-v2 needs --expert-model (its .safetensors weights)")?;
    DepthAnythingV2::load_with(path, a.max_depth, a.num_heads, device)
        .with_context(|| format!("cannot load Depth Anything V2 from {}", path.display()))
}

fn write_expert(
    out: &Path,
    c: &ExpertComparison,
    range: (f32, f32),
    report: &mut String,
) -> anyhow::Result<()> {
    let r = &c.run;
    let grid = (r.width_px as u32, r.height_px as u32);
    if let Some(m) = &c.aligned_m {
        write_mm_png(&out.join(format!("{}_depth_mm.png", r.name)), m, grid)?;
        write_rgba_png(
            &out.join(format!("{}_depth_preview.png", r.name)),
            depth_to_rgba(m, range.0, range.1),
            grid,
        )?;
    } else {
        // Relative inverse depth with nothing to align to: its own range, near = bright end.
        let (lo, hi) = robust_depth_range_m(&r.values).unwrap_or((0.0, 1.0));
        let flipped: Vec<f32> = r.values.iter().map(|v| hi + lo - v).collect();
        write_rgba_png(
            &out.join(format!("{}_relative_preview.png", r.name)),
            depth_to_rgba(&flipped, lo, hi),
            grid,
        )?;
    }
    if let Some(d) = &c.difference_m {
        let max_abs = d
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs()));
        write_rgba_png(
            &out.join(format!("{}_difference_preview.png", r.name)),
            difference_to_rgba(d, max_abs),
            grid,
        )?;
    }
    report.push_str(&format!("{}: {:.0} ms\n", r.label, r.ms));
    match (&c.summary, &c.note) {
        (Some(s), _) => {
            let al = &s.alignment;
            report.push_str(&format!(
                "  aligned in {:?}: scale {:.6}, shift {:.6} ({} of {} px inliers)\n",
                al.space, al.scale, al.shift, al.inlier_px, al.fitted_px
            ));
            if let Some(st) = &s.stats {
                report.push_str(&format!(
                    "  vs raw: abs-rel {:.3}, RMSE {:.3} m, within 5 % {:.1} %; raw missing {:.1} %, disagreeing by > {:.0} % {:.1} %, suspect {:.1} %\n",
                    st.abs_rel,
                    st.rmse_m,
                    100.0 * st.within_5pct,
                    100.0 * s.raw_missing_fraction,
                    100.0 * s.threshold,
                    100.0 * s.disagree_fraction,
                    100.0 * s.suspect_fraction
                ));
            }
        }
        (None, Some(note)) => report.push_str(&format!("  {note}\n")),
        (None, None) => {}
    }
    Ok(())
}

pub fn run(a: &DepthArgs) -> anyhow::Result<String> {
    anyhow::ensure!(
        a.threshold.is_finite() && a.threshold > 0.0,
        "--threshold must be a positive fraction (0.1 = 10 %)"
    );
    let ep = super::open_step(&a.path, &a.out, a.episode, a.step, 64 << 20)?;
    let cam = match &a.camera {
        Some(name) => ep
            .cameras
            .iter()
            .position(|c| &c.name == name)
            .with_context(|| {
                let names: Vec<&str> = ep.cameras.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "{} has no camera `{name}` (it has: {})",
                    ep.name,
                    names.join(", ")
                )
            })?,
        None => crate::pipeline::model_camera(&ep)
            .with_context(|| format!("{} has no camera image", ep.name))?,
    };
    let camera = &ep.cameras[cam];
    let rgb = ep.rgb(a.step, cam)?;
    let raw = ep.depth(a.step, cam)?;
    let grid = match &raw {
        Some(d) => (d.width_px as usize, d.height_px as usize),
        None => (rgb.width_px as usize, rgb.height_px as usize),
    };
    let device = super::predict_cmd::device_from_name(&a.device)?;
    let mut experts = a.expert.clone();
    experts.dedup();
    let mut comparisons = Vec::new();
    for e in &experts {
        let run = match e {
            ExpertName::DepthAnythingV2 => {
                let model = load_depth_anything(a, &device)?;
                run_depth_anything(&model, &rgb, a.expert_input_size, grid)?
            }
            ExpertName::Zoedepth => {
                let dir = a
                    .model
                    .clone()
                    .unwrap_or_else(crate::util::assets::default_model_path);
                let predictor = Predictor::load(&dir, &device, candle_core::DType::F32)
                    .with_context(|| format!("cannot load the checkpoint {}", dir.display()))?;
                run_zoedepth(&predictor, &rgb, grid)?
            }
        };
        comparisons.push(compare_with_raw(run, raw.as_deref(), a.threshold));
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    // One colour range for the raw depth and every aligned expert (the raw depth's when
    // there is one), so the maps compare by eye.
    let range = crate::scene::expert_view::shared_range_m(
        raw.as_ref().map(|d| d.depth_m.as_slice()),
        &comparisons,
    );
    let mut report = format!(
        "{} step {} camera {} ({} x {} px)\n",
        ep.name, a.step, camera.name, grid.0, grid.1
    );
    let g32 = (grid.0 as u32, grid.1 as u32);
    match &raw {
        Some(d) => {
            write_mm_png(&a.out.join("raw_depth_mm.png"), &d.depth_m, g32)?;
            write_rgba_png(
                &a.out.join("raw_depth_preview.png"),
                depth_to_rgba(&d.depth_m, range.0, range.1),
                g32,
            )?;
        }
        None => report.push_str("no raw depth in this episode: the experts are shown alone\n"),
    }
    for c in &comparisons {
        write_expert(&a.out, c, range, &mut report)?;
    }
    let json = serde_json::json!({
        "episode": ep.name,
        "step": a.step,
        "camera": camera.name,
        "width_px": grid.0,
        "height_px": grid.1,
        "raw_depth": raw.is_some(),
        "threshold": a.threshold,
        "experts": comparisons.iter().map(|c| serde_json::json!({
            "name": c.run.name,
            "label": c.run.label,
            "output": c.run.output,
            "ms": c.run.ms,
            "aligned": c.summary.is_some(),
            "comparison": c.summary,
            "note": c.note,
        })).collect::<Vec<_>>(),
        "notes": {
            "alignment": "relative experts: 1/raw ~ scale * output + shift; metric experts: raw ~ scale * output + shift; robust (Theil-Sen start, 3-sigma MAD trimmed least squares) over pixels valid in both",
            "zoedepth": "SpatialVLA's ZoeDepth sees the frame squashed to the model input size; its map is resized bilinearly to the raw grid",
            "relative_output": ExpertOutput::RelativeInverseDepth,
        },
    });
    std::fs::write(
        a.out.join("expert_stats.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", a.out.display()))?;
    report.push_str(&format!("wrote {}\n", a.out.display()));
    Ok(report)
}
