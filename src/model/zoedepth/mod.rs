//! ZoeDepth as SpatialVLA embeds it (`vision_zoe_model.*`, transformers' ZoeDepth): metric
//! depth from the RGB frame, the depth the model actually lifts its patches with.
//!
//! Stages, each returned for inspection and checked against the reference's tensors:
//! 1. **BEiT backbone**: 16 px patch embedding + CLS, pre-norm layers with per-layer relative
//!    position bias (a (2w-1)^2 + 3 table indexed by token offsets; CLS row, column and
//!    corner use the three extra entries) and layer scale (`lambda_1`, `lambda_2`); the
//!    hidden states after the `out_indices` layers are the features.
//! 2. **Neck** (DPT): reassemble (CLS readout projected in, 1x1 projection, resize by
//!    transposed conv / identity / stride-2 conv), 3x3 convs to the fusion width, then
//!    fusion from the deepest level up (pre-activation residual units, x2 bilinear
//!    align-corners upsampling, 1x1 projection).
//! 3. **Relative head** features (conv, x2 upsample, conv, ReLU): the conditioning of the
//!    metric head (its depth output is unused by the multi-domain head).
//! 4. **Metric head**: a 4-layer patch transformer over the bottleneck picks the domain (nyu
//!    / kitti) for the whole batch from the CLS logits; that domain's seed bins (softplus
//!    centres) are refined by four attractor layers (16 attractors each, `dx / (1 + 300 dx^2)`
//!    averaged), and a conditional log-binomial over the bins gives per-pixel probabilities;
//!    depth = sum of probability x centre.
//!
//! The reference quirks this follows are listed in `tests/golden/tiny_spatialvla/README.md`.

mod beit;
mod binomial;
mod heads;
mod neck;

use candle_core::{DType, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder, conv2d, conv2d_no_bias};

use super::conv1x1::Conv1x1;
use super::conv3x3::Conv3x3;
use super::error::Result;
use super::resample;
use super::weights::WeightReader;
use super::zoe_config::ZoeConfig;
use beit::Beit;
pub use heads::MetricOutput;
use heads::{MetricHead, RelativeHead};
use neck::Neck;
pub use neck::NeckOutput;

fn softplus(x: &Tensor) -> Result<Tensor> {
    // torch.nn.Softplus(beta=1, threshold=20): log1p(exp(x)), x itself above the threshold.
    // log1p for small arguments: e - e^2/2 (ln(1 + e) would round to 0 in f32).
    let e = x.exp()?;
    let small = (&e * (1.0 - (&e * 0.5)?)?)?;
    let sp = e.lt(1e-4)?.where_cond(&small, &(&e + 1.0)?.log()?)?;
    Ok(x.gt(20.0)?.where_cond(x, &sp)?)
}

/// A 1 x 1 convolution on the AVX-512 product ([`crate::model::conv1x1`]).
fn conv1x1(i: usize, o: usize, vb: VarBuilder) -> Result<Conv1x1> {
    Conv1x1::new(conv2d(i, o, 1, Conv2dConfig::default(), vb)?)
}

fn conv3x3(i: usize, o: usize, stride: usize, bias: bool, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    Ok(if bias {
        conv2d(i, o, 3, cfg, vb)?
    } else {
        conv2d_no_bias(i, o, 3, cfg, vb)?
    })
}

/// A 3 x 3, stride 1, padding 1 convolution on the strided-gemm CPU path
/// ([`crate::model::conv3x3`]).
fn conv3x3_s1(i: usize, o: usize, bias: bool, vb: VarBuilder) -> Result<Conv3x3> {
    Conv3x3::new(conv3x3(i, o, 1, bias, vb)?)
}

fn upsample2(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    Ok(resample::bilinear(x, 2 * h, 2 * w, true)?)
}

fn resize_to(x: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (_, _, xh, xw) = x.dims4()?;
    if (xh, xw) == (h, w) {
        return Ok(x.clone());
    }
    Ok(resample::bilinear(x, h, w, true)?)
}

pub struct ZoeOutput {
    /// Backbone hidden states at `out_indices` (1, 1 + grid^2, hidden).
    pub features: Vec<Tensor>,
    pub neck: NeckOutput,
    pub metric: MetricOutput,
}

pub struct ZoeDepth {
    pub config: ZoeConfig,
    backbone: Beit,
    neck: Neck,
    relative: RelativeHead,
    metric: MetricHead,
}

impl ZoeDepth {
    /// `vb` points at `vision_zoe_model`.
    pub fn load(config: &ZoeConfig, vb: VarBuilder) -> Result<Self> {
        Self::load_from(config, vb, None)
    }

    /// [`ZoeDepth::load`], with the checkpoint's `reader` reading the backbone's linear
    /// layers straight into packed panels (`packed_load.rs`: no unpacked copy at load).
    pub fn load_from(
        config: &ZoeConfig,
        vb: VarBuilder,
        reader: Option<&WeightReader>,
    ) -> Result<Self> {
        let f = config.fusion_hidden_size;
        Ok(Self {
            backbone: Beit::load(config, vb.pp("backbone"), reader)?,
            neck: Neck::load(config, vb.pp("neck"))?,
            relative: RelativeHead {
                conv1: conv3x3_s1(f, f / 2, true, vb.pp("relative_head.conv1"))?,
                conv2: conv3x3_s1(
                    f / 2,
                    config.num_relative_features,
                    true,
                    vb.pp("relative_head.conv2"),
                )?,
            },
            metric: MetricHead::load(config, vb.pp("metric_head"))?,
            config: config.clone(),
        })
    }

    /// `x`: (1, 3, S, S), the depth branch's input ([`super::zoe_resample::zoe_input`]).
    pub fn forward(&self, x: &Tensor) -> Result<ZoeOutput> {
        let x = x.to_dtype(DType::F32)?;
        let features = self.backbone.forward(&x)?;
        let neck = self.neck.forward(&features)?;
        let relative = self
            .relative
            .forward(neck.fused.last().expect("four fusion levels"))?;
        let metric = self
            .metric
            .forward(&relative, &neck.bottleneck, &neck.fused)?;
        Ok(ZoeOutput {
            features,
            neck,
            metric,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::beit::relative_position_index;
    use super::*;
    use candle_core::Device;

    #[test]
    fn relative_index_uses_the_three_extra_entries_for_cls() {
        let w = 3;
        let idx = relative_position_index(w);
        let n = w * w + 1;
        let r = ((2 * w - 1) * (2 * w - 1)) as u32;
        assert_eq!(idx[0], r + 2);
        assert_eq!(idx[1], r);
        assert_eq!(idx[n], r + 1);
        // Same token: offset (0, 0) -> centre of the table.
        assert_eq!(idx[n + 1], ((w - 1) * (2 * w - 1) + (w - 1)) as u32);
    }

    #[test]
    fn softplus_matches_torch_including_the_threshold() {
        let x = Tensor::new(&[-30f32, 0.0, 1.0, 25.0], &Device::Cpu).unwrap();
        let y: Vec<f32> = softplus(&x).unwrap().to_vec1().unwrap();
        assert!(y[0] > 0.0 && y[0] < 1e-12);
        assert!((y[1] - 2f32.ln()).abs() < 1e-7);
        assert!((y[2] - (1.0 + 1f32.exp()).ln()).abs() < 1e-6);
        assert_eq!(y[3], 25.0);
    }
}
