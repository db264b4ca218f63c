//! The model thread's feature work (the Features panel): SPA's weights, one frame's feature
//! maps and alignment (`pipeline::probe::view`), and two runs over an episode that go one
//! frame at a time between other commands, like an episode prediction: the per-layer
//! spatial probe (`pipeline::probe::ProbeRun`) and Spatial Forcing's mean cosine per step.
//! Either reports progress and stops on `CancelFeatureRun`.

use std::path::PathBuf;
use std::sync::Arc;

use super::model::{ModelMessage, ModelThread, user_error};
use crate::episode::Episode;
use crate::model::align::FeatureDump;
use crate::model::spa::SpaVit;
use crate::pipeline::RunSettings;
use crate::pipeline::probe::align::{CosineSummary, align_frame, align_layer_index, dumps_in};
use crate::pipeline::probe::view::{AlignSettings, FeatureRequest, feature_view};
use crate::pipeline::probe::{ProbeRun, frame_features};

/// Spatial Forcing's mean cosine per step over an episode.
#[derive(Debug, Clone)]
pub struct AlignSeries {
    pub layer: String,
    /// (step, summary) for every step with a dump, in step order.
    pub steps: Vec<(usize, CosineSummary)>,
}

/// What a feature run over an episode does.
#[derive(Debug, Clone)]
pub enum FeatureRunKind {
    /// The probe on every `every`-th step (at most `max_frames`), with the CKA against the
    /// dumps in `dumps` when given.
    Probe {
        every: usize,
        max_frames: usize,
        dumps: Option<PathBuf>,
    },
    /// The cosine of every step that has a dump.
    Align(AlignSettings),
}

pub(super) struct FeatureRun {
    episode: Arc<Episode>,
    settings: RunSettings,
    /// (step, its dump) still to do, in order.
    plan: Vec<(usize, Option<PathBuf>)>,
    next: usize,
    probe: Option<ProbeRun>,
    series: Option<AlignSeries>,
    align: Option<AlignSettings>,
}

impl ModelThread {
    pub(super) fn load_spa(&mut self, path: PathBuf) {
        self.features.spa = None;
        self.features.clear_fits();
        match SpaVit::load(&path, &candle_core::Device::Cpu) {
            Ok(m) => {
                let label = m.label();
                self.features.spa = Some(m);
                self.send(ModelMessage::SpaLoaded { path, label });
            }
            Err(e) => self.send(ModelMessage::SpaLoadFailed(user_error(Some(path), e))),
        }
    }

    pub(super) fn compute_features(&mut self, ep: &Arc<Episode>, step: usize, r: &FeatureRequest) {
        let result = match &self.predictor {
            None => Err(anyhow::anyhow!("no checkpoint is loaded")),
            Some(p) => feature_view(p, &mut self.features, ep, step, r),
        };
        self.send(match result {
            Ok(v) => ModelMessage::FeaturesComputed(Arc::new(v)),
            Err(e) => ModelMessage::FeaturesFailed {
                episode_uid: ep.uid,
                step,
                error: user_error(None, format!("{e:#}")),
            },
        });
    }

    pub(super) fn start_feature_run(
        &mut self,
        episode: Arc<Episode>,
        settings: RunSettings,
        kind: FeatureRunKind,
    ) {
        self.feature_run = None;
        let planned = (|| -> anyhow::Result<FeatureRun> {
            let dumps_of = |loc: &PathBuf| -> anyhow::Result<Vec<(usize, PathBuf)>> {
                Ok(dumps_in(loc)?
                    .into_iter()
                    .filter_map(|(s, p)| Some((s?, p)))
                    .filter(|(s, _)| *s < episode.num_steps())
                    .collect())
            };
            let (plan, probe, align) = match &kind {
                FeatureRunKind::Probe {
                    every,
                    max_frames,
                    dumps,
                } => {
                    let found = dumps
                        .as_ref()
                        .map(dumps_of)
                        .transpose()?
                        .unwrap_or_default();
                    let plan = crate::pipeline::probe::frames(
                        std::slice::from_ref(&episode),
                        *every,
                        *max_frames,
                    )
                    .into_iter()
                    .map(|(_, s)| (s, found.iter().find(|d| d.0 == s).map(|d| d.1.clone())))
                    .collect::<Vec<_>>();
                    anyhow::ensure!(
                        plan.len() >= 5,
                        "the probe needs at least 5 frames; this episode gives {}",
                        plan.len()
                    );
                    (plan, Some(ProbeRun::default()), None)
                }
                FeatureRunKind::Align(a) => {
                    let plan: Vec<_> = dumps_of(&a.dumps)?
                        .into_iter()
                        .map(|(s, p)| (s, Some(p)))
                        .collect();
                    anyhow::ensure!(
                        !plan.is_empty(),
                        "{} holds no per-step dumps (step_<S>.safetensors) for this episode",
                        a.dumps.display()
                    );
                    (plan, None, Some(a.clone()))
                }
            };
            Ok(FeatureRun {
                episode: episode.clone(),
                settings,
                plan,
                next: 0,
                probe,
                series: None,
                align,
            })
        })();
        match planned {
            Ok(run) => self.feature_run = Some(run),
            Err(e) => self.send(ModelMessage::FeatureRunFailed(user_error(
                None,
                format!("{e:#}"),
            ))),
        }
    }

    pub(super) fn cancel_feature_run(&mut self) {
        if self.feature_run.take().is_some() {
            self.send(ModelMessage::FeatureRunFailed(user_error(
                None,
                "the run over the episode was cancelled",
            )));
        }
    }

    /// One frame of the feature run; the result when the last frame is done.
    pub(super) fn feature_run_step(&mut self) {
        let Some(mut run) = self.feature_run.take() else {
            return;
        };
        match self.advance(&mut run) {
            Err(e) => {
                self.send(ModelMessage::FeatureRunFailed(user_error(
                    None,
                    format!("{e:#}"),
                )));
            }
            Ok(false) => {
                self.send(ModelMessage::FeatureRunProgress {
                    done: run.next,
                    total: run.plan.len(),
                });
                self.feature_run = Some(run);
            }
            Ok(true) => {
                let uid = run.episode.uid;
                if let Some(probe) = run.probe.take() {
                    let p = self.predictor.as_ref();
                    let (label, random) = p.map_or((String::new(), false), |p| {
                        (p.label.clone(), p.random_weights)
                    });
                    match probe.finish(&label, random) {
                        Ok(report) => self.send(ModelMessage::Probed {
                            episode_uid: uid,
                            report: Arc::new(report),
                        }),
                        Err(e) => self.send(ModelMessage::FeatureRunFailed(user_error(
                            None,
                            format!("{e:#}"),
                        ))),
                    }
                } else if let Some(series) = run.series.take() {
                    self.send(ModelMessage::AlignedEpisode {
                        episode_uid: uid,
                        series: Arc::new(series),
                    });
                }
            }
        }
    }

    /// Does the next frame; true when the run is complete.
    fn advance(&mut self, run: &mut FeatureRun) -> anyhow::Result<bool> {
        let Some((step, dump_path)) = run.plan.get(run.next).cloned() else {
            return Ok(true);
        };
        let p = self
            .predictor
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no checkpoint is loaded"))?;
        let ep = &run.episode;
        let lf = frame_features(p, None, ep, step, &run.settings)?;
        let dump = dump_path
            .as_ref()
            .map(|d| {
                FeatureDump::load(d, &candle_core::Device::Cpu).map_err(|e| {
                    anyhow::anyhow!("cannot read the feature dump {}: {e}", d.display())
                })
            })
            .transpose()?;
        if let Some(probe) = &mut run.probe {
            probe.add(&ep.name, step, &lf, dump.as_ref())?;
        }
        if let (Some(a), Some(dump)) = (&run.align, &dump) {
            let layer = align_layer_index(&lf, a.layer.as_deref())?;
            let proj = self.features.projector(&a.projector)?;
            let f = align_frame(&lf, layer, proj, dump)
                .map_err(|e| anyhow::anyhow!("step {step}: {e:#}"))?;
            run.series
                .get_or_insert_with(|| AlignSeries {
                    layer: f.layer.clone(),
                    steps: Vec::new(),
                })
                .steps
                .push((step, f.summary));
        }
        run.next += 1;
        Ok(run.next >= run.plan.len())
    }
}
