//! Transposed convolutions whose kernel equals their stride (no padding, no overlap), as
//! one matrix product on our kernels (`sgemm/`): the DPT necks' upsampling layers
//! (ZoeDepth's 4 x 4 stride 4 at 256 channels and 2 x 2 stride 2 at 512, Depth Anything's
//! alike). candle's CPU transposed convolution loops over output pixels with a dot product
//! each, on one core: at real size ZoeDepth's two took 265 ms of a 5.3 s pass.
//!
//! With kernel = stride = s, each input pixel owns its own s x s block of the output:
//! `out[co][y s + dy][x s + dx] = b[co] + sum_ci W[ci][co][dy][dx] in[ci][y][x]`. So the
//! rows `(co, dy, dx)` of `W^T` (`c_out s s x c_in`, arranged once at load) times the
//! input map read in place (`c_in x h w`) give every output value; a pass then scatters the
//! rows into their blocks and adds the bias. Other configurations, devices, dtypes, batch
//! sizes, or CPUs without our kernels go through candle's `ConvTranspose2d`.

use candle_core::{DType, Module, Tensor};
use candle_nn::ConvTranspose2d;

use super::error::Result;
use super::sgemm;
use super::strided::{View, f32_values, with_f32_values};

/// A transposed convolution with the path above where its configuration allows.
pub struct PatchTranspose {
    inner: ConvTranspose2d,
    /// `[c_out][dy][dx][c_in]`, or empty when the configuration needs candle's path.
    weight: Vec<f32>,
    c_in: usize,
    c_out: usize,
    /// Kernel side and stride.
    s: usize,
    bias: Vec<f32>,
}

impl PatchTranspose {
    pub fn new(inner: ConvTranspose2d) -> Result<Self> {
        let (c_in, c_out, kh, kw) = inner.weight().dims4()?;
        let cfg = inner.config();
        let own = kh == kw
            && kh == cfg.stride
            && cfg.padding == 0
            && cfg.output_padding == 0
            && cfg.dilation == 1
            && kh > 0;
        let weight = if own {
            inner
                .weight()
                .to_dtype(DType::F32)?
                .permute((1, 2, 3, 0))?
                .flatten_all()?
                .to_vec1()?
        } else {
            Vec::new()
        };
        let bias = f32_values(inner.bias())?;
        Ok(Self {
            inner,
            weight,
            c_in,
            c_out,
            s: kh,
            bias,
        })
    }
}

impl Module for PatchTranspose {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c_in, h, w) = x.dims4()?;
        if self.weight.is_empty()
            || !x.device().is_cpu()
            || b != 1
            || x.dtype() != DType::F32
            || c_in != self.c_in
            || h * w == 0
            || !sgemm::available()
        {
            return self.inner.forward(x);
        }
        let (s, c_out, hw) = (self.s, self.c_out, h * w);
        let rows = c_out * s * s;
        let mut blocks = vec![0f32; rows * hw];
        let done = with_f32_values(x, "conv-transpose", |input| {
            let lhs = View {
                data: &self.weight,
                rs: c_in,
                cs: 1,
            };
            let rhs = View {
                data: input,
                rs: hw,
                cs: 1,
            };
            sgemm::product(&mut blocks, hw, (rows, hw, c_in), lhs, rhs, false)
        })?;
        if !done {
            return self.inner.forward(x);
        }
        // Row (co, dy, dx) of `blocks`, pixel (y, x) -> out[co][y s + dy][x s + dx].
        let (oh, ow) = (h * s, w * s);
        let mut out = vec![0f32; c_out * oh * ow];
        for (co, (plane, taps)) in out
            .chunks_exact_mut(oh * ow)
            .zip(blocks.chunks_exact(s * s * hw))
            .enumerate()
        {
            let bias = self.bias.get(co).copied().unwrap_or(0.0);
            for (tap, src) in taps.chunks_exact(hw).enumerate() {
                let (dy, dx) = (tap / s, tap % s);
                for (y, line) in src.chunks_exact(w).enumerate() {
                    let row = &mut plane[(y * s + dy) * ow..(y * s + dy + 1) * ow];
                    for (xi, v) in line.iter().enumerate() {
                        row[xi * s + dx] = v + bias;
                    }
                }
            }
        }
        Tensor::from_vec(out, (1, c_out, oh, ow), x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::uniform;
    use candle_core::Device;
    use candle_nn::ConvTranspose2dConfig;

    fn tensor(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        Tensor::from_vec(uniform(n, seed), shape, &Device::Cpu).unwrap()
    }

    /// Kernel = stride at several sides (our path), with and without a bias, on a
    /// transposed (non-contiguous) input too; and an overlapping configuration (candle's).
    #[test]
    fn equals_candles_transposed_convolution() {
        for (c_in, c_out, s, h, w, bias, stride) in [
            (40, 24, 4, 5, 7, true, 4),
            (33, 9, 2, 6, 3, false, 2),
            (7, 5, 1, 4, 4, true, 1),
            (6, 4, 3, 5, 5, true, 2),
        ] {
            let weight = tensor((c_in, c_out, s, s), 1);
            let b = bias.then(|| Tensor::from_vec(uniform(c_out, 2), c_out, &Device::Cpu).unwrap());
            let cfg = ConvTranspose2dConfig {
                stride,
                ..Default::default()
            };
            let conv = ConvTranspose2d::new(weight, b, cfg);
            let ours = PatchTranspose::new(conv.clone()).unwrap();
            assert_eq!(ours.weight.is_empty(), s != stride);
            let x = tensor((1, c_in, h, w), 3);
            for x in [x.clone(), x.transpose(2, 3).unwrap()] {
                let want = conv.forward(&x).unwrap();
                let got = ours.forward(&x).unwrap();
                assert_eq!(got.dims(), want.dims());
                let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
                let d = d.to_scalar::<f32>().unwrap();
                assert!(d <= 1e-6 * c_in as f32, "{c_in}->{c_out} s {s}: {d}");
            }
        }
    }
}
