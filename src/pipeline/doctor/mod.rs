//! The dataset doctor: health checks over every episode of a dataset, for curators and CI.
//!
//! A [`DoctorJob`] reads one episode per [`DoctorJob::step`] (so the command line can show
//! progress and the worker can cancel), runs the per-episode checks on it ([`episode_checks`],
//! [`frame_checks`]) and keeps only small facts about it ([`EpisodeFacts`]: extremes, a
//! 16-step fingerprint, counts). [`DoctorJob::finish`] runs the checks that need the whole
//! dataset ([`dataset_checks`]: k-sigma outliers, saturation, duplicates, task balance,
//! normalisation and grid use against a checkpoint's statistics) and returns a
//! [`DatasetHealth`]. Memory is the facts plus the actions themselves (7 values per step, for
//! the grid), never frames.
//!
//! Every [`Finding`] has a check id (`values.non_finite`, ...), a [`Severity`], the episodes
//! and steps it concerns, and a one-line reason in words. The keep list is the episodes with
//! no finding at warning or above.

pub mod dataset_checks;
pub mod episode_checks;
pub mod frame_checks;

use std::sync::Arc;

use serde::Serialize;

use crate::action_grid::ProcessorConfig;
use crate::action_grid::distribution::Distribution;
use crate::episode::{Dataset, DatasetFormat, FrameCache};
use crate::pipeline::distribution::{DistributionJob, StatsSource};

/// How much a finding matters. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not a defect by itself (an idle prefix to trim, a placeholder camera).
    Info,
    /// Probably a defect that hurts training or evaluation (a frozen dimension, a jump).
    Warning,
    /// Broken data (NaN actions, an episode that cannot be read, undecodable frames).
    Error,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One thing the doctor found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable id, `group.name` (`values.non_finite`, `episodes.idle`, ...).
    pub check: &'static str,
    pub severity: Severity,
    /// Episode indices concerned (empty: the whole dataset).
    pub episodes: Vec<usize>,
    /// First and last step concerned, inclusive, when the finding is about steps of one
    /// episode.
    pub steps: Option<(usize, usize)>,
    /// Action or state dimension names concerned, if any.
    pub dims: Vec<String>,
    /// What is wrong, in one line.
    pub reason: String,
}

impl Finding {
    pub fn new(check: &'static str, severity: Severity, reason: impl Into<String>) -> Self {
        Self {
            check,
            severity,
            episodes: Vec::new(),
            steps: None,
            dims: Vec::new(),
            reason: reason.into(),
        }
    }

    pub fn episode(mut self, i: usize) -> Self {
        self.episodes = vec![i];
        self
    }

    pub fn episodes(mut self, e: Vec<usize>) -> Self {
        self.episodes = e;
        self
    }

    pub fn steps(mut self, first: usize, last: usize) -> Self {
        self.steps = Some((first, last));
        self
    }

    pub fn dims(mut self, d: Vec<String>) -> Self {
        self.dims = d;
        self
    }
}

/// Thresholds, with the defaults `spatialscope doctor` uses.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The model's action chunk (SpatialVLA predicts 4 steps): shorter episodes are flagged.
    pub chunk: usize,
    /// A step is idle when |dx|..|dyaw| are all below this (raw units).
    pub noop_threshold: f64,
    /// Outliers lie more than this many standard deviations from the dataset's mean.
    pub sigma_k: f64,
    /// Decode sampled frames (first, middle, last of each camera) for the camera checks.
    pub frames: bool,
    /// Which statistics normalise the actions for the grid checks (`None`: the dataset's
    /// SpatialVLA key when the checkpoint has it, else the grid checks that need a key are
    /// skipped with an info finding).
    pub unnorm_key: Option<String>,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            chunk: 4,
            noop_threshold: 1e-3,
            sigma_k: 10.0,
            frames: true,
            unnorm_key: None,
        }
    }
}

/// Small facts kept about each episode for the dataset-wide checks.
#[derive(Debug, Clone)]
pub struct EpisodeFacts {
    pub index: usize,
    pub name: String,
    pub steps: usize,
    pub instruction: String,
    /// Per action dimension: (smallest value, its step), (largest value, its step).
    pub action_min: [(f64, usize); 7],
    pub action_max: [(f64, usize); 7],
    /// Per state dimension: the largest |s[t+1] - s[t]| and its step t.
    pub state_jump_max: Vec<(f64, usize)>,
    /// Per translation dimension, the correlation between the action and the next change of
    /// the end-effector position in the state (the better of 1 and 2 steps later: controllers
    /// lag), where the actions are metric deltas and the state names its x/y/z.
    pub action_state_corr: Option<[f64; 3]>,
    /// The actions resampled to [`FINGERPRINT_STEPS`] steps (near-duplicate detection).
    pub fingerprint: Vec<[f32; 7]>,
    /// The episode could be read and has actions.
    pub readable: bool,
}

/// Steps in an episode's fingerprint.
pub const FINGERPRINT_STEPS: usize = 16;

/// Running mean and variance (Welford), for one dimension.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    m2: f64,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// How many standard deviations `x` lies from the mean of the *other* values (`x` being
    /// one of those added): leaving it out keeps a single outlier from inflating the
    /// deviation it is measured in (with 160 values, one huge value can never be more than
    /// 12.6 standard deviations from a mean it is part of). 0 when the rest do not vary.
    pub fn z_without(&self, x: f64) -> f64 {
        if self.n < 3 || !x.is_finite() {
            return 0.0;
        }
        let n1 = (self.n - 1) as f64;
        let mean1 = (self.n as f64 * self.mean - x) / n1;
        let m2_1 = (self.m2 - (x - self.mean) * (x - mean1)).max(0.0);
        let sd1 = (m2_1 / n1).sqrt();
        if sd1 <= 1e-12 * mean1.abs().max(1.0) {
            return 0.0;
        }
        (x - mean1).abs() / sd1
    }

    /// Population standard deviation (0 with fewer than two values).
    pub fn std(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / self.n as f64).sqrt()
        }
    }
}

/// Dataset-wide accumulators, updated per episode.
#[derive(Debug, Clone, Default)]
pub struct Accumulators {
    pub action: [Moments; 7],
    /// Per state dimension, moments of the step-to-step change.
    pub state_delta: Vec<Moments>,
    pub state_names: Vec<String>,
    /// Per action dimension: the extreme values and how many steps sit exactly on them.
    pub at_min: [(f64, u64); 7],
    pub at_max: [(f64, u64); 7],
    /// Per action dimension: episodes that hold a step exactly at the running extreme.
    pub at_min_episodes: [Vec<usize>; 7],
    pub at_max_episodes: [Vec<usize>; 7],
    pub steps: u64,
}

/// What the doctor found about one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetHealth {
    pub dataset: String,
    pub format: DatasetFormat,
    pub root: String,
    pub episodes: usize,
    pub steps: u64,
    /// Which statistics normalised the actions for the grid checks.
    pub statistics: String,
    pub findings: Vec<Finding>,
    /// Episodes with no finding at warning or above, in order.
    pub keep: Vec<usize>,
    /// Counts per severity.
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// The action distribution against the grid (for the report's charts).
    #[serde(skip)]
    pub distribution: Option<Distribution>,
    /// Per episode, the most severe finding that names it (looked up per row by the episode
    /// list every frame, so computed once here).
    #[serde(skip)]
    pub worst_by_episode: Vec<Option<Severity>>,
}

impl DatasetHealth {
    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Episodes not kept.
    pub fn dropped(&self) -> Vec<usize> {
        (0..self.episodes)
            .filter(|i| self.keep.binary_search(i).is_err())
            .collect()
    }
}

/// The doctor over one dataset, one episode per step.
pub struct DoctorJob {
    opts: DoctorOptions,
    next: usize,
    total: usize,
    facts: Vec<EpisodeFacts>,
    findings: Vec<Finding>,
    acc: Accumulators,
    dist: DistributionJob,
    source: StatsSource,
    /// Why the grid checks use the dataset's own statistics, when they do.
    source_note: Option<String>,
}

impl DoctorJob {
    /// Starts on `dataset`; `cfg` decides the statistics key (see [`DoctorOptions::unnorm_key`]).
    pub fn new(
        dataset: &Dataset,
        cfg: &ProcessorConfig,
        cache: &Arc<FrameCache>,
        opts: DoctorOptions,
    ) -> Self {
        let guess = || {
            dataset
                .open_episode(0, cache)
                .ok()
                .and_then(|ep| ep.dataset_key.clone())
                .filter(|k| cfg.statistics.contains_key(k))
        };
        let (source, source_note) = match opts.unnorm_key.clone().or_else(guess) {
            Some(k) => (StatsSource::Key(k), None),
            None => (
                StatsSource::Dataset,
                Some(format!(
                    "the checkpoint has no statistics for this dataset: the grid checks use the dataset's own q01/q99 and normalisation clipping is not checked (pass --unnorm-key with one of its {} keys)",
                    cfg.statistics.len()
                )),
            ),
        };
        Self {
            next: 0,
            total: dataset.len(),
            facts: Vec::with_capacity(dataset.len()),
            findings: Vec::new(),
            acc: Accumulators::default(),
            dist: DistributionJob::new(dataset, source.clone(), opts.noop_threshold),
            source,
            source_note,
            opts,
        }
    }

    /// (episodes done, total).
    pub fn progress(&self) -> (usize, usize) {
        (self.next, self.total)
    }

    pub fn is_done(&self) -> bool {
        self.next >= self.total
    }

    /// Reads and checks the next episode.
    pub fn step(&mut self, dataset: &Dataset, cache: &Arc<FrameCache>) {
        if self.is_done() {
            return;
        }
        let i = self.next;
        self.next += 1;
        let ep = match dataset.open_episode(i, cache) {
            Ok(ep) => ep,
            Err(e) => {
                // The readers refuse NaN/Inf actions when opening; say it as the value check.
                let text = e.to_string();
                let check = if text.contains("is not finite") {
                    "values.non_finite"
                } else {
                    "episodes.unreadable"
                };
                self.findings.push(
                    Finding::new(check, Severity::Error, format!("cannot be read: {text}"))
                        .episode(i),
                );
                self.facts.push(EpisodeFacts::unreadable(i, dataset));
                return;
            }
        };
        let facts = episode_checks::check(&ep, i, &self.opts, &mut self.acc, &mut self.findings);
        if self.opts.frames {
            frame_checks::check(&ep, i, &mut self.findings);
        }
        self.dist.add_episode(&ep);
        self.facts.push(facts);
    }

    /// The dataset-wide checks, after every step.
    pub fn finish(mut self, dataset: &Dataset, cfg: &ProcessorConfig) -> DatasetHealth {
        let distribution = match self.dist.finish(cfg) {
            Ok(d) => Some(d),
            Err(e) => {
                self.findings.push(Finding::new(
                    "grid.unavailable",
                    Severity::Info,
                    format!("the grid checks did not run: {e}"),
                ));
                None
            }
        };
        if let Some(note) = &self.source_note {
            self.findings
                .push(Finding::new("grid.no_key", Severity::Info, note.clone()));
        }
        dataset_checks::check(
            &self.facts,
            &self.acc,
            distribution.as_ref(),
            matches!(self.source, StatsSource::Key(_)),
            dataset.declared_stats(),
            &self.opts,
            &mut self.findings,
        );
        for p in &dataset.problems {
            self.findings.push(Finding::new(
                "dataset.problem",
                Severity::Warning,
                p.to_string(),
            ));
        }
        self.findings = merge_alike(std::mem::take(&mut self.findings));
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.check.cmp(b.check))
                .then(a.episodes.cmp(&b.episodes))
        });
        let mut worst_by_episode: Vec<Option<Severity>> = vec![None; self.total];
        for f in &self.findings {
            for &e in &f.episodes {
                if let Some(w) = worst_by_episode.get_mut(e) {
                    *w = (*w).max(Some(f.severity));
                }
            }
        }
        let bad: Vec<bool> = worst_by_episode
            .iter()
            .map(|w| w.is_some_and(|s| s >= Severity::Warning))
            .collect();
        let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
        DatasetHealth {
            dataset: dataset.name.clone(),
            format: dataset.format,
            root: dataset.root.display().to_string(),
            episodes: self.total,
            steps: self.acc.steps,
            statistics: self.source.label(),
            keep: (0..self.total).filter(|&i| !bad[i]).collect(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
            findings: self.findings,
            distribution,
            worst_by_episode,
        }
    }
}

impl EpisodeFacts {
    fn unreadable(index: usize, dataset: &Dataset) -> Self {
        Self {
            index,
            name: dataset.quick_summary(index).name,
            steps: 0,
            instruction: String::new(),
            action_min: [(0.0, 0); 7],
            action_max: [(0.0, 0); 7],
            state_jump_max: Vec::new(),
            action_state_corr: None,
            fingerprint: Vec::new(),
            readable: false,
        }
    }
}

/// One finding per (check, severity, reason, dimensions) for findings about whole episodes
/// (a placeholder camera in every episode is one line listing the episodes, not a thousand).
fn merge_alike(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    let mut seen: std::collections::HashMap<(&'static str, Severity, String, Vec<String>), usize> =
        std::collections::HashMap::new();
    for f in findings {
        if f.steps.is_none() && f.episodes.len() == 1 {
            let key = (f.check, f.severity, f.reason.clone(), f.dims.clone());
            if let Some(&j) = seen.get(&key) {
                out[j].episodes.push(f.episodes[0]);
                continue;
            }
            seen.insert(key, out.len());
        }
        out.push(f);
    }
    out
}

/// The doctor's verdict on everything under a path: the JSON report's root
/// (`schema` names its version; fields are only ever added).
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub schema: &'static str,
    pub path: String,
    /// The checkpoint grid and statistics the grid checks used.
    pub grid: String,
    /// The severity that makes the exit code non-zero.
    pub fail_on: Severity,
    /// 0: nothing reached `fail_on`; 1: something did.
    pub exit_code: u8,
    /// Problems that kept parts of the path from opening at all.
    pub problems: Vec<String>,
    pub datasets: Vec<DatasetHealth>,
}

/// The schema id of [`DoctorReport`].
pub const REPORT_SCHEMA: &str = "spatialscope.doctor/1";

impl DoctorReport {
    pub fn new(
        path: String,
        grid: String,
        fail_on: Severity,
        problems: Vec<String>,
        datasets: Vec<DatasetHealth>,
    ) -> Self {
        let failed = !problems.is_empty() && fail_on <= Severity::Warning
            || datasets
                .iter()
                .any(|d| d.worst().is_some_and(|w| w >= fail_on));
        Self {
            schema: REPORT_SCHEMA,
            path,
            grid,
            fail_on,
            exit_code: u8::from(failed),
            problems,
            datasets,
        }
    }
}
