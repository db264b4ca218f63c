//! Bilinear resizing of (batch, channel, height, width) float32 maps on the CPU, as
//! PyTorch's `interpolate(mode="bilinear")` computes it (float32 source coordinates, the
//! `align_corners` rule, clamping at the border): the depth networks resize 32-256-channel
//! maps to 384 x 384 several times a frame. candle's CPU version computes in float64, one
//! value at a time on one core; here each output row is a blend of two source rows, then
//! each value a blend of two of that row's values, planes spread across the cores. Other
//! devices and dtypes go through candle's `upsample_bilinear2d`.

use candle_core::{DType, Tensor};

use crate::util::parallel::each_chunk_mut;

/// For each of `out` positions: the two source indices and their weights.
fn taps(input: usize, out: usize, align_corners: bool) -> Vec<(usize, usize, f32, f32)> {
    let scale = if align_corners {
        if out > 1 {
            (input - 1) as f32 / (out - 1) as f32
        } else {
            0.0
        }
    } else {
        input as f32 / out as f32
    };
    (0..out)
        .map(|d| {
            let src = if align_corners {
                scale * d as f32
            } else {
                (scale * (d as f32 + 0.5) - 0.5).max(0.0)
            };
            let i0 = (src as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            let l1 = (src - i0 as f32).clamp(0.0, 1.0);
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

/// `x` resized to `h` x `w`.
pub fn bilinear(
    x: &Tensor,
    h: usize,
    w: usize,
    align_corners: bool,
) -> candle_core::Result<Tensor> {
    let (b, c, h_in, w_in) = x.dims4()?;
    if !x.device().is_cpu() || x.dtype() != DType::F32 || h_in == 0 || w_in == 0 {
        return x.upsample_bilinear2d(h, w, align_corners);
    }
    if (h, w) == (h_in, w_in) {
        return Ok(x.clone());
    }
    let src: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let planes = b * c;
    let mut out = vec![0f32; planes * h * w];
    if h * w == 0 || planes == 0 {
        return Tensor::from_vec(out, (b, c, h, w), x.device());
    }
    let (rows, cols) = (taps(h_in, h, align_corners), taps(w_in, w, align_corners));
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = planes.div_ceil(cores);
    each_chunk_mut(&mut out, per * h * w, "bilinear resize", |chunk, dst| {
        let mut row = vec![0f32; w_in];
        for (p, plane) in dst.chunks_exact_mut(h * w).enumerate() {
            let s = &src[(chunk * per + p) * h_in * w_in..][..h_in * w_in];
            for (out_row, &(y0, y1, ly0, ly1)) in plane.chunks_exact_mut(w).zip(&rows) {
                let (r0, r1) = (&s[y0 * w_in..][..w_in], &s[y1 * w_in..][..w_in]);
                for ((v, a), b) in row.iter_mut().zip(r0).zip(r1) {
                    *v = ly0 * a + ly1 * b;
                }
                for (o, &(x0, x1, lx0, lx1)) in out_row.iter_mut().zip(&cols) {
                    *o = lx0 * row[x0] + lx1 * row[x1];
                }
            }
        }
    });
    Tensor::from_vec(out, (b, c, h, w), x.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Against candle's (float64) version: up and down, both corner rules, odd sizes, one
    /// row or column, and a non-contiguous input.
    #[test]
    fn equals_candles_resize() {
        let v = crate::model::test_values::uniform(2 * 3 * 7 * 5, 9);
        let x = Tensor::from_vec(v, (2, 3, 7, 5), &Device::Cpu).unwrap();
        for (h, w) in [(14, 10), (3, 2), (1, 9), (8, 1), (29, 31)] {
            for align in [false, true] {
                for input in [x.clone(), x.transpose(2, 3).unwrap()] {
                    let got = bilinear(&input, h, w, align).unwrap();
                    let want = input.upsample_bilinear2d(h, w, align).unwrap();
                    let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
                    let d = d.to_scalar::<f32>().unwrap();
                    assert!(d <= 2e-6, "({h}, {w}) align {align}: {d}");
                }
            }
        }
        let same = bilinear(&x, 7, 5, true).unwrap();
        assert_eq!(same.dims(), x.dims());
    }
}
