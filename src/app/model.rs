//! The app's side of the model: turning model intents into [`ModelCommand`]s (with the
//! model panel's run settings) and applying [`ModelMessage`]s to the session.

use super::SpatialscopeApp;
use crate::model::GenerateOptions;
use crate::model::processor::IntrinsicsPrecision;
use crate::pipeline::RunSettings;
use crate::ui::Intent;
use crate::worker::UserError;
use crate::worker::{ModelCommand, ModelMessage};

impl SpatialscopeApp {
    /// Settings for a run on the open episode, or the reason there are none.
    pub(super) fn run_settings(&self) -> Result<RunSettings, String> {
        let info = self
            .session
            .model
            .info
            .as_ref()
            .ok_or("no checkpoint is loaded")?;
        let ep = self.session.episode.as_ref().ok_or("no episode is open")?;
        let panel = &self.panels.model;
        let key = match &panel.unnorm_key {
            Some(k) => k.clone(),
            None => match ep
                .dataset_key
                .clone()
                .filter(|k| info.unnorm_keys.contains(k))
            {
                Some(k) => k,
                // No key of its own: the checkpoint's key whose statistics fit this
                // episode's actions best (the panel labels it a guess).
                None => self.session.guessed_unnorm_key().ok_or_else(|| {
                    format!(
                        "{} has no dataset key this checkpoint knows: choose an unnorm key in the model panel",
                        ep.name
                    )
                })?,
            },
        };
        Ok(self.settings_with_key(key))
    }

    /// The model panel's settings with the statistics key `key`.
    pub(super) fn settings_with_key(&self, key: String) -> RunSettings {
        let panel = &self.panels.model;
        RunSettings {
            unnorm_key: key,
            intrinsics: if panel.bf16_intrinsics {
                IntrinsicsPrecision::Bfloat16
            } else {
                IntrinsicsPrecision::Float32
            },
            intrinsics_choice: panel.intrinsics_choice.clone(),
            depth_choice: panel.depth_choice,
            // Single frames show the depth comparison; episode runs skip the extra pass.
            compare_depth: true,
            options: GenerateOptions {
                max_new_tokens: 256,
                top_k: 5,
                attention: true,
            },
        }
    }

    /// Asks for a prediction of `step` (latest wins on the model thread).
    pub(super) fn request_prediction(&mut self, step: usize) {
        let Some(ep) = self.session.episode.clone() else {
            return;
        };
        match self.run_settings() {
            Ok(settings) => {
                self.session.model.failures.remove(&step);
                self.session.model.pending_step = Some(step);
                self.model.send(ModelCommand::Predict {
                    episode: ep,
                    step,
                    settings,
                });
            }
            Err(message) => {
                self.session.model.failures.insert(
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
                self.session.model.loading = Some(dir.clone());
                self.session.model.load_error = None;
                self.model.send(ModelCommand::Load {
                    dir,
                    device: self.panels.model.device,
                    bf16: self.panels.model.bf16,
                });
            }
            Intent::Predict => self.request_prediction(self.session.step()),
            Intent::RunEpisode => {
                let Some(ep) = self.session.episode.clone() else {
                    return;
                };
                match self.run_settings() {
                    Ok(mut settings) => {
                        // Per-token attention of a real model is megabytes per step: whole
                        // episodes keep tokens and chunks only ("Run on this frame" adds it).
                        settings.options.attention = false;
                        settings.compare_depth = false;
                        self.session.model.run = Some((0, ep.num_steps()));
                        self.model.send(ModelCommand::RunEpisode {
                            episode: ep,
                            settings,
                        });
                    }
                    Err(message) => {
                        let step = self.session.step();
                        self.session.model.failures.insert(
                            step,
                            UserError {
                                file: None,
                                message,
                            },
                        );
                    }
                }
            }
            Intent::CancelModel => {
                self.session.model.pending_step = None;
                self.model.send(ModelCommand::Cancel);
            }
            Intent::LoadExpert(_) | Intent::CompareDepth(_) => self.apply_expert_intent(intent),
            Intent::LoadSpa(_)
            | Intent::ComputeFeatures(_)
            | Intent::RunFeatureProbe { .. }
            | Intent::RunAlignSeries(_)
            | Intent::CancelFeatureRun => self.apply_feature_intent(intent),
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
            Ok(_) => {
                self.model_picker = Some(rx);
                self.picker_started = Some(std::time::Instant::now());
            }
            Err(e) => self.session.status.errors.push(UserError {
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
            let quick = self
                .picker_started
                .take()
                .is_some_and(|t| t.elapsed() < super::DIALOG_FAILED_WITHIN);
            match picked {
                Some(dir) => self.apply_model_intent(Intent::LoadModel(dir), ctx),
                None if quick => {
                    self.ask_typed_path(crate::ui::path_prompt::PathPurpose::LoadModel);
                }
                None => {}
            }
        }
        while let Some(msg) = self.model.try_recv() {
            let state = &mut self.session.model;
            match msg {
                ModelMessage::Loading(dir) => state.loading = Some(dir),
                ModelMessage::Loaded(info) => {
                    state.loading = None;
                    state.load_error = None;
                    state.predictions.clear();
                    state.failures.clear();
                    // Without ZoeDepth only sensor depth can feed Ego3D.
                    if info.zoe_unavailable.is_some() {
                        self.panels.model.depth_choice = crate::model::DepthChoice::Sensor;
                    }
                    state.info = Some(*info);
                    // Feature maps and probes describe the checkpoint they came from.
                    let f = &mut self.session.features;
                    f.views.clear();
                    f.failures.clear();
                    f.probe = None;
                    f.series = None;
                }
                ModelMessage::LoadFailed(e) => {
                    state.loading = None;
                    state.info = None;
                    self.session.status.errors.push(e.clone());
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
                ModelMessage::RunFinished {
                    done,
                    total,
                    cancelled,
                } => {
                    if state.run.take().is_some() {
                        state.last_run = Some((done, total, cancelled));
                    }
                }
                m @ (ModelMessage::ExpertLoaded { .. }
                | ModelMessage::ExpertLoadFailed(_)
                | ModelMessage::DepthCompared { .. }
                | ModelMessage::DepthCompareFailed { .. }) => {
                    super::experts::apply_message(&mut self.session, m)
                }
                m => super::features::apply_message(&mut self.session, m),
            }
        }
    }
}
