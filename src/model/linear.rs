//! Linear layers on our CPU kernels, float32 and bfloat16 weights alike.
//!
//! - float32 weights: our blocked product (`sgemm/`, AVX-512 or AVX2) for many rows, dot
//!   products reading each weight row once for one to four (a generated token); the output
//!   starts as the bias, so the bias is no pass of its own.
//! - bfloat16 weights stay bfloat16 (`linear_bf16`): read at 2 bytes a value, widened in
//!   registers or while packed, AMX tiles where the CPU has them.
//!
//! Other dtypes, other devices and CPUs without our kernels go through candle's matmul.

use std::sync::Arc;

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Module, Shape, Storage, Tensor,
};
use candle_nn::VarBuilder;

use super::linear_bf16::Bf16Linear;
pub use super::linear_bf16::avx2_product;
use super::sgemm::PackedWeight;
use super::strided::View;

/// The dtype activations flow in for weights of `weights` on `device`: float32 on the CPU
/// when the weights are bfloat16. The linear layers multiply in bfloat16 where the CPU has
/// bfloat16 arithmetic (AMX) and in float32 of the stored weights where it has not
/// (`linear_bf16`); norms, softmax, GELU, rotary embeddings
/// and residual sums run in float32, where candle's CPU kernels are vectorised (its
/// bfloat16 ones convert one value at a time: at real size they made a bfloat16 step
/// slower than a float32 one). The result is closer to the float32 truth than the
/// reference's all-bfloat16 run, as ZoeDepth (always float32) already is.
pub fn activation_dtype(weights: DType, device: &Device) -> DType {
    if device.is_cpu() && weights == DType::BF16 {
        DType::F32
    } else {
        weights
    }
}

/// A linear layer (`y = x W^T + b`) with the bfloat16 CPU path above.
#[derive(Debug, Clone)]
pub struct Linear {
    /// The weight (`out x in`); empty once packed (`packed`).
    weight: Tensor,
    bias: Option<Tensor>,
    /// The weight packed for our kernels at load ([`Linear::prepacked`]).
    packed: Option<Arc<PackedWeight>>,
}

pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> candle_core::Result<Linear> {
    Ok(Linear::new(
        vb.get((out_dim, in_dim), "weight")?,
        Some(vb.get(out_dim, "bias")?),
    ))
}

pub fn linear_no_bias(
    in_dim: usize,
    out_dim: usize,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    Ok(Linear::new(vb.get((out_dim, in_dim), "weight")?, None))
}

/// One layer for several that read the same input (attention's query, key and value):
/// their weights stacked along the output dimension, a part without a bias given zeros.
/// One product then packs the input once and runs on a wider panel grid (at ZoeDepth's
/// width, three 1024-wide products ran 30% below one 3072-wide one); the caller narrows
/// the output back into its parts.
pub fn fused(parts: &[Linear]) -> candle_core::Result<Linear> {
    if parts.iter().any(|p| p.packed.is_some()) {
        candle_core::bail!("fused: a layer packed at load cannot be fused")
    }
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
    Ok(Linear::new(weight, bias))
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight,
            bias,
            packed: None,
        }
    }

    /// The weight (`out x in`); empty for a layer packed at load.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// This layer with a float32 CPU weight packed once for our kernels: many rows then
    /// skip packing the weight (13% of SigLIP's time, 8% of Gemma2's prompt pass), and one
    /// to four rows stream the packed panels at memory speed (`sgemm::rows_times_packed`,
    /// as fast as the dot products over the stored rows). A bfloat16 weight (without AMX)
    /// is packed as bfloat16, and its products are the float32 products of the stored
    /// values, as before. The packed copy replaces the weight, so memory stays the same.
    /// Unchanged where the kernels do not run, or for other dtypes and devices.
    pub fn prepacked(self) -> candle_core::Result<Self> {
        let dtype = self.weight.dtype();
        if !packs_at_load(dtype, self.weight.device()) {
            return Ok(self);
        }
        let (n, k) = self.weight.dims2()?;
        let w = self.weight.contiguous()?;
        let packed = {
            let (storage, layout) = w.storage_and_layout();
            match (&*storage, layout.contiguous_offsets()) {
                (Storage::Cpu(CpuStorage::F32(data)), Some((w0, w1))) => {
                    super::sgemm::pack_weight(&data[w0..w1], (n, k))
                }
                (Storage::Cpu(CpuStorage::BF16(data)), Some((w0, w1))) => {
                    super::sgemm::pack_weight(&data[w0..w1], (n, k))
                }
                _ => None,
            }
        };
        let Some(packed) = packed else {
            return Ok(self);
        };
        drop(w);
        Self::from_packed(packed, self.bias, dtype, self.weight.device())
    }

    /// A layer of a weight packed at load (of `dtype`, on `device`): its weight tensor is
    /// left empty.
    pub(super) fn from_packed(
        packed: PackedWeight,
        bias: Option<Tensor>,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Self> {
        Ok(Self {
            weight: Tensor::zeros(0, dtype, device)?,
            bias,
            packed: Some(Arc::new(packed)),
        })
    }
}

/// Whether a weight of `dtype` on `device` is packed at load: float32 on the CPU, and
/// bfloat16 without AMX (with it, those products run on its tiles as stored).
pub(super) fn packs_at_load(dtype: DType, device: &Device) -> bool {
    device.is_cpu() && (dtype == DType::F32 || (dtype == DType::BF16 && !super::amx::available()))
}

impl Linear {
    /// `x W^T`, and whether the bias is in it already (float32 on our kernels).
    fn product(&self, x: &Tensor) -> candle_core::Result<(Tensor, bool)> {
        if let Some(w) = &self.packed {
            return packed::product(w, self.bias.as_ref(), None, x);
        }
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
            let bias = match &self.bias {
                Some(b) if bf16_cpu || b.dtype() == DType::F32 => Some(b.contiguous()?),
                _ => None,
            };
            let (y, biased) = match (&bias, bf16_cpu) {
                (Some(b), true) => (flat.apply_op3_no_bwd(&w, b, &Bf16Linear)?, true),
                (None, true) => (flat.apply_op2_no_bwd(&w, &Bf16Linear)?, false),
                (Some(b), false) => (flat.apply_op3_no_bwd(&w, b, &F32Linear)?, true),
                (None, false) => (flat.apply_op2_no_bwd(&w, &F32Linear)?, false),
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
        // On our kernels the bias is in the product already; elsewhere candle adds it.
        let (y, biased) = self.product(x)?;
        match &self.bias {
            Some(b) if !biased => y.broadcast_add(&b.to_dtype(y.dtype())?),
            _ => Ok(y),
        }
    }
}

impl Linear {
    /// `residual + (x W^T + b)`, a residual stream's update. Through a weight packed at
    /// load the output starts as the residual plus the bias and the kernels add the
    /// product into it: no add of its own (a pass over three buffers and a fresh one, 7%
    /// of SigLIP's time outside its products). Elsewhere the sum as written.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        match &self.packed {
            Some(w) => Ok(packed::product(w, self.bias.as_ref(), Some(residual), x)?.0),
            None => residual + self.forward(x)?,
        }
    }
}

#[path = "linear_packed.rs"]
mod packed;

/// Up to this many input rows go row by row (dot products); more go through the blocked
/// product.
pub(super) const GEMV_MAX_ROWS: usize = 4;
const _: () = assert!(GEMV_MAX_ROWS <= super::sgemm::PACKED_ROWS_MAX);

/// `x`'s and `W`'s contiguous slices and `(m, n, k)`.
type Operands<'a, X, W> = (&'a [X], &'a [W], (usize, usize, usize));

/// The contiguous operand slices and `(m, n, k)` of `x (m x k)` and `W (n x k)`.
pub(super) fn operands<'a, X, W>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rand(shape: (usize, usize), seed: u64) -> Tensor {
        let v = crate::model::test_values::uniform(shape.0 * shape.1, seed);
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// `x (m x k) W^T + b` in float64 of the values as given.
    fn exact(x: &Tensor, w: &Tensor, b: &Tensor, (m, n, k): (usize, usize, usize)) -> Vec<f64> {
        let v = |t: &Tensor| -> Vec<f64> {
            let t = t.to_dtype(DType::F64).unwrap();
            t.flatten_all().unwrap().to_vec1().unwrap()
        };
        let (x, w, b) = (v(x), v(w), v(b));
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|l| x[i * k + l] * w[j * k + l]).sum();
                out.push(dot + b[j]);
            }
        }
        out
    }

    fn values(t: &Tensor) -> Vec<f32> {
        let t = t.to_dtype(DType::F32).unwrap();
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// A bfloat16 weight (and bias) under float32 activations: without AMX the float32
    /// product of the stored values, a few rows (dot products) and many (the blocked
    /// kernels, bit for bit what the same weight widened to float32 gives); with AMX the input
    /// and the output rounded to bfloat16 once each. bfloat16 activations: the sum rounded
    /// once.
    #[test]
    fn bf16_weights_give_the_product_of_the_stored_values() {
        let amx = crate::model::amx::available();
        for (m, n, k) in [
            (1, 300, 77),
            (3, 257, 130),
            (9, 513, 64),
            (40, 70, 33),
            (6, 2100, 40),
        ] {
            let x = rand((m, k), 1);
            let w = rand((n, k), 2).to_dtype(DType::BF16).unwrap();
            let b = rand((1, n), 3).flatten_all().unwrap();
            let b = b.to_dtype(DType::BF16).unwrap();
            let want = exact(&x, &w, &b, (m, n, k));
            let lin = Linear::new(w.clone(), Some(b.clone()));
            let got = lin.forward(&x.unsqueeze(0).unwrap()).unwrap();
            assert_eq!(got.dims(), &[1, m, n]);
            assert_eq!(got.dtype(), DType::F32);
            let got = values(&got);
            // Values up to ~0.25 k + 1; float32 sums, or one bfloat16 rounding of the input
            // (2^-9 relative) and of the output.
            let tol = if amx { 2e-2 } else { 1e-6 * k as f64 };
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (f64::from(*g) - w).abs() <= tol,
                    "({m}, {n}, {k}): {g} vs {w}"
                );
            }
            // Many rows: the same packed kernels (the few-row dot products keep their own
            // summation orders).
            if !amx && m > GEMV_MAX_ROWS && crate::model::sgemm::available() {
                let wide = Linear::new(
                    w.to_dtype(DType::F32).unwrap(),
                    Some(b.to_dtype(DType::F32).unwrap()),
                );
                assert_eq!(got, values(&wide.forward(&x).unwrap()), "({m}, {n}, {k})");
            }
            // Packed at load (as bfloat16 panels, without AMX): a few rows and many, bit for
            // bit what the widened weight packed at load gives.
            let packed = lin.clone().prepacked().unwrap();
            let packs = !amx && crate::model::sgemm::available();
            assert_eq!(packed.packed.is_some(), packs);
            assert_eq!(packed.weight().dtype(), DType::BF16);
            if packs {
                let got = values(&packed.forward(&x).unwrap());
                for (g, w) in got.iter().zip(&want) {
                    assert!((f64::from(*g) - w).abs() <= tol, "packed ({m}, {n}, {k})");
                }
                let wide = Linear::new(
                    w.to_dtype(DType::F32).unwrap(),
                    Some(b.to_dtype(DType::F32).unwrap()),
                )
                .prepacked()
                .unwrap();
                assert_eq!(got, values(&wide.forward(&x).unwrap()), "({m}, {n}, {k})");
            }
            let x16 = x.to_dtype(DType::BF16).unwrap();
            let want16 = exact(&x16, &w, &b, (m, n, k));
            for lin in [&lin, &packed] {
                let got16 = lin.forward(&x16).unwrap();
                assert_eq!(got16.dtype(), DType::BF16);
                for (g, w) in values(&got16).iter().zip(&want16) {
                    // One bfloat16 rounding of values up to ~2 (accumulation order differs).
                    assert!((f64::from(*g) - w).abs() <= 1.6e-2, "bf16 ({m}, {n}, {k})");
                }
            }
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

    /// A layer packed at load gives what it gave before (one to four rows through the
    /// panel products, many through the blocked ones; widths off the panel and unroll
    /// sizes, a batch dimension, with and without the bias), and is refused by `fused`.
    #[test]
    fn packed_at_load_equals_per_call_packing() {
        for (m, n, k, bias) in [
            (1, 7, 16, true),
            (1, 50, 1, false),
            (1, 33, 131, true),
            (2, 45, 131, true),
            (3, 17, 9, false),
            (4, 70, 300, true),
            (30, 70, 300, true),
            (13, 33, 5, false),
        ] {
            let x = rand((m, k), 7).unsqueeze(0).unwrap();
            let w = rand((n, k), 8);
            let b = bias.then(|| rand((1, n), 9).flatten_all().unwrap());
            let plain = Linear::new(w, b);
            let packed = plain.clone().prepacked().unwrap();
            if !crate::model::sgemm::available() {
                assert!(packed.packed.is_none());
                continue;
            }
            assert!(packed.packed.is_some());
            let want = plain.forward(&x).unwrap();
            let got = packed.forward(&x).unwrap();
            assert_eq!(got.dims(), want.dims());
            let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
            assert!(
                d.to_scalar::<f32>().unwrap() <= 1e-6 * k as f32,
                "({m}, {n}, {k})"
            );
            assert!(fused(&[packed.clone(), plain.clone()]).is_err());
        }
    }
}
