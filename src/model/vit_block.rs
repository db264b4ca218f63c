//! The pre-norm transformer block of timm-style vision transformers, as DINOv2 (Depth
//! Anything V2's encoder) and SPA's ViT use it: LayerNorm (eps 1e-6), fused `qkv` attention
//! with biases, output projection, optional layer scale (`ls1.gamma`, `ls2.gamma`: DINOv2
//! has it, SPA's timm ViT does not), exact-erf GELU MLP (`mlp.fc1`, `mlp.fc2`).

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use super::attention::{self, Heads};
use super::linear::{Linear, linear};

use super::error::Result;

/// Widths of one block.
#[derive(Debug, Clone, Copy)]
pub struct BlockShape {
    pub width: usize,
    pub heads: usize,
    pub mlp_hidden: usize,
    pub layer_scale: bool,
}

pub struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ls1: Option<Tensor>,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    ls2: Option<Tensor>,
    heads: usize,
}

impl Block {
    /// `vb` points at the block (`blocks.N`).
    pub fn load(s: BlockShape, vb: VarBuilder) -> Result<Self> {
        let c = s.width;
        let scale = |name: &str| -> Result<Option<Tensor>> {
            Ok(if s.layer_scale {
                Some(vb.get(c, name)?)
            } else {
                None
            })
        };
        Ok(Self {
            norm1: layer_norm(c, 1e-6, vb.pp("norm1"))?,
            qkv: linear(c, 3 * c, vb.pp("attn.qkv"))?,
            proj: linear(c, c, vb.pp("attn.proj"))?,
            ls1: scale("ls1.gamma")?,
            norm2: layer_norm(c, 1e-6, vb.pp("norm2"))?,
            fc1: linear(c, s.mlp_hidden, vb.pp("mlp.fc1"))?,
            fc2: linear(s.mlp_hidden, c, vb.pp("mlp.fc2"))?,
            ls2: scale("ls2.gamma")?,
            heads: s.heads,
        })
    }

    fn attention(&self, x: &Tensor) -> Result<Tensor> {
        let c = x.dim(2)?;
        let hd = c / self.heads;
        let heads = Heads {
            heads: self.heads,
            kv_heads: self.heads,
            head_dim: hd,
            scale: (hd as f64).powf(-0.5),
        };
        // The fused projection's (b, n, 3, heads, hd) layout: q, k, v side by side.
        let qkv = self.qkv.forward(x)?;
        let part = |i: usize| qkv.narrow(2, i * c, c);
        let out = attention::attend(&part(0)?, &part(1)?, &part(2)?, heads, None)?;
        Ok(self.proj.forward(&out)?)
    }

    fn scaled(t: Tensor, ls: &Option<Tensor>) -> Result<Tensor> {
        Ok(match ls {
            Some(g) => t.broadcast_mul(g)?,
            None => t,
        })
    }

    /// (B, N, width) -> (B, N, width).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let a = self.attention(&self.norm1.forward(x)?)?;
        let x = (x + Self::scaled(a, &self.ls1)?)?;
        let h = super::activation::gelu_erf(&self.fc1.forward(&self.norm2.forward(&x)?)?)?;
        let m = self.fc2.forward(&h)?;
        Ok((&x + Self::scaled(m, &self.ls2)?)?)
    }
}
