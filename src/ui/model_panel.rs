//! The model panel: which checkpoint and statistics key, run on this frame or the whole
//! episode, and what the model decided: the decoded chunk against the next ground-truth
//! actions with per-step errors, the token inspector (every generated token with its slot,
//! bins, probability and top-5 alternatives decoded), malformed-sequence flags, and the
//! normalisation check (the same tokens decoded with every key of the checkpoint).
//!
//! Pure view code: it reads [`ModelPanelState`] and returns [`Intent`]s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Intent, theme};
use crate::action_grid::Slot;
use crate::model::predict::rank_keys_by_magnitude;
use crate::pipeline::{AttentionSelection, IntrinsicsChoice, StepPrediction};
use crate::scene::{CloudDepth, DepthView};
use crate::worker::{ModelInfo, UserError};

/// How the attention overlay is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionView {
    pub show: bool,
    pub selection: AttentionSelection,
    pub opacity: f32,
}

impl Default for AttentionView {
    fn default() -> Self {
        AttentionView {
            show: true,
            selection: AttentionSelection::default(),
            opacity: 0.6,
        }
    }
}

#[derive(Default)]
pub struct ModelPanelState {
    pub info: Option<ModelInfo>,
    pub loading: Option<PathBuf>,
    pub load_error: Option<UserError>,
    /// The user's key; `None` = the episode's dataset key.
    pub unnorm_key: Option<String>,
    pub bf16_intrinsics: bool,
    /// Which depth the model lifts its patches with (estimated by default, as the reference).
    pub depth_choice: crate::model::DepthChoice,
    /// Which K the model gets (the checkpoint's by default).
    pub intrinsics_choice: IntrinsicsChoice,
    /// Predict whenever the step changes.
    pub auto_run: bool,
    /// Predictions of the open episode, by step.
    pub predictions: BTreeMap<usize, Arc<StepPrediction>>,
    /// The depth views of those predictions that have one, by step.
    pub depth_views: BTreeMap<usize, Arc<DepthView>>,
    pub failures: BTreeMap<usize, UserError>,
    pub episode_uid: Option<u64>,
    /// (done, total) of a running whole-episode pass.
    pub run: Option<(usize, usize)>,
    /// A single-frame request in flight.
    pub pending_step: Option<usize>,
    /// The generated token whose attention is shown.
    pub selected_token: usize,
    pub attention: AttentionView,
    /// Which depth the 3-D view lifts when a prediction has a depth view.
    pub cloud_depth: CloudDepth,
    /// Textures of the shown depth view, with the view they were made from (held, so it is
    /// compared by identity and never mistaken for a later one at the same address).
    depth_textures: Option<DepthTextures>,
}

type DepthTextures = (Arc<DepthView>, Vec<egui::TextureHandle>);

impl ModelPanelState {
    /// Forget predictions when another episode opens.
    pub fn set_episode(&mut self, uid: u64) {
        if self.episode_uid != Some(uid) {
            self.episode_uid = Some(uid);
            self.predictions.clear();
            self.depth_views.clear();
            self.failures.clear();
            self.pending_step = None;
            self.run = None;
        }
    }
}

fn slot_name(s: Slot) -> &'static str {
    match s {
        Slot::Translation => "translation",
        Slot::Rotation => "rotation",
        Slot::Gripper => "gripper",
    }
}

fn checkpoint_ui(
    ui: &mut egui::Ui,
    state: &mut ModelPanelState,
    keys_hint: Option<&str>,
) -> Vec<Intent> {
    let mut out = Vec::new();
    match (&state.info, &state.loading) {
        (_, Some(dir)) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("loading {}", dir.display()));
            });
        }
        (Some(info), None) => {
            let color = if info.random_weights {
                theme::WARN_TEXT
            } else {
                ui.visuals().text_color()
            };
            ui.colored_label(color, &info.label).on_hover_text(format!(
                "{}\n{} parameters, loaded in {:.0} ms{}",
                info.dir.display(),
                info.parameter_count,
                info.load_ms,
                if info.has_zoe_weights {
                    ""
                } else {
                    "\nno ZoeDepth weights in this checkpoint"
                }
            ));
        }
        (None, None) => {
            ui.weak("no checkpoint loaded");
        }
    }
    if let Some(e) = &state.load_error {
        ui.colored_label(theme::ERROR_TEXT, &e.message);
    }
    ui.horizontal(|ui| {
        if ui.button("Open checkpoint…").clicked() {
            out.push(Intent::PickModel);
        }
        if ui
            .button("Bundled tiny")
            .on_hover_text("the random-weight checkpoint shipped in assets/")
            .clicked()
        {
            out.push(Intent::LoadModel(crate::util::assets::default_model_path()));
        }
    });
    if let Some(info) = &state.info {
        let current = state
            .unnorm_key
            .clone()
            .unwrap_or_else(|| format!("episode's key ({})", keys_hint.unwrap_or("none")));
        egui::ComboBox::from_label("unnorm key")
            .selected_text(current)
            .width(260.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.unnorm_key, None, "the episode's key");
                for k in &info.unnorm_keys {
                    ui.selectable_value(&mut state.unnorm_key, Some(k.clone()), k);
                }
            });
        let k_text = match &state.intrinsics_choice {
            IntrinsicsChoice::Processor => "checkpoint's K for the key".to_owned(),
            IntrinsicsChoice::Entry(e) => format!("checkpoint entry {e}"),
            IntrinsicsChoice::EpisodeCamera => "the episode camera's own K".to_owned(),
        };
        egui::ComboBox::from_label("model K")
            .selected_text(k_text)
            .width(260.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(
                    &mut state.intrinsics_choice,
                    IntrinsicsChoice::Processor,
                    "checkpoint's K for the key (reference)",
                );
                for e in &info.intrinsics_entries {
                    ui.selectable_value(
                        &mut state.intrinsics_choice,
                        IntrinsicsChoice::Entry(e.clone()),
                        format!("checkpoint entry {e}"),
                    );
                }
                ui.selectable_value(
                    &mut state.intrinsics_choice,
                    IntrinsicsChoice::EpisodeCamera,
                    "the episode camera's own K (what if the model knew it)",
                );
            });
        {
            use crate::model::DepthChoice;
            egui::ComboBox::from_label("model depth")
                .selected_text(state.depth_choice.label())
                .width(260.0)
                .show_ui(ui, |ui| {
                    ui.add_enabled_ui(info.zoe_unavailable.is_none(), |ui| {
                        ui.selectable_value(
                            &mut state.depth_choice,
                            DepthChoice::Estimated,
                            "estimated by ZoeDepth (reference)",
                        )
                    });
                    ui.selectable_value(
                        &mut state.depth_choice,
                        DepthChoice::Sensor,
                        "the camera's sensor depth (what if the model had true depth)",
                    );
                });
            if let Some(why) = &info.zoe_unavailable {
                ui.colored_label(theme::WARN_TEXT, why);
            }
        }
        ui.checkbox(&mut state.bf16_intrinsics, "bfloat16 K (as predict_action)")
            .on_hover_text(
                "The reference inference path rounds K to bfloat16 before inverting it (spec 5.3).",
            );
    }
    out
}

/// Estimated vs sensor depth at the model input: the two maps on one colour scale, their
/// signed difference and the error statistics; and which depth the 3-D view lifts.
fn depth_ui(
    ui: &mut egui::Ui,
    view: Option<&Arc<DepthView>>,
    cloud: &mut CloudDepth,
    textures: &mut Option<DepthTextures>,
) {
    let Some(v) = view else {
        return;
    };
    ui.strong("Depth: estimated (ZoeDepth) vs sensor");
    if textures
        .as_ref()
        .is_none_or(|t| !std::sync::Arc::ptr_eq(&t.0, v))
    {
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
    let side = 150.0;
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
    ui.horizontal(|ui| {
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

fn actions_ui(ui: &mut egui::Ui, p: &StepPrediction) {
    let pred = &p.prediction;
    ui.strong("Decoded chunk vs ground truth");
    ui.weak(format!(
        "key {} · depth: {} · K: {} ({:?}) · image {:.0} ms, generation {:.0} ms",
        pred.unnorm_key,
        pred.depth_source,
        pred.intrinsics.entry,
        pred.intrinsics.precision,
        pred.image_ms,
        pred.generate_ms
    ));
    let Some(actions) = &pred.chunk.actions else {
        return;
    };
    egui::Grid::new("chunk_vs_truth")
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "step", "", "x", "y", "z", "roll", "pitch", "yaw", "grip", "|dt|", "angle", "|dr|",
                "grip",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (k, a) in actions.iter().enumerate() {
                ui.label(format!("{}", p.step + k));
                ui.colored_label(theme::PREDICTION, "pred");
                for v in a {
                    ui.monospace(format!("{v:+.3}"));
                }
                match p.errors.get(k) {
                    Some(e) => {
                        ui.monospace(format!("{:.3}", e.translation_l2));
                        ui.monospace(e.direction_deg.map_or("–".into(), |d| format!("{d:.0}°")));
                        ui.monospace(format!("{:.3}", e.rotation_l2));
                        if e.gripper_agrees {
                            ui.label("ok");
                        } else {
                            ui.colored_label(theme::ERROR_TEXT, "differs");
                        }
                    }
                    None => {
                        ui.weak("past the end");
                    }
                }
                ui.end_row();
                if let Some(t) = p.ground_truth.get(k) {
                    ui.label("");
                    ui.label("truth");
                    for v in t {
                        ui.monospace(format!("{v:+.3}"));
                    }
                    ui.end_row();
                }
            }
        });
}

fn tokens_ui(ui: &mut egui::Ui, p: &StepPrediction, selected: &mut usize) {
    let pred = &p.prediction;
    ui.strong("Generated tokens");
    if pred.issues.is_empty() {
        ui.label("well-formed: 12 action tokens in translation/rotation/gripper order, then <eos>");
    } else {
        let n = pred.issues.len();
        ui.colored_label(
            theme::WARN_TEXT,
            format!(
                "malformed chunk ({n} issue{}), decoded with the reference's clamping",
                if n == 1 { "" } else { "s" }
            ),
        );
        ui.collapsing("issues", |ui| {
            for i in &pred.issues {
                ui.label(i);
            }
        });
    }
    let shown = pred.tokens.len().min(3 * 4 + 4);
    egui::Grid::new("tokens").striped(true).show(ui, |ui| {
        for h in ["#", "token", "slot", "bins", "p", "value", "top-5"] {
            ui.strong(h);
        }
        ui.end_row();
        for t in &pred.tokens[..shown] {
            let is_sel = *selected == t.position;
            if ui
                .selectable_label(is_sel, format!("{}", t.position))
                .on_hover_text("show this token's attention")
                .clicked()
            {
                *selected = t.position;
            }
            ui.monospace(&t.token);
            let found = t.value.as_ref().map(|v| v.slot);
            match (t.expected_slot, found) {
                (Some(e), Some(f)) if e == f => {
                    ui.label(slot_name(f));
                }
                (Some(e), f) => {
                    ui.colored_label(
                        theme::WARN_TEXT,
                        format!(
                            "{} (expected {})",
                            f.map_or("not an action", slot_name),
                            slot_name(e)
                        ),
                    );
                }
                (None, f) => {
                    ui.weak(f.map_or("—", slot_name));
                }
            }
            ui.monospace(
                t.value
                    .as_ref()
                    .map_or(String::new(), |v| format!("{:?}", v.bins)),
            );
            ui.monospace(format!("{:.3}", t.probability));
            ui.monospace(t.value.as_ref().and_then(|v| v.raw.as_ref()).map_or(
                String::new(),
                |r| {
                    r.iter()
                        .map(|x| format!("{x:+.3}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                },
            ));
            let summary = t
                .top
                .iter()
                .skip(1)
                .map(|a| format!("{:.2}", a.probability))
                .collect::<Vec<_>>()
                .join(" ");
            ui.weak(summary).on_hover_ui(|ui| {
                egui::Grid::new(("top", t.position)).show(ui, |ui| {
                    for a in &t.top {
                        ui.monospace(&a.token);
                        ui.monospace(format!("p {:.3}", a.probability));
                        ui.monospace(format!("logit {:.2}", a.logit));
                        ui.monospace(
                            a.value
                                .as_ref()
                                .map(|v| {
                                    format!(
                                        "{} {:?} -> {:?}",
                                        slot_name(v.slot),
                                        v.bins,
                                        v.raw.as_deref().unwrap_or(&[])
                                    )
                                })
                                .unwrap_or_default(),
                        );
                        ui.end_row();
                    }
                });
            });
            ui.end_row();
        }
    });
    if pred.tokens.len() > shown {
        ui.weak(format!(
            "… {} more generated tokens{}",
            pred.tokens.len() - shown,
            if pred.stopped_on_eos {
                ""
            } else {
                " (no <eos>: generation hit the limit)"
            }
        ));
    }
}

fn normalisation_ui(ui: &mut egui::Ui, p: &StepPrediction) {
    let truth: Vec<f64> = p
        .ground_truth
        .iter()
        .map(|a| (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt())
        .collect();
    if truth.is_empty() {
        return;
    }
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    if mean <= 1e-9 {
        ui.weak("normalisation check: the ground truth does not move here");
        return;
    }
    let ranked = rank_keys_by_magnitude(&p.prediction.per_key, mean);
    let chosen = &p.prediction.unnorm_key;
    let pos = ranked.iter().position(|(k, _)| k == chosen);
    let ratio = pos.map(|i| ranked[i].1);
    ui.strong("Normalisation check");
    let text = format!(
        "decoded/true translation with `{chosen}`: ×{:.2} (rank {} of {})",
        ratio.unwrap_or(f64::NAN),
        pos.map_or(0, |i| i + 1),
        ranked.len()
    );
    let suspicious = ratio.is_some_and(|r| !(0.2..=5.0).contains(&r));
    if suspicious {
        ui.colored_label(theme::WARN_TEXT, format!("{text}: likely the wrong key"));
    } else {
        ui.label(text);
    }
    ui.collapsing("closest keys", |ui| {
        for (k, r) in ranked.iter().take(5) {
            ui.monospace(format!("×{r:>6.2}  {k}"));
        }
    });
}

fn attention_ui(ui: &mut egui::Ui, view: &mut AttentionView, p: &StepPrediction) {
    let pred = &p.prediction;
    if pred.image_attention.is_empty() {
        ui.weak("no attention kept for this step (episode runs skip it): \"Run on this frame\" records it");
        return;
    }
    ui.horizontal(|ui| {
        ui.checkbox(&mut view.show, "attention on the image");
        ui.add(egui::Slider::new(&mut view.opacity, 0.0..=1.0).text("opacity"));
    });
    ui.horizontal(|ui| {
        let layer_text = view
            .selection
            .layer
            .map_or("mean of layers".to_owned(), |l| format!("layer {l}"));
        egui::ComboBox::from_label("layer")
            .selected_text(layer_text)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut view.selection.layer, None, "mean of layers");
                for l in 0..pred.attention_layers {
                    ui.selectable_value(&mut view.selection.layer, Some(l), format!("layer {l}"));
                }
            });
        let head_text = view
            .selection
            .head
            .map_or("mean of heads".to_owned(), |h| format!("head {h}"));
        egui::ComboBox::from_label("head")
            .selected_text(head_text)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut view.selection.head, None, "mean of heads");
                for h in 0..pred.attention_heads {
                    ui.selectable_value(&mut view.selection.head, Some(h), format!("head {h}"));
                }
            });
    });
}

/// The whole panel. `episode_key` is the open episode's dataset key (for the key hint).
pub fn model_panel_ui(
    ui: &mut egui::Ui,
    state: &mut ModelPanelState,
    step: usize,
    episode_key: Option<&str>,
) -> Vec<Intent> {
    let mut out = Vec::new();
    ui.heading("Model");
    out.extend(checkpoint_ui(ui, state, episode_key));
    let ready = state.info.is_some() && state.loading.is_none();
    ui.horizontal(|ui| {
        if ui
            .add_enabled(ready, egui::Button::new("Run on this frame"))
            .clicked()
        {
            out.push(Intent::Predict);
        }
        if ui
            .add_enabled(
                ready && state.run.is_none(),
                egui::Button::new("Run over episode"),
            )
            .clicked()
        {
            out.push(Intent::RunEpisode);
        }
        if (state.run.is_some() || state.pending_step.is_some())
            && ui.button("Stop the model").clicked()
        {
            out.push(Intent::CancelModel);
        }
    });
    ui.checkbox(&mut state.auto_run, "predict on every step change");
    if let Some((done, total)) = state.run {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("episode: {done}/{total} steps")),
        );
    }
    if state.pending_step == Some(step) {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("predicting…");
        });
    }
    ui.separator();
    if let Some(e) = state.failures.get(&step) {
        ui.colored_label(theme::ERROR_TEXT, &e.message);
    }
    let Some(p) = state.predictions.get(&step).cloned() else {
        if state.info.is_some() && !state.failures.contains_key(&step) {
            ui.weak(format!("no prediction for step {step} yet"));
        }
        return out;
    };
    if p.prediction.random_weights {
        ui.colored_label(
            theme::WARN_TEXT,
            "random weights: these outputs only exercise the pipeline",
        );
    }
    egui::ScrollArea::both()
        .id_salt("model_scroll")
        .show(ui, |ui| {
            actions_ui(ui, &p);
            ui.separator();
            depth_ui(
                ui,
                state.depth_views.get(&step),
                &mut state.cloud_depth,
                &mut state.depth_textures,
            );
            ui.separator();
            attention_ui(ui, &mut state.attention, &p);
            tokens_ui(ui, &p, &mut state.selected_token);
            ui.separator();
            normalisation_ui(ui, &p);
        });
    out
}
