//! The product of an input with a bfloat16 weight (`out x in`, as stored) on the CPU, for
//! [`super::linear::Linear`].
//!
//! candle 0.11 has no CPU bfloat16 matrix product: it widens both operands, the whole
//! weight included, to a fresh float32 copy on every call (for the real `lm_head`, 611 M
//! values, 2.4 GB, per generated token). Here the weight is read as it is:
//! - a few rows (generation: one token at a time): each output is a dot product of the
//!   input row with a weight row, bfloat16 widened in registers, rows split across the
//!   cores; the weight is read once, at 2 bytes a value;
//! - more rows (the prompt pass, the image branch): our blocked product (`sgemm/`, AVX-512
//!   or AVX2), the weight widened while its panels are packed; on CPUs with neither, blocks
//!   of weight rows widened into a small float32 buffer and multiplied by `gemm`.
//!
//! What the arithmetic is depends on the hardware:
//! - **With AMX** (`amx/`) the product runs on bfloat16 tiles: the input rounded to
//!   bfloat16 while it is packed, float32 accumulation, the output rounded once, as
//!   PyTorch's CPU bfloat16 linear does.
//! - **Without AMX** the CPU has no bfloat16 arithmetic, so rounding the float32
//!   activations (`linear::activation_dtype`) before and after each product would be extra
//!   passes that buy nothing but the reference's rounding error: at real size they (with
//!   the bias added separately) made the image branch 1.47x and the prompt pass 1.19x our
//!   own float32 time. The float32 input therefore meets the exactly widened weight and the
//!   bias starts the output, as in the float32 layer: bfloat16 is the weights' storage
//!   (half the memory, half the bytes read per token), the result the float32 product of
//!   the stored values, bit for bit (a test checks it).
//! - A bfloat16 input (all-bfloat16 activations) gives a bfloat16 output, the float32 sum
//!   with its bias rounded once.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape};
use half::bf16;

use super::linear::{GEMV_MAX_ROWS, operands};
use super::strided::{View, gemm_into};
use crate::util::parallel::each_chunk_mut;

/// Weight rows widened at a time for `gemm` (CPUs without our kernels).
const BLOCK_ROWS: usize = 1024;

fn widen(v: bf16) -> f32 {
    f32::from_bits(u32::from(v.to_bits()) << 16)
}

/// `x (m x k) W^T (+ bias)` for a bfloat16 `W (n x k)` and contiguous `x` (see the module
/// docs for what the arithmetic is).
pub(super) struct Bf16Linear;

impl CustomOp2 for Bf16Linear {
    fn name(&self) -> &'static str {
        "bf16-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        bf16_linear("bf16-linear", (s1, l1), (s2, l2), None)
    }
}

/// With the bias (bfloat16 or float32), added in float32 before any rounding.
impl CustomOp3 for Bf16Linear {
    fn name(&self) -> &'static str {
        "bf16-linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = l2.shape().dims2()?.0;
        let bias: Vec<f32> = match (s3, l3.contiguous_offsets()) {
            (CpuStorage::BF16(b), Some((b0, b1))) if b1 - b0 == n => {
                b[b0..b1].iter().map(|v| widen(*v)).collect()
            }
            (CpuStorage::F32(b), Some((b0, b1))) if b1 - b0 == n => b[b0..b1].to_vec(),
            _ => candle_core::bail!(
                "bf16-linear-bias: a contiguous bfloat16 or float32 bias of {n} values expected"
            ),
        };
        bf16_linear("bf16-linear-bias", (s1, l1), (s2, l2), Some(&bias))
    }
}

fn bf16_linear(
    op: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    bias: Option<&[f32]>,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let CpuStorage::BF16(w) = s2 else {
        candle_core::bail!("{op}: a bfloat16 weight expected")
    };
    let storage = match s1 {
        CpuStorage::BF16(x) => {
            let (x, w, (m, n, k)) = operands(op, (x, l1), (w, l2))?;
            let mut out = match super::amx::matmul_bf16::<bf16, f32>(x, w, m, n, k) {
                Some(out) => out,
                None => avx2_product(x, w, m, n, k),
            };
            add_bias(&mut out, bias);
            CpuStorage::BF16(out.into_iter().map(bf16::from_f32).collect())
        }
        CpuStorage::F32(x) => {
            let (x, w, (m, n, k)) = operands(op, (x, l1), (w, l2))?;
            CpuStorage::F32(match super::amx::matmul_bf16::<f32, f32>(x, w, m, n, k) {
                Some(mut out) => {
                    add_bias(&mut out, bias);
                    out
                }
                None => weight_only(x, w, (m, n, k), bias),
            })
        }
        _ => candle_core::bail!("{op}: a bfloat16 or float32 input expected"),
    };
    let ((m, _), (n, _)) = (l1.shape().dims2()?, l2.shape().dims2()?);
    Ok((storage, Shape::from((m, n))))
}

/// Each output row plus the bias.
fn add_bias(out: &mut [f32], bias: Option<&[f32]>) {
    if let Some(bias) = bias.filter(|b| !b.is_empty()) {
        for row in out.chunks_exact_mut(bias.len()) {
            row.iter_mut().zip(bias).for_each(|(o, b)| *o += *b);
        }
    }
}

/// `x W^T (+ bias)` in float32 of the stored bfloat16 weight, without AMX: the output
/// starts as the bias and the product accumulates onto it (as `linear::f32_linear`).
fn weight_only(
    x: &[f32],
    w: &[bf16],
    (m, n, k): (usize, usize, usize),
    bias: Option<&[f32]>,
) -> Vec<f32> {
    if m <= GEMV_MAX_ROWS {
        let mut out = gemv(x, w, m, n, k);
        add_bias(&mut out, bias);
        return out;
    }
    let mut out = match bias {
        Some(bias) => bias.repeat(m),
        None => vec![0f32; m * n],
    };
    blocked_gemm(&mut out, x, w, (m, n, k), bias.is_some());
    out
}

/// `x (m x k) W^T` in float32 without AMX: the weight widened in registers (few rows) or in
/// blocks (`gemm`). Public for same-run comparisons (`benches/bf16_linear.rs`).
pub fn avx2_product(x: &[bf16], w: &[bf16], m: usize, n: usize, k: usize) -> Vec<f32> {
    let x32: Vec<f32> = x.iter().map(|v| widen(*v)).collect();
    weight_only(&x32, w, (m, n, k), None)
}

/// Row-by-row products, output rows (weight rows) split across the cores.
fn gemv(x: &[f32], w: &[bf16], m: usize, n: usize, k: usize) -> Vec<f32> {
    super::sgemm::per_weight_row(x, w, (m, n, k), dot)
}

/// A dot product with eight float32 accumulators: on AVX2 with FMA eight lanes at a time
/// (the weight widened in registers), else a loop the compiler vectorises for the baseline.
fn dot(x: &[f32], w: &[bf16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::sgemm::isa().is_some() {
        // SAFETY: every instruction set `isa` reports includes avx2 and fma.
        #[expect(unsafe_code, reason = "AVX2 dot product (see SAFETY)")]
        return unsafe { dot_avx2(x, w) };
    }
    dot_portable(x, w)
}

/// [`dot`] on AVX2: eight bfloat16 weights widened by a zero-extend and a shift, then one
/// fused multiply-add; two vectors in flight.
///
/// # Safety
/// The CPU has `avx2` and `fma`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[expect(unsafe_code, reason = "AVX2 loads on checked extents (see SAFETY)")]
unsafe fn dot_avx2(x: &[f32], w: &[bf16]) -> f32 {
    use std::arch::x86_64::*;
    let n = x.len().min(w.len());
    let (all, all128) = (_mm256_set1_epi32(-1), _mm_set1_epi32(-1));
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (l, a) in acc.iter_mut().enumerate() {
            let at = i + 8 * l;
            // SAFETY: at + 8 <= n <= both lengths: 8 floats and 8 bfloat16 (16 bytes).
            unsafe {
                // Masked loads with every lane on: `loadu`'s by-value copy and its
                // debug-build check spill registers (`sgemm/kernels.rs`).
                let wv = _mm_maskload_epi32(w.as_ptr().wrapping_add(at).cast(), all128);
                let wv = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(wv)));
                let xv = _mm256_maskload_ps(x.as_ptr().wrapping_add(at), all);
                *a = _mm256_fmadd_ps(xv, wv, *a);
            }
        }
        i += 16;
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` is 8 values.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc[0], acc[1])) };
    let mut s: f32 = lanes.iter().sum();
    for (a, b) in x[i..n].iter().zip(&w[i..n]) {
        s += a * widen(*b);
    }
    s
}

/// [`dot`] without target features.
fn dot_portable(x: &[f32], w: &[bf16]) -> f32 {
    let mut acc = [0f32; 8];
    let (xc, wc) = (x.chunks_exact(8), w.chunks_exact(8));
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (xs, ws) in xc.zip(wc) {
        for l in 0..8 {
            acc[l] += xs[l] * widen(ws[l]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (a, b) in xr.iter().zip(wr) {
        s += a * widen(*b);
    }
    s
}

/// `dst[i] = src[i]` widened, split across the cores (on one core the widening was a third
/// of a prompt pass's time).
fn widen_into(dst: &mut [f32], src: &[bf16]) {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = dst.len().div_ceil(threads).max(4096);
    each_chunk_mut(dst, per, "widening", |i, d| {
        for (a, b) in d.iter_mut().zip(&src[i * per..]) {
            *a = widen(*b);
        }
    });
}

/// `out (m x n) (+)= x W^T`: on our kernels (`sgemm/`), the weight widened while its
/// panels are packed; without them, blocks of weight rows widened to float32 and
/// multiplied with `gemm`.
fn blocked_gemm(
    out: &mut [f32],
    x: &[f32],
    w: &[bf16],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    let lhs = View {
        data: x,
        rs: k,
        cs: 1,
    };
    let weight_t = View {
        data: w,
        rs: 1,
        cs: k,
    };
    if super::sgemm::product(out, n, (m, n, k), lhs, weight_t, accumulate) {
        return;
    }
    let mut block = vec![0f32; BLOCK_ROWS * k];
    let mut part = if accumulate {
        vec![0f32; m * n]
    } else {
        Vec::new()
    };
    for j0 in (0..n).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(n - j0);
        widen_into(&mut block[..rows * k], &w[j0 * k..(j0 + rows) * k]);
        // Columns j0.. of the output; the block read as its transpose (k x rows).
        let rhs = View {
            data: &block[..rows * k],
            rs: 1,
            cs: k,
        };
        let dst = if accumulate { &mut part[..] } else { &mut *out };
        gemm_into(&mut dst[j0..], n, (m, rows, k), lhs, rhs);
    }
    if accumulate {
        out.iter_mut().zip(&part).for_each(|(o, p)| *o += *p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 dot product (where this CPU has it) and the portable one against float64,
    /// over lengths with and without a tail.
    #[test]
    fn bf16_dot_products_equal_exact_sums() {
        for len in [0usize, 1, 15, 16, 17, 100, 2304] {
            let x = crate::model::test_values::uniform(len, 7);
            let w: Vec<bf16> = crate::model::test_values::uniform(len, 8)
                .into_iter()
                .map(bf16::from_f32)
                .collect();
            let want: f64 = x
                .iter()
                .zip(&w)
                .map(|(a, b)| f64::from(*a) * f64::from(b.to_f32()))
                .sum();
            let tol = 1e-6 * (len as f64 + 1.0);
            let portable = dot_portable(&x, &w);
            assert!((f64::from(portable) - want).abs() <= tol, "portable {len}");
            assert!(
                (f64::from(dot(&x, &w)) - want).abs() <= tol,
                "dispatched {len}"
            );
        }
    }
}
