//! Dataset-wide analyses that join the episode layer and the action grid: the action
//! distribution of a dataset against a checkpoint's grid. Used by the worker (one episode
//! per step, so it can report progress and be cancelled) and by `spatialscope stats`.

use std::sync::Arc;

use crate::action_grid::distribution::{Distribution, DistributionBuilder};
use crate::action_grid::{ActionStatistics, GridError, ProcessorConfig};
use crate::episode::{Dataset, Episode, EpisodeError, FrameCache};

/// Which statistics normalise the actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsSource {
    /// A key of the checkpoint's statistics (what SpatialVLA would use).
    Key(String),
    /// q01/q99 computed from the dataset itself (for a new dataset).
    Dataset,
}

impl StatsSource {
    pub fn label(&self) -> String {
        match self {
            Self::Key(k) => k.clone(),
            Self::Dataset => "dataset's own q01/q99".to_owned(),
        }
    }
}

/// An in-progress distribution over one dataset, advanced one episode at a time.
pub struct DistributionJob {
    builder: DistributionBuilder,
    next: usize,
    total: usize,
    /// Episodes that could not be read (skipped, reported).
    pub skipped: Vec<EpisodeError>,
    source: StatsSource,
}

impl DistributionJob {
    pub fn new(dataset: &Dataset, source: StatsSource, noop_threshold: f64) -> Self {
        Self {
            builder: DistributionBuilder::new(noop_threshold),
            next: 0,
            total: dataset.len(),
            skipped: Vec::new(),
            source,
        }
    }

    /// (episodes done, total).
    pub fn progress(&self) -> (usize, usize) {
        (self.next, self.total)
    }

    pub fn is_done(&self) -> bool {
        self.next >= self.total
    }

    /// Reads the next episode's actions (metadata only, no frames).
    pub fn step(&mut self, dataset: &Dataset, cache: &Arc<FrameCache>) {
        if self.is_done() {
            return;
        }
        match dataset.open_episode(self.next, cache) {
            Ok(ep) => self.add_episode(&ep),
            Err(e) => self.skipped.push(e),
        }
        self.next += 1;
    }

    /// Adds an episode the caller has opened (the doctor reads each episode once for all
    /// its checks); does not advance [`Self::progress`].
    pub fn add_episode(&mut self, ep: &Episode) {
        let acts: Vec<[f64; 7]> = ep.actions.values.iter().map(|a| a.map(f64::from)).collect();
        self.builder.add_episode(&ep.name, &acts);
    }

    /// Computes the distribution (after every step).
    pub fn finish(self, cfg: &ProcessorConfig) -> Result<Distribution, GridError> {
        let own;
        let stats: &ActionStatistics = match &self.source {
            StatsSource::Key(k) => cfg.stats(k)?,
            StatsSource::Dataset => {
                own = ActionStatistics::from_actions(self.builder.actions()).ok_or_else(|| {
                    GridError::Config {
                        path: "dataset".into(),
                        what: "no readable actions to compute statistics from".to_owned(),
                    }
                })?;
                &own
            }
        };
        self.builder
            .finish(&cfg.grid, &cfg.layout, stats, &self.source.label())
    }
}
