//! The resampling around ZoeDepth (spec 5.1-5.2), in plain Rust: the depth branch's input
//! (reflect-pad the [0, 1] model input by 31 px, bicubic resize with corner alignment to
//! 384 x 384, map to [-1, 1]) and the way back (bicubic with corner alignment from 384 to
//! 286, crop 31 px per side, giving depth at 224 x 224). The bicubic is PyTorch's
//! `interpolate(mode="bicubic", align_corners=True)`: cubic convolution with A = -0.75,
//! source coordinate `i * (in - 1) / (out - 1)`, taps clamped at the border.

/// Padding of the depth branch, pixels per side.
pub const ZOE_PAD_PX: usize = 31;
/// ZoeDepth's input size.
pub const ZOE_SIZE_PX: usize = 384;

const A: f64 = -0.75;

fn cubic_weights(t: f64) -> [f64; 4] {
    let w_near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let w_far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [w_far(t + 1.0), w_near(t), w_near(1.0 - t), w_far(2.0 - t)]
}

/// Taps (indices, weights) of every output position of a 1-D align-corners bicubic resize.
fn taps(n_in: usize, n_out: usize) -> Vec<([usize; 4], [f64; 4])> {
    let scale = if n_out > 1 {
        (n_in as f64 - 1.0) / (n_out as f64 - 1.0)
    } else {
        0.0
    };
    (0..n_out)
        .map(|i| {
            let src = i as f64 * scale;
            let x0 = src.floor();
            let t = src - x0;
            let idx = [-1i64, 0, 1, 2].map(|k| (x0 as i64 + k).clamp(0, n_in as i64 - 1) as usize);
            (idx, cubic_weights(t))
        })
        .collect()
}

/// Bicubic (align corners) resize of one `h x w` plane to `oh x ow`.
pub fn resize_bicubic_align_corners(
    plane: &[f32],
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
) -> Vec<f32> {
    assert_eq!(plane.len(), h * w, "plane of the stated size");
    let tx = taps(w, ow);
    let ty = taps(h, oh);
    let mut out = vec![0f32; oh * ow];
    for (oy, (ry, wy)) in ty.iter().enumerate() {
        for (ox, (rx, wx)) in tx.iter().enumerate() {
            let mut acc = 0f64;
            for (j, &y) in ry.iter().enumerate() {
                let row = &plane[y * w..(y + 1) * w];
                let mut r = 0f64;
                for (i, &x) in rx.iter().enumerate() {
                    r += f64::from(row[x]) * wx[i];
                }
                acc += r * wy[j];
            }
            out[oy * ow + ox] = acc as f32;
        }
    }
    out
}

/// Reflect padding (no edge repeat, as `F.pad(mode="reflect")`) of one plane.
pub fn reflect_pad(plane: &[f32], h: usize, w: usize, pad: usize) -> Vec<f32> {
    let reflect = |i: i64, n: i64| -> usize {
        let mut i = i;
        if i < 0 {
            i = -i;
        }
        if i >= n {
            i = 2 * (n - 1) - i;
        }
        i.clamp(0, n - 1) as usize
    };
    let (ph, pw) = (h + 2 * pad, w + 2 * pad);
    let mut out = vec![0f32; ph * pw];
    for y in 0..ph {
        let sy = reflect(y as i64 - pad as i64, h as i64);
        for x in 0..pw {
            let sx = reflect(x as i64 - pad as i64, w as i64);
            out[y * pw + x] = plane[sy * w + sx];
        }
    }
    out
}

/// ZoeDepth's input from `pixel_values` (3 x size x size in [0, 1]): 3 x 384 x 384 in [-1, 1].
pub fn zoe_input(pixel_values: &[f32], size: usize) -> Vec<f32> {
    let plane = size * size;
    let padded = size + 2 * ZOE_PAD_PX;
    (0..3)
        .flat_map(|c| {
            let p = reflect_pad(
                &pixel_values[c * plane..(c + 1) * plane],
                size,
                size,
                ZOE_PAD_PX,
            );
            resize_bicubic_align_corners(&p, padded, padded, ZOE_SIZE_PX, ZOE_SIZE_PX)
                .into_iter()
                .map(|v| (v - 0.5) / 0.5)
        })
        .collect()
}

/// ZoeDepth's 384 x 384 metric depth back at the model input: resized to `size + 62`
/// (bicubic, align corners) and cropped by 31 px per side.
pub fn depth_at_model_size(depth_384: &[f32], size: usize) -> Vec<f32> {
    let padded = size + 2 * ZOE_PAD_PX;
    let big = resize_bicubic_align_corners(depth_384, ZOE_SIZE_PX, ZOE_SIZE_PX, padded, padded);
    let mut out = Vec::with_capacity(size * size);
    for y in 0..size {
        let row = (y + ZOE_PAD_PX) * padded + ZOE_PAD_PX;
        out.extend_from_slice(&big[row..row + size]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_corners_keeps_the_corners_and_constants() {
        let p: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let r = resize_bicubic_align_corners(&p, 4, 5, 7, 9);
        assert!((r[0] - 0.0).abs() < 1e-6 && (r[r.len() - 1] - 19.0).abs() < 1e-5);
        let c = resize_bicubic_align_corners(&[2.5; 12], 3, 4, 5, 6);
        assert!(c.iter().all(|v| (v - 2.5).abs() < 1e-6));
    }

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        let p = [1.0, 2.0, 3.0];
        assert_eq!(reflect_pad(&p, 1, 3, 2).len(), 5 * 7);
        let row = &reflect_pad(&p, 1, 3, 2)[2 * 7..3 * 7];
        assert_eq!(row, &[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
    }
}
