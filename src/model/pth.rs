//! PyTorch checkpoints as `torch.save` writes them (a zip archive: `<name>/data.pkl`, the
//! pickled state dict, and `<name>/data/<key>`, one raw little-endian storage per key), read
//! without Python and without running the pickle: `util::pickle` maps the pickle to plain
//! data with persistent ids kept, and each `torch._utils._rebuild_tensor_v2(storage, offset,
//! size, stride, ...)` it names is rebuilt here from its storage's bytes.
//!
//! Float tensors (float32, float16, bfloat16, float64) become float32 candle tensors; any
//! stride pattern inside the storage is gathered. Everything read from the file is checked
//! first: the storage entry exists, is stored uncompressed and is as long as its element
//! count says; offset + the extent of size and stride lies inside it; counts do not overflow.
//! Integer tensors (e.g. batch-norm counters) are skipped: no network here reads one.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::checkpoint::TensorInfo;
use super::error::{ModelError, Result};
use crate::util::pickle::{self, Value};

/// Largest `data.pkl` read (the real ones are tens of kilobytes).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

fn err(path: &Path, what: impl Into<String>) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Float {
    F32,
    F16,
    Bf16,
    F64,
}

impl Float {
    fn from_storage(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::Bf16,
            "DoubleStorage" => Self::F64,
            _ => return None,
        })
    }
    fn width(self) -> usize {
        match self {
            Self::F16 | Self::Bf16 => 2,
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }
    fn safetensors_name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
            Self::F64 => "F64",
        }
    }
    fn get(self, bytes: &[u8], i: usize) -> f32 {
        let w = self.width();
        let b = &bytes[i * w..(i + 1) * w];
        match self {
            Self::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Self::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::Bf16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            Self::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
        }
    }
}

/// One tensor as the pickle describes it.
struct Rebuild {
    storage_key: String,
    float: Option<Float>,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

fn usize_of(v: &Value) -> Option<usize> {
    v.as_i64().and_then(|i| usize::try_from(i).ok())
}

fn dims(v: &Value) -> Option<Vec<usize>> {
    v.as_seq()?.iter().map(usize_of).collect()
}

/// `_rebuild_tensor_v2(...)` (possibly inside `_rebuild_parameter(...)`) as a [`Rebuild`].
fn rebuild(v: &Value) -> Option<Rebuild> {
    let Value::Object(o) = v else { return None };
    match o.class.as_str() {
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" => {
            rebuild(o.args.first()?)
        }
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            let Value::Persistent(pid) = o.args.first()? else {
                return None;
            };
            let pid = pid.as_seq()?;
            if pid.first()?.as_str()? != "storage" {
                return None;
            }
            let float = match pid.get(1)? {
                Value::Global { name, .. } => Float::from_storage(name),
                _ => None,
            };
            Some(Rebuild {
                storage_key: pid.get(2)?.as_str()?.to_owned(),
                float,
                offset: usize_of(o.args.get(1)?)?,
                size: dims(o.args.get(2)?)?,
                stride: dims(o.args.get(3)?)?,
            })
        }
        _ => None,
    }
}

/// The state dict: the root dict, or one wrapped under `state_dict` / `model`.
fn state_dict(root: &Value) -> Option<&[(Value, Value)]> {
    let Value::Dict(items) = root else {
        return None;
    };
    for wrapper in ["state_dict", "model"] {
        if let Some((_, Value::Dict(inner))) =
            items.iter().find(|(k, _)| k.as_str() == Some(wrapper))
        {
            return Some(inner);
        }
    }
    Some(items)
}

/// Reads every float tensor of a `torch.save` checkpoint: their table (for the config and
/// shape checks) and the tensors themselves, float32 on `device`.
pub fn read(
    path: &Path,
    device: &Device,
) -> Result<(BTreeMap<String, TensorInfo>, HashMap<String, Tensor>)> {
    let file = std::fs::File::open(path).map_err(|e| err(path, format!("cannot open: {e}")))?;
    let file_len = file
        .metadata()
        .map_err(|e| err(path, format!("cannot stat: {e}")))?
        .len();
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        err(
            path,
            format!("not a PyTorch zip checkpoint ({e}); the legacy pre-1.6 format is not read"),
        )
    })?;
    let pkl_name = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .collect::<Vec<_>>();
    let [pkl_name] = pkl_name.as_slice() else {
        return Err(err(
            path,
            format!(
                "{} `*/data.pkl` entries; a torch.save archive has one",
                pkl_name.len()
            ),
        ));
    };
    let prefix = pkl_name.trim_end_matches("data.pkl").to_owned();
    let mut read_entry = |name: &str, limit: u64| -> Result<Vec<u8>> {
        let mut entry = zip
            .by_name(name)
            .map_err(|e| err(path, format!("entry `{name}`: {e}")))?;
        if entry.compression() != zip::CompressionMethod::Stored {
            return Err(err(
                path,
                format!("entry `{name}` is compressed; torch.save stores entries uncompressed"),
            ));
        }
        let size = entry.size();
        if size > limit || size > file_len {
            return Err(err(
                path,
                format!("entry `{name}` declares {size} bytes (the file has {file_len})"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(size)
            .read_to_end(&mut buf)
            .map_err(|e| err(path, format!("entry `{name}`: {e}")))?;
        if buf.len() as u64 != size {
            return Err(err(path, format!("entry `{name}` is truncated")));
        }
        Ok(buf)
    };
    if let Ok(order) = read_entry(&format!("{prefix}byteorder"), 16)
        && order != b"little"
    {
        return Err(err(
            path,
            "a big-endian checkpoint; only little-endian storages are read",
        ));
    }
    let pkl = read_entry(pkl_name, MAX_PICKLE_BYTES)?;
    let root = pickle::parse_with_persistent_ids(&pkl)
        .map_err(|e| err(path, format!("{pkl_name}: {e}")))?;
    let items = state_dict(&root).ok_or_else(|| {
        err(
            path,
            format!("{pkl_name} holds {}, not a state dict", root.kind()),
        )
    })?;
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut infos = BTreeMap::new();
    let mut tensors = HashMap::new();
    for (k, v) in items {
        let Some(name) = k.as_str() else { continue };
        let Some(r) = rebuild(v) else { continue };
        let Some(float) = r.float else { continue };
        let bad = |what: String| ModelError::Tensor {
            dir: path.to_path_buf(),
            name: name.to_owned(),
            what,
        };
        if r.size.len() != r.stride.len() {
            return Err(bad(format!(
                "size {:?} and stride {:?} differ in rank",
                r.size, r.stride
            )));
        }
        if !storages.contains_key(&r.storage_key) {
            let bytes = read_entry(&format!("{prefix}data/{}", r.storage_key), file_len)?;
            storages.insert(r.storage_key.clone(), bytes);
        }
        let storage = &storages[&r.storage_key];
        let n_storage = storage.len() / float.width();
        let count = r.size.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
        let extent = r
            .size
            .iter()
            .zip(&r.stride)
            .try_fold(r.offset, |a, (d, s)| {
                a.checked_add(d.saturating_sub(1).checked_mul(*s)?)
            });
        let (Some(count), Some(last)) = (count, extent) else {
            return Err(bad(format!(
                "size {:?} x stride {:?} overflows",
                r.size, r.stride
            )));
        };
        if count > 0 && last >= n_storage {
            return Err(bad(format!(
                "reaches element {last} of a {n_storage}-element storage `{}`",
                r.storage_key
            )));
        }
        // Row-major walk over the index space, gathering through the strides.
        let mut values = Vec::with_capacity(count);
        let mut index = vec![0usize; r.size.len()];
        for _ in 0..count {
            let at = r.offset
                + index
                    .iter()
                    .zip(&r.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            values.push(float.get(storage, at));
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < r.size[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        let t = Tensor::from_vec(values, r.size.clone(), device)?;
        infos.insert(
            name.to_owned(),
            TensorInfo {
                file: path.to_path_buf(),
                dtype: float.safetensors_name().to_owned(),
                shape: r.size,
                bytes: None,
            },
        );
        tensors.insert(name.to_owned(), t);
    }
    if tensors.is_empty() {
        return Err(err(path, format!("{pkl_name} holds no float tensors")));
    }
    Ok((infos, tensors))
}
