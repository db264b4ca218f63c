//! A weight packed once, at load, into the panels the register kernels read: products of
//! many rows skip the per-call packing, which was 13% of SigLIP's time and 8% of Gemma2's
//! prompt pass (a weight read as its transpose is packed by register transposes,
//! `transpose.rs`), and a generated token's one row streams the same panels
//! (`panel_rows.rs`). The packed copy replaces the weight, so memory is the same (up to
//! `NR - 1` zero columns).
//!
//! Layout: panel `p` (`NR` output columns, zero past `n`) holds all `k` rows in order,
//! `k x NR` values at `p k NR`; the kernels' `k` block at `pc` is the slice from `pc NR`.

use super::pack::pack_b;
use super::{Isa, KC};
use crate::model::strided::View;
use crate::util::memory::zeroed_buffer;
use crate::util::parallel::each_chunk_mut;

#[cfg(target_arch = "x86_64")]
use super::kernels::{NR_256, NR_512};

/// `W^T` (`k x n`) of a weight `W` (`n x k`, row-major), packed for the kernels of `isa`.
#[derive(Debug)]
pub struct PackedWeight {
    pub(super) isa: Isa,
    pub(super) n: usize,
    pub(super) k: usize,
    pub(super) nr: usize,
    data: Vec<f32>,
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

    /// Panel `p`: all `k` rows of `nr` values.
    pub(super) fn panel(&self, p: usize) -> &[f32] {
        let len = self.k * self.nr;
        &self.data[p * len..(p + 1) * len]
    }

    /// Panel `p`'s rows `pc..pc + kc`.
    pub(super) fn block(&self, p: usize, (pc, kc): (usize, usize)) -> &[f32] {
        let at = (p * self.k + pc) * self.nr;
        &self.data[at..at + kc * self.nr]
    }
}

/// `w` (`n x k`, row-major) packed for the kernels detected here; `None` without them,
/// when the extents do not match, or when the memory cannot be had (the caller keeps the
/// weight as it is).
pub fn pack_weight(w: &[f32], (n, k): (usize, usize)) -> Option<PackedWeight> {
    if w.len() != n.checked_mul(k)? || n == 0 || k == 0 {
        return None;
    }
    match super::isa()? {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => pack_with::<NR_512>(Isa::Avx512, w, (n, k)),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => pack_with::<NR_256>(Isa::Avx2, w, (n, k)),
        #[cfg(not(target_arch = "x86_64"))]
        _ => None,
    }
}

fn pack_with<const NR: usize>(isa: Isa, w: &[f32], (n, k): (usize, usize)) -> Option<PackedWeight> {
    let panels = n.div_ceil(NR);
    // On huge pages where the kernel offers them, as the weights it replaces.
    let mut data = zeroed_buffer::<f32>(panels.checked_mul(k)?.checked_mul(NR)?)?;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = panels.div_ceil(threads).max(1);
    let weight_t = View {
        data: w,
        rs: 1,
        cs: k,
    };
    each_chunk_mut(&mut data, per * k * NR, "packing a weight", |t, chunk| {
        for (i, panel) in chunk.chunks_exact_mut(k * NR).enumerate() {
            let p = t * per + i;
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                let rows = &mut panel[pc * NR..(pc + kc) * NR];
                pack_b::<NR, f32>(rows, weight_t, None, (pc, kc), (p * NR, n), isa);
            }
        }
    });
    Some(PackedWeight {
        isa,
        n,
        k,
        nr: NR,
        data,
    })
}
