//! The workers' messages applied to the session, at the start of every frame (never
//! blocking: `try_recv` until the inbox is empty), and the answers of finished dialogs.

use super::SpatialscopeApp;
use crate::action_grid::ActionStatistics;
use crate::episode::Episode;
use crate::ui::Intent;
use crate::ui::grid_panel::StatsChoice;
use crate::ui::plots::PlotData;
use crate::ui::status::Progress;
use crate::ui::timeline::Timeline;
use crate::worker::WorkerMessage;

impl SpatialscopeApp {
    pub(super) fn handle_messages(&mut self, ctx: &egui::Context) {
        self.handle_model_messages(ctx);
        self.poll_save_dialog();
        if let Some(rx) = &self.picker
            && let Ok(picked) = rx.try_recv()
        {
            self.picker = None;
            let quick = self
                .picker_started
                .take()
                .is_some_and(|t| t.elapsed() < super::DIALOG_FAILED_WITHIN);
            match picked {
                Some(p) => self.apply(Intent::Open(p), ctx),
                None if quick => self.ask_typed_path(crate::ui::path_prompt::PathPurpose::Open),
                None => {}
            }
        }
        while let Some(msg) = self.worker.try_recv() {
            self.handle_message(msg, ctx);
        }
    }

    fn handle_message(&mut self, msg: WorkerMessage, ctx: &egui::Context) {
        let s = &mut self.session;
        match msg {
            WorkerMessage::Progress { task, done, total } => {
                s.status.progress = Some(Progress { task, done, total });
            }
            WorkerMessage::Idle => {
                s.status.progress = None;
                self.doctor.running = false;
            }
            WorkerMessage::DatasetReplaced { dataset, info } => {
                if let Some(slot) = s.datasets.get_mut(dataset) {
                    *slot = *info;
                }
                // The open episode of that dataset shows the new orientation.
                if let Some((d, e)) = s.selected
                    && d == dataset
                {
                    self.apply(
                        Intent::SelectEpisode {
                            dataset: d,
                            episode: e,
                        },
                        ctx,
                    );
                }
            }
            // A file other than the current one (the folder changed since): not ours.
            WorkerMessage::BookmarksLoaded { file, .. }
                if file != crate::util::bookmarks::file_in(&self.bookmarks.dir) => {}
            WorkerMessage::BookmarksLoaded { result, .. } => match result {
                Ok(all) => {
                    self.bookmarks.all = all;
                    self.bookmarks.loaded = true;
                }
                Err(message) => s.status.errors.push(crate::worker::UserError {
                    file: None,
                    message: format!("bookmarks (not saved until this is fixed): {message}"),
                }),
            },
            WorkerMessage::CollectionOpened { root, datasets } => {
                if !self.bookmarks.loaded {
                    self.worker.send(crate::worker::Command::LoadBookmarks(
                        crate::util::bookmarks::file_in(&self.bookmarks.dir),
                    ));
                }
                s.settings.last_path = Some(root.clone());
                s.root = Some(root);
                self.find_stores();
                let s = &mut self.session;
                s.datasets = datasets;
                s.episode = None;
                s.frame = None;
                s.selected = None;
                self.panels.episodes.list.collapsed.clear();
                if let Some(d) = s.datasets.iter().position(|d| !d.summaries.is_empty()) {
                    self.apply(
                        Intent::SelectEpisode {
                            dataset: d,
                            episode: 0,
                        },
                        ctx,
                    );
                }
            }
            WorkerMessage::SummaryUpdated {
                dataset,
                episode,
                summary,
            } => {
                if let Some(slot) = s
                    .datasets
                    .get_mut(dataset)
                    .and_then(|d| d.summaries.get_mut(episode))
                {
                    *slot = summary;
                }
            }
            WorkerMessage::EpisodeOpened {
                dataset,
                episode,
                data,
            } => {
                if s.selected != Some((dataset, episode)) {
                    return; // superseded by a later selection
                }
                let choice = self.default_stats_choice(&data);
                let s = &mut self.session;
                let fps = data.fps.unwrap_or(f64::from(s.settings.fallback_fps));
                s.timeline = Timeline::new(data.num_steps(), fps);
                s.frame = None;
                s.plot_data = Some(PlotData::from_episode(&data));
                let acts: Vec<[f64; 7]> = data
                    .actions
                    .values
                    .iter()
                    .map(|a| a.map(f64::from))
                    .collect();
                s.episode_stats = ActionStatistics::from_actions(&acts);
                s.model.set_episode(data.uid);
                s.features.set_episode(data.uid);
                s.stats_choice = choice;
                self.panels.cameras.reset(data.cameras.len());
                self.panels.view3d.reset();
                if let Some(step) = s.pending_step.take() {
                    s.timeline.set_step(step);
                }
                s.episode = Some(data);
                self.show_current_step();
            }
            WorkerMessage::Frame(bundle) => {
                let Some(ep) = &s.episode else { return };
                if bundle.episode_uid != ep.uid {
                    return;
                }
                self.panels.cameras.update(ctx, ep, &bundle);
                if s.frame.as_ref().is_none_or(|f| f.step != bundle.step) {
                    s.timeline.frame_shown(ctx.input(|i| i.time));
                }
                if let Some((step, at)) = self.step_asked
                    && step == bundle.step
                {
                    s.status.step_ready_ms = Some(at.elapsed().as_secs_f64() * 1e3);
                    self.step_asked = None;
                }
                s.frame = Some(bundle);
            }
            WorkerMessage::EpisodeFailed {
                dataset,
                episode,
                error,
            } => {
                if let Some(f) = s
                    .datasets
                    .get_mut(dataset)
                    .and_then(|d| d.failures.get_mut(episode))
                {
                    *f = Some(error);
                }
            }
            WorkerMessage::Distribution { dataset, result } => {
                self.distribution.result = Some((dataset, result));
            }
            WorkerMessage::StoresFound(found) => {
                if !found.is_empty() {
                    s.status.notice = Some(format!(
                        "{} evaluation store(s) exist for this dataset: View > Failures to open one",
                        found.len()
                    ));
                }
                s.store_offers = found;
            }
            WorkerMessage::StoreOpened {
                slot,
                store,
                comparison,
            } => {
                s.status.notice = Some(format!(
                    "evaluation store {}: {} steps",
                    store.path.display(),
                    store.rows.len()
                ));
                if slot == 0 {
                    self.failures.selected = None;
                    s.stores = [Some(store), None];
                    s.comparison = None;
                } else if s.stores[0].is_some() {
                    s.stores[1] = Some(store);
                    s.comparison = comparison;
                }
                self.failures.open = true;
            }
            WorkerMessage::Doctor { dataset, result } => {
                self.doctor.running = false;
                s.status.notice = Some(format!(
                    "doctor: {} errors, {} warnings, {} info; {} of {} episodes pass",
                    result.errors,
                    result.warnings,
                    result.infos,
                    result.keep.len(),
                    result.episodes
                ));
                s.doctor = Some((dataset, result));
            }
            WorkerMessage::GridLoaded(cfg) => {
                s.grid = Some(cfg);
                if let Some(ep) = s.episode.clone() {
                    self.session.stats_choice = self.default_stats_choice(&ep);
                }
            }
            WorkerMessage::Exported(text) => {
                log::info!("{text}");
                s.status.notice = Some(text);
            }
            WorkerMessage::Error(e) => {
                log::warn!("{}", e.message);
                s.status.errors.push(e);
            }
        }
    }

    /// The statistics to normalise an episode with: the key chosen before if the
    /// checkpoint has it, the SpatialVLA key of a known dataset (Bridge), else the episode's
    /// own q01/q99.
    fn default_stats_choice(&self, ep: &Episode) -> StatsChoice {
        let Some(cfg) = &self.session.grid else {
            return StatsChoice::Episode;
        };
        if let Some(k) = &self.session.settings.unnorm_key
            && cfg.statistics.contains_key(k)
        {
            return StatsChoice::Key(k.clone());
        }
        match &ep.dataset_key {
            Some(k) if cfg.statistics.contains_key(k) => StatsChoice::Key(k.clone()),
            _ => StatsChoice::Episode,
        }
    }

    /// The distribution's statistics follow the grid panel's choice (an episode's own
    /// statistics become the dataset's own).
    pub fn stats_source(&self) -> crate::pipeline::distribution::StatsSource {
        use crate::pipeline::distribution::StatsSource;
        match &self.session.stats_choice {
            StatsChoice::Key(k) => StatsSource::Key(k.clone()),
            StatsChoice::Episode => StatsSource::Dataset,
        }
    }
}
