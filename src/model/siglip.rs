//! The SigLIP vision tower of PaliGemma2 (no pooling head), as `transformers`' SigLIP:
//! patch embedding (a stride-`patch` convolution, computed here as one matrix product over
//! the unfolded patches, which is the same sum), learned position embeddings, pre-norm
//! encoder layers with biased q/k/v/out projections and a tanh-GELU MLP, and a final
//! LayerNorm. Weight paths mirror `vision_tower.vision_model.*`.

use candle_core::{D, IndexOp, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use super::activation::gelu_tanh;
use super::attention::{self, Heads};
use super::linear::{Linear, activation_dtype};
use super::packed_load::packed_linear;
use super::weights::WeightReader;

use super::config::VisionConfig;
use super::error::Result;

struct EncoderLayer {
    /// `q_proj`, `k_proj` and `v_proj` in one product (`linear::fused`).
    qkv: Linear,
    out: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// Output of the tower.
pub struct VisionOutput {
    /// After `post_layernorm`: (B, patches, hidden).
    pub last_hidden_state: Tensor,
    /// Attention probabilities of the last layer, mean over heads (patches x patches), of
    /// the first image, when requested.
    pub last_layer_attention_mean: Option<Tensor>,
}

pub struct SiglipVisionTower {
    cfg: VisionConfig,
    /// (hidden, 3 * patch * patch): the convolution kernel flattened as (c, ky, kx).
    patch_weight_t: Tensor,
    patch_bias: Tensor,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
}

impl SiglipVisionTower {
    /// `vb` points at `vision_tower.vision_model`; with the checkpoint's `reader`, the
    /// encoder's weights are read straight into packed panels (`packed_load.rs`).
    pub fn load(cfg: &VisionConfig, vb: VarBuilder, reader: Option<&WeightReader>) -> Result<Self> {
        let h = cfg.hidden_size;
        let p = cfg.patch_size;
        let emb = vb.pp("embeddings");
        // Activations in `act` (`linear::activation_dtype`): the embeddings and norms are
        // small, so they are kept in it; the linear layers keep the checkpoint's dtype.
        let act = activation_dtype(vb.dtype(), vb.device());
        let patch_weight = emb.get((h, 3, p, p), "patch_embedding.weight")?;
        let patch_weight_t = patch_weight
            .reshape((h, 3 * p * p))?
            .t()?
            .contiguous()?
            .to_dtype(act)?;
        let patch_bias = emb.get(h, "patch_embedding.bias")?.to_dtype(act)?;
        let position_embedding = emb
            .get((cfg.num_patches(), h), "position_embedding.weight")?
            .to_dtype(act)?;
        let eps = cfg.layer_norm_eps;
        let layer_norm = |h: usize, eps: f64, vb: VarBuilder| -> Result<LayerNorm> {
            let n = layer_norm(h, eps, vb)?;
            let bias = n.bias().map(|b| b.to_dtype(act)).transpose()?;
            Ok(match bias {
                Some(b) => LayerNorm::new(n.weight().to_dtype(act)?, b, eps),
                None => LayerNorm::new_no_bias(n.weight().to_dtype(act)?, eps),
            })
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layers.{i}"));
                let packed = |in_dim, parts: &[(usize, &str)]| {
                    let parts: Vec<_> = parts.iter().map(|&(o, p)| (o, l.pp(p), true)).collect();
                    packed_linear(in_dim, &parts, reader)
                };
                let qkv = ["q_proj", "k_proj", "v_proj"].map(|p| (h, format!("self_attn.{p}")));
                let qkv = qkv
                    .iter()
                    .map(|(o, p)| (*o, p.as_str()))
                    .collect::<Vec<_>>();
                Ok(EncoderLayer {
                    qkv: packed(h, &qkv)?,
                    out: packed(h, &[(h, "self_attn.out_proj")])?,
                    norm1: layer_norm(h, eps, l.pp("layer_norm1"))?,
                    norm2: layer_norm(h, eps, l.pp("layer_norm2"))?,
                    fc1: packed(h, &[(cfg.intermediate_size, "mlp.fc1")])?,
                    fc2: packed(cfg.intermediate_size, &[(h, "mlp.fc2")])?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let post_layernorm = layer_norm(h, eps, vb.pp("post_layernorm"))?;
        Ok(SiglipVisionTower {
            cfg: cfg.clone(),
            patch_weight_t,
            patch_bias,
            position_embedding,
            layers,
            post_layernorm,
        })
    }

    /// `pixels`: (B, 3, size, size) already mapped to [-1, 1].
    pub fn forward(&self, pixels: &Tensor, want_attention: bool) -> Result<VisionOutput> {
        let p = self.cfg.patch_size;
        let n = self.cfg.patches_per_side();
        let b = pixels.dim(0)?;
        // (B, 3, n, p, n, p) -> (B, n, n, 3, p, p) -> (B * n*n, 3*p*p)
        let patches = pixels
            .reshape((b, 3, n, p, n, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b * n * n, 3 * p * p))?;
        let mut x = patches
            .matmul(&self.patch_weight_t)?
            .broadcast_add(&self.patch_bias)?
            .reshape((b, n * n, self.cfg.hidden_size))?
            .broadcast_add(&self.position_embedding)?;
        let width = self.cfg.hidden_size;
        let hd = width / self.cfg.num_attention_heads;
        let heads = Heads {
            heads: self.cfg.num_attention_heads,
            kv_heads: self.cfg.num_attention_heads,
            head_dim: hd,
            scale: (hd as f64).powf(-0.5),
        };
        let mut last_attention = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.norm1.forward(&x)?;
            let qkv = layer.qkv.forward(&h)?;
            let part = |i: usize| qkv.narrow(2, i * width, width);
            let (q, k, v) = (part(0)?, part(1)?, part(2)?);
            let attended = if want_attention && i + 1 == self.layers.len() {
                // The probabilities themselves, for the attention overlay.
                let probs = attention::probabilities(&q, &k, heads, None)?;
                last_attention = Some(probs.i(0)?.mean(0)?);
                attention::weigh_values(&probs, &v, heads)?
            } else {
                attention::attend(&q, &k, &v, heads, None)?
            };
            // The residual sums ride in the products (`Linear::forward_residual`).
            x = layer.out.forward_residual(&attended, &x)?;
            let h = layer.norm2.forward(&x)?;
            x = layer
                .fc2
                .forward_residual(&gelu_tanh(&layer.fc1.forward(&h)?)?, &x)?;
        }
        let last_hidden_state = self.post_layernorm.forward(&x)?;
        debug_assert_eq!(last_hidden_state.dim(D::Minus1)?, self.cfg.hidden_size);
        Ok(VisionOutput {
            last_hidden_state,
            last_layer_attention_mean: last_attention,
        })
    }
}
