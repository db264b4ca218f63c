//! The model panel's depth section: ZoeDepth's estimate and the sensor depth at the model
//! input on one colour scale, their signed difference, the error statistics, and which depth
//! the 3-D view lifts. Textures are made once per depth view (held, compared by identity).

use std::sync::Arc;

use super::DepthTextures;
use crate::scene::{CloudDepth, DepthView};

/// Estimated vs sensor depth at the model input: the two maps on one colour scale, their
/// signed difference and the error statistics; and which depth the 3-D view lifts.
pub(super) fn depth_ui(
    ui: &mut egui::Ui,
    view: Option<&Arc<DepthView>>,
    cloud: &mut CloudDepth,
    textures: &mut Option<DepthTextures>,
) {
    let Some(v) = view else {
        return;
    };
    ui.strong("Depth: estimated (ZoeDepth) vs sensor");
    if textures.as_ref().is_none_or(|t| !Arc::ptr_eq(&t.0, v)) {
        let size = [v.size, v.size];
        let mut made = vec![ui.ctx().load_texture(
            "depth_estimated",
            egui::ColorImage::from_rgba_unmultiplied(size, &v.estimated_rgba),
            egui::TextureOptions::NEAREST,
        )];
        for (name, rgba) in [
            ("depth_sensor", &v.sensor_rgba),
            ("depth_difference", &v.difference_rgba),
        ] {
            if let Some(rgba) = rgba {
                made.push(ui.ctx().load_texture(
                    name,
                    egui::ColorImage::from_rgba_unmultiplied(size, rgba),
                    egui::TextureOptions::NEAREST,
                ));
            }
        }
        *textures = Some((v.clone(), made));
    }
    let Some((_, tex)) = textures.as_ref() else {
        return;
    };
    // Three images side by side, as large as the panel allows (at most 150 points).
    let gap = ui.spacing().item_spacing.x;
    let side = ((ui.available_width() - 2.0 * gap) / 3.0).clamp(48.0, 150.0);
    ui.horizontal(|ui| {
        let labels = [
            format!("estimated ({} head)", v.domain),
            "sensor".to_owned(),
            format!("estimated - sensor (±{:.2} m)", v.difference_max_m),
        ];
        for (t, label) in tex.iter().zip(labels) {
            ui.vertical(|ui| {
                ui.add(egui::Image::new((t.id(), egui::vec2(side, side))));
                ui.small(label);
            });
        }
    });
    ui.weak(format!(
        "colour range {:.2}..{:.2} m (turbo, near = blue) · difference: blue = estimate too near, red = too far · {}",
        v.range_m.0, v.range_m.1, v.k_label
    ));
    match &v.stats {
        Some(s) => {
            ui.label(format!(
                "abs-rel {:.3} · RMSE {:.3} m · within 5 % {:.1} % · δ<1.25 {:.1} % · mean signed {:+.3} m · median scale {:.3} ({} of {} px)",
                s.abs_rel,
                s.rmse_m,
                100.0 * s.within_5pct,
                100.0 * s.delta_1_25,
                s.mean_signed_m,
                s.median_scale,
                s.valid_px,
                s.total_px
            ));
        }
        None => {
            ui.weak("no sensor depth for this camera: nothing to compare");
        }
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("3-D view:");
        if v.sensor_m.is_some() {
            ui.selectable_value(cloud, CloudDepth::Sensor, "sensor depth");
            ui.selectable_value(cloud, CloudDepth::Estimated, "estimated depth");
        } else {
            ui.weak("the estimated depth (the episode has no depth of its own)");
        }
        if v.overlay_cloud.is_some() {
            ui.selectable_value(
                cloud,
                CloudDepth::Overlay,
                "both (estimated orange, sensor blue)",
            );
        }
    });
}
