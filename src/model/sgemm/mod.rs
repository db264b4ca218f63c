//! Float32 matrix products on AVX-512 or AVX2, for the model's linear layers, attention and
//! convolutions: the `gemm` crate candle uses left every matmul-bound stage about 3x behind
//! PyTorch's MKL on an AVX-512 CPU (its AVX-512 kernels were slower still on the Gemma2
//! shapes, 188 against 121 ms), and on an AVX2-only one (AMD Zen 3) the real-size model's
//! float32 stages took 1.7-2.7x PyTorch's time.
//!
//! How: the classic blocked product (Goto / BLIS). The left operand is packed once, all its
//! rows, into panels of MR rows, `KC` values of `k` at a time; the right operand into
//! panels of NR columns, eight panels (kept in L2) at a time, every `k` block of them in
//! turn, so that chunk's outputs stay in L2 while they accumulate. A register kernel
//! ([`kernels`]) multiplies one MR x `KC` panel by one `KC` x NR panel, broadcasting the
//! left values and reading the right panel as vectors: 12 x 32 on AVX-512, 6 x 16 on AVX2
//! with FMA. Threads take bands of whole panels, so each writes its own columns of the
//! output. For one to four rows (a generated token) a product reads the weight once at
//! memory speed instead: as stored ([`rows_times_weight`]) or packed at load
//! ([`rows_times_packed`]).
//!
//! `SPATIALSCOPE_NO_AVX512=1` runs the AVX2 kernels on an AVX-512 CPU, and
//! `SPATIALSCOPE_NO_SGEMM=1` keeps candle's path (same-run comparisons).

mod kernels;
mod pack;
mod packed;
mod panel_rows;
mod transpose;

use std::sync::OnceLock;

use super::strided::View;
use crate::util::parallel::each_chunk_mut;
use kernels::{MR_256, MR_512, NR_256, NR_512};
pub use pack::Element;
use pack::{pack_a, pack_b};
use packed::PanelSlice;
pub use packed::{Packable, PackedWeight, PanelOf, WeightRows, pack_rows, pack_weight};
pub use panel_rows::{MAX_ROWS as PACKED_ROWS_MAX, rows_times_packed};

const KC: usize = 256;
/// Right-operand panels packed at a time: 8 x 32 KiB (AVX-512; half that on AVX2), in L2
/// beside the left operand.
const NC_PANELS: usize = 8;

/// The instruction set the kernels run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    /// AVX2 with FMA.
    Avx2,
}

/// The instruction set detected here (and not switched off by the environment, see the
/// module docs), or `None`: candle's path.
pub fn isa() -> Option<Isa> {
    static ISA: OnceLock<Option<Isa>> = OnceLock::new();
    *ISA.get_or_init(|| {
        if std::env::var_os("SPATIALSCOPE_NO_SGEMM").is_some() {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::env::var_os("SPATIALSCOPE_NO_AVX512").is_none()
                && std::arch::is_x86_feature_detected!("avx512f")
            {
                return Some(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Isa::Avx2);
            }
        }
        None
    })
}

/// Whether these kernels run here.
pub fn available() -> bool {
    isa().is_some()
}

/// Every instruction set this CPU can run (for tests that check each kernel).
#[cfg(test)]
fn runnable() -> Vec<Isa> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            out.push(Isa::Avx512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            out.push(Isa::Avx2);
        }
    }
    out
}

/// The output's address as threads share it (an integer, so it crosses threads); each
/// thread writes its own columns.
#[derive(Clone, Copy)]
struct Out(usize);

/// A register kernel: `c (MR x NR, row stride c_rs) (+)= a (kc x MR packed) b (kc x NR
/// packed)`, adding with the flag.
type Kernel = unsafe fn(usize, &[f32], &[f32], *mut f32, usize, bool);

/// `dst (m x n, row stride dst_rs) = lhs (m x k) rhs (k x n)`, or `+=` with `accumulate`.
/// Returns false (and writes nothing) when no kernel is [`available`].
///
/// # Panics
/// When a view or `dst` is smaller than its shape needs.
pub fn product<R: Element>(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_, f32>,
    rhs: View<'_, R>,
    accumulate: bool,
) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    product_on(cores, dst, dst_rs, (m, n, k), lhs, rhs, accumulate)
}

/// [`product`] on at most `cores` threads (1: on the calling thread alone, for many small
/// products, such as attention heads, that the caller spreads across the cores itself).
pub fn product_on<R: Element>(
    cores: usize,
    dst: &mut [f32],
    dst_rs: usize,
    shape: (usize, usize, usize),
    lhs: View<'_, f32>,
    rhs: View<'_, R>,
    accumulate: bool,
) -> bool {
    let Some(isa) = isa() else {
        return false;
    };
    product_with(isa, cores, dst, dst_rs, shape, lhs, rhs, accumulate);
    true
}

/// The right operand as rows that lie anywhere in one slice: row `r` is
/// `data[starts[r]..starts[r] + n]`. A 3 x 3 convolution's nine shifted windows of one
/// padded input are then the rows of a single product with `k = 9 c_in` (`conv3x3.rs`),
/// whose outputs stay in cache across all of `k`, instead of nine products that stream the
/// whole output through memory nine times.
pub struct Rows<'a> {
    pub data: &'a [f32],
    pub starts: &'a [usize],
}

/// `dst (m x n, row stride dst_rs) = lhs (m x k) rhs (k x n)` (or `+=` with `accumulate`)
/// for a right operand given by its rows ([`Rows`]). Returns false (and writes nothing)
/// when no kernel is [`available`].
///
/// # Panics
/// When `starts` is not `k` long, a row runs past `data`, or `lhs` or `dst` is smaller than
/// its shape needs.
pub fn product_rows(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_, f32>,
    rhs: Rows<'_>,
    accumulate: bool,
) -> bool {
    let Some(isa) = isa() else {
        return false;
    };
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let rhs = Rhs {
        view: View {
            data: rhs.data,
            rs: 0,
            cs: 1,
        },
        starts: Some(rhs.starts),
        packed: None,
    };
    product_with(isa, cores, dst, dst_rs, (m, n, k), lhs, rhs, accumulate);
    true
}

/// `dst (m x n, row stride dst_rs) = lhs (m x k) W^T` (or `+=` with `accumulate`) for a
/// weight packed at load ([`pack_weight`]). Returns false (and writes nothing) when the
/// packing is not for this shape or these kernels.
///
/// # Panics
/// When `lhs` or `dst` is smaller than its shape needs.
pub fn product_packed(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_, f32>,
    w: &PackedWeight,
    accumulate: bool,
) -> bool {
    let Some(isa) = isa().filter(|i| *i == w.isa && (w.n, w.k) == (n, k)) else {
        return false;
    };
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let rhs = Rhs {
        view: View {
            data: &[][..],
            rs: 0,
            cs: 0,
        },
        starts: None,
        packed: Some(w),
    };
    product_with::<f32>(isa, cores, dst, dst_rs, (m, n, k), lhs, rhs, accumulate);
    true
}

/// The right operand: a strided view, (`starts`) rows anywhere in the view's slice, or
/// (`packed`) a weight packed at load.
#[derive(Clone, Copy)]
struct Rhs<'a, R> {
    view: View<'a, R>,
    starts: Option<&'a [usize]>,
    packed: Option<&'a PackedWeight>,
}

impl<'a, R> From<View<'a, R>> for Rhs<'a, R> {
    fn from(view: View<'a, R>) -> Self {
        Self {
            view,
            starts: None,
            packed: None,
        }
    }
}

impl<R> Rhs<'_, R> {
    /// Whether every value of a `k x n` operand lies inside the slice.
    fn fits(&self, k: usize, n: usize) -> bool {
        if let Some(w) = self.packed {
            return (w.n, w.k) == (n, k);
        }
        let len = self.view.data.len();
        match self.starts {
            Some(starts) => {
                starts.len() == k
                    && starts
                        .iter()
                        .all(|s| s.checked_add(n).is_some_and(|end| end <= len))
            }
            None => (k - 1) * self.view.rs + (n - 1) * self.view.cs < len,
        }
    }
}

/// [`product_on`] on the kernels of `isa`, which the caller knows this CPU runs.
#[expect(
    clippy::too_many_arguments,
    reason = "product_on's, with the kernel choice"
)]
fn product_with<'a, R: Element + 'a>(
    isa: Isa,
    cores: usize,
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'a, f32>,
    rhs: impl Into<Rhs<'a, R>>,
    accumulate: bool,
) {
    let rhs = rhs.into();
    if m == 0 || n == 0 {
        return;
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
        return;
    }
    assert!(
        last(m, k, lhs.rs, lhs.cs) < lhs.data.len() && rhs.fits(k, n),
        "sgemm: an operand is smaller than its shape"
    );
    let operands = Operands {
        out: Out(dst.as_mut_ptr() as usize),
        dst_rs,
        shape: (m, n, k),
        lhs,
        rhs,
        accumulate,
        isa,
    };
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => blocked::<MR_512, NR_512, R>(cores, &operands, kernels::kernel_512),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => blocked::<MR_256, NR_256, R>(cores, &operands, kernels::kernel_256),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("no instruction set is detected off x86-64"),
    }
}

/// One product's operands, checked against their shapes.
struct Operands<'a, R> {
    out: Out,
    dst_rs: usize,
    shape: (usize, usize, usize),
    lhs: View<'a, f32>,
    rhs: Rhs<'a, R>,
    accumulate: bool,
    isa: Isa,
}

/// The `k` steps a packed block holds (its stride): `KC`, or all of a shorter `k`, so a
/// small product (an attention head's, `k` = 72) packs and zeroes no more than it uses.
fn depth(k: usize) -> usize {
    KC.min(k)
}

/// The blocked product with an MR x NR kernel, column bands across at most `cores`.
fn blocked<const MR: usize, const NR: usize, R: Element>(
    cores: usize,
    o: &Operands<'_, R>,
    kernel: Kernel,
) {
    let (m, n, k) = o.shape;
    let panels = n.div_ceil(NR);
    let threads = cores.min(panels).min((m * n * k).div_ceil(1 << 20).max(1));
    let pa = pack_lhs::<MR>(o.lhs, (m, k), threads);
    let pa = &pa[..];
    if threads <= 1 {
        band::<MR, NR, R>(o, (0, n), pa, kernel);
        return;
    }
    let per = panels.div_ceil(threads) * NR;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (j0, j1) = (t * per, ((t + 1) * per).min(n));
            if j0 >= j1 {
                continue;
            }
            s.spawn(move || band::<MR, NR, R>(o, (j0, j1), pa, kernel));
        }
    });
}

/// All of the left operand, packed once for every thread: `k` block by `k` block, 12-row
/// panels (`pack_a`), the panels split across `threads`.
fn pack_lhs<const MR: usize>(
    lhs: View<'_, f32>,
    (m, k): (usize, usize),
    threads: usize,
) -> Vec<f32> {
    let a_panels = m.div_ceil(MR);
    let k_blocks = k.div_ceil(KC);
    let kd = depth(k);
    let mut pa = vec![0f32; k_blocks * a_panels * MR * kd];
    let per = k_blocks.div_ceil(threads.max(1));
    each_chunk_mut(&mut pa, per * a_panels * MR * kd, "packing", |c, blocks| {
        for (i, block) in blocks.chunks_exact_mut(a_panels * MR * kd).enumerate() {
            let kb = c * per + i;
            let (pc, kc) = (kb * KC, KC.min(k - kb * KC));
            for (pi, panel) in block.chunks_exact_mut(MR * kd).enumerate() {
                pack_a::<MR>(panel, lhs, (pc, kc), (pi * MR, m));
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
fn band<const MR: usize, const NR: usize, R: Element>(
    o: &Operands<'_, R>,
    (j0, j1): (usize, usize),
    pa: &[f32],
    kernel: Kernel,
) {
    let (m, _, k) = o.shape;
    let a_panels = m.div_ceil(MR);
    let kd = depth(k);
    // Float32 panels packed at load are read where they are: no buffer of its own.
    let own_panels = match o.rhs.packed {
        Some(w) if !w.is_bf16() => 0,
        _ => NC_PANELS.min((j1 - j0).div_ceil(NR)),
    };
    let mut pb = vec![0f32; own_panels * NR * kd];
    let mut tile = vec![0f32; MR * NR];
    // A chunk of the right operand's columns at a time, every k block of it in turn, so the
    // chunk's outputs (m x 8 NR) stay in L2 while they accumulate; each packed chunk (in L2)
    // meets every left panel (in L1).
    for chunk0 in (j0..j1).step_by(NC_PANELS * NR) {
        let panels = (j1 - chunk0).div_ceil(NR).min(NC_PANELS);
        for (kb, a_block) in pa.chunks_exact(a_panels * MR * kd).enumerate() {
            let (pc, kc) = (kb * KC, KC.min(k - kb * KC));
            for (pi, panel) in pb.chunks_exact_mut(NR * kd).take(panels).enumerate() {
                if let Some(w) = o.rhs.packed {
                    // Float32 panels are read where they are; bfloat16 ones widened here.
                    match w.block((chunk0 + pi * NR) / NR, (pc, kc)) {
                        PanelSlice::F32(_) => break,
                        PanelSlice::Bf16(src) => widen_panel(&mut panel[..kc * NR], src),
                    }
                    continue;
                }
                pack_b::<NR, R>(
                    panel,
                    o.rhs.view,
                    o.rhs.starts,
                    (pc, kc),
                    (chunk0 + pi * NR, j1),
                    o.isa,
                );
            }
            for (ai, apanel) in a_block.chunks_exact(MR * kd).enumerate() {
                let r0 = ai * MR;
                let rows = MR.min(m - r0);
                for bi in 0..panels {
                    let c0 = chunk0 + bi * NR;
                    let bpanel = match o.rhs.packed.map(|w| w.block(c0 / NR, (pc, kc))) {
                        Some(PanelSlice::F32(block)) => block,
                        _ => &pb[bi * NR * kd..(bi + 1) * NR * kd],
                    };
                    let cols = NR.min(j1 - c0);
                    let add = pc > 0 || o.accumulate;
                    if rows == MR && cols == NR {
                        // SAFETY: the kernel's instruction set is present (`isa`); both
                        // panels hold `kc` steps; rows r0..r0 + MR <= m and columns c0..c0 +
                        // NR <= j1 <= n lie inside `dst` (asserted in `product_with`), and
                        // this thread alone writes columns j0..j1.
                        unsafe {
                            let at = (o.out.0 as *mut f32).add(r0 * o.dst_rs + c0);
                            kernel(kc, apanel, bpanel, at, o.dst_rs, add);
                        }
                        continue;
                    }
                    // SAFETY: as above; the tile is MR x NR values.
                    unsafe { kernel(kc, apanel, bpanel, tile.as_mut_ptr(), NR, false) };
                    for (i, src) in tile.chunks_exact(NR).take(rows).enumerate() {
                        // SAFETY: row r0 + i < m and columns c0..c0 + cols <= j1 <= n lie
                        // inside `dst` (asserted in `product_with`); this thread alone writes
                        // columns j0..j1, so no other reference to them exists.
                        let row = unsafe {
                            std::slice::from_raw_parts_mut(
                                (o.out.0 as *mut f32).add((r0 + i) * o.dst_rs + c0),
                                cols,
                            )
                        };
                        if add {
                            for (d, v) in row.iter_mut().zip(src) {
                                *d += *v;
                            }
                        } else {
                            row.copy_from_slice(&src[..cols]);
                        }
                    }
                }
            }
        }
    }
}

/// `dst = src` widened (contiguous: the compiler vectorises it).
fn widen_panel(dst: &mut [f32], src: &[half::bf16]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = s.widen());
}

/// `out (m x n) = x (m x k) W^T` for `w (n x k)` row-major, a few rows: each weight row is
/// read once and multiplied by every input row, output columns split across the cores.
/// `None` when no kernel is [`available`] or the extents do not match.
pub fn rows_times_weight(
    x: &[f32],
    w: &[f32],
    (m, n, k): (usize, usize, usize),
) -> Option<Vec<f32>> {
    if x.len() != m.checked_mul(k)? || w.len() != n.checked_mul(k)? {
        return None;
    }
    rows_times_weight_with(isa()?, x, w, (m, n, k))
}

/// [`rows_times_weight`] on the dot product of `isa`, which the caller knows this CPU runs.
#[expect(
    unsafe_code,
    reason = "the dot products' instruction sets (see SAFETY)"
)]
fn rows_times_weight_with(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    shape: (usize, usize, usize),
) -> Option<Vec<f32>> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Some(per_weight_row(x, w, shape, |x, w| {
            // SAFETY: `isa` is only ever an instruction set detected here.
            unsafe { kernels::dot_512(x, w) }
        })),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Some(per_weight_row(x, w, shape, |x, w| {
            // SAFETY: `isa` is only ever an instruction set detected here.
            unsafe { kernels::dot_256(x, w) }
        })),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
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

#[cfg(test)]
mod tests;
