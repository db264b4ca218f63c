//! The background worker: owns the open datasets and the frame cache, and does every piece
//! of disk I/O and decoding, so the UI thread never waits.
//!
//! The UI sends [`Command`]s and reads [`WorkerMessage`]s. Frame requests are latest-wins:
//! before serving one, the worker drains its inbox and keeps only the newest request, so
//! scrubbing never queues a backlog. Low-priority work (episode summaries, prefetching the
//! next frames) runs in small pieces between inbox checks and is dropped on `Cancel` or when
//! superseded.

mod messages;

pub use messages::{CameraFrame, Command, DatasetInfo, FrameBundle, UserError, WorkerMessage};

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use crate::episode::{self, Collection, Episode, EpisodeError, FrameCache};

/// Handle held by the UI.
pub struct WorkerHandle {
    tx: Sender<Command>,
    rx: Receiver<WorkerMessage>,
}

impl WorkerHandle {
    /// Starts the worker thread. `wake` is called after every message (egui's
    /// `request_repaint`).
    pub fn spawn(wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, cmd_rx) = std::sync::mpsc::channel();
        let (msg_tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("spatialscope-worker".to_owned())
            .spawn(move || Worker::new(cmd_rx, msg_tx, wake).run());
        if let Err(e) = spawned {
            log::error!("cannot start the worker thread: {e}");
        }
        Self { tx, rx }
    }

    pub fn send(&self, cmd: Command) {
        // The worker only stops when this handle is dropped; a send error means it died,
        // which `try_recv` then reports.
        let _ = self.tx.send(cmd);
    }

    /// Next message, if any (never blocks).
    pub fn try_recv(&self) -> Option<WorkerMessage> {
        self.rx.try_recv().ok()
    }

    /// Blocks up to `timeout` for a message (tests and the CLI only; never the UI).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<WorkerMessage> {
        self.rx.recv_timeout(timeout).ok()
    }
}

enum Background {
    Summary {
        dataset: usize,
        episode: usize,
    },
    Prefetch {
        episode_uid: u64,
        step: usize,
    },
    Distribution {
        dataset: usize,
        job: Box<crate::analysis::DistributionJob>,
    },
}

struct Worker {
    rx: Receiver<Command>,
    tx: Sender<WorkerMessage>,
    wake: Arc<dyn Fn() + Send + Sync>,
    cache: Arc<FrameCache>,
    collection: Option<Collection>,
    episode: Option<Arc<Episode>>,
    background: VecDeque<Background>,
    grid: Option<Arc<crate::action_grid::ProcessorConfig>>,
    /// Stops the running export (set by `Cancel`).
    export_cancel: Arc<std::sync::atomic::AtomicBool>,
    /// Camera indices left out of the 3-D cloud.
    hidden_cameras: Vec<usize>,
    /// Show the model's Ego3D samples of the first shown depth camera instead.
    model_view: bool,
    model_view_bf16: bool,
    summaries_total: usize,
    summaries_done: usize,
}

/// Frames decoded ahead of the current step during playback or stepping.
const PREFETCH_STEPS: usize = 4;

impl Worker {
    fn new(
        rx: Receiver<Command>,
        tx: Sender<WorkerMessage>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            rx,
            tx,
            wake,
            cache: Arc::new(FrameCache::default()),
            collection: None,
            episode: None,
            background: VecDeque::new(),
            grid: None,
            export_cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            hidden_cameras: Vec::new(),
            model_view: false,
            model_view_bf16: false,
            summaries_total: 0,
            summaries_done: 0,
        }
    }

    fn send(&self, m: WorkerMessage) {
        let _ = self.tx.send(m);
        (self.wake)();
    }

    fn run(mut self) {
        loop {
            let busy = !self.background.is_empty();
            match crate::inbox::next_commands(&self.rx, busy, |c| {
                matches!(c, Command::ShowStep { .. })
            }) {
                crate::inbox::Next::Commands(cmds) => {
                    for c in cmds {
                        self.handle(c);
                    }
                }
                crate::inbox::Next::Idle => self.background_step(),
                crate::inbox::Next::Closed => return, // UI gone
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Open(path) => self.open(path),
            Command::SetOrientation {
                dataset,
                orientation,
            } => self.set_orientation(dataset, orientation),
            Command::OpenEpisode { dataset, episode } => self.open_episode(dataset, episode),
            Command::ShowStep { episode_uid, step } => {
                self.background
                    .retain(|b| !matches!(b, Background::Prefetch { .. }));
                self.show_step(episode_uid, step);
            }
            Command::Cancel => {
                self.export_cancel
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.background.clear();
                self.send(WorkerMessage::Idle);
            }
            Command::ExportRecording {
                episode_uid,
                predictions,
                target,
            } => match self.episode.clone().filter(|e| e.uid == episode_uid) {
                Some(_)
                    if self.refuse_dataset_path(match &target {
                        crate::export_jobs::RecordingTarget::File(p) => Some(p),
                        crate::export_jobs::RecordingTarget::Viewer(_) => None,
                    }) => {}
                Some(ep) => {
                    self.export_cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    crate::export_jobs::spawn_recording(
                        ep,
                        predictions,
                        target,
                        self.export_cancel.clone(),
                        self.tx.clone(),
                        self.wake.clone(),
                    );
                }
                None => self.send(WorkerMessage::Error(UserError {
                    file: None,
                    message: "export: that episode is no longer open".into(),
                })),
            },
            Command::SaveViewPng(req) => {
                if !self.refuse_dataset_path(Some(&req.path)) {
                    crate::export_jobs::spawn_png(*req, self.tx.clone(), self.wake.clone());
                }
            }
            Command::LoadGrid(path) => match crate::action_grid::ProcessorConfig::load(&path) {
                Ok(cfg) => {
                    let cfg = Arc::new(cfg);
                    self.grid = Some(cfg.clone());
                    self.send(WorkerMessage::GridLoaded(cfg));
                }
                Err(e) => self.send(WorkerMessage::Error(UserError {
                    file: Some(path),
                    message: format!("action grid: {e}"),
                })),
            },
            Command::SetCloudCameras {
                episode_uid,
                hidden,
                model_view,
                model_view_bf16,
                step,
            } => {
                self.hidden_cameras = hidden;
                self.model_view = model_view;
                self.model_view_bf16 = model_view_bf16;
                self.show_step(episode_uid, step);
            }
            Command::ComputeDistribution {
                dataset,
                source,
                noop_threshold,
            } => {
                let Some(d) = self.dataset(dataset) else {
                    return;
                };
                let job = Box::new(crate::analysis::DistributionJob::new(
                    d,
                    source,
                    noop_threshold,
                ));
                self.background
                    .retain(|b| !matches!(b, Background::Distribution { .. }));
                self.background
                    .push_back(Background::Distribution { dataset, job });
            }
        }
    }

    /// Dataset `i` of the open collection.
    /// Reports and returns true when `path` is inside an open dataset (never written to).
    fn refuse_dataset_path(&self, path: Option<&PathBuf>) -> bool {
        let (Some(path), Some(c)) = (path, &self.collection) else {
            return false;
        };
        match crate::cli::ensure_outside_datasets(path, c) {
            Ok(()) => false,
            Err(e) => {
                self.send(WorkerMessage::Error(UserError {
                    file: Some(path.clone()),
                    message: e.to_string(),
                }));
                true
            }
        }
    }

    fn dataset(&self, i: usize) -> Option<&episode::Dataset> {
        self.collection.as_ref().and_then(|c| c.datasets.get(i))
    }

    /// Marks the episode as failed in the list and shows the error.
    fn report_episode_failure(&self, dataset: usize, episode: usize, e: &EpisodeError) {
        self.send(WorkerMessage::EpisodeFailed {
            dataset,
            episode,
            error: e.into(),
        });
        self.send(WorkerMessage::Error(e.into()));
    }

    fn open(&mut self, path: PathBuf) {
        self.background.clear();
        self.send(WorkerMessage::Progress {
            task: format!("opening {}", path.display()),
            done: 0,
            total: 0,
        });
        match episode::open_path(&path) {
            Ok(c) => {
                for p in &c.problems {
                    self.send(WorkerMessage::Error(p.into()));
                }
                for d in &c.datasets {
                    for p in &d.problems {
                        self.send(WorkerMessage::Error(p.into()));
                    }
                }
                let datasets = c.datasets.iter().map(DatasetInfo::of).collect();
                for (di, d) in c.datasets.iter().enumerate() {
                    for i in 0..d.len() {
                        let s = d.quick_summary(i);
                        if s.instruction.is_none() || s.num_steps.is_none() {
                            self.background.push_back(Background::Summary {
                                dataset: di,
                                episode: i,
                            });
                        }
                    }
                }
                self.summaries_total = self.background.len();
                self.summaries_done = 0;
                self.send(WorkerMessage::CollectionOpened {
                    root: path,
                    datasets,
                });
                self.collection = Some(c);
                self.episode = None;
                if self.background.is_empty() {
                    self.send(WorkerMessage::Idle);
                }
            }
            Err(e) => {
                self.send(WorkerMessage::Error((&e).into()));
                self.send(WorkerMessage::Idle);
            }
        }
    }

    fn set_orientation(&mut self, dataset: usize, orientation: episode::ImageOrientation) {
        let Some(c) = self.collection.as_mut() else {
            return;
        };
        let Some(d) = c.datasets.get_mut(dataset) else {
            return;
        };
        match episode::Dataset::open_hdf5(&d.root, orientation) {
            Ok(new) => {
                *d = new;
                let info = DatasetInfo::of(d);
                self.episode = None;
                self.send(WorkerMessage::DatasetReplaced {
                    dataset,
                    info: Box::new(info),
                });
            }
            Err(e) => self.send(WorkerMessage::Error((&e).into())),
        }
    }

    fn open_episode(&mut self, dataset: usize, episode: usize) {
        let Some(c) = &self.collection else { return };
        let Some(d) = c.datasets.get(dataset) else {
            return;
        };
        // Camera indices belong to an episode: a new one starts with every camera shown.
        self.hidden_cameras.clear();
        self.model_view = false;
        match d.open_episode(episode, &self.cache) {
            Ok(ep) => {
                let ep = Arc::new(ep);
                self.episode = Some(ep.clone());
                self.send(WorkerMessage::EpisodeOpened {
                    dataset,
                    episode,
                    data: ep,
                });
            }
            Err(e) => {
                self.report_episode_failure(dataset, episode, &e);
            }
        }
    }

    fn decode_step(
        ep: &Episode,
        step: usize,
        hidden: &[usize],
        model_view: Option<bool>,
        grid: Option<&crate::action_grid::ProcessorConfig>,
    ) -> FrameBundle {
        let cameras = (0..ep.cameras.len())
            .map(|ci| {
                let rgb = ep.rgb(step, ci).map_err(|e| UserError::from(&e));
                let rgb_image = rgb.as_ref().ok().map(|img| {
                    Arc::new(egui::ColorImage::from_rgb(
                        [img.width_px as usize, img.height_px as usize],
                        &img.pixels,
                    ))
                });
                let depth = match ep.depth(step, ci) {
                    Ok(Some(d)) => Some(Ok(d)),
                    Ok(None) => None,
                    Err(e) => Some(Err(UserError::from(&e))),
                };
                let (depth_image, depth_range_m) = match &depth {
                    Some(Ok(d)) => {
                        let range =
                            crate::colormap::robust_depth_range_m(&d.depth_m).unwrap_or((0.0, 1.0));
                        let rgba = crate::colormap::depth_to_rgba(&d.depth_m, range.0, range.1);
                        let img = egui::ColorImage::from_rgba_unmultiplied(
                            [d.width_px as usize, d.height_px as usize],
                            &rgba,
                        );
                        (Some(Arc::new(img)), Some(range))
                    }
                    _ => (None, None),
                };
                CameraFrame {
                    rgb,
                    rgb_image,
                    depth,
                    depth_image,
                    depth_range_m,
                }
            })
            .collect();
        let cloud = if let Some(bf16) = model_view {
            let primary = (0..ep.cameras.len()).find(|c| {
                !hidden.contains(c)
                    && ep.cameras[*c].has_depth
                    && ep.cameras[*c].intrinsics.is_some()
            });
            primary.and_then(|c| crate::scene::model_view_cloud(ep, step, c, bf16))
        } else {
            crate::scene::step_cloud(ep, step, |c| !hidden.contains(&c)).ok()
        }
        .filter(|c| !c.points.is_empty())
        .map(Arc::new);
        let lines = cloud.as_ref().map(|c| {
            let mut lines =
                crate::scene_lines::step_lines(ep, step, hidden, c.world_frame, Some(c));
            if model_view.is_some() {
                lines = lines.merged(&crate::scene_lines::patch_outlines(c, 2));
            }
            if let Some(wedge) = grid
                .filter(|_| c.world_frame)
                .and_then(|g| crate::scene_lines::step_wedge(ep, step, g))
            {
                lines = lines.merged(&wedge);
            }
            Arc::new(lines)
        });
        FrameBundle {
            episode_uid: ep.uid,
            step,
            cameras,
            cloud,
            lines,
        }
    }

    fn show_step(&mut self, episode_uid: u64, step: usize) {
        let Some(ep) = self.episode.clone() else {
            return;
        };
        if ep.uid != episode_uid || step >= ep.num_steps() {
            return;
        }
        let model_view = self.model_view.then_some(self.model_view_bf16);
        let bundle = Self::decode_step(
            &ep,
            step,
            &self.hidden_cameras,
            model_view,
            self.grid.as_deref(),
        );
        self.send(WorkerMessage::Frame(Arc::new(bundle)));
        // Nearest steps first, ahead of any remaining summary work.
        for s in (step + 1..ep.num_steps()).take(PREFETCH_STEPS).rev() {
            self.background.push_front(Background::Prefetch {
                episode_uid,
                step: s,
            });
        }
    }

    fn background_step(&mut self) {
        let Some(job) = self.background.pop_front() else {
            return;
        };
        match job {
            Background::Prefetch { episode_uid, step } => {
                if let Some(ep) = &self.episode
                    && ep.uid == episode_uid
                {
                    for ci in 0..ep.cameras.len() {
                        // Errors surface when the step is shown; prefetch only warms the cache.
                        let _ = ep.rgb(step, ci);
                        let _ = ep.depth(step, ci);
                    }
                }
            }
            Background::Distribution { dataset, mut job } => {
                let Some(d) = self.dataset(dataset) else {
                    return;
                };
                job.step(d, &self.cache);
                let (done, total) = job.progress();
                self.send(WorkerMessage::Progress {
                    task: "action distribution".to_owned(),
                    done,
                    total,
                });
                if !job.is_done() {
                    self.background
                        .push_back(Background::Distribution { dataset, job });
                    return;
                }
                for e in &job.skipped {
                    self.send(WorkerMessage::Error(e.into()));
                }
                let result = match &self.grid {
                    Some(cfg) => job.finish(cfg).map_err(|e| e.to_string()),
                    None => Err("no action grid is loaded".to_owned()),
                };
                match result {
                    Ok(r) => self.send(WorkerMessage::Distribution {
                        dataset,
                        result: Arc::new(r),
                    }),
                    Err(message) => self.send(WorkerMessage::Error(UserError {
                        file: None,
                        message: format!("action distribution: {message}"),
                    })),
                }
                self.send(WorkerMessage::Idle);
            }
            Background::Summary { dataset, episode } => {
                let Some(c) = &self.collection else { return };
                let Some(d) = c.datasets.get(dataset) else {
                    return;
                };
                let result = d.summarize(episode);
                self.summaries_done += 1;
                match result {
                    Ok(summary) => self.send(WorkerMessage::SummaryUpdated {
                        dataset,
                        episode,
                        summary,
                    }),
                    Err(e) => {
                        self.report_episode_failure(dataset, episode, &e);
                    }
                }
                self.send(WorkerMessage::Progress {
                    task: "reading episode metadata".to_owned(),
                    done: self.summaries_done,
                    total: self.summaries_total,
                });
                if !self
                    .background
                    .iter()
                    .any(|b| matches!(b, Background::Summary { .. }))
                {
                    self.send(WorkerMessage::Idle);
                }
            }
        }
    }
}
