//! The "Depth experts" panel (SpatialActor's question, per frame: was the raw depth wrong
//! here, and would a depth expert have known better?). Which Depth Anything V2 weights, which
//! camera and experts (Depth Anything V2, SpatialVLA's ZoeDepth), compare on this frame or on
//! every step; then the raw depth beside each aligned expert and its signed disagreement map
//! on one colour scale, the fitted scale and shift, the statistics, and what the 3-D view
//! lifts (scene, this camera's raw depth, an expert, or an expert over the raw depth).
//!
//! Pure view code: it reads the [`Session`] and its own settings and returns [`Intent`]s.

use std::sync::Arc;

use super::panel::Panel;
use super::session::Session;
use super::{Intent, theme};
use crate::scene::expert_view::{ExpertCloud, ExpertView};
use crate::worker::expert::ExpertRequest;

pub struct ExpertPanel {
    /// The Depth Anything V2 weights path being typed.
    pub weights: String,
    /// Chosen camera (by index); `None` = the first camera with depth, else the model camera.
    pub camera: Option<usize>,
    pub depth_anything: bool,
    pub zoedepth: bool,
    pub input_size: usize,
    /// Relative disagreement that counts, percent.
    pub threshold_pct: f64,
    /// Compare whenever the step changes.
    pub follow: bool,
    /// Textures of the shown view (held, compared by identity).
    textures: Option<(Arc<ExpertView>, Vec<Option<egui::TextureHandle>>)>,
}

impl Default for ExpertPanel {
    fn default() -> Self {
        Self {
            weights: crate::util::assets::default_depth_expert_path()
                .display()
                .to_string(),
            camera: None,
            depth_anything: true,
            zoedepth: true,
            input_size: 518,
            threshold_pct: 10.0,
            follow: false,
            textures: None,
        }
    }
}

impl Panel for ExpertPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        if session.episode.is_none() {
            ui.weak("no episode open");
            return Vec::new();
        }
        egui::ScrollArea::vertical()
            .id_salt("expert_panel_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| self.panel_ui(ui, session))
            .inner
    }
}

fn texture(ui: &egui::Ui, name: &str, rgba: &[u8], (w, h): (usize, usize)) -> egui::TextureHandle {
    ui.ctx().load_texture(
        name,
        egui::ColorImage::from_rgba_unmultiplied([w, h], rgba),
        egui::TextureOptions::NEAREST,
    )
}

impl ExpertPanel {
    fn chosen_camera(&self, session: &Session) -> Option<usize> {
        let ep = session.episode.as_ref()?;
        self.camera
            .filter(|c| *c < ep.cameras.len())
            .or_else(|| ep.cameras.iter().position(|c| c.has_depth))
            .or_else(|| ep.model_camera())
    }

    /// The chosen experts that can run now (weights loaded, ZoeDepth in the checkpoint).
    fn request(&self, session: &Session, camera: usize) -> ExpertRequest {
        let m = &session.model;
        ExpertRequest {
            camera,
            depth_anything: self.depth_anything && m.expert.is_some(),
            zoedepth: self.zoedepth && m.info.as_ref().is_some_and(|i| i.zoe_unavailable.is_none()),
            input_size: self.input_size,
            threshold: self.threshold_pct / 100.0,
        }
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui, session: &Session, out: &mut Vec<Intent>) {
        let m = &session.model;
        ui.horizontal(|ui| {
            ui.label("Depth Anything V2 weights");
            ui.add(
                egui::TextEdit::singleline(&mut self.weights)
                    .desired_width(ui.available_width() - 60.0),
            );
            if ui.button("Load").clicked() && !self.weights.trim().is_empty() {
                out.push(Intent::LoadExpert(self.weights.trim().into()));
            }
        });
        match (&m.expert_loading, &m.expert, &m.expert_error) {
            (Some(p), _, _) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("loading {}", p.display()));
                });
            }
            (None, Some((_, label)), _) => {
                ui.label(label);
                if label.contains("custom") {
                    ui.colored_label(theme::WARN_TEXT, "the bundled tiny random-weight checkpoint: a structure test, its depth is meaningless");
                }
            }
            (None, None, Some(e)) => {
                ui.colored_label(theme::ERROR_TEXT, &e.message);
            }
            (None, None, None) => {
                ui.weak("no weights loaded: a .safetensors file in the official names (`pretrained.*`, `depth_head.*`)");
            }
        }
        let Some(ep) = session.episode.as_ref() else {
            return;
        };
        let camera = self.chosen_camera(session);
        ui.horizontal_wrapped(|ui| {
            ui.label("camera");
            let name = |c: usize| {
                let cam = &ep.cameras[c];
                format!(
                    "{}{}",
                    cam.name,
                    if cam.has_depth { "" } else { " (no depth)" }
                )
            };
            egui::ComboBox::from_id_salt("expert_camera")
                .selected_text(camera.map(name).unwrap_or_default())
                .show_ui(ui, |ui| {
                    for c in 0..ep.cameras.len() {
                        if ui.selectable_label(camera == Some(c), name(c)).clicked() {
                            self.camera = Some(c);
                        }
                    }
                });
            ui.checkbox(&mut self.depth_anything, "Depth Anything V2");
            ui.checkbox(&mut self.zoedepth, "ZoeDepth (the checkpoint's)");
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("input");
            ui.add(
                egui::DragValue::new(&mut self.input_size)
                    .range(14..=1036)
                    .speed(14)
                    .suffix(" px"),
            );
            self.input_size = (self.input_size / 14).max(1) * 14;
            ui.label("disagrees beyond");
            ui.add(
                egui::DragValue::new(&mut self.threshold_pct)
                    .range(1.0..=100.0)
                    .suffix(" %"),
            );
        });
        let can = camera.is_some()
            && ((self.depth_anything && m.expert.is_some())
                || (self.zoedepth && m.info.as_ref().is_some_and(|i| i.zoe_unavailable.is_none())));
        ui.horizontal(|ui| {
            let step = session.timeline.step;
            if ui
                .add_enabled(can, egui::Button::new("Compare on this frame"))
                .on_disabled_hover_text("load Depth Anything V2 weights or a checkpoint with ZoeDepth, and choose an expert")
                .clicked()
                && let Some(c) = camera
            {
                out.push(Intent::CompareDepth(self.request(session, c)));
            }
            ui.checkbox(&mut self.follow, "on every step");
            if m.expert_pending.is_some() {
                ui.spinner();
            }
            // Follow the timeline: one comparison at a time, for a step without one.
            if self.follow
                && can
                && m.expert_pending.is_none()
                && !m.expert_views.contains_key(&step)
                && !m.expert_failures.contains_key(&step)
                && let Some(c) = camera
            {
                out.push(Intent::CompareDepth(self.request(session, c)));
            }
        });
    }

    fn panel_ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        let mut out = Vec::new();
        self.settings_ui(ui, session, &mut out);
        let step = session.timeline.step;
        if let Some(e) = session.model.expert_failures.get(&step) {
            ui.colored_label(theme::ERROR_TEXT, &e.message);
        }
        let Some(view) = session.model.expert_views.get(&step) else {
            ui.weak("no comparison for this step yet");
            return out;
        };
        ui.separator();
        self.view_ui(ui, session, view, &mut out);
        out
    }

    fn view_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        v: &Arc<ExpertView>,
        out: &mut Vec<Intent>,
    ) {
        if self.textures.as_ref().is_none_or(|t| !Arc::ptr_eq(&t.0, v)) {
            let size = (v.width_px, v.height_px);
            let mut made = vec![
                v.raw_rgba
                    .as_ref()
                    .map(|r| texture(ui, "expert_raw", r, size)),
            ];
            for (i, e) in v.experts.iter().enumerate() {
                made.push(Some(texture(
                    ui,
                    &format!("expert_{i}"),
                    &e.depth_rgba,
                    size,
                )));
                made.push(
                    e.difference_rgba
                        .as_ref()
                        .map(|d| texture(ui, &format!("expert_diff_{i}"), d, size)),
                );
            }
            self.textures = Some((v.clone(), made));
        }
        let Some((_, tex)) = self.textures.as_ref() else {
            return;
        };
        ui.strong(format!(
            "camera {}, step {} ({} x {} px)",
            v.camera_name, v.step, v.width_px, v.height_px
        ));
        let mut choice = session.expert_cloud;
        ui.horizontal_wrapped(|ui| {
            ui.label("3-D view:");
            ui.selectable_value(&mut choice, ExpertCloud::Off, "the step's scene");
            if v.raw_cloud.is_some() {
                ui.selectable_value(
                    &mut choice,
                    ExpertCloud::Raw,
                    format!("{} raw", v.camera_name),
                );
            }
            for (i, e) in v.experts.iter().enumerate() {
                if e.cloud.is_some() {
                    ui.selectable_value(&mut choice, ExpertCloud::Expert(i), e.name);
                }
                if e.overlay.is_some() {
                    ui.selectable_value(
                        &mut choice,
                        ExpertCloud::Both(i),
                        format!("{} (orange) over raw (blue)", e.name),
                    );
                }
            }
        });
        if choice != session.expert_cloud {
            out.push(Intent::SetExpertCloud(choice));
        }
        // Per expert one row: the raw depth, the aligned expert, their difference.
        let gap = ui.spacing().item_spacing.x;
        let side = ((ui.available_width() - 2.0 * gap) / 3.0).clamp(48.0, 200.0);
        let aspect = v.height_px as f32 / v.width_px.max(1) as f32;
        let image = |ui: &mut egui::Ui, t: Option<&egui::TextureHandle>, label: String| {
            ui.vertical(|ui| {
                ui.set_width(side);
                match t {
                    Some(t) => {
                        ui.add(egui::Image::new((t.id(), egui::vec2(side, side * aspect))));
                    }
                    None => {
                        ui.allocate_space(egui::vec2(side, side * aspect));
                    }
                }
                ui.add(egui::Label::new(egui::RichText::new(label).small()).truncate());
            });
        };
        ui.weak(format!(
            "colour range {:.2}..{:.2} m (turbo, near = blue) · difference: blue = the expert is nearer than the raw depth, red = farther, grey = raw missing",
            v.range_m.0, v.range_m.1
        ));
        for (i, e) in v.experts.iter().enumerate() {
            ui.label(egui::RichText::new(format!("{} · {:.0} ms", e.label, e.ms)).strong());
            match (&e.summary, &e.note) {
                (Some(s), _) => {
                    let a = &s.alignment;
                    ui.label(format!(
                        "aligned in {}: scale {:.4}, shift {:.4} ({} of {} px inliers, σ {:.3})",
                        match a.space {
                            crate::geometry::depth_align::AlignSpace::InverseDepth =>
                                "inverse depth",
                            crate::geometry::depth_align::AlignSpace::Depth => "depth",
                        },
                        a.scale,
                        a.shift,
                        a.inlier_px,
                        a.fitted_px,
                        a.residual_sigma
                    ));
                    if let Some(st) = &s.stats {
                        ui.label(format!(
                            "abs-rel {:.3} · RMSE {:.3} m · within 5 % {:.1} % · δ<1.25 {:.1} %",
                            st.abs_rel,
                            st.rmse_m,
                            100.0 * st.within_5pct,
                            100.0 * st.delta_1_25
                        ));
                    }
                    ui.label(format!(
                        "raw missing {:.1} % · disagreeing by > {:.0} % {:.1} % · raw depth in question {:.1} % of the frame",
                        100.0 * s.raw_missing_fraction,
                        100.0 * s.threshold,
                        100.0 * s.disagree_fraction,
                        100.0 * s.suspect_fraction
                    ));
                }
                (None, Some(n)) => {
                    ui.weak(n);
                }
                (None, None) => {}
            }
            ui.horizontal(|ui| {
                image(ui, tex[0].as_ref(), "raw depth".into());
                image(ui, tex[1 + 2 * i].as_ref(), format!("{} (aligned)", e.name));
                image(
                    ui,
                    tex[2 + 2 * i].as_ref(),
                    format!("{} - raw (±{:.2} m)", e.name, e.difference_max_m),
                );
            });
        }
    }
}
