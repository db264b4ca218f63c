//! The model panel: which checkpoint and statistics key, run on this frame or the whole
//! episode, and what the model decided: the decoded chunk against the next ground-truth
//! actions with per-step errors, the token inspector (every generated token with its slot,
//! bins, probability and top-5 alternatives decoded), malformed-sequence flags, and the
//! normalisation check (the same tokens decoded with every key of the checkpoint).
//!
//! Pure view code: it reads the [`Session`] and its own settings and returns [`Intent`]s.

use std::sync::Arc;

mod depth;
mod tokens;

use super::panel::Panel;
use super::session::{AttentionView, ModelSession, Session};
use super::{Intent, theme};
use crate::pipeline::{IntrinsicsChoice, StepPrediction};
use crate::scene::DepthView;

/// The model panel: its run settings (which key, K, depth; predict on every step) and the
/// textures of the depth view shown. What the model produced lives in the session.
#[derive(Default)]
pub struct ModelPanel {
    /// The user's key; `None` = the episode's dataset key.
    pub unnorm_key: Option<String>,
    pub bf16_intrinsics: bool,
    /// Which depth the model lifts its patches with (estimated by default, as the reference).
    pub depth_choice: crate::model::DepthChoice,
    /// Which K the model gets (the checkpoint's by default).
    pub intrinsics_choice: IntrinsicsChoice,
    /// Predict whenever the step changes.
    pub auto_run: bool,
    /// Where and in which dtype the next checkpoint load runs ("Reload" applies a change).
    pub device: crate::model::device::DeviceChoice,
    pub bf16: bool,
    /// Textures of the shown depth view, with the view they were made from (held, so it is
    /// compared by identity and never mistaken for a later one at the same address).
    depth_textures: Option<DepthTextures>,
}

type DepthTextures = (Arc<DepthView>, Vec<egui::TextureHandle>);

impl Panel for ModelPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        if session.episode.is_none() {
            ui.weak("no episode open");
            return Vec::new();
        }
        // The episode's own key when the checkpoint knows it, else the guessed one.
        let known = session
            .episode
            .as_ref()
            .and_then(|e| e.dataset_key.clone())
            .filter(|k| {
                session
                    .model
                    .info
                    .as_ref()
                    .is_none_or(|i| i.unnorm_keys.contains(k))
            });
        let key = known.or_else(|| session.guessed_unnorm_key().map(|k| format!("guess: {k}")));
        egui::ScrollArea::vertical()
            .id_salt("model_panel_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| model_panel_ui(ui, self, session, key.as_deref()))
            .inner
    }
}

fn checkpoint_ui(
    ui: &mut egui::Ui,
    state: &mut ModelPanel,
    model: &ModelSession,
    keys_hint: Option<&str>,
) -> Vec<Intent> {
    let mut out = Vec::new();
    match (&model.info, &model.loading) {
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
    if let (Some(info), None) = (&model.info, &model.loading) {
        ui.weak(format!(
            "{} · {} · {} · weights {}",
            params_label(info.parameter_count),
            info.dtype,
            info.device,
            bytes_label(info.weight_bytes)
        ));
        if let Some(note) = &info.device_note {
            ui.colored_label(theme::WARN_TEXT, note);
        }
    }
    device_ui(ui, state, model, &mut out);
    if let Some(e) = &model.load_error {
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
    if let Some(info) = &model.info {
        let current = state
            .unnorm_key
            .clone()
            .unwrap_or_else(|| format!("episode's key ({})", keys_hint.unwrap_or("none")));
        let guessed =
            state.unnorm_key.is_none() && keys_hint.is_some_and(|h| h.starts_with("guess: "));
        let combo = egui::ComboBox::from_label("unnorm key")
            .selected_text(current)
            .width(260.0)
            .truncate()
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.unnorm_key, None, "the episode's key");
                for k in &info.unnorm_keys {
                    ui.selectable_value(&mut state.unnorm_key, Some(k.clone()), k);
                }
            });
        if guessed {
            combo.response.on_hover_text(
                "The checkpoint has no statistics for this episode's dataset: this key's q01..q99 \
                 spans are the closest to the episode's own actions. Choose another if you know better.",
            );
        }
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
    for n in &pred.notes {
        ui.colored_label(theme::WARN_TEXT, format!("note: {n}"));
    }
    let Some(actions) = &pred.chunk.actions else {
        return;
    };
    // In its own sideways scroll: a table wider than the panel would otherwise widen the
    // whole column, and every line below it would run under the panel's edge.
    egui::ScrollArea::horizontal()
        .id_salt("chunk_vs_truth_scroll")
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible)
        .show(ui, |ui| {
            chunk_grid(ui, p, actions);
        });
}

fn chunk_grid(ui: &mut egui::Ui, p: &StepPrediction, actions: &[[f64; 7]]) {
    egui::Grid::new("chunk_vs_truth")
        .striped(true)
        .show(ui, |ui| {
            for h in ["step", "x", "y", "z", "roll", "pitch", "yaw", "grip"] {
                ui.strong(h);
            }
            ui.end_row();
            for (k, a) in actions.iter().enumerate() {
                ui.colored_label(theme::PREDICTION, format!("{} pred", p.step + k));
                for v in a {
                    ui.monospace(format!("{v:+.3}"));
                }
                ui.end_row();
                if let Some(t) = p.ground_truth.get(k) {
                    ui.label("truth");
                    for v in t {
                        ui.monospace(format!("{v:+.3}"));
                    }
                    ui.end_row();
                }
            }
        });
    // The errors per step below the table (as columns they made it wider than the panel).
    for (k, _) in actions.iter().enumerate() {
        let step = p.step + k;
        match p.errors.get(k) {
            Some(e) => {
                ui.horizontal_wrapped(|ui| {
                    ui.weak(format!(
                        "step {step}: |dt| {:.3} m · angle {} · |dr| {:.3} rad · gripper",
                        e.translation_l2,
                        e.direction_deg.map_or("–".into(), |d| format!("{d:.0}°")),
                        e.rotation_l2
                    ));
                    if e.gripper_agrees {
                        ui.weak("agrees");
                    } else {
                        ui.colored_label(theme::ERROR_TEXT, "differs");
                    }
                });
            }
            None => {
                ui.weak(format!("step {step}: past the end of the episode"));
            }
        }
    }
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
fn model_panel_ui(
    ui: &mut egui::Ui,
    state: &mut ModelPanel,
    session: &Session,
    episode_key: Option<&str>,
) -> Vec<Intent> {
    let model = &session.model;
    let step = session.step();
    let mut out = checkpoint_ui(ui, state, model, episode_key);
    let ready = model.info.is_some() && model.loading.is_none();
    let cost = episode_cost(session);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(ready, egui::Button::new("Run on this frame"))
            .clicked()
        {
            out.push(Intent::Predict);
        }
        if ui
            .add_enabled(
                ready && model.run.is_none(),
                egui::Button::new("Run over episode"),
            )
            .on_hover_text(cost.clone())
            .clicked()
        {
            out.push(Intent::RunEpisode);
        }
        if (model.run.is_some() || model.pending_step.is_some())
            && ui.button("Stop the model").clicked()
        {
            out.push(Intent::CancelModel);
        }
    });
    ui.checkbox(&mut state.auto_run, "predict on every step change");
    if ready && model.run.is_none() {
        ui.weak(cost);
    }
    if let Some((done, total)) = model.run {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("episode: {done}/{total} steps")),
        );
    } else if let Some((done, total, stopped)) = model.last_run {
        ui.weak(if stopped {
            format!("episode run stopped at {done}/{total} steps")
        } else {
            format!("episode run finished: {done}/{total} steps")
        });
    }
    if model.pending_step == Some(step) {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("predicting…");
        });
    }
    ui.separator();
    if let Some(e) = model.failures.get(&step) {
        ui.colored_label(theme::ERROR_TEXT, &e.message);
    }
    // Predictions read from evaluation stores: shown without running the model.
    let stored = session.stored_rows_at(step);
    for (slot, r) in &stored {
        if let Some(store) = &session.stores[*slot] {
            crate::ui::failures_panel::stored_prediction_ui(ui, *slot, store, r);
            ui.separator();
        }
    }
    let Some(p) = model.predictions.get(&step).cloned() else {
        if model.info.is_some() && !model.failures.contains_key(&step) && stored.is_empty() {
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
    actions_ui(ui, &p);
    ui.separator();
    let mut cloud_depth = session.cloud_depth;
    depth::depth_ui(
        ui,
        model.depth_views.get(&step),
        &mut cloud_depth,
        &mut state.depth_textures,
    );
    if cloud_depth != session.cloud_depth {
        out.push(Intent::SetCloudDepth(cloud_depth));
    }
    ui.separator();
    let mut attention = session.attention;
    attention_ui(ui, &mut attention, &p);
    tokens::tokens_ui(ui, &p, &mut attention.token);
    if attention != session.attention {
        out.push(Intent::SetAttention(attention));
    }
    ui.separator();
    tokens::normalisation_ui(ui, &p);
    out
}

fn params_label(n: usize) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} B parameters", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} M parameters", n as f64 / 1e6),
        n => format!("{n} parameters"),
    }
}

fn bytes_label(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

/// Device (CPU, or CUDA n in a CUDA build) and dtype of the next load; "Reload" applies
/// them to the loaded checkpoint.
fn device_ui(
    ui: &mut egui::Ui,
    state: &mut ModelPanel,
    model: &ModelSession,
    out: &mut Vec<Intent>,
) {
    use crate::model::device::DeviceChoice;
    ui.horizontal_wrapped(|ui| {
        ui.label("run on");
        egui::ComboBox::from_id_salt("model_device")
            .selected_text(state.device.label())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.device, DeviceChoice::Cpu, "CPU");
                for n in 0..4 {
                    ui.add_enabled_ui(DeviceChoice::cuda_built(), |ui| {
                        ui.selectable_value(
                            &mut state.device,
                            DeviceChoice::Cuda(n),
                            format!("CUDA {n}"),
                        )
                        .on_disabled_hover_text(
                            "this binary was built without CUDA (cargo build --features cuda)",
                        );
                    });
                }
            });
        ui.selectable_value(&mut state.bf16, false, "f32");
        ui.selectable_value(&mut state.bf16, true, "bf16")
            .on_hover_text(
                "the language model and vision tower in bfloat16 (ZoeDepth stays float32)",
            );
        if let Some(info) = &model.info {
            let want_dtype = if state.bf16 { "bf16" } else { "f32" };
            let differs = info.dtype != want_dtype
                || (state.device == DeviceChoice::Cpu) != (info.device == "CPU");
            if ui
                .add_enabled(
                    differs && model.loading.is_none(),
                    egui::Button::new("Reload"),
                )
                .on_hover_text("load the checkpoint again on this device, in this dtype")
                .clicked()
            {
                out.push(Intent::LoadModel(info.dir.clone()));
            }
        }
    });
}

/// What a run over the open episode will cost, from the newest measured step of this
/// checkpoint on this episode (image branch and generation), said before it is started.
fn episode_cost(session: &Session) -> String {
    let steps = session.episode.as_ref().map_or(0, |e| e.num_steps());
    let Some(p) = session.model.predictions.values().last() else {
        return format!("{steps} steps: run one frame first for an estimate of the time");
    };
    let s = (p.prediction.image_ms + p.prediction.generate_ms) / 1e3;
    let total = s * steps as f64;
    let device = session
        .model
        .info
        .as_ref()
        .map_or("", |i| i.device.as_str());
    format!(
        "{steps} steps x {s:.1} s per step ({device}, measured on step {}) = about {}",
        p.step,
        if total >= 120.0 {
            format!("{:.0} min", total / 60.0)
        } else {
            format!("{total:.0} s")
        }
    )
}
