//! bfloat16 matrix products on Intel AMX tiles (Sapphire Rapids and later), the unit
//! PyTorch's oneDNN uses for CPU bfloat16: what makes `--dtype bf16` faster than float32 on
//! the CPU instead of slower.
//!
//! How: `Y = X W^T` is computed as its transpose, `Y^T = W X^T`, so the weight (`n x k`,
//! row-major as checkpoints store it) is the tile multiply's left operand exactly as it lies
//! in memory (16 rows x 32 values per tile load, no repacking, read once per 32-row block).
//! Only `X` (a prompt's rows, small) is repacked per call into the pair-interleaved layout
//! the right operand needs. One step multiplies a 32 x 32 block of `Y^T` (four accumulator
//! tiles) by 32 values of `k`; products accumulate in float32 (`TDPBF16PS`), and the caller
//! rounds once to bfloat16, as PyTorch's CPU bfloat16 linear does. A `k` that is not a
//! multiple of 32 finishes with a shorter tile configuration; an `n` that is not a multiple
//! of 32 (the vocabulary) has its last rows copied into a zero-padded block.
//!
//! Rust's AMX intrinsics are unstable, so the instructions are inline assembly. Linux hands
//! a process the tile state only after `arch_prctl(ARCH_REQ_XCOMP_PERM)`, asked once in
//! [`available`]; without AMX, or with `SPATIALSCOPE_NO_AMX=1` (same-run comparisons), the
//! callers keep their AVX2 paths.

use std::sync::OnceLock;

use half::bf16;

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

/// `X (m x k) W^T` (`m x n`, row-major), accumulated in float32 and rounded once to
/// bfloat16, for bfloat16 `x` and `w (n x k)`. `None` when the AMX path cannot take it (not
/// [`available`], odd `k`, or extents that do not match), so the caller falls back.
pub fn matmul_bf16(x: &[bf16], w: &[bf16], m: usize, n: usize, k: usize) -> Option<Vec<bf16>> {
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
    // Per thread, its columns of Y (whole blocks of 32 weight rows) for every input row.
    let bands: Vec<(usize, Vec<bf16>)> = std::thread::scope(|s| {
        let jobs: Vec<_> = (0..threads)
            .map(|t| {
                let packed = &packed;
                s.spawn(move || {
                    let first = t * per;
                    let count = per.min(n_blocks.saturating_sub(first));
                    (
                        first * BLOCK,
                        run_band(w, packed, (first, count), (m, n, k), m_pad),
                    )
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut y = vec![bf16::ZERO; m * n];
    for (col0, band) in &bands {
        if band.is_empty() {
            continue;
        }
        let cols = band.len() / m;
        for (row, src) in y.chunks_exact_mut(n).zip(band.chunks_exact(cols)) {
            row[*col0..col0 + cols].copy_from_slice(src);
        }
    }
    Some(y)
}

/// `x` (m x k) into 16-column tiles of pair-interleaved rows: tile `t` holds input rows
/// `16t..16t+16`, and its row `p` is `[x[r][2p], x[r][2p+1]]` for those 16 rows `r`,
/// zero-padded to `m_pad` rows and `k_pad` values.
fn pack_rows(x: &[bf16], m: usize, k: usize, m_pad: usize, k_pad: usize) -> Vec<bf16> {
    let pairs = k_pad / 2;
    let mut out = vec![bf16::ZERO; m_pad * k_pad];
    for (r, row) in x.chunks_exact(k).enumerate().take(m) {
        let (tile, col) = (r / 16, r % 16);
        let base = tile * pairs * 32;
        for (p, pair) in row.chunks(2).enumerate() {
            let at = base + p * 32 + col * 2;
            out[at..at + pair.len()].copy_from_slice(pair);
        }
    }
    out
}

/// One thread's columns of `Y`: weight rows `32 * first ..` for `count` blocks, as an
/// `m x cols` bfloat16 band (`cols` stops at `n`).
fn run_band(
    w: &[bf16],
    packed: &[bf16],
    (first, count): (usize, usize),
    (m, n, k): (usize, usize, usize),
    m_pad: usize,
) -> Vec<bf16> {
    if count == 0 {
        return Vec::new();
    }
    let k_pad = k.div_ceil(K_STEP) * K_STEP;
    let col0 = first * BLOCK;
    let cols = ((first + count) * BLOCK).min(n) - col0;
    let mut band = vec![bf16::ZERO; m * cols];
    let tiles = Tiles::configure(k % K_STEP);
    let mut padded: Vec<bf16> = Vec::new();
    let mut c = AlignedTiles([0f32; 4 * 256]);
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
        for mp in 0..m_pad / BLOCK {
            let tile0 = &packed[2 * mp * k_pad * 16..(2 * mp + 1) * k_pad * 16];
            let tile1 = &packed[(2 * mp + 1) * k_pad * 16..(2 * mp + 2) * k_pad * 16];
            tiles.block(a, k, tile0, tile1, &mut c);
            // Accumulator tile (i, j) holds Y^T for weight rows n0 + 16i + r and input rows
            // 32mp + 16j + q at [r][q]: written transposed, 16 columns of Y at a time.
            for (ti, tile) in c.0.chunks_exact(256).enumerate() {
                let (i, j) = (ti / 2, ti % 2);
                let w_rows = 16.min(rows.saturating_sub(16 * i));
                if w_rows == 0 {
                    continue;
                }
                for q in 0..16 {
                    let row = BLOCK * mp + 16 * j + q;
                    if row >= m {
                        break;
                    }
                    let at = row * cols + n0 - col0 + 16 * i;
                    for (r, out) in band[at..at + w_rows].iter_mut().enumerate() {
                        *out = bf16::from_f32(tile[r * 16 + q]);
                    }
                }
            }
        }
    }
    band
}

/// Four 16 x 16 float32 accumulator tiles, stored row after row.
#[repr(C, align(64))]
struct AlignedTiles([f32; 4 * 256]);

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
struct Tiles {
    full: TileConfig,
    tail: Option<TileConfig>,
}

#[cfg(target_arch = "x86_64")]
#[expect(
    unsafe_code,
    reason = "AMX instructions as inline assembly on checked extents (see SAFETY)"
)]
impl Tiles {
    fn configure(tail_values: usize) -> Self {
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

    /// `c` = the 32 x 32 block `a (32 x k) · [tile0 tile1]` where `a` is 32 weight rows of
    /// `k` values and each tile holds 16 input rows packed by [`pack_rows`].
    fn block(&self, a: &[bf16], k: usize, tile0: &[bf16], tile1: &[bf16], c: &mut AlignedTiles) {
        let steps = k / K_STEP;
        let k_pad = k.div_ceil(K_STEP) * K_STEP;
        assert!(a.len() >= BLOCK * k && tile0.len() >= 16 * k_pad && tile1.len() >= 16 * k_pad);
        let a_stride = 2 * k;
        let a0 = a.as_ptr();
        // SAFETY: weight rows 0..16 and 16..32 of `a` at byte stride 2k: each step reads 64
        // bytes of each of 32 rows, `steps * 64 <= 2k` bytes into each row (asserted
        // extents). Each input tile is read 1024 bytes per step, `steps * 1024 <= 32 k_pad`
        // bytes. `c` is 4 KiB, written in full by the four stores.
        unsafe {
            let a1 = a0.add(16 * k);
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
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
                "add {c}, 1024",
                "tilestored [{c} + {s64} * 1], tmm1",
                "add {c}, 1024",
                "tilestored [{c} + {s64} * 1], tmm2",
                "add {c}, 1024",
                "tilestored [{c} + {s64} * 1], tmm3",
                steps = inout(reg) steps => _,
                a0 = inout(reg) a0 => _,
                a1 = inout(reg) a1 => _,
                b0 = inout(reg) tile0.as_ptr() => _,
                b1 = inout(reg) tile1.as_ptr() => _,
                c = inout(reg) c.0.as_mut_ptr() => _,
                astride = in(reg) a_stride,
                s64 = in(reg) 64usize,
                options(nostack),
            );
        }
        if let Some(tail) = &self.tail {
            let off = steps * K_STEP;
            // SAFETY: the tail configuration has weight tiles of `k - off` values (reads end
            // at each row's end) and input tiles of `(k - off) / 2` pair rows (inside the
            // packed, zero-padded tile); the accumulators are reloaded from and stored back
            // to `c` (4 KiB); the full configuration is restored at the end.
            unsafe {
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
    fn configure(_: usize) -> Self {
        unreachable!("AMX is x86-64 only; available() is false elsewhere")
    }
    fn block(&self, _: &[bf16], _: usize, _: &[bf16], _: &[bf16], _: &mut AlignedTiles) {}
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
        ] {
            let x = values(m * k, 1);
            let w = values(n * k, 2);
            let got = matmul_bf16(&x, &w, m, n, k).expect("AMX path");
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
            matmul_bf16(&values(3, 1), &values(3, 2), 1, 1, 3).is_none(),
            "odd k"
        );
    }
}
