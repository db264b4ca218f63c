//! 1 x 1 convolutions as one matrix product on our AVX-512 or AVX2 kernels (`sgemm/`): the
//! output (`c_out x pixels`) is the weight (`c_out x c_in`) times the input map read in
//! place (`c_in x pixels`), then the bias. ZoeDepth's neck and metric head run these on
//! maps up to 384 x 384, where candle's CPU convolution copied the input into columns and
//! multiplied on `gemm`'s kernels. Other devices, dtypes, batch sizes or CPUs without
//! either go through candle's `Conv2d`.

use candle_core::{DType, Module, Tensor};
use candle_nn::Conv2d;

use super::error::Result;
use super::sgemm;
use super::strided::{View, f32_values, with_f32_values};

/// A 1 x 1, stride 1, unpadded convolution with the fast path above.
pub struct Conv1x1 {
    inner: Conv2d,
    /// `[c_out][c_in]`.
    weight: Vec<f32>,
    c_in: usize,
    c_out: usize,
    bias: Vec<f32>,
}

impl Conv1x1 {
    /// `inner` must be a 1 x 1 convolution with stride 1, no padding, no groups.
    pub fn new(inner: Conv2d) -> Result<Self> {
        let (c_out, c_in, _, _) = inner.weight().dims4()?;
        let weight = inner
            .weight()
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        let bias = f32_values(inner.bias())?;
        Ok(Self {
            inner,
            weight,
            c_in,
            c_out,
            bias,
        })
    }
}

impl Module for Conv1x1 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c_in, h, w) = x.dims4()?;
        if !x.device().is_cpu()
            || b != 1
            || x.dtype() != DType::F32
            || c_in != self.c_in
            || h * w == 0
            || !sgemm::available()
        {
            return self.inner.forward(x);
        }
        let hw = h * w;
        // The output starts as the bias and the product accumulates onto it; the input is
        // read where it lies (at 192 x 192 x 256 its copy and the bias pass were half the
        // convolution's time).
        let mut out = if self.bias.is_empty() {
            vec![0f32; self.c_out * hw]
        } else {
            let mut out = Vec::with_capacity(self.c_out * hw);
            for b in &self.bias {
                out.resize(out.len() + hw, *b);
            }
            out
        };
        let done = with_f32_values(x, "conv1x1", |input| {
            sgemm::product(
                &mut out,
                hw,
                (self.c_out, hw, c_in),
                View {
                    data: &self.weight,
                    rs: c_in,
                    cs: 1,
                },
                View {
                    data: input,
                    rs: hw,
                    cs: 1,
                },
                !self.bias.is_empty(),
            )
        })?;
        if !done {
            return self.inner.forward(x);
        }
        Tensor::from_vec(out, (1, self.c_out, h, w), x.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Conv2dConfig;

    #[test]
    fn equals_candles_convolution() {
        let dev = Device::Cpu;
        for (c_in, c_out, h, w, bias) in [(160, 40, 13, 17, true), (3, 5, 1, 1, false)] {
            let wv = crate::model::test_values::uniform(c_out * c_in, 1);
            let weight = Tensor::from_vec(wv, (c_out, c_in, 1, 1), &dev).unwrap();
            let b = bias.then(|| {
                Tensor::from_vec(crate::model::test_values::uniform(c_out, 2), c_out, &dev).unwrap()
            });
            let conv = Conv2d::new(weight, b, Conv2dConfig::default());
            let x = Tensor::from_vec(
                crate::model::test_values::uniform(c_in * h * w, 3),
                (1, c_in, h, w),
                &dev,
            )
            .unwrap();
            let fast = Conv1x1::new(conv.clone()).unwrap();
            // Contiguous, and transposed (read through a contiguous copy).
            for x in [x.clone(), x.transpose(2, 3).unwrap()] {
                let got = fast.forward(&x).unwrap();
                let want = conv.forward(&x).unwrap();
                let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
                let d = d.to_scalar::<f32>().unwrap();
                assert!(d <= 1e-6 * c_in as f32, "{c_in}->{c_out} {h}x{w}: {d}");
            }
        }
    }
}
