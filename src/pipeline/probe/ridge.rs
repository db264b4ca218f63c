//! Linear read-outs of a representation: ridge regression with a held-out R^2, and linear
//! CKA (Kornblith et al., 2019). Float64 on row-major matrices; the products through
//! `gemm` (`model::strided`).
//!
//! Ridge: features standardised with the training rows' mean and deviation, targets
//! centred; solved in the primal (`(X^T X + l I) W = X^T Y`, d x d) when there are fewer
//! features than rows, else in the dual (`(X X^T + l I) A = Y`, n x n), by Cholesky. The
//! penalty is chosen from a grid (relative to trace(X^T X) / n) on the last fifth of the
//! training rows, then refitted on all of them.

use crate::model::strided::{View, gemm_into};

/// A row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix size");
        Self { rows, cols, data }
    }
    fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// The rows `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for r in rows {
            data.extend_from_slice(self.row(*r));
        }
        Matrix::new(rows.len(), self.cols, data)
    }
}

/// C (m x n, row-major) = L (m x k) R (k x n) for strided views of `lhs` and `rhs`
/// (`*_rs`: step between rows, `*_cs`: between columns), by `gemm`: the probe's and CKA's
/// products at real widths (thousands of columns, ten thousand rows) are minutes in plain
/// loops.
fn matmul(
    (m, n, k): (usize, usize, usize),
    lhs: &[f64],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f64],
    rhs_rs: usize,
    rhs_cs: usize,
) -> Vec<f64> {
    let mut out = vec![0f64; m * n];
    let view = |data, rs, cs| View { data, rs, cs };
    gemm_into(
        &mut out,
        n,
        (m, n, k),
        view(lhs, lhs_rs, lhs_cs),
        view(rhs, rhs_rs, rhs_cs),
    );
    out
}

/// A^T B for row-major A (n x p) and B (n x q): p x q.
pub(super) fn at_b(a: &Matrix, b: &Matrix) -> Vec<f64> {
    assert_eq!(a.rows, b.rows);
    matmul(
        (a.cols, b.cols, a.rows),
        &a.data,
        1,
        a.cols,
        &b.data,
        b.cols,
        1,
    )
}

/// A B^T for row-major A (n x d) and B (m x d): n x m.
pub(super) fn a_bt(a: &Matrix, b: &Matrix) -> Vec<f64> {
    assert_eq!(a.cols, b.cols);
    matmul(
        (a.rows, b.rows, a.cols),
        &a.data,
        a.cols,
        1,
        &b.data,
        1,
        b.cols,
    )
}

/// Solves S X = B for symmetric positive definite S (n x n) and B (n x k), in place of B.
/// `None` when S is not positive definite.
fn cholesky_solve(s: &[f64], n: usize, b: &mut [f64], k: usize) -> Option<()> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|t| l[i * n + t] * l[j * n + t]).sum();
            let v = s[i * n + j] - dot;
            if i == j {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    for c in 0..k {
        for i in 0..n {
            let dot: f64 = (0..i).map(|t| l[i * n + t] * b[t * k + c]).sum();
            b[i * k + c] = (b[i * k + c] - dot) / l[i * n + i];
        }
        for i in (0..n).rev() {
            let dot: f64 = (i + 1..n).map(|t| l[t * n + i] * b[t * k + c]).sum();
            b[i * k + c] = (b[i * k + c] - dot) / l[i * n + i];
        }
    }
    Some(())
}

/// Column means and deviations (deviation 1 where a column is constant).
fn moments(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let n = x.rows.max(1) as f64;
    let mut mean = vec![0f64; x.cols];
    for r in 0..x.rows {
        for (m, v) in mean.iter_mut().zip(x.row(r)) {
            *m += v / n;
        }
    }
    let mut var = vec![0f64; x.cols];
    for r in 0..x.rows {
        for ((s, v), m) in var.iter_mut().zip(x.row(r)).zip(&mean) {
            *s += (v - m) * (v - m) / n;
        }
    }
    let sd = var
        .into_iter()
        .map(|v| if v > 1e-24 { v.sqrt() } else { 1.0 })
        .collect();
    (mean, sd)
}

fn standardised(x: &Matrix, mean: &[f64], sd: &[f64]) -> Matrix {
    let mut data = x.data.clone();
    for row in data.chunks_exact_mut(x.cols) {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(sd) {
            *v = (*v - m) / s;
        }
    }
    Matrix::new(x.rows, x.cols, data)
}

/// Fits on `train`, predicts `test` (both already standardised / centred). The penalty is
/// `lambda_rel * trace(X^T X) / n`, the same in both forms, so they predict the same.
fn fit_predict(xtr: &Matrix, ytr: &Matrix, xte: &Matrix, lambda_rel: f64) -> Option<Matrix> {
    fit_predict_in(xtr, ytr, xte, lambda_rel, xtr.cols > xtr.rows)
}

fn fit_predict_in(
    xtr: &Matrix,
    ytr: &Matrix,
    xte: &Matrix,
    lambda_rel: f64,
    dual: bool,
) -> Option<Matrix> {
    let (n, d, k) = (xtr.rows, xtr.cols, ytr.cols);
    let scale = xtr.data.iter().map(|v| v * v).sum::<f64>() / n.max(1) as f64;
    if !dual {
        let mut g = at_b(xtr, xtr);
        for i in 0..d {
            g[i * d + i] += lambda_rel * scale.max(1e-12);
        }
        let mut w = at_b(xtr, ytr);
        cholesky_solve(&g, d, &mut w, k)?;
        let mut out = vec![0f64; xte.rows * k];
        for r in 0..xte.rows {
            for (i, xv) in xte.row(r).iter().enumerate() {
                for c in 0..k {
                    out[r * k + c] += xv * w[i * k + c];
                }
            }
        }
        Some(Matrix::new(xte.rows, k, out))
    } else {
        let mut g = a_bt(xtr, xtr);
        for i in 0..n {
            g[i * n + i] += lambda_rel * scale.max(1e-12);
        }
        let mut a = ytr.data.clone();
        cholesky_solve(&g, n, &mut a, k)?;
        let kx = a_bt(xte, xtr);
        let mut out = vec![0f64; xte.rows * k];
        for r in 0..xte.rows {
            for j in 0..n {
                let kv = kx[r * n + j];
                for c in 0..k {
                    out[r * k + c] += kv * a[j * k + c];
                }
            }
        }
        Some(Matrix::new(xte.rows, k, out))
    }
}

/// R^2 of `pred` against `truth` summed over the target columns: 1 - SSE / SST (SST around
/// the truth's own mean); per column too.
pub fn r_squared(pred: &Matrix, truth: &Matrix) -> (f64, Vec<f64>) {
    let (mean, _) = moments(truth);
    let k = truth.cols;
    let (mut sse, mut sst) = (vec![0f64; k], vec![0f64; k]);
    for r in 0..truth.rows {
        for c in 0..k {
            let t = truth.data[r * k + c];
            sse[c] += (pred.data[r * k + c] - t).powi(2);
            sst[c] += (t - mean[c]).powi(2);
        }
    }
    let per = sse
        .iter()
        .zip(&sst)
        .map(|(e, t)| if *t > 0.0 { 1.0 - e / t } else { f64::NAN })
        .collect();
    let (e, t): (f64, f64) = (sse.iter().sum(), sst.iter().sum());
    (if t > 0.0 { 1.0 - e / t } else { f64::NAN }, per)
}

/// A probe's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProbeFit {
    /// Held-out R^2 over all target columns, and per column.
    pub r2: f64,
    pub r2_per_target: Vec<f64>,
    /// The penalty chosen, relative to the Gram matrix's mean diagonal.
    pub lambda: f64,
    pub train_rows: usize,
    pub test_rows: usize,
}

/// Ridge from `x` to `y` fitted on `train` rows, R^2 on `test` rows. `None` when a split is
/// too small (fewer than 4 rows) or every penalty fails.
pub fn ridge_probe(x: &Matrix, y: &Matrix, train: &[usize], test: &[usize]) -> Option<ProbeFit> {
    if train.len() < 4 || test.len() < 2 || x.rows != y.rows {
        return None;
    }
    let prep = |rows: &[usize], fit_rows: &[usize]| {
        let xf = x.select(fit_rows);
        let yf = y.select(fit_rows);
        let (xm, xs) = moments(&xf);
        let (ym, _) = moments(&yf);
        let ones = vec![1.0; y.cols];
        (
            standardised(&xf, &xm, &xs),
            standardised(&yf, &ym, &ones),
            standardised(&x.select(rows), &xm, &xs),
            ym,
        )
    };
    // Penalty from the last fifth of the training rows.
    let cut = train.len() - (train.len() / 5).max(1);
    let (fit, val) = train.split_at(cut);
    let grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];
    let mut best: Option<(f64, f64)> = None;
    if fit.len() >= 4 {
        let (xf, yf, xv, ym) = prep(val, fit);
        let truth = y.select(val);
        for l in grid {
            if let Some(mut p) = fit_predict(&xf, &yf, &xv, l) {
                add_mean(&mut p, &ym);
                let (r2, _) = r_squared(&p, &truth);
                if r2.is_finite() && best.is_none_or(|(b, _)| r2 > b) {
                    best = Some((r2, l));
                }
            }
        }
    }
    let lambda = best.map_or(1e-2, |(_, l)| l);
    let (xf, yf, xt, ym) = prep(test, train);
    let mut p = fit_predict(&xf, &yf, &xt, lambda)?;
    add_mean(&mut p, &ym);
    let (r2, r2_per_target) = r_squared(&p, &y.select(test));
    Some(ProbeFit {
        r2,
        r2_per_target,
        lambda,
        train_rows: train.len(),
        test_rows: test.len(),
    })
}

fn add_mean(p: &mut Matrix, mean: &[f64]) {
    for row in p.data.chunks_exact_mut(p.cols) {
        for (v, m) in row.iter_mut().zip(mean) {
            *v += m;
        }
    }
}

/// Linear CKA of two representations of the same rows: ||Y^T X||_F^2 / (||X^T X||_F
/// ||Y^T Y||_F) after centring. 1 for a representation and any rotation or scaling of it.
pub fn linear_cka(x: &Matrix, y: &Matrix) -> Option<f64> {
    if x.rows != y.rows || x.rows < 2 {
        return None;
    }
    let ones_x = vec![1.0; x.cols];
    let ones_y = vec![1.0; y.cols];
    let xc = standardised(x, &moments(x).0, &ones_x);
    let yc = standardised(y, &moments(y).0, &ones_y);
    let fro2 = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
    let cross = fro2(&at_b(&yc, &xc));
    let (xx, yy) = (fro2(&at_b(&xc, &xc)).sqrt(), fro2(&at_b(&yc, &yc)).sqrt());
    (xx > 0.0 && yy > 0.0).then(|| cross / (xx * yy))
}

#[cfg(test)]
pub(in crate::pipeline::probe) mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [-1, 1) (shared with the PCA tests).
    pub(in crate::pipeline::probe) fn noise(n: usize, seed: u64) -> Vec<f64> {
        // Small seeds give related xorshift streams: spread them first.
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n + 16)
            .skip(16)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    fn coords(n: usize) -> Matrix {
        Matrix::new(n, 3, noise(3 * n, 7))
    }

    #[test]
    fn the_true_coordinates_as_features_give_r2_of_one() {
        let y = coords(200);
        // Features: the coordinates mixed linearly with 20 nuisance columns.
        let nuisance = noise(200 * 20, 11);
        let mut data = Vec::new();
        for r in 0..200 {
            let c = &y.data[r * 3..r * 3 + 3];
            data.extend([c[0] + 2.0 * c[1], c[1] - c[2], 3.0 * c[2] + 0.5]);
            data.extend_from_slice(&nuisance[r * 20..(r + 1) * 20]);
        }
        let x = Matrix::new(200, 23, data);
        let train: Vec<usize> = (0..160).collect();
        let test: Vec<usize> = (160..200).collect();
        let fit = ridge_probe(&x, &y, &train, &test).unwrap();
        assert!(fit.r2 > 0.999, "{fit:?}");
        // Pure noise features read nothing out.
        let xn = Matrix::new(200, 23, noise(200 * 23, 99));
        let fit = ridge_probe(&xn, &y, &train, &test).unwrap();
        assert!(fit.r2 < 0.2, "{fit:?}");
    }

    #[test]
    fn the_dual_form_predicts_what_the_primal_does() {
        let x = Matrix::new(30, 8, noise(240, 5));
        let y = Matrix::new(30, 3, noise(90, 6));
        let xt = Matrix::new(7, 8, noise(56, 8));
        for l in [1e-3, 0.1, 2.0] {
            let p = fit_predict_in(&x, &y, &xt, l, false).unwrap();
            let d = fit_predict_in(&x, &y, &xt, l, true).unwrap();
            for (a, b) in p.data.iter().zip(&d.data) {
                assert!((a - b).abs() < 1e-9, "{l}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn cka_is_one_for_rotations_and_scalings_and_lower_for_noise() {
        let x = Matrix::new(50, 3, noise(150, 3));
        // A rotation about z by 30 degrees and a scale of 4.
        let (s, c) = (0.5f64, 3f64.sqrt() / 2.0);
        let mut rot = Vec::new();
        for r in 0..50 {
            let v = &x.data[r * 3..r * 3 + 3];
            rot.extend([
                4.0 * (c * v[0] - s * v[1]),
                4.0 * (s * v[0] + c * v[1]),
                4.0 * v[2],
            ]);
        }
        let y = Matrix::new(50, 3, rot);
        assert!((linear_cka(&x, &x).unwrap() - 1.0).abs() < 1e-12);
        assert!((linear_cka(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        let z = Matrix::new(50, 3, noise(150, 77));
        assert!(linear_cka(&x, &z).unwrap() < 0.5);
    }
}
