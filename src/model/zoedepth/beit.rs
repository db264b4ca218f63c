//! ZoeDepth's BEiT backbone: patch embedding + CLS, pre-norm layers with per-layer relative
//! position bias and layer scale; the hidden states after the `out_indices` layers.

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use crate::model::activation::gelu_erf;
use crate::model::attention::{self, Heads};
use crate::model::linear::Linear;
use crate::model::packed_load::packed_linear;
use crate::model::weights::WeightReader;

use crate::model::error::{ModelError, Result};
use crate::model::zoe_config::ZoeConfig;
use crate::util::parallel::each_chunk_mut;

struct BeitLayer {
    norm_before: LayerNorm,
    /// Query, key (no bias) and value in one product (`linear::fused`).
    qkv: Linear,
    out: Linear,
    /// (heads, tokens, tokens), gathered once at load.
    bias: Tensor,
    lambda_1: Tensor,
    lambda_2: Tensor,
    norm_after: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// BEiT's relative position index for a `w` x `w` window plus CLS, row-major
/// ((w*w+1)^2 entries).
pub(super) fn relative_position_index(w: usize) -> Vec<u32> {
    let n = w * w;
    let num_relative = (2 * w - 1) * (2 * w - 1) + 3;
    let mut idx = vec![0u32; (n + 1) * (n + 1)];
    for i in 0..n {
        let (yi, xi) = ((i / w) as isize, (i % w) as isize);
        for j in 0..n {
            let (yj, xj) = ((j / w) as isize, (j % w) as isize);
            let dy = (yi - yj + w as isize - 1) as usize;
            let dx = (xi - xj + w as isize - 1) as usize;
            idx[(i + 1) * (n + 1) + (j + 1)] = (dy * (2 * w - 1) + dx) as u32;
        }
    }
    idx[..=n].fill((num_relative - 3) as u32); // CLS row
    for i in 0..=n {
        idx[i * (n + 1)] = (num_relative - 2) as u32; // CLS column
    }
    idx[0] = (num_relative - 1) as u32; // CLS to CLS
    idx
}

/// One layer's (heads, tokens, tokens) bias from its table (relative positions x heads):
/// `bias[h][p] = table[index[p]][h]`, heads across the cores. candle's gather, permute and
/// copy took 128 M values through its strided iterator on one core, 0.8 s of a real-size
/// load.
fn bias_by_head(table: &Tensor, index: &[u32], tokens: usize) -> Result<Tensor> {
    let (rows, heads) = table.dims2()?;
    let values: Vec<f32> = table
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1()?;
    if tokens == 0 || index.len() != tokens * tokens || index.iter().any(|&i| i as usize >= rows) {
        return Err(ModelError::Input(format!(
            "BEiT: a relative position index of {} entries for {tokens} tokens and {rows} positions",
            index.len()
        )));
    }
    let plane_len = tokens * tokens;
    let mut bias = vec![0f32; heads * plane_len];
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per_core = heads.div_ceil(cores).max(1);
    each_chunk_mut(
        &mut bias,
        per_core * plane_len,
        "BEiT's position bias",
        |c, planes| {
            for (i, plane) in planes.chunks_exact_mut(plane_len).enumerate() {
                let h = c * per_core + i;
                for (d, &at) in plane.iter_mut().zip(index) {
                    *d = values[at as usize * heads + h];
                }
            }
        },
    );
    let bias = Tensor::from_vec(bias, (heads, tokens, tokens), table.device())?;
    Ok(bias.to_dtype(table.dtype())?)
}

pub struct Beit {
    patch: usize,
    heads: usize,
    patch_weight: Tensor,
    patch_bias: Tensor,
    cls: Tensor,
    layers: Vec<BeitLayer>,
    out_indices: Vec<usize>,
}

impl Beit {
    /// With the checkpoint's `reader`, the layers' weights are read straight into packed
    /// panels (`packed_load.rs`).
    pub(super) fn load(
        cfg: &ZoeConfig,
        vb: VarBuilder,
        reader: Option<&WeightReader>,
    ) -> Result<Self> {
        let b = &cfg.backbone_config;
        let h = b.hidden_size;
        let w = cfg.grid();
        let emb = vb.pp("embeddings");
        let patch_weight = emb.get(
            (h, 3, b.patch_size, b.patch_size),
            "patch_embeddings.projection.weight",
        )?;
        let patch_bias = emb.get(h, "patch_embeddings.projection.bias")?;
        let cls = emb.get((1, 1, h), "cls_token")?;
        let num_relative = (2 * w - 1) * (2 * w - 1) + 3;
        let index = relative_position_index(w);
        let layers = (0..b.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let a = l.pp("attention.attention");
                let table = a.get(
                    (num_relative, b.num_attention_heads),
                    "relative_position_bias.relative_position_bias_table",
                )?;
                let bias = bias_by_head(&table, &index, w * w + 1)?;
                Ok(BeitLayer {
                    norm_before: layer_norm(h, b.layer_norm_eps, l.pp("layernorm_before"))?,
                    // The key has no bias; the stacked layer adds zeros for it.
                    qkv: packed_linear(
                        h,
                        &[
                            (h, a.pp("query"), true),
                            (h, a.pp("key"), false),
                            (h, a.pp("value"), true),
                        ],
                        reader,
                    )?,
                    out: packed_linear(h, &[(h, l.pp("attention.output.dense"), true)], reader)?,
                    bias,
                    lambda_1: l.get(h, "lambda_1")?,
                    lambda_2: l.get(h, "lambda_2")?,
                    norm_after: layer_norm(h, b.layer_norm_eps, l.pp("layernorm_after"))?,
                    fc1: packed_linear(
                        h,
                        &[(b.intermediate_size, l.pp("intermediate.dense"), true)],
                        reader,
                    )?,
                    fc2: packed_linear(
                        b.intermediate_size,
                        &[(h, l.pp("output.dense"), true)],
                        reader,
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            patch: b.patch_size,
            heads: b.num_attention_heads,
            patch_weight,
            patch_bias,
            cls,
            layers,
            out_indices: b.out_indices.clone(),
        })
    }

    /// `x`: (1, 3, S, S) in [-1, 1]. The hidden states (1, 1 + grid^2, hidden) after each
    /// `out_indices` layer.
    pub(super) fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let p = x.conv2d(&self.patch_weight, 0, self.patch, 1, 1)?;
        let p = p.broadcast_add(&self.patch_bias.reshape((1, (), 1, 1))?)?;
        let (b, c, _, _) = p.dims4()?;
        let tokens = p.flatten_from(2)?.transpose(1, 2)?;
        let mut hs = Tensor::cat(&[self.cls.expand((b, 1, c))?, tokens], 1)?;
        let heads = Heads {
            heads: self.heads,
            kv_heads: self.heads,
            head_dim: c / self.heads,
            scale: 1.0 / ((c / self.heads) as f64).sqrt(),
        };
        let mut out = Vec::new();
        for (li, l) in self.layers.iter().enumerate() {
            let x = l.norm_before.forward(&hs)?;
            let qkv = l.qkv.forward(&x)?;
            let part = |i: usize| qkv.narrow(2, i * c, c);
            let ctx = attention::attend(&part(0)?, &part(1)?, &part(2)?, heads, Some(&l.bias))?;
            let attn = l.out.forward(&ctx)?.broadcast_mul(&l.lambda_1)?;
            hs = (attn + &hs)?;
            let m = l.norm_after.forward(&hs)?;
            let m = l.fc2.forward(&gelu_erf(&l.fc1.forward(&m)?)?)?;
            hs = (m.broadcast_mul(&l.lambda_2)? + &hs)?;
            if self.out_indices.contains(&(li + 1)) {
                out.push(hs.clone());
            }
        }
        Ok(out)
    }
}
