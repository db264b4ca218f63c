//! What a Depth Anything V2 checkpoint is, read from its tensors: the official releases
//! carry no config file, so the widths come from the shapes (`pretrained.pos_embed`,
//! `depth_head.projects.N.weight`, ...), the intermediate layers from the depth as the
//! official `intermediate_layer_idx` table gives them (12 blocks: ViT-S/B, 24: ViT-L), the
//! head count from the safetensors metadata `num_heads` or else the released 64-wide heads,
//! and metric against relative from `max_depth` (metadata, the caller, or the released file
//! names `*metric_hypersim*` = 20 m and `*metric_vkitti*` = 80 m).
//!
//! Every tensor the network reads is then checked by name, shape and dtype before anything
//! is built, so a wrong or damaged file is reported by tensor name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::checkpoint::TensorInfo;
use crate::model::error::{ModelError, Result};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DepthAnythingConfig {
    /// "vits", "vitb", "vitl" for the released widths, else "custom".
    pub encoder: String,
    pub embed_dim: usize,
    pub num_blocks: usize,
    pub num_heads: usize,
    pub mlp_hidden: usize,
    pub patch_px: usize,
    /// Side of the stored position-embedding grid (37 for 518 px).
    pub pos_grid: usize,
    /// DPT head width and the four reassemble widths.
    pub features: usize,
    pub out_channels: [usize; 4],
    /// Blocks whose (normalised) outputs feed the head.
    pub layers: [usize; 4],
    /// `Some(m)`: the metric variant (sigmoid x m metres); `None`: relative inverse depth.
    pub max_depth_m: Option<f64>,
}

fn cfg_err(path: &Path, field: &str, what: impl Into<String>) -> ModelError {
    ModelError::Config {
        path: path.to_path_buf(),
        field: field.into(),
        what: what.into(),
    }
}

fn tensor_err(path: &Path, name: &str, what: impl Into<String>) -> ModelError {
    ModelError::Tensor {
        dir: path.to_path_buf(),
        name: name.into(),
        what: what.into(),
    }
}

fn shape<'a>(
    path: &Path,
    tensors: &'a BTreeMap<String, TensorInfo>,
    name: &str,
    rank: usize,
) -> Result<&'a [usize]> {
    let info = tensors
        .get(name)
        .ok_or_else(|| tensor_err(path, name, "missing: not a Depth Anything V2 checkpoint in the official names (`pretrained.*`, `depth_head.*`)"))?;
    if info.shape.len() != rank || info.shape.contains(&0) {
        return Err(tensor_err(
            path,
            name,
            format!(
                "shape {:?}, expected {rank} non-zero dimensions",
                info.shape
            ),
        ));
    }
    Ok(&info.shape)
}

/// The max depth a released metric checkpoint's file name implies.
fn max_depth_from_name(path: &Path) -> Option<f64> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.contains("metric_hypersim") {
        Some(20.0)
    } else if name.contains("metric_vkitti") {
        Some(80.0)
    } else {
        None
    }
}

fn metadata_number(
    path: &Path,
    metadata: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<f64>> {
    match metadata.get(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x > 0.0 && *x < 1e6)
            .map(Some)
            .ok_or_else(|| {
                cfg_err(
                    path,
                    key,
                    format!("metadata `{v}` is not a positive number"),
                )
            }),
    }
}

impl DepthAnythingConfig {
    /// Infers and checks the configuration; `max_depth_override` (metres) makes it metric.
    pub fn infer(
        path: &Path,
        tensors: &BTreeMap<String, TensorInfo>,
        metadata: &BTreeMap<String, String>,
        max_depth_override: Option<f64>,
    ) -> Result<Self> {
        for (name, why) in [
            ("pretrained.register_tokens", "DINOv2 register tokens"),
            (
                "pretrained.blocks.0.mlp.w12.weight",
                "the SwiGLU feed-forward of ViT-G",
            ),
            (
                "depth_head.readout_projects.0.0.weight",
                "the class-token readout (use_clstoken)",
            ),
            (
                "depth_head.scratch.refinenet1.resConfUnit1.bn1.weight",
                "batch norm in the head (use_bn)",
            ),
        ] {
            if tensors.contains_key(name) {
                return Err(tensor_err(
                    path,
                    name,
                    format!(
                        "{why} is not supported (no released Depth Anything V2 checkpoint uses it)"
                    ),
                ));
            }
        }
        let pos = shape(path, tensors, "pretrained.pos_embed", 3)?;
        let embed_dim = pos[2];
        let n = pos[1] - 1;
        let pos_grid = (n as f64).sqrt().round() as usize;
        if pos[0] != 1 || pos_grid * pos_grid != n || pos_grid == 0 {
            return Err(tensor_err(
                path,
                "pretrained.pos_embed",
                format!("shape {pos:?}: not 1 x (1 + g^2) x width"),
            ));
        }
        let patch = shape(path, tensors, "pretrained.patch_embed.proj.weight", 4)?;
        if patch[1] != 3 || patch[2] != patch[3] || patch[0] != embed_dim {
            return Err(tensor_err(
                path,
                "pretrained.patch_embed.proj.weight",
                format!("shape {patch:?}: not width x 3 x p x p"),
            ));
        }
        let num_blocks = (0..)
            .take_while(|i| tensors.contains_key(&format!("pretrained.blocks.{i}.norm1.weight")))
            .count();
        let layers = match num_blocks {
            12 => [2, 5, 8, 11],
            24 => [4, 11, 17, 23],
            40 => [9, 19, 29, 39],
            n => {
                return Err(cfg_err(
                    path,
                    "pretrained.blocks",
                    format!("{n} blocks; the released encoders have 12 (ViT-S/B) or 24 (ViT-L)"),
                ));
            }
        };
        let num_heads = match metadata_number(path, metadata, "num_heads")? {
            Some(h) if h.fract() == 0.0 => h as usize,
            Some(h) => {
                return Err(cfg_err(
                    path,
                    "num_heads",
                    format!("metadata {h} is not a whole number"),
                ));
            }
            None => embed_dim / 64,
        };
        if num_heads == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(cfg_err(
                path,
                "num_heads",
                format!(
                    "{num_heads} heads do not divide the width {embed_dim} (set `num_heads` in the safetensors metadata)"
                ),
            ));
        }
        let mlp_hidden = shape(path, tensors, "pretrained.blocks.0.mlp.fc1.weight", 2)?[0];
        let mut out_channels = [0usize; 4];
        for (i, oc) in out_channels.iter_mut().enumerate() {
            *oc = shape(path, tensors, &format!("depth_head.projects.{i}.weight"), 4)?[0];
        }
        let features = shape(path, tensors, "depth_head.scratch.layer1_rn.weight", 4)?[0];
        let max_depth_m = match max_depth_override {
            Some(m) if m.is_finite() && m > 0.0 => Some(m),
            Some(m) => {
                return Err(cfg_err(
                    path,
                    "max_depth",
                    format!("{m} is not a positive depth in metres"),
                ));
            }
            None => {
                metadata_number(path, metadata, "max_depth")?.or_else(|| max_depth_from_name(path))
            }
        };
        let encoder = match (embed_dim, num_blocks, num_heads) {
            (384, 12, 6) => "vits",
            (768, 12, 12) => "vitb",
            (1024, 24, 16) => "vitl",
            _ => "custom",
        }
        .to_string();
        let cfg = Self {
            encoder,
            embed_dim,
            num_blocks,
            num_heads,
            mlp_hidden,
            patch_px: patch[2],
            pos_grid,
            features,
            out_channels,
            layers,
            max_depth_m,
        };
        cfg.check_tensors(path, tensors)?;
        Ok(cfg)
    }

    /// Name and shape of every tensor the network reads.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (c, p, f) = (self.embed_dim, self.patch_px, self.features);
        let mut v: Vec<(String, Vec<usize>)> = vec![
            ("pretrained.cls_token".into(), vec![1, 1, c]),
            (
                "pretrained.pos_embed".into(),
                vec![1, 1 + self.pos_grid.pow(2), c],
            ),
            (
                "pretrained.patch_embed.proj.weight".into(),
                vec![c, 3, p, p],
            ),
            ("pretrained.patch_embed.proj.bias".into(), vec![c]),
            ("pretrained.norm.weight".into(), vec![c]),
            ("pretrained.norm.bias".into(), vec![c]),
        ];
        for b in 0..self.num_blocks {
            let pre = format!("pretrained.blocks.{b}");
            for (n, s) in [
                ("norm1.weight", vec![c]),
                ("norm1.bias", vec![c]),
                ("attn.qkv.weight", vec![3 * c, c]),
                ("attn.qkv.bias", vec![3 * c]),
                ("attn.proj.weight", vec![c, c]),
                ("attn.proj.bias", vec![c]),
                ("ls1.gamma", vec![c]),
                ("norm2.weight", vec![c]),
                ("norm2.bias", vec![c]),
                ("mlp.fc1.weight", vec![self.mlp_hidden, c]),
                ("mlp.fc1.bias", vec![self.mlp_hidden]),
                ("mlp.fc2.weight", vec![c, self.mlp_hidden]),
                ("mlp.fc2.bias", vec![c]),
                ("ls2.gamma", vec![c]),
            ] {
                v.push((format!("{pre}.{n}"), s));
            }
        }
        let oc = self.out_channels;
        let h = "depth_head";
        for (i, o) in oc.iter().enumerate() {
            v.push((format!("{h}.projects.{i}.weight"), vec![*o, c, 1, 1]));
            v.push((format!("{h}.projects.{i}.bias"), vec![*o]));
            v.push((
                format!("{h}.scratch.layer{}_rn.weight", i + 1),
                vec![f, *o, 3, 3],
            ));
        }
        for (i, k) in [(0usize, 4usize), (1, 2)] {
            v.push((
                format!("{h}.resize_layers.{i}.weight"),
                vec![oc[i], oc[i], k, k],
            ));
            v.push((format!("{h}.resize_layers.{i}.bias"), vec![oc[i]]));
        }
        v.push((
            format!("{h}.resize_layers.3.weight"),
            vec![oc[3], oc[3], 3, 3],
        ));
        v.push((format!("{h}.resize_layers.3.bias"), vec![oc[3]]));
        for r in 1..=4 {
            let pre = format!("{h}.scratch.refinenet{r}");
            v.push((format!("{pre}.out_conv.weight"), vec![f, f, 1, 1]));
            v.push((format!("{pre}.out_conv.bias"), vec![f]));
            // refinenet4 has a first residual unit in the file but never uses it.
            let units: &[usize] = if r == 4 { &[2] } else { &[1, 2] };
            for u in units {
                for conv in ["conv1", "conv2"] {
                    v.push((
                        format!("{pre}.resConfUnit{u}.{conv}.weight"),
                        vec![f, f, 3, 3],
                    ));
                    v.push((format!("{pre}.resConfUnit{u}.{conv}.bias"), vec![f]));
                }
            }
        }
        v.push((
            format!("{h}.scratch.output_conv1.weight"),
            vec![f / 2, f, 3, 3],
        ));
        v.push((format!("{h}.scratch.output_conv1.bias"), vec![f / 2]));
        v.push((
            format!("{h}.scratch.output_conv2.0.weight"),
            vec![32, f / 2, 3, 3],
        ));
        v.push((format!("{h}.scratch.output_conv2.0.bias"), vec![32]));
        v.push((
            format!("{h}.scratch.output_conv2.2.weight"),
            vec![1, 32, 1, 1],
        ));
        v.push((format!("{h}.scratch.output_conv2.2.bias"), vec![1]));
        v
    }

    fn check_tensors(&self, path: &Path, tensors: &BTreeMap<String, TensorInfo>) -> Result<()> {
        for (name, want) in self.expected_tensors() {
            let info = tensors
                .get(&name)
                .ok_or_else(|| tensor_err(path, &name, "missing from the checkpoint"))?;
            if info.shape != want {
                return Err(tensor_err(
                    path,
                    &name,
                    format!("shape {:?}, the other tensors imply {want:?}", info.shape),
                ));
            }
            if !matches!(info.dtype.as_str(), "BF16" | "F16" | "F32") {
                return Err(tensor_err(
                    path,
                    &name,
                    format!("dtype {}; weights must be BF16, F16 or F32", info.dtype),
                ));
            }
        }
        Ok(())
    }

    /// Parameter count of what the network reads.
    pub fn parameter_count(&self) -> usize {
        self.expected_tensors()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// Whether `path` names a PyTorch checkpoint (`.pth` / `.pt`).
pub fn is_pytorch(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pth" | "pt")
    )
}

/// The weights file in `path`: the file itself, or in a folder the one `*.safetensors` or
/// `*.pth` whose name starts with `depth_anything_v2` (else the only such file there).
pub fn weights_file(path: &Path) -> Result<PathBuf> {
    let io = |what: String| ModelError::Io {
        path: path.to_path_buf(),
        what,
    };
    if path.is_file() {
        return match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors" | "pth" | "pt") => Ok(path.to_path_buf()),
            _ => Err(io("neither a .safetensors nor a PyTorch .pth file".into())),
        };
    }
    let entries = std::fs::read_dir(path).map_err(|e| io(format!("cannot list: {e}")))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "safetensors" || e == "pth" || e == "pt")
                && p.is_file()
        })
        .collect();
    found.sort();
    let named: Vec<&PathBuf> = found
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("depth_anything_v2"))
        })
        .collect();
    if let [one] = named.as_slice() {
        return Ok((*one).clone());
    }
    match found.as_slice() {
        [one] if named.is_empty() => Ok(one.clone()),
        [] => Err(io("no .safetensors file in this folder".into())),
        _ => Err(io(format!(
            "{} .safetensors files here; point at one of them",
            found.len()
        ))),
    }
}
