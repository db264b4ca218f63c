//! The "Features" panel: what the network's patches know about 3-D. One or two encoders
//! (SpatialVLA's SigLIP output or any decoder layer, SPA's ViT) as feature maps (their
//! first three principal components as colours, fitted on this frame or once per episode
//! so colours hold while scrubbing) over the camera image side by side, with an opacity;
//! Spatial Forcing's per-patch cosine between the projected layer and a 3-D foundation
//! model's tokens, its histogram and its mean per step over the episode; the per-layer
//! spatial probe as a chart. The 3-D view's "patch features" colour mode lifts any of the
//! maps onto the cloud.
//!
//! Pure view code: it reads the [`Session`] and its own settings and returns [`Intent`]s.

mod charts;

use std::path::PathBuf;
use std::sync::Arc;

use super::feature_session::CloudPatchColours;
use super::panel::Panel;
use super::session::Session;
use super::{Intent, theme};
use crate::pipeline::probe::view::{AlignSettings, FeatureSource, FeatureView, PcaFit};

/// What the panel asks for (the app adds the run settings).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureAsk {
    pub sources: Vec<FeatureSource>,
    pub fit: PcaFit,
    pub align: Option<AlignSettings>,
}

impl FeatureAsk {
    /// Identifies the request a view answered (the panel recomputes when it changes).
    pub fn key(&self) -> String {
        format!("{self:?}")
    }
}

pub struct FeaturePanel {
    pub first: FeatureSource,
    /// `None`: one encoder.
    pub second: Option<FeatureSource>,
    pub fit_episode: bool,
    pub fit_every: usize,
    pub opacity: f32,
    /// Compute whenever the step or the settings change.
    pub follow: bool,
    pub spa_weights: String,
    pub projector: String,
    pub dumps: String,
    /// The layer the projector reads; `None`: the last decoder layer.
    pub align_layer: Option<String>,
    pub probe_every: usize,
    pub probe_max_frames: usize,
    /// Textures of the shown view (held, compared by identity).
    textures: Option<(Arc<FeatureView>, Vec<egui::TextureHandle>)>,
}

impl Default for FeaturePanel {
    fn default() -> Self {
        Self {
            first: FeatureSource::Layer("siglip".into()),
            second: None,
            fit_episode: false,
            fit_every: 5,
            opacity: 0.6,
            follow: false,
            spa_weights: crate::util::assets::default_spa_path()
                .display()
                .to_string(),
            projector: String::new(),
            dumps: String::new(),
            align_layer: None,
            probe_every: 1,
            probe_max_frames: 40,
            textures: None,
        }
    }
}

impl Panel for FeaturePanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        if session.episode.is_none() {
            ui.weak("no episode open");
            return Vec::new();
        }
        egui::ScrollArea::vertical()
            .id_salt("feature_panel_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| self.panel_ui(ui, session))
            .inner
    }
}

/// SpatialVLA's layer names for a checkpoint of `decoder_layers` Gemma2 layers.
fn layer_names(decoder_layers: usize) -> Vec<String> {
    let mut names = vec!["siglip".to_owned(), "embeddings".to_owned()];
    names.extend((0..decoder_layers).map(|i| format!("layer {i}")));
    names
}

fn path_row(ui: &mut egui::Ui, label: &str, text: &mut String, hint: &str) {
    ui.horizontal(|ui| {
        ui.label(label);
        ui.add(
            egui::TextEdit::singleline(text)
                .hint_text(hint)
                .desired_width(ui.available_width()),
        );
    });
}

impl FeaturePanel {
    fn ask(&self) -> FeatureAsk {
        let mut sources = vec![self.first.clone()];
        sources.extend(self.second.clone());
        let align =
            (!self.projector.trim().is_empty() && !self.dumps.trim().is_empty()).then(|| {
                AlignSettings {
                    projector: PathBuf::from(self.projector.trim()),
                    dumps: PathBuf::from(self.dumps.trim()),
                    layer: self.align_layer.clone(),
                }
            });
        FeatureAsk {
            sources,
            fit: if self.fit_episode {
                PcaFit::Episode {
                    every: self.fit_every.max(1),
                }
            } else {
                PcaFit::Frame
            },
            align,
        }
    }

    fn source_combo(
        ui: &mut egui::Ui,
        id: &str,
        value: &mut Option<FeatureSource>,
        layers: &[String],
        allow_none: bool,
    ) {
        let text = value
            .as_ref()
            .map_or("none".to_owned(), FeatureSource::label);
        egui::ComboBox::from_id_salt(id)
            .selected_text(text)
            .show_ui(ui, |ui| {
                if allow_none {
                    ui.selectable_value(value, None, "none");
                }
                ui.selectable_value(value, Some(FeatureSource::Spa), "SPA ViT");
                for l in layers {
                    let s = Some(FeatureSource::Layer(l.clone()));
                    ui.selectable_value(value, s, format!("SpatialVLA {l}"));
                }
            });
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui, session: &Session, out: &mut Vec<Intent>) {
        let f = &session.features;
        let layers = layer_names(session.model.info.as_ref().map_or(0, |i| i.decoder_layers));
        ui.horizontal_wrapped(|ui| {
            ui.label("encoder");
            let mut first = Some(self.first.clone());
            Self::source_combo(ui, "feature_first", &mut first, &layers, false);
            if let Some(v) = first {
                self.first = v;
            }
            ui.label("beside");
            Self::source_combo(ui, "feature_second", &mut self.second, &layers, true);
        });
        let wants_spa = self.first == FeatureSource::Spa || self.second == Some(FeatureSource::Spa);
        if wants_spa || f.spa.is_some() {
            ui.horizontal(|ui| {
                ui.label("SPA weights");
                ui.add(
                    egui::TextEdit::singleline(&mut self.spa_weights)
                        .desired_width(ui.available_width() - 60.0),
                );
                if ui.button("Load").clicked() && !self.spa_weights.trim().is_empty() {
                    out.push(Intent::LoadSpa(self.spa_weights.trim().into()));
                }
            });
            match (&f.spa_loading, &f.spa, &f.spa_error) {
                (Some(p), _, _) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(format!("loading {}", p.display()));
                    });
                }
                (None, Some((p, label)), _) => {
                    ui.label(label);
                    if *p == crate::util::assets::default_spa_path() {
                        ui.colored_label(theme::WARN_TEXT, "the bundled tiny random-weight SPA: a structure test, its features are meaningless");
                    }
                }
                (None, None, Some(e)) => {
                    ui.colored_label(theme::ERROR_TEXT, &e.message);
                }
                (None, None, None) => {
                    ui.weak("SPA is not loaded: Load its weights (safetensors in SPA's names)");
                }
            }
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("fit the colours on");
            ui.selectable_value(&mut self.fit_episode, false, "this frame");
            ui.selectable_value(&mut self.fit_episode, true, "the episode")
                .on_hover_text(
                    "fitted once on every K-th step, so the colours mean the same on every step",
                );
            if self.fit_episode {
                ui.add(
                    egui::DragValue::new(&mut self.fit_every)
                        .range(1..=1000)
                        .prefix("every "),
                );
            }
        });
        ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("map opacity"));
        egui::CollapsingHeader::new("Spatial Forcing alignment")
            .id_salt("feature_align")
            .show(ui, |ui| {
                path_row(
                    ui,
                    "projector",
                    &mut self.projector,
                    "AlignProjector .pt / .safetensors",
                );
                path_row(
                    ui,
                    "3-D features",
                    &mut self.dumps,
                    "a dump file, or a folder of step_<S>.safetensors (scripts/vggt_dump.py)",
                );
                ui.horizontal(|ui| {
                    ui.label("layer");
                    let mut l = self.align_layer.clone().map(FeatureSource::Layer);
                    let decoder: Vec<String> = layers
                        .iter()
                        .filter(|n| n.starts_with("layer"))
                        .cloned()
                        .collect();
                    egui::ComboBox::from_id_salt("feature_align_layer")
                        .selected_text(self.align_layer.clone().unwrap_or("the last".into()))
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut l, None, "the last");
                            for n in &decoder {
                                ui.selectable_value(
                                    &mut l,
                                    Some(FeatureSource::Layer(n.clone())),
                                    n,
                                );
                            }
                        });
                    self.align_layer = match l {
                        Some(FeatureSource::Layer(n)) => Some(n),
                        _ => None,
                    };
                });
                if let Some(a) = self.ask().align
                    && ui
                        .add_enabled(
                            f.run.is_none(),
                            egui::Button::new("Mean cosine of every step with a dump"),
                        )
                        .clicked()
                {
                    out.push(Intent::RunAlignSeries(a));
                }
            });
        let can = session.model.info.is_some() && (!wants_spa || f.spa.is_some());
        let ask = self.ask();
        let key = ask.key();
        let step = session.timeline.step;
        ui.horizontal(|ui| {
            if ui
                .add_enabled(can, egui::Button::new("Compute on this frame"))
                .on_disabled_hover_text("load a checkpoint (and SPA weights when SPA is chosen)")
                .clicked()
            {
                out.push(Intent::ComputeFeatures(ask.clone()));
            }
            ui.checkbox(&mut self.follow, "on every step");
            if f.pending.is_some() {
                ui.spinner();
            }
        });
        // Follow the timeline and the settings: one request at a time, for a step whose
        // view (or failure) answered other settings.
        let answered = f.views.get(&step).is_some_and(|(k, _)| *k == key)
            || f.failures.get(&step).is_some_and(|(k, _)| *k == key);
        if self.follow && can && f.pending.is_none() && !answered {
            out.push(Intent::ComputeFeatures(ask));
        }
    }

    fn panel_ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        let mut out = Vec::new();
        self.settings_ui(ui, session, &mut out);
        let step = session.timeline.step;
        let f = &session.features;
        if let Some((_, e)) = f.failures.get(&step) {
            ui.colored_label(theme::ERROR_TEXT, &e.message);
        }
        match f.views.get(&step) {
            Some((_, view)) => {
                ui.separator();
                self.view_ui(ui, session, view, &mut out);
            }
            None => {
                ui.weak("no features for this step yet");
            }
        }
        ui.separator();
        charts::runs_ui(ui, self, session, &mut out);
        out
    }

    fn view_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        v: &Arc<FeatureView>,
        out: &mut Vec<Intent>,
    ) {
        if self.textures.as_ref().is_none_or(|t| !Arc::ptr_eq(&t.0, v)) {
            self.textures = Some((v.clone(), charts::textures(ui, v)));
        }
        let Some((_, tex)) = self.textures.as_ref() else {
            return;
        };
        ui.weak(format!(
            "step {} · {:.0} ms{}",
            v.step,
            v.ms,
            if session
                .model
                .info
                .as_ref()
                .is_some_and(|i| i.random_weights)
            {
                " · random-weight checkpoint: the maps show structure, not learned meaning"
            } else {
                ""
            }
        ));
        let gap = ui.spacing().item_spacing.x;
        let n = v.panes.len() + usize::from(v.alignment.is_some());
        // A little short of the full width: the scroll bar takes its share.
        let side =
            ((ui.available_width() - 12.0 - gap * (n as f32 - 1.0)) / n as f32).clamp(64.0, 360.0);
        let aspect = v.frame.height_px as f32 / v.frame.width_px.max(1) as f32;
        let size = egui::vec2(side, side * aspect);
        ui.horizontal_top(|ui| {
            for (i, pane) in v.panes.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.set_width(side);
                    charts::overlaid(ui, &tex[0], &tex[1 + i], size, self.opacity);
                    let pcs: Vec<String> =
                        pane.explained.iter().map(|e| format!("{:.0} %", 100.0 * e)).collect();
                    ui.add(egui::Label::new(egui::RichText::new(format!(
                        "{} ({} wide, {}x{}) · PC1-3 {} · fitted on {} frame{}",
                        pane.label,
                        pane.width,
                        pane.side,
                        pane.side,
                        pcs.join(" / "),
                        pane.fit_frames,
                        if pane.fit_frames == 1 { "" } else { "s" }
                    )).small()).wrap());
                });
            }
            if let Some(a) = &v.alignment {
                ui.vertical(|ui| {
                    ui.set_width(side);
                    charts::overlaid(ui, &tex[0], &tex[1 + v.panes.len()], size, self.opacity);
                    ui.add(egui::Label::new(egui::RichText::new(format!(
                        "cosine of projected `{}` with the 3-D features: mean {:.3}, median {:.3} over {} patches (blue -1 .. red 1, grey padding)",
                        a.layer, a.summary.mean, a.summary.median, a.summary.patches
                    )).small()).wrap());
                    charts::histogram(ui, &a.summary, side);
                });
            }
        });
        if let Some(n) = &v.alignment_note {
            ui.colored_label(theme::WARN_TEXT, n);
        }
        let mut choice = session.features.cloud_colours;
        ui.horizontal_wrapped(|ui| {
            ui.label("colour the 3-D view by:");
            for (i, pane) in v.panes.iter().enumerate() {
                let c = if i == 0 {
                    CloudPatchColours::First
                } else {
                    CloudPatchColours::Second
                };
                ui.selectable_value(&mut choice, c, &pane.label);
            }
            if v.alignment.is_some() {
                ui.selectable_value(&mut choice, CloudPatchColours::Alignment, "alignment cosine");
            }
            if ui
                .small_button("apply")
                .on_hover_text("switch the 3-D view to its \"patch features\" colour mode (the model camera's points take their patch's colour)")
                .clicked()
            {
                out.push(Intent::SetCloudPatchColours(choice));
            }
        });
        if choice != session.features.cloud_colours {
            out.push(Intent::SetCloudPatchColours(choice));
        }
    }
}
