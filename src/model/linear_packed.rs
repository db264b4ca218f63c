//! Products through a weight packed at load ([`Linear::prepacked`](super::Linear)): the
//! output starts as the bias, plus the residual for a residual stream's update
//! ([`Linear::forward_residual`](super::Linear::forward_residual)), and the blocked kernels
//! add the product into it; one to four rows stream the panels
//! (`sgemm::rows_times_packed`) and get the residual added after.

use candle_core::{CpuStorage, DType, Storage, Tensor};

use crate::model::linear::GEMV_MAX_ROWS;
use crate::model::sgemm::{self, PackedWeight};
use crate::model::strided::View;

/// `x W^T (+ b) (+ residual)`, and whether the bias is in it (always).
pub(super) fn product(
    w: &PackedWeight,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    x: &Tensor,
) -> candle_core::Result<(Tensor, bool)> {
    let (n, k) = (w.n(), w.k());
    let dims = x.dims().to_vec();
    if !x.device().is_cpu() || dims.last() != Some(&k) {
        candle_core::bail!("linear: a layer packed at load takes CPU input {k} wide")
    }
    let mut out_dims = dims;
    if let Some(last) = out_dims.last_mut() {
        *last = n;
    }
    if let Some(r) = residual
        && (r.dims() != out_dims || r.dtype() != x.dtype() || !r.device().is_cpu())
    {
        candle_core::bail!(
            "linear: a residual of {:?} ({:?}) for an output of {out_dims:?} ({:?})",
            r.dims(),
            r.dtype(),
            x.dtype()
        )
    }
    if x.dtype() != DType::F32 {
        // All-bfloat16 activations: the float32 result of the same values, rounded once.
        let residual = residual.map(|r| r.to_dtype(DType::F32)).transpose()?;
        let (y, biased) = product(w, bias, residual.as_ref(), &x.to_dtype(DType::F32)?)?;
        return Ok((y.to_dtype(x.dtype())?, biased));
    }
    let m = x.elem_count() / k.max(1);
    let x = x.contiguous()?;
    let bias: Option<Vec<f32>> = bias
        .map(|b| b.to_dtype(DType::F32)?.to_vec1())
        .transpose()?;
    if bias.as_ref().is_some_and(|b| b.len() != n) {
        candle_core::bail!("linear: a bias of {n} values expected")
    }
    // The residual's values, copied once: the output's own buffer.
    let residual: Option<Vec<f32>> = residual.map(|r| r.flatten_all()?.to_vec1()).transpose()?;
    // The kernels add into the output where it starts as something.
    let accumulate = bias.is_some() || residual.is_some();
    let out = {
        let (storage, layout) = x.storage_and_layout();
        let (Storage::Cpu(CpuStorage::F32(data)), Some((x0, x1))) =
            (&*storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("linear: a contiguous float32 CPU input expected")
        };
        let x = &data[x0..x1];
        if m <= GEMV_MAX_ROWS {
            sgemm::rows_times_packed(x, m, w, bias.as_deref()).map(|mut out| {
                if let Some(r) = &residual {
                    out.iter_mut().zip(r).for_each(|(o, r)| *o += r);
                }
                out
            })
        } else {
            let mut out = match (residual, &bias) {
                (Some(mut r), Some(b)) => {
                    for row in r.chunks_exact_mut(n) {
                        row.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                    }
                    r
                }
                (Some(r), None) => r,
                (None, Some(b)) => b.repeat(m),
                (None, None) => vec![0f32; m * n],
            };
            let lhs = View {
                data: x,
                rs: k,
                cs: 1,
            };
            sgemm::product_packed(&mut out, n, (m, n, k), lhs, w, accumulate).then_some(out)
        }
    };
    let Some(out) = out else {
        candle_core::bail!("linear: the packed weight does not fit these kernels")
    };
    Ok((Tensor::from_vec(out, out_dims, x.device())?, true))
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Module, Tensor};

    use crate::model::linear::Linear;
    use crate::model::test_values::uniform;

    fn rand(shape: (usize, usize, usize), seed: u64, scale: f32) -> Tensor {
        let v: Vec<f32> = uniform(shape.0 * shape.1 * shape.2, seed);
        let v = v.into_iter().map(|x| x * scale).collect::<Vec<_>>();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap();
        d.max(0).unwrap().to_scalar().unwrap()
    }

    /// A residual update through a packed layer (few rows and many, with and without a
    /// bias, float32 and bfloat16 activations) is the residual plus the layer's output, to
    /// float32 rounding; an unpacked layer gives that sum exactly; a residual of another
    /// shape is an error, not a broadcast.
    #[test]
    fn a_residual_update_is_the_residual_plus_the_output() {
        for (m, n, k, bias) in [
            (1, 33, 131, true),
            (3, 70, 300, false),
            (30, 70, 300, true),
            (13, 33, 5, false),
        ] {
            let x = rand((1, m, k), 1, 1.0);
            let w = rand((1, n, k), 2, 1.0).squeeze(0).unwrap();
            let b = bias.then(|| rand((1, 1, n), 3, 1.0).flatten_all().unwrap());
            let r = rand((1, m, n), 4, 64.0);
            let plain = Linear::new(w, b);
            let want = (&r + plain.forward(&x).unwrap()).unwrap();
            assert_eq!(
                plain
                    .forward_residual(&x, &r)
                    .unwrap()
                    .to_vec3::<f32>()
                    .unwrap(),
                want.to_vec3::<f32>().unwrap()
            );
            let packed = plain.clone().prepacked().unwrap();
            let got = packed.forward_residual(&x, &r).unwrap();
            assert_eq!(got.dims(), want.dims());
            // Sums of k products up to 1/4 and a residual up to 32: a few float32 ulps.
            let tol = 1e-6 * k as f32 + 8.0 * f32::EPSILON * 32.0;
            assert!(
                max_diff(&got, &want) <= tol,
                "({m}, {n}, {k}): {}",
                max_diff(&got, &want)
            );
            // bfloat16 activations: the float32 sum, rounded once.
            let (x16, r16) = (
                x.to_dtype(DType::BF16).unwrap(),
                r.to_dtype(DType::BF16).unwrap(),
            );
            let got16 = packed.forward_residual(&x16, &r16).unwrap();
            assert_eq!(got16.dtype(), DType::BF16);
            let want16 = (r16.to_dtype(DType::F32).unwrap()
                + packed.forward(&x16.to_dtype(DType::F32).unwrap()).unwrap())
            .unwrap();
            // One bfloat16 rounding of values up to ~40 (2^-8 relative).
            assert!(
                max_diff(&got16.to_dtype(DType::F32).unwrap(), &want16) <= 0.25,
                "({m}, {n}, {k}) bf16"
            );
            let wrong = rand((1, m, n + 1), 5, 1.0);
            assert!(packed.forward_residual(&x, &wrong).is_err());
            assert!(plain.forward_residual(&x, &wrong).is_err());
        }
    }
}
