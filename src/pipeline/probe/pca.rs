//! Principal components of patch features, and their first three as colours: the usual way
//! to see what a vision encoder's patches encode (DINO/SPA-style feature maps).
//!
//! Fitted on the centred features by power iteration with deflation, on the covariance
//! (d x d) when there are fewer features than rows, else on the Gram matrix (n x n; the
//! components are then `X^T u` normalised). Each component's sign is fixed so that its
//! largest-magnitude entry is positive, so colours do not flip between fits. Scores become
//! colours by mapping each component's 1st-99th percentile (of the fitting rows) to 0-255;
//! fitting once per episode and reusing the ranges keeps colours stable while scrubbing.

use super::ridge::Matrix;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// `k` unit vectors of length d.
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variance: Vec<f64>,
    pub total_variance: f64,
    /// Per component, the 1st and 99th percentile of the fitting rows' scores.
    pub ranges: Vec<(f64, f64)>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Makes `v` orthogonal to the components already found, then unit length; false when
/// nothing is left of it.
fn deflate_and_normalise(v: &mut [f64], found: &[(f64, Vec<f64>)]) -> bool {
    for (_, u) in found {
        let p = dot(v, u);
        for (a, b) in v.iter_mut().zip(u) {
            *a -= p * b;
        }
    }
    let norm = dot(v, v).sqrt();
    if norm < 1e-300 {
        return false;
    }
    v.iter_mut().for_each(|a| *a /= norm);
    true
}

/// Top `k` eigenvectors and eigenvalues of the symmetric positive semi-definite `s` (m x m).
fn top_eigen(s: &[f64], m: usize, k: usize) -> Vec<(f64, Vec<f64>)> {
    let mut found: Vec<(f64, Vec<f64>)> = Vec::new();
    for c in 0..k.min(m) {
        // A start that is not orthogonal to anything in particular.
        let mut v: Vec<f64> = (0..m)
            .map(|i| 1.0 + ((i * 7 + c * 13) % 11) as f64 / 11.0)
            .collect();
        let mut lambda = 0.0;
        for _ in 0..1000 {
            if !deflate_and_normalise(&mut v, &found) {
                break;
            }
            let w: Vec<f64> = (0..m).map(|i| dot(&s[i * m..(i + 1) * m], &v)).collect();
            let next = dot(&w, &v);
            let converged = (next - lambda).abs() <= 1e-12 * next.abs().max(1e-300);
            lambda = next;
            v = w;
            if converged {
                break;
            }
        }
        if !deflate_and_normalise(&mut v, &found) {
            break;
        }
        found.push((lambda.max(0.0), v));
    }
    found
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Pca {
    /// The first `k` components of `x` (rows are samples). `None` without at least two rows.
    pub fn fit(x: &Matrix, k: usize) -> Option<Self> {
        let (n, d) = (x.rows, x.cols);
        if n < 2 || d == 0 {
            return None;
        }
        let mut mean = vec![0f64; d];
        for row in x.data.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / n as f64;
            }
        }
        let centred: Vec<f64> = x
            .data
            .chunks_exact(d)
            .flat_map(|row| {
                row.iter()
                    .zip(&mean)
                    .map(|(v, m)| v - m)
                    .collect::<Vec<_>>()
            })
            .collect();
        let total_variance = centred.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let centred_m = Matrix::new(n, d, centred);
        let mut comps: Vec<(f64, Vec<f64>)> = if d <= n {
            let mut cov = super::ridge::at_b(&centred_m, &centred_m);
            cov.iter_mut().for_each(|c| *c /= n as f64);
            top_eigen(&cov, d, k)
        } else {
            let mut gram = super::ridge::a_bt(&centred_m, &centred_m);
            gram.iter_mut().for_each(|g| *g /= n as f64);
            let rows: Vec<&[f64]> = centred_m.data.chunks_exact(d).collect();
            top_eigen(&gram, n, k)
                .into_iter()
                .map(|(l, u)| {
                    let mut v = vec![0f64; d];
                    for (r, ui) in rows.iter().zip(&u) {
                        for (a, b) in v.iter_mut().zip(*r) {
                            *a += ui * b;
                        }
                    }
                    let norm = dot(&v, &v).sqrt().max(1e-300);
                    (l, v.into_iter().map(|a| a / norm).collect())
                })
                .collect()
        };
        for (_, v) in &mut comps {
            let big = v
                .iter()
                .copied()
                .fold(0f64, |m, a| if a.abs() > m.abs() { a } else { m });
            if big < 0.0 {
                v.iter_mut().for_each(|a| *a = -*a);
            }
        }
        let mut pca = Pca {
            mean,
            variance: comps.iter().map(|(l, _)| *l).collect(),
            components: comps.into_iter().map(|(_, v)| v).collect(),
            total_variance,
            ranges: Vec::new(),
        };
        let scores = pca.project(x);
        let k = pca.components.len();
        pca.ranges = (0..k)
            .map(|c| {
                let mut col: Vec<f64> = (0..n).map(|r| scores.data[r * k + c]).collect();
                col.sort_by(f64::total_cmp);
                (percentile(&col, 0.01), percentile(&col, 0.99))
            })
            .collect();
        Some(pca)
    }

    /// Scores of `x`'s rows on the components (n x k).
    pub fn project(&self, x: &Matrix) -> Matrix {
        let k = self.components.len();
        let mut out = Vec::with_capacity(x.rows * k);
        for row in x.data.chunks_exact(x.cols) {
            let c: Vec<f64> = row.iter().zip(&self.mean).map(|(v, m)| v - m).collect();
            for comp in &self.components {
                out.push(dot(&c, comp));
            }
        }
        Matrix::new(x.rows, k, out)
    }

    /// The first three components' scores of `x`'s rows as RGB, each mapped from its fitted
    /// 1st-99th percentile range to 0-255 (missing components stay 0).
    pub fn rgb(&self, x: &Matrix) -> Vec<[u8; 3]> {
        let s = self.project(x);
        let k = self.components.len();
        (0..x.rows)
            .map(|r| {
                let mut px = [0u8; 3];
                for (c, p) in px.iter_mut().enumerate().take(k.min(3)) {
                    let (lo, hi) = self.ranges[c];
                    let t = (s.data[r * k + c] - lo) / (hi - lo).max(1e-12);
                    *p = (t.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
                px
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ridge::tests::noise;
    use super::*;

    /// Rows `3 a u1 + 2 b u2 + c u3 + 0.001 noise` with orthonormal u's in 20 dimensions and
    /// exactly uncorrelated, zero-mean factors (a full period of cos, sin, cos 2x), so the
    /// sample's principal axes are the u's.
    fn structured(n: usize) -> (Matrix, [Vec<f64>; 3]) {
        let d = 20;
        let mut u1 = vec![0.0; d];
        let mut u2 = vec![0.0; d];
        let mut u3 = vec![0.0; d];
        u1[0] = 0.6;
        u1[1] = 0.8;
        u2[0] = -0.8;
        u2[1] = 0.6;
        u3[5] = -1.0;
        let t = |r: usize| std::f64::consts::TAU * r as f64 / n as f64;
        let a: Vec<f64> = (0..n).map(|r| t(r).cos()).collect();
        let b: Vec<f64> = (0..n).map(|r| t(r).sin()).collect();
        let c: Vec<f64> = (0..n).map(|r| (2.0 * t(r)).cos()).collect();
        let e = noise(n * d, 4);
        let mut data = Vec::new();
        for r in 0..n {
            for j in 0..d {
                data.push(
                    5.0 + 3.0 * a[r] * u1[j]
                        + 2.0 * b[r] * u2[j]
                        + c[r] * u3[j]
                        + 0.01 * e[r * d + j],
                );
            }
        }
        (Matrix::new(n, d, data), [u1, u2, u3])
    }

    #[test]
    fn recovers_known_components_in_order_either_way() {
        // 300 rows (covariance route) and 12 rows (Gram route).
        for n in [300, 12] {
            let (x, us) = structured(n);
            let p = Pca::fit(&x, 3).unwrap();
            for (c, u) in p.components.iter().zip(&us) {
                assert!(dot(c, u).abs() > 0.999, "n {n}: {c:?} vs {u:?}");
            }
            assert!(p.variance[0] > p.variance[1] && p.variance[1] > p.variance[2]);
            let explained: f64 = p.variance.iter().sum::<f64>() / p.total_variance;
            assert!(explained > 0.99, "{explained}");
            // Signs: the largest entry positive (u3 is -e5, so it comes back as +e5).
            assert!(p.components[2][5] > 0.99);
        }
    }

    #[test]
    fn colours_follow_the_first_component() {
        let (x, _) = structured(200);
        let p = Pca::fit(&x, 3).unwrap();
        let s = p.project(&x);
        let rgb = p.rgb(&x);
        let (lo, hi) = (0..200).map(|r| (s.data[r * 3], r)).fold(
            ((f64::MAX, 0), (f64::MIN, 0)),
            |(lo, hi), (v, r)| {
                (
                    if v < lo.0 { (v, r) } else { lo },
                    if v > hi.0 { (v, r) } else { hi },
                )
            },
        );
        assert_eq!(rgb[lo.1][0], 0);
        assert_eq!(rgb[hi.1][0], 255);
    }
}
