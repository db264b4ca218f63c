//! The Spatial Forcing outputs of `spatialscope features --projector FILE --features3d DUMP`
//! (`model::align`): the chosen layer's image-token states projected, the dump's 3-D tokens
//! pooled to the same patch grid, and per patch their cosine similarity:
//! `alignment.json` (mean, median, a 20-bin histogram over [-1, 1], every patch's value),
//! `alignment_heatmap.png` (the patch grid at 224 px, turbo: blue = -1 .. red = 1, grey =
//! padding) and `alignment_overlay.png` (blended over the camera frame).

use std::path::Path;

use anyhow::Context;
use candle_core::{Device, Tensor};

use crate::episode::RgbImage;
use crate::model::align::{AlignProjector, FeatureDump, cosine_rows};
use crate::model::features::LayerFeatures;

fn heat(c: f32) -> [u8; 3] {
    if !c.is_finite() {
        return [90, 90, 90];
    }
    let rgba = crate::render::colormap::depth_to_rgba(&[c], -1.0, 1.0);
    [rgba[0], rgba[1], rgba[2]]
}

/// Writes the alignment of `layer` (index into `lf`) and returns a report line.
pub fn write_alignment(
    out: &Path,
    lf: &LayerFeatures,
    layer: usize,
    frame: &RgbImage,
    projector: &Path,
    dump: &Path,
) -> anyhow::Result<String> {
    let dev = Device::Cpu;
    let proj = AlignProjector::load(projector, &dev)
        .with_context(|| format!("cannot load the projector {}", projector.display()))?;
    let d = FeatureDump::load(dump, &dev)
        .with_context(|| format!("cannot read the feature dump {}", dump.display()))?;
    let w = lf.widths[layer];
    anyhow::ensure!(
        w == proj.vla_width,
        "layer `{}` is {w} wide but the projector takes {}",
        lf.names[layer],
        proj.vla_width
    );
    let n = lf.features[layer].len() / w.max(1);
    let side = (n as f64).sqrt().round() as usize;
    anyhow::ensure!(side * side == n, "{n} patches are not a square grid");
    let x = Tensor::from_vec(lf.features[layer].clone(), (n, w), &dev)?;
    let projected = proj.forward(&x)?;
    let (target, valid) = d.pooled(side)?;
    let cos = cosine_rows(&projected, &target, &valid)?;
    let mut finite: Vec<f32> = cos.iter().copied().filter(|c| c.is_finite()).collect();
    finite.sort_by(f32::total_cmp);
    let mean = finite.iter().map(|c| f64::from(*c)).sum::<f64>() / finite.len().max(1) as f64;
    let median = finite.get(finite.len() / 2).copied().unwrap_or(f32::NAN);
    let mut hist = [0usize; 20];
    for c in &finite {
        hist[(((c + 1.0) / 2.0 * 20.0) as usize).min(19)] += 1;
    }
    let size = 224u32;
    let grid = image::RgbImage::from_fn(size, size, |u, v| {
        let (pu, pv) = (
            u as usize * side / size as usize,
            v as usize * side / size as usize,
        );
        image::Rgb(heat(cos[pv * side + pu]))
    });
    grid.save(out.join("alignment_heatmap.png"))
        .with_context(|| format!("cannot write into {}", out.display()))?;
    let (fw, fh) = (frame.width_px, frame.height_px);
    let overlay = image::RgbImage::from_fn(fw, fh, |u, v| {
        let (pu, pv) = (
            u as usize * side / fw as usize,
            v as usize * side / fh as usize,
        );
        let c = heat(cos[pv * side + pu]);
        let o = (v as usize * fw as usize + u as usize) * 3;
        let f = &frame.pixels[o..o + 3];
        image::Rgb([0, 1, 2].map(|k| ((u16::from(f[k]) + u16::from(c[k])) / 2) as u8))
    });
    overlay
        .save(out.join("alignment_overlay.png"))
        .with_context(|| format!("cannot write into {}", out.display()))?;
    let json = serde_json::json!({
        "layer": lf.names[layer],
        "projector": projector.display().to_string(),
        "features3d": dump.display().to_string(),
        "dump_grid": [d.rows, d.cols],
        "vla_grid": [side, side],
        "patches_compared": finite.len(),
        "mean_cosine": mean,
        "median_cosine": median,
        "histogram_bins_over_minus1_to_1": hist,
        "cosine_per_patch": cos.iter().map(|c| if c.is_finite() { Some(*c) } else { None }).collect::<Vec<_>>(),
    });
    std::fs::write(
        out.join("alignment.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", out.display()))?;
    Ok(format!(
        "alignment of `{}` with the 3-D features: mean cosine {mean:.4}, median {median:.4} over {} patches\n",
        lf.names[layer],
        finite.len()
    ))
}
