//! Intents to effects: each intent a panel (or the chrome) returns becomes a change of the
//! session, a command to a worker, or a dialog on its own thread. The one place where the
//! UI's wishes turn into work.

use std::path::PathBuf;

use super::SpatialscopeApp;
use super::exports::SaveKind;
use crate::ui::Intent;
use crate::ui::grid_panel::StatsChoice;
use crate::ui::status::Progress;
use crate::worker::{Command, UserError};

impl SpatialscopeApp {
    pub(super) fn apply(&mut self, intent: Intent, ctx: &egui::Context) {
        match intent {
            Intent::Open(path) => {
                self.session.status.progress = Some(Progress {
                    task: format!("opening {}", path.display()),
                    done: 0,
                    total: 0,
                });
                self.worker.send(Command::Open(path));
            }
            Intent::PickPath { folder } => self.pick_path(folder, ctx),
            Intent::SaveRecording => self.ask_where_to_save(ctx, SaveKind::Recording),
            Intent::SendToRerun => {
                self.export_recording(crate::worker::export::RecordingTarget::Viewer(
                    super::exports::DEFAULT_VIEWER.to_owned(),
                ))
            }
            Intent::SavePng { uniforms, size } => {
                self.ask_where_to_save(ctx, SaveKind::Png { uniforms, size })
            }
            Intent::SelectEpisode { dataset, episode } => {
                self.session.selected = Some((dataset, episode));
                self.session.highlight = None;
                self.session.pending_step = None;
                self.worker.send(Command::OpenEpisode { dataset, episode });
            }
            Intent::JumpTo {
                dataset,
                episode,
                step,
                highlight,
            } => {
                self.session.highlight = highlight;
                if self.session.selected == Some((dataset, episode))
                    && self.session.episode.is_some()
                {
                    if let Some(step) = step {
                        self.session.timeline.set_step(step);
                        self.show_current_step();
                    }
                } else {
                    self.session.selected = Some((dataset, episode));
                    self.session.pending_step = step;
                    self.worker.send(Command::OpenEpisode { dataset, episode });
                }
            }
            Intent::OpenStore { path, slot } => self.worker.send(Command::OpenStore {
                path,
                slot: slot.min(1),
                compare_with: (slot > 0).then(|| self.session.stores[0].clone()).flatten(),
            }),
            Intent::CloseStore(slot) => {
                for s in slot.min(1)..2 {
                    self.session.stores[s] = None;
                }
                self.session.comparison = None;
                self.failures.selected = None;
            }
            Intent::OpenPathPrompt => {
                self.path_prompt = Some(crate::ui::path_prompt::PathPrompt {
                    purpose: crate::ui::path_prompt::PathPurpose::Open,
                    text: String::new(),
                    why: None,
                });
            }
            Intent::SaveRecordingTo(path) => {
                self.export_recording(crate::worker::export::RecordingTarget::File(path));
            }
            Intent::SavePngTo {
                path,
                uniforms,
                size,
            } => self.save_view_png(path, uniforms, size),
            Intent::AddBookmark => self.add_bookmark(),
            Intent::RemoveBookmark { root, index } => {
                if let Some(list) = self.bookmarks.all.get_mut(&root)
                    && index < list.len()
                {
                    list.remove(index);
                    if list.is_empty() {
                        self.bookmarks.all.remove(&root);
                    }
                    self.save_bookmarks();
                }
            }
            Intent::ExportBookmarks(dir) => {
                let roots: Vec<String> = self
                    .session
                    .datasets
                    .iter()
                    .map(|d| d.root.display().to_string())
                    .collect();
                let list = roots
                    .iter()
                    .filter_map(|r| self.bookmarks.all.get(r))
                    .flatten()
                    .cloned()
                    .collect();
                self.worker.send(Command::ExportBookmarks { dir, list });
            }
            Intent::RunDoctor { dataset } => {
                let options = crate::pipeline::doctor::DoctorOptions {
                    frames: !self.doctor.no_frames,
                    ..Default::default()
                };
                self.worker.send(Command::RunDoctor { dataset, options });
            }
            Intent::SetOrientation {
                dataset,
                orientation,
            } => {
                self.worker.send(Command::SetOrientation {
                    dataset,
                    orientation,
                });
            }
            Intent::StepChanged(step) => {
                if self.session.episode.is_some() {
                    self.session.timeline.set_step(step);
                    self.show_current_step();
                    let step = self.session.step();
                    if self.panels.model.auto_run
                        && !self.session.model.predictions.contains_key(&step)
                    {
                        self.request_prediction(step);
                    }
                }
            }
            Intent::SceneChanged => self.show_current_step(),
            Intent::Cancel => {
                self.worker.send(Command::Cancel);
            }
            Intent::PickModel
            | Intent::LoadModel(_)
            | Intent::Predict
            | Intent::RunEpisode
            | Intent::CancelModel
            | Intent::LoadExpert(_)
            | Intent::CompareDepth(_)
            | Intent::LoadSpa(_)
            | Intent::ComputeFeatures(_)
            | Intent::RunFeatureProbe { .. }
            | Intent::RunAlignSeries(_)
            | Intent::CancelFeatureRun => self.apply_model_intent(intent, ctx),
            Intent::SetCloudPatchColours(c) => {
                self.session.features.cloud_colours = c;
                self.panels.view3d.state.color_mode = crate::render::ColorMode::PatchColours;
            }
            Intent::ComputeDistribution { dataset } => {
                self.worker.send(Command::ComputeDistribution {
                    dataset,
                    source: self.stats_source(),
                    noop_threshold: self.distribution.noop_threshold,
                });
            }
            Intent::ShowDistribution => {
                self.distribution.open = true;
                // Start computing at once for the open dataset (no empty window that still
                // needs "Compute"), unless its result is already there.
                if let Some((dataset, _)) = self.session.selected
                    && self.distribution.result.as_ref().map(|(d, _)| *d) != Some(dataset)
                {
                    self.worker.send(Command::ComputeDistribution {
                        dataset,
                        source: self.stats_source(),
                        noop_threshold: self.distribution.noop_threshold,
                    });
                }
            }
            Intent::SetStatsChoice(choice) => {
                self.session.settings.unnorm_key = match &choice {
                    StatsChoice::Key(k) => Some(k.clone()),
                    StatsChoice::Episode => None,
                };
                self.session.stats_choice = choice;
            }
            Intent::SetCloudDepth(choice) => {
                if self.session.cloud_depth != choice {
                    // Another cloud (estimated depth can sit at another scale): frame it anew.
                    self.panels.view3d.state.camera = None;
                }
                self.session.cloud_depth = choice;
            }
            Intent::SetAttention(view) => self.session.attention = view,
            Intent::SetExpertCloud(choice) => {
                if self.session.expert_cloud != choice {
                    self.panels.view3d.state.camera = None;
                }
                self.session.expert_cloud = choice;
            }
        }
    }

    /// Asks the frame worker for the current step with the 3-D view's scene options.
    pub(super) fn show_current_step(&mut self) {
        if let Some(ep) = &self.session.episode {
            self.step_asked = Some((self.session.step(), std::time::Instant::now()));
            self.worker.send(Command::ShowStep {
                episode_uid: ep.uid,
                step: self.session.step(),
                scene: self.panels.view3d.scene_options(),
            });
        }
    }

    /// Runs the native dialog on its own thread (it blocks); the result arrives by channel.
    /// Bookmarks the current step of the open episode.
    fn add_bookmark(&mut self) {
        let s = &self.session;
        let (Some((di, ei)), Some(ep)) = (s.selected, &s.episode) else {
            return;
        };
        let Some(d) = s.datasets.get(di) else { return };
        if !self.bookmarks.loaded {
            return;
        }
        let b = crate::util::bookmarks::Bookmark {
            dataset_root: d.root.display().to_string(),
            dataset: d.name.clone(),
            episode_index: ei,
            episode: ep.name.clone(),
            step: s.step(),
            tag: self.bookmarks.tag.trim().to_owned(),
            note: self.bookmarks.note.trim().to_owned(),
            created_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_secs()),
        };
        self.session.status.notice = Some(format!("bookmarked {} step {}", b.episode, b.step));
        self.bookmarks
            .all
            .entry(b.dataset_root.clone())
            .or_default()
            .push(b);
        self.save_bookmarks();
    }

    /// Reads the bookmarks again from `bookmarks.dir` (after the folder changed); nothing is
    /// saved until it has been read.
    pub fn reload_bookmarks(&mut self) {
        self.bookmarks.loaded = false;
        self.bookmarks.all.clear();
        self.worker
            .send(Command::LoadBookmarks(crate::util::bookmarks::file_in(
                &self.bookmarks.dir,
            )));
    }

    /// Looks up the evaluation stores recorded for the open dataset in the data folder
    /// (done on every open; again after the data folder changes).
    pub fn find_stores(&mut self) {
        self.session.store_offers.clear();
        if let Some(root) = self.session.root.clone() {
            self.worker.send(Command::FindStores {
                dir: self.bookmarks.dir.clone(),
                root,
            });
        }
    }

    fn save_bookmarks(&mut self) {
        self.worker.send(Command::SaveBookmarks {
            file: crate::util::bookmarks::file_in(&self.bookmarks.dir),
            all: self.bookmarks.all.clone(),
        });
    }

    fn pick_path(&mut self, folder: bool, ctx: &egui::Context) {
        let (tx, rx) = std::sync::mpsc::channel::<Option<PathBuf>>();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let dialog = rfd::FileDialog::new().set_title("Open episodes");
                let picked = if folder {
                    dialog.pick_folder()
                } else {
                    dialog.pick_file()
                };
                let _ = tx.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.picker = Some(rx);
                self.picker_started = Some(std::time::Instant::now());
            }
            Err(e) => self.session.status.errors.push(UserError {
                file: None,
                message: format!("cannot open the file dialog: {e}"),
            }),
        }
    }
}
