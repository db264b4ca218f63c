//! A weight packed once, at load, into the panels the register kernels read: products of
//! many rows skip the per-call packing, which was 13% of SigLIP's time and 8% of Gemma2's
//! prompt pass (a weight read as its transpose is packed by register transposes,
//! `transpose.rs`), and a generated token's one row streams the same panels
//! (`panel_rows.rs`). The packed copy replaces the weight, so memory is the same (up to
//! `NR - 1` zero columns).
//!
//! A bfloat16 weight (on CPUs without AMX) is packed as bfloat16, so it keeps its half of
//! the memory: the blocked product widens a block of its panels (contiguous, in L2) where
//! the float32 one reads them directly, instead of transposing the stored rows on every
//! call, and a token's row widens them in registers.
//!
//! Layout: panel `p` (`NR` output columns, zero past `n`) holds all `k` rows in order,
//! `k x NR` values at `p k NR`; the kernels' `k` block at `pc` is the slice from `pc NR`.

use half::bf16;

use super::pack::{Element, pack_b};
use super::{Isa, KC, transpose};
use crate::model::strided::View;
use crate::util::memory::zeroed_buffer;
use crate::util::parallel::each_chunk_mut;

#[cfg(target_arch = "x86_64")]
use super::kernels::{NR_256, NR_512};

/// The panels' values, as the weight was stored (public only as `Packable`'s product).
#[derive(Debug)]
pub enum Panels {
    F32(Vec<f32>),
    Bf16(Vec<bf16>),
}

/// A slice of panel values.
#[derive(Clone, Copy)]
pub(super) enum PanelSlice<'a> {
    F32(&'a [f32]),
    Bf16(&'a [bf16]),
}

/// `W^T` (`k x n`) of a weight `W` (`n x k`, row-major), packed for the kernels of `isa`.
#[derive(Debug)]
pub struct PackedWeight {
    pub(super) isa: Isa,
    pub(super) n: usize,
    pub(super) k: usize,
    pub(super) nr: usize,
    panels: Panels,
}

impl PackedWeight {
    /// The output width (`W`'s rows).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The input width (`W`'s columns).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Whether the values are stored as bfloat16.
    pub fn is_bf16(&self) -> bool {
        matches!(self.panels, Panels::Bf16(_))
    }

    /// Values `at..at + len` of the panels.
    fn slice(&self, at: usize, len: usize) -> PanelSlice<'_> {
        match &self.panels {
            Panels::F32(d) => PanelSlice::F32(&d[at..at + len]),
            Panels::Bf16(d) => PanelSlice::Bf16(&d[at..at + len]),
        }
    }

    /// Panel `p`: all `k` rows of `nr` values.
    pub(super) fn panel(&self, p: usize) -> PanelSlice<'_> {
        let len = self.k * self.nr;
        self.slice(p * len, len)
    }

    /// Panel `p`'s rows `pc..pc + kc`.
    pub(super) fn block(&self, p: usize, (pc, kc): (usize, usize)) -> PanelSlice<'_> {
        self.slice((p * self.k + pc) * self.nr, kc * self.nr)
    }
}

/// A weight's stored values that can be packed at load: float32 into the kernels' float32
/// panels, bfloat16 into panels of bfloat16.
pub trait Packable: Element {
    #[doc(hidden)]
    fn pack<const NR: usize>(isa: Isa, w: &[Self], shape: (usize, usize)) -> Option<Panels>;
}

impl Packable for f32 {
    fn pack<const NR: usize>(isa: Isa, w: &[f32], (n, k): (usize, usize)) -> Option<Panels> {
        let weight_t = View {
            data: w,
            rs: 1,
            cs: k,
        };
        let data = fill_panels::<NR, f32>((n, k), |p, panel| {
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                let rows = &mut panel[pc * NR..(pc + kc) * NR];
                pack_b::<NR, f32>(rows, weight_t, None, (pc, kc), (p * NR, n), isa);
            }
        })?;
        Some(Panels::F32(data))
    }
}

impl Packable for bf16 {
    fn pack<const NR: usize>(_: Isa, w: &[bf16], (n, k): (usize, usize)) -> Option<Panels> {
        let data = fill_panels::<NR, bf16>((n, k), |p, panel| {
            let rows = NR.min(n - p * NR);
            let src = &w[p * NR * k..];
            let (panel, _) = panel.as_chunks_mut::<NR>();
            if rows == NR {
                transpose::panel_bf16(panel, src, k);
                return;
            }
            // The last, partial panel (zero past `n`), value by value.
            for (l, row) in panel.iter_mut().enumerate() {
                for (j, d) in row.iter_mut().take(rows).enumerate() {
                    *d = src[j * k + l];
                }
            }
        })?;
        Some(Panels::Bf16(data))
    }
}

/// `n.div_ceil(NR)` zeroed panels of `k x NR` values, each filled by `fill(p, panel)`,
/// the panels split across the cores.
fn fill_panels<const NR: usize, E: bytemuck::Zeroable + Send>(
    (n, k): (usize, usize),
    fill: impl Fn(usize, &mut [E]) + Sync,
) -> Option<Vec<E>> {
    let panels = n.div_ceil(NR);
    // On huge pages where the kernel offers them, as the weights it replaces.
    let mut data = zeroed_buffer::<E>(panels.checked_mul(k)?.checked_mul(NR)?)?;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = panels.div_ceil(threads).max(1);
    each_chunk_mut(&mut data, per * k * NR, "packing a weight", |t, chunk| {
        for (i, panel) in chunk.chunks_exact_mut(k * NR).enumerate() {
            fill(t * per + i, panel);
        }
    });
    Some(data)
}

/// `w` (`n x k`, row-major) packed for the kernels detected here; `None` without them,
/// when the extents do not match, or when the memory cannot be had (the caller keeps the
/// weight as it is).
pub fn pack_weight<E: Packable>(w: &[E], (n, k): (usize, usize)) -> Option<PackedWeight> {
    if w.len() != n.checked_mul(k)? || n == 0 || k == 0 {
        return None;
    }
    let isa = super::isa()?;
    let (nr, panels) = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => (NR_512, E::pack::<NR_512>(isa, w, (n, k))?),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => (NR_256, E::pack::<NR_256>(isa, w, (n, k))?),
        #[cfg(not(target_arch = "x86_64"))]
        _ => return None,
    };
    Some(PackedWeight {
        isa,
        n,
        k,
        nr,
        panels,
    })
}
