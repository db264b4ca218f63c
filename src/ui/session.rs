//! The session: everything the panels draw from, in one store. The app fills it from the
//! workers' messages and changes it when it applies intents; panels only read it (they get
//! `&Session`) and ask for changes by returning [`super::Intent`]s. Loaded data arrives as
//! `Arc`s from the workers, so the session holds no pixels of its own.
//!
//! What is *not* here: each panel's own view state (scroll, filter, camera orbit, the model
//! panel's run settings) lives in the panel; the dock layout lives in [`super::dock`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::grid_panel::StatsChoice;
use super::plots::{OverlaySeries, PlotData, PredictionOverlay};
use super::settings::ViewSettings;
use super::status::StatusState;
use super::timeline::Timeline;
use crate::action_grid::{ActionStatistics, ProcessorConfig};
use crate::episode::Episode;
use crate::pipeline::{AttentionSelection, StepPrediction, attention_over_image};
use crate::render::PointCloud;
use crate::scene::{CloudDepth, DepthView};
use crate::worker::{DatasetInfo, FrameBundle, ModelInfo, UserError};

/// See [`Session::overlay_key`].
pub type OverlayKey = (u64, usize, usize, usize, [usize; 2]);

/// What the two store slots are called in the app.
pub const STORE_NAMES: [&str; 2] = ["A", "B"];

/// How the attention of the selected token is drawn (over the image and in 3-D).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttentionView {
    /// Overlay it on the model camera's image.
    pub show: bool,
    pub selection: AttentionSelection,
    pub opacity: f32,
    /// The generated token whose attention is shown.
    pub token: usize,
}

impl Default for AttentionView {
    fn default() -> Self {
        AttentionView {
            show: true,
            selection: AttentionSelection::default(),
            opacity: 0.6,
            token: 0,
        }
    }
}

/// The model's side of the session: the loaded checkpoint and the open episode's
/// predictions.
#[derive(Default)]
pub struct ModelSession {
    pub info: Option<ModelInfo>,
    pub loading: Option<PathBuf>,
    pub load_error: Option<UserError>,
    /// Predictions of the open episode, by step.
    pub predictions: BTreeMap<usize, Arc<StepPrediction>>,
    /// The depth views of those predictions that have one, by step.
    pub depth_views: BTreeMap<usize, Arc<DepthView>>,
    pub failures: BTreeMap<usize, UserError>,
    /// The episode the predictions belong to.
    pub episode_uid: Option<u64>,
    /// (done, total) of a running whole-episode pass.
    pub run: Option<(usize, usize)>,
    /// How the last whole-episode pass ended: (done, total, stopped by the user).
    pub last_run: Option<(usize, usize, bool)>,
    /// A single-frame request in flight.
    pub pending_step: Option<usize>,
    /// Depth Anything V2 weights loaded on the model thread: (path, label).
    pub expert: Option<(PathBuf, String)>,
    pub expert_loading: Option<PathBuf>,
    pub expert_error: Option<UserError>,
    /// Raw depth against experts for the open episode, by step (the newest per step).
    pub expert_views: BTreeMap<usize, Arc<crate::scene::expert_view::ExpertView>>,
    /// A comparison in flight.
    pub expert_pending: Option<usize>,
    pub expert_failures: BTreeMap<usize, UserError>,
}

impl ModelSession {
    /// Forgets the predictions when another episode opens.
    pub fn set_episode(&mut self, uid: u64) {
        if self.episode_uid != Some(uid) {
            self.episode_uid = Some(uid);
            self.predictions.clear();
            self.depth_views.clear();
            self.expert_views.clear();
            self.expert_failures.clear();
            self.expert_pending = None;
            self.failures.clear();
            self.pending_step = None;
            self.run = None;
            self.last_run = None;
        }
    }
}

/// What the panels draw from.
pub struct Session {
    /// Persisted view settings (the View menu edits them).
    pub settings: ViewSettings,
    /// The opened path.
    pub root: Option<PathBuf>,
    pub datasets: Vec<DatasetInfo>,
    /// The open (dataset, episode).
    pub selected: Option<(usize, usize)>,
    pub episode: Option<Arc<Episode>>,
    /// The current step and playback.
    pub timeline: Timeline,
    /// The newest decoded step (may lag the timeline while it decodes).
    pub frame: Option<Arc<FrameBundle>>,
    pub plot_data: Option<PlotData>,
    /// The action grid and statistics (bundled release, or an opened checkpoint's).
    pub grid: Option<Arc<ProcessorConfig>>,
    /// q01/q99 etc. of the open episode's own actions.
    pub episode_stats: Option<ActionStatistics>,
    /// Which statistics normalise the actions in the grid panel and the distribution.
    pub stats_choice: StatsChoice,
    pub model: ModelSession,
    /// The Features panel's results (`feature_session`).
    pub features: super::feature_session::FeatureSession,
    pub attention: AttentionView,
    /// Which depth the 3-D view lifts once a step has a depth view.
    pub cloud_depth: CloudDepth,
    /// What the 3-D view shows of the step's raw-vs-expert view, when it has one (overrides
    /// `cloud_depth` unless `Off`).
    pub expert_cloud: crate::scene::expert_view::ExpertCloud,
    pub status: StatusState,
    /// The doctor's last result and the dataset it is for (episode list badges, the Doctor
    /// window).
    pub doctor: Option<(usize, Arc<crate::pipeline::doctor::DatasetHealth>)>,
    /// What the plots mark (a doctor finding jumped to).
    pub highlight: Option<super::Highlight>,
    /// The step to show once the episode being opened arrives (a jump to a finding).
    pub pending_step: Option<usize>,
    /// Evaluation stores: A, and B compared with it. Their predictions of the open episode
    /// are drawn in the plots, the 3-D view and the model panel without running the model.
    pub stores: [Option<Arc<crate::pipeline::eval::LoadedStore>>; 2],
    /// Stores `spatialscope eval` recorded for the open dataset (the Failures window offers
    /// them).
    pub store_offers: Vec<crate::pipeline::eval::registry::RegisteredStore>,
    /// B against A, computed on the worker when B opened.
    pub comparison: Option<Arc<crate::pipeline::eval::compare::Comparison>>,
}

impl Session {
    /// For an episode whose dataset key the checkpoint does not know: the checkpoint key
    /// whose q01..q99 spans are closest to the episode's own
    /// ([`crate::action_grid::rank_keys_by_spans`]); the model panel labels it a guess.
    pub fn guessed_unnorm_key(&self) -> Option<String> {
        let info = self.model.info.as_ref()?;
        let own = self.episode_stats.as_ref()?;
        let grid = self.grid.as_ref()?;
        let keys = info
            .unnorm_keys
            .iter()
            .filter_map(|k| grid.statistics.get(k).map(|s| (k.as_str(), s)));
        crate::action_grid::rank_keys_by_spans(keys, own)
            .into_iter()
            .next()
            .map(|(k, _)| k)
    }

    pub fn new(settings: ViewSettings) -> Self {
        Self {
            settings: settings.validated(),
            root: None,
            datasets: Vec::new(),
            selected: None,
            episode: None,
            timeline: Timeline::new(0, 1.0),
            frame: None,
            plot_data: None,
            grid: None,
            episode_stats: None,
            stats_choice: StatsChoice::Episode,
            model: ModelSession::default(),
            features: Default::default(),
            attention: AttentionView::default(),
            cloud_depth: CloudDepth::default(),
            expert_cloud: Default::default(),
            status: StatusState::default(),
            doctor: None,
            highlight: None,
            pending_step: None,
            stores: [None, None],
            store_offers: Vec::new(),
            comparison: None,
        }
    }

    /// The current step.
    pub fn step(&self) -> usize {
        self.timeline.step
    }

    /// The prediction of the current step, if any.
    pub fn prediction(&self) -> Option<&Arc<StepPrediction>> {
        self.model.predictions.get(&self.timeline.step)
    }

    /// The attention of the selected token over the model camera's image patches, whether
    /// or not the image overlay is on (the 3-D view's attention colours use it too):
    /// (camera index, per-patch values, patches per side).
    pub fn attention_values(&self) -> Option<(usize, Vec<f32>, usize)> {
        let ep = self.episode.as_ref()?;
        let p = self.prediction()?;
        let values = attention_over_image(
            &p.prediction,
            self.attention.token,
            self.attention.selection,
        )?;
        Some((ep.model_camera()?, values, p.prediction.patches_per_side))
    }

    /// The per-patch buffer of the 3-D view's colour `mode`: the Features panel's colours
    /// for the patch-colour mode, else the attention of the chosen token.
    pub fn patch_values(&self, mode: crate::render::ColorMode) -> Option<Arc<Vec<f32>>> {
        if mode == crate::render::ColorMode::PatchColours {
            let side = crate::geometry::PatchSampling::RELEASED.patches_per_side();
            return self
                .features
                .patch_colours(self.timeline.step, side)
                .map(Arc::new);
        }
        self.attention_values().map(|a| Arc::new(a.1))
    }

    /// The cloud the 3-D view draws at the current step: the scene's sensor cloud, or the
    /// prediction's estimated depth (or both overlaid) as chosen.
    pub fn shown_cloud(&self) -> Option<Arc<PointCloud>> {
        if let Some(view) = self.model.expert_views.get(&self.timeline.step)
            && let Some(c) = crate::scene::expert_view::expert_cloud(view, self.expert_cloud)
        {
            return Some(c);
        }
        crate::scene::step::chosen_cloud(
            self.frame
                .as_ref()
                .and_then(|f| f.scene.as_ref())
                .map(|s| &s.cloud),
            self.model
                .depth_views
                .get(&self.timeline.step)
                .map(Arc::as_ref),
            self.cloud_depth,
        )
    }

    /// What [`Self::prediction_overlay`] depends on: the episode, the step, the live
    /// predictions (count and addresses) and the open stores.
    pub fn overlay_key(&self) -> OverlayKey {
        let preds = &self.model.predictions;
        (
            self.episode.as_ref().map_or(0, |e| e.uid),
            self.timeline.step,
            preds.len(),
            preds
                .values()
                .map(|p| Arc::as_ptr(p) as usize)
                .fold(0, usize::wrapping_add),
            self.stores
                .each_ref()
                .map(|s| s.as_ref().map_or(0, |s| Arc::as_ptr(s) as usize)),
        )
    }

    /// Predicted curves for the action plots: the live model's and each store's.
    pub fn prediction_overlay(&self) -> Option<PredictionOverlay> {
        let mut series = Vec::new();
        let preds = &self.model.predictions;
        if !preds.is_empty() {
            series.push(OverlaySeries::build(
                "predicted".into(),
                super::theme::PREDICTION,
                preds
                    .iter()
                    .filter_map(|(s, p)| p.prediction.chunk.actions.clone().map(|a| (*s, a))),
                self.timeline.step,
            ));
        }
        if let Some((name, e)) = self.open_episode_key() {
            for (slot, store) in self.stores.iter().enumerate() {
                let Some(store) = store else { continue };
                let rows: Vec<(usize, Vec<[f64; 7]>)> = store
                    .episode_rows(name, e)
                    .map(|r| (r.step as usize, r.predicted_actions()))
                    .collect();
                if !rows.is_empty() {
                    series.push(OverlaySeries::build(
                        format!("{} {}", STORE_NAMES[slot], store.label()),
                        super::theme::STORED[slot],
                        rows.into_iter(),
                        self.timeline.step,
                    ));
                }
            }
        }
        (!series.is_empty()).then_some(PredictionOverlay { series })
    }

    /// The open episode's dataset name and index, once it has arrived.
    fn open_episode_key(&self) -> Option<(&str, usize)> {
        self.episode.as_ref()?;
        let (d, e) = self.selected?;
        Some((self.datasets.get(d)?.name.as_str(), e))
    }

    /// The stores' rows of the open episode at `step`: (slot, row).
    pub fn stored_rows_at(&self, step: usize) -> Vec<(usize, &crate::pipeline::eval::EvalRow)> {
        let Some((name, e)) = self.open_episode_key() else {
            return Vec::new();
        };
        self.stores
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.as_ref()?.row_at(name, e, step)?)))
            .collect()
    }

    /// The model's first predicted bins at the current step, when its grid has the bin
    /// counts of the grid shown (else they would land in the wrong cells).
    pub fn predicted_bins(&self) -> Option<crate::action_grid::ActionBins> {
        let cfg = self.grid.as_ref()?;
        let counts = self.model.info.as_ref()?.grid_counts;
        (counts == cfg.grid.bin_counts())
            .then(|| self.prediction()?.prediction.chunk.bins.first().copied())
            .flatten()
    }
}
