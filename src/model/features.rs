//! The image patches' representations at every depth of the network, for probing what they
//! encode (issue "what the network's features know about 3-D"): SigLIP's output and each
//! Gemma2 layer's hidden state at the `<image>` positions of the prompt pass, beside the
//! patch's 3-D position as the model itself computes it (the mean of its Ego3D samples,
//! camera frame, metres).

use candle_core::{DType, IndexOp};

use super::error::{ModelError, Result};
use super::gemma2::AttentionCapture;
use super::predict::{PredictRequest, Predictor};

/// One frame's patch features by layer.
pub struct LayerFeatures {
    /// `siglip`, then `embeddings` (the scaled decoder input), `layer 0` .. `layer N-1`
    /// (the last one after the final norm, as the library returns it).
    pub names: Vec<String>,
    /// Per layer: `patches x width` row-major float32.
    pub features: Vec<Vec<f32>>,
    pub widths: Vec<usize>,
    /// Per patch: its Ego3D samples' mean (x, y, z), metres; empty when the checkpoint
    /// does not use depth.
    pub patch_xyz: Vec<[f32; 3]>,
}

impl Predictor {
    /// The features of every layer for the frame `req` describes (no generation).
    pub fn layer_features(&self, req: &PredictRequest) -> Result<LayerFeatures> {
        let prepared = self.prepare(req)?;
        let model = &self.model;
        let feats = model.image_features(&prepared.input, false)?;
        let image_id = model.config().image_token_index as u32;
        let rows: Vec<usize> = prepared
            .input
            .prompt_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| **id == image_id)
            .map(|(i, _)| i)
            .collect();
        let (Some(&first), Some(&last)) = (rows.first(), rows.last()) else {
            return Err(ModelError::Input("the prompt has no image tokens".into()));
        };
        if last - first + 1 != rows.len() {
            return Err(ModelError::Input(
                "the image tokens are not one run in the prompt".into(),
            ));
        }
        let embeds = model.prompt_embeds(&feats, &prepared.input.prompt_ids)?;
        let mut cache = model.new_cache(prepared.input.prompt_ids.len());
        let out = model.decode(&embeds, &mut cache, AttentionCapture::None, true)?;
        let to_rows = |t: &candle_core::Tensor| -> Result<(Vec<f32>, usize)> {
            let t = t.to_dtype(DType::F32)?;
            let w = t.dim(candle_core::D::Minus1)?;
            Ok((t.flatten_all()?.to_vec1()?, w))
        };
        let mut names = vec!["siglip".to_owned()];
        let (f, w) = to_rows(&feats.siglip_last_hidden_state.i(0)?)?;
        let (mut features, mut widths) = (vec![f], vec![w]);
        for (i, h) in out.hidden_states.iter().enumerate() {
            names.push(if i == 0 {
                "embeddings".to_owned()
            } else {
                format!("layer {}", i - 1)
            });
            let (f, w) = to_rows(&h.i(0)?.narrow(0, first, rows.len())?)?;
            features.push(f);
            widths.push(w);
        }
        let patch_xyz = feats
            .ego3d_xyz
            .iter()
            .map(|p| {
                let n = (p.len() / 3).max(1) as f32;
                let mut m = [0f32; 3];
                for s in p.chunks_exact(3) {
                    for k in 0..3 {
                        m[k] += s[k] / n;
                    }
                }
                m
            })
            .collect();
        Ok(LayerFeatures {
            names,
            features,
            widths,
            patch_xyz,
        })
    }
}
