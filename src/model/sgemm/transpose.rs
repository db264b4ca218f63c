//! Packing a weight read as its transpose on AVX2: the right-operand panel of `x W^T`
//! wants `panel[p][j] = W[c0 + j][pc + p]`, one value from each of `NR` weight rows per
//! step `p`. Written value by value that was a sixth of a real-size prompt pass on an AVX2
//! CPU (every weight is packed again on every call). Here eight steps of eight weight rows
//! are loaded as eight vectors (bfloat16 widened on the way: a zero-extend and a shift) and
//! transposed in registers (unpack, shuffle, lane permute: the classic 8 x 8 float
//! transpose), then stored as eight rows of eight panel columns.

use half::bf16;

use super::pack::Element;

/// `rows[p][j] = src[j * cs + p]` for `p < rows.len()`, `j < NR` (`NR` a multiple of 8),
/// widened to float32; a step count that is not a multiple of 8 finishes value by value.
///
/// # Panics
/// When `src` is shorter than the panel needs.
pub fn panel<const NR: usize, R: Element>(rows: &mut [[f32; NR]], src: &[R], cs: usize) {
    let Some(whole) = whole_steps::<NR>(rows.len(), cs, src.len()) else {
        return;
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; every load reads `src[j cs + p .. j cs + p + 8]` with `j < NR` and
        // `p + 8 <= whole <= kc`, inside the extent asserted above.
        #[expect(unsafe_code, reason = "AVX2 loads inside a checked extent")]
        unsafe {
            blocks_avx2(&mut rows[..whole], src, cs)
        };
    } else {
        scalar(&mut rows[..whole], src, cs, 0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    scalar(&mut rows[..whole], src, cs, 0);
    scalar(&mut rows[whole..], src, cs, whole);
}

/// The steps of a panel of `kc` in whole blocks of 8; `None` for no steps.
///
/// # Panics
/// When a source `len` long is shorter than `NR` rows `cs` apart of `kc` steps need.
fn whole_steps<const NR: usize>(kc: usize, cs: usize, len: usize) -> Option<usize> {
    if kc == 0 {
        return None;
    }
    assert!(
        NR.is_multiple_of(8) && (NR - 1) * cs + kc - 1 < len,
        "sgemm transpose: the source is smaller than the panel"
    );
    Some(kc - kc % 8)
}

/// `rows[i][j] = src[j * cs + p0 + i]`, value by value.
fn scalar<const NR: usize, R: Element>(rows: &mut [[f32; NR]], src: &[R], cs: usize, p0: usize) {
    for (i, row) in rows.iter_mut().enumerate() {
        for (j, d) in row.iter_mut().enumerate() {
            *d = src[j * cs + p0 + i].widen();
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[expect(unsafe_code, reason = "an unaligned AVX load the caller bounds")]
pub(super) unsafe fn load8_f32(at: *const f32) -> std::arch::x86_64::__m256 {
    // SAFETY: eight readable values (the caller's contract).
    unsafe { std::arch::x86_64::_mm256_loadu_ps(at) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[expect(unsafe_code, reason = "an unaligned SSE load the caller bounds")]
pub(super) unsafe fn load8_bf16(at: *const bf16) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // SAFETY: eight readable bfloat16 values, 16 bytes (the caller's contract).
    let halves = unsafe { _mm_loadu_si128(at.cast()) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(halves)))
}

/// Whole 8 x 8 blocks.
///
/// # Safety
/// The CPU has AVX2; `src[j cs + p]` is readable for `j < NR`, `p < rows.len()` (a
/// multiple of 8).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[expect(unsafe_code, reason = "AVX2 loads and stores on checked extents")]
unsafe fn blocks_avx2<const NR: usize, R: Element>(rows: &mut [[f32; NR]], src: &[R], cs: usize) {
    use std::arch::x86_64::*;
    let base = src.as_ptr();
    for (pb, block) in rows.chunks_exact_mut(8).enumerate() {
        for g in 0..NR / 8 {
            // SAFETY: row `8g + j` of the weight, steps `8 pb .. 8 pb + 8`: inside `src`
            // (the caller's contract).
            let v: [__m256; 8] =
                std::array::from_fn(|j| unsafe { R::load8(base.add((8 * g + j) * cs + 8 * pb)) });
            // Pairs, then quads, then lanes: t[p] holds step p of the eight rows.
            let a0 = _mm256_unpacklo_ps(v[0], v[1]);
            let a1 = _mm256_unpackhi_ps(v[0], v[1]);
            let a2 = _mm256_unpacklo_ps(v[2], v[3]);
            let a3 = _mm256_unpackhi_ps(v[2], v[3]);
            let a4 = _mm256_unpacklo_ps(v[4], v[5]);
            let a5 = _mm256_unpackhi_ps(v[4], v[5]);
            let a6 = _mm256_unpacklo_ps(v[6], v[7]);
            let a7 = _mm256_unpackhi_ps(v[6], v[7]);
            let b0 = _mm256_shuffle_ps::<0x44>(a0, a2);
            let b1 = _mm256_shuffle_ps::<0xEE>(a0, a2);
            let b2 = _mm256_shuffle_ps::<0x44>(a1, a3);
            let b3 = _mm256_shuffle_ps::<0xEE>(a1, a3);
            let b4 = _mm256_shuffle_ps::<0x44>(a4, a6);
            let b5 = _mm256_shuffle_ps::<0xEE>(a4, a6);
            let b6 = _mm256_shuffle_ps::<0x44>(a5, a7);
            let b7 = _mm256_shuffle_ps::<0xEE>(a5, a7);
            let t = [
                _mm256_permute2f128_ps::<0x20>(b0, b4),
                _mm256_permute2f128_ps::<0x20>(b1, b5),
                _mm256_permute2f128_ps::<0x20>(b2, b6),
                _mm256_permute2f128_ps::<0x20>(b3, b7),
                _mm256_permute2f128_ps::<0x31>(b0, b4),
                _mm256_permute2f128_ps::<0x31>(b1, b5),
                _mm256_permute2f128_ps::<0x31>(b2, b6),
                _mm256_permute2f128_ps::<0x31>(b3, b7),
            ];
            for (row, tp) in block.iter_mut().zip(t) {
                // SAFETY: columns 8g .. 8g + 8 of a row of NR values.
                unsafe { _mm256_storeu_ps(row.as_mut_ptr().add(8 * g), tp) };
            }
        }
    }
}

/// `rows[p][j] = src[j * cs + p]` for `p < rows.len()`, `j < NR` (`NR` a multiple of 8),
/// bfloat16 kept as it is: a bfloat16 weight packed at load (`packed.rs`). Eight steps of
/// eight rows at a time through SSE2's 16-bit transpose (unpacks of 16, 32 and 64 bits;
/// SSE2 is part of x86-64): value by value this was 3 ns a value, most of a bfloat16 load.
///
/// # Panics
/// When `src` is shorter than the panel needs.
pub fn panel_bf16<const NR: usize>(rows: &mut [[bf16; NR]], src: &[bf16], cs: usize) {
    let Some(whole) = whole_steps::<NR>(rows.len(), cs, src.len()) else {
        return;
    };
    #[cfg(target_arch = "x86_64")]
    for p0 in (0..whole).step_by(8) {
        for j0 in (0..NR).step_by(8) {
            // SAFETY: each load reads `src[(j0 + r) cs + p0 .. + 8]` with `j0 + r < NR` and
            // `p0 + 8 <= whole <= kc`, inside the extent asserted above; each store writes
            // `rows[p0 + c][j0 .. j0 + 8]`, inside `rows`.
            #[expect(unsafe_code, reason = "SSE2 loads and stores inside checked extents")]
            unsafe {
                block_8x8_sse2(rows, src, cs, (p0, j0))
            };
        }
    }
    let done = if cfg!(target_arch = "x86_64") {
        whole
    } else {
        0
    };
    for (p, row) in rows.iter_mut().enumerate().skip(done) {
        for (j, d) in row.iter_mut().enumerate() {
            *d = src[j * cs + p];
        }
    }
}

/// One 8 x 8 block of [`panel_bf16`] at steps `p0..p0 + 8`, columns `j0..j0 + 8`.
///
/// # Safety
/// Rows `j0..j0 + 8` of `src` (`cs` apart) hold values `p0..p0 + 8`; `rows` has rows
/// `p0..p0 + 8` and `j0 + 8 <= NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[expect(unsafe_code, reason = "SSE2 loads and stores on the caller's extents")]
unsafe fn block_8x8_sse2<const NR: usize>(
    rows: &mut [[bf16; NR]],
    src: &[bf16],
    cs: usize,
    (p0, j0): (usize, usize),
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract for every load.
    let a: [__m128i; 8] = std::array::from_fn(|r| unsafe {
        _mm_loadu_si128(src.as_ptr().add((j0 + r) * cs + p0).cast())
    });
    // Pairs of rows interleaved by 16 bits, then by 32, then by 64: column c of the block
    // ends up as vector c.
    let t: [__m128i; 8] = std::array::from_fn(|i| {
        let (x, y) = (a[2 * (i % 4)], a[2 * (i % 4) + 1]);
        if i < 4 {
            _mm_unpacklo_epi16(x, y)
        } else {
            _mm_unpackhi_epi16(x, y)
        }
    });
    // t[0..4]: columns 0-3 of row pairs (0,1), (2,3), (4,5), (6,7); t[4..8]: columns 4-7.
    let u: [__m128i; 8] = std::array::from_fn(|i| {
        let half = 4 * (i / 4);
        let (x, y) = (t[half + 2 * ((i % 4) / 2)], t[half + 2 * ((i % 4) / 2) + 1]);
        if i % 2 == 0 {
            _mm_unpacklo_epi32(x, y)
        } else {
            _mm_unpackhi_epi32(x, y)
        }
    });
    // u[4h + 2q + s]: rows 4q..4q + 4 of columns 4h + 2s, 4h + 2s + 1.
    for c in 0..8 {
        let (h, s, odd) = (c / 4, (c % 4) / 2, c % 2);
        let (x, y) = (u[4 * h + s], u[4 * h + 2 + s]);
        let v = if odd == 0 {
            _mm_unpacklo_epi64(x, y)
        } else {
            _mm_unpackhi_epi64(x, y)
        };
        // SAFETY: row p0 + c and columns j0..j0 + 8 lie inside `rows` (the caller's contract).
        unsafe { _mm_storeu_si128(rows[p0 + c].as_mut_ptr().add(j0).cast(), v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, for both element types (and bfloat16 kept as it is), step counts with and without a
    /// tail, and both panel widths.
    #[test]
    fn panels_equal_the_definition() {
        fn check<const NR: usize>(kc: usize, cs: usize) {
            let src: Vec<f32> = (0..(NR - 1) * cs + kc)
                .map(|i| i as f32 * 0.5 - 3.0)
                .collect();
            let src16: Vec<bf16> = src.iter().map(|v| bf16::from_f32(*v)).collect();
            let mut got = vec![[f32::NAN; NR]; kc];
            let mut got16 = got.clone();
            let mut kept16 = vec![[bf16::NAN; NR]; kc];
            panel(&mut got, &src, cs);
            panel(&mut got16, &src16, cs);
            panel_bf16(&mut kept16, &src16, cs);
            for p in 0..kc {
                for j in 0..NR {
                    assert_eq!(got[p][j], src[j * cs + p], "{NR} {kc} {cs} f32 ({p}, {j})");
                    assert_eq!(got16[p][j], src16[j * cs + p].to_f32(), "bf16 ({p}, {j})");
                    assert_eq!(kept16[p][j], src16[j * cs + p], "kept bf16 ({p}, {j})");
                }
            }
        }
        for (kc, cs) in [(1, 1), (8, 8), (13, 20), (256, 300), (64, 64)] {
            check::<16>(kc, cs);
            check::<32>(kc, cs);
        }
    }
}
