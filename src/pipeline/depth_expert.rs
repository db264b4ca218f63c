//! One camera frame's raw depth against depth experts (SpatialActor's comparison): each
//! expert runs on the RGB frame, its output is brought to the raw depth's pixel grid,
//! aligned to the raw depth (`geometry::depth_align`) and compared with it.
//!
//! Experts:
//! - **Depth Anything V2** (`model::depth_anything`): the official `infer_image` at the
//!   image size, relative inverse depth (aligned in inverse depth) or metric.
//! - **ZoeDepth** as SpatialVLA embeds it: metric depth of the model input (the frame
//!   squashed to 224 x 224, as the model sees it), resized bilinearly to the raw grid and
//!   aligned in depth (so its scale and shift say how far its metres are off).

use crate::episode::{DepthImage, RgbImage};
use crate::geometry::depth_align::{AlignSpace, raw_vs_expert};
use crate::model::depth_anything::{DepthAnythingV2, ExpertOutput};
pub use crate::model::expert::{ExpertComparison, ExpertRun};
use crate::model::preprocess::pixel_values;
use crate::model::{EstimatedDepth, Predictor};

/// Bilinear resampling (half-pixel centres, edge clamped) of a row-major map.
pub fn resize_bilinear(
    src: &[f32],
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
) -> Vec<f32> {
    if (sw, sh) == (dw, dh) {
        return src.to_vec();
    }
    let axis = |s: usize, d: usize| -> Vec<(usize, usize, f32)> {
        (0..d)
            .map(|i| {
                let x = ((i as f64 + 0.5) * s as f64 / d as f64 - 0.5).clamp(0.0, (s - 1) as f64);
                let x0 = x.floor() as usize;
                (x0, (x0 + 1).min(s - 1), (x - x0 as f64) as f32)
            })
            .collect()
    };
    let (ax, ay) = (axis(sw, dw), axis(sh, dh));
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &ay {
        for &(x0, x1, fx) in &ax {
            let top = src[y0 * sw + x0] * (1.0 - fx) + src[y0 * sw + x1] * fx;
            let bottom = src[y1 * sw + x0] * (1.0 - fx) + src[y1 * sw + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Depth Anything V2 on `rgb`, on the grid `(width, height)` (the raw depth's, or the
/// image's when there is none).
pub fn run_depth_anything(
    model: &DepthAnythingV2,
    rgb: &RgbImage,
    input_size: usize,
    grid: (usize, usize),
) -> anyhow::Result<ExpertRun> {
    let (w, h) = (rgb.width_px as usize, rgb.height_px as usize);
    let p = model.infer(&rgb.pixels, w, h, input_size)?;
    Ok(ExpertRun {
        name: "depth-anything-v2",
        label: model.label(),
        output: p.output,
        values: resize_bilinear(&p.values, (w, h), grid),
        width_px: grid.0,
        height_px: grid.1,
        ms: p.ms,
    })
}

/// ZoeDepth's estimate of `rgb` as SpatialVLA would make it (the frame squashed to the model
/// input), or why the checkpoint cannot.
pub fn zoe_estimate(predictor: &Predictor, rgb: &RgbImage) -> anyhow::Result<EstimatedDepth> {
    if let Some(why) = &predictor.zoe_unavailable {
        anyhow::bail!("{}: {why}", predictor.dir.display());
    }
    let size = predictor.model.config().vision.image_size;
    let pixels = pixel_values(
        &rgb.pixels,
        rgb.width_px as usize,
        rgb.height_px as usize,
        size,
    );
    Ok(predictor.estimate_depth(&pixels, size)?)
}

/// SpatialVLA's ZoeDepth on `rgb` (the model input it would see), on the grid `(w, h)`.
pub fn run_zoedepth(
    predictor: &Predictor,
    rgb: &RgbImage,
    grid: (usize, usize),
) -> anyhow::Result<ExpertRun> {
    let est = zoe_estimate(predictor, rgb)?;
    let size = est.size;
    Ok(ExpertRun {
        name: "zoedepth",
        label: format!("ZoeDepth ({} head) of {}", est.domain, predictor.label),
        output: ExpertOutput::MetricDepth,
        values: resize_bilinear(&est.depth_m, (size, size), grid),
        width_px: grid.0,
        height_px: grid.1,
        ms: est.ms,
    })
}

/// Aligns `run` to `raw` (same grid) and compares; `threshold` is the relative
/// disagreement that counts (0.1 = 10 %).
pub fn compare_with_raw(
    run: ExpertRun,
    raw: Option<&DepthImage>,
    threshold: f64,
) -> ExpertComparison {
    let space = match run.output {
        ExpertOutput::RelativeInverseDepth => AlignSpace::InverseDepth,
        ExpertOutput::MetricDepth => AlignSpace::Depth,
    };
    let metric_as_is = || match run.output {
        ExpertOutput::MetricDepth => Some(run.values.clone()),
        ExpertOutput::RelativeInverseDepth => None,
    };
    let Some(raw) = raw else {
        return ExpertComparison {
            aligned_m: metric_as_is(),
            difference_m: None,
            summary: None,
            note: Some("no raw depth in this episode: nothing to align to".into()),
            run,
        };
    };
    match raw_vs_expert(&run.values, &raw.depth_m, space, threshold) {
        Some((aligned, diff, summary)) => ExpertComparison {
            aligned_m: Some(aligned),
            difference_m: Some(diff),
            summary: Some(summary),
            note: None,
            run,
        },
        None => ExpertComparison {
            aligned_m: metric_as_is(),
            difference_m: None,
            summary: None,
            note: Some(
                "fewer than 16 pixels valid in both, or a constant expert: no alignment".into(),
            ),
            run,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_keeps_constants_and_interpolates_halfway() {
        assert_eq!(resize_bilinear(&[2.0; 4], (2, 2), (5, 3)), vec![2.0; 15]);
        // 2 -> 4 columns: samples at -0.25, 0.25, 0.75, 1.25 (clamped at the edges).
        let r = resize_bilinear(&[0.0, 4.0], (2, 1), (4, 1));
        assert_eq!(r, vec![0.0, 1.0, 3.0, 4.0]);
    }
}
