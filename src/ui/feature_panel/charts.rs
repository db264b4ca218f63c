//! The Features panel's pictures: the frame with a patch grid over it, the cosine
//! histogram, and the two runs over the episode (the per-layer probe, the mean cosine per
//! step) with their charts.

use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, VLine};

use super::FeaturePanel;
use crate::pipeline::probe::align::{CosineSummary, HISTOGRAM_BINS};
use crate::pipeline::probe::view::FeatureView;
use crate::ui::session::Session;
use crate::ui::{Intent, theme};

fn rgba_of(colours: impl Iterator<Item = [u8; 3]>) -> Vec<u8> {
    colours.flat_map(|[r, g, b]| [r, g, b, 255]).collect()
}

/// The frame, each pane's colour grid, and the cosine grid (when there is one).
pub fn textures(ui: &egui::Ui, v: &FeatureView) -> Vec<egui::TextureHandle> {
    let ctx = ui.ctx();
    let (w, h) = (v.frame.width_px as usize, v.frame.height_px as usize);
    let mut out = vec![ctx.load_texture(
        "feature_frame",
        egui::ColorImage::from_rgb([w, h], &v.frame.pixels),
        egui::TextureOptions::LINEAR,
    )];
    for (i, p) in v.panes.iter().enumerate() {
        out.push(ctx.load_texture(
            format!("feature_pane_{i}"),
            egui::ColorImage::from_rgba_unmultiplied(
                [p.side, p.side],
                &rgba_of(p.colours.iter().copied()),
            ),
            egui::TextureOptions::NEAREST,
        ));
    }
    if let Some(a) = &v.alignment {
        let cos = a
            .cosine
            .iter()
            .map(|c| crate::render::colormap::cosine_rgb(*c));
        out.push(ctx.load_texture(
            "feature_alignment",
            egui::ColorImage::from_rgba_unmultiplied([a.side, a.side], &rgba_of(cos)),
            egui::TextureOptions::NEAREST,
        ));
    }
    out
}

/// The frame at `size` with `overlay` stretched over it at `opacity` (the patch grid tiles
/// the whole frame: the model squashes the image to its square input).
pub fn overlaid(
    ui: &mut egui::Ui,
    frame: &egui::TextureHandle,
    overlay: &egui::TextureHandle,
    size: egui::Vec2,
    opacity: f32,
) {
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    let p = ui.painter();
    p.image(frame.id(), rect, uv, egui::Color32::WHITE);
    let a = (opacity.clamp(0.0, 1.0) * 255.0).round() as u8;
    p.image(overlay.id(), rect, uv, egui::Color32::from_white_alpha(a));
}

/// The cosine histogram over [-1, 1].
pub fn histogram(ui: &mut egui::Ui, s: &CosineSummary, width_pt: f32) {
    let width = 2.0 / HISTOGRAM_BINS as f64;
    let bars: Vec<Bar> = s
        .histogram
        .iter()
        .enumerate()
        .map(|(i, c)| Bar::new(-1.0 + (i as f64 + 0.5) * width, *c as f64).width(width))
        .collect();
    Plot::new("feature_cosine_histogram")
        .height(80.0)
        .width(width_pt)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_x(-1.0)
        .include_x(1.0)
        .show(ui, |p| p.bar_chart(BarChart::new("patches", bars)));
}

/// The probe and the alignment series: buttons, progress and charts.
pub fn runs_ui(
    ui: &mut egui::Ui,
    panel: &mut FeaturePanel,
    session: &Session,
    out: &mut Vec<Intent>,
) {
    let f = &session.features;
    let can = session.model.info.as_ref().is_some_and(|i| i.uses_depth);
    ui.horizontal_wrapped(|ui| {
        ui.strong("spatial probe");
        ui.add(
            egui::DragValue::new(&mut panel.probe_every)
                .range(1..=1000)
                .prefix("every "),
        );
        ui.add(
            egui::DragValue::new(&mut panel.probe_max_frames)
                .range(5..=2000)
                .prefix("at most ")
                .suffix(" frames"),
        );
        let dumps = (!panel.dumps.trim().is_empty()).then(|| panel.dumps.trim().into());
        if ui
            .add_enabled(can && f.run.is_none(), egui::Button::new("Probe this episode"))
            .on_hover_text("ridge read-out of each patch's Ego3D position from every layer, trained on the first 80 % of the frames, R^2 on the rest; CKA with the positions (and with the 3-D features when a dump folder is given)")
            .on_disabled_hover_text("needs a checkpoint that uses Ego3D, and no run in progress")
            .clicked()
        {
            out.push(Intent::RunFeatureProbe {
                every: panel.probe_every.max(1),
                max_frames: panel.probe_max_frames.max(5),
                dumps,
            });
        }
        if let Some((done, total)) = f.run {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(120.0)
                    .text(format!("{done}/{total}")),
            );
            if ui.button("Cancel").clicked() {
                out.push(Intent::CancelFeatureRun);
            }
        }
    });
    if let Some(e) = &f.run_error {
        ui.colored_label(theme::ERROR_TEXT, &e.message);
    }
    if let Some(r) = &f.probe {
        ui.label(format!(
            "{} frames ({} held out), {} patches each{}",
            r.frames.len(),
            r.test_frames,
            r.patches_per_frame,
            if r.features3d_frames > 0 {
                format!(", {} with 3-D features", r.features3d_frames)
            } else {
                String::new()
            }
        ));
        if r.random_weights {
            ui.colored_label(
                theme::WARN_TEXT,
                "random-weight checkpoint: these figures describe an untrained network",
            );
        }
        let bar = |x: usize, v: f64, w: f64| Bar::new(x as f64 + w, v).width(0.28);
        let r2: Vec<Bar> = r
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| bar(i, l.fit.as_ref().map_or(0.0, |f| f.r2), -0.3).name(&l.layer))
            .collect();
        let cka: Vec<Bar> = r
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| bar(i, l.cka_with_positions.unwrap_or(0.0), 0.0).name(&l.layer))
            .collect();
        let cka3d: Vec<Bar> = r
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some(bar(i, l.cka_with_features3d?, 0.3).name(&l.layer)))
            .collect();
        ui.weak("x: 0 = SigLIP, 1 = decoder input, 2.. = Gemma2 layers");
        Plot::new("feature_probe_chart")
            .height(160.0)
            .legend(Legend::default())
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.bar_chart(BarChart::new("held-out R^2 (position)", r2));
                p.bar_chart(BarChart::new("CKA with positions", cka));
                if !cka3d.is_empty() {
                    p.bar_chart(BarChart::new("CKA with 3-D features", cka3d));
                }
            });
    }
    if let Some(s) = &f.series {
        ui.label(format!(
            "mean cosine of projected `{}` per step ({} steps with a dump)",
            s.layer,
            s.steps.len()
        ));
        let points: PlotPoints = s
            .steps
            .iter()
            .map(|(step, c)| [*step as f64, c.mean])
            .collect();
        Plot::new("feature_align_series")
            .height(110.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .include_y(-1.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(Line::new("mean cosine", points));
                p.vline(VLine::new("step", session.timeline.step as f64));
            });
    }
}
