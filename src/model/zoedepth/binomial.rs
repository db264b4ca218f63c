//! The metric head's last step: the conditional log-binomial over the bins, its softmax
//! at the predicted temperature, and the depth as the probabilities times the bin centres.
//!
//! As tensor operations this is a dozen passes over `(b, n_bins, h, w)` values (64 bins at
//! 384 x 384: 9.4 M), a softmax along a non-last dimension and a product and sum over it:
//! 290 ms of ZoeDepth's metric head at real size. On the CPU here it is one pass per pixel
//! (pixels across the cores): `p` and `t` from the four channels, the bins' scores in a
//! small buffer, their maximum, the exponentials (`activation::exp`, vectorised across a
//! block of pixels where the CPU has AVX2), and the weighted sum of centres, with the
//! reference's formulas in its order. Elsewhere the tensor form stays.

use candle_core::{DType, IndexOp, Tensor};

use crate::model::activation::{avx2_fma, exp};
use crate::model::error::Result;
use crate::util::parallel::each_chunk_mut;

/// Added to the softplus outputs before the ratios (the reference's).
const EPS_PT: f64 = 1e-4;
/// The clamp floor of `p` and `1 - p` (the reference's).
const EPS_P: f32 = 1e-4;
/// Pixels whose bins are scored together (one cache-resident block of scores).
const BLOCK: usize = 64;

/// Stirling log(n choose k) as the reference computes it, in f32.
fn log_binom(n: f32, k: f32) -> f32 {
    let eps = 1e-7f32;
    let (n, k) = (n + eps, k + eps);
    n * n.ln() - k * k.ln() - (n - k) * (n - k + eps).ln()
}

/// The depth `(b, h, w)` from the head's four channels `pt` (softplus outputs, `(b, 4, h,
/// w)`) and the bin centres `(b, n_bins, h, w)`; temperatures between `min_t` and `max_t`.
pub(super) fn depth(pt: &Tensor, centres: &Tensor, (min_t, max_t): (f64, f64)) -> Result<Tensor> {
    let (b, four, h, w) = pt.dims4()?;
    let (cb, n_bins, ch, cw) = centres.dims4()?;
    let fast = pt.device().is_cpu()
        && pt.dtype() == DType::F32
        && centres.dtype() == DType::F32
        && four == 4
        && (cb, ch, cw) == (b, h, w)
        && n_bins > 0;
    if !fast {
        return tensor_depth(pt, centres, (min_t, max_t));
    }
    let hw = h * w;
    let pt: Vec<f32> = pt.flatten_all()?.to_vec1()?;
    let centres: Vec<f32> = centres.flatten_all()?.to_vec1()?;
    let km1 = (n_bins - 1) as f32;
    let bins: Vec<(f32, f32, f32)> = (0..n_bins)
        .map(|k| {
            let k = k as f32;
            (log_binom(km1, k), k, km1 - k)
        })
        .collect();
    let (t_scale, t_min) = ((max_t - min_t) as f32, min_t as f32);
    let mut out = vec![0f32; b * hw];
    if hw == 0 {
        return Ok(Tensor::zeros(
            (b, h, w),
            DType::F32,
            &candle_core::Device::Cpu,
        )?);
    }
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = hw.div_ceil(cores).next_multiple_of(BLOCK);
    for (batch, plane) in out.chunks_exact_mut(hw).enumerate() {
        let pt = &pt[batch * 4 * hw..][..4 * hw];
        let centres = &centres[batch * n_bins * hw..][..n_bins * hw];
        each_chunk_mut(plane, per, "the metric depth", |chunk, dst| {
            let job = Pixels {
                pt,
                centres,
                bins: &bins,
                hw,
                t: (t_scale, t_min),
            };
            let mut scores = vec![0f32; n_bins * BLOCK];
            for (i, block) in dst.chunks_mut(BLOCK).enumerate() {
                let first = chunk * per + i * BLOCK;
                if avx2_fma() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `avx2_fma` saw both features.
                    #[expect(unsafe_code, reason = "the AVX2-compiled pass (see SAFETY)")]
                    unsafe {
                        job.block_avx2(first, block, &mut scores);
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    job.block(first, block, &mut scores);
                } else {
                    job.block(first, block, &mut scores);
                }
            }
        });
    }
    Ok(Tensor::from_vec(out, (b, h, w), &candle_core::Device::Cpu)?)
}

/// One batch item's inputs.
struct Pixels<'a> {
    /// `(4, hw)`.
    pt: &'a [f32],
    /// `(n_bins, hw)`.
    centres: &'a [f32],
    /// Per bin: log-binomial, `k`, `n - 1 - k`.
    bins: &'a [(f32, f32, f32)],
    hw: usize,
    /// Temperature scale and minimum.
    t: (f32, f32),
}

impl Pixels<'_> {
    /// [`Pixels::block`] compiled for AVX2 with FMA.
    ///
    /// # Safety
    /// The CPU has `avx2` and `fma`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn block_avx2(&self, first: usize, depth: &mut [f32], scores: &mut [f32]) {
        self.block(first, depth, scores);
    }

    /// Pixels `first..first + depth.len()`: scores bin-major in `scores`, then the
    /// softmax-weighted centres.
    #[inline(always)]
    fn block(&self, first: usize, depth: &mut [f32], scores: &mut [f32]) {
        let (n, hw) = (depth.len(), self.hw);
        let eps = EPS_PT as f32;
        let channel = |c: usize| &self.pt[c * hw + first..][..n];
        let (p0, p1, p2, p3) = (channel(0), channel(1), channel(2), channel(3));
        let mut log_p = [0f32; BLOCK];
        let mut log_q = [0f32; BLOCK];
        let mut temp = [0f32; BLOCK];
        for i in 0..n {
            let (a, b) = (p0[i] + eps, p1[i] + eps);
            let p = a / (a + b);
            log_q[i] = (1.0 - p).clamp(EPS_P, 1.0).ln();
            log_p[i] = p.clamp(EPS_P, 1.0).ln();
            let (c, d) = (p2[i] + eps, p3[i] + eps);
            temp[i] = c / (c + d) * self.t.0 + self.t.1;
        }
        let mut max = [f32::NEG_INFINITY; BLOCK];
        for (row, &(binom, k, rest)) in scores.chunks_exact_mut(BLOCK).zip(self.bins) {
            for i in 0..n {
                let y = (binom + k * log_p[i] + rest * log_q[i]) / temp[i];
                row[i] = y;
                max[i] = max[i].max(y);
            }
        }
        let mut sum = [0f32; BLOCK];
        let mut acc = [0f32; BLOCK];
        for (k, row) in scores.chunks_exact(BLOCK).enumerate() {
            let centre = &self.centres[k * hw + first..][..n];
            for i in 0..n {
                let e = exp(row[i] - max[i]);
                sum[i] += e;
                acc[i] += e * centre[i];
            }
        }
        for i in 0..n {
            depth[i] = acc[i] / sum[i];
        }
    }
}

/// The same with tensor operations (other devices and dtypes; and the tests' reference).
fn tensor_depth(pt: &Tensor, centres: &Tensor, (min_t, max_t): (f64, f64)) -> Result<Tensor> {
    let pt = (pt + EPS_PT)?;
    let p = (pt.i((.., 0, .., ..))? / (pt.i((.., 0, .., ..))? + pt.i((.., 1, .., ..))?)?)?;
    let t = (pt.i((.., 2, .., ..))? / (pt.i((.., 2, .., ..))? + pt.i((.., 3, .., ..))?)?)?;
    let t = ((t * (max_t - min_t))? + min_t)?.unsqueeze(1)?;
    let n_bins = centres.dim(1)?;
    let eps = f64::from(EPS_P);
    let one_minus = (1.0 - &p)?.clamp(eps, 1.0)?.unsqueeze(1)?;
    let p = p.clamp(eps, 1.0)?.unsqueeze(1)?;
    let km1 = (n_bins - 1) as f32;
    let dev = p.device();
    let k: Vec<f32> = (0..n_bins).map(|k| k as f32).collect();
    let binom: Vec<f32> = k.iter().map(|k| log_binom(km1, *k)).collect();
    let shape = (1, n_bins, 1, 1);
    let k_t = Tensor::from_vec(k.clone(), shape, dev)?;
    let rest = Tensor::from_vec(k.iter().map(|k| km1 - k).collect::<Vec<_>>(), shape, dev)?;
    let binom = Tensor::from_vec(binom, shape, dev)?;
    let y = binom
        .broadcast_add(&k_t.broadcast_mul(&p.log()?)?)?
        .broadcast_add(&rest.broadcast_mul(&one_minus.log()?)?)?;
    let probs = candle_nn::ops::softmax(&y.broadcast_div(&t)?, 1)?;
    Ok((probs * centres)?.sum(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The fused pass against the tensor form: several batch items, a side that is not a
    /// multiple of the block, sharp and flat softmaxes (temperatures 0.03 to 50).
    #[test]
    fn fused_pass_equals_tensor_operations() {
        let (b, n_bins, h, w) = (2, 64, 9, 23);
        let dev = Device::Cpu;
        let v = |n: usize, seed: u64| crate::model::test_values::uniform(n, seed);
        let pt: Vec<f32> = v(b * 4 * h * w, 1)
            .iter()
            .map(|x| (x * 8.0).exp())
            .collect();
        let pt = Tensor::from_vec(pt, (b, 4, h, w), &dev).unwrap();
        let centres: Vec<f32> = v(b * n_bins * h * w, 2)
            .iter()
            .map(|x| 5.0 + 4.0 * x)
            .collect();
        let centres = Tensor::from_vec(centres, (b, n_bins, h, w), &dev).unwrap();
        for temps in [(0.0326, 50.0), (1.0, 1.5)] {
            let got = depth(&pt, &centres, temps).unwrap();
            let want = tensor_depth(&pt, &centres, temps).unwrap();
            assert_eq!(got.dims(), &[b, h, w]);
            let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
            let d = d.to_scalar::<f32>().unwrap();
            assert!(d <= 1e-5, "{temps:?}: {d}");
        }
    }
}
