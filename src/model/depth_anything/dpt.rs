//! Depth Anything V2's DPT head (`depth_head.*`): the four token maps projected (1x1) and
//! resized (x4 and x2 transposed convs, identity, stride-2 conv) to four scales, brought to
//! the fusion width by bias-free 3x3 convs, fused from the deepest level up (residual units
//! ReLU-conv-ReLU-conv + skip; bilinear align-corners resize to the next level; 1x1 conv),
//! then a 3x3 conv, bilinear resize to the patch grid times 14, 3x3 conv to 32, ReLU, 1x1 conv
//! to one channel and ReLU (relative) or sigmoid times `max_depth` (metric).

use candle_core::{Module, Tensor};
use candle_nn::{
    Conv2d, Conv2dConfig, ConvTranspose2dConfig, VarBuilder, conv_transpose2d, conv2d,
    conv2d_no_bias,
};

use super::config::DepthAnythingConfig;
use crate::model::conv_transpose::PatchTranspose;
use crate::model::conv3x3::Conv3x3;
use crate::model::error::Result;

fn conv(i: usize, o: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: k / 2,
        stride,
        ..Default::default()
    };
    Ok(conv2d(i, o, k, cfg, vb)?)
}

enum Resize {
    Up(PatchTranspose),
    Same,
    Down(Conv3x3),
}

fn conv3(i: usize, o: usize, vb: VarBuilder) -> Result<Conv3x3> {
    Conv3x3::new(conv(i, o, 3, 1, vb)?)
}

struct ResidualUnit {
    conv1: Conv3x3,
    conv2: Conv3x3,
}

impl ResidualUnit {
    fn load(f: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: conv3(f, f, vb.pp("conv1"))?,
            conv2: conv3(f, f, vb.pp("conv2"))?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.relu()?)?;
        let h = self.conv2.forward(&h.relu()?)?;
        Ok((h + x)?)
    }
}

struct Fusion {
    /// `None` for the deepest level, which has no skip input.
    unit1: Option<ResidualUnit>,
    unit2: ResidualUnit,
    out_conv: Conv2d,
}

impl Fusion {
    /// Fuses, then resizes to `size` (the next level's) or doubles.
    fn forward(
        &self,
        x: &Tensor,
        skip: Option<&Tensor>,
        size: Option<(usize, usize)>,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        if let (Some(unit), Some(skip)) = (&self.unit1, skip) {
            h = (h + unit.forward(skip)?)?;
        }
        let h = self.unit2.forward(&h)?;
        let (_, _, hh, hw) = h.dims4()?;
        let (th, tw) = size.unwrap_or((2 * hh, 2 * hw));
        let h = crate::model::resample::bilinear(&h, th, tw, true)?;
        Ok(self.out_conv.forward(&h)?)
    }
}

pub struct DptHead {
    projects: Vec<Conv2d>,
    resize: Vec<Resize>,
    layer_rn: Vec<Conv3x3>,
    /// refinenet1..4.
    fusion: Vec<Fusion>,
    output_conv1: Conv3x3,
    output_conv2a: Conv3x3,
    output_conv2b: Conv2d,
    max_depth_m: Option<f64>,
    patch_px: usize,
}

impl DptHead {
    /// `vb` points at `depth_head`.
    pub fn load(cfg: &DepthAnythingConfig, vb: VarBuilder) -> Result<Self> {
        let (c, f, oc) = (cfg.embed_dim, cfg.features, cfg.out_channels);
        let up = |i: usize, k: usize| -> Result<Resize> {
            let tc = ConvTranspose2dConfig {
                stride: k,
                ..Default::default()
            };
            Ok(Resize::Up(PatchTranspose::new(conv_transpose2d(
                oc[i],
                oc[i],
                k,
                tc,
                vb.pp(format!("resize_layers.{i}")),
            )?)?))
        };
        let rn = |i: usize| -> Result<Conv3x3> {
            let cc = Conv2dConfig {
                padding: 1,
                ..Default::default()
            };
            let c = conv2d_no_bias(oc[i], f, 3, cc, vb.pp(format!("scratch.layer{}_rn", i + 1)))?;
            Conv3x3::new(c)
        };
        let fusion = |r: usize| -> Result<Fusion> {
            let vb = vb.pp(format!("scratch.refinenet{r}"));
            Ok(Fusion {
                unit1: if r == 4 {
                    None
                } else {
                    Some(ResidualUnit::load(f, vb.pp("resConfUnit1"))?)
                },
                unit2: ResidualUnit::load(f, vb.pp("resConfUnit2"))?,
                out_conv: conv(f, f, 1, 1, vb.pp("out_conv"))?,
            })
        };
        Ok(Self {
            projects: (0..4)
                .map(|i| conv(c, oc[i], 1, 1, vb.pp(format!("projects.{i}"))))
                .collect::<Result<_>>()?,
            resize: vec![
                up(0, 4)?,
                up(1, 2)?,
                Resize::Same,
                Resize::Down(Conv3x3::new(conv(
                    oc[3],
                    oc[3],
                    3,
                    2,
                    vb.pp("resize_layers.3"),
                )?)?),
            ],
            layer_rn: (0..4).map(rn).collect::<Result<_>>()?,
            fusion: (1..=4).map(fusion).collect::<Result<_>>()?,
            output_conv1: conv3(f, f / 2, vb.pp("scratch.output_conv1"))?,
            output_conv2a: conv3(f / 2, 32, vb.pp("scratch.output_conv2.0"))?,
            output_conv2b: conv(32, 1, 1, 1, vb.pp("scratch.output_conv2.2"))?,
            max_depth_m: cfg.max_depth_m,
            patch_px: cfg.patch_px,
        })
    }

    /// `tokens`: the four (1, rows * cols, width) maps. Returns (1, rows * 14, cols * 14).
    pub fn forward(&self, tokens: &[Tensor], rows: usize, cols: usize) -> Result<Tensor> {
        let mut levels = Vec::with_capacity(4);
        for (i, t) in tokens.iter().enumerate() {
            let (b, _, c) = t.dims3()?;
            let x = t.transpose(1, 2)?.reshape((b, c, rows, cols))?;
            let x = self.projects[i].forward(&x)?;
            let x = match &self.resize[i] {
                Resize::Up(tc) => tc.forward(&x)?,
                Resize::Same => x,
                Resize::Down(cv) => cv.forward(&x)?,
            };
            levels.push(self.layer_rn[i].forward(&x)?);
        }
        let size = |t: &Tensor| -> Result<(usize, usize)> {
            let (_, _, h, w) = t.dims4()?;
            Ok((h, w))
        };
        let p4 = self.fusion[3].forward(&levels[3], None, Some(size(&levels[2])?))?;
        let p3 = self.fusion[2].forward(&p4, Some(&levels[2]), Some(size(&levels[1])?))?;
        let p2 = self.fusion[1].forward(&p3, Some(&levels[1]), Some(size(&levels[0])?))?;
        let p1 = self.fusion[0].forward(&p2, Some(&levels[0]), None)?;
        let out = self.output_conv1.forward(&p1)?;
        let out = crate::model::resample::bilinear(
            &out,
            rows * self.patch_px,
            cols * self.patch_px,
            true,
        )?;
        let out = self.output_conv2a.forward(&out)?.relu()?;
        let out = self.output_conv2b.forward(&out)?;
        let out = match self.max_depth_m {
            None => out.relu()?,
            Some(m) => (candle_nn::ops::sigmoid(&out)? * m)?,
        };
        Ok(out.squeeze(1)?)
    }
}
