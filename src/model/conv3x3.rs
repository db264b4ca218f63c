//! 3 x 3 convolutions (stride 1, padding 1) on the CPU without im2col: the depth networks'
//! heads (Depth Anything V2's DPT head, ZoeDepth's neck) run them at up to 518 x 518 with
//! 32-256 channels, where candle's general CPU path (a per-element gather into 512-pixel
//! tiles, then a product per tile) spends most of its time gathering.
//!
//! The input is zero-padded once. On the padded grid, flattened, the window of tap (kh, kw)
//! is the same matrix shifted by `kh * (W + 2) + kw` elements: no copy. So the output
//! (computed on the padded row pitch, two columns per row discarded) is one product
//! `W (c_out x 9 c_in) @ X (9 c_in x n)` whose right operand's row `tap * c_in + c` is
//! channel `c`'s plane shifted by the tap's offset (`sgemm::product_rows`, the rows given
//! by where they start). One product rather than nine accumulating ones (one per tap): the
//! nine streamed the whole output through memory nine times, and at ZoeDepth's full
//! resolution (128 -> 32 channels at 384 x 384) ran at a third of the kernels' speed.
//! Without our kernels the nine products go to `gemm` (the kernel candle itself uses).
//! The input is read where it lies and the output compacted in place (at full resolution
//! their copies and fresh pages took half the convolution's time). Equal to candle's
//! convolution up to float summation order (checked in the tests).

use std::cell::RefCell;

use super::strided::{View, f32_values, with_f32_values};
use candle_core::{DType, Module, Tensor};
use candle_nn::Conv2d;

use super::error::Result;

/// A 3 x 3, stride 1, padding 1 convolution with the weights arranged per tap; other
/// devices, dtypes or batch sizes fall back to candle's `Conv2d`.
pub struct Conv3x3 {
    inner: Conv2d,
    /// `[c_out][tap][c_in]`, tap = kh * 3 + kw: row `co` is output channel `co`'s weights
    /// in the order of the product's `k`.
    taps: Vec<f32>,
    taps_cin: usize,
    c_out: usize,
    stride: usize,
    bias: Vec<f32>,
}

impl Conv3x3 {
    /// Our path for a 3 x 3 convolution with padding 1, any stride, no dilation or groups;
    /// anything else keeps candle's.
    pub fn new(inner: Conv2d) -> Result<Self> {
        let w = inner.weight();
        let (c_out, c_in, kh, kw) = w.dims4()?;
        let cfg = inner.config();
        let own = (kh, kw) == (3, 3)
            && cfg.padding == 1
            && cfg.dilation == 1
            && cfg.groups == 1
            && cfg.stride >= 1;
        let taps: Vec<f32> = if own {
            w.to_dtype(DType::F32)?
                .permute((0, 2, 3, 1))?
                .flatten_all()?
                .to_vec1()?
        } else {
            Vec::new()
        };
        let stride = cfg.stride;
        let bias = f32_values(inner.bias())?;
        Ok(Self {
            inner,
            taps,
            taps_cin: 9 * c_in,
            c_out,
            stride,
            bias,
        })
    }
}

thread_local! {
    /// The zero-padded input, kept per thread between calls: at ZoeDepth's full resolution
    /// it is 76 MB, which a fresh allocation faults in 4 KiB at a time on every call (a
    /// third of that convolution's time). Only its borders are zeroed again.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Module for Conv3x3 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c_in, h, w) = x.dims4()?;
        if self.taps.is_empty()
            || !x.device().is_cpu()
            || b != 1
            || x.dtype() != DType::F32
            || 9 * c_in != self.taps_cin
            || h == 0
            || w == 0
        {
            return self.inner.forward(x);
        }
        // The input read where it lies: no copy out of the tensor.
        let out = with_f32_values(x, "conv3x3", |input| {
            PADDED.with_borrow_mut(|padded| {
                pad_into(input, (c_in, h, w), padded);
                if self.stride == 1 {
                    self.convolve(&padded[..c_in * (h + 2) * (w + 2)], (c_in, h, w))
                } else {
                    self.convolve_strided(&padded[..c_in * (h + 2) * (w + 2)], (c_in, h, w))
                }
            })
        })?;
        let Some(out) = out else {
            return self.inner.forward(x);
        };
        let s = self.stride;
        Tensor::from_vec(
            out,
            (1, self.c_out, (h - 1) / s + 1, (w - 1) / s + 1),
            x.device(),
        )
    }
}

/// `input` (`c_in x h x w`) zero-padded by one on every side into the front of `padded`
/// (grown when too short; what it held before is overwritten or zeroed).
fn pad_into(input: &[f32], (c_in, h, w): Dims, padded: &mut Vec<f32>) {
    let (ph, pw) = (h + 2, w + 2);
    let len = c_in * ph * pw;
    if padded.len() < len {
        padded.resize(len, 0.0);
    }
    for (plane, src) in padded[..len]
        .chunks_exact_mut(ph * pw)
        .zip(input.chunks_exact(h * w))
    {
        plane[..pw].fill(0.0);
        plane[(ph - 1) * pw..].fill(0.0);
        for (row, line) in plane[pw..(ph - 1) * pw]
            .chunks_exact_mut(pw)
            .zip(src.chunks_exact(w))
        {
            row[0] = 0.0;
            row[1..=w].copy_from_slice(line);
            row[w + 1] = 0.0;
        }
    }
}

impl Conv3x3 {
    /// The output (`c_out x h x w`) of the padded input (`c_in x (h + 2) x (w + 2)`) at
    /// stride 1; `None` when no kernel runs here and candle's path is wanted.
    #[expect(
        unsafe_code,
        reason = "gemm on strided views of one buffer (see SAFETY)"
    )]
    fn convolve(&self, padded: &[f32], (c_in, h, w): Dims) -> Option<Vec<f32>> {
        let c_out = self.c_out;
        let (ph, pw) = (h + 2, w + 2);
        // Outputs on the padded row pitch: column y * pw + x; the last two of each row are
        // dropped at the end.
        let n = (h - 1) * pw + w;
        let mut dst = vec![0f32; c_out * n];
        for (co, row) in dst.chunks_exact_mut(n).enumerate() {
            row.fill(self.bias.get(co).copied().unwrap_or(0.0));
        }
        let offset = |tap: usize| (tap / 3) * pw + tap % 3;
        // Row `tap * c_in + c` of the right operand: channel c's plane, shifted. The last
        // row ends at (c_in - 1) ph pw + 2 pw + 2 + n = c_in ph pw: inside `padded`.
        let starts: Vec<usize> = (0..9 * c_in)
            .map(|r| (r % c_in) * ph * pw + offset(r / c_in))
            .collect();
        let lhs = View {
            data: &self.taps[..],
            rs: 9 * c_in,
            cs: 1,
        };
        let rhs = super::sgemm::Rows {
            data: padded,
            starts: &starts,
        };
        if !super::sgemm::product_rows(&mut dst, n, (c_out, n, 9 * c_in), lhs, rhs, true) {
            for tap in 0..9 {
                let off = offset(tap);
                let lhs = &self.taps[tap * c_in..];
                let rhs = &padded[off..];
                debug_assert!(off + (c_in - 1) * ph * pw + n <= padded.len());
                // SAFETY: dst is c_out x n (row stride n); lhs is c_out x c_in with row
                // stride 9 c_in from tap * c_in, its last element (c_out - 1) 9 c_in +
                // tap c_in + c_in - 1 < 9 c_in c_out; rhs is c_in x n with row stride
                // ph * pw starting at `off`, and its last element, off + (c_in - 1) * ph * pw
                // + n - 1, lies inside `padded` (the last tap's offset is 2 * pw + 2 and
                // n = (h - 1) * pw + w). No aliasing.
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
                        (9 * c_in) as isize,
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
        }
        // Dropping the two padding columns of each row in place: every row moves to an
        // index no later than where it is (w <= pw, h w <= n), in increasing order.
        for co in 0..c_out {
            for y in 0..h {
                let from = co * n + y * pw;
                dst.copy_within(from..from + w, (co * h + y) * w);
            }
        }
        dst.truncate(c_out * h * w);
        Some(dst)
    }

    /// The output (`c_out x ho x wo`) at a stride above 1 (the necks' downsampling layers):
    /// the windows gathered into columns (`9 c_in x ho wo`, small at these strides) and one
    /// product; `None` without our kernels (candle's path).
    fn convolve_strided(&self, padded: &[f32], (c_in, h, w): Dims) -> Option<Vec<f32>> {
        let (s, c_out) = (self.stride, self.c_out);
        let (pw, ph) = (w + 2, h + 2);
        let (ho, wo) = ((h - 1) / s + 1, (w - 1) / s + 1);
        let n = ho * wo;
        // Row tap * c_in + c: channel c's window of the tap at every output pixel.
        let mut cols = vec![0f32; 9 * c_in * n];
        for (r, col) in cols.chunks_exact_mut(n).enumerate() {
            let (tap, c) = (r / c_in, r % c_in);
            let plane = &padded[c * ph * pw..(c + 1) * ph * pw];
            for (yo, line) in col.chunks_exact_mut(wo).enumerate() {
                let at = (yo * s + tap / 3) * pw + tap % 3;
                for (xo, v) in line.iter_mut().enumerate() {
                    *v = plane[at + xo * s];
                }
            }
        }
        let mut dst = vec![0f32; c_out * n];
        for (co, row) in dst.chunks_exact_mut(n).enumerate() {
            row.fill(self.bias.get(co).copied().unwrap_or(0.0));
        }
        let lhs = View {
            data: &self.taps[..],
            rs: 9 * c_in,
            cs: 1,
        };
        let rhs = View {
            data: &cols[..],
            rs: n,
            cs: 1,
        };
        super::sgemm::product(&mut dst, n, (c_out, n, 9 * c_in), lhs, rhs, true).then_some(dst)
    }
}

/// `(channels, height, width)`.
type Dims = (usize, usize, usize);

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::Conv2dConfig;

    /// Shapes whose `9 c_in` spans several of the product's `k` blocks, one after a larger
    /// one (so the reused padding buffer holds the previous input), strides 2 and 3 over
    /// odd and even sides, a transposed (non-contiguous) input, and a padding we leave to
    /// candle.
    #[test]
    fn equals_candles_convolution() {
        let dev = Device::Cpu;
        for (c_in, c_out, h, w, bias, stride, padding) in [
            (3, 5, 7, 9, true, 1, 1),
            (16, 8, 40, 33, false, 1, 1),
            (40, 13, 17, 20, true, 1, 1),
            (30, 7, 12, 9, true, 2, 1),
            (5, 3, 7, 8, false, 3, 1),
            (4, 3, 6, 6, true, 1, 0),
        ] {
            let wt = Tensor::randn(0f32, 1.0, (c_out, c_in, 3, 3), &dev).unwrap();
            let b = bias.then(|| Tensor::randn(0f32, 1.0, c_out, &dev).unwrap());
            let cfg = Conv2dConfig {
                padding,
                stride,
                ..Default::default()
            };
            let conv = Conv2d::new(wt, b, cfg);
            let x = Tensor::randn(0f32, 1.0, (1, c_in, h, w), &dev).unwrap();
            let fast = Conv3x3::new(conv.clone()).unwrap();
            // Padding other than 1 keeps candle's path.
            assert_eq!(fast.taps.is_empty(), padding != 1);
            for x in [x.clone(), x.transpose(2, 3).unwrap()] {
                let want = conv.forward(&x).unwrap();
                let got = fast.forward(&x).unwrap();
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
    }

    /// ZoeDepth's neck and head shapes: `cargo test --lib conv3x3::tests::timing --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "timing, run by hand"]
    fn timing() {
        let dev = Device::Cpu;
        for (c_in, c_out, side) in [(128, 32, 384), (256, 128, 192), (256, 256, 96)] {
            let wt = Tensor::randn(0f32, 1.0, (c_out, c_in, 3, 3), &dev).unwrap();
            let cfg = Conv2dConfig {
                padding: 1,
                ..Default::default()
            };
            let conv = Conv3x3::new(Conv2d::new(wt, None, cfg)).unwrap();
            let x = Tensor::randn(0f32, 1.0, (1, c_in, side, side), &dev).unwrap();
            let flop = 2.0 * (c_out * c_in * 9 * side * side) as f64;
            for _ in 0..3 {
                let t = std::time::Instant::now();
                conv.forward(&x).unwrap();
                let s = t.elapsed().as_secs_f64();
                eprintln!(
                    "{c_in}->{c_out} at {side}: {:.1} ms, {:.0} GFLOPS",
                    s * 1e3,
                    flop / s / 1e9
                );
            }
        }
    }
}
