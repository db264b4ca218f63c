//! The app's side of the Features panel: its intents as model-thread commands (with the
//! model panel's run settings) and the thread's answers applied to the session.

use super::SpatialscopeApp;
use crate::pipeline::RunSettings;
use crate::pipeline::probe::view::FeatureRequest;
use crate::ui::{Intent, Session};
use crate::worker::features::FeatureRunKind;
use crate::worker::{ModelCommand, ModelMessage, UserError};

fn error(message: String) -> UserError {
    UserError {
        file: None,
        message,
    }
}

impl SpatialscopeApp {
    /// Settings for reading features: the model panel's, with any of the checkpoint's
    /// statistics keys when the episode has none (the key only changes how actions decode,
    /// never the features); no generation, no attention.
    fn feature_settings(&self) -> Result<RunSettings, String> {
        let mut s = match self.run_settings() {
            Ok(s) => s,
            Err(e) => {
                let key = self
                    .session
                    .model
                    .info
                    .as_ref()
                    .and_then(|i| i.unnorm_keys.first().cloned())
                    .ok_or(e)?;
                self.settings_with_key(key)
            }
        };
        s.compare_depth = false;
        s.options.max_new_tokens = 1;
        s.options.top_k = 1;
        s.options.attention = false;
        Ok(s)
    }

    pub(super) fn apply_feature_intent(&mut self, intent: Intent) {
        match intent {
            Intent::LoadSpa(path) => {
                let f = &mut self.session.features;
                f.spa_loading = Some(path.clone());
                f.spa_error = None;
                self.model.send(ModelCommand::LoadSpa(path));
            }
            Intent::ComputeFeatures(ask) => {
                let Some(ep) = self.session.episode.clone() else {
                    return;
                };
                let step = self.session.timeline.step;
                let key = ask.key();
                match self.feature_settings() {
                    Ok(settings) => {
                        let f = &mut self.session.features;
                        f.failures.remove(&step);
                        f.pending = Some((step, key));
                        self.model.send(ModelCommand::Features {
                            episode: ep,
                            step,
                            request: FeatureRequest {
                                sources: ask.sources,
                                fit: ask.fit,
                                settings,
                                align: ask.align,
                            },
                        });
                    }
                    Err(e) => {
                        self.session.features.failures.insert(step, (key, error(e)));
                    }
                }
            }
            Intent::RunFeatureProbe {
                every,
                max_frames,
                dumps,
            } => self.start_feature_run(FeatureRunKind::Probe {
                every,
                max_frames,
                dumps,
            }),
            Intent::RunAlignSeries(a) => self.start_feature_run(FeatureRunKind::Align(a)),
            Intent::CancelFeatureRun => {
                self.model.send(ModelCommand::CancelFeatureRun);
            }
            _ => {}
        }
    }

    fn start_feature_run(&mut self, kind: FeatureRunKind) {
        let Some(ep) = self.session.episode.clone() else {
            return;
        };
        match self.feature_settings() {
            Ok(settings) => {
                let f = &mut self.session.features;
                f.run = Some((0, 0));
                f.run_error = None;
                self.model.send(ModelCommand::FeatureRun {
                    episode: ep,
                    settings,
                    kind,
                });
            }
            Err(e) => self.session.features.run_error = Some(error(e)),
        }
    }
}

/// Applies a feature message from the model thread.
pub(super) fn apply_message(session: &mut Session, msg: ModelMessage) {
    let f = &mut session.features;
    match msg {
        ModelMessage::SpaLoaded { path, label } => {
            f.spa_loading = None;
            f.spa_error = None;
            f.spa = Some((path, label));
            f.views.clear();
        }
        ModelMessage::SpaLoadFailed(e) => {
            f.spa_loading = None;
            f.spa = None;
            session.status.errors.push(e.clone());
            f.spa_error = Some(e);
        }
        ModelMessage::FeaturesComputed(view) if Some(view.episode_uid) == f.episode_uid => {
            let key = match f.pending.take() {
                Some((s, k)) if s == view.step => k,
                other => {
                    // An answer for an older request: keep the newer one pending.
                    f.pending = other;
                    String::new()
                }
            };
            f.failures.remove(&view.step);
            f.views.insert(view.step, (key, view));
        }
        ModelMessage::FeaturesFailed {
            episode_uid,
            step,
            error,
        } if Some(episode_uid) == f.episode_uid => {
            let key = match f.pending.take() {
                Some((s, k)) if s == step => k,
                other => {
                    f.pending = other;
                    String::new()
                }
            };
            f.failures.insert(step, (key, error));
        }
        ModelMessage::FeatureRunProgress { done, total } if f.run.is_some() => {
            f.run = Some((done, total));
        }
        ModelMessage::Probed {
            episode_uid,
            report,
        } => {
            f.run = None;
            if Some(episode_uid) == f.episode_uid {
                f.probe = Some(report);
            }
        }
        ModelMessage::AlignedEpisode {
            episode_uid,
            series,
        } => {
            f.run = None;
            if Some(episode_uid) == f.episode_uid {
                f.series = Some(series);
            }
        }
        ModelMessage::FeatureRunFailed(e) => {
            f.run = None;
            f.run_error = Some(e);
        }
        _ => {}
    }
}
