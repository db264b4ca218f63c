//! Weights read from the safetensors files straight into tensors of the dtype the model runs
//! in: one copy in memory, never two.
//!
//! candle's memory-mapped loader copies each tensor out of the mapping as stored (bfloat16)
//! and then converts that copy to the model's dtype: the mapped pages stay resident until
//! the whole load ends (8 GB at real size, on top of the 16 GB of float32 weights) and the
//! conversion runs on one core. candle's CPU tensors own their memory, so a mapping cannot
//! be the tensor itself. Here each tensor's buffer comes zeroed on huge pages
//! ([`crate::util::memory`]) and is filled with positioned reads split across the cores:
//! a tensor stored in the dtype it is wanted in is read straight into its buffer (one copy,
//! from the page cache); one that needs converting goes through 1 MiB pieces. The stored
//! bytes pass through the page cache only, which the kernel may drop.
//!
//! Offsets and lengths come from the header [`super::checkpoint`] checked (every tensor's
//! bytes inside its file, the byte count equal to dtype x shape) before anything is read.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Device, Shape, Tensor};
use half::{bf16, f16};

use super::checkpoint::TensorInfo;
use crate::util::memory::zeroed_buffer;
use crate::util::parallel::each_chunk_mut;

/// Values converted per read.
const PIECE: usize = 1 << 19;

/// A variable store over checked safetensors files (see the module docs).
pub struct WeightReader {
    tensors: BTreeMap<String, TensorInfo>,
    /// Values kept as stored bfloat16 for a float32 model (`packed_load.rs`), counted
    /// across the readers of one checkpoint: what its models hold.
    kept_bf16: Arc<AtomicU64>,
}

impl WeightReader {
    pub fn new(tensors: BTreeMap<String, TensorInfo>) -> Self {
        Self::counting_into(tensors, Arc::default())
    }

    /// A reader that counts the values it keeps as bfloat16 into `kept_bf16`.
    pub(super) fn counting_into(
        tensors: BTreeMap<String, TensorInfo>,
        kept_bf16: Arc<AtomicU64>,
    ) -> Self {
        WeightReader { tensors, kept_bf16 }
    }

    /// Counts `values` kept as stored bfloat16 for a float32 model.
    pub(super) fn count_kept_bf16(&self, values: usize) {
        self.kept_bf16.fetch_add(values as u64, Ordering::Relaxed);
    }

    /// The checked header entry of tensor `name`.
    pub(super) fn info(&self, name: &str) -> candle_core::Result<&TensorInfo> {
        self.tensors.get(name).ok_or_else(|| {
            candle_core::Error::CannotFindTensor {
                path: name.to_owned(),
            }
            .bt()
        })
    }

    fn read(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let info = self.info(name)?;
        let n: usize = info.shape.iter().product();
        let shape = Shape::from(info.shape.clone());
        let t = match (info.dtype.as_str(), dtype) {
            ("BF16", DType::BF16) => Tensor::from_vec(read_raw::<bf16>(info, n)?, shape, dev),
            ("F16", DType::F16) => Tensor::from_vec(read_raw::<f16>(info, n)?, shape, dev),
            ("F32", DType::F32) => Tensor::from_vec(read_raw::<f32>(info, n)?, shape, dev),
            ("BF16", DType::F32) => Tensor::from_vec(read_as(info, n, bf16::to_f32)?, shape, dev),
            ("F16", DType::F32) => Tensor::from_vec(read_as(info, n, f16::to_f32)?, shape, dev),
            ("F32", DType::BF16) => Tensor::from_vec(read_as(info, n, bf16::from_f32)?, shape, dev),
            ("BF16", _) => {
                Tensor::from_vec(read_as(info, n, |v: bf16| v)?, shape, dev)?.to_dtype(dtype)
            }
            ("F16", _) => {
                Tensor::from_vec(read_as(info, n, |v: f16| v)?, shape, dev)?.to_dtype(dtype)
            }
            ("F32", _) => {
                Tensor::from_vec(read_as(info, n, |v: f32| v)?, shape, dev)?.to_dtype(dtype)
            }
            (other, _) => candle_core::bail!(
                "{}: tensor `{name}` is {other}; weights must be BF16, F16 or F32",
                info.file.display()
            ),
        }?;
        Ok(t)
    }
}

/// The tensor's byte range, checked to hold `n` values of `width` bytes.
pub(super) fn byte_range(info: &TensorInfo, n: usize, width: usize) -> candle_core::Result<u64> {
    let Some((offset, len)) = info.bytes else {
        candle_core::bail!("{}: not a safetensors tensor", info.file.display())
    };
    if (n as u64).checked_mul(width as u64) != Some(len) {
        candle_core::bail!(
            "{}: {len} bytes for {n} values of {width} bytes",
            info.file.display()
        );
    }
    Ok(offset)
}

/// A zeroed buffer of `n` values and how many values each core fills.
fn buffer<D: bytemuck::Zeroable>(
    info: &TensorInfo,
    n: usize,
) -> candle_core::Result<(Vec<D>, usize)> {
    let out = zeroed_buffer::<D>(n).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "{}: cannot allocate {n} values for a tensor",
            info.file.display()
        ))
    })?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.div_ceil(PIECE))
        .max(1);
    Ok((out, n.div_ceil(threads).max(1)))
}

/// Every part's read result, or the first error naming the file.
fn all_read(info: &TensorInfo, results: Vec<std::io::Result<()>>) -> candle_core::Result<()> {
    for r in results {
        r.map_err(|e| {
            candle_core::Error::Msg(format!("{}: cannot read: {e}", info.file.display()))
        })?;
    }
    Ok(())
}

/// The tensor's `n` values, stored as `D` and wanted as `D`: read straight into the
/// buffer, a part per core.
fn read_raw<D: bytemuck::Pod + Send>(info: &TensorInfo, n: usize) -> candle_core::Result<Vec<D>> {
    let width = size_of::<D>();
    let offset = byte_range(info, n, width)?;
    let (mut out, per) = buffer::<D>(info, n)?;
    let results = each_chunk_mut(&mut out, per, "a weight read", |t, dst| {
        let mut f = File::open(&info.file)?;
        read_exact_at(
            &mut f,
            bytemuck::cast_slice_mut(dst),
            offset + (t * per * width) as u64,
        )
    });
    all_read(info, results)?;
    Ok(out)
}

/// The tensor's `n` stored values of type `S`, each converted by `conv`, read in pieces on
/// all cores.
fn read_as<S, D, F>(info: &TensorInfo, n: usize, conv: F) -> candle_core::Result<Vec<D>>
where
    S: bytemuck::Pod,
    D: bytemuck::Zeroable + Copy + Send,
    F: Fn(S) -> D + Copy + Send + Sync,
{
    let width = size_of::<S>();
    let offset = byte_range(info, n, width)?;
    let (mut out, per) = buffer::<D>(info, n)?;
    let results = each_chunk_mut(&mut out, per, "a weight read", |t, dst| {
        read_into(&info.file, offset + (t * per * width) as u64, dst, conv)
    });
    all_read(info, results)?;
    Ok(out)
}

/// Reads `dst.len()` values of `S` from `path` at byte `start`, converted into `dst`.
fn read_into<S: bytemuck::Pod, D>(
    path: &Path,
    start: u64,
    dst: &mut [D],
    conv: impl Fn(S) -> D,
) -> std::io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![S::zeroed(); PIECE.min(dst.len())];
    let mut at = start;
    for piece in dst.chunks_mut(PIECE) {
        let src = &mut buf[..piece.len()];
        read_exact_at(&mut f, bytemuck::cast_slice_mut(src), at)?;
        at += size_of_val(src) as u64;
        for (d, s) in piece.iter_mut().zip(src.iter()) {
            *d = conv(*s);
        }
    }
    Ok(())
}

/// Fills `buf` from byte `at` of `f` (a positioned read where the platform has one).
pub(super) fn read_exact_at(f: &mut File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(buf)
    }
}

impl candle_nn::var_builder::SimpleBackend for WeightReader {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.read(name, dtype, dev)?;
        if t.shape() != &s {
            Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: t.shape().clone(),
            }
            .bt())?
        }
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.read(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::Checkpoint;
    use candle_nn::var_builder::SimpleBackend;

    fn tiny() -> Checkpoint {
        Checkpoint::open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tiny_spatialvla"))
            .expect("the bundled checkpoint opens")
    }

    /// Every tensor of the bundled checkpoint, in float32 and bfloat16, bit for bit what
    /// candle's memory-mapped loader gives.
    #[test]
    #[expect(unsafe_code, reason = "candle's mmap loader as the comparison")]
    fn reads_what_candles_loader_reads() {
        let ck = tiny();
        let reader = WeightReader::new(ck.tensors.clone());
        // SAFETY: the bundled checkpoint is read-only test data nobody writes during tests.
        let mm =
            unsafe { candle_core::safetensors::MmapedSafetensors::multi(&ck.files) }.expect("maps");
        for (name, info) in &ck.tensors {
            for dtype in [DType::F32, DType::BF16] {
                let got = reader
                    .get(
                        Shape::from(info.shape.clone()),
                        name,
                        candle_nn::Init::Const(0.0),
                        dtype,
                        &Device::Cpu,
                    )
                    .unwrap();
                let want = mm
                    .load(name, &Device::Cpu)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap();
                assert_eq!(got.dtype(), dtype);
                let (g, w): (Vec<f32>, Vec<f32>) = (
                    got.flatten_all()
                        .unwrap()
                        .to_dtype(DType::F32)
                        .unwrap()
                        .to_vec1()
                        .unwrap(),
                    want.flatten_all()
                        .unwrap()
                        .to_dtype(DType::F32)
                        .unwrap()
                        .to_vec1()
                        .unwrap(),
                );
                assert!(
                    g.iter().zip(&w).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name} as {dtype:?}"
                );
            }
        }
    }

    /// A file cut short after its header was checked (another process truncating it) is an
    /// error naming the file, not a panic or garbage.
    #[test]
    fn a_file_truncated_after_the_check_is_an_error() {
        let ck = tiny();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("model.safetensors");
        std::fs::copy(&ck.files[0], &copy).unwrap();
        let (name, info) = ck
            .tensors
            .iter()
            .max_by_key(|(_, i)| i.bytes.map_or(0, |b| b.0))
            .unwrap();
        let mut info = info.clone();
        info.file = copy.clone();
        let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
        f.set_len(info.bytes.unwrap().0 + 1).unwrap();
        let reader = WeightReader::new([(name.clone(), info.clone())].into());
        let e = reader
            .get_unchecked(name, DType::F32, &Device::Cpu)
            .expect_err("truncated");
        assert!(e.to_string().contains("model.safetensors"), "{e}");
        let e = reader
            .get(
                Shape::from(vec![1usize]),
                name,
                candle_nn::Init::Const(0.0),
                DType::F32,
                &Device::Cpu,
            )
            .expect_err("truncated");
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
