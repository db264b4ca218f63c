//! Spatial Forcing's alignment (Li et al., "Spatial Forcing"): a VLA layer's image-token
//! hidden states, projected by the trained `AlignProjector`, against a 3-D foundation
//! model's (VGGT's) patch tokens pooled to the VLA's patch grid; the per-patch cosine
//! similarity is what its alignment loss (1 - cosine) trains up.
//!
//! - **Projector** (`AlignProjector` in the official `prismatic/models/projectors.py`):
//!   optional `vlm_norm` LayerNorm (eps 1e-5, PyTorch's default), `fc1` (VLA width to 2 x
//!   the VGGT width), exact GELU, `fc2`. Read from `torch.save(state_dict)` (`.pt`/`.pth`,
//!   through `model::pth`) or safetensors with those names.
//! - **Feature dump** (ours, written by `scripts/vggt_dump.py` with the official VGGT code):
//!   a safetensors file holding `tokens` (patches x width float, the patch tokens of one
//!   frame in raster order), `grid` (2 numbers, any dtype candle reads: patch rows, columns)
//!   and optionally `valid`
//!   (patches, 1 = image, 0 = padding VGGT's preprocessing added).
//! - **Pooling** as Spatial Forcing's `interpolate_pooling`: bilinear with corners aligned,
//!   from the dump's grid to the VLA's (16 x 16 for SpatialVLA); the valid mask is pooled the
//!   same way and patches below one half count as padding (no similarity).

use std::collections::HashMap;
use std::path::Path;

use crate::model::linear::{Linear, linear};
use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use super::error::{ModelError, Result};

fn io(path: &Path, what: impl Into<String>) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// The trained projector from VLA hidden states to the 3-D model's feature space.
pub struct AlignProjector {
    norm: Option<LayerNorm>,
    fc1: Linear,
    fc2: Linear,
    pub vla_width: usize,
    pub out_width: usize,
}

fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("pt" | "pth") => Ok(super::pth::read(path, device)?.1),
        Some("safetensors") => {
            // Header first: sizes and offsets checked before anything is read.
            super::checkpoint::read_header_and_metadata(path)?;
            candle_core::safetensors::load(path, device)
                .map_err(|e| io(path, format!("cannot read: {e}")))
        }
        _ => Err(io(path, "neither .safetensors nor a PyTorch .pt/.pth file")),
    }
}

impl AlignProjector {
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let t = load_tensors(path, device)?;
        let shape = |name: &str| -> Result<Vec<usize>> {
            t.get(name)
                .map(|x| x.dims().to_vec())
                .ok_or_else(|| ModelError::Tensor {
                    dir: path.to_path_buf(),
                    name: name.into(),
                    what: "missing: not a Spatial Forcing AlignProjector (fc1, fc2[, vlm_norm])"
                        .into(),
                })
        };
        let (w1, w2) = (shape("fc1.weight")?, shape("fc2.weight")?);
        if w1.len() != 2 || w2.len() != 2 || w2[1] != w1[0] {
            return Err(ModelError::Tensor {
                dir: path.to_path_buf(),
                name: "fc2.weight".into(),
                what: format!("fc1 {w1:?} and fc2 {w2:?} do not chain"),
            });
        }
        let (vla_width, hidden, out_width) = (w1[1], w1[0], w2[0]);
        let vb = VarBuilder::from_tensors(t, DType::F32, device);
        let norm = if vb.contains_tensor("vlm_norm.weight") {
            Some(layer_norm(vla_width, 1e-5, vb.pp("vlm_norm"))?)
        } else {
            None
        };
        Ok(Self {
            norm,
            fc1: linear(vla_width, hidden, vb.pp("fc1"))?,
            fc2: linear(hidden, out_width, vb.pp("fc2"))?,
            vla_width,
            out_width,
        })
    }

    /// (patches, VLA width) -> (patches, 2 x VGGT width).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(DType::F32)?;
        let x = match &self.norm {
            Some(n) => n.forward(&x)?,
            None => x,
        };
        Ok(self
            .fc2
            .forward(&super::activation::gelu_erf(&self.fc1.forward(&x)?)?)?)
    }
}

/// One frame's 3-D foundation-model patch tokens.
pub struct FeatureDump {
    /// (rows * cols, width).
    pub tokens: Tensor,
    pub rows: usize,
    pub cols: usize,
    /// (rows * cols) of 0/1, `None` when all are image.
    pub valid: Option<Tensor>,
}

impl FeatureDump {
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        super::checkpoint::read_header_and_metadata(path)?;
        let t = candle_core::safetensors::load(path, device)
            .map_err(|e| io(path, format!("cannot read: {e}")))?;
        let tokens = t
            .get("tokens")
            .ok_or_else(|| {
                io(
                    path,
                    "no `tokens` tensor: not a feature dump (see scripts/vggt_dump.py)",
                )
            })?
            .to_dtype(DType::F32)?;
        let grid: Vec<f64> = t
            .get("grid")
            .ok_or_else(|| io(path, "no `grid` tensor (patch rows, columns)"))?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1()?;
        let [rows, cols] = grid[..] else {
            return Err(io(
                path,
                format!("`grid` holds {} values, expected 2", grid.len()),
            ));
        };
        let (rows, cols) = (rows as usize, cols as usize);
        let (n, _) = tokens
            .dims2()
            .map_err(|_| io(path, "`tokens` is not patches x width"))?;
        if rows == 0 || cols == 0 || rows.checked_mul(cols) != Some(n) {
            return Err(io(
                path,
                format!("`grid` {rows} x {cols} does not hold the {n} tokens"),
            ));
        }
        let valid = match t.get("valid") {
            None => None,
            Some(v) => {
                let v = v.to_dtype(DType::F32)?.flatten_all()?;
                if v.dim(0)? != n {
                    return Err(io(
                        path,
                        format!("`valid` has {} entries for {n} tokens", v.dim(0)?),
                    ));
                }
                Some(v)
            }
        };
        Ok(Self {
            tokens,
            rows,
            cols,
            valid,
        })
    }

    /// Tokens (and validity) resampled to `side x side` patches: bilinear, corners aligned.
    /// Returns (side^2, width) and per patch whether at least half of it is image.
    pub fn pooled(&self, side: usize) -> Result<(Tensor, Vec<bool>)> {
        let w = self.tokens.dim(1)?;
        let grid = self
            .tokens
            .t()?
            .reshape((1, w, self.rows, self.cols))?
            .contiguous()?;
        let pooled = grid
            .upsample_bilinear2d(side, side, true)?
            .reshape((w, side * side))?
            .t()?
            .contiguous()?;
        let valid = match &self.valid {
            None => vec![true; side * side],
            Some(v) => v
                .reshape((1, 1, self.rows, self.cols))?
                .upsample_bilinear2d(side, side, true)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .map(|x| x >= 0.5)
                .collect(),
        };
        Ok((pooled, valid))
    }
}

/// Per-row cosine similarity of two (n, d) matrices; NaN where `keep` is false or a row is 0.
pub fn cosine_rows(a: &Tensor, b: &Tensor, keep: &[bool]) -> Result<Vec<f32>> {
    if a.dims() != b.dims() {
        return Err(ModelError::Input(format!(
            "projected features {:?} and 3-D features {:?} differ in shape (is the dump from the same width the projector outputs?)",
            a.dims(),
            b.dims()
        )));
    }
    let dot = (a * b)?.sum(D::Minus1)?;
    let na = a.sqr()?.sum(D::Minus1)?.sqrt()?;
    let nb = b.sqr()?.sum(D::Minus1)?.sqrt()?;
    let c: Vec<f32> = (dot / (na * nb)?)?.to_vec1()?;
    Ok(c.into_iter()
        .zip(keep)
        .map(|(v, k)| if *k && v.is_finite() { v } else { f32::NAN })
        .collect())
}
