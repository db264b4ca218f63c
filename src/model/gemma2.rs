//! The Gemma2 decoder as `transformers` 4.47 runs it in eager mode (spec 6.1-6.2):
//! embeddings scaled by sqrt(hidden), RMSNorm with `(1 + w)`, grouped-query attention with
//! queries scaled by `query_pre_attn_scalar^-0.5`, rotary embeddings (rotate-half) at
//! 1-based positions, attention logits soft-capped (`tanh(x / 50) * 50`) before the mask
//! and softmax, a 4096-token sliding window on even layers, four norms per layer
//! (pre/post attention, pre/post MLP), a tanh-GELU gated MLP, a final RMSNorm, an untied
//! head and the final logit soft-cap (30).
//!
//! Masking follows SpatialVLA rather than plain Gemma2: the first `prefix_len` positions (the
//! prompt) see each other bidirectionally and later positions are causal, which is both the
//! reference's training mask and what incremental decoding with the KV cache sees.
//!
//! In float32 on the CPU the seven products of each layer are packed at load for our
//! kernels (`Linear::prepacked`): the prompt pass skips packing 2 B weights per call
//! (7.8-8.0 -> 7.2 s at real size, same sitting) and the tokens stream the same panels
//! no slower than the stored rows.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

use super::activation::{gelu_tanh, soft_cap};
use super::linear::{Linear, activation_dtype};
use super::packed_load::{packed_linear, table_as_stored};
use super::weights::WeightReader;

use super::config::TextConfig;
use super::error::Result;

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// The four RMSNorm gains, stored as `1 + w`.
    input_norm: Tensor,
    post_attn_norm: Tensor,
    pre_ff_norm: Tensor,
    post_ff_norm: Tensor,
    sliding: bool,
}

/// Keys and values of every layer for the positions seen so far.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    /// Positions held.
    pub len: usize,
    /// Length of the bidirectional prefix (the prompt).
    pub prefix_len: usize,
}

/// Which attention probabilities a pass keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionCapture {
    None,
    /// The last query row of every layer: (heads, keys) per layer.
    LastRow,
    /// Every query row of every layer: (heads, queries, keys) per layer.
    All,
}

/// Which positions the head turns into logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    /// Every position (the parity tests read the first and the last).
    All,
    /// The last position only, as `generate` asks the reference (`num_logits_to_keep=1`):
    /// for a 268-token prompt the head over the 257 k vocabulary is a fifth of the pass.
    Last,
}

/// Result of one decoder pass.
pub struct DecoderOutput {
    /// (B, T, vocab) logits after the final soft-cap; T = 1 for [`LogitRows::Last`].
    pub logits: Tensor,
    /// `[inputs * normaliser, layer 0 out, ..., final norm]` when requested; the last
    /// layer's pre-norm output is not included (the library's convention).
    pub hidden_states: Vec<Tensor>,
    /// Per layer, as selected by [`AttentionCapture`].
    pub attentions: Vec<Tensor>,
}

pub struct Gemma2 {
    cfg: TextConfig,
    /// As stored where widening is exact (`packed_load::table_as_stored`).
    embed_tokens: Tensor,
    /// The dtype the model was loaded in: [`Gemma2::embed`]'s rows.
    dtype: DType,
    layers: Vec<Layer>,
    final_norm: Tensor,
    lm_head: Linear,
    inv_freq: Vec<f32>,
    device: Device,
    /// The dtype of the residual stream (`linear::activation_dtype`).
    act: DType,
}

fn norm_gain(vb: &VarBuilder, size: usize, name: &str) -> Result<Tensor> {
    let act = activation_dtype(vb.dtype(), vb.device());
    Ok((vb.get(size, name)?.to_dtype(act)? + 1.0)?)
}

impl Gemma2 {
    /// `vb` points at `language_model`; with the checkpoint's `reader`, the layers' weights
    /// are read straight into packed panels (`packed_load.rs`).
    pub fn load(cfg: &TextConfig, vb: VarBuilder, reader: Option<&WeightReader>) -> Result<Self> {
        let h = cfg.hidden_size;
        let q = cfg.num_attention_heads * cfg.head_dim;
        let kv = cfg.num_key_value_heads * cfg.head_dim;
        let m = vb.pp("model");
        let embed_tokens = table_as_stored(&m, (cfg.vocab_size, h), "embed_tokens.weight", reader)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = m.pp(format!("layers.{i}"));
                let a = l.pp("self_attn");
                let f = l.pp("mlp");
                let packed = |in_dim, out, vb: VarBuilder| {
                    packed_linear(in_dim, &[(out, vb, false)], reader)
                };
                let inter = cfg.intermediate_size;
                Ok(Layer {
                    q: packed(h, q, a.pp("q_proj"))?,
                    k: packed(h, kv, a.pp("k_proj"))?,
                    v: packed(h, kv, a.pp("v_proj"))?,
                    o: packed(q, h, a.pp("o_proj"))?,
                    gate: packed(h, inter, f.pp("gate_proj"))?,
                    up: packed(h, inter, f.pp("up_proj"))?,
                    down: packed(inter, h, f.pp("down_proj"))?,
                    input_norm: norm_gain(&l, h, "input_layernorm.weight")?,
                    post_attn_norm: norm_gain(&l, h, "post_attention_layernorm.weight")?,
                    pre_ff_norm: norm_gain(&l, h, "pre_feedforward_layernorm.weight")?,
                    post_ff_norm: norm_gain(&l, h, "post_feedforward_layernorm.weight")?,
                    sliding: i % 2 == 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = norm_gain(&m, h, "norm.weight")?;
        let lm_head = packed_linear(h, &[(cfg.vocab_size, vb.pp("lm_head"), false)], reader)?;
        // As the library: inv_freq = 1 / base^(2i / dim), in float32.
        let dim = cfg.head_dim;
        let inv_freq = (0..dim / 2)
            .map(|i| 1.0 / (cfg.rope_theta as f32).powf((2 * i) as f32 / dim as f32))
            .collect();
        Ok(Gemma2 {
            cfg: cfg.clone(),
            embed_tokens,
            dtype: vb.dtype(),
            layers,
            final_norm,
            lm_head,
            inv_freq,
            device: vb.device().clone(),
            act: activation_dtype(vb.dtype(), vb.device()),
        })
    }

    pub fn config(&self) -> &TextConfig {
        &self.cfg
    }

    /// Input embeddings of token ids (rows of `embed_tokens`), (T, hidden).
    pub fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let ids = Tensor::new(ids, &self.device)?;
        Ok(self
            .embed_tokens
            .index_select(&ids, 0)?
            .to_dtype(self.dtype)?)
    }

    pub fn new_cache(&self, prefix_len: usize) -> KvCache {
        KvCache {
            layers: (0..self.layers.len()).map(|_| None).collect(),
            len: 0,
            prefix_len,
        }
    }

    fn rms_norm(&self, x: &Tensor, gain: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(
            x,
            gain,
            self.cfg.rms_norm_eps as f32,
        )?)
    }

    /// cos/sin tables (T, head_dim / 2) for 1-based positions `start + 1 ..= start + T`.
    fn rope_tables(&self, start: usize, t: usize) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(t * half);
        let mut sin = Vec::with_capacity(t * half);
        for p in 0..t {
            let pos = (start + p + 1) as f32;
            for &f in &self.inv_freq {
                let angle = pos * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok((
            Tensor::from_vec(cos, (t, half), &self.device)?,
            Tensor::from_vec(sin, (t, half), &self.device)?,
        ))
    }

    /// Additive mask (T, S) for queries at `start..start+T` over keys `0..S`, or `None` when
    /// nothing is masked.
    fn mask(
        &self,
        start: usize,
        t: usize,
        s: usize,
        prefix: usize,
        sliding: bool,
    ) -> Result<Option<Tensor>> {
        let window = self.cfg.sliding_window;
        let mut any = false;
        let mut m = vec![0f32; t * s];
        for i in 0..t {
            let q = start + i;
            for j in 0..s {
                let visible = (j < prefix || j <= q) && !(sliding && q >= j + window);
                if !visible {
                    m[i * s + j] = f32::NEG_INFINITY;
                    any = true;
                }
            }
        }
        if !any {
            return Ok(None);
        }
        Ok(Some(Tensor::from_vec(m, (t, s), &self.device)?))
    }

    /// Runs `embeds` (B, T, hidden), unscaled input embeddings, through the decoder after
    /// what `cache` holds. The B sequences share positions and mask (equal-length prompts,
    /// as batched evaluation forms them); attention is captured only for B = 1.
    pub fn forward(
        &self,
        embeds: &Tensor,
        cache: &mut KvCache,
        capture: AttentionCapture,
        want_hidden: bool,
        rows: LogitRows,
    ) -> Result<DecoderOutput> {
        let embeds = &embeds.to_dtype(self.act)?;
        let (b, t, _) = embeds.dims3()?;
        if b != 1 && capture != AttentionCapture::None {
            return Err(super::error::ModelError::Input(format!(
                "attention is kept for one sequence at a time, not a batch of {b}"
            )));
        }
        let start = cache.len;
        let nh = self.cfg.num_attention_heads;
        let nkv = self.cfg.num_key_value_heads;
        let hd = self.cfg.head_dim;
        let groups = nh / nkv;
        let scaling = self.cfg.query_pre_attn_scalar.powf(-0.5);
        let normaliser = (self.cfg.hidden_size as f32).sqrt();
        let (cos, sin) = self.rope_tables(start, t)?;
        let (cos, sin) = (cos.to_dtype(embeds.dtype())?, sin.to_dtype(embeds.dtype())?);
        let mut x = (embeds * f64::from(normaliser))?;
        let mut hidden_states = Vec::new();
        let mut attentions = Vec::new();
        if want_hidden {
            hidden_states.push(x.clone());
        }
        for (li, layer) in self.layers.iter().enumerate() {
            let residual = x.clone();
            let h = self.rms_norm(&x, &layer.input_norm)?;
            let heads = |t_: Tensor, n: usize| -> Result<Tensor> {
                Ok(t_.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let q = heads(layer.q.forward(&h)?, nh)?;
            let k = heads(layer.k.forward(&h)?, nkv)?;
            let v = heads(layer.v.forward(&h)?, nkv)?;
            let q = candle_nn::rotary_emb::rope(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
            let (k, v) = match cache.layers[li].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            cache.layers[li] = Some((k.clone(), v.clone()));
            let s = k.dim(2)?;
            // Grouped-query attention: query head j uses key/value head j / groups.
            let expand = |x: &Tensor| -> Result<Tensor> {
                Ok(x.unsqueeze(2)?
                    .expand((b, nkv, groups, s, hd))?
                    .reshape((b, nh, s, hd))?)
            };
            let (k, v) = (expand(&k)?, expand(&v)?);
            // Soft-cap, mask and softmax in float32 whatever the weights' dtype (as the
            // library upcasts the softmax).
            let mut scores =
                (super::batched::matmul(&q, &k.t()?)?.to_dtype(DType::F32)? * scaling)?;
            if let Some(cap) = self.cfg.attn_logit_softcapping {
                scores = soft_cap(&scores, cap)?;
            }
            if let Some(mask) = self.mask(start, t, s, cache.prefix_len, layer.sliding)? {
                scores = scores.broadcast_add(&mask)?;
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            match capture {
                AttentionCapture::None => {}
                AttentionCapture::LastRow => attentions.push(probs.i_last_row(t)?),
                AttentionCapture::All => attentions.push(probs.squeeze(0)?),
            }
            let attended = super::batched::matmul(&probs.to_dtype(v.dtype())?, &v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, t, nh * hd))?;
            let a = self.rms_norm(&layer.o.forward(&attended)?, &layer.post_attn_norm)?;
            x = (residual + a)?;
            let residual = x.clone();
            let h = self.rms_norm(&x, &layer.pre_ff_norm)?;
            let h = (gelu_tanh(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
            let h = self.rms_norm(&layer.down.forward(&h)?, &layer.post_ff_norm)?;
            x = (residual + h)?;
            if want_hidden && li + 1 < self.layers.len() {
                hidden_states.push(x.clone());
            }
        }
        cache.len += t;
        let x = self.rms_norm(&x, &self.final_norm)?;
        if want_hidden {
            hidden_states.push(x.clone());
        }
        let x = match rows {
            LogitRows::All => x,
            LogitRows::Last => x.narrow(1, t - 1, 1)?,
        };
        let mut logits = self.lm_head.forward(&x)?;
        if let Some(cap) = self.cfg.final_logit_softcapping {
            logits = soft_cap(&logits, cap)?;
        }
        debug_assert_eq!(logits.dim(D::Minus1)?, self.cfg.vocab_size);
        Ok(DecoderOutput {
            logits,
            hidden_states,
            attentions,
        })
    }
}

trait LastRow {
    fn i_last_row(&self, t: usize) -> Result<Tensor>;
}

impl LastRow for Tensor {
    /// (1, heads, T, S) -> (heads, S) of query row T - 1.
    fn i_last_row(&self, t: usize) -> Result<Tensor> {
        Ok(self.squeeze(0)?.narrow(1, t - 1, 1)?.squeeze(1)?)
    }
}
