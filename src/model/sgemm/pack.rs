//! Packing the operands into the panels the register kernels read ([`super::kernels`]):
//! the left operand into `MR`-row panels (`panel[p * MR + i]`), the right one into
//! `NR`-column panels (`panel[p * NR + j]`), zero past the matrix's edge so every kernel
//! call computes a full tile.

use half::bf16;

use super::{Isa, transpose};
use crate::model::strided::View;

/// A right-operand value the panels take: float32 as it is, bfloat16 widened while packed
/// (a bfloat16 weight on a CPU without AMX, read at 2 bytes a value and never widened into
/// a copy of its own).
pub trait Element: Copy + Send + Sync {
    fn widen(self) -> f32;
    /// The values as float32, where they are (the AVX-512 gathers read those).
    fn as_f32(values: &[Self]) -> Option<&[f32]>;
    /// Eight values from `at`, widened.
    ///
    /// # Safety
    /// The CPU has AVX2; `at` points at eight readable values.
    #[cfg(target_arch = "x86_64")]
    #[expect(
        unsafe_code,
        reason = "a raw-pointer load whose bounds the caller checks"
    )]
    unsafe fn load8(at: *const Self) -> std::arch::x86_64::__m256;
}

impl Element for f32 {
    fn widen(self) -> f32 {
        self
    }
    fn as_f32(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }
    #[cfg(target_arch = "x86_64")]
    #[expect(unsafe_code, reason = "an AVX2 load the caller bounds")]
    unsafe fn load8(at: *const f32) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller's contract: AVX2, eight readable values.
        unsafe { transpose::load8_f32(at) }
    }
}

impl Element for bf16 {
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
    fn as_f32(_: &[bf16]) -> Option<&[f32]> {
        None
    }
    #[cfg(target_arch = "x86_64")]
    #[expect(unsafe_code, reason = "an AVX2 load the caller bounds")]
    unsafe fn load8(at: *const bf16) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller's contract: AVX2, eight readable values.
        unsafe { transpose::load8_bf16(at) }
    }
}

/// Columns `pc..pc + kc` and rows `r0..r0 + MR` of `lhs` (zero past `r_end`) into `panel`.
pub fn pack_a<const MR: usize>(
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

/// Rows `pc..pc + kc` and columns `c0..c0 + NR` of `rhs` (zero past `c_end`) into `panel`:
/// column-contiguous operands (a weight read as its transpose) are written column by column
/// (on AVX-512, full 32-column panels by gathers), row-contiguous ones copied row by row;
/// with `starts`, row `r` begins at `starts[r]` (and columns are contiguous).
pub fn pack_b<const NR: usize, R: Element>(
    panel: &mut [f32],
    rhs: View<'_, R>,
    starts: Option<&[usize]>,
    (pc, kc): (usize, usize),
    (c0, c_end): (usize, usize),
    isa: Isa,
) {
    let cols = NR.min(c_end - c0);
    let (rows, _) = panel.as_chunks_mut::<NR>();
    let rows = &mut rows[..kc];
    let gather = isa == Isa::Avx512 && NR == GATHER_NR;
    let as_f32 = R::as_f32(rhs.data);
    if let Some(starts) = starts {
        for (dst, start) in rows.iter_mut().zip(&starts[pc..pc + kc]) {
            let at = start + c0;
            for (d, v) in dst.iter_mut().zip(&rhs.data[at..at + cols]) {
                *d = v.widen();
            }
            dst[cols..].fill(0.0);
        }
    } else if let Some(data) = as_f32
        .filter(|_| gather && rhs.rs == 1 && cols == NR && (NR - 1) * rhs.cs <= i32::MAX as usize)
    {
        // A full panel of a weight read as its transpose: for each `p`, two gathers of 16
        // values, one from each of 16 weight rows (each row's line serves 16 steps of `p`).
        let at = c0 * rhs.cs + pc;
        let last = at + (NR - 1) * rhs.cs + kc - 1;
        assert!(
            last < data.len(),
            "sgemm: the right operand is smaller than its shape"
        );
        let (rows32, _) = rows.as_flattened_mut().as_chunks_mut::<GATHER_NR>();
        // SAFETY: avx512f is present (`isa` is Avx512 only where it is detected); every
        // gathered index `at + j cs + p` (j < 32, p < kc) is at most `last`, inside the slice.
        #[expect(unsafe_code, reason = "AVX-512 gathers inside a checked extent")]
        unsafe {
            gather_panel(rows32, &data[at..=last], rhs.cs)
        };
    } else if rhs.rs == 1 && cols == NR && NR.is_multiple_of(8) {
        // A full panel of a weight read as its transpose: 8 x 8 blocks transposed in
        // registers (`transpose`).
        let at = c0 * rhs.cs + pc;
        let Some(src) = rhs.data.get(at..) else {
            panic!("sgemm: the right operand is smaller than its shape")
        };
        transpose::panel(rows, src, rhs.cs);
    } else if rhs.rs == 1 {
        for j in 0..NR {
            if j < cols {
                let at = (c0 + j) * rhs.cs + pc;
                for (dst, v) in rows.iter_mut().zip(&rhs.data[at..at + kc]) {
                    dst[j] = v.widen();
                }
            } else {
                rows.iter_mut().for_each(|dst| dst[j] = 0.0);
            }
        }
    } else if rhs.cs == 1 {
        for (p, dst) in rows.iter_mut().enumerate() {
            let at = (pc + p) * rhs.rs + c0;
            for (d, v) in dst.iter_mut().zip(&rhs.data[at..at + cols]) {
                *d = v.widen();
            }
            dst[cols..].fill(0.0);
        }
    } else {
        for (p, dst) in rows.iter_mut().enumerate() {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = if j < cols {
                    rhs.data[(pc + p) * rhs.rs + (c0 + j) * rhs.cs].widen()
                } else {
                    0.0
                };
            }
        }
    }
}

/// The panel width the AVX-512 gathers fill (two gathers of 16).
const GATHER_NR: usize = 32;

/// `rows[p][j] = src[j * cs + p]` for `j < 32`, `p < rows.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[expect(unsafe_code, reason = "AVX-512 gathers and stores on checked extents")]
unsafe fn gather_panel(rows: &mut [[f32; GATHER_NR]], src: &[f32], cs: usize) {
    use std::arch::x86_64::*;
    assert!(
        rows.is_empty() || (GATHER_NR - 1) * cs + rows.len() - 1 < src.len(),
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
unsafe fn gather_panel(_: &mut [[f32; GATHER_NR]], _: &[f32], _: usize) {
    unreachable!("no instruction set is detected off x86-64")
}
