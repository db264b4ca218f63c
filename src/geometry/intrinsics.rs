//! Intrinsics as the SpatialVLA processor prepares them (spec 5.3): the 3x3 K is scaled to
//! the model input row-wise in float32 (row 0 by `target_w / width`, row 1 by
//! `target_h / height`, non-uniform for non-square sources: the image is squashed, not
//! cropped), then, on the reference inference path, rounded to bfloat16 before the model
//! inverts it in float32.

/// Row-major 3x3 float32 matrix.
pub type Mat3f = [[f32; 3]; 3];

/// K scaled to a `target_w` x `target_h` input, exactly as the reference (float32 products
/// of float32 values).
pub fn scale_to(k: &[[f64; 3]; 3], width: u32, height: u32, target_w: u32, target_h: u32) -> Mat3f {
    let sx = (f64::from(target_w) / f64::from(width)) as f32;
    let sy = (f64::from(target_h) / f64::from(height)) as f32;
    let mut out = [[0f32; 3]; 3];
    for c in 0..3 {
        out[0][c] = k[0][c] as f32 * sx;
        out[1][c] = k[1][c] as f32 * sy;
        out[2][c] = k[2][c] as f32;
    }
    out
}

/// Rounds a float32 to the nearest bfloat16 (ties to even), returned as float32.
pub fn bf16_round(v: f32) -> f32 {
    if v.is_nan() {
        return v;
    }
    let bits = v.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) & 0xFFFF_0000;
    f32::from_bits(rounded)
}

/// Every entry rounded to bfloat16 (the `predict_action` cast).
pub fn bf16_matrix(k: &Mat3f) -> Mat3f {
    k.map(|row| row.map(bf16_round))
}

/// Inverse of a pinhole K `[[fx, s, cx], [0, fy, cy], [0, 0, 1]]` in float32; `None` when
/// singular. Zero skew gives exactly the reference's float32 values.
pub fn inverse_pinhole(k: &Mat3f) -> Option<Mat3f> {
    let (fx, s, cx) = (k[0][0], k[0][1], k[0][2]);
    let (fy, cy) = (k[1][1], k[1][2]);
    if fx == 0.0 || fy == 0.0 || k[1][0] != 0.0 || k[2] != [0.0, 0.0, 1.0] {
        return None;
    }
    let a = 1.0 / fx;
    let d = 1.0 / fy;
    let (b, c) = if s == 0.0 {
        (0.0, -(cx / fx))
    } else {
        let b = -s / (fx * fy);
        (b, (s * cy - cx * fy) / (fx * fy))
    };
    Some([[a, b, c], [0.0, d, -(cy / fy)], [0.0, 0.0, 1.0]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_is_nearest_even() {
        assert_eq!(bf16_round(218.255_8), 218.0);
        assert_eq!(bf16_round(291.007_75), 292.0);
        assert_eq!(bf16_round(1.0), 1.0);
        // 1 + 2^-8 is halfway between two bf16 values: ties to even (1.0).
        assert_eq!(bf16_round(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(bf16_round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
    }

    #[test]
    #[expect(
        clippy::needless_range_loop,
        reason = "a matrix product reads clearest with indices"
    )]
    fn inverse_times_k_is_identity() {
        let k = [[200.0, 0.5, 100.0], [0.0, 210.0, 90.0], [0.0, 0.0, 1.0]];
        let inv = inverse_pinhole(&k).expect("invertible");
        for i in 0..3 {
            for j in 0..3 {
                let v: f32 = (0..3).map(|m| k[i][m] * inv[m][j]).sum();
                assert!(
                    (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-5,
                    "{i}{j}: {v}"
                );
            }
        }
        assert!(inverse_pinhole(&[[0.0; 3]; 3]).is_none());
    }
}
