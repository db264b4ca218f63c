//! The eframe application: layout, message handling and intents.
//!
//! The app never reads files or decodes frames: it sends [`Command`]s to the worker and
//! applies [`WorkerMessage`]s at the start of every frame. Panels (in `ui/`) return
//! [`Intent`]s that this file turns into commands.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use crate::action_grid::{ActionStatistics, ProcessorConfig};
use crate::episode::Episode;
use crate::scene::SceneOptions;
use crate::ui::camera_view::CameraTextures;
use crate::ui::grid_panel::StatsChoice;
use crate::ui::model_panel::ModelPanelState;
use crate::ui::settings::{STORAGE_KEY, ViewSettings};
use crate::ui::status::{Progress, StatusState, status_ui};
use crate::ui::timeline::{Timeline, timeline_ui};
use crate::ui::{Intent, episode_list, plots, theme};
use crate::worker::{
    Command, DatasetInfo, FrameBundle, ModelHandle, UserError, WorkerHandle, WorkerMessage,
};

mod exports;
mod model;
mod panels;

/// The whole app state (view state only; data lives in the worker and arrives as `Arc`s).
pub struct SpatialscopeApp {
    worker: WorkerHandle,
    pub settings: ViewSettings,
    pub datasets: Vec<DatasetInfo>,
    pub root: Option<PathBuf>,
    pub selected: Option<(usize, usize)>,
    pub episode: Option<Arc<Episode>>,
    pub timeline: Timeline,
    pub frame: Option<Arc<FrameBundle>>,
    plot_data: Option<plots::PlotData>,
    /// The action grid and statistics (bundled release, or an opened checkpoint).
    pub grid: Option<Arc<ProcessorConfig>>,
    /// q01/q99 etc. of the open episode's own actions.
    episode_stats: Option<ActionStatistics>,
    pub stats_choice: StatsChoice,
    pub distribution: crate::ui::distribution_panel::DistributionState,
    pub view3d: crate::ui::view3d::View3dState,
    textures: Vec<CameraTextures>,
    pub status: StatusState,
    list: episode_list::EpisodeListState,
    picker: Option<Receiver<Option<PathBuf>>>,
    /// The model thread (inference never runs on the UI or frame worker threads).
    model: ModelHandle,
    pub model_panel: ModelPanelState,
    model_picker: Option<Receiver<Option<PathBuf>>>,
    /// The 3-D view's lines with the predicted worm, for (frame lines version, step,
    /// prediction) so they are rebuilt only when one changes.
    lines_cache: Option<((u64, usize, usize), Arc<crate::render::LineSet>)>,
    pending_save: Option<exports::PendingSave>,
}

impl SpatialscopeApp {
    /// Creates the app and asks the worker to open `path` (if any).
    pub fn new(ctx: &egui::Context, settings: ViewSettings, path: Option<PathBuf>) -> Self {
        let repaint_ctx = ctx.clone();
        let worker = crate::worker::frames::spawn(Arc::new(move || repaint_ctx.request_repaint()));
        let model_ctx = ctx.clone();
        let model = ModelHandle::spawn(Arc::new(move || model_ctx.request_repaint()));
        let mut app = Self {
            worker,
            settings: settings.validated(),
            datasets: Vec::new(),
            root: None,
            selected: None,
            episode: None,
            timeline: Timeline::new(0, 1.0),
            frame: None,
            plot_data: None,
            grid: None,
            episode_stats: None,
            stats_choice: StatsChoice::Episode,
            distribution: Default::default(),
            view3d: Default::default(),
            textures: Vec::new(),
            status: StatusState::default(),
            list: episode_list::EpisodeListState::default(),
            picker: None,
            model,
            model_panel: ModelPanelState::default(),
            model_picker: None,
            lines_cache: None,
            pending_save: None,
        };
        app.apply(
            Intent::LoadModel(crate::util::assets::default_model_path()),
            ctx,
        );
        app.worker
            .send(Command::LoadGrid(crate::util::assets::default_grid_path()));
        if let Some(p) = path {
            app.apply(Intent::Open(p), ctx);
        }
        app
    }

    /// Creates the app from eframe's creation context, restoring persisted view settings.
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, path: Option<PathBuf>) -> Self {
        let settings: ViewSettings = cc
            .storage
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default();
        let path = path.or_else(|| settings.last_path.clone().filter(|p| p.exists()));
        let mut app = Self::new(&cc.egui_ctx, settings, path);
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            app.register_renderer(rs);
        }
        app
    }

    /// Creates the 3-D point renderer in egui_wgpu's callback resources.
    pub fn register_renderer(&mut self, rs: &egui_wgpu::RenderState) {
        let renderer = crate::render::PointRenderer::new(&rs.device, rs.target_format);
        rs.renderer.write().callback_resources.insert(renderer);
        self.view3d.gpu_available = true;
    }

    /// True while the worker has work in flight (tests wait on this).
    pub fn is_busy(&self) -> bool {
        self.status.progress.is_some()
    }

    /// Applies an intent as if a panel had returned it (tests drive the app this way).
    pub fn open_for_test(&mut self, intent: Intent, ctx: &egui::Context) {
        self.apply(intent, ctx);
    }

    fn apply(&mut self, intent: Intent, ctx: &egui::Context) {
        match intent {
            Intent::Open(path) => {
                self.status.progress = Some(Progress {
                    task: format!("opening {}", path.display()),
                    done: 0,
                    total: 0,
                });
                self.worker.send(Command::Open(path));
            }
            Intent::PickPath { folder } => self.pick_path(folder, ctx),
            Intent::SaveRecording => self.ask_where_to_save(ctx, exports::SaveKind::Recording),
            Intent::SendToRerun => self.export_recording(
                crate::worker::export::RecordingTarget::Viewer(exports::DEFAULT_VIEWER.to_owned()),
            ),
            Intent::SelectEpisode { dataset, episode } => {
                self.selected = Some((dataset, episode));
                self.worker.send(Command::OpenEpisode { dataset, episode });
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
                if let Some(ep) = &self.episode {
                    self.timeline.set_step(step);
                    self.worker.send(Command::ShowStep {
                        episode_uid: ep.uid,
                        step: self.timeline.step,
                        scene: self.scene_options(),
                    });
                    if self.model_panel.auto_run
                        && !self
                            .model_panel
                            .predictions
                            .contains_key(&self.timeline.step)
                    {
                        self.request_prediction(self.timeline.step);
                    }
                }
            }
            Intent::Cancel => {
                self.worker.send(Command::Cancel);
            }
            Intent::PickModel
            | Intent::LoadModel(_)
            | Intent::Predict
            | Intent::RunEpisode
            | Intent::CancelModel => self.apply_model_intent(intent, ctx),
            Intent::ComputeDistribution { dataset } => {
                self.worker.send(Command::ComputeDistribution {
                    dataset,
                    source: self.stats_source(),
                    noop_threshold: self.distribution.noop_threshold,
                });
            }
        }
    }

    /// Runs the native dialog on its own thread (it blocks); the result arrives by channel.
    fn pick_path(&mut self, folder: bool, ctx: &egui::Context) {
        let (tx, rx) = std::sync::mpsc::channel();
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
            Ok(_) => self.picker = Some(rx),
            Err(e) => self.status.errors.push(UserError {
                file: None,
                message: format!("cannot open the file dialog: {e}"),
            }),
        }
    }

    fn handle_messages(&mut self, ctx: &egui::Context) {
        self.handle_model_messages(ctx);
        self.poll_save_dialog();
        if let Some(rx) = &self.picker
            && let Ok(picked) = rx.try_recv()
        {
            self.picker = None;
            if let Some(p) = picked {
                self.apply(Intent::Open(p), ctx);
            }
        }
        while let Some(msg) = self.worker.try_recv() {
            match msg {
                WorkerMessage::Progress { task, done, total } => {
                    self.status.progress = Some(Progress { task, done, total });
                }
                WorkerMessage::Idle => self.status.progress = None,
                WorkerMessage::DatasetReplaced { dataset, info } => {
                    if let Some(slot) = self.datasets.get_mut(dataset) {
                        *slot = *info;
                    }
                    // The open episode of that dataset shows the new orientation.
                    if let Some((d, e)) = self.selected
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
                WorkerMessage::CollectionOpened { root, datasets } => {
                    self.settings.last_path = Some(root.clone());
                    self.root = Some(root);
                    self.datasets = datasets;
                    self.list.collapsed.clear();
                    self.episode = None;
                    self.frame = None;
                    self.selected = None;
                    if let Some(d) = self.datasets.iter().position(|d| !d.summaries.is_empty()) {
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
                    if let Some(s) = self
                        .datasets
                        .get_mut(dataset)
                        .and_then(|d| d.summaries.get_mut(episode))
                    {
                        *s = summary;
                    }
                }
                WorkerMessage::EpisodeOpened {
                    dataset,
                    episode,
                    data,
                } => {
                    if self.selected != Some((dataset, episode)) {
                        continue; // superseded by a later selection
                    }
                    let fps = data.fps.unwrap_or(f64::from(self.settings.fallback_fps));
                    self.timeline = Timeline::new(data.num_steps(), fps);
                    self.textures = (0..data.cameras.len())
                        .map(|_| CameraTextures::default())
                        .collect();
                    self.frame = None;
                    self.view3d.camera = None;
                    self.view3d.hidden_cameras.clear();
                    self.view3d.model_view = false;
                    self.plot_data = Some(plots::PlotData::from_episode(&data));
                    let acts: Vec<[f64; 7]> = data
                        .actions
                        .values
                        .iter()
                        .map(|a| a.map(f64::from))
                        .collect();
                    self.episode_stats = ActionStatistics::from_actions(&acts);
                    self.model_panel.set_episode(data.uid);
                    self.stats_choice = self.default_stats_choice(&data);
                    self.worker.send(Command::ShowStep {
                        episode_uid: data.uid,
                        step: 0,
                        scene: self.scene_options(),
                    });
                    self.episode = Some(data);
                }
                WorkerMessage::Frame(bundle) => {
                    let Some(ep) = &self.episode else { continue };
                    if bundle.episode_uid != ep.uid {
                        continue;
                    }
                    for (ci, (cam, f)) in ep.cameras.iter().zip(&bundle.cameras).enumerate() {
                        if let Some(t) = self.textures.get_mut(ci) {
                            t.update(ctx, &cam.name, f);
                        }
                    }
                    self.frame = Some(bundle);
                }
                WorkerMessage::EpisodeFailed {
                    dataset,
                    episode,
                    error,
                } => {
                    if let Some(f) = self
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
                WorkerMessage::GridLoaded(cfg) => {
                    self.grid = Some(cfg);
                    if let Some(ep) = self.episode.clone() {
                        self.stats_choice = self.default_stats_choice(&ep);
                    }
                }
                WorkerMessage::Exported(text) => {
                    log::info!("{text}");
                    self.status.notice = Some(text);
                }
                WorkerMessage::Error(e) => {
                    log::warn!("{}", e.message);
                    self.status.errors.push(e);
                }
            }
        }
    }

    /// The 3-D view's options that shape the scene (held by the view only; every step
    /// request carries them).
    pub fn scene_options(&self) -> SceneOptions {
        SceneOptions {
            hidden_cameras: self.view3d.hidden_cameras.clone(),
            model_view: self.view3d.model_view,
            model_view_bf16: self.view3d.model_view_bf16,
        }
    }

    /// The statistics to normalise an episode with: the key chosen before if the
    /// checkpoint has it, the SpatialVLA key of a known dataset (Bridge), else the episode's
    /// own q01/q99.
    fn default_stats_choice(&self, ep: &Episode) -> StatsChoice {
        let Some(cfg) = &self.grid else {
            return StatsChoice::Episode;
        };
        if let Some(k) = &self.settings.unnorm_key
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
        match &self.stats_choice {
            StatsChoice::Key(k) => crate::pipeline::distribution::StatsSource::Key(k.clone()),
            StatsChoice::Episode => crate::pipeline::distribution::StatsSource::Dataset,
        }
    }
}

impl eframe::App for SpatialscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.handle_messages(&ctx);
        let mut intents = Vec::new();

        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            intents.push(Intent::Open(p));
        }

        egui::Panel::top("menu").show(ui, |ui| intents.extend(self.menu_ui(ui)));
        let info = self
            .root
            .as_ref()
            .map_or("no dataset open".to_owned(), |r| {
                format!("opened {}", r.display())
            });
        egui::Panel::bottom("status").show(ui, |ui| {
            intents.extend(status_ui(ui, &mut self.status, &info))
        });
        egui::Panel::bottom("timeline").show(ui, |ui| {
            if self.episode.is_some() {
                if let Some(step) = timeline_ui(
                    ui,
                    &mut self.timeline,
                    &mut self.settings.playback_speed,
                    self.settings.loop_playback,
                ) {
                    intents.push(Intent::StepChanged(step));
                }
            } else {
                ui.weak("timeline: no episode");
            }
        });
        egui::Panel::left("episodes")
            .resizable(true)
            .default_size(theme::EPISODE_LIST_WIDTH)
            .show(ui, |ui| {
                intents.extend(episode_list::episode_list_ui(
                    ui,
                    &self.datasets,
                    self.selected,
                    &mut self.list,
                ));
            });
        if (self.settings.show_grid || self.settings.show_model) && self.episode.is_some() {
            egui::Panel::right("grid")
                .resizable(true)
                .default_size(theme::GRID_PANEL_WIDTH)
                .show(ui, |ui| {
                    use crate::ui::settings::RightTab;
                    let both = self.settings.show_grid && self.settings.show_model;
                    if both {
                        ui.horizontal(|ui| {
                            ui.selectable_value(
                                &mut self.settings.right_tab,
                                RightTab::Grid,
                                "Action grid",
                            );
                            ui.selectable_value(
                                &mut self.settings.right_tab,
                                RightTab::Model,
                                "Model",
                            );
                        });
                        ui.separator();
                    }
                    let tab = if both {
                        self.settings.right_tab
                    } else if self.settings.show_model {
                        RightTab::Model
                    } else {
                        RightTab::Grid
                    };
                    match tab {
                        RightTab::Grid => self.grid_ui(ui),
                        RightTab::Model => intents.extend(self.model_ui(ui)),
                    }
                });
        }
        egui::Panel::top("instruction").show(ui, |ui| self.header_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| intents.extend(self.central_ui(ui)));

        let current = self
            .selected
            .and_then(|(d, _)| self.datasets.get(d).map(|info| (d, info.name.clone())));
        let source = self.stats_source();
        let declared = self
            .selected
            .and_then(|(d, _)| self.datasets.get(d))
            .and_then(|info| info.declared_stats.clone());
        intents.extend(crate::ui::distribution_panel::distribution_window(
            &ctx,
            &mut self.distribution,
            current.as_ref().map(|(d, n)| (*d, n.as_str())),
            &source,
            declared.as_ref(),
        ));

        for i in intents {
            self.apply(i, &ctx);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
    }
}
