//! SPA's ViT (Zhu et al., "SPA: 3D Spatial-Awareness Enables Effective Embodied
//! Representation"): the MAE-style timm ViT that `spa_vit_base_patch16` /
//! `spa_vit_large_patch16` build (16 px patches, class token, learned position embedding for
//! a square input, pre-norm blocks without layer scale, final LayerNorm eps 1e-6), with SPA's
//! input transform (ImageNet mean and deviation). Its patch features are what SPA's paper
//! shows as feature maps.
//!
//! Reads SPA's tensor names: the released file's `model.img_backbone.*` (the decoder,
//! upsampler, mask token and readout, used only in pre-training, are ignored) or a bare
//! `ViTEncoder` state dict (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`,
//! `norm.*`). Widths from the shapes; the head count from the safetensors metadata
//! `num_heads`, else 64-wide heads (ViT-B 12, ViT-L 16). Parity with SPA's own code on a
//! tiny random-weight checkpoint: `tests/golden/spa/`, `tests/it/spa.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, LayerNorm, VarBuilder, conv2d, layer_norm};

use super::checkpoint::{TensorInfo, read_header_and_metadata};
use super::error::{ModelError, Result};
use super::vit_block::{Block, BlockShape};

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpaConfig {
    pub width: usize,
    pub blocks: usize,
    pub heads: usize,
    pub mlp_hidden: usize,
    pub patch_px: usize,
    /// Patches per side of the input (224 / 16 = 14 for the base recipe).
    pub grid: usize,
    /// `model.img_backbone.` for the released files, empty for a bare state dict.
    pub prefix: String,
}

impl SpaConfig {
    pub fn input_px(&self) -> usize {
        self.grid * self.patch_px
    }
}

fn tensor_err(path: &Path, name: &str, what: impl Into<String>) -> ModelError {
    ModelError::Tensor {
        dir: path.to_path_buf(),
        name: name.into(),
        what: what.into(),
    }
}

fn infer(
    path: &Path,
    t: &BTreeMap<String, TensorInfo>,
    meta: &BTreeMap<String, String>,
) -> Result<SpaConfig> {
    let prefix = if t.contains_key("model.img_backbone.cls_token") {
        "model.img_backbone."
    } else {
        ""
    };
    let get = |name: &str, rank: usize| -> Result<Vec<usize>> {
        let full = format!("{prefix}{name}");
        let info = t.get(&full).ok_or_else(|| {
            tensor_err(
                path,
                &full,
                "missing: not an SPA ViT checkpoint in SPA's names",
            )
        })?;
        if info.shape.len() != rank || info.shape.contains(&0) {
            return Err(tensor_err(path, &full, format!("shape {:?}", info.shape)));
        }
        if !matches!(info.dtype.as_str(), "F32" | "F16" | "BF16") {
            return Err(tensor_err(path, &full, format!("dtype {}", info.dtype)));
        }
        Ok(info.shape.clone())
    };
    let width = get("cls_token", 3)?[2];
    let pe = get("patch_embed.proj.weight", 4)?;
    let pos = get("pos_embed", 3)?;
    let n = pos[1].saturating_sub(1);
    let grid = (n as f64).sqrt().round() as usize;
    if pe[0] != width || pe[1] != 3 || pe[2] != pe[3] || grid * grid != n || pos[2] != width {
        return Err(tensor_err(
            path,
            &format!("{prefix}pos_embed"),
            format!(
                "patch embedding {pe:?} and position embedding {pos:?} do not fit a square ViT of width {width}"
            ),
        ));
    }
    let blocks = (0..)
        .take_while(|i| t.contains_key(&format!("{prefix}blocks.{i}.norm1.weight")))
        .count();
    if blocks == 0 {
        return Err(tensor_err(
            path,
            &format!("{prefix}blocks.0.norm1.weight"),
            "missing",
        ));
    }
    let heads = match meta.get("num_heads").map(|h| h.trim().parse::<usize>()) {
        Some(Ok(h)) if h > 0 => h,
        Some(_) => {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                field: "num_heads".into(),
                what: "metadata is not a positive whole number".into(),
            });
        }
        None => width / 64,
    };
    if heads == 0 || width % heads != 0 {
        return Err(ModelError::Config {
            path: path.to_path_buf(),
            field: "num_heads".into(),
            what: format!("{heads} heads do not divide the width {width}"),
        });
    }
    let mlp_hidden = get("blocks.0.mlp.fc1.weight", 2)?[0];
    for b in 0..blocks {
        for (name, want) in [
            ("attn.qkv.weight", vec![3 * width, width]),
            ("attn.proj.weight", vec![width, width]),
            ("mlp.fc1.weight", vec![mlp_hidden, width]),
            ("mlp.fc2.weight", vec![width, mlp_hidden]),
        ] {
            let got = get(&format!("blocks.{b}.{name}"), 2)?;
            if got != want {
                return Err(tensor_err(
                    path,
                    &format!("{prefix}blocks.{b}.{name}"),
                    format!("shape {got:?}, expected {want:?}"),
                ));
            }
        }
    }
    Ok(SpaConfig {
        width,
        blocks,
        heads,
        mlp_hidden,
        patch_px: pe[2],
        grid,
        prefix: prefix.to_owned(),
    })
}

pub struct SpaVit {
    pub config: SpaConfig,
    pub weights: PathBuf,
    patch_embed: Conv2d,
    cls_token: Tensor,
    pos_embed: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    device: Device,
}

/// One image's features.
pub struct SpaFeatures {
    /// (grid * grid) x width, row-major, patches in raster order.
    pub patches: Vec<f32>,
    pub cls: Vec<f32>,
    pub grid: usize,
    pub width: usize,
}

impl SpaVit {
    /// Loads SPA weights from a `.safetensors` file (memory-mapped, float32).
    #[expect(unsafe_code, reason = "memory-mapping the weights (see SAFETY)")]
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let (tensors, meta) = read_header_and_metadata(path)?;
        let config = infer(path, &tensors, &meta)?;
        // SAFETY: mapped read-only; spatialscope never writes into a checkpoint; the header
        // was checked just above.
        let st = unsafe { MmapedSafetensors::new(path) }.map_err(|e| ModelError::Io {
            path: path.to_path_buf(),
            what: format!("cannot map the weights: {e}"),
        })?;
        let root = VarBuilder::from_backend(Box::new(st), DType::F32, device.clone());
        let vb = if config.prefix.is_empty() {
            root
        } else {
            root.pp("model").pp("img_backbone")
        };
        let c = config.width;
        let shape = BlockShape {
            width: c,
            heads: config.heads,
            mlp_hidden: config.mlp_hidden,
            layer_scale: false,
        };
        Ok(Self {
            patch_embed: conv2d(
                3,
                c,
                config.patch_px,
                Conv2dConfig {
                    stride: config.patch_px,
                    ..Default::default()
                },
                vb.pp("patch_embed.proj"),
            )?,
            cls_token: vb.get((1, 1, c), "cls_token")?,
            pos_embed: vb.get((1, 1 + config.grid * config.grid, c), "pos_embed")?,
            blocks: (0..config.blocks)
                .map(|i| Block::load(shape, vb.pp(format!("blocks.{i}"))))
                .collect::<Result<_>>()?,
            norm: layer_norm(c, 1e-6, vb.pp("norm"))?,
            weights: path.to_path_buf(),
            device: device.clone(),
            config,
        })
    }

    pub fn label(&self) -> String {
        format!(
            "SPA ViT ({} wide, {} blocks, {} px) {}",
            self.config.width,
            self.config.blocks,
            self.config.input_px(),
            self.weights
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    }

    /// Features of `x` (1, 3, S, S) in [0, 1] at the input size: SPA's ImageNet
    /// normalisation, patch embedding, class token, position embedding, blocks, final norm.
    pub fn forward(&self, x: &Tensor) -> Result<SpaFeatures> {
        let s = self.config.input_px();
        let (_, c3, h, w) = x.dims4()?;
        if (c3, h, w) != (3, s, s) {
            return Err(ModelError::Input(format!(
                "SPA input {c3} x {h} x {w}, expected 3 x {s} x {s}"
            )));
        }
        let mean = Tensor::new(&MEAN, &self.device)?.reshape((1, 3, 1, 1))?;
        let std = Tensor::new(&STD, &self.device)?.reshape((1, 3, 1, 1))?;
        let x = x
            .to_dtype(DType::F32)?
            .broadcast_sub(&mean)?
            .broadcast_div(&std)?;
        let tokens = self
            .patch_embed
            .forward(&x)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let mut t = Tensor::cat(&[&self.cls_token, &tokens], 1)?.broadcast_add(&self.pos_embed)?;
        for b in &self.blocks {
            t = b.forward(&t)?;
        }
        let t = self.norm.forward(&t)?.i(0)?;
        let n = t.dim(0)?;
        Ok(SpaFeatures {
            cls: t.i(0)?.to_vec1()?,
            patches: t.narrow(0, 1, n - 1)?.flatten_all()?.to_vec1()?,
            grid: self.config.grid,
            width: self.config.width,
        })
    }

    /// SPA's features of an interleaved RGB8 image, resized to the input size by bilinear
    /// interpolation (half-pixel centres, no antialiasing: `F.interpolate(mode="bilinear")`,
    /// as SPA's feature-map script does).
    pub fn features(&self, rgb: &[u8], width: usize, height: usize) -> Result<SpaFeatures> {
        if width == 0 || height == 0 || rgb.len() != 3 * width * height {
            return Err(ModelError::Input(format!(
                "RGB image of {width} x {height} with {} bytes",
                rgb.len()
            )));
        }
        let s = self.config.input_px();
        let x = Tensor::from_vec(
            bilinear_planar(rgb, width, height, s),
            (1, 3, s, s),
            &self.device,
        )?;
        self.forward(&x)
    }
}

/// PyTorch's `F.interpolate(mode="bilinear", align_corners=False)` without antialiasing,
/// from interleaved RGB8 to planar [0, 1] at `s x s`: source coordinate `(d + 0.5) * in /
/// out - 0.5`, clamped at 0, the far tap clamped to the last pixel.
fn bilinear_planar(rgb: &[u8], width: usize, height: usize, s: usize) -> Vec<f32> {
    let taps = |n_in: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_in as f32 / s as f32;
        (0..s)
            .map(|d| {
                let x = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
                let x0 = (x.floor() as usize).min(n_in - 1);
                (x0, (x0 + 1).min(n_in - 1), x - x0 as f32)
            })
            .collect()
    };
    let (tx, ty) = (taps(width), taps(height));
    let mut out = vec![0f32; 3 * s * s];
    for c in 0..3 {
        let px = |x: usize, y: usize| f32::from(rgb[(y * width + x) * 3 + c]) / 255.0;
        for (oy, &(y0, y1, fy)) in ty.iter().enumerate() {
            for (ox, &(x0, x1, fx)) in tx.iter().enumerate() {
                let top = px(x0, y0) * (1.0 - fx) + px(x1, y0) * fx;
                let bottom = px(x0, y1) * (1.0 - fx) + px(x1, y1) * fx;
                out[(c * s + oy) * s + ox] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}
