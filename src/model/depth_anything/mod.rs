//! Depth Anything V2 (Yang et al., 2024) in candle: the depth expert SpatialActor sets
//! against raw sensor depth. Written from the official code (DepthAnything/Depth-Anything-V2
//! at a561b84), not candle-transformers' port, because that port fixes the input at 518 x 518
//! and has no bicubic position-embedding resampling, so it cannot agree with the official
//! `infer_image` on other image shapes.
//!
//! Reads the official state-dict names from a safetensors file (`config.rs` infers the
//! widths). Relative checkpoints give affine-invariant *inverse* depth (larger = nearer);
//! metric ones (`metric_depth/`) give metres. `geometry::depth_align` turns either into
//! metres against a raw depth map. Parity with the official code on tiny random-weight
//! checkpoints: `tests/golden/depth_anything_v2/`, `tests/it/depth_anything.rs`.

pub mod config;
mod dinov2;
mod dpt;
pub mod resize;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use config::DepthAnythingConfig;
use dinov2::DinoV2;
use dpt::DptHead;

use super::checkpoint::read_header_and_metadata;
use super::error::{ModelError, Result};

/// What the expert's numbers mean.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpertOutput {
    /// Affine-invariant inverse depth (scale and shift unknown).
    RelativeInverseDepth,
    /// Metric depth in metres.
    MetricDepth,
}

/// One frame's prediction at the image's own size.
#[derive(Debug, Clone)]
pub struct ExpertPrediction {
    pub output: ExpertOutput,
    /// Row-major, `width_px * height_px` values.
    pub values: Vec<f32>,
    pub width_px: usize,
    pub height_px: usize,
    /// The network input size (height, width).
    pub input_px: (usize, usize),
    pub ms: f64,
}

pub struct DepthAnythingV2 {
    pub config: DepthAnythingConfig,
    pub weights: PathBuf,
    backbone: DinoV2,
    head: DptHead,
    device: Device,
}

impl DepthAnythingV2 {
    /// Loads the weights at `path` (a `.safetensors` file, an official `.pth`, or a folder
    /// holding one) in float32; safetensors are memory-mapped. `max_depth_m` makes a
    /// checkpoint metric (see `config.rs`).
    pub fn load(path: &Path, max_depth_m: Option<f64>, device: &Device) -> Result<Self> {
        Self::load_with(path, max_depth_m, None, device)
    }

    /// [`Self::load`] with the head count given (what a `.pth` cannot say; the released
    /// widths use 64-wide heads, which is assumed otherwise).
    #[expect(unsafe_code, reason = "memory-mapping the weights (see SAFETY)")]
    pub fn load_with(
        path: &Path,
        max_depth_m: Option<f64>,
        num_heads: Option<usize>,
        device: &Device,
    ) -> Result<Self> {
        let weights = config::weights_file(path)?;
        let (tensors, mut metadata, vb) = if config::is_pytorch(&weights) {
            let (infos, tensors) = super::pth::read(&weights, device)?;
            let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
            (infos, std::collections::BTreeMap::new(), vb)
        } else {
            let (infos, metadata) = read_header_and_metadata(&weights)?;
            // SAFETY: mapped read-only; spatialscope never writes into a checkpoint; the
            // header was checked just above (every tensor inside the file).
            let st = unsafe { MmapedSafetensors::new(&weights) }.map_err(|e| ModelError::Io {
                path: weights.clone(),
                what: format!("cannot map the weights: {e}"),
            })?;
            let vb = VarBuilder::from_backend(Box::new(st), DType::F32, device.clone());
            (infos, metadata, vb)
        };
        if let Some(h) = num_heads {
            metadata.insert("num_heads".into(), h.to_string());
        }
        let config = DepthAnythingConfig::infer(&weights, &tensors, &metadata, max_depth_m)?;
        Ok(Self {
            backbone: DinoV2::load(&config, vb.pp("pretrained"))?,
            head: DptHead::load(&config, vb.pp("depth_head"))?,
            config,
            weights,
            device: device.clone(),
        })
    }

    pub fn output(&self) -> ExpertOutput {
        match self.config.max_depth_m {
            Some(_) => ExpertOutput::MetricDepth,
            None => ExpertOutput::RelativeInverseDepth,
        }
    }

    /// A one-line description for labels and reports.
    pub fn label(&self) -> String {
        let name = self
            .weights
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = match self.config.max_depth_m {
            Some(m) => format!("metric, max {m} m"),
            None => "relative inverse depth".into(),
        };
        format!(
            "Depth Anything V2 {} ({:.1} M parameters, {kind}) {name}",
            self.config.encoder,
            self.config.parameter_count() as f64 / 1e6
        )
    }

    /// The network on a prepared input `x` (1, 3, H, W), H and W multiples of 14: (1, H, W).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let p = self.config.patch_px;
        if h % p != 0 || w % p != 0 || h == 0 || w == 0 {
            return Err(ModelError::Input(format!(
                "input {h} x {w} is not a positive multiple of the {p}-px patch"
            )));
        }
        let tokens = self.backbone.forward(&x.to_dtype(DType::F32)?)?;
        self.head.forward(&tokens, h / p, w / p)
    }

    /// The official `infer_image` on an interleaved RGB8 image: resize to `input_size` (lower
    /// bound, multiples of 14; 518 by default in the official code), normalise, run, resize
    /// back to the image (bilinear, align corners).
    pub fn infer(
        &self,
        rgb: &[u8],
        width_px: usize,
        height_px: usize,
        input_size: usize,
    ) -> Result<ExpertPrediction> {
        if width_px == 0 || height_px == 0 || rgb.len() != 3 * width_px * height_px {
            return Err(ModelError::Input(format!(
                "RGB image of {width_px} x {height_px} with {} bytes",
                rgb.len()
            )));
        }
        if !(14..=4096).contains(&input_size) {
            return Err(ModelError::Input(format!(
                "input size {input_size} px outside 14..4096"
            )));
        }
        let t0 = Instant::now();
        let (values, (h, w)) = resize::network_input(rgb, width_px, height_px, input_size);
        let x = Tensor::from_vec(values, (1, 3, h, w), &self.device)?;
        let depth = self.forward(&x)?.unsqueeze(1)?;
        let full = crate::model::resample::bilinear(&depth, height_px, width_px, true)?;
        let values: Vec<f32> = full.flatten_all()?.to_vec1()?;
        Ok(ExpertPrediction {
            output: self.output(),
            values,
            width_px,
            height_px,
            input_px: (h, w),
            ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }
}
