//! DINOv2 as Depth Anything V2 builds it (`pretrained.*`): 14-px patch embedding, class
//! token, a learned position embedding for 518 px resampled bicubically to the input's patch
//! grid, pre-norm blocks with layer scale (`ls1`, `ls2`), exact-erf GELU MLP, LayerNorm eps
//! 1e-6; the outputs of four blocks, each passed through the final norm, class token dropped.
//!
//! The resampling follows `interpolate_pos_encoding` exactly, quirks included: the stored
//! embedding is used as is only when the patch count equals the stored one *and* the input is
//! square; otherwise the scale factors are `(rows + 0.1) / g` and `(cols + 0.1) / g` and the
//! bicubic samples are taken at `(i + 0.5) * g / (rows + 0.1) - 0.5` (see `resize.rs`).

use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, LayerNorm, VarBuilder, conv2d, layer_norm};

use super::config::DepthAnythingConfig;
use super::resize::{CubicFlavour, cubic_resample_planar};
use crate::model::error::Result;
use crate::model::vit_block::{Block, BlockShape};

pub struct DinoV2 {
    patch_embed: Conv2d,
    cls_token: Tensor,
    /// The stored patch position embedding as float64, (g * g, width) row-major.
    pos_patch: Vec<f64>,
    pos_cls: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    cfg: DepthAnythingConfig,
}

impl DinoV2 {
    /// `vb` points at `pretrained`.
    pub fn load(cfg: &DepthAnythingConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.embed_dim;
        let conv = Conv2dConfig {
            stride: cfg.patch_px,
            ..Default::default()
        };
        let g = cfg.pos_grid;
        let pos = vb.get((1, 1 + g * g, c), "pos_embed")?;
        let pos_patch: Vec<f64> = pos
            .i((0, 1..))?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1()?;
        Ok(Self {
            patch_embed: conv2d(3, c, cfg.patch_px, conv, vb.pp("patch_embed.proj"))?,
            cls_token: vb.get((1, 1, c), "cls_token")?,
            pos_cls: pos.i((.., 0..1))?,
            pos_patch,
            blocks: (0..cfg.num_blocks)
                .map(|i| {
                    let shape = BlockShape {
                        width: cfg.embed_dim,
                        heads: cfg.num_heads,
                        mlp_hidden: cfg.mlp_hidden,
                        layer_scale: true,
                    };
                    Block::load(shape, vb.pp(format!("blocks.{i}")))
                })
                .collect::<Result<_>>()?,
            norm: layer_norm(c, 1e-6, vb.pp("norm"))?,
            cfg: cfg.clone(),
        })
    }

    /// The position embedding for a `rows x cols` patch grid, (1, 1 + rows * cols, width).
    fn position_embedding(&self, rows: usize, cols: usize, device: &Device) -> Result<Tensor> {
        let g = self.cfg.pos_grid;
        let c = self.cfg.embed_dim;
        let patch: Vec<f32> = if rows * cols == g * g && rows == cols {
            self.pos_patch.iter().map(|v| *v as f32).collect()
        } else {
            // (g*g, c) -> planar (c, g, g), resample, back to (rows*cols, c).
            let mut planar = vec![0f64; c * g * g];
            for (p, row) in self.pos_patch.chunks_exact(c).enumerate() {
                for (ch, v) in row.iter().enumerate() {
                    planar[ch * g * g + p] = *v;
                }
            }
            let scale = |n: usize| g as f64 / (n as f64 + 0.1);
            let out = cubic_resample_planar(
                &planar,
                c,
                (g, g),
                (rows, cols),
                (scale(rows), scale(cols)),
                CubicFlavour::Torch,
            );
            let hw = rows * cols;
            let mut tokens = vec![0f32; hw * c];
            for ch in 0..c {
                for p in 0..hw {
                    tokens[p * c + ch] = out[ch * hw + p] as f32;
                }
            }
            tokens
        };
        let patch = Tensor::from_vec(patch, (1, rows * cols, c), device)?;
        Ok(Tensor::cat(&[&self.pos_cls.to_device(device)?, &patch], 1)?)
    }

    /// `x`: (1, 3, H, W) with H and W multiples of the patch. Returns the four chosen blocks'
    /// normalised patch tokens, each (1, rows * cols, width).
    pub fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let (b, _, h, w) = x.dims4()?;
        let p = self.cfg.patch_px;
        let (rows, cols) = (h / p, w / p);
        let tokens = self
            .patch_embed
            .forward(x)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let cls = self.cls_token.expand((b, 1, self.cfg.embed_dim))?;
        let mut x = Tensor::cat(&[&cls, &tokens], 1)?;
        x = x.broadcast_add(&self.position_embedding(rows, cols, x.device())?)?;
        let mut out = Vec::with_capacity(4);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x)?;
            if self.cfg.layers.contains(&i) {
                let n = x.dim(1)?;
                out.push(self.norm.forward(&x)?.narrow(D::Minus2, 1, n - 1)?);
            }
            if i >= self.cfg.layers[3] {
                break;
            }
        }
        Ok(out)
    }
}
