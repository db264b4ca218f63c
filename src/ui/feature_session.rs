//! The Features panel's side of the session: SPA's weights on the model thread, the open
//! episode's feature views by step, the probe's report and Spatial Forcing's series over
//! the episode, and which of them colours the 3-D view's "patch features" mode.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::pipeline::probe::ProbeReport;
use crate::pipeline::probe::view::FeatureView;
use crate::worker::UserError;
use crate::worker::features::AlignSeries;

/// What the 3-D view's patch-colour mode shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudPatchColours {
    /// The first encoder's PCA colours.
    #[default]
    First,
    /// The second encoder's.
    Second,
    /// Spatial Forcing's cosine (turbo over [-1, 1]).
    Alignment,
}

#[derive(Default)]
pub struct FeatureSession {
    /// SPA ViT weights loaded on the model thread: (path, label).
    pub spa: Option<(PathBuf, String)>,
    pub spa_loading: Option<PathBuf>,
    pub spa_error: Option<UserError>,
    /// The episode the views belong to.
    pub episode_uid: Option<u64>,
    /// Views by step, each with the key of the request that made it.
    pub views: BTreeMap<usize, (String, Arc<FeatureView>)>,
    /// (step, request key) in flight.
    pub pending: Option<(usize, String)>,
    pub failures: BTreeMap<usize, (String, UserError)>,
    /// (done, total) of a run over the episode.
    pub run: Option<(usize, usize)>,
    pub run_error: Option<UserError>,
    pub probe: Option<Arc<ProbeReport>>,
    pub series: Option<Arc<AlignSeries>>,
    pub cloud_colours: CloudPatchColours,
}

impl FeatureSession {
    /// Forgets the views and results when another episode opens.
    pub fn set_episode(&mut self, uid: u64) {
        if self.episode_uid != Some(uid) {
            self.episode_uid = Some(uid);
            self.views.clear();
            self.failures.clear();
            self.pending = None;
            self.probe = None;
            self.series = None;
            self.run_error = None;
        }
    }

    /// Colours for the model's `side x side` patch grid (the 3-D view's patch index) from
    /// the view of `step`, as packed RGBA8 carried in `f32` bits (`render::PointCloudCallback`).
    /// A pane on another grid (SPA's 14 x 14) is sampled at each model patch's centre.
    pub fn patch_colours(&self, step: usize, side: usize) -> Option<Vec<f32>> {
        let (_, view) = self.views.get(&step)?;
        // Read in place (the 3-D view asks every frame in this mode): no copies.
        enum Source<'a> {
            Cosine(&'a [f32]),
            Pca(&'a [[u8; 3]]),
        }
        let (src_side, source) = match self.cloud_colours {
            CloudPatchColours::Alignment => {
                let a = view.alignment.as_ref()?;
                (a.side, Source::Cosine(&a.cosine))
            }
            c => {
                let pane = view
                    .panes
                    .get(usize::from(c == CloudPatchColours::Second))?;
                (pane.side, Source::Pca(&pane.colours))
            }
        };
        let colour = |i: usize| match source {
            Source::Cosine(c) => crate::render::colormap::cosine_rgb(c[i]),
            Source::Pca(p) => p[i],
        };
        if src_side == 0 || side == 0 {
            return None;
        }
        Some(
            (0..side * side)
                .map(|i| {
                    let (r, c) = (i / side, i % side);
                    let map = |k: usize| ((2 * k + 1) * src_side / (2 * side)).min(src_side - 1);
                    let [red, g, b] = colour(map(r) * src_side + map(c));
                    f32::from_bits(crate::render::pack_rgb(red, g, b))
                })
                .collect(),
        )
    }
}
