//! The model thread's depth-expert work: loading Depth Anything V2 and comparing a camera
//! frame's raw depth with the chosen experts (`pipeline::depth_expert`), the view for the
//! panel and the 3-D view built here (`scene::expert_view`) so the UI only uploads it.
//! It shares the model thread so that ZoeDepth (inside the loaded SpatialVLA checkpoint) is
//! not loaded twice and the two never compete for the CPU.

use std::path::PathBuf;
use std::sync::Arc;

use super::model::{ModelMessage, ModelThread, user_error};
use crate::episode::Episode;
use crate::model::ModelError;
use crate::model::depth_anything::DepthAnythingV2;
use crate::pipeline::depth_expert::{compare_with_raw, run_depth_anything, run_zoedepth};

/// Which experts to run on which camera, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpertRequest {
    pub camera: usize,
    pub depth_anything: bool,
    pub zoedepth: bool,
    /// Depth Anything V2's input size (official default 518).
    pub input_size: usize,
    /// Relative disagreement that counts (0.1 = 10 %).
    pub threshold: f64,
}

impl ModelThread {
    pub(super) fn load_expert(&mut self, path: PathBuf) {
        self.expert = None;
        match DepthAnythingV2::load(&path, None, &candle_core::Device::Cpu) {
            Ok(m) => {
                let label = m.label();
                self.expert = Some(m);
                self.send(ModelMessage::ExpertLoaded { path, label });
            }
            Err(e) => {
                let file = match &e {
                    ModelError::Io { path, .. } | ModelError::Config { path, .. } => {
                        Some(path.clone())
                    }
                    ModelError::Tensor { dir, .. } => Some(dir.clone()),
                    _ => Some(path.clone()),
                };
                self.send(ModelMessage::ExpertLoadFailed(user_error(file, e)));
            }
        }
    }

    pub(super) fn compare_depth(&mut self, ep: &Arc<Episode>, step: usize, r: &ExpertRequest) {
        let fail = |this: &Self, e: String| {
            this.send(ModelMessage::DepthCompareFailed {
                episode_uid: ep.uid,
                step,
                error: user_error(None, e),
            })
        };
        let result = (|| -> anyhow::Result<_> {
            let rgb = ep.rgb(step, r.camera)?;
            let raw = ep.depth(step, r.camera)?;
            let grid = match &raw {
                Some(d) => (d.width_px as usize, d.height_px as usize),
                None => (rgb.width_px as usize, rgb.height_px as usize),
            };
            let mut runs = Vec::new();
            if r.depth_anything {
                let m = self
                    .expert
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("no Depth Anything V2 weights are loaded"))?;
                runs.push(run_depth_anything(m, &rgb, r.input_size, grid)?);
            }
            if r.zoedepth {
                let p = self.predictor.as_ref().ok_or_else(|| {
                    anyhow::anyhow!("ZoeDepth needs a SpatialVLA checkpoint: none is loaded")
                })?;
                runs.push(run_zoedepth(p, &rgb, grid)?);
            }
            anyhow::ensure!(!runs.is_empty(), "no expert chosen");
            let comparisons = runs
                .into_iter()
                .map(|run| compare_with_raw(run, raw.as_deref(), r.threshold))
                .collect();
            crate::scene::expert_view::expert_view(ep, step, r.camera, comparisons)
                .ok_or_else(|| anyhow::anyhow!("the frame could not be shown"))
        })();
        match result {
            Ok(view) => self.send(ModelMessage::DepthCompared {
                episode_uid: ep.uid,
                view: Arc::new(view),
            }),
            Err(e) => fail(self, format!("{e:#}")),
        }
    }
}
