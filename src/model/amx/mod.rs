//! bfloat16 matrix products on Intel AMX tiles (Sapphire Rapids and later), the unit
//! PyTorch's oneDNN uses for CPU bfloat16: what makes `--dtype bf16` faster than float32 on
//! the CPU instead of slower.
//!
//! How: `Y = X W^T` is computed as its transpose, `Y^T = W X^T`, so the weight (`n x k`,
//! row-major as checkpoints store it) is the tile multiply's left operand exactly as it lies
//! in memory (16 rows x 32 values per tile load, no repacking, read once per 32-row block).
//! Only `X` (a prompt's rows, small) is repacked per call, on all cores, into the
//! pair-interleaved layout the right operand needs, rounded to bfloat16 on the way when it
//! comes in float32. One step multiplies a 32 x 32 block of `Y^T` (four accumulator tiles)
//! by 32 values of `k`, 32 steps at a time for every input block while that piece of the
//! weight is in cache; products accumulate in float32 (`TDPBF16PS`) and are rounded once to
//! bfloat16, as PyTorch's CPU bfloat16 linear does, sixteen at a time (a gather down a
//! tile's column transposes it), and written straight into the output, as bfloat16 or
//! widened back to float32. A `k` that is not a multiple of 32 finishes with a shorter tile
//! configuration; an `n` that is not a multiple of 32 (the vocabulary) has its last rows
//! copied into a zero-padded block.
//!
//! Rust's AMX intrinsics are unstable, so the instructions are inline assembly. Linux hands
//! a process the tile state only after `arch_prctl(ARCH_REQ_XCOMP_PERM)`, asked once in
//! [`available`]; without AMX, or with `SPATIALSCOPE_NO_AMX=1` (same-run comparisons), the
//! callers keep their AVX2 paths.

use std::sync::OnceLock;

use half::bf16;

use crate::util::parallel::each_chunk_mut;

mod tiles;
use tiles::{AlignedTiles, Tiles, tile_column_bf16};

/// Whether the AMX path can run here (CPU, kernel permission, not switched off).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::env::var_os("SPATIALSCOPE_NO_AMX").is_none() && detect())
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[expect(unsafe_code, reason = "the arch_prctl system call (see SAFETY)")]
fn detect() -> bool {
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    let amx_bf16 = leaf7.edx & (1 << 22) != 0;
    let amx_tile = leaf7.edx & (1 << 24) != 0;
    if !(amx_bf16 && amx_tile) {
        return false;
    }
    const ARCH_GET_XCOMP_PERM: libc::c_long = 0x1022;
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these codes reads or sets the process's permitted extended
    // state; the pointer argument of GET points at a live u64.
    unsafe {
        if libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) != 0
        {
            return false;
        }
        let mut permitted: u64 = 0;
        if libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_GET_XCOMP_PERM,
            &mut permitted as *mut u64,
        ) != 0
        {
            return false;
        }
        permitted & (1 << XFEATURE_XTILEDATA) != 0
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// Values of `k` one tile step consumes.
const K_STEP: usize = 32;
/// Rows of `Y^T` (weight rows) and columns (input rows) per block.
const BLOCK: usize = 32;

/// An input value as the tiles take it: bfloat16 as it is, float32 rounded to nearest even
/// (what a `to_dtype(BF16)` before the product did).
pub trait Bf16In: Copy + Sync + Sized {
    fn to_bf16(self) -> bf16;

    /// `row` into `dst` as one packed row: value pair `p` at `base + 32 p`.
    fn pack_row(row: &[Self], dst: &mut [bf16], base: usize) {
        pack_pairs(row, dst, base);
    }
}

/// `row` into `dst` one value at a time: value pair `p` at `base + 32 p`.
fn pack_pairs<X: Bf16In>(row: &[X], dst: &mut [bf16], base: usize) {
    for (p, pair) in row.chunks(2).enumerate() {
        let at = base + p * 32;
        for (d, v) in dst[at..at + pair.len()].iter_mut().zip(pair) {
            *d = v.to_bf16();
        }
    }
}

impl Bf16In for bf16 {
    fn to_bf16(self) -> bf16 {
        self
    }
}

impl Bf16In for f32 {
    fn to_bf16(self) -> bf16 {
        bf16::from_f32(self)
    }

    /// 32 values at a time on AVX-512 (AMX implies it): rounded as `to_bf16` rounds (see
    /// `tiles::round_to_bf16`), paired, and scattered to their 16 pair slots; the last
    /// `k % 32` values one by one.
    fn pack_row(row: &[f32], dst: &mut [bf16], base: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            let whole = row.len() / 32 * 32;
            if whole > 0 && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F is present; `pack_row_f32` checks its extents.
                #[expect(unsafe_code, reason = "the AVX-512 packer")]
                unsafe {
                    tiles::pack_row_f32(&row[..whole], dst, base)
                };
                pack_pairs(&row[whole..], dst, base + whole / 2 * 32);
                return;
            }
        }
        pack_pairs(row, dst, base);
    }
}

/// An output value: the float32 sum rounded once to bfloat16, kept as bfloat16 or widened
/// back to float32 (the float32-activation path, without a conversion pass afterwards).
pub trait Bf16Out: Copy + Send + Sync + Default {
    /// The value of bfloat16 bits `b`.
    fn from_bf16_bits(b: u16) -> Self;
}

impl Bf16Out for bf16 {
    fn from_bf16_bits(b: u16) -> Self {
        bf16::from_bits(b)
    }
}

impl Bf16Out for f32 {
    fn from_bf16_bits(b: u16) -> Self {
        f32::from_bits(u32::from(b) << 16)
    }
}

/// The output's address as threads share it (an integer, so it crosses threads); each
/// thread writes its own columns.
#[derive(Clone, Copy)]
struct Out(usize);

/// `X (m x k) W^T` (`m x n`, row-major), accumulated in float32 and rounded once to
/// bfloat16, for `x` rounded to bfloat16 and bfloat16 `w (n x k)`. `None` when the AMX path
/// cannot take it (not [`available`], odd `k`, or extents that do not match), so the caller
/// falls back.
pub fn matmul_bf16<X: Bf16In, Y: Bf16Out>(
    x: &[X],
    w: &[bf16],
    m: usize,
    n: usize,
    k: usize,
) -> Option<Vec<Y>> {
    if !available() || !k.is_multiple_of(2) || m == 0 || n == 0 || k == 0 {
        return None;
    }
    if x.len() != m.checked_mul(k)? || w.len() != n.checked_mul(k)? {
        return None;
    }
    let m_pad = m.div_ceil(BLOCK) * BLOCK;
    let k_pad = k.div_ceil(K_STEP) * K_STEP;
    let packed = pack_rows(x, m, k, m_pad, k_pad);
    let n_blocks = n.div_ceil(BLOCK);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n_blocks);
    let per = n_blocks.div_ceil(threads);
    let mut y = vec![Y::default(); m * n];
    let out = Out(y.as_mut_ptr() as usize);
    // Per thread, its columns of Y (whole blocks of 32 weight rows) for every input row,
    // written in place.
    std::thread::scope(|s| {
        for t in 0..threads {
            let first = t * per;
            let count = per.min(n_blocks.saturating_sub(first));
            if count == 0 {
                continue;
            }
            let packed = &packed;
            s.spawn(move || {
                let out = out;
                run_band::<Y>(w, packed, (first, count), (m, n, k), m_pad, out);
            });
        }
    });
    Some(y)
}

/// `x` (m x k) rounded to bfloat16, into 16-column tiles of pair-interleaved rows: tile `t`
/// holds input rows `16t..16t+16`, and its row `p` is `[x[r][2p], x[r][2p+1]]` for those 16
/// rows `r`, zero-padded to `m_pad` rows and `k_pad` values. Blocks of 32 rows are packed
/// on all cores (on one, packing and rounding were a tenth of a prompt pass).
fn pack_rows<X: Bf16In>(x: &[X], m: usize, k: usize, m_pad: usize, k_pad: usize) -> Vec<bf16> {
    let mut out = vec![bf16::ZERO; m_pad * k_pad];
    let blocks = m_pad / BLOCK;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per_blocks = blocks
        .div_ceil(threads)
        .max((1 << 16) / (BLOCK * k_pad))
        .max(1);
    each_chunk_mut(
        &mut out,
        per_blocks * BLOCK * k_pad,
        "packing rows",
        |c, dst| {
            let r0 = c * per_blocks * BLOCK;
            let rows = (dst.len() / k_pad).min(m.saturating_sub(r0));
            for (i, row) in x[r0 * k..(r0 + rows) * k].chunks_exact(k).enumerate() {
                X::pack_row(row, dst, (i / 16) * k_pad * 16 + (i % 16) * 2);
            }
        },
    );
    out
}

/// Full tile steps of `k` per chunk: a chunk of the weight block (32 rows x 1024 values,
/// 64 KiB) meets every input block while it is in cache; the accumulators go to memory
/// between chunks. (Measured, `benches/bf16_linear.rs`: taking the input `k` range by `k`
/// range across all weight blocks, so a wide input stays in L2, and prefetching the next
/// weight chunk were both slower.)
const CHUNK_STEPS: usize = 32;

/// One thread's columns of `Y`: weight rows `32 * first ..` for `count` blocks, every input
/// row, written into `out` (`m x n`).
#[expect(
    unsafe_code,
    reason = "a thread's own columns of the output (see SAFETY)"
)]
fn run_band<Y: Bf16Out>(
    w: &[bf16],
    packed: &[bf16],
    (first, count): (usize, usize),
    (m, n, k): (usize, usize, usize),
    m_pad: usize,
    out: Out,
) {
    let k_pad = k.div_ceil(K_STEP) * K_STEP;
    let steps = k / K_STEP;
    let tiles = Tiles::configure(k % K_STEP);
    let mut padded: Vec<bf16> = Vec::new();
    let input_blocks = m_pad / BLOCK;
    let mut acc: Vec<AlignedTiles> = (0..input_blocks)
        .map(|_| AlignedTiles([0f32; 4 * 256]))
        .collect();
    for b in 0..count {
        let n0 = (first + b) * BLOCK;
        let rows = BLOCK.min(n - n0);
        // The last block of a width that is not a multiple of 32: zero-padded copy.
        let a: &[bf16] = if rows < BLOCK {
            padded.clear();
            padded.extend_from_slice(&w[n0 * k..(n0 + rows) * k]);
            padded.resize(BLOCK * k, bf16::ZERO);
            &padded
        } else {
            &w[n0 * k..(n0 + BLOCK) * k]
        };
        let mut s0 = 0;
        loop {
            let s1 = (s0 + CHUNK_STEPS).min(steps);
            for (mp, c) in acc.iter_mut().enumerate() {
                let tile0 = &packed[2 * mp * k_pad * 16..(2 * mp + 1) * k_pad * 16];
                let tile1 = &packed[(2 * mp + 1) * k_pad * 16..(2 * mp + 2) * k_pad * 16];
                tiles.chunk(a, k, (tile0, tile1), (s0, s1), c);
                if s1 == steps {
                    tiles.tail(a, k, (tile0, tile1), c);
                }
            }
            if s1 == steps {
                break;
            }
            s0 = s1;
        }
        for (mp, c) in acc.iter().enumerate() {
            // Accumulator tile (i, j) holds Y^T for weight rows n0 + 16i + r and input
            // rows 32mp + 16j + q at [r][q]: written transposed, 16 columns of Y at a
            // time.
            for (ti, tile) in c.0.chunks_exact(256).enumerate() {
                let (i, j) = (ti / 2, ti % 2);
                let w_rows = 16.min(rows.saturating_sub(16 * i));
                if w_rows == 0 {
                    continue;
                }
                let tile: &[f32; 256] = tile.try_into().expect("256-value tiles");
                for q in 0..16 {
                    let row = BLOCK * mp + 16 * j + q;
                    if row >= m {
                        break;
                    }
                    // SAFETY: AMX implies AVX-512F (Sapphire Rapids and later).
                    let bits = unsafe { tile_column_bf16(tile, q) };
                    // SAFETY: row < m and columns n0 + 16i .. + w_rows <= n lie inside
                    // the caller's m x n output; this thread alone writes the columns
                    // of its blocks, so no other reference to them exists.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            (out.0 as *mut Y).add(row * n + n0 + 16 * i),
                            w_rows,
                        )
                    };
                    for (d, b) in dst.iter_mut().zip(bits) {
                        *d = Y::from_bf16_bits(b);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> Vec<bf16> {
        crate::model::test_values::uniform(len, seed)
            .into_iter()
            .map(bf16::from_f32)
            .collect()
    }

    /// The vector rounding against `half`'s, on ties, carries into the exponent, infinities,
    /// the largest finite values and NaN.
    #[test]
    fn tile_columns_round_as_half_does() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let special = [
            1.0f32,
            f32::from_bits(0x3f80_8000), // a tie, even below: stays
            f32::from_bits(0x3f81_8000), // a tie, odd below: rounds up
            f32::from_bits(0x3fff_ffff), // carries into the exponent
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7f80_0001), // a signalling NaN, quieted
            -0.0,
            f32::MIN_POSITIVE / 3.0,
        ];
        let mut tile = [0f32; 256];
        for (i, v) in tile.iter_mut().enumerate() {
            *v = special.get(i % 23).copied().unwrap_or(i as f32 * -0.377);
        }
        for q in 0..16 {
            // SAFETY: AVX-512F checked above.
            #[expect(unsafe_code, reason = "the AVX-512 helper under test")]
            let got = unsafe { tile_column_bf16(&tile, q) };
            for (r, g) in got.iter().enumerate() {
                let want = bf16::from_f32(tile[r * 16 + q]).to_bits();
                assert_eq!(*g, want, "tile[{r}][{q}] = {}", tile[r * 16 + q]);
            }
        }
    }

    /// Packing float32 rows (rounded on AVX-512, 32 at a time, the tail one by one) equals
    /// packing the same values rounded first by `half`.
    #[test]
    fn float32_rows_pack_as_their_rounded_values() {
        for (m, k) in [(3, 64), (17, 70), (33, 2), (5, 4304)] {
            let mut x = crate::model::test_values::uniform(m * k, 7);
            x[0] = f32::NAN;
            x[1] = f32::from_bits(0x3f81_8000);
            x[2] = f32::MAX;
            let rounded: Vec<bf16> = x.iter().map(|v| bf16::from_f32(*v)).collect();
            let (m_pad, k_pad) = (m.div_ceil(BLOCK) * BLOCK, k.div_ceil(K_STEP) * K_STEP);
            let a = pack_rows(&x, m, k, m_pad, k_pad);
            let b = pack_rows(&rounded, m, k, m_pad, k_pad);
            let bits = |v: &[bf16]| v.iter().map(|b| b.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "({m}, {k})");
        }
    }

    /// Against float64 products of the same bfloat16 values, on every edge: rows, widths
    /// and `k` that are and are not multiples of 16 and 32, `k` below one step.
    #[test]
    fn amx_products_equal_exact_products() {
        if !available() {
            eprintln!("no AMX here: the AMX kernel is not exercised");
            return;
        }
        for (m, n, k) in [
            (1, 32, 32),
            (1, 300, 2304),
            (3, 257, 130),
            (17, 64, 4304),
            (33, 95, 18),
            (40, 70, 64),
            (268, 96, 1152),
            (70, 40, 2100),
            // k in several chunks, with a tail.
            (100, 70, 6010),
        ] {
            let x = values(m * k, 1);
            let w = values(n * k, 2);
            let got: Vec<bf16> = matmul_bf16(&x, &w, m, n, k).expect("AMX path");
            // The same product from float32 inputs (rounded while packing), returned in
            // float32: the same values, widened.
            let x32: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
            let got32: Vec<f32> = matmul_bf16(&x32, &w, m, n, k).expect("AMX path");
            assert!(
                got.iter().zip(&got32).all(|(a, b)| a.to_f32() == *b),
                "({m}, {n}, {k}): float32 in and out differ"
            );
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|l| {
                            f64::from(x[i * k + l].to_f32()) * f64::from(w[j * k + l].to_f32())
                        })
                        .sum();
                    let d = (f64::from(got[i * n + j].to_f32()) - want).abs();
                    // float32 accumulation of k products of magnitude <= 0.25, then one
                    // rounding to bfloat16 (relative 2^-8).
                    let tol = 1e-6 * k as f64 + want.abs() / 256.0;
                    assert!(d <= tol, "({m}, {n}, {k}) at ({i}, {j}): {d}");
                }
            }
        }
        assert!(
            matmul_bf16::<bf16, bf16>(&values(3, 1), &values(3, 2), 1, 1, 3).is_none(),
            "odd k"
        );
    }
}
