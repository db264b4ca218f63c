//! Finding and checking a checkpoint's weights (spec 7.1, 7.4, 7.5) before any tensor is
//! built. The release is two bfloat16 shards named by `model.safetensors.index.json`; the
//! tiny reference checkpoint is a single `model.safetensors`. Both are memory-mapped, so
//! opening an 8 GB checkpoint costs page-table entries, not RAM, until a tensor is used.
//!
//! Every check runs on the safetensors headers first, so a missing shard, a truncated file,
//! a tensor of the wrong shape or dtype is reported by name instead of surfacing as a
//! panic or an anonymous shape error deep inside a layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use super::config::SpatialVlaConfig;
use super::error::{ModelError, Result};

/// Prefix of the embedded ZoeDepth weights (used by the depth issue, ignored here).
pub const ZOE_PREFIX: &str = "vision_zoe_model.";

/// Name and shape of every tensor the SpatialVLA model (without ZoeDepth) reads, in the
/// order of spec 7.5.
pub fn expected_tensors(cfg: &SpatialVlaConfig) -> Vec<(String, Vec<usize>)> {
    let t = &cfg.text;
    let v = &cfg.vision;
    let enc = 3 * cfg.ego3d_patch_reso.pow(2) * (2 * cfg.n_freqs + 1);
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |name: String, shape: &[usize]| out.push((name, shape.to_vec()));
    let pe = "position_embedding_3d.position_embedding_head";
    push(format!("{pe}.0.weight"), &[v.hidden_size, enc]);
    push(format!("{pe}.0.bias"), &[v.hidden_size]);
    push(format!("{pe}.1.weight"), &[v.hidden_size]);
    push(format!("{pe}.1.bias"), &[v.hidden_size]);
    push(format!("{pe}.3.weight"), &[v.hidden_size, v.hidden_size]);
    push(format!("{pe}.3.bias"), &[v.hidden_size]);
    if cfg.use_spatial_token {
        push(
            "spatial_embed_tokens.weight".into(),
            &[cfg.spatial_token_num, t.hidden_size],
        );
    }
    push(
        "multi_modal_projector.linear.weight".into(),
        &[cfg.projection_dim(), v.hidden_size],
    );
    push(
        "multi_modal_projector.linear.bias".into(),
        &[cfg.projection_dim()],
    );
    push(
        "language_model.model.embed_tokens.weight".into(),
        &[t.vocab_size, t.hidden_size],
    );
    push(
        "language_model.lm_head.weight".into(),
        &[t.vocab_size, t.hidden_size],
    );
    push("language_model.model.norm.weight".into(), &[t.hidden_size]);
    let q = t.num_attention_heads * t.head_dim;
    let kv = t.num_key_value_heads * t.head_dim;
    for i in 0..t.num_hidden_layers {
        let l = format!("language_model.model.layers.{i}");
        push(format!("{l}.self_attn.q_proj.weight"), &[q, t.hidden_size]);
        push(format!("{l}.self_attn.k_proj.weight"), &[kv, t.hidden_size]);
        push(format!("{l}.self_attn.v_proj.weight"), &[kv, t.hidden_size]);
        push(format!("{l}.self_attn.o_proj.weight"), &[t.hidden_size, q]);
        push(
            format!("{l}.mlp.gate_proj.weight"),
            &[t.intermediate_size, t.hidden_size],
        );
        push(
            format!("{l}.mlp.up_proj.weight"),
            &[t.intermediate_size, t.hidden_size],
        );
        push(
            format!("{l}.mlp.down_proj.weight"),
            &[t.hidden_size, t.intermediate_size],
        );
        for norm in [
            "input_layernorm",
            "post_attention_layernorm",
            "pre_feedforward_layernorm",
            "post_feedforward_layernorm",
        ] {
            push(format!("{l}.{norm}.weight"), &[t.hidden_size]);
        }
    }
    let vm = "vision_tower.vision_model";
    let (p, h) = (v.patch_size, v.hidden_size);
    push(
        format!("{vm}.embeddings.patch_embedding.weight"),
        &[h, 3, p, p],
    );
    push(format!("{vm}.embeddings.patch_embedding.bias"), &[h]);
    push(
        format!("{vm}.embeddings.position_embedding.weight"),
        &[v.num_patches(), h],
    );
    for i in 0..v.num_hidden_layers {
        let l = format!("{vm}.encoder.layers.{i}");
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            push(format!("{l}.self_attn.{proj}.weight"), &[h, h]);
            push(format!("{l}.self_attn.{proj}.bias"), &[h]);
        }
        push(format!("{l}.mlp.fc1.weight"), &[v.intermediate_size, h]);
        push(format!("{l}.mlp.fc1.bias"), &[v.intermediate_size]);
        push(format!("{l}.mlp.fc2.weight"), &[h, v.intermediate_size]);
        push(format!("{l}.mlp.fc2.bias"), &[h]);
        for norm in ["layer_norm1", "layer_norm2"] {
            push(format!("{l}.{norm}.weight"), &[h]);
            push(format!("{l}.{norm}.bias"), &[h]);
        }
    }
    push(format!("{vm}.post_layernorm.weight"), &[h]);
    push(format!("{vm}.post_layernorm.bias"), &[h]);
    out
}

/// One tensor as its safetensors header describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub file: PathBuf,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Where its bytes start in `file` (header included) and how many there are; `None`
    /// for tensors not read from a safetensors file (`.pth` storages).
    pub bytes: Option<(u64, u64)>,
}

/// A checkpoint folder whose headers have been read and checked.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: SpatialVlaConfig,
    pub files: Vec<PathBuf>,
    pub tensors: BTreeMap<String, TensorInfo>,
    /// Tensor names outside the expected set and outside ZoeDepth (reported, not fatal).
    pub unexpected: Vec<String>,
    /// Whether ZoeDepth weights are present.
    pub has_zoe_weights: bool,
    /// Values its float32 models keep as stored bfloat16 (`packed_load.rs`).
    kept_bf16: Arc<AtomicU64>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("dir", &self.dir)
            .field("files", &self.files)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

fn tensor_err(dir: &Path, name: &str, what: impl Into<String>) -> ModelError {
    ModelError::Tensor {
        dir: dir.to_path_buf(),
        name: name.to_owned(),
        what: what.into(),
    }
}

/// The weight files of `dir` and, for a sharded checkpoint, which tensor each holds.
/// Shard files, and for an index which file each tensor is in.
type WeightFiles = (Vec<PathBuf>, Option<BTreeMap<String, PathBuf>>);

fn weight_files(dir: &Path) -> Result<WeightFiles> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| ModelError::Io {
            path: index.clone(),
            what: format!("cannot read: {e}"),
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: index.clone(),
            field: "(file)".into(),
            what: format!("not valid JSON: {e}"),
        })?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| ModelError::Config {
                path: index.clone(),
                field: "weight_map".into(),
                what: "missing or not an object".into(),
            })?;
        let mut routing = BTreeMap::new();
        let mut files: Vec<PathBuf> = Vec::new();
        for (name, file) in map {
            let file = file.as_str().ok_or_else(|| ModelError::Config {
                path: index.clone(),
                field: format!("weight_map.{name}"),
                what: "expected a file name".into(),
            })?;
            let shard = Path::new(file);
            if shard.components().count() != 1 || shard.is_absolute() {
                return Err(ModelError::Config {
                    path: index.clone(),
                    field: format!("weight_map.{name}"),
                    what: format!("`{file}` is not a file name inside the checkpoint folder"),
                });
            }
            let path = dir.join(shard);
            if !path.is_file() {
                return Err(ModelError::Io {
                    path,
                    what: format!(
                        "shard missing (it holds `{name}`, named by {})",
                        index.display()
                    ),
                });
            }
            if !files.contains(&path) {
                files.push(path.clone());
            }
            routing.insert(name.clone(), path);
        }
        files.sort();
        return Ok((files, Some(routing)));
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok((vec![single], None));
    }
    Err(ModelError::Io {
        path: dir.to_path_buf(),
        what: "no model.safetensors or model.safetensors.index.json in this folder".into(),
    })
}

/// Reads a safetensors header (8-byte little-endian length, then JSON) and checks that the
/// file is long enough for every tensor it declares.
fn read_header(path: &Path) -> Result<BTreeMap<String, TensorInfo>> {
    Ok(read_header_and_metadata(path)?.0)
}

/// [`read_header`] and the file's `__metadata__` string map (empty when absent; non-string
/// values are skipped).
pub(crate) fn read_header_and_metadata(
    path: &Path,
) -> Result<(BTreeMap<String, TensorInfo>, BTreeMap<String, String>)> {
    use std::io::Read;
    let io = |what: String| ModelError::Io {
        path: path.to_path_buf(),
        what,
    };
    let mut f = std::fs::File::open(path).map_err(|e| io(format!("cannot open: {e}")))?;
    let file_len = f
        .metadata()
        .map_err(|e| io(format!("cannot stat: {e}")))?
        .len();
    let mut len8 = [0u8; 8];
    f.read_exact(&mut len8)
        .map_err(|_| io("truncated: shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(len8);
    if n > 100_000_000 || 8 + n > file_len {
        return Err(io(format!(
            "truncated or not safetensors: header of {n} bytes in a {file_len}-byte file"
        )));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| io(format!("cannot read the header: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| io(format!("safetensors header is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| io("safetensors header is not an object".into()))?;
    let data_len = file_len - 8 - n;
    let mut out = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, entry) in obj {
        if name == "__metadata__" {
            if let Some(m) = entry.as_object() {
                for (k, v) in m {
                    if let Some(v) = v.as_str() {
                        metadata.insert(k.clone(), v.to_owned());
                    }
                }
            }
            continue;
        }
        let bad = |what: &str| io(format!("tensor `{name}`: {what}"));
        let dtype = entry
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("no dtype"))?
            .to_owned();
        let shape: Vec<usize> = entry
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("shape is not a list of integers"))?;
        let offsets = entry
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)))
            .ok_or_else(|| bad("no data_offsets"))?;
        let width = match dtype.as_str() {
            "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => Some(1),
            "BF16" | "F16" | "I16" | "U16" => Some(2),
            "F32" | "I32" | "U32" => Some(4),
            "F64" | "I64" | "U64" => Some(8),
            _ => None,
        };
        if let Some(width) = width {
            let want = shape
                .iter()
                .try_fold(width as u64, |n: u64, &d| n.checked_mul(d as u64))
                .ok_or_else(|| {
                    bad(&format!(
                        "{dtype}{shape:?}: the element count overflows 64 bits (a hostile or damaged header)"
                    ))
                })?;
            if offsets.1.saturating_sub(offsets.0) != want {
                return Err(bad(&format!(
                    "{dtype}{shape:?} needs {want} bytes but the header gives {}",
                    offsets.1.saturating_sub(offsets.0)
                )));
            }
        }
        if offsets.1 > data_len || offsets.0 > offsets.1 {
            return Err(bad(&format!(
                "data ends at byte {} but the file holds {data_len} data bytes (truncated?)",
                offsets.1
            )));
        }
        out.insert(
            name.clone(),
            TensorInfo {
                file: path.to_path_buf(),
                dtype,
                shape,
                bytes: Some((8 + n + offsets.0, offsets.1 - offsets.0)),
            },
        );
    }
    Ok((out, metadata))
}

impl Checkpoint {
    /// Reads `config.json` and every safetensors header, and checks every expected tensor's
    /// presence, shape and dtype.
    pub fn open(dir: &Path) -> Result<Self> {
        let config = SpatialVlaConfig::load(dir)?;
        let (files, routing) = weight_files(dir)?;
        let mut tensors = BTreeMap::new();
        for file in &files {
            tensors.extend(read_header(file)?);
        }
        if let Some(routing) = &routing {
            for (name, file) in routing {
                match tensors.get(name) {
                    None => {
                        return Err(tensor_err(
                            dir,
                            name,
                            format!(
                                "the index names {} but the tensor is not in it",
                                file.display()
                            ),
                        ));
                    }
                    Some(info) if &info.file != file => {
                        return Err(tensor_err(
                            dir,
                            name,
                            format!(
                                "the index names {} but it is in {}",
                                file.display(),
                                info.file.display()
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let expected = expected_tensors(&config);
        for (name, shape) in &expected {
            let info = tensors
                .get(name)
                .ok_or_else(|| tensor_err(dir, name, "missing from the checkpoint"))?;
            if &info.shape != shape {
                return Err(tensor_err(
                    dir,
                    name,
                    format!(
                        "shape {:?} in {}, but config.json implies {shape:?}",
                        info.shape,
                        info.file.display()
                    ),
                ));
            }
            if !matches!(info.dtype.as_str(), "BF16" | "F16" | "F32") {
                return Err(tensor_err(
                    dir,
                    name,
                    format!(
                        "dtype {} in {}; weights must be BF16, F16 or F32",
                        info.dtype,
                        info.file.display()
                    ),
                ));
            }
        }
        let known: std::collections::HashSet<&str> =
            expected.iter().map(|(n, _)| n.as_str()).collect();
        let unexpected: Vec<String> = tensors
            .keys()
            .filter(|n| !known.contains(n.as_str()) && !n.starts_with(ZOE_PREFIX))
            .cloned()
            .collect();
        let has_zoe_weights = tensors.keys().any(|n| n.starts_with(ZOE_PREFIX));
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            config,
            files,
            tensors,
            unexpected,
            has_zoe_weights,
            kept_bf16: Arc::default(),
        })
    }

    /// A variable store reading each tensor into `dtype` as the model asks for it
    /// (`weights.rs`: one copy in memory, the conversion on all cores).
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        Ok(VarBuilder::from_backend(
            Box::new(self.weight_reader()),
            dtype,
            device.clone(),
        ))
    }

    /// A reader over the checked files, for layers read straight into packed panels
    /// (`packed_load.rs`).
    pub fn weight_reader(&self) -> super::weights::WeightReader {
        super::weights::WeightReader::counting_into(self.tensors.clone(), self.kept_bf16.clone())
    }

    /// How many values the float32 models loaded from this checkpoint so far keep as
    /// stored bfloat16 (2 bytes each, not 4): packed layers and embedding tables.
    pub fn values_kept_bf16(&self) -> u64 {
        self.kept_bf16.load(Ordering::Relaxed)
    }

    /// Total parameter count of the tensors the model reads.
    pub fn parameter_count(&self) -> usize {
        expected_tensors(&self.config)
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// (ZoeDepth's parameters as stored, everything else's): ZoeDepth always runs in
    /// float32, the rest in the chosen dtype.
    pub fn parameter_split(&self) -> (usize, usize) {
        let zoe = self
            .tensors
            .iter()
            .filter(|(n, _)| n.starts_with(ZOE_PREFIX))
            .map(|(_, t)| t.shape.iter().product::<usize>())
            .sum();
        (zoe, self.parameter_count())
    }
}
