//! The tile instructions themselves (inline assembly: Rust's AMX intrinsics are
//! unstable): the tile configuration, one thread's tile state, a chunk of tile steps into
//! four float32 accumulators, the `k` tail, and rounding a tile's column to bfloat16.

use half::bf16;

use super::{BLOCK, K_STEP};

/// Each lane of `v` rounded to the nearest even bfloat16 (NaN kept, quieted), as `half`'s
/// `bf16::from_f32` rounds; the bits in the low half of each 32-bit lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn round_to_bf16(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    let bits = _mm512_castps_si512(v);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
    let rounded = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), lsb);
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    let quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x0040_0000));
    _mm512_srli_epi32::<16>(_mm512_mask_blend_epi32(nan, rounded, quiet))
}

/// `row` (a multiple of 32 values) rounded to bfloat16 into packed-row layout: value pair
/// `p` (two bfloat16, one 32-bit slot) at `dst[base + 32 p ..]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[expect(unsafe_code, reason = "AVX-512 loads and scatters on checked extents")]
pub(super) unsafe fn pack_row_f32(row: &[f32], dst: &mut [bf16], base: usize) {
    use std::arch::x86_64::*;
    let pairs = row.len() / 2;
    assert!(
        row.len().is_multiple_of(32) && (pairs == 0 || base + (pairs - 1) * 32 + 1 < dst.len()),
        "pack_row_f32: extents"
    );
    // Pair slots 16 apart in 32-bit units (32 bfloat16 = 64 bytes).
    let slots = _mm512_setr_epi32(
        0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240,
    );
    for (c, values) in row.chunks_exact(32).enumerate() {
        // SAFETY: `values` is 32 floats: two loads of 16. The scatter writes pairs
        // 16c .. 16c + 16, each inside `dst` (asserted above).
        unsafe {
            let lo = round_to_bf16(_mm512_loadu_ps(values.as_ptr()));
            let hi = round_to_bf16(_mm512_loadu_ps(values.as_ptr().add(16)));
            let pairs16 = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)),
                _mm512_cvtepi32_epi16(hi),
            );
            let at = dst.as_mut_ptr().add(base + c * 16 * 32).cast::<i32>();
            _mm512_i32scatter_epi32::<4>(at, slots, pairs16);
        }
    }
}

/// Column `q` of a 16 x 16 float32 tile (`tile[r * 16 + q]`, r = 0..16), each value rounded
/// to the nearest even bfloat16 (NaN kept, quieted), as `half`'s `bf16::from_f32` rounds:
/// one gather and a few vector operations, where a value at a time through `from_f32` was
/// two fifths of a prompt-sized product.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[expect(unsafe_code, reason = "an AVX-512 gather inside one 1 KiB tile")]
pub(super) unsafe fn tile_column_bf16(tile: &[f32; 256], q: usize) -> [u16; 16] {
    use std::arch::x86_64::*;
    assert!(q < 16);
    let offsets = _mm512_setr_epi32(
        0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240,
    );
    // SAFETY: offsets q + 16 r (r < 16) stay inside the 256-value tile.
    let v = unsafe { _mm512_i32gather_ps::<4>(offsets, tile.as_ptr().add(q)) };
    let high = round_to_bf16(v);
    let mut out = [0u16; 16];
    // SAFETY: 16 values of 16 bits: one 32-byte store into `out`.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), _mm512_cvtepi32_epi16(high)) };
    out
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn tile_column_bf16(_: &[f32; 256], _: usize) -> [u16; 16] {
    unreachable!("AMX is x86-64 only; available() is false elsewhere")
}

/// Four 16 x 16 float32 accumulator tiles, stored row after row.
#[repr(C, align(64))]
pub(super) struct AlignedTiles(pub(super) [f32; 4 * 256]);

/// The 64-byte tile configuration `LDTILECFG` reads (palette 1).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

impl TileConfig {
    /// tmm0-3: accumulators (16 x 16 f32); tmm4-5: weight rows (16 x `k_values`);
    /// tmm6-7: input pairs (`k_values / 2` x 16 pairs).
    fn new(k_values: usize) -> Self {
        let mut c = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb: [0; 16],
            rows: [0; 16],
        };
        for t in 0..4 {
            c.colsb[t] = 64;
            c.rows[t] = 16;
        }
        for t in 4..6 {
            c.colsb[t] = (2 * k_values) as u16;
            c.rows[t] = 16;
        }
        for t in 6..8 {
            c.colsb[t] = 64;
            c.rows[t] = (k_values / 2) as u8;
        }
        c
    }
}

/// This thread's tile state, configured for full steps and for the `k` tail; released on
/// drop.
pub(super) struct Tiles {
    full: TileConfig,
    tail: Option<TileConfig>,
}

#[cfg(target_arch = "x86_64")]
#[expect(
    unsafe_code,
    reason = "AMX instructions as inline assembly on checked extents (see SAFETY)"
)]
impl Tiles {
    pub(super) fn configure(tail_values: usize) -> Self {
        let full = TileConfig::new(K_STEP);
        // SAFETY: `available()` was true (the caller's gate), so the CPU has AMX and this
        // process may use tile state; the config is a valid palette-1 configuration.
        unsafe {
            std::arch::asm!("ldtilecfg [{0}]", in(reg) &full, options(nostack, readonly));
        }
        Tiles {
            full,
            tail: (tail_values > 0).then(|| TileConfig::new(tail_values)),
        }
    }

    /// `c` (+)= the 32 x 32 block `a (32 x k) · [tile0 tile1]` over full tile steps
    /// `s0..s1` of `k`, where `a` is 32 weight rows of `k` values and each tile holds 16
    /// input rows packed by [`pack_rows`]; the first chunk (`s0 == 0`) starts from zero.
    pub(super) fn chunk(
        &self,
        a: &[bf16],
        k: usize,
        (tile0, tile1): (&[bf16], &[bf16]),
        (s0, s1): (usize, usize),
        c: &mut AlignedTiles,
    ) {
        let k_pad = k.div_ceil(K_STEP) * K_STEP;
        assert!(
            s0 <= s1
                && s1 <= k / K_STEP
                && a.len() >= BLOCK * k
                && tile0.len() >= 16 * k_pad
                && tile1.len() >= 16 * k_pad
        );
        let a_stride = 2 * k;
        let off = s0 * K_STEP;
        // SAFETY: weight rows 0..16 and 16..32 of `a` at byte stride 2k: each step reads 64
        // bytes of each of 32 rows, from value `off` up to `s1 * 32 <= k` (asserted). Each
        // input tile is read 1024 bytes per step, up to `s1 * 1024 <= 32 k_pad` bytes. `c`
        // is 4 KiB, read (after the first chunk) and written in full.
        unsafe {
            let a0 = a.as_ptr().add(off);
            let a1 = a0.add(16 * k);
            std::arch::asm!(
                "test {first}, {first}",
                "jz 4f",
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "jmp 5f",
                "4:",
                "tileloadd tmm0, [{c} + {s64} * 1]",
                "tileloadd tmm1, [{c} + {s64} * 1 + 1024]",
                "tileloadd tmm2, [{c} + {s64} * 1 + 2048]",
                "tileloadd tmm3, [{c} + {s64} * 1 + 3072]",
                "5:",
                "test {steps}, {steps}",
                "jz 3f",
                "2:",
                "tileloadd tmm4, [{a0} + {astride} * 1]",
                "tileloadd tmm5, [{a1} + {astride} * 1]",
                "tileloadd tmm6, [{b0} + {s64} * 1]",
                "tileloadd tmm7, [{b1} + {s64} * 1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a0}, 64",
                "add {a1}, 64",
                "add {b0}, 1024",
                "add {b1}, 1024",
                "dec {steps}",
                "jnz 2b",
                "3:",
                "tilestored [{c} + {s64} * 1], tmm0",
                "tilestored [{c} + {s64} * 1 + 1024], tmm1",
                "tilestored [{c} + {s64} * 1 + 2048], tmm2",
                "tilestored [{c} + {s64} * 1 + 3072], tmm3",
                first = in(reg) usize::from(s0 == 0),
                steps = inout(reg) s1 - s0 => _,
                a0 = inout(reg) a0 => _,
                a1 = inout(reg) a1 => _,
                b0 = inout(reg) tile0.as_ptr().add(off * 16) => _,
                b1 = inout(reg) tile1.as_ptr().add(off * 16) => _,
                c = in(reg) c.0.as_mut_ptr(),
                astride = in(reg) a_stride,
                s64 = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    /// `c += ` the last `k % 32` values of `k` (nothing when `k` is a multiple of 32), after
    /// every [`Self::chunk`] of the full steps.
    pub(super) fn tail(
        &self,
        a: &[bf16],
        k: usize,
        (tile0, tile1): (&[bf16], &[bf16]),
        c: &mut AlignedTiles,
    ) {
        let Some(tail) = &self.tail else {
            return;
        };
        let off = (k / K_STEP) * K_STEP;
        let k_pad = k.div_ceil(K_STEP) * K_STEP;
        assert!(a.len() >= BLOCK * k && tile0.len() >= 16 * k_pad && tile1.len() >= 16 * k_pad);
        let a_stride = 2 * k;
        // SAFETY: the tail configuration has weight tiles of `k - off` values (reads end at
        // each row's end) and input tiles of `(k - off) / 2` pair rows (inside the packed,
        // zero-padded tile); the accumulators are reloaded from and stored back to `c` (4
        // KiB); the full configuration is restored at the end.
        unsafe {
            let a0 = a.as_ptr();
            std::arch::asm!(
                "ldtilecfg [{tail}]",
                "tileloadd tmm0, [{c} + {s64} * 1]",
                "tileloadd tmm1, [{c} + {s64} * 1 + 1024]",
                "tileloadd tmm2, [{c} + {s64} * 1 + 2048]",
                "tileloadd tmm3, [{c} + {s64} * 1 + 3072]",
                "tileloadd tmm4, [{a0} + {astride} * 1]",
                "tileloadd tmm5, [{a1} + {astride} * 1]",
                "tileloadd tmm6, [{b0} + {s64} * 1]",
                "tileloadd tmm7, [{b1} + {s64} * 1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "tilestored [{c} + {s64} * 1], tmm0",
                "tilestored [{c} + {s64} * 1 + 1024], tmm1",
                "tilestored [{c} + {s64} * 1 + 2048], tmm2",
                "tilestored [{c} + {s64} * 1 + 3072], tmm3",
                "ldtilecfg [{full}]",
                tail = in(reg) tail,
                full = in(reg) &self.full,
                c = in(reg) c.0.as_mut_ptr(),
                a0 = in(reg) a0.add(off),
                a1 = in(reg) a0.add(16 * k + off),
                b0 = in(reg) tile0.as_ptr().add(off * 16),
                b1 = in(reg) tile1.as_ptr().add(off * 16),
                astride = in(reg) a_stride,
                s64 = in(reg) 64usize,
                options(nostack),
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[expect(unsafe_code, reason = "TILERELEASE (see SAFETY)")]
impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: releases this thread's tile state, configured in `configure`.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Tiles {
    pub(super) fn configure(_: usize) -> Self {
        unreachable!("AMX is x86-64 only; available() is false elsewhere")
    }
    pub(super) fn chunk(
        &self,
        _: &[bf16],
        _: usize,
        _: (&[bf16], &[bf16]),
        _: (usize, usize),
        _: &mut AlignedTiles,
    ) {
    }
    pub(super) fn tail(&self, _: &[bf16], _: usize, _: (&[bf16], &[bf16]), _: &mut AlignedTiles) {}
}
