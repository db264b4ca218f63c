//! A few input rows (a generated token: one) times a weight packed at load
//! ([`super::PackedWeight`]): the decode step's products, which read every weight once
//! and so run at memory speed.
//!
//! A packed panel is `k` rows of `NR` output columns, contiguous, so the product streams
//! it front to back: for each `l`, the panel's row `l` (two vectors) times the broadcast
//! `x[i][l]` of each input row, accumulated in registers. One input row keeps four `l`
//! steps (eight accumulators) in flight so the adds' latency does not bound it; the panels
//! are split across the cores in contiguous runs. This is why the packed layout can serve
//! both the prompt pass (the blocked kernels, no per-call packing) and the tokens: packing
//! Gemma2 at load had made tokens 25% slower while they went through the blocked kernels,
//! which compute `MR` rows for one.

#![expect(
    unsafe_code,
    reason = "SIMD loads on fixed-size array chunks (see SAFETY)"
)]

use half::bf16;

use super::Isa;
use super::packed::{PackedWeight, PanelSlice};
use crate::util::parallel::each_chunk_mut;

/// The most input rows one pass takes.
pub const MAX_ROWS: usize = 4;

/// `x (m x k, row-major) W^T (+ bias)` for `1 <= m <= MAX_ROWS`; `None` when the shapes
/// do not match the packing or the kernels do not run here.
pub fn rows_times_packed(
    x: &[f32],
    m: usize,
    w: &PackedWeight,
    bias: Option<&[f32]>,
) -> Option<Vec<f32>> {
    let (n, k, nr) = (w.n, w.k, w.nr);
    if !(1..=MAX_ROWS).contains(&m)
        || x.len() != m.checked_mul(k)?
        || bias.is_some_and(|b| b.len() != n)
        || super::isa()? != w.isa
    {
        return None;
    }
    let panels = n.div_ceil(nr);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(panels.div_ceil(8))
        .max(1);
    let per = panels.div_ceil(threads);
    // Panel-major tiles (`m x nr` each), so each thread owns one contiguous slice.
    let mut tiles = vec![0f32; panels * m * nr];
    each_chunk_mut(
        &mut tiles,
        per * m * nr,
        "a packed weight-row product",
        |t, run| {
            for (i, tile) in run.chunks_exact_mut(m * nr).enumerate() {
                let panel = w.panel(t * per + i);
                panel_times_rows(w.isa, m, x, panel, tile);
            }
        },
    );
    let mut out = vec![0f32; m * n];
    for (p, tile) in tiles.chunks_exact(m * nr).enumerate() {
        let j0 = p * nr;
        let cols = nr.min(n - j0);
        for (i, row) in tile.chunks_exact(nr).enumerate() {
            let dst = &mut out[i * n + j0..i * n + j0 + cols];
            dst.copy_from_slice(&row[..cols]);
            if let Some(b) = bias {
                dst.iter_mut().zip(&b[j0..]).for_each(|(o, b)| *o += *b);
            }
        }
    }
    Some(out)
}

/// A panel value the kernels widen as they load it. Masked loads with every lane on, as in
/// the blocked kernels (`kernels.rs`): `loadu`'s by-value copy and its debug-build check
/// made these loops 1.2-1.8x slower for one row.
trait Lanes: Copy {
    /// Eight values from `at`, widened.
    ///
    /// # Safety
    /// The CPU has AVX2; `at` points at eight readable values.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(at: *const Self) -> std::arch::x86_64::__m256;
    /// Sixteen values from `at`, widened.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `at` points at sixteen readable values.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(at: *const Self) -> std::arch::x86_64::__m512;
}

#[cfg(target_arch = "x86_64")]
impl Lanes for f32 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load8(at: *const f32) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract: eight readable values.
        unsafe { _mm256_maskload_ps(at, _mm256_set1_epi32(-1)) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16(at: *const f32) -> std::arch::x86_64::__m512 {
        // SAFETY: the caller's contract: sixteen readable values.
        unsafe { std::arch::x86_64::_mm512_maskz_loadu_ps(0xffff, at) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for bf16 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load8(at: *const bf16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract: eight readable bfloat16 values, 16 bytes.
        let v = unsafe { _mm_maskload_epi32(at.cast(), _mm_set1_epi32(-1)) };
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(v)))
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16(at: *const bf16) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract: sixteen readable bfloat16 values, 32 bytes.
        let v = unsafe { _mm256_maskload_epi32(at.cast(), _mm256_set1_epi32(-1)) };
        _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(v)))
    }
}

/// `tile (m x nr) = x (m x k) panel (k x nr)` on the kernel of `isa` (detected here).
fn panel_times_rows(isa: Isa, m: usize, x: &[f32], panel: PanelSlice<'_>, tile: &mut [f32]) {
    match panel {
        PanelSlice::F32(panel) => rows_on::<f32>(isa, m, x, panel, tile),
        PanelSlice::Bf16(panel) => rows_on::<bf16>(isa, m, x, panel, tile),
    }
}

fn rows_on<E: Lanes>(isa: Isa, m: usize, x: &[f32], panel: &[E], tile: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `isa` is only ever an instruction set detected here.
            unsafe {
                match m {
                    1 => panel_512::<E, 1, 4>(x, panel, tile),
                    2 => panel_512::<E, 2, 2>(x, panel, tile),
                    3 => panel_512::<E, 3, 1>(x, panel, tile),
                    _ => panel_512::<E, 4, 1>(x, panel, tile),
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: as above.
            unsafe {
                match m {
                    1 => panel_256::<E, 1, 4>(x, panel, tile),
                    2 => panel_256::<E, 2, 2>(x, panel, tile),
                    3 => panel_256::<E, 3, 1>(x, panel, tile),
                    _ => panel_256::<E, 4, 1>(x, panel, tile),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("no kernels off x86-64"),
    }
}

/// `tile (M x 16) = x (M x k) panel (k x 16)`, `U` steps of `l` in flight.
///
/// # Safety
/// The CPU has `avx2` and `fma`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_256<E: Lanes, const M: usize, const U: usize>(
    x: &[f32],
    panel: &[E],
    tile: &mut [f32],
) {
    use std::arch::x86_64::*;
    const NR: usize = 16;
    let all = _mm256_set1_epi32(-1);
    let (rows, _) = panel.as_chunks::<NR>();
    let k = rows.len();
    let load = |row: &[E; NR]| {
        // SAFETY: `row` is 16 values: two of 8.
        unsafe {
            (
                E::load8(row.as_ptr()),
                E::load8(row.as_ptr().wrapping_add(8)),
            )
        }
    };
    let mut acc = [[[_mm256_setzero_ps(); 2]; M]; U];
    let steps = k / U;
    for s in 0..steps {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            let l = s * U + u;
            let (lo, hi) = load(&rows[l]);
            for (i, a) in acc_u.iter_mut().enumerate() {
                let xv = _mm256_set1_ps(x[i * k + l]);
                a[0] = _mm256_fmadd_ps(xv, lo, a[0]);
                a[1] = _mm256_fmadd_ps(xv, hi, a[1]);
            }
        }
    }
    for (l, row) in rows.iter().enumerate().skip(steps * U) {
        let (lo, hi) = load(row);
        for (i, a) in acc[0].iter_mut().enumerate() {
            let xv = _mm256_set1_ps(x[i * k + l]);
            a[0] = _mm256_fmadd_ps(xv, lo, a[0]);
            a[1] = _mm256_fmadd_ps(xv, hi, a[1]);
        }
    }
    for (i, out) in tile.chunks_exact_mut(NR).take(M).enumerate() {
        let (mut lo, mut hi) = (acc[0][i][0], acc[0][i][1]);
        for acc_u in &acc[1..] {
            lo = _mm256_add_ps(lo, acc_u[i][0]);
            hi = _mm256_add_ps(hi, acc_u[i][1]);
        }
        // SAFETY: `out` is 16 writable values: two of 8.
        unsafe {
            _mm256_maskstore_ps(out.as_mut_ptr(), all, lo);
            _mm256_maskstore_ps(out.as_mut_ptr().wrapping_add(8), all, hi);
        }
    }
}

/// `tile (M x 32) = x (M x k) panel (k x 32)`, `U` steps of `l` in flight.
///
/// # Safety
/// The CPU has `avx512f`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_512<E: Lanes, const M: usize, const U: usize>(
    x: &[f32],
    panel: &[E],
    tile: &mut [f32],
) {
    use std::arch::x86_64::*;
    const NR: usize = 32;
    let (rows, _) = panel.as_chunks::<NR>();
    let k = rows.len();
    let load = |row: &[E; NR]| {
        // SAFETY: `row` is 32 values: two of 16.
        unsafe {
            (
                E::load16(row.as_ptr()),
                E::load16(row.as_ptr().wrapping_add(16)),
            )
        }
    };
    let mut acc = [[[_mm512_setzero_ps(); 2]; M]; U];
    let steps = k / U;
    for s in 0..steps {
        for (u, acc_u) in acc.iter_mut().enumerate() {
            let l = s * U + u;
            let (lo, hi) = load(&rows[l]);
            for (i, a) in acc_u.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(x[i * k + l]);
                a[0] = _mm512_fmadd_ps(xv, lo, a[0]);
                a[1] = _mm512_fmadd_ps(xv, hi, a[1]);
            }
        }
    }
    for (l, row) in rows.iter().enumerate().skip(steps * U) {
        let (lo, hi) = load(row);
        for (i, a) in acc[0].iter_mut().enumerate() {
            let xv = _mm512_set1_ps(x[i * k + l]);
            a[0] = _mm512_fmadd_ps(xv, lo, a[0]);
            a[1] = _mm512_fmadd_ps(xv, hi, a[1]);
        }
    }
    for (i, out) in tile.chunks_exact_mut(NR).take(M).enumerate() {
        let (mut lo, mut hi) = (acc[0][i][0], acc[0][i][1]);
        for acc_u in &acc[1..] {
            lo = _mm512_add_ps(lo, acc_u[i][0]);
            hi = _mm512_add_ps(hi, acc_u[i][1]);
        }
        // SAFETY: `out` is 32 writable values: two of 16.
        unsafe {
            _mm512_mask_storeu_ps(out.as_mut_ptr(), 0xffff, lo);
            _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(16), 0xffff, hi);
        }
    }
}
