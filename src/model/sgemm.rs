//! Float32 matrix products on AVX-512, for the model's linear layers and convolutions on
//! CPUs that have it: the `gemm` crate candle uses runs its AVX2 kernels there (its
//! AVX-512 ones were slower still on the Gemma2 shapes, 188 against 121 ms), which left
//! every matmul-bound stage about 3x behind PyTorch's MKL.
//!
//! How: the classic blocked product (Goto / BLIS). The left operand is packed once, all its
//! rows, into panels of `MR = 12` rows, `KC` values of `k` at a time; the right operand into
//! panels of `NR = 32` columns, eight panels (kept in L2) at a time, every `k` block of them
//! in turn, so that chunk's outputs stay in L2 while they accumulate. A register kernel
//! multiplies one 12 x `KC` panel by one `KC` x 32 panel into 24 vector accumulators (12
//! rows x 2 vectors of 16), broadcasting the left values and reading the right panel as
//! vectors. Threads take bands of whole 32-column panels, so each writes its own columns of
//! the output. For one to four rows (a generated token) a product reads the weight once at
//! memory speed instead ([`rows_times_weight`]).
//!
//! `SPATIALSCOPE_NO_AVX512=1` keeps candle's path (same-run comparisons).

use std::sync::OnceLock;

use super::strided::View;
use crate::util::parallel::each_chunk_mut;

const MR: usize = 12;
const NR: usize = 32;
const KC: usize = 256;
/// Right-operand panels packed at a time: 8 x 32 KiB, in L2 beside the left operand.
const NC_PANELS: usize = 8;

/// Whether these kernels run here.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var_os("SPATIALSCOPE_NO_AVX512").is_none()
                && std::arch::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The output's address as threads share it (an integer, so it crosses threads); each
/// thread writes its own columns.
#[derive(Clone, Copy)]
struct Out(usize);

/// `dst (m x n, row stride dst_rs) = lhs (m x k) rhs (k x n)`, or `+=` with `accumulate`.
/// Returns false (and writes nothing) when AVX-512 is not [`available`].
///
/// # Panics
/// When a view or `dst` is smaller than its shape needs.
pub fn product(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_, f32>,
    rhs: View<'_, f32>,
    accumulate: bool,
) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    product_on(cores, dst, dst_rs, (m, n, k), lhs, rhs, accumulate)
}

/// [`product`] on at most `cores` threads (1: on the calling thread alone, for many small
/// products, such as attention heads, that the caller spreads across the cores itself).
pub fn product_on(
    cores: usize,
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_, f32>,
    rhs: View<'_, f32>,
    accumulate: bool,
) -> bool {
    if !available() {
        return false;
    }
    if m == 0 || n == 0 {
        return true;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        dst_rs >= n && last(m, n, dst_rs, 1) < dst.len(),
        "sgemm: the output is smaller than its shape"
    );
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_rs).take(m) {
                row[..n].fill(0.0);
            }
        }
        return true;
    }
    assert!(
        last(m, k, lhs.rs, lhs.cs) < lhs.data.len() && last(k, n, rhs.rs, rhs.cs) < rhs.data.len(),
        "sgemm: an operand is smaller than its shape"
    );
    let panels = n.div_ceil(NR);
    let threads = cores.min(panels).min((m * n * k).div_ceil(1 << 20).max(1));
    let out = Out(dst.as_mut_ptr() as usize);
    let pa = pack_lhs(lhs, (m, k), threads);
    let pa = &pa[..];
    if threads <= 1 {
        band(out, dst_rs, (m, k), (0, n), (pa, rhs), accumulate);
        return true;
    }
    let per = panels.div_ceil(threads) * NR;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (j0, j1) = (t * per, ((t + 1) * per).min(n));
            if j0 >= j1 {
                continue;
            }
            s.spawn(move || {
                let out = out;
                band(out, dst_rs, (m, k), (j0, j1), (pa, rhs), accumulate);
            });
        }
    });
    true
}

/// All of the left operand, packed once for every thread: `k` block by `k` block, 12-row
/// panels (`pack_a`), the panels split across `threads`.
fn pack_lhs(lhs: View<'_, f32>, (m, k): (usize, usize), threads: usize) -> Vec<f32> {
    let a_panels = m.div_ceil(MR);
    let k_blocks = k.div_ceil(KC);
    let mut pa = vec![0f32; k_blocks * a_panels * MR * KC];
    let per = k_blocks.div_ceil(threads.max(1));
    each_chunk_mut(&mut pa, per * a_panels * MR * KC, "packing", |c, blocks| {
        for (i, block) in blocks.chunks_exact_mut(a_panels * MR * KC).enumerate() {
            let kb = c * per + i;
            let (pc, kc) = (kb * KC, KC.min(k - kb * KC));
            for (pi, panel) in block.chunks_exact_mut(MR * KC).enumerate() {
                pack_a(panel, lhs, (pc, kc), (pi * MR, m));
            }
        }
    });
    pa
}

/// Columns `j0..j1` of the output.
#[expect(
    unsafe_code,
    reason = "the register kernel and band writes (see SAFETY)"
)]
fn band(
    out: Out,
    dst_rs: usize,
    (m, k): (usize, usize),
    (j0, j1): (usize, usize),
    (pa, rhs): (&[f32], View<'_, f32>),
    accumulate: bool,
) {
    let a_panels = m.div_ceil(MR);
    let mut pb = vec![0f32; NC_PANELS * NR * KC];
    let mut tile = [0f32; MR * NR];
    // A chunk of the right operand's columns at a time, every k block of it in turn, so the
    // chunk's outputs (m x 256) stay in L2 while they accumulate; each packed chunk (in L2)
    // meets every left panel (in L1).
    for chunk0 in (j0..j1).step_by(NC_PANELS * NR) {
        let panels = (j1 - chunk0).div_ceil(NR).min(NC_PANELS);
        for (kb, a_block) in pa.chunks_exact(a_panels * MR * KC).enumerate() {
            let (pc, kc) = (kb * KC, KC.min(k - kb * KC));
            for (pi, panel) in pb.chunks_exact_mut(NR * KC).take(panels).enumerate() {
                pack_b(panel, rhs, (pc, kc), (chunk0 + pi * NR, j1));
            }
            for (ai, apanel) in a_block.chunks_exact(MR * KC).enumerate() {
                let r0 = ai * MR;
                let rows = MR.min(m - r0);
                for (bi, bpanel) in pb.chunks_exact(NR * KC).take(panels).enumerate() {
                    let c0 = chunk0 + bi * NR;
                    let cols = NR.min(j1 - c0);
                    // SAFETY: avx512f is present (`available`); both panels hold `kc` steps.
                    unsafe { kernel(kc, apanel, bpanel, &mut tile) };
                    for (i, src) in tile.chunks_exact(NR).take(rows).enumerate() {
                        // SAFETY: row r0 + i < m and columns c0..c0 + cols <= j1 <= n lie
                        // inside `dst` (asserted in `product`); this thread alone writes
                        // columns j0..j1, so no other reference to them exists.
                        let row = unsafe {
                            std::slice::from_raw_parts_mut(
                                (out.0 as *mut f32).add((r0 + i) * dst_rs + c0),
                                cols,
                            )
                        };
                        if pc == 0 && !accumulate {
                            row.copy_from_slice(&src[..cols]);
                        } else {
                            for (d, v) in row.iter_mut().zip(src) {
                                *d += *v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Rows `pc..pc + kc` and columns `c0..c0 + 32` of `rhs` (zero past `c_end`) into `panel`
/// (`panel[p * 32 + j]`): column-contiguous operands (a weight read as its transpose) are
/// written column by column, row-contiguous ones copied row by row.
fn pack_b(
    panel: &mut [f32],
    rhs: View<'_, f32>,
    (pc, kc): (usize, usize),
    (c0, c_end): (usize, usize),
) {
    let cols = NR.min(c_end - c0);
    let (rows, _) = panel.as_chunks_mut::<NR>();
    let rows = &mut rows[..kc];
    if rhs.rs == 1 && cols == NR && (NR - 1) * rhs.cs <= i32::MAX as usize {
        // A full panel of a weight read as its transpose: for each `p`, two gathers of 16
        // values, one from each of 16 weight rows (each row's line serves 16 steps of `p`).
        let at = c0 * rhs.cs + pc;
        let last = at + (NR - 1) * rhs.cs + kc - 1;
        assert!(
            last < rhs.data.len(),
            "sgemm: the right operand is smaller than its shape"
        );
        // SAFETY: avx512f is present (`available`, checked by every caller); every gathered
        // index `at + j cs + p` (j < 32, p < kc) is at most `last`, inside the slice.
        #[expect(unsafe_code, reason = "AVX-512 gathers inside a checked extent")]
        unsafe {
            gather_panel(rows, &rhs.data[at..=last], rhs.cs)
        };
    } else if rhs.rs == 1 {
        for j in 0..NR {
            if j < cols {
                let at = (c0 + j) * rhs.cs + pc;
                for (dst, v) in rows.iter_mut().zip(&rhs.data[at..at + kc]) {
                    dst[j] = *v;
                }
            } else {
                rows.iter_mut().for_each(|dst| dst[j] = 0.0);
            }
        }
    } else if rhs.cs == 1 {
        for (p, dst) in rows.iter_mut().enumerate() {
            let at = (pc + p) * rhs.rs + c0;
            dst[..cols].copy_from_slice(&rhs.data[at..at + cols]);
            dst[cols..].fill(0.0);
        }
    } else {
        for (p, dst) in rows.iter_mut().enumerate() {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = if j < cols {
                    rhs.data[(pc + p) * rhs.rs + (c0 + j) * rhs.cs]
                } else {
                    0.0
                };
            }
        }
    }
}

/// `rows[p][j] = src[j * cs + p]` for `j < 32`, `p < rows.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[expect(unsafe_code, reason = "AVX-512 gathers and stores on checked extents")]
unsafe fn gather_panel(rows: &mut [[f32; NR]], src: &[f32], cs: usize) {
    use std::arch::x86_64::*;
    assert!(
        rows.is_empty() || (NR - 1) * cs + rows.len() - 1 < src.len(),
        "gather_panel: the source is smaller than the panel"
    );
    let cs = cs as i32;
    let lanes = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(cs),
    );
    let base = src.as_ptr();
    for (p, dst) in rows.iter_mut().enumerate() {
        // SAFETY: indices p + j cs for j < 32 stay inside `src` (asserted); `dst` is 32
        // values: two stores of 16.
        unsafe {
            let lo = _mm512_i32gather_ps::<4>(lanes, base.add(p));
            let hi = _mm512_i32gather_ps::<4>(lanes, base.add(p + 16 * cs as usize));
            _mm512_storeu_ps(dst.as_mut_ptr(), lo);
            _mm512_storeu_ps(dst.as_mut_ptr().add(16), hi);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn gather_panel(_: &mut [[f32; NR]], _: &[f32], _: usize) {
    unreachable!("available() is false off x86-64")
}

/// Columns `pc..pc + kc` and rows `r0..r0 + 12` of `lhs` (zero past `r_end`) into `panel`
/// (`panel[p * 12 + i]`).
fn pack_a(
    panel: &mut [f32],
    lhs: View<'_, f32>,
    (pc, kc): (usize, usize),
    (r0, r_end): (usize, usize),
) {
    let (cols, _) = panel.as_chunks_mut::<MR>();
    let cols = &mut cols[..kc];
    for i in 0..MR {
        let row = r0 + i;
        if row >= r_end {
            cols.iter_mut().for_each(|dst| dst[i] = 0.0);
        } else if lhs.cs == 1 {
            let at = row * lhs.rs + pc;
            for (dst, v) in cols.iter_mut().zip(&lhs.data[at..at + kc]) {
                dst[i] = *v;
            }
        } else {
            for (p, dst) in cols.iter_mut().enumerate() {
                dst[i] = lhs.data[row * lhs.rs + (pc + p) * lhs.cs];
            }
        }
    }
}

/// `tile (12 x 32) = a (kc x 12 packed) b (kc x 32 packed)`. Written on fixed-size array
/// chunks and `wrapping_add`, so the dev profile's bounds and pointer checks stay out of the
/// loop and the 24 accumulators stay in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[expect(unsafe_code, reason = "AVX-512 loads from fixed-size array chunks")]
unsafe fn kernel(kc: usize, a: &[f32], b: &[f32], tile: &mut [f32; MR * NR]) {
    use std::arch::x86_64::*;
    let (a, _) = a.as_chunks::<MR>();
    let (b, _) = b.as_chunks::<NR>();
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for (ap, bp) in a.iter().zip(b).take(kc) {
        // SAFETY: `bp` is 32 values: two loads of 16. Masked loads with every lane on are
        // plain loads, without the by-value copy (and its debug checks) `loadu` goes through.
        let (b0, b1) = unsafe {
            (
                _mm512_maskz_loadu_ps(0xffff, bp.as_ptr()),
                _mm512_maskz_loadu_ps(0xffff, bp.as_ptr().wrapping_add(16)),
            )
        };
        for (acc_i, &ai) in acc.iter_mut().zip(ap) {
            let ai = _mm512_set1_ps(ai);
            acc_i[0] = _mm512_fmadd_ps(ai, b0, acc_i[0]);
            acc_i[1] = _mm512_fmadd_ps(ai, b1, acc_i[1]);
        }
    }
    for (row, acc_i) in tile.as_chunks_mut::<NR>().0.iter_mut().zip(&acc) {
        // SAFETY: `row` is 32 values: two stores of 16.
        unsafe {
            _mm512_mask_storeu_ps(row.as_mut_ptr(), 0xffff, acc_i[0]);
            _mm512_mask_storeu_ps(row.as_mut_ptr().wrapping_add(16), 0xffff, acc_i[1]);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: usize, _: &[f32], _: &[f32], _: &mut [f32; MR * NR]) {
    unreachable!("available() is false off x86-64")
}

/// `out (m x n) = x (m x k) W^T` for `w (n x k)` row-major, a few rows: each weight row is
/// read once and multiplied by every input row, output columns split across the cores.
/// `None` when AVX-512 is not [`available`] or the extents do not match.
pub fn rows_times_weight(
    x: &[f32],
    w: &[f32],
    (m, n, k): (usize, usize, usize),
) -> Option<Vec<f32>> {
    if !available() || x.len() != m.checked_mul(k)? || w.len() != n.checked_mul(k)? {
        return None;
    }
    Some(per_weight_row(x, w, (m, n, k), dot))
}

/// `out (m x n)` with `out[i][j] = dot(x row i, w row j)`, weight rows split across the
/// cores (each weight row read once, for every input row); also the bfloat16 linear's
/// path without AMX.
pub(crate) fn per_weight_row<W: Sync>(
    x: &[f32],
    w: &[W],
    (m, n, k): (usize, usize, usize),
    dot: impl Fn(&[f32], &[W]) -> f32 + Sync,
) -> Vec<f32> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.div_ceil(64))
        .max(1);
    let per = n.div_ceil(threads);
    // Transposed (n x m) so each thread owns one contiguous slice.
    let mut out_t = vec![0f32; n * m];
    each_chunk_mut(&mut out_t, per * m, "a weight-row product", |t, band| {
        for (jj, o) in band.chunks_exact_mut(m).enumerate() {
            let j = t * per + jj;
            let row = &w[j * k..(j + 1) * k];
            for (i, oi) in o.iter_mut().enumerate() {
                *oi = dot(&x[i * k..(i + 1) * k], row);
            }
        }
    });
    if m == 1 {
        return out_t;
    }
    let mut out = vec![0f32; m * n];
    for j in 0..n {
        for i in 0..m {
            out[i * n + j] = out_t[j * m + i];
        }
    }
    out
}

/// A dot product, four vectors of 16 in flight.
#[expect(unsafe_code, reason = "AVX-512 dot product (see SAFETY)")]
fn dot(x: &[f32], w: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn inner(x: &[f32], w: &[f32]) -> f32 {
            use std::arch::x86_64::*;
            let n = x.len().min(w.len());
            let mut acc = [_mm512_setzero_ps(); 4];
            let mut i = 0;
            while i + 64 <= n {
                for (l, a) in acc.iter_mut().enumerate() {
                    // SAFETY: i + 16l + 16 <= n <= both lengths.
                    unsafe {
                        let xv = _mm512_maskz_loadu_ps(0xffff, x.as_ptr().wrapping_add(i + 16 * l));
                        let wv = _mm512_maskz_loadu_ps(0xffff, w.as_ptr().wrapping_add(i + 16 * l));
                        *a = _mm512_fmadd_ps(xv, wv, *a);
                    }
                }
                i += 64;
            }
            let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            let mut s = _mm512_reduce_add_ps(sum);
            while i < n {
                s += x[i] * w[i];
                i += 1;
            }
            s
        }
        // SAFETY: only called after `available()` (avx512f present).
        unsafe { inner(x, w) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        x.iter().zip(w).map(|(a, b)| a * b).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        crate::model::test_values::uniform(len, seed)
    }

    fn exact(x: &[f32], w: &[f32], i: usize, j: usize, k: usize) -> f64 {
        (0..k)
            .map(|l| f64::from(x[i * k + l]) * f64::from(w[j * k + l]))
            .sum()
    }

    /// Against float64 products, over panel, block and thread edges, for `x W^T` as the
    /// linear layers call it and for a strided left operand.
    #[test]
    fn products_equal_exact_products() {
        if !available() {
            eprintln!("no AVX-512 here: the kernels are not exercised");
            return;
        }
        for (m, n, k) in [
            (1, 1, 1),
            (5, 33, 7),
            (13, 65, 300),
            (300, 70, 513),
            (40, 1000, 64),
        ] {
            let x = values(m * k, 1);
            let w = values(n * k, 2);
            let mut got = vec![f32::NAN; m * (n + 3)];
            assert!(product(
                &mut got,
                n + 3,
                (m, n, k),
                View {
                    data: &x,
                    rs: k,
                    cs: 1
                },
                View {
                    data: &w,
                    rs: 1,
                    cs: k
                },
                false,
            ));
            let rows = rows_times_weight(&x, &w, (m, n, k)).expect("AVX-512");
            for i in 0..m {
                for j in 0..n {
                    let want = exact(&x, &w, i, j, k);
                    let tol = 1e-6 * k as f64;
                    let d = (f64::from(got[i * (n + 3) + j]) - want).abs();
                    assert!(d <= tol, "({m}, {n}, {k}) at ({i}, {j}): {d}");
                    let d = (f64::from(rows[i * n + j]) - want).abs();
                    assert!(d <= tol, "rows ({m}, {n}, {k}) at ({i}, {j}): {d}");
                }
                assert!(
                    got[i * (n + 3) + n..(i + 1) * (n + 3)]
                        .iter()
                        .all(|v| v.is_nan())
                );
            }
        }
    }
}
