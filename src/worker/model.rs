//! The model thread: loads a checkpoint and runs SpatialVLA off the UI thread, apart from
//! the frame worker so that decoding frames never waits behind inference. Each prediction
//! comes with its depth view (`scene::depth_view`), built here so the UI only uploads it.
//!
//! Single-frame requests are latest-wins: sending one sets a shared cancel flag, so a
//! generation still running for an older frame stops at its next token and the thread
//! serves only the newest request. A whole-episode run proceeds one step at a time between
//! inbox checks, reports progress, and stops on `Cancel`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use candle_core::DType;

use super::UserError;
use crate::episode::Episode;
use crate::model::{ModelError, Predictor};
use crate::pipeline::{RunSettings, StepPrediction, predict_step};
use crate::scene::DepthView;

/// What the app asks of the model.
#[derive(Debug, Clone)]
pub enum ModelCommand {
    /// Load a checkpoint folder (replaces the current one) on a device, in a dtype.
    Load {
        dir: PathBuf,
        device: crate::model::device::DeviceChoice,
        bf16: bool,
    },
    /// Predict one step (latest wins).
    Predict {
        episode: Arc<Episode>,
        step: usize,
        settings: RunSettings,
    },
    /// Predict every step of an episode in the background.
    RunEpisode {
        episode: Arc<Episode>,
        settings: RunSettings,
    },
    /// Stop the episode run and any generation in flight.
    Cancel,
    /// Load Depth Anything V2 weights (a `.safetensors` file or a folder holding one).
    LoadExpert(PathBuf),
    /// Compare one camera frame's raw depth with depth experts (`worker::expert`).
    CompareDepth {
        episode: Arc<Episode>,
        step: usize,
        request: super::expert::ExpertRequest,
    },
    /// Load SPA ViT weights (`.safetensors`).
    LoadSpa(PathBuf),
    /// Feature maps (and alignment) of one step (`worker::features`).
    Features {
        episode: Arc<Episode>,
        step: usize,
        request: crate::pipeline::probe::view::FeatureRequest,
    },
    /// The probe or the alignment series over an episode, one frame between commands.
    FeatureRun {
        episode: Arc<Episode>,
        settings: RunSettings,
        kind: super::features::FeatureRunKind,
    },
    CancelFeatureRun,
}

/// A loaded checkpoint, as the UI shows it.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub label: String,
    pub random_weights: bool,
    pub unnorm_keys: Vec<String>,
    pub parameter_count: usize,
    pub load_ms: f64,
    pub uses_depth: bool,
    pub has_zoe_weights: bool,
    /// Why depth cannot be estimated (no ZoeDepth weights or config); `None` when it can.
    pub zoe_unavailable: Option<String>,
    /// Bin counts of the checkpoint's action grid (the grid panel draws the model's bin
    /// only when they match its own).
    pub grid_counts: crate::action_grid::BinCounts,
    /// Entries of the checkpoint's intrinsics table.
    pub intrinsics_entries: Vec<String>,
    /// Gemma2 layers (the Features panel's layer menu).
    pub decoder_layers: usize,
    /// Where it runs (`CPU`, `CUDA`) and, when the chosen device could not be used, why.
    pub device: String,
    pub device_note: Option<String>,
    pub dtype: String,
    /// Memory the weights take on the device.
    pub weight_bytes: u64,
}

#[derive(Debug, Clone)]
pub enum ModelMessage {
    Loading(PathBuf),
    Loaded(Box<ModelInfo>),
    LoadFailed(UserError),
    Predicted {
        episode_uid: u64,
        result: Arc<StepPrediction>,
        /// Estimated vs sensor depth at the model input, with clouds for the 3-D view.
        depth_view: Option<Arc<DepthView>>,
    },
    PredictFailed {
        episode_uid: u64,
        step: usize,
        error: UserError,
    },
    Progress {
        done: usize,
        total: usize,
    },
    /// The episode run finished or was cancelled.
    RunFinished {
        done: usize,
        total: usize,
        cancelled: bool,
    },
    ExpertLoaded {
        path: PathBuf,
        label: String,
    },
    ExpertLoadFailed(UserError),
    DepthCompared {
        episode_uid: u64,
        view: Arc<crate::scene::expert_view::ExpertView>,
    },
    DepthCompareFailed {
        episode_uid: u64,
        step: usize,
        error: UserError,
    },
    SpaLoaded {
        path: PathBuf,
        label: String,
    },
    SpaLoadFailed(UserError),
    FeaturesComputed(Arc<crate::pipeline::probe::view::FeatureView>),
    FeaturesFailed {
        episode_uid: u64,
        step: usize,
        error: UserError,
    },
    FeatureRunProgress {
        done: usize,
        total: usize,
    },
    Probed {
        episode_uid: u64,
        report: Arc<crate::pipeline::probe::ProbeReport>,
    },
    AlignedEpisode {
        episode_uid: u64,
        series: Arc<super::features::AlignSeries>,
    },
    /// The feature run failed or was cancelled.
    FeatureRunFailed(UserError),
}

/// The UI's handle on the model thread. Sending a single-frame request, a load or a cancel
/// raises the shared cancel flag first, so a generation in flight stops at its next token.
pub struct ModelHandle {
    inner: super::Handle<ModelCommand, ModelMessage>,
    cancel: Arc<AtomicBool>,
}

impl ModelHandle {
    pub fn spawn(wake: super::Wake) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let inner = super::Handle::spawn("spatialscope-model", move |rx, tx| {
            ModelThread {
                rx,
                tx,
                wake,
                cancel: flag,
                predictor: None,
                expert: None,
                run: None,
                features: Default::default(),
                feature_run: None,
            }
            .run()
        });
        ModelHandle { inner, cancel }
    }

    pub fn send(&self, cmd: ModelCommand) {
        if matches!(
            cmd,
            ModelCommand::Predict { .. } | ModelCommand::Cancel | ModelCommand::Load { .. }
        ) {
            self.cancel.store(true, Ordering::Relaxed);
        }
        self.inner.send(cmd);
    }

    pub fn try_recv(&self) -> Option<ModelMessage> {
        self.inner.try_recv()
    }

    /// Blocks up to `timeout` (tests only).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<ModelMessage> {
        self.inner.recv_timeout(timeout)
    }
}

struct EpisodeRun {
    episode: Arc<Episode>,
    settings: RunSettings,
    next: usize,
}

pub(super) struct ModelThread {
    rx: Receiver<ModelCommand>,
    tx: Sender<ModelMessage>,
    wake: super::Wake,
    cancel: Arc<AtomicBool>,
    pub(super) predictor: Option<Predictor>,
    /// Depth Anything V2, when loaded (`worker::expert`).
    pub(super) expert: Option<crate::model::depth_anything::DepthAnythingV2>,
    run: Option<EpisodeRun>,
    /// SPA, the projector and per-episode PCA fits (`worker::features`).
    pub(super) features: crate::pipeline::probe::view::FeatureState,
    pub(super) feature_run: Option<super::features::FeatureRun>,
}

pub(super) fn user_error(file: Option<PathBuf>, e: impl std::fmt::Display) -> UserError {
    UserError {
        file,
        message: e.to_string(),
    }
}

impl ModelThread {
    pub(super) fn send(&self, m: ModelMessage) {
        super::send_and_wake(&self.tx, &self.wake, m);
    }

    fn run(mut self) {
        loop {
            let busy = self.run.is_some() || self.feature_run.is_some();
            match super::inbox::next_commands(&self.rx, busy, |c| {
                matches!(c, ModelCommand::Predict { .. })
            }) {
                super::inbox::Next::Commands(cmds) => {
                    // The flag was set by the UI to stop older work; the newest work starts clean.
                    self.cancel.store(false, Ordering::Relaxed);
                    for c in cmds {
                        self.handle(c);
                    }
                }
                super::inbox::Next::Idle if self.run.is_some() => self.run_step(),
                super::inbox::Next::Idle => self.feature_run_step(),
                super::inbox::Next::Closed => return,
            }
        }
    }

    fn handle(&mut self, cmd: ModelCommand) {
        match cmd {
            ModelCommand::Load { dir, device, bf16 } => self.load(dir, device, bf16),
            ModelCommand::Predict {
                episode,
                step,
                settings,
            } => self.predict(&episode, step, &settings),
            ModelCommand::RunEpisode { episode, settings } => {
                self.finish_run(true);
                self.run = Some(EpisodeRun {
                    episode,
                    settings,
                    next: 0,
                });
            }
            ModelCommand::Cancel => self.finish_run(true),
            ModelCommand::LoadExpert(path) => self.load_expert(path),
            ModelCommand::CompareDepth {
                episode,
                step,
                request,
            } => self.compare_depth(&episode, step, &request),
            ModelCommand::LoadSpa(path) => self.load_spa(path),
            ModelCommand::Features {
                episode,
                step,
                request,
            } => self.compute_features(&episode, step, &request),
            ModelCommand::FeatureRun {
                episode,
                settings,
                kind,
            } => self.start_feature_run(episode, settings, kind),
            ModelCommand::CancelFeatureRun => self.cancel_feature_run(),
        }
    }

    fn finish_run(&mut self, cancelled: bool) {
        if let Some(run) = self.run.take() {
            self.send(ModelMessage::RunFinished {
                done: run.next,
                total: run.episode.num_steps(),
                cancelled,
            });
        }
    }

    fn load(&mut self, dir: PathBuf, choice: crate::model::device::DeviceChoice, bf16: bool) {
        self.finish_run(true);
        self.cancel_feature_run();
        self.features.clear_fits();
        self.predictor = None;
        self.send(ModelMessage::Loading(dir.clone()));
        let (device, device_note) = choice.open();
        let dtype = if bf16 { DType::BF16 } else { DType::F32 };
        match Predictor::load(&dir, &device, dtype) {
            Ok(p) => {
                let info = ModelInfo {
                    dir: dir.clone(),
                    label: p.label.clone(),
                    random_weights: p.random_weights,
                    unnorm_keys: p.unnorm_keys(),
                    parameter_count: p.parameter_count,
                    load_ms: p.load_time.as_secs_f64() * 1e3,
                    uses_depth: p.model.uses_depth(),
                    has_zoe_weights: p.has_zoe_weights,
                    zoe_unavailable: p.zoe_unavailable.clone(),
                    grid_counts: p.processor.grid.bin_counts(),
                    intrinsics_entries: p.intrinsics.keys().map(str::to_owned).collect(),
                    decoder_layers: p.model.config().text.num_hidden_layers,
                    device: crate::model::device::device_label(&device),
                    device_note,
                    dtype: if bf16 { "bf16" } else { "f32" }.to_owned(),
                    // The language model and vision tower in the dtype, ZoeDepth in float32.
                    weight_bytes: p.weight_bytes,
                };
                self.predictor = Some(p);
                self.send(ModelMessage::Loaded(Box::new(info)));
            }
            Err(e) => {
                let file = match &e {
                    ModelError::Io { path, .. } | ModelError::Config { path, .. } => {
                        Some(path.clone())
                    }
                    ModelError::Tokenizer { path, .. } => Some(path.clone()),
                    _ => Some(dir.clone()),
                };
                self.send(ModelMessage::LoadFailed(user_error(file, e)));
            }
        }
    }

    fn predict(&mut self, ep: &Arc<Episode>, step: usize, settings: &RunSettings) {
        let Some(p) = &self.predictor else {
            self.send(ModelMessage::PredictFailed {
                episode_uid: ep.uid,
                step,
                error: user_error(None, "no checkpoint is loaded"),
            });
            return;
        };
        match predict_step(p, ep, step, settings, &self.cancel) {
            Ok(r) => {
                let depth_view =
                    crate::scene::depth_view::depth_view(ep, step, r.camera_index, &r.prediction)
                        .map(Arc::new);
                self.send(ModelMessage::Predicted {
                    episode_uid: ep.uid,
                    result: Arc::new(r),
                    depth_view,
                })
            }
            Err(e)
                if e.chain().any(|c| {
                    matches!(c.downcast_ref::<ModelError>(), Some(ModelError::Cancelled))
                }) => {}
            Err(e) => self.send(ModelMessage::PredictFailed {
                episode_uid: ep.uid,
                step,
                error: user_error(None, format!("{e:#}")),
            }),
        }
    }

    fn run_step(&mut self) {
        let Some(run) = &mut self.run else { return };
        let total = run.episode.num_steps();
        if run.next >= total {
            self.finish_run(false);
            return;
        }
        let (ep, step, settings) = (run.episode.clone(), run.next, run.settings.clone());
        run.next += 1;
        self.predict(&ep, step, &settings);
        if self.cancel.load(Ordering::Relaxed) {
            // A newer command is waiting; the loop serves it and the run resumes after.
            self.cancel.store(false, Ordering::Relaxed);
            if let Some(run) = &mut self.run {
                run.next = run.next.saturating_sub(1);
            }
        }
        self.send(ModelMessage::Progress {
            done: step + 1,
            total,
        });
    }
}
