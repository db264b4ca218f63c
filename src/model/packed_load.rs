//! Layers packed at load, read from the safetensors files straight into the panels our
//! kernels read ([`super::sgemm::pack_rows`]).
//!
//! Packing a weight that had been read first made a second, fresh copy of it: the stored
//! bytes became a float32 tensor (fresh pages), then panels (fresh pages again), then the
//! tensor was freed. On a virtual machine a fresh page costs about a nanosecond a byte the
//! first time it is touched, so at real size (10 GB of packed float32 weights) the load
//! took 1.5-2.5x as long as before packing. Here each packing thread reads its panels'
//! rows (at most 32 of them, in L2) from the file into a buffer of its own and packs them
//! from there: the panels are the only fresh memory.
//!
//! Stored bfloat16 weights stay bfloat16 in the panels of a float32 layer too. Widening a
//! bfloat16 value to float32 is exact (the same bits, shifted), and the kernels widen a
//! panel as they read it (a block at a time for many rows, in registers for a token's
//! row) and then run the same float32 arithmetic in the same order: the products are the
//! float32 layer's, bit for bit (`packed_load_tests.rs` checks it), for half the memory,
//! half the load's fresh pages and half a generated token's memory traffic. The published
//! checkpoint is bfloat16, so a float32 run of it holds its 4 B weights in 8 GB, not 16.
//!
//! The parts of a stacked layer (SigLIP's query, key and value) are read as one weight of
//! their rows one after another, as [`super::linear::fused`] stacks them.

use std::fs::File;
use std::marker::PhantomData;

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use half::bf16;

use super::checkpoint::TensorInfo;
use super::linear::{Linear, fused, linear, linear_no_bias, packs_at_load};
use super::sgemm::{PackedWeight, WeightRows, pack_rows};
use super::weights::{WeightReader, byte_range, read_exact_at};

/// A layer of `in_dim` inputs packed at load from `parts` (output width, where its
/// `weight` is, and whether a `bias` is there too), stacked along the output as [`fused`]
/// stacks them (a part without a bias adds zeros when another has one). With the
/// checkpoint's `reader` the weights go from the files straight into the panels; otherwise,
/// or where nothing is packed (another device or dtype, no kernels, other stored dtypes),
/// they are read and then [`Linear::prepacked`], with the same result.
pub fn packed_linear(
    in_dim: usize,
    parts: &[(usize, VarBuilder, bool)],
    reader: Option<&WeightReader>,
) -> Result<Linear> {
    let Some((_, first, _)) = parts.first() else {
        candle_core::bail!("packed_linear: a layer needs at least one part")
    };
    let (dtype, device) = (first.dtype(), first.device().clone());
    if let Some(reader) = reader.filter(|_| packs_at_load(dtype, &device)) {
        let names: Vec<(String, usize)> = parts
            .iter()
            .map(|(out, vb, _)| (tensor_path(vb, "weight"), *out))
            .collect();
        if let Some(packed) = reader.read_packed(&names, in_dim, dtype)? {
            let bias = if parts.iter().any(|(_, _, b)| *b) {
                let biases = parts
                    .iter()
                    .map(|(out, vb, b)| match b {
                        true => vb.get(*out, "bias"),
                        false => Tensor::zeros(*out, dtype, &device),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(Tensor::cat(&biases, 0)?)
            } else {
                None
            };
            return Linear::from_packed(packed, bias, dtype, &device);
        }
    }
    let mut layers = parts
        .iter()
        .map(|(out, vb, bias)| match bias {
            true => linear(in_dim, *out, vb.clone()),
            false => linear_no_bias(in_dim, *out, vb.clone()),
        })
        .collect::<Result<Vec<_>>>()?;
    let layer = match layers.len() {
        1 => layers.remove(0),
        _ => fused(&layers)?,
    };
    layer.prepacked()
}

/// The table `name` (`rows x cols`) under `vb`, kept as stored where that is bfloat16 and
/// `vb` reads float32 (an embedding table: its rows are widened when looked up, exactly,
/// as the panels are widened when read). Otherwise, or without the checkpoint's `reader`,
/// read as `vb` reads it. The published checkpoint's text embeddings are 0.6 B values:
/// 1.2 GB kept, not 2.4 GB of float32.
pub fn table_as_stored(
    vb: &VarBuilder,
    (rows, cols): (usize, usize),
    name: &str,
    reader: Option<&WeightReader>,
) -> Result<Tensor> {
    let keep = match reader {
        Some(r) if vb.dtype() == DType::F32 => {
            (r.info(&tensor_path(vb, name))?.dtype == "BF16").then_some(r)
        }
        _ => None,
    };
    match keep {
        Some(r) => {
            let table = vb.to_dtype(DType::BF16).get((rows, cols), name)?;
            r.count_kept_bf16(table.elem_count());
            Ok(table)
        }
        None => vb.get((rows, cols), name),
    }
}

/// The full name `vb.get(.., name)` reads.
fn tensor_path(vb: &VarBuilder, name: &str) -> String {
    match vb.prefix() {
        p if p.is_empty() => name.to_owned(),
        p => format!("{p}.{name}"),
    }
}

/// One stored part of a stacked weight: rows `row0..row0 + rows` of the whole.
struct Part<'a> {
    info: &'a TensorInfo,
    offset: u64,
    row0: usize,
    rows: usize,
}

/// The rows of a (stacked) weight as stored in its files, values of `S`.
struct FileRows<'a, S> {
    parts: Vec<Part<'a>>,
    k: usize,
    stored: PhantomData<S>,
}

impl<S: bytemuck::Pod + Sync> WeightRows<S> for FileRows<'_, S> {
    /// One open file per part (opened when first read) and the rows' buffer.
    type State = (Vec<Option<File>>, Vec<S>);
    type Error = candle_core::Error;

    fn state(&self) -> Result<Self::State> {
        Ok((self.parts.iter().map(|_| None).collect(), Vec::new()))
    }

    fn rows<'s>(
        &'s self,
        (files, buf): &'s mut Self::State,
        row0: usize,
        count: usize,
    ) -> Result<&'s [S]> {
        let k = self.k;
        buf.resize(count * k, S::zeroed());
        let end = row0 + count;
        for (part, file) in self.parts.iter().zip(files.iter_mut()) {
            let (lo, hi) = (row0.max(part.row0), end.min(part.row0 + part.rows));
            if lo >= hi {
                continue;
            }
            let path = &part.info.file;
            let at = part.offset + ((lo - part.row0) * k * size_of::<S>()) as u64;
            let dst = bytemuck::cast_slice_mut(&mut buf[(lo - row0) * k..(hi - row0) * k]);
            let read = match file {
                Some(f) => read_exact_at(f, dst, at),
                None => File::open(path).and_then(|f| read_exact_at(file.insert(f), dst, at)),
            };
            read.map_err(|e| {
                candle_core::Error::Msg(format!("{}: cannot read: {e}", path.display()))
            })?;
        }
        Ok(&buf[..count * k])
    }
}

impl WeightReader {
    /// The weights `parts` (name, rows; each `rows x k`), stacked along their rows and read
    /// straight into panels for a layer of `dtype`: bfloat16 panels where they are stored
    /// as bfloat16 (for either dtype, see the module docs), float32 panels where stored as
    /// float32. `Ok(None)` where this does not apply (stored dtypes other than float32 and
    /// bfloat16, float32 stored for a bfloat16 layer, no kernels here, no memory): the
    /// caller reads them as usual.
    /// A missing tensor, a shape other than `rows x k`, or a failed read is an error.
    pub fn read_packed(
        &self,
        parts: &[(String, usize)],
        k: usize,
        dtype: DType,
    ) -> Result<Option<PackedWeight>> {
        let Some((first, _)) = parts.first() else {
            return Ok(None);
        };
        let stored_dtype = self.info(first)?.dtype.clone();
        let width = match stored_dtype.as_str() {
            "F32" => 4,
            "BF16" => 2,
            _ => return Ok(None),
        };
        // Each part checked (shape, dtype, bytes inside its file) before anything is read.
        let mut rows = Vec::with_capacity(parts.len());
        let mut n = 0usize;
        for (name, count) in parts {
            let info = self.info(name)?;
            let file = info.file.display();
            if info.shape != [*count, k] {
                candle_core::bail!(
                    "{file}: tensor `{name}` is {:?}, expected [{count}, {k}]",
                    info.shape
                );
            }
            if info.dtype != stored_dtype {
                return Ok(None);
            }
            let too_large = || candle_core::Error::Msg(format!("{file}: `{name}` is too large"));
            let values = count.checked_mul(k).ok_or_else(too_large)?;
            rows.push(Part {
                info,
                offset: byte_range(info, values, width)?,
                row0: n,
                rows: *count,
            });
            n = n.checked_add(*count).ok_or_else(too_large)?;
        }
        // Stored bfloat16 stays bfloat16 for float32 layers too (see the module docs).
        match (width, dtype) {
            (4, DType::F32) => pack_rows::<f32, f32, _>(&file_rows(rows, k), (n, k)),
            (2, DType::F32 | DType::BF16) => {
                let packed = pack_rows::<bf16, bf16, _>(&file_rows(rows, k), (n, k))?;
                if packed.is_some() && dtype == DType::F32 {
                    self.count_kept_bf16(n * k);
                }
                Ok(packed)
            }
            _ => Ok(None),
        }
    }
}

fn file_rows<S>(parts: Vec<Part<'_>>, k: usize) -> FileRows<'_, S> {
    FileRows {
        parts,
        k,
        stored: PhantomData,
    }
}

#[cfg(test)]
#[path = "packed_load_tests.rs"]
mod tests;
