//! The frame worker: owns the open datasets and the frame cache, and does every piece of
//! disk I/O and decoding, so the UI thread never waits.
//!
//! The UI sends [`Command`]s and reads [`WorkerMessage`]s. Frame requests are latest-wins:
//! before serving one, the worker drains its inbox and keeps only the newest request, so
//! scrubbing never queues a backlog. Low-priority work (episode summaries, prefetching the
//! next frames) runs in small pieces between inbox checks and is dropped on `Cancel` or when
//! superseded.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use super::messages::{Command, DatasetInfo, UserError, WorkerMessage};
use crate::episode::{self, Collection, Episode, EpisodeError, FrameCache};
use crate::scene::SceneOptions;

/// The UI's handle on the frame worker.
pub type WorkerHandle = super::Handle<Command, WorkerMessage>;

/// Starts the frame worker. `wake` is called after every message (egui's `request_repaint`).
pub fn spawn(wake: super::Wake) -> WorkerHandle {
    super::Handle::spawn("spatialscope-worker", move |rx, tx| {
        Worker::new(rx, tx, wake).run()
    })
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
        job: Box<crate::pipeline::distribution::DistributionJob>,
    },
    Doctor {
        dataset: usize,
        job: Box<crate::pipeline::doctor::DoctorJob>,
    },
}

struct Worker {
    rx: Receiver<Command>,
    tx: Sender<WorkerMessage>,
    wake: super::Wake,
    cache: Arc<FrameCache>,
    collection: Option<Collection>,
    episode: Option<Arc<Episode>>,
    background: VecDeque<Background>,
    grid: Option<Arc<crate::action_grid::ProcessorConfig>>,
    /// Stops the running export (set by `Cancel`).
    export_cancel: Arc<std::sync::atomic::AtomicBool>,
    summaries_total: usize,
    summaries_done: usize,
}

/// Frames decoded ahead of the current step during playback or stepping.
const PREFETCH_STEPS: usize = 4;

impl Worker {
    fn new(rx: Receiver<Command>, tx: Sender<WorkerMessage>, wake: super::Wake) -> Self {
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
            summaries_total: 0,
            summaries_done: 0,
        }
    }

    fn send(&self, m: WorkerMessage) {
        super::send_and_wake(&self.tx, &self.wake, m);
    }

    fn run(mut self) {
        loop {
            let busy = !self.background.is_empty();
            match super::inbox::next_commands(&self.rx, busy, |c| {
                matches!(c, Command::ShowStep { .. })
            }) {
                super::inbox::Next::Commands(cmds) => {
                    for c in cmds {
                        self.handle(c);
                    }
                }
                super::inbox::Next::Idle => self.background_step(),
                super::inbox::Next::Closed => return, // UI gone
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
            Command::ShowStep {
                episode_uid,
                step,
                scene,
            } => {
                self.background
                    .retain(|b| !matches!(b, Background::Prefetch { .. }));
                self.show_step(episode_uid, step, &scene);
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
                jpeg_quality,
            } => match self.episode.clone().filter(|e| e.uid == episode_uid) {
                Some(_)
                    if self.refuse_dataset_path(match &target {
                        super::export::RecordingTarget::File(p) => Some(p),
                        super::export::RecordingTarget::Viewer(_) => None,
                    }) => {}
                Some(ep) => {
                    self.export_cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    super::export::spawn_recording(
                        ep,
                        predictions,
                        target,
                        jpeg_quality,
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
                    super::export::spawn_png(*req, self.tx.clone(), self.wake.clone());
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
            Command::ComputeDistribution {
                dataset,
                source,
                noop_threshold,
            } => {
                let Some(d) = self.dataset(dataset) else {
                    return;
                };
                let job = Box::new(crate::pipeline::distribution::DistributionJob::new(
                    d,
                    source,
                    noop_threshold,
                ));
                self.background
                    .retain(|b| !matches!(b, Background::Distribution { .. }));
                self.background
                    .push_back(Background::Distribution { dataset, job });
            }
            Command::LoadBookmarks(file) => {
                let result = crate::util::bookmarks::load(&file).map_err(|e| format!("{e:#}"));
                self.send(WorkerMessage::BookmarksLoaded { file, result });
            }
            Command::SaveBookmarks { file, all } => {
                if let Err(e) = crate::util::bookmarks::save(&file, &all) {
                    self.send(WorkerMessage::Error(UserError {
                        file: Some(file),
                        message: format!("bookmarks: {e:#}"),
                    }));
                }
            }
            Command::ExportBookmarks { dir, list } => {
                if self.refuse_dataset_path(Some(&dir)) {
                    return;
                }
                let write = || -> anyhow::Result<usize> {
                    use crate::util::bookmarks as bm;
                    std::fs::create_dir_all(&dir)?;
                    for (name, text) in [
                        ("bookmarks.csv", bm::to_csv(&list)),
                        ("bookmarks.json", serde_json::to_string_pretty(&list)?),
                        (
                            "bookmarks_lerobot.txt",
                            bm::lerobot_episode_list(&list) + "\n",
                        ),
                    ] {
                        let f = dir.join(name);
                        crate::util::fs::write_atomically(&f, |tmp| {
                            Ok(std::fs::write(tmp, &text)?)
                        })?;
                    }
                    match &self.collection {
                        Some(c) => super::export::bookmark_recordings(c, &self.cache, &list, &dir),
                        None => Ok(0),
                    }
                };
                match write() {
                    Ok(rrd) => self.send(WorkerMessage::Exported(format!(
                        "{} bookmarks written to {} (csv, json, LeRobot episode list, {rrd} Rerun recordings of the bookmarked steps)",
                        list.len(),
                        dir.display()
                    ))),
                    Err(e) => self.send(WorkerMessage::Error(UserError {
                        file: Some(dir),
                        message: format!("bookmarks export: {e:#}"),
                    })),
                }
            }
            Command::FindStores { dir, root } => self.send(WorkerMessage::StoresFound(
                crate::pipeline::eval::registry::stores_for(&dir, &root),
            )),
            Command::OpenStore {
                path,
                slot,
                compare_with,
            } => match crate::pipeline::eval::LoadedStore::read(&path) {
                Ok(store) => {
                    let comparison = compare_with.map(|a| {
                        Arc::new(crate::pipeline::eval::compare::compare(
                            (&a.manifest, &a.rows),
                            (&store.manifest, &store.rows),
                        ))
                    });
                    self.send(WorkerMessage::StoreOpened {
                        slot,
                        store: Arc::new(store),
                        comparison,
                    });
                }
                Err(e) => self.send(WorkerMessage::Error(UserError {
                    file: Some(path),
                    message: format!("evaluation store: {e:#}"),
                })),
            },
            Command::RunDoctor { dataset, options } => {
                let (Some(d), Some(cfg)) = (self.dataset(dataset), self.grid.clone()) else {
                    self.send(WorkerMessage::Error(UserError {
                        file: None,
                        message: "doctor: no dataset or no action grid is loaded".to_owned(),
                    }));
                    return;
                };
                let job = Box::new(crate::pipeline::doctor::DoctorJob::new(
                    d,
                    &cfg,
                    &self.cache,
                    options,
                ));
                self.background
                    .retain(|b| !matches!(b, Background::Doctor { .. }));
                self.background
                    .push_back(Background::Doctor { dataset, job });
            }
        }
    }

    /// Dataset `i` of the open collection.
    /// Reports and returns true when `path` is inside an open dataset (never written to).
    fn refuse_dataset_path(&self, path: Option<&PathBuf>) -> bool {
        let (Some(path), Some(c)) = (path, &self.collection) else {
            return false;
        };
        match c.ensure_outside(path) {
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

    fn show_step(&mut self, episode_uid: u64, step: usize, options: &SceneOptions) {
        let Some(ep) = self.episode.clone() else {
            return;
        };
        if ep.uid != episode_uid || step >= ep.num_steps() {
            return;
        }
        let bundle = super::step_bundle::step_bundle(&ep, step, options, self.grid.as_deref());
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
            Background::Doctor { dataset, mut job } => {
                let Some(d) = self.dataset(dataset) else {
                    return;
                };
                job.step(d, &self.cache);
                let (done, total) = job.progress();
                self.send(WorkerMessage::Progress {
                    task: "doctor".to_owned(),
                    done,
                    total,
                });
                if !job.is_done() {
                    self.background
                        .push_back(Background::Doctor { dataset, job });
                    return;
                }
                let Some(cfg) = self.grid.clone() else { return };
                let Some(d) = self.dataset(dataset) else {
                    return;
                };
                let result = Arc::new(job.finish(d, &cfg));
                self.send(WorkerMessage::Doctor { dataset, result });
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
