//! Image preparation as the reference processor does it (spec 5.1), in plain Rust.
//!
//! The SigLIP image processor resizes with Pillow's bicubic filter on 8-bit pixels and then
//! rescales by 1/255 in float64. Pillow's resampler is a separable two-pass filter with
//! 22-bit fixed-point coefficients (horizontal first, then vertical, clipping to 0..255
//! after each pass); reproducing it bit for bit makes `pixel_values` exact for any input
//! size rather than "close to" the reference (an f32 Catmull-Rom resize differs by up to a
//! few levels, which then moves every layer).

/// Pillow's `PRECISION_BITS` (32 - 8 - 2).
const PRECISION_BITS: u32 = 22;

/// Pillow's bicubic kernel (a = -0.5, support 2).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point taps of one output pixel: the first input index and the weights.
struct Taps {
    first: usize,
    weights: Vec<i64>,
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
fn coefficients(in_size: usize, out_size: usize) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C casts truncate toward zero; clamping at 0 afterwards makes that a floor.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = raw.iter().sum();
            let one = f64::from(1u32 << PRECISION_BITS);
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    if w < 0.0 {
                        (-0.5 + w * one) as i64
                    } else {
                        (0.5 + w * one) as i64
                    }
                })
                .collect();
            Taps {
                first: xmin,
                weights,
            }
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes packed RGB8 (`width * height * 3` bytes) with Pillow's bicubic filter.
/// Returns the input unchanged when the size already matches (Pillow copies).
pub fn resize_rgb_bicubic(
    rgb: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    assert_eq!(
        rgb.len(),
        width * height * 3,
        "packed RGB8 of the stated size"
    );
    let half = 1i64 << (PRECISION_BITS - 1);
    let horizontal: Vec<u8> = if out_w == width {
        rgb.to_vec()
    } else {
        let taps = coefficients(width, out_w);
        let mut out = vec![0u8; out_w * height * 3];
        for y in 0..height {
            let row = &rgb[y * width * 3..(y + 1) * width * 3];
            for (xx, t) in taps.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = half;
                    for (i, &w) in t.weights.iter().enumerate() {
                        acc += i64::from(row[(t.first + i) * 3 + c]) * w;
                    }
                    out[(y * out_w + xx) * 3 + c] = clip8(acc);
                }
            }
        }
        out
    };
    if out_h == height {
        return horizontal;
    }
    let taps = coefficients(height, out_h);
    let mut out = vec![0u8; out_w * out_h * 3];
    for (yy, t) in taps.iter().enumerate() {
        for x in 0..out_w * 3 {
            let mut acc = half;
            for (i, &w) in t.weights.iter().enumerate() {
                acc += i64::from(horizontal[(t.first + i) * out_w * 3 + x]) * w;
            }
            out[yy * out_w * 3 + x] = clip8(acc);
        }
    }
    out
}

/// The processor's `pixel_values` for one RGB8 image: resized to `size` x `size`, then
/// `float32(float64(u8) * (1/255))`, channel-major (3 x size x size), values in [0, 1].
pub fn pixel_values(rgb: &[u8], width: usize, height: usize, size: usize) -> Vec<f32> {
    let resized = resize_rgb_bicubic(rgb, width, height, size, size);
    let scale = 0.003_921_568_627_450_98_f64;
    let plane = size * size;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in resized.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f64::from(px[c]) * scale) as f32;
        }
    }
    out
}

/// Sensor depth (metres, row-major `width * height`) at the model's input size, sampled at
/// the nearest pixel centre so that invalid pixels (NaN, <= 0) are never blended into
/// valid ones. Returns the resized map and the fraction of invalid samples, which are set
/// to 0 m (the Ego3D lift then puts them at the camera centre, as the reference would).
pub fn depth_to_model_size(
    depth_m: &[f32],
    width: usize,
    height: usize,
    size: usize,
) -> (Vec<f32>, f32) {
    let mut out = vec![0f32; size * size];
    let mut invalid = 0usize;
    if width == 0 || height == 0 || depth_m.len() != width * height {
        return (out, 1.0);
    }
    for y in 0..size {
        let sy = (((y as f64 + 0.5) * height as f64 / size as f64) as usize).min(height - 1);
        for x in 0..size {
            let sx = (((x as f64 + 0.5) * width as f64 / size as f64) as usize).min(width - 1);
            let d = depth_m[sy * width + sx];
            if d.is_finite() && d > 0.0 {
                out[y * size + x] = d;
            } else {
                invalid += 1;
            }
        }
    }
    (out, invalid as f32 / (size * size) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_a_copy() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        assert_eq!(resize_rgb_bicubic(&rgb, 4, 3, 4, 3), rgb);
    }

    #[test]
    fn constant_image_stays_constant_when_scaled() {
        let rgb = vec![200u8; 5 * 7 * 3];
        let out = resize_rgb_bicubic(&rgb, 5, 7, 11, 3);
        assert!(out.iter().all(|&v| v == 200), "{out:?}");
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(64, 224), (640, 224), (224, 224), (3, 1)] {
            for t in coefficients(i, o) {
                let s: i64 = t.weights.iter().sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= t.weights.len() as i64,
                    "{i}->{o}: {s}"
                );
            }
        }
    }

    #[test]
    fn depth_resize_skips_invalid() {
        let d = [1.0, f32::NAN, 2.0, 0.0];
        let (out, bad) = depth_to_model_size(&d, 2, 2, 2);
        assert_eq!(out, vec![1.0, 0.0, 2.0, 0.0]);
        assert_eq!(bad, 0.5);
    }
}
