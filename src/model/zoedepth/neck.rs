//! ZoeDepth's DPT neck: reassemble the backbone tokens into maps at four scales, project
//! them to the fusion width, and fuse from the deepest level up.

use candle_core::{IndexOp, Module, Tensor};
use candle_nn::{ConvTranspose2dConfig, VarBuilder, conv_transpose2d};

use super::{conv1x1, conv3x3, conv3x3_s1, upsample2};
use crate::model::activation::gelu_erf;
use crate::model::conv_transpose::PatchTranspose;
use crate::model::conv1x1::Conv1x1;
use crate::model::conv3x3::Conv3x3;
use crate::model::error::Result;
use crate::model::linear::{Linear, linear};
use crate::model::zoe_config::ZoeConfig;

enum Resize {
    Up(PatchTranspose),
    Same,
    Down(Conv3x3),
}

struct Reassemble {
    readout: Linear,
    projection: Conv1x1,
    resize: Resize,
}

struct ResidualUnit {
    conv1: Conv3x3,
    conv2: Conv3x3,
}

impl ResidualUnit {
    fn load(c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: conv3x3_s1(c, c, true, vb.pp("convolution1"))?,
            conv2: conv3x3_s1(c, c, true, vb.pp("convolution2"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.relu()?)?;
        let h = self.conv2.forward(&h.relu()?)?;
        Ok((h + x)?)
    }
}

struct Fusion {
    projection: Conv1x1,
    res1: ResidualUnit,
    res2: ResidualUnit,
}

impl Fusion {
    fn forward(&self, x: &Tensor, residual: Option<&Tensor>) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some(r) = residual {
            let (_, _, hh, hw) = h.dims4()?;
            let (_, _, rh, rw) = r.dims4()?;
            let r = if (hh, hw) != (rh, rw) {
                crate::model::resample::bilinear(r, hh, hw, false)?
            } else {
                r.clone()
            };
            h = (h + self.res1.forward(&r)?)?;
        }
        let h = self.res2.forward(&h)?;
        Ok(self.projection.forward(&upsample2(&h)?)?)
    }
}

pub struct Neck {
    reassemble: Vec<Reassemble>,
    convs: Vec<Conv3x3>,
    fusion: Vec<Fusion>,
    grid: usize,
}

/// What the neck produces.
pub struct NeckOutput {
    /// Fusion outputs, deepest first (grid x2, x4, x8, x16).
    pub fused: Vec<Tensor>,
    /// The last reassembled level after its 3x3 conv: the metric head's bottleneck.
    pub bottleneck: Tensor,
}

impl Neck {
    pub(super) fn load(cfg: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
        let h = cfg.backbone_config.hidden_size;
        let f = cfg.fusion_hidden_size;
        let rs = vb.pp("reassemble_stage");
        let mut reassemble = Vec::new();
        let mut convs = Vec::new();
        let mut fusion = Vec::new();
        for (i, (&ch, &factor)) in cfg
            .neck_hidden_sizes
            .iter()
            .zip(&cfg.reassemble_factors)
            .enumerate()
        {
            let l = rs.pp(format!("layers.{i}"));
            let resize = if factor > 1.0 {
                let k = factor.round() as usize;
                Resize::Up(PatchTranspose::new(conv_transpose2d(
                    ch,
                    ch,
                    k,
                    ConvTranspose2dConfig {
                        stride: k,
                        ..Default::default()
                    },
                    l.pp("resize"),
                )?)?)
            } else if factor == 1.0 {
                Resize::Same
            } else {
                let stride = (1.0 / factor).round() as usize;
                Resize::Down(Conv3x3::new(conv3x3(
                    ch,
                    ch,
                    stride,
                    true,
                    l.pp("resize"),
                )?)?)
            };
            reassemble.push(Reassemble {
                readout: linear(2 * h, h, rs.pp(format!("readout_projects.{i}.0")))?,
                projection: conv1x1(h, ch, l.pp("projection"))?,
                resize,
            });
            convs.push(conv3x3_s1(ch, f, false, vb.pp(format!("convs.{i}")))?);
            let fl = vb.pp(format!("fusion_stage.layers.{i}"));
            fusion.push(Fusion {
                projection: conv1x1(f, f, fl.pp("projection"))?,
                res1: ResidualUnit::load(f, fl.pp("residual_layer1"))?,
                res2: ResidualUnit::load(f, fl.pp("residual_layer2"))?,
            });
        }
        Ok(Self {
            reassemble,
            convs,
            fusion,
            grid: cfg.grid(),
        })
    }

    pub(super) fn forward(&self, features: &[Tensor]) -> Result<NeckOutput> {
        let mut levels = Vec::new();
        for (i, (hs, r)) in features.iter().zip(&self.reassemble).enumerate() {
            let (b, n, c) = hs.dims3()?;
            let cls = hs.i((.., 0..1, ..))?;
            let tokens = hs.i((.., 1..n, ..))?;
            let x = Tensor::cat(&[tokens.clone(), cls.expand((b, n - 1, c))?], 2)?;
            let x = gelu_erf(&r.readout.forward(&x)?)?;
            let x = x.transpose(1, 2)?.reshape((b, c, self.grid, self.grid))?;
            let x = r.projection.forward(&x)?;
            let x = match &r.resize {
                Resize::Up(t) => t.forward(&x)?,
                Resize::Same => x,
                Resize::Down(d) => d.forward(&x)?,
            };
            levels.push(self.convs[i].forward(&x)?);
        }
        let mut fused = Vec::new();
        let mut prev: Option<Tensor> = None;
        for (level, layer) in levels.iter().rev().zip(&self.fusion) {
            let next = match &prev {
                None => layer.forward(level, None)?,
                Some(p) => layer.forward(p, Some(level))?,
            };
            fused.push(next.clone());
            prev = Some(next);
        }
        let bottleneck = levels.last().expect("four levels").clone();
        Ok(NeckOutput { fused, bottleneck })
    }
}
