//! 3 x 3 convolutions (stride 1, padding 1) on the CPU without im2col: the depth networks'
//! heads (Depth Anything V2's DPT head, ZoeDepth's neck) run them at up to 518 x 518 with
//! 32-256 channels, where candle's general CPU path (a per-element gather into 512-pixel
//! tiles, then a product per tile) spends most of its time gathering.
//!
//! The input is zero-padded once. On the padded grid, flattened, the window of tap (kh, kw)
//! is the same matrix shifted by `kh * (W + 2) + kw` elements: a strided view, no copy. So
//! the output (computed on the padded row pitch, two columns per row discarded) is nine
//! accumulating matrix products `W_tap (c_out x c_in) @ X_shifted (c_in x n)`, straight into
//! one buffer with `gemm` (the kernel candle itself uses). Equal to candle's convolution up
//! to float summation order (checked in the tests).

use super::strided::View;
use candle_core::{DType, Module, Tensor};
use candle_nn::Conv2d;

use super::error::Result;

/// A 3 x 3, stride 1, padding 1 convolution with the weights arranged per tap; other
/// devices, dtypes or batch sizes fall back to candle's `Conv2d`.
pub struct Conv3x3 {
    inner: Conv2d,
    /// `[tap][c_out][c_in]`, tap = kh * 3 + kw.
    taps: Vec<f32>,
    taps_cin: usize,
    c_out: usize,
    bias: Vec<f32>,
}

impl Conv3x3 {
    /// `inner` must be a 3 x 3 convolution with stride 1 and padding 1.
    pub fn new(inner: Conv2d) -> Result<Self> {
        let w = inner.weight();
        let (c_out, c_in, _, _) = w.dims4()?;
        let taps: Vec<f32> = w
            .to_dtype(DType::F32)?
            .permute((2, 3, 0, 1))?
            .flatten_all()?
            .to_vec1()?;
        let bias = match inner.bias() {
            Some(b) => b.to_dtype(DType::F32)?.to_vec1()?,
            None => Vec::new(),
        };
        Ok(Self {
            inner,
            taps,
            taps_cin: 9 * c_in,
            c_out,
            bias,
        })
    }
}

impl Module for Conv3x3 {
    #[expect(
        unsafe_code,
        reason = "gemm on strided views of one buffer (see SAFETY)"
    )]
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c_in, h, w) = x.dims4()?;
        if !x.device().is_cpu()
            || b != 1
            || x.dtype() != DType::F32
            || 9 * c_in != self.taps_cin
            || h == 0
            || w == 0
        {
            return self.inner.forward(x);
        }
        let c_out = self.c_out;
        let (ph, pw) = (h + 2, w + 2);
        let input: Vec<f32> = x.flatten_all()?.to_vec1()?;
        let mut padded = vec![0f32; c_in * ph * pw];
        for (c, plane) in input.chunks_exact(h * w).enumerate() {
            for (y, row) in plane.chunks_exact(w).enumerate() {
                let at = (c * ph + y + 1) * pw + 1;
                padded[at..at + w].copy_from_slice(row);
            }
        }
        // Outputs on the padded row pitch: column y * pw + x; the last two of each row are
        // discarded.
        let n = (h - 1) * pw + w;
        let mut dst = vec![0f32; c_out * n];
        for (co, row) in dst.chunks_exact_mut(n).enumerate() {
            row.fill(self.bias.get(co).copied().unwrap_or(0.0));
        }
        for tap in 0..9 {
            let off = (tap / 3) * pw + tap % 3;
            let lhs = &self.taps[tap * c_out * c_in..(tap + 1) * c_out * c_in];
            let rhs = &padded[off..];
            debug_assert!(off + (c_in - 1) * ph * pw + n <= padded.len());
            if super::sgemm::product(
                &mut dst,
                n,
                (c_out, n, c_in),
                View {
                    data: lhs,
                    rs: c_in,
                    cs: 1,
                },
                View {
                    data: rhs,
                    rs: ph * pw,
                    cs: 1,
                },
                true,
            ) {
                continue;
            }
            // SAFETY: dst is c_out x n (row stride n); lhs is c_out x c_in (row stride
            // c_in); rhs is c_in x n with row stride ph * pw starting at `off`, and its last
            // element, off + (c_in - 1) * ph * pw + n - 1, lies inside `padded` (the last
            // tap's offset is 2 * pw + 2 and n = (h - 1) * pw + w). No aliasing.
            unsafe {
                gemm::gemm(
                    c_out,
                    n,
                    c_in,
                    dst.as_mut_ptr(),
                    1,
                    n as isize,
                    true,
                    lhs.as_ptr(),
                    1,
                    c_in as isize,
                    rhs.as_ptr(),
                    1,
                    (ph * pw) as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                );
            }
        }
        let mut out = Vec::with_capacity(c_out * h * w);
        for row in dst.chunks_exact(n) {
            for y in 0..h {
                out.extend_from_slice(&row[y * pw..y * pw + w]);
            }
        }
        Tensor::from_vec(out, (1, c_out, h, w), x.device())
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
        for (c_in, c_out, h, w, bias) in [(3, 5, 7, 9, true), (16, 8, 40, 33, false)] {
            let wt = Tensor::randn(0f32, 1.0, (c_out, c_in, 3, 3), &dev).unwrap();
            let b = bias.then(|| Tensor::randn(0f32, 1.0, c_out, &dev).unwrap());
            let cfg = Conv2dConfig {
                padding: 1,
                ..Default::default()
            };
            let conv = Conv2d::new(wt, b, cfg);
            let x = Tensor::randn(0f32, 1.0, (1, c_in, h, w), &dev).unwrap();
            let want = conv.forward(&x).unwrap();
            let got = Conv3x3::new(conv).unwrap().forward(&x).unwrap();
            assert_eq!(got.dims(), want.dims());
            let d: f32 = (got - want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(d < 1e-4, "{c_in}->{c_out} {h}x{w}: {d}");
        }
    }

    #[test]
    #[ignore = "timing, run by hand"]
    fn timing() {
        let dev = Device::Cpu;
        let wt = Tensor::randn(0f32, 1.0, (32, 32, 3, 3), &dev).unwrap();
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let conv = Conv2d::new(wt, None, cfg);
        let x = Tensor::randn(0f32, 1.0, (1, 32, 518, 518), &dev).unwrap();
        let fast = Conv3x3::new(conv.clone()).unwrap();
        for _ in 0..2 {
            let t = std::time::Instant::now();
            conv.forward(&x).unwrap();
            let a = t.elapsed();
            let t = std::time::Instant::now();
            fast.forward(&x).unwrap();
            eprintln!("candle {a:?} strided {:?}", t.elapsed());
        }
    }
}
