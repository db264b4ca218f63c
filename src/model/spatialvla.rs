//! SpatialVLA end to end (spec 5-6): SigLIP features plus the Ego3D position embedding,
//! projected and divided by sqrt(hidden), replace the `<image>` rows of the prompt
//! embeddings; action-token ids take their input embeddings from `spatial_embed_tokens`
//! (not from the language model's table, whose rows the reference overwrites on load and
//! never reads); greedy decoding with a KV cache until `<eos>`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::linear::{Linear, activation_dtype, linear};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::VarBuilder;

use super::checkpoint::Checkpoint;
use super::config::SpatialVlaConfig;
use super::ego3d::Ego3dEmbedding;
use super::error::{ModelError, Result};
use super::gemma2::{AttentionCapture, Gemma2, KvCache, LogitRows};
use super::siglip::SiglipVisionTower;
use super::weights::WeightReader;
use crate::geometry::{Mat3f, PatchSampling};

pub struct SpatialVla {
    cfg: SpatialVlaConfig,
    vision: SiglipVisionTower,
    ego3d: Option<Ego3dEmbedding>,
    projector: Linear,
    spatial_embed: Option<Tensor>,
    lm: Gemma2,
    device: Device,
    /// The activations' dtype (`linear::activation_dtype`): float32 on the CPU for bfloat16
    /// weights.
    dtype: DType,
}

/// What the model is given for one frame.
#[derive(Debug, Clone)]
pub struct FrameInput {
    /// `pixel_values`: 3 x size x size in [0, 1] (see `preprocess::pixel_values`).
    pub pixel_values: Vec<f32>,
    /// Depth at the model input size, metres (size x size).
    pub depth_m: Vec<f32>,
    /// Intrinsics scaled to the model input.
    pub intrinsics: Mat3f,
    /// The full prompt ids (image tokens first), from `PromptTokenizer::prompt_ids`.
    pub prompt_ids: Vec<u32>,
}

/// Intermediate results of the image branch.
pub struct ImageFeatures {
    pub siglip_last_hidden_state: Tensor,
    pub ego3d_xyz: Vec<Vec<f32>>,
    pub ego3d_encoding: Option<Tensor>,
    pub ego3d_pos_embed: Option<Tensor>,
    pub projector_output: Tensor,
    /// (1, patches, text hidden): what replaces the `<image>` rows.
    pub image_features: Tensor,
    pub vision_attention_mean: Option<Tensor>,
}

/// Generated tokens whose attention is kept when asked (12 action tokens + `<eos>`, with
/// room for a few malformed extras); later tokens are generated without it.
pub const ATTENTION_TOKENS: usize = 16;

/// Options of one generation.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// Alternatives kept per step.
    pub top_k: usize,
    /// Keep the attention over the image positions of the first
    /// [`ATTENTION_TOKENS`] generated tokens (a chunk is 13).
    pub attention: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 256,
            top_k: 5,
            attention: false,
        }
    }
}

/// One generated token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeneratedToken {
    pub id: i64,
    /// Softmax probability of the chosen id over the whole vocabulary.
    pub probability: f32,
    /// Entropy of the softmax over the whole vocabulary, nats (0: certain).
    pub entropy_nats: f32,
    /// The `top_k` most likely ids (descending) with logit and probability.
    pub top: Vec<(i64, f32, f32)>,
}

/// A greedy generation.
pub struct Generation {
    pub tokens: Vec<GeneratedToken>,
    pub stopped_on_eos: bool,
    /// Per generated token (the first [`ATTENTION_TOKENS`]): attention probabilities of the
    /// query that produced it over the image keys, `[layer][head][patch]` flattened
    /// (layers x heads x patches), when asked.
    pub image_attention: Vec<Vec<f32>>,
    pub layers: usize,
    pub heads: usize,
}

impl SpatialVla {
    pub fn load(ckpt: &Checkpoint, device: &Device, dtype: DType) -> Result<Self> {
        let vb = ckpt.var_builder(dtype, device)?;
        Self::build(&ckpt.config, vb, Some(&ckpt.weight_reader()))
    }

    /// The model from any variable store (its packed layers are read, then packed).
    pub fn from_var_builder(cfg: &SpatialVlaConfig, vb: VarBuilder) -> Result<Self> {
        Self::build(cfg, vb, None)
    }

    fn build(
        cfg: &SpatialVlaConfig,
        vb: VarBuilder,
        reader: Option<&WeightReader>,
    ) -> Result<Self> {
        let vision =
            SiglipVisionTower::load(&cfg.vision, vb.pp("vision_tower.vision_model"), reader)?;
        let sampling = PatchSampling {
            image_size: cfg.vision.image_size,
            patch_size: cfg.vision.patch_size,
            reso: cfg.ego3d_patch_reso,
        };
        let ego3d = if cfg.use_vision_zoe {
            Some(Ego3dEmbedding::load(
                sampling,
                cfg.n_freqs,
                cfg.vision.hidden_size,
                vb.pp("position_embedding_3d.position_embedding_head"),
            )?)
        } else {
            None
        };
        let projector = linear(
            cfg.vision.hidden_size,
            cfg.projection_dim(),
            vb.pp("multi_modal_projector.linear"),
        )?;
        let spatial_embed = if cfg.use_spatial_token {
            Some(vb.get(
                (cfg.spatial_token_num, cfg.text.hidden_size),
                "spatial_embed_tokens.weight",
            )?)
        } else {
            None
        };
        let lm = Gemma2::load(&cfg.text, vb.pp("language_model"), reader)?;
        Ok(SpatialVla {
            cfg: cfg.clone(),
            vision,
            ego3d,
            projector,
            spatial_embed,
            lm,
            device: vb.device().clone(),
            dtype: activation_dtype(vb.dtype(), vb.device()),
        })
    }

    pub fn config(&self) -> &SpatialVlaConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the model adds the Ego3D embedding (and so needs depth).
    pub fn uses_depth(&self) -> bool {
        self.ego3d.is_some()
    }

    /// SigLIP, Ego3D, projector.
    pub fn image_features(
        &self,
        input: &FrameInput,
        want_attention: bool,
    ) -> Result<ImageFeatures> {
        let size = self.cfg.vision.image_size;
        if input.pixel_values.len() != 3 * size * size {
            return Err(ModelError::Input(format!(
                "pixel_values has {} values; the model needs 3x{size}x{size}",
                input.pixel_values.len()
            )));
        }
        let pixels = Tensor::from_slice(&input.pixel_values, (1, 3, size, size), &self.device)?;
        let siglip_in = ((pixels - 0.5)? / 0.5)?.to_dtype(self.dtype)?;
        let vision = self.vision.forward(&siglip_in, want_attention)?;
        let mut projector_input = vision.last_hidden_state.clone();
        let (mut xyz, mut encoding, mut pos_embed) = (Vec::new(), None, None);
        if let Some(ego) = &self.ego3d {
            let out = ego.forward(&input.depth_m, &input.intrinsics, &self.device)?;
            let pe = out.pos_embed.to_dtype(self.dtype)?;
            projector_input = (projector_input + &pe)?;
            xyz = out.xyz;
            encoding = Some(out.encoding);
            pos_embed = Some(pe);
        }
        let projector_output = self.projector.forward(&projector_input)?;
        let image_features = (&projector_output / (self.cfg.text.hidden_size as f64).sqrt())?;
        Ok(ImageFeatures {
            siglip_last_hidden_state: vision.last_hidden_state,
            ego3d_xyz: xyz,
            ego3d_encoding: encoding,
            ego3d_pos_embed: pos_embed,
            projector_output,
            image_features,
            vision_attention_mean: vision.last_layer_attention_mean,
        })
    }

    /// Input embeddings (T, hidden) of ids that are not image tokens; action ids use
    /// `spatial_embed_tokens`.
    pub fn embed_ids(&self, ids: &[u32]) -> Result<Tensor> {
        let vocab = self.cfg.text.vocab_size as u32;
        if let Some(&bad) = ids.iter().find(|&&id| id >= vocab) {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let mut rows = self.lm.embed(ids)?;
        if let Some(table) = &self.spatial_embed {
            let begin = self.cfg.action_token_begin_idx;
            let end = begin + self.cfg.spatial_token_num as i64;
            for (i, &id) in ids.iter().enumerate() {
                let id = i64::from(id);
                if (begin..end).contains(&id) {
                    let row = table.i((id - begin) as usize)?.unsqueeze(0)?;
                    rows = rows.slice_assign(&[i..i + 1, 0..self.cfg.text.hidden_size], &row)?;
                }
            }
        }
        Ok(rows)
    }

    /// Decoder input (1, L, hidden): image features in the `<image>` rows.
    pub fn prompt_embeds(&self, features: &ImageFeatures, prompt_ids: &[u32]) -> Result<Tensor> {
        let image_id = self.cfg.image_token_index as u32;
        let n_img = prompt_ids.iter().filter(|&&id| id == image_id).count();
        let patches = self.cfg.vision.num_patches();
        if n_img != patches {
            return Err(ModelError::Input(format!(
                "the prompt has {n_img} image tokens; the model produces {patches} image features"
            )));
        }
        let mut embeds = self.embed_ids(prompt_ids)?.to_dtype(self.dtype)?;
        let feats = features.image_features.squeeze(0)?.to_dtype(self.dtype)?;
        let hidden = self.cfg.text.hidden_size;
        let mut next = 0;
        // Image tokens are normally one leading run; fill them in order wherever they are.
        let mut i = 0;
        while i < prompt_ids.len() {
            if prompt_ids[i] == image_id {
                let mut j = i;
                while j < prompt_ids.len() && prompt_ids[j] == image_id {
                    j += 1;
                }
                let block = feats.narrow(0, next, j - i)?;
                embeds = embeds.slice_assign(&[i..j, 0..hidden], &block)?;
                next += j - i;
                i = j;
            } else {
                i += 1;
            }
        }
        Ok(embeds.unsqueeze(0)?)
    }

    /// A decoder pass over `embeds` after what `cache` holds.
    pub fn decode(
        &self,
        embeds: &Tensor,
        cache: &mut KvCache,
        capture: AttentionCapture,
        want_hidden: bool,
    ) -> Result<super::gemma2::DecoderOutput> {
        self.lm
            .forward(embeds, cache, capture, want_hidden, LogitRows::All)
    }

    pub fn new_cache(&self, prefix_len: usize) -> KvCache {
        self.lm.new_cache(prefix_len)
    }

    /// The prompt pass as generation runs it: image features in place of `<image>`, the
    /// whole prompt through the decoder, logits at the last position only. Returns the
    /// output and the filled cache.
    pub fn prompt_pass(
        &self,
        features: &ImageFeatures,
        prompt_ids: &[u32],
        capture: AttentionCapture,
    ) -> Result<(super::gemma2::DecoderOutput, KvCache)> {
        let embeds = self.prompt_embeds(features, prompt_ids)?;
        let mut cache = self.new_cache(prompt_ids.len());
        let out = self
            .lm
            .forward(&embeds, &mut cache, capture, false, LogitRows::Last)?;
        Ok((out, cache))
    }

    /// Greedy decoding from the prompt until `<eos>` or `max_new_tokens`. `cancel` is polled
    /// between tokens.
    pub fn generate(
        &self,
        features: &ImageFeatures,
        prompt_ids: &[u32],
        opts: GenerateOptions,
        cancel: &AtomicBool,
    ) -> Result<Generation> {
        let capture = if opts.attention {
            AttentionCapture::LastRow
        } else {
            AttentionCapture::None
        };
        let patches = self.cfg.vision.num_patches();
        let (mut out, mut cache) = self.prompt_pass(features, prompt_ids, capture)?;
        let mut tokens = Vec::new();
        let mut image_attention = Vec::new();
        let mut stopped_on_eos = false;
        for _ in 0..opts.max_new_tokens {
            if cancel.load(Ordering::Relaxed) {
                return Err(ModelError::Cancelled);
            }
            let t = out.logits.dim(1)?;
            let last = out.logits.i((0, t - 1))?.to_dtype(DType::F32)?;
            let token = pick(&last, opts.top_k)?;
            if opts.attention && !out.attentions.is_empty() {
                let per_layer: Vec<Tensor> = out
                    .attentions
                    .iter()
                    .map(|a| a.narrow(D::Minus1, 0, patches))
                    .collect::<candle_core::Result<_>>()?;
                let stacked = Tensor::stack(&per_layer, 0)?.to_dtype(DType::F32)?;
                image_attention.push(stacked.flatten_all()?.to_vec1::<f32>()?);
            }
            let id = token.id;
            tokens.push(token);
            if id == self.cfg.eos_token_id {
                stopped_on_eos = true;
                break;
            }
            if tokens.len() == opts.max_new_tokens {
                break;
            }
            let next = self.embed_ids(&[id as u32])?.unsqueeze(0)?;
            let capture = if tokens.len() < ATTENTION_TOKENS {
                capture
            } else {
                AttentionCapture::None
            };
            out = self
                .lm
                .forward(&next, &mut cache, capture, false, LogitRows::Last)?;
        }
        Ok(Generation {
            tokens,
            stopped_on_eos,
            image_attention,
            layers: self.cfg.text.num_hidden_layers,
            heads: self.cfg.text.num_attention_heads,
        })
    }
}

impl SpatialVla {
    /// The image branch of several frames at once: SigLIP and the projector over a
    /// (B, 3, S, S) batch, Ego3D per frame (its lifting is per-frame geometry and its MLP is
    /// small). Returned per frame, each as [`Self::image_features`] gives it, without the
    /// vision attention.
    pub fn image_features_batch(&self, inputs: &[&FrameInput]) -> Result<Vec<ImageFeatures>> {
        let size = self.cfg.vision.image_size;
        let b = inputs.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let mut all = Vec::with_capacity(b * 3 * size * size);
        for input in inputs {
            if input.pixel_values.len() != 3 * size * size {
                return Err(ModelError::Input(format!(
                    "pixel_values has {} values; the model needs 3x{size}x{size}",
                    input.pixel_values.len()
                )));
            }
            all.extend_from_slice(&input.pixel_values);
        }
        let pixels = Tensor::from_vec(all, (b, 3, size, size), &self.device)?;
        let siglip_in = ((pixels - 0.5)? / 0.5)?.to_dtype(self.dtype)?;
        let vision = self.vision.forward(&siglip_in, false)?;
        let mut projector_input = vision.last_hidden_state.clone();
        let mut ego_out = Vec::new();
        if let Some(ego) = &self.ego3d {
            for input in inputs {
                let mut out = ego.forward(&input.depth_m, &input.intrinsics, &self.device)?;
                out.pos_embed = out.pos_embed.to_dtype(self.dtype)?;
                ego_out.push(out);
            }
            let pe: Vec<&Tensor> = ego_out.iter().map(|o| &o.pos_embed).collect();
            projector_input = (projector_input + Tensor::cat(&pe, 0)?)?;
        }
        let projector_output = self.projector.forward(&projector_input)?;
        let image_features = (&projector_output / (self.cfg.text.hidden_size as f64).sqrt())?;
        let mut ego_out = ego_out.into_iter();
        (0..b)
            .map(|i| {
                let ego = ego_out.next();
                Ok(ImageFeatures {
                    siglip_last_hidden_state: vision.last_hidden_state.narrow(0, i, 1)?,
                    ego3d_encoding: ego.as_ref().map(|e| e.encoding.clone()),
                    ego3d_pos_embed: ego.as_ref().map(|e| e.pos_embed.clone()),
                    ego3d_xyz: ego.map(|e| e.xyz).unwrap_or_default(),
                    projector_output: projector_output.narrow(0, i, 1)?,
                    image_features: image_features.narrow(0, i, 1)?,
                    vision_attention_mean: None,
                })
            })
            .collect()
    }

    /// Greedy decoding of several prompts of one length at once (one prefill over the
    /// batch, then one decoder pass per generated position for all of them). A sequence
    /// that has ended is fed `<eos>` until the others end; causal attention keeps that
    /// from changing what it generated. No attention is kept.
    pub fn generate_batch(
        &self,
        features: &[ImageFeatures],
        prompt_ids: &[Vec<u32>],
        opts: GenerateOptions,
        cancel: &AtomicBool,
    ) -> Result<Vec<Generation>> {
        let b = features.len();
        if b == 0 || prompt_ids.len() != b {
            return Err(ModelError::Input(format!(
                "a batch of {b} image features and {} prompts",
                prompt_ids.len()
            )));
        }
        let len = prompt_ids[0].len();
        if prompt_ids.iter().any(|p| p.len() != len) {
            return Err(ModelError::Input(
                "a batch's prompts must have one length".into(),
            ));
        }
        let embeds = features
            .iter()
            .zip(prompt_ids)
            .map(|(f, p)| self.prompt_embeds(f, p))
            .collect::<Result<Vec<_>>>()?;
        let mut cache = self.new_cache(len);
        let mut out = self.lm.forward(
            &Tensor::cat(&embeds, 0)?,
            &mut cache,
            AttentionCapture::None,
            false,
            LogitRows::Last,
        )?;
        let mut tokens: Vec<Vec<GeneratedToken>> = vec![Vec::new(); b];
        let mut stopped_on_eos = vec![false; b];
        let mut ended = vec![opts.max_new_tokens == 0; b];
        while !ended.iter().all(|&e| e) {
            if cancel.load(Ordering::Relaxed) {
                return Err(ModelError::Cancelled);
            }
            let t = out.logits.dim(1)?;
            let last = out.logits.i((.., t - 1))?.to_dtype(DType::F32)?;
            let mut next = Vec::with_capacity(b);
            for i in 0..b {
                let mut id = self.cfg.eos_token_id;
                if !ended[i] {
                    let token = pick(&last.i(i)?, opts.top_k)?;
                    id = token.id;
                    tokens[i].push(token);
                    stopped_on_eos[i] = id == self.cfg.eos_token_id;
                    ended[i] = stopped_on_eos[i] || tokens[i].len() == opts.max_new_tokens;
                }
                next.push(self.embed_ids(&[id as u32])?);
            }
            if ended.iter().all(|&e| e) {
                break;
            }
            let next = Tensor::stack(&next, 0)?;
            out = self.lm.forward(
                &next,
                &mut cache,
                AttentionCapture::None,
                false,
                LogitRows::Last,
            )?;
        }
        Ok(tokens
            .into_iter()
            .zip(stopped_on_eos)
            .map(|(tokens, stopped_on_eos)| Generation {
                tokens,
                stopped_on_eos,
                image_attention: Vec::new(),
                layers: self.cfg.text.num_hidden_layers,
                heads: self.cfg.text.num_attention_heads,
            })
            .collect())
    }
}

/// Greedy choice plus the `k` best alternatives with softmax probabilities (f32 logits).
fn pick(logits: &Tensor, k: usize) -> Result<GeneratedToken> {
    let v: Vec<f32> = logits.to_vec1()?;
    if v.iter().any(|x| !x.is_finite()) {
        return Err(ModelError::Compute("non-finite logits".into()));
    }
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = v.iter().map(|&x| f64::from(x - max).exp()).sum();
    // H = ln T - sum p_i z_i with z_i = x_i - max and p_i = e^z_i / T.
    let weighted: f64 = v
        .iter()
        .map(|&x| {
            let z = f64::from(x - max);
            z.exp() * z
        })
        .sum();
    let entropy_nats = (total.ln() - weighted / total).max(0.0) as f32;
    let prob = |x: f32| (f64::from(x - max).exp() / total) as f32;
    let mut order: Vec<usize> = (0..v.len()).collect();
    let k = k.max(1).min(v.len());
    // Ties go to the lower id, as torch's argmax.
    order.select_nth_unstable_by(k - 1, |&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    order.truncate(k);
    order.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    let top: Vec<(i64, f32, f32)> = order
        .iter()
        .map(|&i| (i as i64, v[i], prob(v[i])))
        .collect();
    Ok(GeneratedToken {
        id: top[0].0,
        probability: top[0].2,
        entropy_nats,
        top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entropy against its closed forms: ln V for equal logits, ln 2 for two equal
    /// winners far above the rest, 0 for one certain choice.
    #[test]
    fn token_entropy_in_nats() {
        let t = |v: &[f32]| pick(&Tensor::new(v, &Device::Cpu).unwrap(), 3).unwrap();
        assert!((t(&[0.5; 8]).entropy_nats - 8f32.ln()).abs() < 1e-6);
        assert!((t(&[50.0, 50.0, -50.0, -50.0]).entropy_nats - 2f32.ln()).abs() < 1e-6);
        let sure = t(&[100.0, 0.0, 0.0]);
        assert!(sure.entropy_nats < 1e-6 && sure.id == 0);
    }
}
