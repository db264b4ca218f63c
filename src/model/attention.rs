//! Multi-head scaled dot-product attention for the vision encoders (ZoeDepth's BEiT,
//! SigLIP, the ViT blocks), one pass per head on the CPU.
//!
//! candle's way, as the reference writes it, is six passes over every head's scores: the
//! heads split into contiguous copies, `q k^T` into a fresh (heads, N, N) tensor, the scale
//! (a second tensor), the relative-position bias (a third), the softmax (a fourth, its
//! exponential one value at a time through libm), `probs v`, and the heads merged back. At
//! real size ZoeDepth's 24 layers spent 1.1 s in that glue against PyTorch's 0.5 s.
//!
//! Here the projections are read in place (each head a strided view of the `(B, N, H * D)`
//! projection, or of a fused `q k v` one), and each core takes a band of query rows: for
//! every head, `q k^T` into a scratch block of scores (our `sgemm`, one core), the scale,
//! bias and softmax in one vectorised pass over each row ([`softmax_row`]), and `probs v`
//! written straight into the head's columns of the output rows. Nothing of size
//! `heads x N x N` is ever allocated.
//!
//! Other devices and dtypes, CPUs without our kernels, and a caller that wants the
//! probabilities themselves go through candle as before ([`attend_candle`]).

use candle_core::{DType, Layout, Storage, Tensor};

use super::activation::{avx2_fma, exp};
use super::sgemm;
use super::strided::View;
use crate::util::parallel::each_chunk_mut;

/// Query rows scored at a time: a block's scores (rows x keys) stay in L2.
const ROW_BLOCK: usize = 128;

/// The heads of one attention: `heads` query heads of `head_dim`, `kv_heads` key/value
/// heads (query head `h` reads key/value head `h / (heads / kv_heads)`), scores scaled by
/// `scale`.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub scale: f64,
}

/// `softmax(q k^T scale + bias) v` per head: `q` (B, Nq, H * D), `k` and `v` (B, Nk,
/// Hkv * D), each with a contiguous last dimension (rows may be further apart: narrowed
/// from a fused projection); `bias` (H, Nq, Nk), added to every batch item. Returns
/// (B, Nq, H * D), the heads side by side as the output projection reads them.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: Heads,
    bias: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (b, nq, width) = q.dims3()?;
    let (kb, nk, kv_width) = k.dims3()?;
    if heads.heads == 0
        || heads.kv_heads == 0
        || !heads.heads.is_multiple_of(heads.kv_heads)
        || width != heads.heads * heads.head_dim
        || kv_width != heads.kv_heads * heads.head_dim
        || kb != b
        || v.dims() != k.dims()
    {
        candle_core::bail!(
            "attention: q {:?}, k {:?}, v {:?} do not fit {heads:?}",
            q.dims(),
            k.dims(),
            v.dims()
        )
    }
    if let Some(bias) = bias
        && bias.dims() != [heads.heads, nq, nk]
    {
        candle_core::bail!("attention: bias {:?} for {nq} x {nk} scores", bias.dims())
    }
    let fast = q.device().is_cpu()
        && [q, k, v].iter().all(|t| t.dtype() == DType::F32)
        && bias.is_none_or(|t| t.dtype() == DType::F32)
        && sgemm::available();
    if !fast {
        return attend_candle([q, k, v], heads, bias);
    }
    // Row-strided views are read in place; anything else is copied first.
    let rows = |t: &Tensor| -> candle_core::Result<Tensor> {
        if row_strided(t.layout()).is_some() {
            Ok(t.clone())
        } else {
            t.contiguous()
        }
    };
    let (q, k, v) = (rows(q)?, rows(k)?, rows(v)?);
    let bias = bias.map(Tensor::contiguous).transpose()?;
    let out = {
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let bias_guard = bias.as_ref().map(Tensor::storage_and_layout);
        let (Storage::Cpu(qs), Storage::Cpu(ks), Storage::Cpu(vs)) = (&*qs, &*ks, &*vs) else {
            candle_core::bail!("attention: CPU tensors expected")
        };
        let bias = match &bias_guard {
            None => None,
            Some((s, l)) => {
                let (Storage::Cpu(s), Some((b0, b1))) = (&**s, l.contiguous_offsets()) else {
                    candle_core::bail!("attention: a contiguous CPU bias expected")
                };
                Some(&s.as_slice::<f32>()?[b0..b1])
            }
        };
        let shape = Shape3 { b, nq, nk };
        run(
            operand(qs, ql)?,
            operand(ks, kl)?,
            operand(vs, vl)?,
            heads,
            bias,
            shape,
        )?
    };
    Tensor::from_vec(out, (b, nq, width), q.device())
}

/// `(start, batch stride, row stride)` of a (B, N, W) layout whose last dimension is
/// contiguous.
fn row_strided(l: &Layout) -> Option<(usize, usize, usize)> {
    let (dims, stride) = (l.dims(), l.stride());
    if dims.len() != 3 || !(stride[2] == 1 || dims[2] <= 1) {
        return None;
    }
    Some((l.start_offset(), stride[0], stride[1]))
}

fn operand<'a>(s: &'a candle_core::CpuStorage, l: &Layout) -> candle_core::Result<Operand<'a>> {
    let Some((start, batch_stride, row_stride)) = row_strided(l) else {
        candle_core::bail!("attention: an operand's last dimension is not contiguous")
    };
    let Some(data) = s.as_slice::<f32>()?.get(start..) else {
        candle_core::bail!("attention: an operand starts past its storage")
    };
    Ok(Operand {
        data,
        batch_stride,
        row_stride,
    })
}

/// One of `q`, `k`, `v`: element (b, n, c) at `b * batch_stride + n * row_stride + c`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    batch_stride: usize,
    row_stride: usize,
}

impl<'a> Operand<'a> {
    /// Head `h`'s columns in batch item `b`, rows from `r0` on, as a matrix (or, with
    /// `transposed`, its transpose).
    fn head(
        &self,
        b: usize,
        r0: usize,
        h: usize,
        head_dim: usize,
        transposed: bool,
    ) -> candle_core::Result<View<'a, f32>> {
        let at = b * self.batch_stride + r0 * self.row_stride + h * head_dim;
        let Some(data) = self.data.get(at..) else {
            candle_core::bail!("attention: an operand is shorter than its shape")
        };
        let (rs, cs) = if transposed {
            (1, self.row_stride)
        } else {
            (self.row_stride, 1)
        };
        Ok(View { data, rs, cs })
    }
}

#[derive(Clone, Copy)]
struct Shape3 {
    b: usize,
    nq: usize,
    nk: usize,
}

/// The attention on our kernels: query rows split across the cores.
fn run(
    q: Operand<'_>,
    k: Operand<'_>,
    v: Operand<'_>,
    heads: Heads,
    bias: Option<&[f32]>,
    Shape3 { b, nq, nk }: Shape3,
) -> candle_core::Result<Vec<f32>> {
    let (h_n, d) = (heads.heads, heads.head_dim);
    let width = h_n * d;
    let rows = b * nq;
    let mut out = vec![0f32; rows * width];
    if rows == 0 || width == 0 {
        return Ok(out);
    }
    if nk == 0 {
        // Nothing to attend to: softmax over no keys is undefined; PyTorch gives NaN.
        out.fill(f32::NAN);
        return Ok(out);
    }
    let groups = h_n / heads.kv_heads;
    let scale = heads.scale as f32;
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = rows.div_ceil(cores).max(1);
    let avx2 = avx2_fma();
    let results = each_chunk_mut(&mut out, per * width, "attention", |c, band| {
        let mut scores = vec![0f32; ROW_BLOCK.min(per) * nk];
        let first = c * per;
        let band_rows = band.len() / width;
        // The band's rows, batch item by batch item, head by head, ROW_BLOCK at a time.
        let mut row = first;
        while row < first + band_rows {
            let (bi, r0) = (row / nq, row % nq);
            let r_end = nq.min(r0 + (first + band_rows - row));
            for h in 0..h_n {
                let kvh = h / groups;
                let keys = k.head(bi, 0, kvh, d, true)?;
                let values = v.head(bi, 0, kvh, d, false)?;
                for blk in (r0..r_end).step_by(ROW_BLOCK) {
                    let m = ROW_BLOCK.min(r_end - blk);
                    let s = &mut scores[..m * nk];
                    let queries = q.head(bi, blk, h, d, false)?;
                    sgemm::product_on(1, s, nk, (m, nk, d), queries, keys, false);
                    for (i, srow) in s.chunks_exact_mut(nk).enumerate() {
                        let brow = bias.map(|t| &t[(h * nq + blk + i) * nk..][..nk]);
                        softmax_scaled(srow, scale, brow, avx2);
                    }
                    let probs = View {
                        data: &scores[..m * nk],
                        rs: nk,
                        cs: 1,
                    };
                    let at = (bi * nq + blk - first) * width + h * d;
                    sgemm::product_on(1, &mut band[at..], width, (m, d, nk), probs, values, false);
                }
            }
            row += r_end - r0;
        }
        Ok::<(), candle_core::Error>(())
    });
    results.into_iter().collect::<candle_core::Result<()>>()?;
    Ok(out)
}

/// [`softmax_row`], compiled for AVX2 where the CPU has it.
fn softmax_scaled(row: &mut [f32], scale: f32, bias: Option<&[f32]>, avx2: bool) {
    if avx2 {
        // SAFETY: `avx2` is true only where AVX2 and FMA are detected.
        #[expect(unsafe_code, reason = "a loop compiled for AVX2, called where it runs")]
        unsafe {
            softmax_row_avx2(row, scale, bias)
        }
    } else {
        softmax_row(row, scale, bias);
    }
}

/// Callers check that the CPU has `avx2` and `fma` ([`avx2_fma`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_row_avx2(row: &mut [f32], scale: f32, bias: Option<&[f32]>) {
    softmax_row(row, scale, bias);
}

#[cfg(not(target_arch = "x86_64"))]
fn softmax_row_avx2(row: &mut [f32], scale: f32, bias: Option<&[f32]>) {
    softmax_row(row, scale, bias);
}

/// Lanes of the running max and sum: independent accumulators the compiler keeps in one
/// vector register.
const LANES: usize = 8;

/// `row = softmax(row * scale + bias)` in place, as PyTorch's: the max subtracted before
/// the exponential, each value divided by the sum.
#[inline(always)]
fn softmax_row(row: &mut [f32], scale: f32, bias: Option<&[f32]>) {
    match bias {
        Some(bias) => {
            for (s, b) in row.iter_mut().zip(bias) {
                *s = *s * scale + *b;
            }
        }
        None => row.iter_mut().for_each(|s| *s *= scale),
    }
    let (chunks, tail) = row.as_chunks::<LANES>();
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for c in chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            *m = m.max(*v);
        }
    }
    let max = tail
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, v| m.max(*v));
    let (chunks, tail) = row.as_chunks_mut::<LANES>();
    let mut sums = [0f32; LANES];
    for c in chunks {
        for (s, v) in sums.iter_mut().zip(c.iter_mut()) {
            *v = exp(*v - max);
            *s += *v;
        }
    }
    let mut sum = 0f32;
    for v in tail.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let sum = sums.iter().sum::<f32>() + sum;
    row.iter_mut().for_each(|v| *v /= sum);
}

/// The reference's way through candle: heads split, scores, scale, bias, softmax, `probs
/// v`, heads merged (on a GPU, in bfloat16, or without our kernels). The scores and the
/// softmax in float32 whatever the dtype, as the library upcasts them.
pub fn attend_candle(
    [q, k, v]: [&Tensor; 3],
    heads: Heads,
    bias: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    weigh_values(&probabilities(q, k, heads, bias)?, v, heads)
}

/// `probs v` with the heads merged: `probs` (B, H, Nq, Nk) from [`probabilities`], `v`
/// (B, Nk, Hkv * D); (B, Nq, H * D).
pub fn weigh_values(probs: &Tensor, v: &Tensor, heads: Heads) -> candle_core::Result<Tensor> {
    let (b, _, nq, _) = probs.dims4()?;
    let vh = split_heads(v, heads.kv_heads, heads.head_dim)?;
    let vh = repeat_kv(&vh, heads.heads / heads.kv_heads)?;
    super::batched::matmul(&probs.to_dtype(v.dtype())?, &vh)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, nq, heads.heads * heads.head_dim))
}

/// The softmax probabilities (B, H, Nq, Nk) in float32, for a caller that shows them.
pub fn probabilities(
    q: &Tensor,
    k: &Tensor,
    heads: Heads,
    bias: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let qh = split_heads(q, heads.heads, heads.head_dim)?;
    let kh = split_heads(k, heads.kv_heads, heads.head_dim)?;
    let kh = repeat_kv(&kh, heads.heads / heads.kv_heads)?;
    let mut scores = (super::batched::matmul(&qh, &kh.t()?)?.to_dtype(DType::F32)? * heads.scale)?;
    if let Some(bias) = bias {
        scores = scores.broadcast_add(&bias.to_dtype(DType::F32)?.unsqueeze(0)?)?;
    }
    candle_nn::ops::softmax_last_dim(&scores)
}

/// (B, N, H * D) -> (B, H, N, D), contiguous.
fn split_heads(t: &Tensor, heads: usize, head_dim: usize) -> candle_core::Result<Tensor> {
    let (b, n, _) = t.dims3()?;
    t.reshape((b, n, heads, head_dim))?
        .transpose(1, 2)?
        .contiguous()
}

/// (B, Hkv, N, D) -> (B, Hkv * groups, N, D), each key/value head repeated for its group.
fn repeat_kv(t: &Tensor, groups: usize) -> candle_core::Result<Tensor> {
    if groups == 1 {
        return Ok(t.clone());
    }
    let (b, hkv, n, d) = t.dims4()?;
    t.unsqueeze(2)?
        .expand((b, hkv, groups, n, d))?
        .reshape((b, hkv * groups, n, d))
}

#[cfg(test)]
#[path = "attention_tests.rs"]
mod tests;
