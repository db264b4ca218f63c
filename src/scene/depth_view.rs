//! What the 3-D view and the model panel show of the depth a prediction used: ZoeDepth's
//! estimate and the sensor depth at the model input size, their difference as images (RGBA,
//! egui-free), the error statistics, and both lifted with the K the model used, as clouds.
//! Built on the model worker right after a prediction, so the UI only uploads textures.

use std::sync::Arc;

use super::cloud::{DepthCloudColor, model_size_depth_points};
use crate::episode::Episode;
use crate::model::Prediction;
use crate::model::processor::IntrinsicsPrecision;
use crate::render::PointCloud;
use crate::render::colormap;

/// Colour of the estimated-depth cloud when overlaid on the sensor one.
pub const ESTIMATED_COLOR: [u8; 3] = crate::render::palette::ESTIMATED_DEPTH;
/// Colour of the sensor-depth cloud in the overlay.
pub const SENSOR_COLOR: [u8; 3] = crate::render::palette::SENSOR_DEPTH;

/// The depth the model could use at one step, at the model input size: ZoeDepth's estimate,
/// the sensor depth (when the camera has one) and how they differ, as images (RGBA, egui-free)
/// and as clouds lifted with the K the model used.
#[derive(Debug)]
pub struct DepthView {
    pub size: usize,
    /// The ZoeDepth head that made the estimate (`nyu` indoor, `kitti` outdoor).
    pub domain: String,
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

pub fn depth_view(
    ep: &Episode,
    step: usize,
    cam: usize,
    prediction: &Prediction,
) -> Option<DepthView> {
    let rgb = ep.rgb(step, cam).ok()?;
    let rgb = rgb.as_ref();
    use crate::geometry::depth_compare::{compare, signed_difference};
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
    let range_m = colormap::robust_depth_range_m(&all).unwrap_or((0.0, 1.0));
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
        domain: est.domain.clone(),
        stats: sensor_m.as_ref().and_then(|s| compare(&est.depth_m, s)),
        estimated_rgba: colormap::depth_to_rgba(&est.depth_m, range_m.0, range_m.1),
        sensor_rgba: sensor_m
            .as_ref()
            .map(|s| colormap::depth_to_rgba(s, range_m.0, range_m.1)),
        difference_rgba: diff
            .as_ref()
            .map(|d| colormap::difference_to_rgba(d, difference_max_m)),
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
