//! The app's side of the depth experts: the "Depth experts" panel's intents as model-thread
//! commands, and the thread's answers applied to the session.

use super::SpatialscopeApp;
use crate::ui::{Intent, Session};
use crate::worker::{ModelCommand, ModelMessage};

impl SpatialscopeApp {
    pub(super) fn apply_expert_intent(&mut self, intent: Intent) {
        let state = &mut self.session.model;
        match intent {
            Intent::LoadExpert(path) => {
                state.expert_loading = Some(path.clone());
                state.expert_error = None;
                self.model.send(ModelCommand::LoadExpert(path));
            }
            Intent::CompareDepth(request) => {
                let Some(ep) = self.session.episode.clone() else {
                    return;
                };
                let step = self.session.timeline.step;
                state.expert_failures.remove(&step);
                state.expert_pending = Some(step);
                self.model.send(ModelCommand::CompareDepth {
                    episode: ep,
                    step,
                    request,
                });
            }
            _ => {}
        }
    }
}

/// Applies an expert message from the model thread.
pub(super) fn apply_message(session: &mut Session, msg: ModelMessage) {
    let state = &mut session.model;
    match msg {
        ModelMessage::ExpertLoaded { path, label } => {
            state.expert_loading = None;
            state.expert_error = None;
            state.expert = Some((path, label));
            // Views made with other weights no longer describe the loaded expert.
            state.expert_views.clear();
        }
        ModelMessage::ExpertLoadFailed(e) => {
            state.expert_loading = None;
            state.expert = None;
            session.status.errors.push(e.clone());
            state.expert_error = Some(e);
        }
        ModelMessage::DepthCompared { episode_uid, view }
            if Some(episode_uid) == state.episode_uid =>
        {
            if state.expert_pending == Some(view.step) {
                state.expert_pending = None;
            }
            state.expert_failures.remove(&view.step);
            state.expert_views.insert(view.step, view);
        }
        ModelMessage::DepthCompareFailed {
            episode_uid,
            step,
            error,
        } if Some(episode_uid) == state.episode_uid => {
            if state.expert_pending == Some(step) {
                state.expert_pending = None;
            }
            state.expert_failures.insert(step, error);
        }
        _ => {}
    }
}
