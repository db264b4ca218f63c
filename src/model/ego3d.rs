//! The Ego3D position embedding (spec 5.4-5.6) as a model stage: the per-patch points come
//! from `geometry::patch_points` (pure, shared with the 3-D view, so what the view draws is
//! what the model received), the sinusoidal encoding from `geometry::frequency_encoding_n`,
//! and the MLP `Linear -> LayerNorm(eps 1e-5) -> ReLU -> Linear` is loaded from
//! `position_embedding_3d.position_embedding_head.{0,1,3}`.

use crate::model::linear::{Linear, linear};
use candle_core::{Device, Module, Tensor};
use candle_nn::{LayerNorm, VarBuilder, layer_norm};

use super::error::{ModelError, Result};
use crate::geometry::{Mat3f, PatchSampling, frequency_encoding_n, inverse_pinhole, patch_points};

pub struct Ego3dEmbedding {
    sampling: PatchSampling,
    n_freqs: usize,
    fc0: Linear,
    norm: LayerNorm,
    fc3: Linear,
}

/// The Ego3D stage's intermediate values.
pub struct Ego3dOutput {
    /// Per patch, `reso^2` camera-frame points (x, y, z) metres, as the model received them.
    pub xyz: Vec<Vec<f32>>,
    /// (1, patches, features).
    pub encoding: Tensor,
    /// (1, patches, vision hidden).
    pub pos_embed: Tensor,
}

impl Ego3dEmbedding {
    /// `vb` points at `position_embedding_3d.position_embedding_head`.
    pub fn load(
        sampling: PatchSampling,
        n_freqs: usize,
        hidden: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let enc = 3 * sampling.reso.pow(2) * (2 * n_freqs + 1);
        Ok(Ego3dEmbedding {
            sampling,
            n_freqs,
            fc0: linear(enc, hidden, vb.pp("0"))?,
            norm: layer_norm(hidden, 1e-5, vb.pp("1"))?,
            fc3: linear(hidden, hidden, vb.pp("3"))?,
        })
    }

    pub fn sampling(&self) -> PatchSampling {
        self.sampling
    }

    /// `depth_m`: the model-size depth map (metres); `k`: intrinsics at the model size.
    pub fn forward(&self, depth_m: &[f32], k: &Mat3f, device: &Device) -> Result<Ego3dOutput> {
        let k_inv = inverse_pinhole(k).ok_or_else(|| {
            ModelError::Input(format!("intrinsics {k:?} are singular or not a pinhole"))
        })?;
        let xyz = patch_points(&self.sampling, depth_m, &k_inv).ok_or_else(|| {
            ModelError::Input(format!(
                "depth has {} values; the model needs {}x{}",
                depth_m.len(),
                self.sampling.image_size,
                self.sampling.image_size
            ))
        })?;
        let rows: Vec<f32> = xyz
            .iter()
            .flat_map(|p| frequency_encoding_n(p, self.n_freqs))
            .collect();
        let n = xyz.len();
        let encoding = Tensor::from_vec(
            rows,
            (1, n, 3 * self.sampling.reso.pow(2) * (2 * self.n_freqs + 1)),
            device,
        )?;
        let x = encoding.to_dtype(self.fc0.weight().dtype())?;
        let h = self.norm.forward(&self.fc0.forward(&x)?)?.relu()?;
        let pos_embed = self.fc3.forward(&h)?;
        Ok(Ego3dOutput {
            xyz,
            encoding,
            pos_embed,
        })
    }
}
