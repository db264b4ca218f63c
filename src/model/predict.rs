//! One frame in, everything the inspector shows out: the prompt, the generated tokens with
//! their probabilities and top-k alternatives (each decoded on its own), the decoded chunk
//! with its malformation flags, the same ids decoded with every unnorm key of the
//! checkpoint (to spot a wrong key), the Ego3D points and embedding norms the model
//! received, and optionally the attention of each generated token over the image.
//!
//! The depth the model used is always recorded. By default it is the reference behaviour:
//! ZoeDepth's estimate from the RGB frame ([`DepthChoice::Estimated`]); the episode's sensor
//! depth (or a depth file) can be given instead ([`DepthChoice::Sensor`]) as a "what if the
//! model had true depth" experiment. A checkpoint without `vision_zoe_model.` weights can only
//! run on sensor depth, and says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use candle_core::{D, DType, Device};

use super::checkpoint::Checkpoint;
use super::error::{ModelError, Result};
use super::preprocess::{depth_to_model_size, pixel_values};
use super::processor::{
    ChosenIntrinsics, IntrinsicsPrecision, IntrinsicsSource, ProcessorIntrinsics,
};
use super::prompt::PromptTokenizer;
use super::spatialvla::{FrameInput, GenerateOptions, Generation, ImageFeatures, SpatialVla};
use super::zoe_resample;
use super::zoedepth::ZoeDepth;
use crate::action_grid::{
    ChunkDecode, ProcessorConfig, Slot, TokenValue, decode_chunk, token_value,
};

/// A loaded checkpoint ready to predict.
pub struct Predictor {
    pub dir: PathBuf,
    /// Shown wherever predictions are: says when the weights are random.
    pub label: String,
    pub random_weights: bool,
    pub model: SpatialVla,
    pub tokenizer: PromptTokenizer,
    pub processor: ProcessorConfig,
    pub intrinsics: ProcessorIntrinsics,
    pub load_time: Duration,
    pub parameter_count: usize,
    /// Bytes the weights take on the device: ZoeDepth in float32, the rest in the dtype,
    /// except what a float32 model keeps as stored bfloat16 (`packed_load.rs`).
    pub weight_bytes: u64,
    pub has_zoe_weights: bool,
    /// ZoeDepth, when the checkpoint has its weights and configuration.
    pub zoe: Option<ZoeDepth>,
    /// Why ZoeDepth is not available (shown where the depth source is chosen).
    pub zoe_unavailable: Option<String>,
}

/// Which depth the model lifts its patches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepthChoice {
    /// ZoeDepth's estimate from the RGB frame (what the reference does).
    #[default]
    Estimated,
    /// The supplied depth (the episode's sensor depth, a depth file).
    Sensor,
}

impl DepthChoice {
    pub fn label(self) -> &'static str {
        match self {
            Self::Estimated => "estimated (ZoeDepth)",
            Self::Sensor => "sensor depth",
        }
    }
}

/// ZoeDepth's output for a prediction.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EstimatedDepth {
    /// Metres at the model input size (row-major `size` x `size`), what Ego3D used when
    /// the estimate was chosen.
    #[serde(skip)]
    pub depth_m: Vec<f32>,
    pub size: usize,
    /// The bin configuration the domain classifier chose (`nyu`, `kitti`).
    pub domain: String,
    pub domain_logits: Vec<f32>,
    pub ms: f64,
}

/// Depth handed to Ego3D, at any resolution (resized to the model input).
#[derive(Debug, Clone)]
pub struct DepthInput {
    pub depth_m: Vec<f32>,
    pub width: usize,
    pub height: usize,
    /// Where it came from ("sensor depth of camera agentview", "file x.png").
    pub source: String,
}

/// One prediction request.
pub struct PredictRequest<'a> {
    /// Packed RGB8.
    pub rgb: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub instruction: &'a str,
    pub depth: Option<DepthInput>,
    /// Estimated (ZoeDepth) or the supplied `depth`.
    pub depth_choice: DepthChoice,
    /// Also estimate depth when sensor depth is chosen, to compare the two (costs a ZoeDepth
    /// pass; off for whole-episode runs).
    pub compare_depth: bool,
    pub unnorm_key: &'a str,
    pub intrinsics: IntrinsicsPrecision,
    pub intrinsics_source: IntrinsicsSource,
    pub options: GenerateOptions,
}

/// A request made ready for the network ([`Predictor::prepare`]).
pub(super) struct Prepared {
    pub(super) input: FrameInput,
    pub(super) prompt_note: Option<String>,
    pub(super) intrinsics: ChosenIntrinsics,
    pub(super) depth_source: String,
    pub(super) invalid_depth_fraction: f32,
    pub(super) estimated_depth: Option<EstimatedDepth>,
    pub(super) depth_choice: DepthChoice,
    pub(super) instruction: String,
    pub(super) unnorm_key: String,
    /// Time spent preparing (pixel values, ZoeDepth), counted in `image_ms`.
    pub(super) prepare_ms: f64,
}

/// One alternative at a generation step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alternative {
    pub id: i64,
    pub token: String,
    pub logit: f32,
    pub probability: f32,
    pub value: Option<TokenValue>,
}

/// One generated token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenReport {
    pub position: usize,
    pub id: i64,
    pub token: String,
    pub probability: f32,
    /// Entropy of the model's distribution over the vocabulary at this position, nats.
    pub entropy_nats: f32,
    /// The slot a well-formed chunk has at this position (translation, rotation, gripper),
    /// for the first `3 * chunk` tokens.
    pub expected_slot: Option<Slot>,
    pub value: Option<TokenValue>,
    pub top: Vec<Alternative>,
}

/// The same ids decoded with another key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyDecode {
    pub key: String,
    pub actions: Vec<[f64; 7]>,
    /// Mean translation norm over the chunk.
    pub mean_translation_norm: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub checkpoint: String,
    pub random_weights: bool,
    pub instruction: String,
    pub prompt_ids: Vec<u32>,
    pub unnorm_key: String,
    pub intrinsics: ChosenIntrinsics,
    pub depth_source: String,
    pub depth_choice: DepthChoice,
    /// ZoeDepth's estimate: what the model used, or (sensor depth chosen, `compare_depth`)
    /// the one it would have used.
    pub estimated_depth: Option<EstimatedDepth>,
    /// Fraction of model-size depth samples that were invalid (set to 0 m).
    pub invalid_depth_fraction: f32,
    pub tokens: Vec<TokenReport>,
    pub stopped_on_eos: bool,
    pub chunk: ChunkDecode,
    pub issues: Vec<String>,
    /// What was changed on the way in (an instruction cut to the model's limit).
    pub notes: Vec<String>,
    pub per_key: Vec<KeyDecode>,
    /// Per patch, the `reso^2` camera-frame points the model lifted (x, y, z metres).
    pub ego3d_xyz: Vec<Vec<f32>>,
    /// Per patch, the L2 norm of the Ego3D position embedding.
    pub ego3d_embed_norm: Vec<f32>,
    pub patches_per_side: usize,
    /// Per generated token: `[layer][head][patch]` flattened, when requested.
    #[serde(skip)]
    pub image_attention: Vec<Vec<f32>>,
    pub attention_layers: usize,
    pub attention_heads: usize,
    pub image_ms: f64,
    pub generate_ms: f64,
}

/// Says whether a checkpoint folder documents itself as random weights (the bundled tiny
/// checkpoint and the golden one do, in their README).
fn documents_random_weights(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("README.md"))
        .map(|t| {
            t.to_lowercase().contains("random-weight")
                || t.to_lowercase().contains("random weights")
        })
        .unwrap_or(false)
}

impl Predictor {
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let t0 = Instant::now();
        let ck = Checkpoint::open(dir)?;
        let model = SpatialVla::load(&ck, device, dtype)?;
        // ZoeDepth runs in float32 whatever the language model's dtype.
        let (zoe, zoe_unavailable) = match (&ck.config.zoe, ck.has_zoe_weights) {
            (Some(cfg), true) => {
                let vb = ck.var_builder(DType::F32, device)?;
                let reader = ck.weight_reader();
                let zoe = ZoeDepth::load_from(cfg, vb.pp("vision_zoe_model"), Some(&reader))?;
                (Some(zoe), None)
            }
            (None, _) => (
                None,
                Some("config.json has no vision_zoe_config: depth cannot be estimated".to_owned()),
            ),
            (Some(_), false) => (
                None,
                Some("the checkpoint has no `vision_zoe_model.` weights (some fine-tunes drop ZoeDepth): depth cannot be estimated, use sensor depth".to_owned()),
            ),
        };
        let tokenizer = PromptTokenizer::load(dir)?;
        let processor = ProcessorConfig::load(dir).map_err(|e| ModelError::Config {
            path: dir.join("processor_config.json"),
            field: "(action grid)".into(),
            what: e.to_string(),
        })?;
        let intrinsics = ProcessorIntrinsics::load(dir)?;
        let random_weights = documents_random_weights(dir);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let label = if random_weights {
            format!("{name} (random weights: structure test only, predictions are meaningless)")
        } else {
            name
        };
        Ok(Predictor {
            dir: dir.to_path_buf(),
            label,
            random_weights,
            parameter_count: ck.parameter_count(),
            weight_bytes: {
                let (zoe, rest) = ck.parameter_split();
                let zoe = if zoe_unavailable.is_none() { zoe } else { 0 };
                // Less the values float32 layers keep as stored bfloat16 (2 bytes, not 4).
                let full = (zoe * 4 + rest * dtype.size_in_bytes()) as u64;
                full.saturating_sub(2 * ck.values_kept_bf16())
            },
            has_zoe_weights: ck.has_zoe_weights,
            zoe,
            zoe_unavailable,
            model,
            tokenizer,
            processor,
            intrinsics,
            load_time: t0.elapsed(),
        })
    }

    /// ZoeDepth's metric depth for `pixel_values` (3 x size x size in [0, 1]), resampled to
    /// the model input size exactly as the reference does.
    pub fn estimate_depth(&self, pixels: &[f32], size: usize) -> Result<EstimatedDepth> {
        let zoe = self
            .zoe
            .as_ref()
            .ok_or_else(|| ModelError::Input(self.zoe_unavailable.clone().unwrap_or_default()))?;
        let t0 = Instant::now();
        let s = zoe.config.backbone_config.image_size;
        let x = zoe_resample::zoe_input(pixels, size);
        let x = candle_core::Tensor::from_vec(x, (1, 3, s, s), self.model.device())?;
        let out = zoe.forward(&x)?;
        let d: Vec<f32> = out.metric.depth.flatten_all()?.to_vec1()?;
        if d.len() != s * s {
            return Err(ModelError::Compute(format!(
                "ZoeDepth returned {} values, expected {s} x {s}",
                d.len()
            )));
        }
        Ok(EstimatedDepth {
            depth_m: zoe_resample::depth_at_model_size(&d, size),
            size,
            domain: zoe
                .config
                .bin_configurations
                .get(out.metric.domain)
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            domain_logits: out.metric.domain_logits.flatten_all()?.to_vec1()?,
            ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The unnorm keys the checkpoint has statistics for.
    pub fn unnorm_keys(&self) -> Vec<String> {
        self.processor.statistics.keys().cloned().collect()
    }

    fn token_string(&self, id: i64) -> String {
        u32::try_from(id)
            .ok()
            .and_then(|i| self.tokenizer.token(i))
            .unwrap_or_else(|| format!("<id {id}>"))
    }

    /// Everything before the network: checks, pixel values, depth (ZoeDepth when
    /// estimated), intrinsics and prompt ids.
    pub(super) fn prepare(&self, req: &PredictRequest) -> Result<Prepared> {
        let cfg = self.model.config();
        let size = cfg.vision.image_size;
        if req.rgb.len() != req.width * req.height * 3 || req.width == 0 || req.height == 0 {
            return Err(ModelError::Input(format!(
                "image of {}x{} needs {} RGB bytes, got {}",
                req.width,
                req.height,
                req.width * req.height * 3,
                req.rgb.len()
            )));
        }
        // An unknown key fails here, before ZoeDepth runs.
        self.processor
            .stats(req.unnorm_key)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let t0 = Instant::now();
        let pixels = pixel_values(req.rgb, req.width, req.height, size);
        let wanted = req.depth_choice == DepthChoice::Estimated || req.compare_depth;
        let estimated_depth = match (&self.zoe, self.model.uses_depth() && wanted) {
            (Some(_), true) => Some(self.estimate_depth(&pixels, size)?),
            _ => None,
        };
        let (depth_m, invalid, depth_source) = match (
            req.depth_choice,
            &req.depth,
            self.model.uses_depth(),
            &estimated_depth,
        ) {
            (_, _, false, _) => (
                vec![0.0; size * size],
                0.0,
                "none (use_vision_zoe is false)".to_owned(),
            ),
            (DepthChoice::Estimated, _, true, Some(e)) => (
                e.depth_m.clone(),
                0.0,
                format!("estimated by ZoeDepth ({} head)", e.domain),
            ),
            (DepthChoice::Estimated, sensor, true, None) => {
                let why = self
                    .zoe_unavailable
                    .clone()
                    .unwrap_or_else(|| "ZoeDepth is not available".into());
                let hint = if sensor.is_some() {
                    "; this frame has sensor depth: choose \"sensor depth\" as the depth source"
                } else {
                    "; this frame has no sensor depth either"
                };
                return Err(ModelError::Input(format!("{why}{hint}")));
            }
            (DepthChoice::Sensor, Some(d), true, _) => {
                if d.depth_m.len() != d.width * d.height {
                    return Err(ModelError::Input(format!(
                        "{}: {} depth values for {}x{}",
                        d.source,
                        d.depth_m.len(),
                        d.width,
                        d.height
                    )));
                }
                let (m, bad) = depth_to_model_size(&d.depth_m, d.width, d.height, size);
                (m, bad, d.source.clone())
            }
            (DepthChoice::Sensor, None, true, _) => {
                return Err(ModelError::Input(
                    "sensor depth was chosen but this frame has none: choose the estimated \
                     (ZoeDepth) depth, or pass a depth file"
                        .into(),
                ));
            }
        };
        let intrinsics = self.intrinsics.choose_from(
            &req.intrinsics_source,
            req.unnorm_key,
            size as u32,
            req.intrinsics,
        )?;
        let (prompt_ids, prompt_note) = self
            .tokenizer
            .prompt_ids_capped(req.instruction, cfg.vision.num_patches())?;
        let input = FrameInput {
            pixel_values: pixels,
            depth_m,
            intrinsics: intrinsics.k,
            prompt_ids: prompt_ids.clone(),
        };
        Ok(Prepared {
            input,
            prompt_note,
            intrinsics,
            depth_source,
            invalid_depth_fraction: invalid,
            estimated_depth,
            depth_choice: req.depth_choice,
            instruction: req.instruction.to_owned(),
            unnorm_key: req.unnorm_key.to_owned(),
            prepare_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }

    pub fn predict(&self, req: &PredictRequest, cancel: &AtomicBool) -> Result<Prediction> {
        let prepared = self.prepare(req)?;
        let t0 = Instant::now();
        let features = self.model.image_features(&prepared.input, false)?;
        let image_ms = prepared.prepare_ms + t0.elapsed().as_secs_f64() * 1e3;
        let t1 = Instant::now();
        let generation =
            self.model
                .generate(&features, &prepared.input.prompt_ids, req.options, cancel)?;
        let generate_ms = t1.elapsed().as_secs_f64() * 1e3;
        self.finish(prepared, features, generation, image_ms, generate_ms)
    }

    /// Everything after the network: token reports, the decoded chunk, every key's decode.
    pub(super) fn finish(
        &self,
        prepared: Prepared,
        features: ImageFeatures,
        generation: Generation,
        image_ms: f64,
        generate_ms: f64,
    ) -> Result<Prediction> {
        let stats = self
            .processor
            .stats(&prepared.unnorm_key)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let ego3d_embed_norm = match &features.ego3d_pos_embed {
            Some(pe) => pe
                .to_dtype(DType::F32)?
                .sqr()?
                .sum(D::Minus1)?
                .sqrt()?
                .flatten_all()?
                .to_vec1()?,
            None => Vec::new(),
        };
        let cfg = self.model.config();
        let layout = &self.processor.layout;
        let grid = &self.processor.grid;
        let chunk_size = self.processor.chunk_size;
        let tokens: Vec<TokenReport> = generation
            .tokens
            .iter()
            .enumerate()
            .map(|(position, t)| TokenReport {
                position,
                id: t.id,
                token: self.token_string(t.id),
                probability: t.probability,
                entropy_nats: t.entropy_nats,
                expected_slot: (position < 3 * chunk_size).then(|| Slot::ORDER[position % 3]),
                value: token_value(t.id, layout, grid, Some(stats)),
                top: t
                    .top
                    .iter()
                    .map(|&(id, logit, probability)| Alternative {
                        id,
                        token: self.token_string(id),
                        logit,
                        probability,
                        value: token_value(id, layout, grid, Some(stats)),
                    })
                    .collect(),
            })
            .collect();
        let ids: Vec<i64> = generation.tokens.iter().map(|t| t.id).collect();
        let chunk = decode_chunk(&ids, grid, layout, Some(stats), chunk_size)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let issues = chunk.issues.iter().map(|i| i.to_string()).collect();
        let per_key = self
            .processor
            .statistics
            .iter()
            .map(|(key, s)| {
                let actions: Vec<[f64; 7]> =
                    chunk.normalized.iter().map(|n| s.unnormalize(n)).collect();
                let mean_translation_norm = actions
                    .iter()
                    .map(|a| (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt())
                    .sum::<f64>()
                    / actions.len().max(1) as f64;
                KeyDecode {
                    key: key.clone(),
                    actions,
                    mean_translation_norm,
                }
            })
            .collect();
        Ok(Prediction {
            checkpoint: self.label.clone(),
            random_weights: self.random_weights,
            instruction: prepared.instruction,
            prompt_ids: prepared.input.prompt_ids,
            unnorm_key: prepared.unnorm_key,
            intrinsics: prepared.intrinsics,
            depth_source: prepared.depth_source,
            depth_choice: prepared.depth_choice,
            estimated_depth: prepared.estimated_depth,
            invalid_depth_fraction: prepared.invalid_depth_fraction,
            tokens,
            stopped_on_eos: generation.stopped_on_eos,
            chunk,
            issues,
            notes: prepared.prompt_note.into_iter().collect(),
            per_key,
            ego3d_xyz: features.ego3d_xyz,
            ego3d_embed_norm,
            patches_per_side: cfg.vision.patches_per_side(),
            image_attention: generation.image_attention,
            attention_layers: generation.layers,
            attention_heads: generation.heads,
            image_ms,
            generate_ms,
        })
    }
}

/// The normalisation check: keys whose decoded translation magnitude is closest to the
/// ground truth's, best first, with the ratio (decoded / truth). A chosen key far down this
/// list, or a ratio far from 1, suggests the wrong key.
pub fn rank_keys_by_magnitude(
    per_key: &[KeyDecode],
    truth_mean_translation_norm: f64,
) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = per_key
        .iter()
        .map(|k| {
            let ratio = k.mean_translation_norm / truth_mean_translation_norm.max(1e-12);
            (k.key.clone(), ratio)
        })
        .collect();
    v.sort_by(|a, b| a.1.ln().abs().total_cmp(&b.1.ln().abs()));
    v
}
