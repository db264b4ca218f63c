//! The app's side of the model: turning model intents into [`ModelCommand`]s, applying
//! [`ModelMessage`]s to the model panel's state, and what the other panels draw from
//! predictions (the attention overlay, the predicted curves).

use std::sync::Arc;

use super::SpatialscopeApp;
use crate::model::GenerateOptions;
use crate::model::processor::IntrinsicsPrecision;
use crate::pipeline::{RunSettings, attention_over_image, model_camera};
use crate::ui::plots::PredictionOverlay;
use crate::ui::{Intent, model_panel};
use crate::worker::UserError;
use crate::worker::{ModelCommand, ModelMessage};

impl SpatialscopeApp {
    /// Settings for a run on the open episode, or the reason there are none.
    fn run_settings(&self) -> Result<RunSettings, String> {
        let info = self
            .model_panel
            .info
            .as_ref()
            .ok_or("no checkpoint is loaded")?;
        let ep = self.episode.as_ref().ok_or("no episode is open")?;
        let key = match &self.model_panel.unnorm_key {
            Some(k) => k.clone(),
            None => ep
                .dataset_key
                .clone()
                .filter(|k| info.unnorm_keys.contains(k))
                .ok_or_else(|| {
                    format!(
                        "{} has no dataset key this checkpoint knows: choose an unnorm key in the model panel",
                        ep.name
                    )
                })?,
        };
        Ok(RunSettings {
            unnorm_key: key,
            intrinsics: if self.model_panel.bf16_intrinsics {
                IntrinsicsPrecision::Bfloat16
            } else {
                IntrinsicsPrecision::Float32
            },
            intrinsics_choice: self.model_panel.intrinsics_choice.clone(),
            depth_choice: self.model_panel.depth_choice,
            // Single frames show the depth comparison; episode runs skip the extra pass.
            compare_depth: true,
            options: GenerateOptions {
                max_new_tokens: 256,
                top_k: 5,
                attention: true,
            },
        })
    }

    /// Asks for a prediction of `step` (latest wins on the model thread).
    pub(super) fn request_prediction(&mut self, step: usize) {
        let Some(ep) = self.episode.clone() else {
            return;
        };
        match self.run_settings() {
            Ok(settings) => {
                self.model_panel.failures.remove(&step);
                self.model_panel.pending_step = Some(step);
                self.model.send(ModelCommand::Predict {
                    episode: ep,
                    step,
                    settings,
                });
            }
            Err(message) => {
                self.model_panel.failures.insert(
                    step,
                    UserError {
                        file: None,
                        message,
                    },
                );
            }
        }
    }

    pub(super) fn apply_model_intent(&mut self, intent: Intent, ctx: &egui::Context) {
        match intent {
            Intent::PickModel => self.pick_model(ctx),
            Intent::LoadModel(dir) => {
                self.model_panel.loading = Some(dir.clone());
                self.model_panel.load_error = None;
                self.model.send(ModelCommand::Load(dir));
            }
            Intent::Predict => self.request_prediction(self.timeline.step),
            Intent::RunEpisode => {
                let Some(ep) = self.episode.clone() else {
                    return;
                };
                match self.run_settings() {
                    Ok(mut settings) => {
                        // Per-token attention of a real model is megabytes per step: whole
                        // episodes keep tokens and chunks only ("Run on this frame" adds it).
                        settings.options.attention = false;
                        settings.compare_depth = false;
                        self.model_panel.run = Some((0, ep.num_steps()));
                        self.model.send(ModelCommand::RunEpisode {
                            episode: ep,
                            settings,
                        });
                    }
                    Err(message) => {
                        self.model_panel.failures.insert(
                            self.timeline.step,
                            UserError {
                                file: None,
                                message,
                            },
                        );
                    }
                }
            }
            Intent::CancelModel => {
                self.model_panel.pending_step = None;
                self.model.send(ModelCommand::Cancel);
            }
            _ => {}
        }
    }

    fn pick_model(&mut self, ctx: &egui::Context) {
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("model-dialog".into())
            .spawn(move || {
                let _ = tx.send(
                    rfd::FileDialog::new()
                        .set_title("Open a SpatialVLA checkpoint folder")
                        .pick_folder(),
                );
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.model_picker = Some(rx),
            Err(e) => self.status.errors.push(UserError {
                file: None,
                message: format!("cannot open the folder dialog: {e}"),
            }),
        }
    }

    pub(super) fn handle_model_messages(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.model_picker
            && let Ok(picked) = rx.try_recv()
        {
            self.model_picker = None;
            if let Some(dir) = picked {
                self.apply_model_intent(Intent::LoadModel(dir), ctx);
            }
        }
        while let Some(msg) = self.model.try_recv() {
            let state = &mut self.model_panel;
            match msg {
                ModelMessage::Loading(dir) => state.loading = Some(dir),
                ModelMessage::Loaded(info) => {
                    state.loading = None;
                    state.load_error = None;
                    state.predictions.clear();
                    state.failures.clear();
                    // Without ZoeDepth only sensor depth can feed Ego3D.
                    if info.zoe_unavailable.is_some() {
                        state.depth_choice = crate::model::DepthChoice::Sensor;
                    }
                    state.info = Some(info);
                }
                ModelMessage::LoadFailed(e) => {
                    state.loading = None;
                    state.info = None;
                    self.status.errors.push(e.clone());
                    state.load_error = Some(e);
                }
                ModelMessage::Predicted {
                    episode_uid,
                    result,
                    depth_view,
                } => {
                    if Some(episode_uid) == state.episode_uid {
                        if state.pending_step == Some(result.step) {
                            state.pending_step = None;
                        }
                        state.failures.remove(&result.step);
                        match depth_view {
                            Some(v) => state.depth_views.insert(result.step, v),
                            None => state.depth_views.remove(&result.step),
                        };
                        state.predictions.insert(result.step, result);
                    }
                }
                ModelMessage::PredictFailed {
                    episode_uid,
                    step,
                    error,
                } => {
                    if Some(episode_uid) == state.episode_uid {
                        if state.pending_step == Some(step) {
                            state.pending_step = None;
                        }
                        state.failures.insert(step, error);
                    }
                }
                ModelMessage::Progress { done, total } => {
                    if state.run.is_some() {
                        state.run = Some((done, total));
                    }
                }
                ModelMessage::RunFinished { .. } => state.run = None,
            }
        }
    }

    /// The attention of the selected token over the model camera's image patches, whether
    /// or not the image overlay is on (the 3-D view's attention colours use it too).
    pub(super) fn attention_values(&self) -> Option<(usize, Vec<f32>, usize, f32)> {
        let ep = self.episode.as_ref()?;
        let view = &self.model_panel.attention;
        let p = self.model_panel.predictions.get(&self.timeline.step)?;
        let values = attention_over_image(
            &p.prediction,
            self.model_panel.selected_token,
            view.selection,
        )?;
        Some((
            model_camera(ep)?,
            values,
            p.prediction.patches_per_side,
            view.opacity,
        ))
    }

    /// Predicted curves for the action plots.
    pub(super) fn prediction_overlay(&self) -> Option<PredictionOverlay> {
        let preds = &self.model_panel.predictions;
        if preds.is_empty() {
            return None;
        }
        Some(PredictionOverlay::build(
            preds
                .iter()
                .filter_map(|(s, p)| p.prediction.chunk.actions.as_deref().map(|a| (*s, a))),
            self.timeline.step,
        ))
    }

    /// The cloud the 3-D view draws at the current step: the scene's sensor cloud, or the
    /// prediction's estimated depth (or both overlaid) as the model panel chooses.
    pub(super) fn shown_cloud(&self) -> Option<Arc<crate::render::PointCloud>> {
        crate::scene::step::chosen_cloud(
            self.frame
                .as_ref()
                .and_then(|f| f.scene.as_ref())
                .map(|s| &s.cloud),
            self.model_panel
                .depth_views
                .get(&self.timeline.step)
                .map(Arc::as_ref),
            self.model_panel.cloud_depth,
        )
    }

    /// The step's lines plus, when the current step has a prediction, its chunk as a worm
    /// from the end-effector (in the world frame only); cached per (lines, step, prediction).
    pub(super) fn scene_lines(&mut self) -> Arc<crate::render::LineSet> {
        let scene = self.frame.as_ref().and_then(|f| f.scene.as_ref());
        let base = scene.map_or_else(
            || Arc::new(crate::render::LineSet::default()),
            |s| s.lines.clone(),
        );
        let world = scene.is_some_and(|s| s.cloud.world_frame);
        let step = self.timeline.step;
        let pred = self.model_panel.predictions.get(&step).cloned();
        let key = (
            base.version,
            step,
            pred.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize),
        );
        if let Some((k, lines)) = &self.lines_cache
            && *k == key
        {
            return lines.clone();
        }
        let merged = match self.episode.as_ref() {
            Some(ep) => crate::scene::step::lines_with_prediction(
                ep,
                step,
                &base,
                world,
                pred.as_ref()
                    .and_then(|p| p.prediction.chunk.actions.as_deref()),
            ),
            None => base,
        };
        self.lines_cache = Some((key, merged.clone()));
        merged
    }

    pub(super) fn model_ui(&mut self, ui: &mut egui::Ui) -> Vec<Intent> {
        let key = self.episode.as_ref().and_then(|e| e.dataset_key.clone());
        model_panel::model_panel_ui(
            ui,
            &mut self.model_panel,
            self.timeline.step,
            key.as_deref(),
        )
    }
}
