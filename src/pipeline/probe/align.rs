//! Spatial Forcing's per-patch alignment for one frame, and where a frame's 3-D feature dump
//! lies: what `spatialscope features --projector --features3d`, the Features panel and the
//! per-step series over an episode share (`model::align` holds the projector, the dump
//! format and the pooling).
//!
//! A dump location is one file (used for whichever step is inspected: the user gave that
//! frame's dump) or a folder of one dump per step named `step_<S>.safetensors` (any zero
//! padding: `step_7`, `step_000007`), as `scripts/vggt_dump.py --frames` writes them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Tensor};

use crate::model::align::{AlignProjector, FeatureDump, cosine_rows};
use crate::model::features::LayerFeatures;

/// Bins of the cosine histogram over [-1, 1].
pub const HISTOGRAM_BINS: usize = 20;

/// The per-patch cosine similarity of one frame and its summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameAlignment {
    pub layer: String,
    /// The dump's patch grid (rows, columns) before pooling.
    pub dump_grid: [usize; 2],
    /// Patches per side of the VLA's grid (SpatialVLA: 16).
    pub side: usize,
    /// Per patch (raster order) the cosine, NaN for padding patches.
    pub cosine: Vec<f32>,
    pub summary: CosineSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CosineSummary {
    pub mean: f64,
    pub median: f64,
    /// Patches with a similarity (padding excluded).
    pub patches: usize,
    /// Counts over [-1, 1] in `HISTOGRAM_BINS` equal bins.
    pub histogram: [usize; HISTOGRAM_BINS],
}

impl CosineSummary {
    /// Summary of the finite values of `cosine`.
    pub fn of(cosine: &[f32]) -> Self {
        let mut finite: Vec<f32> = cosine.iter().copied().filter(|c| c.is_finite()).collect();
        finite.sort_by(f32::total_cmp);
        let mut histogram = [0usize; HISTOGRAM_BINS];
        for c in &finite {
            let bin = ((c.clamp(-1.0, 1.0) + 1.0) / 2.0 * HISTOGRAM_BINS as f32) as usize;
            histogram[bin.min(HISTOGRAM_BINS - 1)] += 1;
        }
        Self {
            mean: finite.iter().map(|c| f64::from(*c)).sum::<f64>() / finite.len().max(1) as f64,
            median: finite
                .get(finite.len() / 2)
                .map_or(f64::NAN, |c| f64::from(*c)),
            patches: finite.len(),
            histogram,
        }
    }
}

/// The index of `name` among `lf`'s layers (spaces or underscores), or the last decoder
/// layer when `name` is `None` (Spatial Forcing aligns a deep layer; the last is the
/// default here).
pub fn align_layer_index(lf: &LayerFeatures, name: Option<&str>) -> anyhow::Result<usize> {
    match name {
        Some(l) => lf
            .names
            .iter()
            .position(|n| n == l || n.replace(' ', "_") == l)
            .with_context(|| format!("no layer `{l}` to align")),
        None => lf
            .names
            .iter()
            .rposition(|n| n.starts_with("layer"))
            .context("no decoder layer to align"),
    }
}

/// Projects layer `layer` of `lf` and compares it patch by patch with `dump` pooled to the
/// same grid.
pub fn align_frame(
    lf: &LayerFeatures,
    layer: usize,
    projector: &AlignProjector,
    dump: &FeatureDump,
) -> anyhow::Result<FrameAlignment> {
    let w = lf.widths[layer];
    anyhow::ensure!(
        w == projector.vla_width,
        "layer `{}` is {w} wide but the projector takes {}",
        lf.names[layer],
        projector.vla_width
    );
    let n = lf.features[layer].len() / w.max(1);
    let side = (n as f64).sqrt().round() as usize;
    anyhow::ensure!(side * side == n, "{n} patches are not a square grid");
    let x = Tensor::from_vec(lf.features[layer].clone(), (n, w), &Device::Cpu)?;
    let projected = projector.forward(&x)?;
    let (target, valid) = dump.pooled(side)?;
    let cosine = cosine_rows(&projected, &target, &valid)?;
    Ok(FrameAlignment {
        layer: lf.names[layer].clone(),
        dump_grid: [dump.rows, dump.cols],
        side,
        summary: CosineSummary::of(&cosine),
        cosine,
    })
}

/// The step number in a dump file name `step_<digits>.safetensors`.
fn step_of(name: &str) -> Option<usize> {
    name.strip_prefix("step_")?
        .strip_suffix(".safetensors")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

/// Every step's dump in `location`, by step (a file: `[(None, file)]`).
pub fn dumps_in(location: &Path) -> anyhow::Result<Vec<(Option<usize>, PathBuf)>> {
    let meta = std::fs::metadata(location)
        .with_context(|| format!("cannot read {}", location.display()))?;
    if meta.is_file() {
        return Ok(vec![(None, location.to_path_buf())]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(location)
        .with_context(|| format!("cannot list {}", location.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", location.display()))?;
        let name = entry.file_name();
        // Only plain files (a link could point anywhere).
        if let (Some(step), Ok(t)) = (step_of(&name.to_string_lossy()), entry.file_type())
            && t.is_file()
        {
            found.push((Some(step), entry.path()));
        }
    }
    found.sort();
    found.dedup_by_key(|(s, _)| *s);
    Ok(found)
}

/// The dump for `step` in `location` (a file serves every step).
pub fn dump_for_step(location: &Path, step: usize) -> anyhow::Result<Option<PathBuf>> {
    Ok(dumps_in(location)?
        .into_iter()
        .find(|(s, _)| s.is_none_or(|s| s == step))
        .map(|(_, p)| p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_parse_with_any_padding_and_nothing_else() {
        assert_eq!(step_of("step_7.safetensors"), Some(7));
        assert_eq!(step_of("step_000012.safetensors"), Some(12));
        assert_eq!(step_of("step_.safetensors"), None);
        assert_eq!(step_of("step_1a.safetensors"), None);
        assert_eq!(step_of("frame_1.safetensors"), None);
        assert_eq!(step_of("step_3.pt"), None);
    }

    #[test]
    fn the_summary_ignores_padding_and_bins_the_extremes() {
        let s = CosineSummary::of(&[1.0, -1.0, 0.0, f32::NAN]);
        assert_eq!(s.patches, 3);
        assert!(s.mean.abs() < 1e-12);
        assert_eq!(s.median, 0.0);
        assert_eq!(s.histogram[0], 1);
        assert_eq!(s.histogram[HISTOGRAM_BINS - 1], 1);
        assert_eq!(s.histogram[HISTOGRAM_BINS / 2], 1);
    }
}
