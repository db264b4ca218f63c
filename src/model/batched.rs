//! Batched float32 matrix products on our AVX-512 or AVX2 kernels (`sgemm/`): attention's
//! `q k^T` and `probs v` for every head at once, the heads spread across the cores and each
//! head's product on one core. candle's CPU matmul ran these on its AVX2 `gemm` kernels, a
//! tenth of ZoeDepth's and SigLIP's time at real size on AVX-512.
//!
//! The left operand is made contiguous; the right one is read in place when it is
//! contiguous or the transpose of a contiguous tensor (`k.t()`), so the transposed keys
//! are never copied. Other dtypes, devices, or CPUs without either go through candle's
//! `matmul` unchanged.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use super::sgemm;
use super::strided::View;
use crate::util::parallel::each_chunk_mut;

/// Rows below which candle's product stays (a generated token's one query row: the
/// blocked kernels' packing would cost more than the product).
const MIN_ROWS: usize = 8;

/// `a (..., m, k) @ b (..., k, n)` with equal leading dimensions.
pub fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let fast = a.device().is_cpu()
        && a.dims().len() >= 2
        && a.dims()[a.rank() - 2] >= MIN_ROWS
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.rank() >= 3
        && a.rank() == b.rank()
        && a.dims()[..a.rank() - 2] == b.dims()[..b.rank() - 2]
        && sgemm::available();
    if !fast {
        return a.matmul(b);
    }
    let b = if right_view(b.layout()).is_some() {
        b.clone()
    } else {
        b.contiguous()?
    };
    a.contiguous()?.apply_op2_no_bwd(&b, &Batched)
}

/// `(offset, row stride, column stride)` of each `k x n` matrix of `b`, laid out one after
/// the other (`k * n` apart), when `b` is contiguous or a transposed contiguous tensor.
fn right_view(l: &Layout) -> Option<(usize, usize, usize)> {
    let dims = l.dims();
    let r = dims.len();
    if r < 2 {
        return None;
    }
    let (k, n) = (dims[r - 2], dims[r - 1]);
    let stride = l.stride();
    let batch_ok = |block: usize| {
        let mut want = block;
        (0..r - 2).rev().all(|i| {
            let ok = dims[i] == 1 || stride[i] == want;
            want *= dims[i];
            ok
        })
    };
    let block = k * n;
    if (stride[r - 1] == 1 || n == 1) && (stride[r - 2] == n || k == 1) && batch_ok(block) {
        Some((l.start_offset(), n, 1))
    } else if (stride[r - 2] == 1 || k == 1) && (stride[r - 1] == k || n == 1) && batch_ok(block) {
        Some((l.start_offset(), 1, k))
    } else {
        None
    }
}

struct Batched;

impl CustomOp2 for Batched {
    fn name(&self) -> &'static str {
        "batched-f32-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(a), CpuStorage::F32(b)) = (s1, s2) else {
            candle_core::bail!("batched-f32-matmul: float32 operands expected")
        };
        let Some((a0, a1)) = l1.contiguous_offsets() else {
            candle_core::bail!("batched-f32-matmul: contiguous left operand expected")
        };
        let Some((b0, b_rs, b_cs)) = right_view(l2) else {
            candle_core::bail!("batched-f32-matmul: unsupported right operand layout")
        };
        let (da, db) = (l1.dims(), l2.dims());
        let r = da.len();
        let (m, k, n) = (da[r - 2], da[r - 1], db[r - 1]);
        if db[r - 2] != k {
            candle_core::bail!("batched-f32-matmul: inner sizes {k} and {}", db[r - 2])
        }
        let batches: usize = da[..r - 2].iter().product();
        let a = &a[a0..a1];
        let b = &b[b0..];
        if a.len() != batches * m * k || b.len() < batches * k * n {
            candle_core::bail!("batched-f32-matmul: operands shorter than their shapes")
        }
        let mut out = vec![0f32; batches * m * n];
        let mut shape = da.to_vec();
        shape[r - 1] = n;
        if m * n == 0 {
            return Ok((CpuStorage::F32(out), Shape::from(shape)));
        }
        let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
        let one = |i: usize, dst: &mut [f32], threads: usize| {
            let lhs = View {
                data: &a[i * m * k..(i + 1) * m * k],
                rs: k,
                cs: 1,
            };
            let rhs = View {
                data: &b[i * k * n..(i + 1) * k * n],
                rs: b_rs,
                cs: b_cs,
            };
            sgemm::product_on(threads, dst, n, (m, n, k), lhs, rhs, false)
        };
        if batches < cores {
            for (i, dst) in out.chunks_exact_mut(m * n).enumerate() {
                one(i, dst, cores);
            }
        } else {
            let per = batches.div_ceil(cores);
            each_chunk_mut(&mut out, per * m * n, "a batched product", |c, dsts| {
                for (j, dst) in dsts.chunks_exact_mut(m * n).enumerate() {
                    one(c * per + j, dst, 1);
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        let len = shape.iter().product();
        let v = crate::model::test_values::uniform(len, seed);
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Against candle's matmul: contiguous and transposed right operands, one head and
    /// many, degenerate sizes, and a right operand that must be copied first.
    #[test]
    fn equals_candles_matmul() {
        for (batch, m, k, n) in [
            (vec![1, 16], 577, 64, 577),
            (vec![2, 3], 5, 7, 9),
            (vec![1, 1], 33, 40, 1),
            (vec![1, 4], 1, 16, 30),
            (vec![3], 8, 16, 30),
        ] {
            let a = rand(&[&batch[..], &[m, k]].concat(), 1);
            let b = rand(&[&batch[..], &[k, n]].concat(), 2);
            let bt = rand(&[&batch[..], &[n, k]].concat(), 3).t().unwrap();
            for (rhs, what) in [(&b, "contiguous"), (&bt, "transposed")] {
                let got = matmul(&a, rhs).unwrap();
                let want = a.matmul(rhs).unwrap();
                assert_eq!(got.dims(), want.dims());
                let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
                let d = d.to_scalar::<f32>().unwrap();
                assert!(d <= 1e-6 * k as f32, "{batch:?} {m}x{k}x{n} {what}: {d}");
            }
        }
        // A right operand whose heads are not one block apart (a narrowed view).
        let a = rand(&[2, 4, 6], 4);
        let wide = rand(&[2, 6, 10], 5);
        let b = wide.narrow(2, 2, 5).unwrap();
        let d = (matmul(&a, &b).unwrap() - a.matmul(&b).unwrap()).unwrap();
        let d = d
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d <= 1e-5, "narrowed: {d}");
    }
}
