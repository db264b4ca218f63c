//! The Features panel's work on one frame: the principal components of one or two
//! encoders' patch features as colours (SpatialVLA's SigLIP output or any decoder layer,
//! SPA's ViT), fitted on this frame or once per episode (the fit is kept, so colours stay
//! put while scrubbing), and Spatial Forcing's per-patch cosine when a projector and 3-D
//! feature dumps are given. The model thread runs it (`worker::features`); the panel only
//! draws the colours it returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::align::{FrameAlignment, align_frame, align_layer_index, dump_for_step};
use super::frame_features;
use super::pca::Pca;
use super::ridge::Matrix;
use crate::episode::{Episode, RgbImage};
use crate::model::Predictor;
use crate::model::align::{AlignProjector, FeatureDump};
use crate::model::features::LayerFeatures;
use crate::model::spa::SpaVit;
use crate::pipeline::RunSettings;

/// Whose patch features to show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeatureSource {
    /// A SpatialVLA layer by name (`siglip`, `embeddings`, `layer 3`, ...).
    Layer(String),
    /// SPA's ViT on the model camera's image.
    Spa,
}

impl FeatureSource {
    pub fn label(&self) -> String {
        match self {
            Self::Layer(l) => format!("SpatialVLA {l}"),
            Self::Spa => "SPA ViT".to_owned(),
        }
    }
}

/// Where the components are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcaFit {
    /// On this frame's patches alone.
    Frame,
    /// Once on every `every`-th step of the episode (colours compare across steps).
    Episode { every: usize },
}

/// Spatial Forcing's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignSettings {
    pub projector: PathBuf,
    /// One dump file or a folder of `step_<S>.safetensors`.
    pub dumps: PathBuf,
    /// `None`: the last decoder layer.
    pub layer: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FeatureRequest {
    /// One or two encoders, shown side by side.
    pub sources: Vec<FeatureSource>,
    pub fit: PcaFit,
    pub settings: RunSettings,
    pub align: Option<AlignSettings>,
}

/// One encoder's feature map.
#[derive(Debug, Clone)]
pub struct FeaturePane {
    pub label: String,
    /// Patches per side (SpatialVLA 16, SPA 14).
    pub side: usize,
    pub width: usize,
    /// Per patch (raster order) the first three components as RGB.
    pub colours: Vec<[u8; 3]>,
    /// Share of the variance each component explains (of the fitting rows).
    pub explained: Vec<f64>,
    /// Frames the components were fitted on.
    pub fit_frames: usize,
}

/// What the panel shows for one step.
#[derive(Debug, Clone)]
pub struct FeatureView {
    pub episode_uid: u64,
    pub step: usize,
    /// The model camera (whose image the patches tile) and its frame.
    pub camera: usize,
    pub frame: Arc<RgbImage>,
    /// The checkpoint's layer names (for the panel's menus).
    pub layers: Vec<String>,
    pub panes: Vec<FeaturePane>,
    pub alignment: Option<FrameAlignment>,
    /// Why the alignment is missing although it was asked for (no dump for this step).
    pub alignment_note: Option<String>,
    pub ms: f64,
}

/// (episode uid, source, every, depth source) of a per-episode fit.
type FitKey = (u64, FeatureSource, usize, String);

/// What the model thread keeps between frames: SPA's weights, the projector, per-episode
/// fits.
#[derive(Default)]
pub struct FeatureState {
    pub spa: Option<SpaVit>,
    pub projector: Option<(PathBuf, AlignProjector)>,
    /// The fits over episodes and the frames each used.
    fits: HashMap<FitKey, (Arc<Pca>, usize)>,
}

impl FeatureState {
    /// Forgets every fit (another checkpoint or SPA weights).
    pub fn clear_fits(&mut self) {
        self.fits.clear();
    }

    /// The projector at `path`, loaded once.
    pub fn projector(&mut self, path: &std::path::Path) -> anyhow::Result<&AlignProjector> {
        if self.projector.as_ref().is_none_or(|(p, _)| p != path) {
            let proj = AlignProjector::load(path, &candle_core::Device::Cpu)
                .with_context(|| format!("cannot load the projector {}", path.display()))?;
            self.projector = Some((path.to_path_buf(), proj));
        }
        Ok(&self.projector.as_ref().expect("loaded above").1)
    }
}

fn layer_matrix(lf: &LayerFeatures, source: &FeatureSource) -> anyhow::Result<Matrix> {
    let name = match source {
        FeatureSource::Layer(l) => l.as_str(),
        FeatureSource::Spa => "spa",
    };
    let i = lf
        .names
        .iter()
        .position(|n| n == name)
        .with_context(|| format!("no layer `{name}`"))?;
    let w = lf.widths[i].max(1);
    Ok(Matrix::new(
        lf.features[i].len() / w,
        w,
        lf.features[i].iter().map(|v| f64::from(*v)).collect(),
    ))
}

/// Computes the view of `step` for `req`.
pub fn feature_view(
    predictor: &Predictor,
    state: &mut FeatureState,
    ep: &Episode,
    step: usize,
    req: &FeatureRequest,
) -> anyhow::Result<FeatureView> {
    let t0 = std::time::Instant::now();
    anyhow::ensure!(!req.sources.is_empty(), "no encoder chosen");
    let wants_spa = req.sources.contains(&FeatureSource::Spa);
    anyhow::ensure!(
        !wants_spa || state.spa.is_some(),
        "no SPA weights are loaded"
    );
    let spa = if wants_spa { state.spa.as_ref() } else { None };
    let lf = frame_features(predictor, spa, ep, step, &req.settings)?;
    let camera = ep.model_camera().context("no camera image")?;
    let mut panes = Vec::new();
    for source in &req.sources {
        let x = layer_matrix(&lf, source)?;
        let side = (x.rows as f64).sqrt().round() as usize;
        anyhow::ensure!(
            side * side == x.rows,
            "{} patches are not a square grid",
            x.rows
        );
        let (pca, fit_frames) = match req.fit {
            PcaFit::Frame => (
                Arc::new(Pca::fit(&x, 3).context("too few patches for PCA")?),
                1,
            ),
            PcaFit::Episode { every } => {
                let key = (
                    ep.uid,
                    source.clone(),
                    every,
                    format!("{:?}", req.settings.depth_choice),
                );
                match state.fits.get(&key) {
                    Some(f) => f.clone(),
                    None => {
                        let fit = episode_fit(predictor, spa, ep, source, every, &req.settings)?;
                        state.fits.insert(key, fit.clone());
                        fit
                    }
                }
            }
        };
        panes.push(FeaturePane {
            label: source.label(),
            side,
            width: x.cols,
            colours: pca.rgb(&x),
            explained: pca
                .variance
                .iter()
                .map(|v| v / pca.total_variance.max(1e-300))
                .collect(),
            fit_frames,
        });
    }
    let (alignment, alignment_note) = match &req.align {
        None => (None, None),
        Some(a) => match dump_for_step(&a.dumps, step)? {
            None => (
                None,
                Some(format!(
                    "{} holds no dump for step {step} (step_{step}.safetensors)",
                    a.dumps.display()
                )),
            ),
            Some(path) => {
                let dump = FeatureDump::load(&path, &candle_core::Device::Cpu)
                    .with_context(|| format!("cannot read the feature dump {}", path.display()))?;
                let layer = align_layer_index(&lf, a.layer.as_deref())?;
                let proj = state.projector(&a.projector)?;
                (Some(align_frame(&lf, layer, proj, &dump)?), None)
            }
        },
    };
    Ok(FeatureView {
        episode_uid: ep.uid,
        step,
        camera,
        frame: ep.rgb(step, camera)?,
        layers: lf.names.iter().filter(|n| *n != "spa").cloned().collect(),
        panes,
        alignment,
        alignment_note,
        ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// Components fitted on every `every`-th step of `ep`.
fn episode_fit(
    predictor: &Predictor,
    spa: Option<&SpaVit>,
    ep: &Episode,
    source: &FeatureSource,
    every: usize,
    settings: &RunSettings,
) -> anyhow::Result<(Arc<Pca>, usize)> {
    let spa = if *source == FeatureSource::Spa {
        spa
    } else {
        None
    };
    let mut data = Vec::new();
    let mut cols = 0;
    let mut frames = 0;
    for s in (0..ep.num_steps()).step_by(every.max(1)) {
        let lf = frame_features(predictor, spa, ep, s, settings)?;
        let x = layer_matrix(&lf, source)?;
        cols = x.cols;
        data.extend(x.data);
        frames += 1;
    }
    let x = Matrix::new(data.len() / cols.max(1), cols, data);
    let pca = Pca::fit(&x, 3).context("too few patches for PCA")?;
    Ok((Arc::new(pca), frames))
}
