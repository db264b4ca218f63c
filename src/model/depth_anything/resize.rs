//! The two cubic resamplings Depth Anything V2 depends on, written out so that the network
//! sees the same numbers as under the official code:
//! - the input image: OpenCV's `cv2.resize(..., INTER_CUBIC)` on the float64 image in [0, 1]
//!   (the official `Resize` transform), to the size [`input_size_px`] picks;
//! - the position embedding: PyTorch's `F.interpolate(mode="bicubic", scale_factor=s,
//!   align_corners=False)` as DINOv2 calls it (with its 0.1 offset in `s`).
//!
//! Both use the Keys kernel with a = -0.75, sample at `(dst + 0.5) * scale - 0.5` and clamp
//! taps at the border; they differ only in the scale: OpenCV uses `src / dst`, PyTorch
//! `1 / scale_factor` when a factor is given (so the 0.1 offset shifts every sample).

/// Keys cubic weights for the four taps around a sample at fraction `t` in [0, 1).
fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// Which library's arithmetic the sample positions and weights follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CubicFlavour {
    /// PyTorch: positions and weights in the input's precision, float64 here.
    Torch,
    /// OpenCV (`resizeGeneric` for float images): the position rounded to float32 and the
    /// weights computed in float32, the last one as 1 minus the others.
    OpenCv,
}

fn cubic_weights_f32(t: f32) -> [f64; 4] {
    const A: f32 = -0.75;
    let w0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
    let w1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let w2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
    let w3 = 1.0 - w0 - w1 - w2;
    [w0, w1, w2, w3].map(f64::from)
}

/// Per output index: the first tap (may be negative) and the four weights.
fn taps(dst_len: usize, scale: f64, flavour: CubicFlavour) -> Vec<(isize, [f64; 4])> {
    (0..dst_len)
        .map(|d| {
            let x = (d as f64 + 0.5) * scale - 0.5;
            match flavour {
                CubicFlavour::Torch => {
                    let x0 = x.floor();
                    (x0 as isize - 1, cubic_weights(x - x0))
                }
                CubicFlavour::OpenCv => {
                    let x = x as f32;
                    let x0 = x.floor();
                    (x0 as isize - 1, cubic_weights_f32(x - x0))
                }
            }
        })
        .collect()
}

fn clamp_index(i: isize, len: usize) -> usize {
    i.clamp(0, len as isize - 1) as usize
}

/// Separable cubic resampling of a planar `channels x src_h x src_w` image with the given
/// source-per-destination scales (rows, columns).
pub fn cubic_resample_planar(
    src: &[f64],
    channels: usize,
    (src_h, src_w): (usize, usize),
    (dst_h, dst_w): (usize, usize),
    (scale_y, scale_x): (f64, f64),
    flavour: CubicFlavour,
) -> Vec<f64> {
    assert_eq!(src.len(), channels * src_h * src_w, "planar image size");
    let tx = taps(dst_w, scale_x, flavour);
    let ty = taps(dst_h, scale_y, flavour);
    let mut rows = vec![0f64; channels * src_h * dst_w];
    for c in 0..channels {
        for y in 0..src_h {
            let line = &src[(c * src_h + y) * src_w..][..src_w];
            let out = &mut rows[(c * src_h + y) * dst_w..][..dst_w];
            for (o, (x0, w)) in out.iter_mut().zip(&tx) {
                *o = (0..4)
                    .map(|k| w[k] * line[clamp_index(x0 + k as isize, src_w)])
                    .sum();
            }
        }
    }
    let mut out = vec![0f64; channels * dst_h * dst_w];
    for c in 0..channels {
        for (y, (y0, w)) in ty.iter().enumerate() {
            let dst = &mut out[(c * dst_h + y) * dst_w..][..dst_w];
            for (k, wk) in w.iter().enumerate() {
                let sy = clamp_index(y0 + k as isize, src_h);
                let line = &rows[(c * src_h + sy) * dst_w..][..dst_w];
                for (o, v) in dst.iter_mut().zip(line) {
                    *o += wk * v;
                }
            }
        }
    }
    out
}

/// `np.round` (half to even) of `x / m` times `m`, raised to the next multiple when below
/// `min` (the official `constrain_to_multiple_of` with a lower bound).
fn multiple_of(x: f64, m: usize, min: usize) -> usize {
    let mf = m as f64;
    let y = (x / mf).round_ties_even() * mf;
    let y = if y < min as f64 {
        (x / mf).ceil() * mf
    } else {
        y
    };
    y.max(mf) as usize
}

/// The network input size (height, width) for an image of `height x width`: scaled with its
/// aspect ratio kept so that both sides reach `input_size` ("lower_bound"), each side then
/// a multiple of the 14-px patch.
pub fn input_size_px(height: usize, width: usize, input_size: usize) -> (usize, usize) {
    let sh = input_size as f64 / height as f64;
    let sw = input_size as f64 / width as f64;
    let s = sh.max(sw);
    (
        multiple_of(s * height as f64, 14, input_size),
        multiple_of(s * width as f64, 14, input_size),
    )
}

/// ImageNet mean and standard deviation, RGB.
const MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const STD: [f64; 3] = [0.229, 0.224, 0.225];

/// The official `image2tensor` on an interleaved RGB8 image: [0, 1] in float64, cubic resize
/// to [`input_size_px`], ImageNet normalisation, planar float32. Returns the values and the
/// network input (height, width).
pub fn network_input(
    rgb: &[u8],
    width: usize,
    height: usize,
    input_size: usize,
) -> (Vec<f32>, (usize, usize)) {
    assert_eq!(rgb.len(), 3 * width * height, "RGB8 image size");
    let mut planar = vec![0f64; rgb.len()];
    let hw = width * height;
    for (p, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * hw + p] = f64::from(px[c]) / 255.0;
        }
    }
    let (th, tw) = input_size_px(height, width, input_size);
    // OpenCV: scale = 1 / (dst / src).
    let scales = (
        1.0 / (th as f64 / height as f64),
        1.0 / (tw as f64 / width as f64),
    );
    let out = cubic_resample_planar(
        &planar,
        3,
        (height, width),
        (th, tw),
        scales,
        CubicFlavour::OpenCv,
    );
    let plane = th * tw;
    let values = out
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i / plane;
            ((v - MEAN[c]) / STD[c]) as f32
        })
        .collect();
    (values, (th, tw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_interpolate_at_integers() {
        for t in [0.0, 0.25, 0.5, 0.9] {
            let w = cubic_weights(t);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{t}");
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        // Same size, unit scale: the image comes back unchanged.
        let img: Vec<f64> = (0..12).map(f64::from).collect();
        assert_eq!(
            cubic_resample_planar(&img, 1, (3, 4), (3, 4), (1.0, 1.0), CubicFlavour::Torch),
            img
        );
    }

    #[test]
    fn sizes_follow_the_official_lower_bound_rule() {
        // 480 x 640 at 518: height 518, width 690.67 -> 49.33 patches -> 686.
        assert_eq!(input_size_px(480, 640, 518), (518, 686));
        assert_eq!(input_size_px(256, 256, 518), (518, 518));
        assert_eq!(input_size_px(176, 256, 154), (154, 224));
        // A side that would round below the bound goes up instead: 518/1000*1003 = 519.55.
        assert_eq!(input_size_px(1000, 1003, 518).0, 518);
    }

    #[test]
    fn keys_weights_with_a_of_minus_three_quarters() {
        // At t = 0.5: a/8 outside, 1 - (a + 3)/4 + (a + 2)/8 inside.
        assert_eq!(cubic_weights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
        for t in [0.1f64, 0.37, 0.8] {
            let (a, b) = (cubic_weights(t), cubic_weights_f32(t as f32));
            for k in 0..4 {
                assert!((a[k] - b[k]).abs() < 1e-6, "{t} {k}");
            }
        }
        // Halving a ramp samples at x.25 / x.75 inside; doubling at the midpoints (t = 0.5)
        // where the symmetric weights reproduce the ramp exactly.
        let src: Vec<f64> = (0..20).map(|x| 2.0 * f64::from(x) + 1.0).collect();
        let out = cubic_resample_planar(&src, 1, (1, 20), (1, 10), (1.0, 2.0), CubicFlavour::Torch);
        for (d, v) in out.iter().enumerate().skip(1).take(8) {
            let x = (d as f64 + 0.5) * 2.0 - 0.5;
            assert!((v - (2.0 * x + 1.0)).abs() < 1e-9, "{d}: {v}");
        }
    }
}
