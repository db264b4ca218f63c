//! A weight packed once, at load, into the panels the register kernels read: products of
//! many rows skip the per-call packing, which was 13% of SigLIP's time and 8% of Gemma2's
//! prompt pass (a weight read as its transpose is packed by register transposes,
//! `transpose.rs`), and a generated token's one row streams the same panels
//! (`panel_rows.rs`). The packed copy replaces the weight, so memory is the same (up to
//! `NR - 1` zero columns). The rows can come from anywhere ([`WeightRows`]): loading a
//! checkpoint reads them from its files a panel at a time (`model/packed_load.rs`), so the
//! weight never exists unpacked in memory.
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
#[derive(Debug, PartialEq)]
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
#[derive(Debug, PartialEq)]
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

/// A panel value type whose panels can be filled from weight rows of `S`: float32 panels
/// from float32 or bfloat16 rows (widened while packed), bfloat16 panels from bfloat16 rows.
pub trait PanelOf<S>: bytemuck::Zeroable + Send + Sized {
    #[doc(hidden)]
    fn fill<const NR: usize>(isa: Isa, rows: &[S], cols: usize, k: usize, panel: &mut [Self]);
    #[doc(hidden)]
    fn panels(data: Vec<Self>) -> Panels;
}

impl<S: Element> PanelOf<S> for f32 {
    fn fill<const NR: usize>(isa: Isa, rows: &[S], cols: usize, k: usize, panel: &mut [f32]) {
        let weight_t = View {
            data: rows,
            rs: 1,
            cs: k,
        };
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let block = &mut panel[pc * NR..(pc + kc) * NR];
            pack_b::<NR, S>(block, weight_t, None, (pc, kc), (0, cols), isa);
        }
    }
    fn panels(data: Vec<f32>) -> Panels {
        Panels::F32(data)
    }
}

impl PanelOf<bf16> for bf16 {
    fn fill<const NR: usize>(_: Isa, rows: &[bf16], cols: usize, k: usize, panel: &mut [bf16]) {
        let (panel, _) = panel.as_chunks_mut::<NR>();
        if cols == NR {
            transpose::panel_bf16(panel, rows, k);
            return;
        }
        // The last, partial panel (zero past `n`), value by value.
        for (l, row) in panel.iter_mut().enumerate() {
            for (j, d) in row.iter_mut().take(cols).enumerate() {
                *d = rows[j * k + l];
            }
        }
    }
    fn panels(data: Vec<bf16>) -> Panels {
        Panels::Bf16(data)
    }
}

/// A weight's stored values that can be packed at load as they are: float32 into the
/// kernels' float32 panels, bfloat16 into panels of bfloat16.
pub trait Packable: Element + PanelOf<Self> {}
impl Packable for f32 {}
impl Packable for bf16 {}

/// Where a weight's rows come from while it is packed: each packing thread makes a `State`
/// once, then asks for one panel's rows at a time (a file read into a buffer the state
/// holds, or a slice of the weight in memory).
pub trait WeightRows<S>: Sync {
    type State;
    type Error: Send;
    fn state(&self) -> Result<Self::State, Self::Error>;
    /// Rows `row0..row0 + count`, each `k` values, contiguous.
    fn rows<'a>(
        &'a self,
        state: &'a mut Self::State,
        row0: usize,
        count: usize,
    ) -> Result<&'a [S], Self::Error>;
}

/// A weight in memory (`n x k`, row-major).
struct InMemory<'w, S> {
    w: &'w [S],
    k: usize,
}

impl<S: Sync> WeightRows<S> for InMemory<'_, S> {
    type State = ();
    type Error = std::convert::Infallible;
    fn state(&self) -> Result<(), Self::Error> {
        Ok(())
    }
    fn rows<'a>(
        &'a self,
        _: &'a mut (),
        row0: usize,
        count: usize,
    ) -> Result<&'a [S], Self::Error> {
        Ok(&self.w[row0 * self.k..(row0 + count) * self.k])
    }
}

/// `n.div_ceil(NR)` zeroed panels of `k x NR` values, split across the cores, each filled
/// from its rows of `source`; `Ok(None)` when the memory cannot be had.
fn fill_panels<const NR: usize, S, E: PanelOf<S>, R: WeightRows<S>>(
    isa: Isa,
    source: &R,
    (n, k): (usize, usize),
) -> Result<Option<Vec<E>>, R::Error> {
    let panels = n.div_ceil(NR);
    let Some(len) = panels.checked_mul(k).and_then(|v| v.checked_mul(NR)) else {
        return Ok(None);
    };
    // On huge pages where the kernel offers them, as the weights it replaces.
    let Some(mut data) = zeroed_buffer::<E>(len) else {
        return Ok(None);
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = panels.div_ceil(threads).max(1);
    let results = each_chunk_mut(&mut data, per * k * NR, "packing a weight", |t, chunk| {
        let mut state = source.state()?;
        for (i, panel) in chunk.chunks_exact_mut(k * NR).enumerate() {
            let row0 = (t * per + i) * NR;
            let cols = NR.min(n - row0);
            let rows = source.rows(&mut state, row0, cols)?;
            E::fill::<NR>(isa, rows, cols, k, panel);
        }
        Ok(())
    });
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(Some(data))
}

/// A weight of `n x k` packed from `source`'s rows for the kernels detected here, without
/// a copy of the weight of its own (the panels are the only fresh memory); `Ok(None)`
/// without the kernels or the memory, an error as `source` reports it.
pub fn pack_rows<S, E: PanelOf<S>, R: WeightRows<S>>(
    source: &R,
    (n, k): (usize, usize),
) -> Result<Option<PackedWeight>, R::Error> {
    if n == 0 || k == 0 {
        return Ok(None);
    }
    let Some(isa) = super::isa() else {
        return Ok(None);
    };
    let (nr, data) = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => (NR_512, fill_panels::<NR_512, S, E, R>(isa, source, (n, k))?),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => (NR_256, fill_panels::<NR_256, S, E, R>(isa, source, (n, k))?),
        #[cfg(not(target_arch = "x86_64"))]
        _ => return Ok(None),
    };
    Ok(data.map(|d| PackedWeight {
        isa,
        n,
        k,
        nr,
        panels: E::panels(d),
    }))
}

/// `w` (`n x k`, row-major) packed for the kernels detected here; `None` without them,
/// when the extents do not match, or when the memory cannot be had (the caller keeps the
/// weight as it is).
pub fn pack_weight<E: Packable>(w: &[E], (n, k): (usize, usize)) -> Option<PackedWeight> {
    if w.len() != n.checked_mul(k)? {
        return None;
    }
    match pack_rows::<E, E, _>(&InMemory { w, k }, (n, k)) {
        Ok(packed) => packed,
        Err(never) => match never {},
    }
}
