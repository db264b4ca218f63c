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
use crate::model_worker::ModelHandle;
use crate::ui::camera_view::{CameraTextures, camera_ui};
use crate::ui::grid_panel::{StatsChoice, grid_panel_ui};
use crate::ui::model_panel::ModelPanelState;
use crate::ui::settings::{STORAGE_KEY, ViewSettings};
use crate::ui::status::{Progress, StatusState, status_ui};
use crate::ui::timeline::{Timeline, timeline_ui};
use crate::ui::{Intent, episode_list, plots, theme};
use crate::worker::{Command, DatasetInfo, FrameBundle, UserError, WorkerHandle, WorkerMessage};

mod exports;
mod model;

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
        let worker = WorkerHandle::spawn(Arc::new(move || repaint_ctx.request_repaint()));
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
            Intent::LoadModel(crate::cli::predict_cmd::default_model_path()),
            ctx,
        );
        app.worker
            .send(Command::LoadGrid(crate::cli::default_grid_path()));
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
                crate::export_jobs::RecordingTarget::Viewer(exports::DEFAULT_VIEWER.to_owned()),
            ),
            Intent::SelectEpisode { dataset, episode } => {
                self.selected = Some((dataset, episode));
                self.worker.send(Command::OpenEpisode { dataset, episode });
            }
            Intent::StepChanged(step) => {
                if let Some(ep) = &self.episode {
                    self.timeline.set_step(step);
                    self.worker.send(Command::ShowStep {
                        episode_uid: ep.uid,
                        step: self.timeline.step,
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
    pub fn stats_source(&self) -> crate::analysis::StatsSource {
        match &self.stats_choice {
            StatsChoice::Key(k) => crate::analysis::StatsSource::Key(k.clone()),
            StatsChoice::Episode => crate::analysis::StatsSource::Dataset,
        }
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui) {
        let (Some(cfg), Some(ep)) = (self.grid.clone(), self.episode.clone()) else {
            ui.weak("action grid: loading…");
            return;
        };
        ui.strong("Action grid (SpatialVLA, released)");
        let Some(action) = ep.actions.values.get(self.timeline.step) else {
            return;
        };
        if ui.button("Action distribution of this dataset…").clicked() {
            self.distribution.open = true;
        }
        // The model's first predicted step, when its grid has the panel's bin counts.
        let predicted = self
            .model_panel
            .predictions
            .get(&self.timeline.step)
            .and_then(|p| p.prediction.chunk.bins.first().copied())
            .filter(|_| {
                self.model_panel.info.as_ref().map(|i| i.grid_counts) == Some(cfg.grid.bin_counts())
            });
        egui::ScrollArea::vertical().show(ui, |ui| {
            let before = self.stats_choice.clone();
            grid_panel_ui(
                ui,
                &cfg,
                self.episode_stats.as_ref(),
                &mut self.stats_choice,
                action,
                predicted.as_ref(),
            );
            if self.stats_choice != before {
                self.settings.unnorm_key = match &self.stats_choice {
                    StatsChoice::Key(k) => Some(k.clone()),
                    StatsChoice::Episode => None,
                };
            }
        });
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) -> Option<Intent> {
        let mut intent = None;
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open folder…").clicked() {
                    intent = Some(Intent::PickPath { folder: true });
                }
                if ui.button("Open file…").clicked() {
                    intent = Some(Intent::PickPath { folder: false });
                }
                if let Some(root) = &self.root
                    && ui.button("Reload").clicked()
                {
                    intent = Some(Intent::Open(root.clone()));
                }
                ui.separator();
                let has_episode = self.episode.is_some();
                if ui
                    .add_enabled(
                        has_episode,
                        egui::Button::new("Save episode as Rerun .rrd…"),
                    )
                    .clicked()
                {
                    intent = Some(Intent::SaveRecording);
                }
                if ui
                    .add_enabled(
                        has_episode,
                        egui::Button::new("Send episode to Rerun viewer"),
                    )
                    .on_hover_text(exports::DEFAULT_VIEWER)
                    .clicked()
                {
                    intent = Some(Intent::SendToRerun);
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.settings.show_depth, "Depth views");
                ui.checkbox(&mut self.settings.show_proprio, "Proprio plots");
                ui.checkbox(&mut self.settings.show_grid, "Action grid panel");
                ui.checkbox(&mut self.settings.show_model, "Model panel");
                ui.checkbox(&mut self.distribution.open, "Action distribution…");
                ui.checkbox(&mut self.settings.loop_playback, "Loop playback");
                ui.add(
                    egui::Slider::new(&mut self.settings.fallback_fps, 0.5..=60.0)
                        .text("fps when unknown"),
                );
            });
            ui.separator();
            ui.weak("Drop a dataset folder or file here · Left/Right step · Space play · Home/End");
        });
        intent
    }

    fn header_ui(&self, ui: &mut egui::Ui) {
        match &self.episode {
            Some(ep) => {
                let instruction = if ep.instruction.is_empty() {
                    "(no instruction)"
                } else {
                    ep.instruction.as_str()
                };
                ui.label(
                    egui::RichText::new(format!("“{instruction}”"))
                        .size(theme::INSTRUCTION_SIZE)
                        .strong(),
                );
                ui.horizontal_wrapped(|ui| {
                    ui.weak(format!(
                        "{} · {} · {} steps · {} · {}",
                        ep.name,
                        ep.source.format.label(),
                        ep.num_steps(),
                        ep.fps
                            .map_or("fps unknown".to_owned(), |f| format!("{f} fps")),
                        ep.source.path.display()
                    ));
                });
                for n in &ep.notes {
                    ui.colored_label(theme::WARN_TEXT, format!("note: {n}"));
                }
            }
            None => {
                ui.label(egui::RichText::new("No episode open").size(theme::INSTRUCTION_SIZE));
                ui.weak(
                    "File > Open, drop a folder on the window, or start with `spatialscope PATH`.",
                );
            }
        }
    }

    fn central_ui(&mut self, ui: &mut egui::Ui) -> Option<Intent> {
        let ep = self.episode.clone()?;
        let mut intent = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                let n = ep.cameras.len().max(1);
                let spacing = ui.spacing().item_spacing.x;
                let width =
                    ((ui.available_width() - spacing * (n as f32 - 1.0)) / n as f32).max(96.0);
                let attention = self.attention_overlay();
                ui.horizontal_top(|ui| {
                    for (ci, cam) in ep.cameras.iter().enumerate() {
                        let frame = self.frame.as_ref().and_then(|f| f.cameras.get(ci));
                        let overlay = attention
                            .as_ref()
                            .filter(|a| a.0 == ci)
                            .map(|a| (a.1.as_slice(), a.2, a.3));
                        if let Some(t) = self.textures.get(ci) {
                            camera_ui(ui, cam, frame, t, width, self.settings.show_depth, overlay);
                        }
                    }
                });
                let depth_cams: Vec<(usize, &str)> = ep
                    .cameras
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.has_depth && c.intrinsics.is_some())
                    .map(|(i, c)| (i, c.name.as_str()))
                    .collect();
                if !depth_cams.is_empty()
                    && crate::ui::view3d::camera_toggles_ui(ui, &mut self.view3d, &depth_cams)
                {
                    self.worker.send(Command::SetCloudCameras {
                        episode_uid: ep.uid,
                        hidden: self.view3d.hidden_cameras.clone(),
                        model_view: self.view3d.model_view,
                        model_view_bf16: self.view3d.model_view_bf16,
                        step: self.timeline.step,
                    });
                }
                if let Some(cloud) = self.frame.as_ref().and_then(|f| f.cloud.clone()) {
                    ui.separator();
                    let lines = self.scene_lines();
                    let attention = self.attention_values().map(|a| Arc::new(a.1));
                    let cameras =
                        view_cameras(&ep, self.timeline.step, &self.view3d.hidden_cameras);
                    crate::ui::view3d::view3d_ui(
                        ui,
                        &mut self.view3d,
                        crate::ui::view3d::View3dInput {
                            cloud: &cloud,
                            lines: &lines,
                            attention,
                            cameras: &cameras,
                        },
                        theme::VIEW3D_HEIGHT,
                    );
                    let ctx = ui.ctx().clone();
                    self.take_png_request(&ctx);
                }
                if let Some(f) = &self.frame
                    && f.step != self.timeline.step
                {
                    ui.weak(format!(
                        "showing step {} while step {} decodes…",
                        f.step, self.timeline.step
                    ));
                }
                ui.separator();
                let overlay = self.prediction_overlay();
                if let Some(data) = self.plot_data.as_ref().filter(|d| d.is_for(ep.uid))
                    && let Some(s) = plots::plots_ui(
                        ui,
                        data,
                        self.timeline.step,
                        self.settings.show_proprio,
                        overlay.as_ref(),
                    )
                {
                    intent = Some(Intent::StepChanged(s));
                }
            });
        intent
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
        intents.extend(crate::ui::distribution_panel::distribution_window(
            &ctx,
            &mut self.distribution,
            current.as_ref().map(|(d, n)| (*d, n.as_str())),
            &source,
        ));

        for i in intents {
            self.apply(i, &ctx);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.settings);
    }
}

/// The cameras the 3-D view can look through at `step`: shown, with intrinsics and a pose.
fn view_cameras(ep: &Episode, step: usize, hidden: &[usize]) -> Vec<crate::ui::view3d::ViewCamera> {
    ep.cameras
        .iter()
        .enumerate()
        .filter(|(i, c)| !hidden.contains(i) && !c.placeholder)
        .filter_map(|(index, c)| {
            let k = c.intrinsics?;
            let pose = c.poses.world_from_camera(step)?;
            Some(crate::ui::view3d::ViewCamera {
                index,
                name: c.name.clone(),
                world_from_camera: *pose,
                fx: k.fx_px,
                fy: k.fy_px,
                cx: k.cx_px,
                cy: k.cy_px,
                width: f64::from(k.width_px),
                height: f64::from(k.height_px),
            })
        })
        .collect()
}
