//! Back-projection of depth to 3-D points in the camera frame (OpenCV axes: x right, y down,
//! z forward; metres): `P = K^-1 [u, v, 1]^T * d`.
//!
//! [`backproject_depth`] lifts every valid pixel of a metric depth image (the full-resolution
//! cloud). [`patch_points`] reproduces the model's sampling (spec 5.4): the depth is
//! area-averaged over `stride x stride` blocks (`stride = patch / reso`), each block's centre
//! pixel `(offset + stride * k)` is lifted, and the `reso x reso` samples of each patch are
//! packed per patch in row-major order, giving `reso^2 * 3` numbers per patch.

use super::intrinsics::Mat3f;

/// Lifts pixel (u, v) at depth `d` with `k_inv` (float32, as the reference).
pub fn lift(k_inv: &Mat3f, u: f32, v: f32, d: f32) -> [f32; 3] {
    let r = |row: &[f32; 3]| (row[0] * u + row[1] * v + row[2]) * d;
    [r(&k_inv[0]), r(&k_inv[1]), r(&k_inv[2])]
}

/// Every valid pixel (depth > 0 and finite) of a `width` x `height` depth image lifted to
/// the camera frame, with its pixel index (row-major).
///
/// Equal, bit for bit, to [`lift`] on every pixel: the per-column products `k[i][0] * u` and
/// per-row products `k[i][1] * v` are tabulated once and summed in the same order, so a pixel
/// costs three additions and three multiplications by its depth. Large images are split into
/// bands of rows lifted on every core.
pub fn backproject_depth(
    depth_m: &[f32],
    width: u32,
    height: u32,
    k_inv: &Mat3f,
) -> Vec<(usize, [f32; 3])> {
    let (w, h) = (width as usize, height as usize);
    let h = h.min(depth_m.len() / w.max(1));
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let cols: Vec<[f32; 3]> = (0..w).map(|u| k_inv.map(|row| row[0] * u as f32)).collect();
    let rows: Vec<[f32; 3]> = (0..h).map(|v| k_inv.map(|row| row[1] * v as f32)).collect();
    let last = [k_inv[0][2], k_inv[1][2], k_inv[2][2]];
    let band = |v0: usize, v1: usize| -> Vec<(usize, [f32; 3])> {
        let mut out = Vec::with_capacity((v1 - v0) * w);
        for (v, r) in rows.iter().enumerate().take(v1).skip(v0) {
            let line = &depth_m[v * w..(v + 1) * w];
            for ((u, &d), c) in line.iter().enumerate().zip(&cols) {
                if d > 0.0 && d.is_finite() {
                    out.push((
                        v * w + u,
                        [
                            (c[0] + r[0] + last[0]) * d,
                            (c[1] + r[1] + last[1]) * d,
                            (c[2] + r[2] + last[2]) * d,
                        ],
                    ));
                }
            }
        }
        out
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if w * h < PARALLEL_PIXELS || cores < 2 {
        return band(0, h);
    }
    let per = h.div_ceil(cores);
    let parts: Vec<Vec<(usize, [f32; 3])>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..h)
            .step_by(per)
            .map(|v0| {
                let band = &band;
                s.spawn(move || band(v0, (v0 + per).min(h)))
            })
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("lifting a band of rows panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for p in parts {
        out.extend(p);
    }
    out
}

/// Images at least this large are lifted on every core (below it, starting threads costs
/// more than it saves).
const PARALLEL_PIXELS: usize = 65_536;

/// The model's sampling of an `image_size` x `image_size` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchSampling {
    pub image_size: usize,
    pub patch_size: usize,
    /// Samples per patch side (2 in the release); must divide `patch_size`.
    pub reso: usize,
}

impl PatchSampling {
    /// The released configuration: 224 px, patch 14, 2 x 2 samples per patch.
    pub const RELEASED: PatchSampling = PatchSampling {
        image_size: 224,
        patch_size: 14,
        reso: 2,
    };

    /// Whether the configuration can work: `reso` divides the patch, the patch divides the
    /// image (the configuration class default reso 4 with patch 14 cannot).
    pub fn is_valid(&self) -> bool {
        self.reso > 0
            && self.patch_size > 0
            && self.patch_size.is_multiple_of(self.reso)
            && self.image_size.is_multiple_of(self.patch_size)
    }

    /// Patches per side.
    pub fn patches_per_side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Samples per side (`S`).
    pub fn samples_per_side(&self) -> usize {
        self.patches_per_side() * self.reso
    }

    /// Pixels between samples, and the first sample's pixel coordinate.
    pub fn stride_offset(&self) -> (f32, f32) {
        let stride = (self.patch_size / self.reso) as f32;
        (stride, stride / 2.0)
    }

    /// Sample pixel coordinates (u, v), sample `row * S + col`.
    pub fn sample_pixels(&self) -> Vec<(f32, f32)> {
        let s = self.samples_per_side();
        let (stride, offset) = self.stride_offset();
        (0..s * s)
            .map(|i| {
                (
                    offset + stride * (i % s) as f32,
                    offset + stride * (i / s) as f32,
                )
            })
            .collect()
    }

    /// Area average of an `image_size`^2 depth map over `stride x stride` blocks (S x S).
    ///
    /// Each block is summed in float64 rows first, left to right, as one running sum per
    /// block; a band of `stride` image rows is read once, in order, feeding the S sums of its
    /// blocks side by side (S independent chains instead of one long chain per block, which
    /// kept the adder waiting; the additions and their order per block are unchanged).
    pub fn pool_depth(&self, depth_m: &[f32]) -> Vec<f32> {
        let n = self.image_size;
        let s = self.samples_per_side();
        let b = self.patch_size / self.reso;
        let mut out = Vec::with_capacity(s * s);
        let mut sums = vec![0f64; s];
        for r in 0..s {
            sums.fill(0.0);
            for y in r * b..(r + 1) * b {
                let row = &depth_m[y * n..y * n + s * b];
                for (sum, block) in sums.iter_mut().zip(row.chunks_exact(b)) {
                    for &d in block {
                        *sum += f64::from(d);
                    }
                }
            }
            let area = (b * b) as f64;
            out.extend(sums.iter().map(|sum| (sum / area) as f32));
        }
        out
    }
}

/// The model's per-patch points: `patches^2` rows of `reso^2 * 3` floats. `depth_m` is the
/// depth at the model input resolution (`image_size`^2, metres). `None` for an invalid
/// sampling or a depth map of the wrong size.
pub fn patch_points(
    sampling: &PatchSampling,
    depth_m: &[f32],
    k_inv: &Mat3f,
) -> Option<Vec<Vec<f32>>> {
    if !sampling.is_valid() || depth_m.len() != sampling.image_size * sampling.image_size {
        return None;
    }
    let s = sampling.samples_per_side();
    let p = sampling.patches_per_side();
    let r = sampling.reso;
    let pooled = sampling.pool_depth(depth_m);
    let pixels = sampling.sample_pixels();
    let mut out = Vec::with_capacity(p * p);
    for pr in 0..p {
        for pc in 0..p {
            let mut row = Vec::with_capacity(r * r * 3);
            for a in 0..r {
                for b in 0..r {
                    let i = (pr * r + a) * s + (pc * r + b);
                    let (u, v) = pixels[i];
                    row.extend(lift(k_inv, u, v, pooled[i]));
                }
            }
            out.push(row);
        }
    }
    Some(out)
}

/// Camera-frame points to the world frame with a `world_from_camera` pose (OpenCV camera
/// axes, metres). The pose's top three rows are read once and applied as plain float64
/// arithmetic per point (the generic matrix product per point cost ~20x more in the dev
/// build, where it made scrubbing RGB-D episodes stutter).
pub fn to_world(
    world_from_camera: &nalgebra::Matrix4<f64>,
    points_camera: &[[f32; 3]],
) -> Vec<[f32; 3]> {
    let m = world_from_camera;
    let rows: [[f64; 4]; 3] = [0, 1, 2].map(|r| [m[(r, 0)], m[(r, 1)], m[(r, 2)], m[(r, 3)]]);
    points_camera
        .iter()
        .map(|p| {
            let (x, y, z) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
            rows.map(|r| (r[0] * x + r[1] * y + r[2] * z + r[3]) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tabulated, banded lift is bit for bit the per-pixel one, skips invalid depth,
    /// and keeps pixel order (small image: one band; large: the parallel path).
    #[test]
    fn tabulated_lift_equals_the_per_pixel_lift() {
        let k_inv = [
            [0.0021, 0.00003, -0.61],
            [0.0, 0.0023, -0.47],
            [0.0, 0.0, 1.0],
        ];
        for (w, h) in [(7usize, 5usize), (320, 240)] {
            let depth: Vec<f32> = (0..w * h)
                .map(|i| match i % 13 {
                    0 => 0.0,
                    1 => f32::NAN,
                    2 => f32::INFINITY,
                    _ => 0.3 + (i % 101) as f32 * 0.017,
                })
                .collect();
            let got = backproject_depth(&depth, w as u32, h as u32, &k_inv);
            let want: Vec<(usize, [f32; 3])> = depth
                .iter()
                .enumerate()
                .filter(|(_, d)| **d > 0.0 && d.is_finite())
                .map(|(i, &d)| (i, lift(&k_inv, (i % w) as f32, (i / w) as f32, d)))
                .collect();
            assert_eq!(got, want, "{w}x{h}");
        }
        // A depth slice shorter than the size given: only its whole rows.
        assert_eq!(backproject_depth(&[1.0; 10], 4, 3, &k_inv).len(), 8);
        assert!(backproject_depth(&[], 0, 0, &k_inv).is_empty());
    }

    /// The banded pooling adds exactly what the per-block sum adds, in the same order.
    #[test]
    fn pooling_equals_the_per_block_sum() {
        let sampling = PatchSampling::RELEASED;
        let n = sampling.image_size;
        let depth: Vec<f32> = (0..n * n)
            .map(|i| 0.3 + (i % 211) as f32 * 0.0137)
            .collect();
        let (s, b) = (sampling.samples_per_side(), 7);
        let mut want = Vec::new();
        for r in 0..s {
            for c in 0..s {
                let mut sum = 0f64;
                for y in r * b..(r + 1) * b {
                    for x in c * b..(c + 1) * b {
                        sum += f64::from(depth[y * n + x]);
                    }
                }
                want.push((sum / 49.0) as f32);
            }
        }
        assert_eq!(sampling.pool_depth(&depth), want);
    }
}
