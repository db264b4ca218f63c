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

use super::strided::View;
use candle_core::{DType, Module, Storage, Tensor};
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
    bias: Vec<f32>,
}

impl Conv3x3 {
    /// `inner` must be a 3 x 3 convolution with stride 1 and padding 1.
    pub fn new(inner: Conv2d) -> Result<Self> {
        let w = inner.weight();
        let (c_out, c_in, _, _) = w.dims4()?;
        let taps: Vec<f32> = w
            .to_dtype(DType::F32)?
            .permute((0, 2, 3, 1))?
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

thread_local! {
    /// The zero-padded input, kept per thread between calls: at ZoeDepth's full resolution
    /// it is 76 MB, which a fresh allocation faults in 4 KiB at a time on every call (a
    /// third of that convolution's time). Only its borders are zeroed again.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Module for Conv3x3 {
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
        let x = x.contiguous()?;
        let out = {
            // The input read where it lies: no copy out of the tensor.
            let (storage, layout) = x.storage_and_layout();
            let (Storage::Cpu(storage), Some((x0, x1))) = (&*storage, layout.contiguous_offsets())
            else {
                candle_core::bail!("conv3x3: a contiguous CPU input expected")
            };
            let input = &storage.as_slice::<f32>()?[x0..x1];
            PADDED.with_borrow_mut(|padded| self.convolve(input, (c_in, h, w), padded))
        };
        Tensor::from_vec(out, (1, self.c_out, h, w), x.device())
    }
}

impl Conv3x3 {
    /// The output (`c_out x h x w`) of `input` (`c_in x h x w`), padding into `padded`.
    #[expect(
        unsafe_code,
        reason = "gemm on strided views of one buffer (see SAFETY)"
    )]
    fn convolve(&self, input: &[f32], (c_in, h, w): Dims, padded: &mut Vec<f32>) -> Vec<f32> {
        let c_out = self.c_out;
        let (ph, pw) = (h + 2, w + 2);
        let len = c_in * ph * pw;
        if padded.len() < len {
            padded.resize(len, 0.0);
        }
        let padded = &mut padded[..len];
        for (plane, src) in padded
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
        let padded = &*padded;
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
        dst
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
    /// one (so the reused padding buffer holds the previous input), and a transposed
    /// (non-contiguous) input.
    #[test]
    fn equals_candles_convolution() {
        let dev = Device::Cpu;
        for (c_in, c_out, h, w, bias) in [
            (3, 5, 7, 9, true),
            (16, 8, 40, 33, false),
            (40, 13, 17, 20, true),
        ] {
            let wt = Tensor::randn(0f32, 1.0, (c_out, c_in, 3, 3), &dev).unwrap();
            let b = bias.then(|| Tensor::randn(0f32, 1.0, c_out, &dev).unwrap());
            let cfg = Conv2dConfig {
                padding: 1,
                ..Default::default()
            };
            let conv = Conv2d::new(wt, b, cfg);
            let x = Tensor::randn(0f32, 1.0, (1, c_in, h, w), &dev).unwrap();
            let fast = Conv3x3::new(conv.clone()).unwrap();
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
