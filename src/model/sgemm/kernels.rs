//! The register kernels and dot products behind [`super`], one per instruction set:
//!
//! - AVX-512 (`avx512f`): a 12 x 32 tile in 24 accumulators of 16 lanes;
//! - AVX2 with FMA (every x86-64 CPU since Haswell and Zen 1, including the Intel desktop
//!   and laptop parts without AVX-512): a 6 x 16 tile in 12 accumulators of 8 lanes, the
//!   shape of BLIS's Haswell kernel, which leaves three of the 16 registers for the two
//!   right-panel vectors and the broadcast left value.
//!
//! Each kernel multiplies one packed left panel (`kc` x MR, `a[p * MR + i]`) by one packed
//! right panel (`kc` x NR, `b[p * NR + j]`) into an MR x NR tile of the output, written
//! or added to in place (a full tile: no tile buffer and no separate pass to add it; the
//! edges go through a buffer, [`super::band`]). They are
//! written on fixed-size array chunks, so the bounds checks stay out of the loop, and load
//! through masked loads with every lane on: `loadu` goes through a by-value copy whose
//! debug-build overlap check (the dev profile keeps debug assertions) took the registers
//! the accumulators need, so they spilled (the AVX2 kernel ran at two thirds of `gemm`'s
//! speed that way).

#![expect(
    unsafe_code,
    reason = "SIMD loads and stores on fixed-size array chunks (see SAFETY)"
)]

/// The AVX-512 tile: rows and columns.
pub const MR_512: usize = 12;
pub const NR_512: usize = 32;
/// The AVX2 tile: rows and columns.
pub const MR_256: usize = 6;
pub const NR_256: usize = 16;

/// `c (12 x 32, row stride c_rs) = a b`, or `+= a b` with `add`.
///
/// # Safety
/// The CPU has `avx512f`; `a` holds `kc * 12` values, `b` `kc * 32`; `c` points at 12 rows
/// of 32 writable values `c_rs` apart that nothing else references.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_512(kc: usize, a: &[f32], b: &[f32], c: *mut f32, c_rs: usize, add: bool) {
    use std::arch::x86_64::*;
    let (a, _) = a.as_chunks::<MR_512>();
    let (b, _) = b.as_chunks::<NR_512>();
    let mut acc = [[_mm512_setzero_ps(); 2]; MR_512];
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
    for (i, acc_i) in acc.iter().enumerate() {
        let row = c.wrapping_add(i * c_rs);
        // SAFETY: row i is 32 writable values (the caller's contract): two of 16.
        unsafe {
            let (mut lo, mut hi) = (acc_i[0], acc_i[1]);
            if add {
                lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(0xffff, row));
                hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(0xffff, row.wrapping_add(16)));
            }
            _mm512_mask_storeu_ps(row, 0xffff, lo);
            _mm512_mask_storeu_ps(row.wrapping_add(16), 0xffff, hi);
        }
    }
}

/// `c (6 x 16, row stride c_rs) = a b`, or `+= a b` with `add`.
///
/// # Safety
/// The CPU has `avx2` and `fma`; `a` holds `kc * 6` values, `b` `kc * 16`; `c` points at 6
/// rows of 16 writable values `c_rs` apart that nothing else references.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kernel_256(kc: usize, a: &[f32], b: &[f32], c: *mut f32, c_rs: usize, add: bool) {
    use std::arch::x86_64::*;
    let (a, _) = a.as_chunks::<MR_256>();
    let (b, _) = b.as_chunks::<NR_256>();
    // Both cut to the steps taken, so the loop has one counter and one branch.
    let steps = kc.min(a.len()).min(b.len());
    let (a, b) = (&a[..steps], &b[..steps]);
    let all = _mm256_set1_epi32(-1);
    let mut acc = [[_mm256_setzero_ps(); 2]; MR_256];
    /// One `k` step: a row of the right panel times each left value, into the accumulators.
    /// Always inlined, so it takes this kernel's features: as a `target_feature` function
    /// of its own it was not inlined and the kernel fell from 176 to 163 GFLOPS.
    ///
    /// # Safety
    /// The CPU has `avx2` and `fma`.
    #[inline(always)]
    unsafe fn step(acc: &mut [[__m256; 2]; MR_256], ap: &[f32; MR_256], bp: &[f32; NR_256]) {
        // SAFETY: the caller's contract (AVX2 and FMA); `bp` is 16 values: two loads of 8,
        // masked with every lane on, as in the AVX-512 kernel (see the module docs).
        unsafe {
            let all = _mm256_set1_epi32(-1);
            let b0 = _mm256_maskload_ps(bp.as_ptr(), all);
            let b1 = _mm256_maskload_ps(bp.as_ptr().wrapping_add(8), all);
            for (acc_i, &ai) in acc.iter_mut().zip(ap) {
                let ai = _mm256_set1_ps(ai);
                acc_i[0] = _mm256_fmadd_ps(ai, b0, acc_i[0]);
                acc_i[1] = _mm256_fmadd_ps(ai, b1, acc_i[1]);
            }
        }
    }
    // Four steps an iteration: less loop overhead per 12 multiply-adds.
    let (a4, a_rest) = a.as_chunks::<4>();
    let (b4, b_rest) = b.as_chunks::<4>();
    for (ap, bp) in a4.iter().zip(b4) {
        for (ap, bp) in ap.iter().zip(bp) {
            // SAFETY: this function's contract: AVX2 and FMA.
            unsafe { step(&mut acc, ap, bp) };
        }
    }
    for (ap, bp) in a_rest.iter().zip(b_rest) {
        // SAFETY: as above.
        unsafe { step(&mut acc, ap, bp) };
    }
    for (i, acc_i) in acc.iter().enumerate() {
        let row = c.wrapping_add(i * c_rs);
        // SAFETY: row i is 16 writable values (the caller's contract): two of 8.
        unsafe {
            let (mut lo, mut hi) = (acc_i[0], acc_i[1]);
            if add {
                lo = _mm256_add_ps(lo, _mm256_maskload_ps(row, all));
                hi = _mm256_add_ps(hi, _mm256_maskload_ps(row.wrapping_add(8), all));
            }
            _mm256_maskstore_ps(row, all, lo);
            _mm256_maskstore_ps(row.wrapping_add(8), all, hi);
        }
    }
}

/// A dot product, four vectors of 16 in flight.
///
/// # Safety
/// The CPU has `avx512f`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_512(x: &[f32], w: &[f32]) -> f32 {
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

/// A dot product, four vectors of 8 in flight.
///
/// # Safety
/// The CPU has `avx2` and `fma`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_256(x: &[f32], w: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = x.len().min(w.len());
    let all = _mm256_set1_epi32(-1);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (l, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8l + 8 <= n <= both lengths.
            unsafe {
                let xv = _mm256_maskload_ps(x.as_ptr().wrapping_add(i + 8 * l), all);
                let wv = _mm256_maskload_ps(w.as_ptr().wrapping_add(i + 8 * l), all);
                *a = _mm256_fmadd_ps(xv, wv, *a);
            }
        }
        i += 32;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` is 8 values.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    let mut s: f32 = lanes.iter().sum();
    while i < n {
        s += x[i] * w[i];
        i += 1;
    }
    s
}
