//! Linear layers whose bfloat16 weights stay bfloat16 on the CPU.
//!
//! candle 0.11 has no CPU bfloat16 matrix product: it widens both operands, the whole
//! weight included, to a fresh float32 copy on every call (for the real `lm_head`, 611 M
//! values, 2.4 GB, per generated token), which made `--dtype bf16` several times slower than
//! float32. Here a bfloat16 input times a bfloat16 weight (`out x in`, as stored) is a
//! custom op that reads the weight as it is:
//! - a few rows (generation: one token at a time): each output is a dot product of the
//!   input row with a weight row, bfloat16 widened in registers, float32 accumulation,
//!   rows split across the cores; the weight is read once, at 2 bytes a value;
//! - more rows (the prompt pass): our blocked product (`sgemm/`, AVX-512 or AVX2), the
//!   weight widened while its panels are packed; on CPUs with neither, blocks of weight
//!   rows widened into a small float32 buffer and multiplied by `gemm`.
//!
//! On CPUs with AMX (`amx/`) both cases go to the bfloat16 tile multiply instead; on
//! CPUs with AVX-512 or AVX2, float32 goes to our blocked product (`sgemm/`) instead of
//! candle's.
//!
//! Either way the products accumulate in float32 and round once to bfloat16, as PyTorch's
//! CPU bfloat16 linear does. Other dtypes and devices go through candle's matmul unchanged.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Shape, Tensor};
use candle_nn::VarBuilder;
use half::bf16;

use super::strided::{View, gemm_into};
use crate::util::parallel::each_chunk_mut;

/// The dtype activations flow in for weights of `weights` on `device`: float32 on the CPU
/// when the weights are bfloat16. The linear layers still multiply in bfloat16 (AMX where
/// present) and round once, as the reference's do; norms, softmax, GELU, rotary embeddings
/// and residual sums run in float32, where candle's CPU kernels are vectorised (its
/// bfloat16 ones convert one value at a time: at real size they made a bfloat16 step
/// slower than a float32 one). The result is closer to the float32 truth than the
/// reference's all-bfloat16 run, as ZoeDepth (always float32) already is.
pub fn activation_dtype(weights: DType, device: &candle_core::Device) -> DType {
    if device.is_cpu() && weights == DType::BF16 {
        DType::F32
    } else {
        weights
    }
}

/// A linear layer (`y = x W^T + b`) with the bfloat16 CPU path above.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    Ok(Linear {
        weight: vb.get((out_dim, in_dim), "weight")?,
        bias: Some(vb.get(out_dim, "bias")?),
    })
}

pub fn linear_no_bias(
    in_dim: usize,
    out_dim: usize,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    Ok(Linear {
        weight: vb.get((out_dim, in_dim), "weight")?,
        bias: None,
    })
}

/// One layer for several that read the same input (attention's query, key and value):
/// their weights stacked along the output dimension, a part without a bias given zeros.
/// One product then packs the input once and runs on a wider panel grid (at ZoeDepth's
/// width, three 1024-wide products ran 30% below one 3072-wide one); the caller narrows
/// the output back into its parts.
pub fn fused(parts: &[Linear]) -> candle_core::Result<Linear> {
    let weights: Vec<&Tensor> = parts.iter().map(|p| &p.weight).collect();
    let weight = Tensor::cat(&weights, 0)?;
    let bias = if parts.iter().any(|p| p.bias.is_some()) {
        let biases = parts
            .iter()
            .map(|p| match &p.bias {
                Some(b) => Ok(b.clone()),
                None => Tensor::zeros(p.weight.dim(0)?, p.weight.dtype(), p.weight.device()),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Some(Tensor::cat(&biases, 0)?)
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Linear {
    /// `x W^T`, and whether the bias is in it already (float32 on our kernels).
    fn product(&self, x: &Tensor) -> candle_core::Result<(Tensor, bool)> {
        // A bfloat16 weight takes bfloat16 input, or float32 (`activation_dtype`).
        let bf16_cpu = x.device().is_cpu()
            && matches!(x.dtype(), DType::BF16 | DType::F32)
            && self.weight.dtype() == DType::BF16;
        let f32_cpu = x.device().is_cpu()
            && x.dtype() == DType::F32
            && self.weight.dtype() == DType::F32
            && super::sgemm::available();
        if bf16_cpu || f32_cpu {
            let dims = x.dims().to_vec();
            let k = *dims.last().unwrap_or(&0);
            let m = x.elem_count() / k.max(1);
            let flat = x.reshape((m, k))?.contiguous()?;
            let w = self.weight.contiguous()?;
            let f32_bias = self.bias.as_ref().filter(|b| b.dtype() == DType::F32);
            let (y, biased) = match f32_bias {
                _ if bf16_cpu => (flat.apply_op2_no_bwd(&w, &Bf16Linear)?, false),
                Some(b) => (
                    flat.apply_op3_no_bwd(&w, &b.contiguous()?, &F32Linear)?,
                    true,
                ),
                None => (flat.apply_op2_no_bwd(&w, &F32Linear)?, false),
            };
            let mut out_dims = dims;
            if let Some(last) = out_dims.last_mut() {
                *last = self.weight.dim(0)?;
            }
            Ok((y.reshape(out_dims)?, biased))
        } else {
            let w = match *x.dims() {
                [b1, b2, _, _] => self.weight.broadcast_left((b1, b2))?.t()?,
                [bsize, _, _] => self.weight.broadcast_left(bsize)?.t()?,
                _ => self.weight.t()?,
            };
            Ok((x.matmul(&w)?, false))
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        // float32 activations through bfloat16 weights on the CPU (see `activation_dtype`):
        // the product in bfloat16, rounded once, handed back in float32, and the bias
        // added in float32 (candle's bfloat16 addition converts value by value).
        let (y, biased) = self.product(x)?;
        match &self.bias {
            Some(b) if !biased => y.broadcast_add(&b.to_dtype(y.dtype())?),
            _ => Ok(y),
        }
    }
}

/// Up to this many input rows go row by row (dot products); more go through `gemm`.
const GEMV_MAX_ROWS: usize = 4;
/// Weight rows widened at a time for `gemm`.
const BLOCK_ROWS: usize = 1024;

fn widen(v: bf16) -> f32 {
    f32::from_bits(u32::from(v.to_bits()) << 16)
}

/// `x`'s and `W`'s contiguous slices and `(m, n, k)`.
type Operands<'a, X, W> = (&'a [X], &'a [W], (usize, usize, usize));

/// The contiguous operand slices and `(m, n, k)` of `x (m x k)` and `W (n x k)`.
fn operands<'a, X, W>(
    op: &str,
    (x, l1): (&'a [X], &Layout),
    (w, l2): (&'a [W], &Layout),
) -> candle_core::Result<Operands<'a, X, W>> {
    let (Some((x0, x1)), Some((w0, w1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
    else {
        candle_core::bail!("{op}: contiguous operands expected")
    };
    let (m, k) = l1.shape().dims2()?;
    let (n, k2) = l2.shape().dims2()?;
    if k != k2 {
        candle_core::bail!("{op}: input width {k} but weight width {k2}")
    }
    Ok((&x[x0..x1], &w[w0..w1], (m, n, k)))
}

/// `x (m x k) W^T` for contiguous float32 `x` and `W (n x k)` on our kernels (`sgemm/`).
struct F32Linear;

impl CustomOp2 for F32Linear {
    fn name(&self) -> &'static str {
        "f32-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (s1, s2) else {
            candle_core::bail!("f32-linear: float32 operands expected")
        };
        let (x, w, (m, n, k)) = operands("f32-linear", (x, l1), (w, l2))?;
        let out = f32_linear(x, w, (m, n, k), None)?;
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// With the bias: the output rows start as the bias and the product accumulates onto
/// them, so the bias is not a pass (and a tensor) of its own.
impl CustomOp3 for F32Linear {
    fn name(&self) -> &'static str {
        "f32-linear-bias"
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
        let (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) = (s1, s2, s3) else {
            candle_core::bail!("f32-linear-bias: float32 operands expected")
        };
        let (x, w, (m, n, k)) = operands("f32-linear-bias", (x, l1), (w, l2))?;
        let bias = match l3.contiguous_offsets() {
            Some((b0, b1)) if b1 - b0 == n => &b[b0..b1],
            _ => candle_core::bail!("f32-linear-bias: a contiguous bias of {n} values expected"),
        };
        let out = f32_linear(x, w, (m, n, k), Some(bias))?;
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// `x (m x k) W^T (+ bias)` on our kernels.
fn f32_linear(
    x: &[f32],
    w: &[f32],
    (m, n, k): (usize, usize, usize),
    bias: Option<&[f32]>,
) -> candle_core::Result<Vec<f32>> {
    let out = if m <= GEMV_MAX_ROWS {
        super::sgemm::rows_times_weight(x, w, (m, n, k)).map(|mut out| {
            if let Some(bias) = bias {
                for row in out.chunks_exact_mut(n) {
                    row.iter_mut().zip(bias).for_each(|(o, b)| *o += *b);
                }
            }
            out
        })
    } else {
        let mut out = match bias {
            Some(bias) => bias.repeat(m),
            None => vec![0f32; m * n],
        };
        super::sgemm::product(
            &mut out,
            n,
            (m, n, k),
            View {
                data: x,
                rs: k,
                cs: 1,
            },
            View {
                data: w,
                rs: 1,
                cs: k,
            },
            bias.is_some(),
        )
        .then_some(out)
    };
    let Some(out) = out else {
        candle_core::bail!("f32-linear: neither AVX-512 nor AVX2 is available")
    };
    Ok(out)
}

/// `x (m x k) W^T` for a bfloat16 `W (n x k)` and contiguous `x`: bfloat16 `x` gives
/// bfloat16; float32 `x` (the float32-activation path, [`activation_dtype`]) is rounded to
/// bfloat16 and the result handed back in float32. Either way the product accumulates in
/// float32 and rounds once to bfloat16. On AMX the input's rounding happens while its rows
/// are packed and the results are written in the output's dtype, so neither conversion is
/// a pass of its own.
struct Bf16Linear;

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
        let CpuStorage::BF16(w) = s2 else {
            candle_core::bail!("bf16-linear: a bfloat16 weight expected")
        };
        let storage = match s1 {
            CpuStorage::BF16(x) => {
                let (x, w, (m, n, k)) = operands(self.name(), (x, l1), (w, l2))?;
                CpuStorage::BF16(match super::amx::matmul_bf16::<bf16, bf16>(x, w, m, n, k) {
                    Some(out) => out,
                    None => avx2_product(x, w, m, n, k)
                        .into_iter()
                        .map(bf16::from_f32)
                        .collect(),
                })
            }
            CpuStorage::F32(x) => {
                let (x, w, (m, n, k)) = operands(self.name(), (x, l1), (w, l2))?;
                CpuStorage::F32(match super::amx::matmul_bf16::<f32, f32>(x, w, m, n, k) {
                    Some(out) => out,
                    None => {
                        // The input rounded to bfloat16 and kept in float32 (one pass, not a
                        // rounding and then a widening), the output rounded where it lies:
                        // a fresh output-sized buffer per product costs its page faults again.
                        let xr: Vec<f32> = x.iter().map(|v| bf16::from_f32(*v).to_f32()).collect();
                        let mut out = wide_input_product(&xr, w, m, n, k);
                        out.iter_mut()
                            .for_each(|v| *v = bf16::from_f32(*v).to_f32());
                        out
                    }
                })
            }
            _ => candle_core::bail!("bf16-linear: a bfloat16 or float32 input expected"),
        };
        let ((m, _), (n, _)) = (l1.shape().dims2()?, l2.shape().dims2()?);
        Ok((storage, Shape::from((m, n))))
    }
}

/// `x (m x k) W^T` in float32 without AMX: the weight widened in registers (few rows) or in
/// blocks (`gemm`). Public for same-run comparisons (`benches/bf16_linear.rs`).
pub fn avx2_product(x: &[bf16], w: &[bf16], m: usize, n: usize, k: usize) -> Vec<f32> {
    let x32: Vec<f32> = x.iter().map(|v| widen(*v)).collect();
    wide_input_product(&x32, w, m, n, k)
}

/// [`avx2_product`] for an input already in float32 (holding bfloat16 values).
fn wide_input_product(x: &[f32], w: &[bf16], m: usize, n: usize, k: usize) -> Vec<f32> {
    if m <= GEMV_MAX_ROWS {
        gemv(x, w, m, n, k)
    } else {
        blocked_gemm(x, w, m, n, k)
    }
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

/// On our kernels (`sgemm/`), the weight widened while its panels are packed; without
/// them, blocks of weight rows widened to float32 and multiplied with `gemm`.
fn blocked_gemm(x: &[f32], w: &[bf16], m: usize, n: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
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
    if super::sgemm::product(&mut out, n, (m, n, k), lhs, weight_t, false) {
        return out;
    }
    let mut block = vec![0f32; BLOCK_ROWS * k];
    for j0 in (0..n).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(n - j0);
        widen_into(&mut block[..rows * k], &w[j0 * k..(j0 + rows) * k]);
        // Columns j0.. of the output; the block read as its transpose (k x rows).
        let rhs = View {
            data: &block[..rows * k],
            rs: 1,
            cs: k,
        };
        gemm_into(&mut out[j0..], n, (m, rows, k), lhs, rhs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rand(shape: (usize, usize), seed: u64) -> Tensor {
        let v = crate::model::test_values::uniform(shape.0 * shape.1, seed);
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Both paths against float32 products of the same bfloat16 values, rounded once.
    #[test]
    fn bf16_products_equal_float32_products_rounded_once() {
        for (m, n, k) in [
            (1, 300, 77),
            (3, 257, 130),
            (9, 513, 64),
            (40, 70, 33),
            (6, 2100, 40),
        ] {
            let x = rand((m, k), 1).to_dtype(DType::BF16).unwrap();
            let w = rand((n, k), 2).to_dtype(DType::BF16).unwrap();
            let b = rand((1, n), 3)
                .flatten_all()
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap();
            let lin = Linear::new(w.clone(), Some(b.clone()));
            let got = lin.forward(&x.unsqueeze(0).unwrap()).unwrap();
            assert_eq!(got.dims(), &[1, m, n]);
            let want = x
                .to_dtype(DType::F32)
                .unwrap()
                .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap()
                .broadcast_add(&b)
                .unwrap();
            let d = (got.squeeze(0).unwrap().to_dtype(DType::F32).unwrap()
                - want.to_dtype(DType::F32).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
            // One bfloat16 rounding step of values up to ~2 (accumulation order differs).
            assert!(d <= 1.6e-2, "({m}, {n}, {k}): {d}");
            // float32 activations: the same rounded product, handed back in float32.
            let x32 = x.to_dtype(DType::F32).unwrap();
            let no_bias = Linear::new(w.clone(), None);
            let mixed: Vec<f32> = no_bias
                .forward(&x32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let rounded: Vec<f32> = no_bias
                .forward(&x)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(mixed, rounded, "({m}, {n}, {k}): mixed path");
        }
    }

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

    /// With and without the bias (which the product starts from), a few rows (dot
    /// products) and many (the blocked kernels).
    #[test]
    fn float32_equals_candles_product() {
        for (m, n, k) in [(1, 7, 16), (5, 7, 16), (30, 70, 300)] {
            let x = rand((m, k), 4);
            let w = rand((n, k), 5);
            let b = rand((1, n), 6).flatten_all().unwrap();
            let plain = x.matmul(&w.t().unwrap()).unwrap();
            for (bias, want) in [
                (None, plain.clone()),
                (Some(b.clone()), plain.broadcast_add(&b).unwrap()),
            ] {
                let with = bias.is_some();
                let got = Linear::new(w.clone(), bias).forward(&x).unwrap();
                let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
                // Our kernels sum in another order than candle's (values <= 0.25 k).
                assert!(
                    d.to_scalar::<f32>().unwrap() <= 1e-6 * k as f32,
                    "({m}, {n}, {k}), bias {with}"
                );
            }
        }
    }
}
