//! How a dataset's `features.json` maps onto the episode model: which per-step image
//! features are cameras, which are depth (PNG images or float tensors) and how they pair with
//! a camera, where the state, the instruction and the actions are.

use std::path::Path;

use image::ImageFormat;

use super::example::Example;
use super::features::{FeatureKind, FeatureSpec};
use crate::episode::{ActionConvention, Actions, EpisodeError, RecordLabel, Result};

/// One RGB camera found in `features.json`.
#[derive(Debug, Clone)]
pub(super) struct CameraLayout {
    pub(super) name: String,
    pub(super) rgb_key: String,
    pub(super) format: Option<ImageFormat>,
    /// (width, height) from `features.json` when fully known.
    pub(super) size: Option<(u32, u32)>,
    /// The paired depth feature and how it is stored.
    pub(super) depth_key: Option<(String, DepthKind)>,
}

/// How an RLDS depth feature is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum DepthKind {
    /// 16-bit PNG `Image` feature, millimetres assumed.
    Png,
    /// float32 `Tensor` of [H, W] or [H, W, 1] per step, metres.
    Float { width: u32, height: u32 },
}

/// How this dataset's features map onto the episode model.
pub(super) struct Layout<'a> {
    pub(super) features: &'a [FeatureSpec],
    pub(super) cameras: Vec<CameraLayout>,
    pub(super) state_key: Option<String>,
    pub(super) unpaired_depth: Vec<String>,
}

fn image_format(encoding: &str) -> Option<ImageFormat> {
    match encoding {
        "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
        "png" => Some(ImageFormat::Png),
        _ => None,
    }
}

fn camera_name(key: &str) -> String {
    key.strip_prefix("steps/observation/")
        .or_else(|| key.strip_prefix("steps/"))
        .unwrap_or(key)
        .to_owned()
}

impl<'a> Layout<'a> {
    pub(super) fn new(features: &'a [FeatureSpec]) -> Self {
        let mut cameras = Vec::new();
        let mut depth_keys = Vec::new();
        for f in features.iter().filter(|f| f.per_step) {
            if let FeatureKind::Image {
                shape,
                dtype,
                encoding,
            } = &f.kind
            {
                let channels = shape.get(2).copied().unwrap_or(-1);
                let looks_depth = f.key.contains("depth") || dtype == "uint16" || channels == 1;
                if looks_depth {
                    depth_keys.push((f.key.clone(), DepthKind::Png));
                    continue;
                }
                let size = match (shape.first(), shape.get(1)) {
                    (Some(&h), Some(&w)) if h > 0 && w > 0 => Some((w as u32, h as u32)),
                    _ => None,
                };
                cameras.push(CameraLayout {
                    name: camera_name(&f.key),
                    rgb_key: f.key.clone(),
                    format: image_format(encoding),
                    size,
                    depth_key: None,
                });
            }
        }
        // Float depth tensors (metres): [H, W] or [H, W, 1] under a key that says depth.
        for f in features
            .iter()
            .filter(|f| f.per_step && f.key.contains("depth"))
        {
            if let FeatureKind::Tensor { shape, dtype } = &f.kind
                && dtype == "float32"
                && (shape.len() == 2 || (shape.len() == 3 && shape[2] == 1))
                && shape[0] > 0
                && shape[1] > 0
            {
                let kind = DepthKind::Float {
                    width: shape[1] as u32,
                    height: shape[0] as u32,
                };
                depth_keys.push((f.key.clone(), kind));
            }
        }
        // Pair depth with RGB: same key with "depth" for "image"/"rgb", else a lone pair.
        let mut unpaired_depth = Vec::new();
        for (dk, kind) in depth_keys {
            let candidates = [dk.replace("depth", "image"), dk.replace("depth", "rgb")];
            let idx = cameras
                .iter()
                .position(|c| candidates.contains(&c.rgb_key) && c.depth_key.is_none())
                .or_else(|| (cameras.len() == 1 && cameras[0].depth_key.is_none()).then_some(0));
            match idx {
                Some(i) => cameras[i].depth_key = Some((dk, kind)),
                None => unpaired_depth.push(dk),
            }
        }
        let state_key = features
            .iter()
            .find(|f| {
                f.per_step
                    && f.key == "steps/observation/state"
                    && matches!(f.kind, FeatureKind::Tensor { .. })
            })
            .map(|f| f.key.clone());
        Self {
            features,
            cameras,
            state_key,
            unpaired_depth,
        }
    }

    pub(super) fn num_steps(&self, ex: &Example, path: &Path, record: usize) -> Result<usize> {
        if let Some(n) = ex.value_count("steps/is_first") {
            return Ok(n);
        }
        if let Some(c) = self.cameras.first()
            && let Some(n) = ex.value_count(&c.rgb_key)
        {
            return Ok(n);
        }
        if let Some(v) = ex.floats("steps/action") {
            return Ok(v.len() / 7);
        }
        Err(EpisodeError::BadRecord {
            path: path.to_owned(),
            record,
            what: "cannot tell the number of steps (no steps/is_first, image or action)".to_owned(),
        })
    }

    pub(super) fn instruction(&self, ex: &Example) -> String {
        let mut keys: Vec<&str> = self
            .features
            .iter()
            .filter(|f| {
                matches!(f.kind, FeatureKind::Text)
                    && (f.key.contains("instruction") || f.key.contains("language"))
            })
            .map(|f| f.key.as_str())
            .collect();
        keys.sort_by_key(|k| (!k.ends_with("language_instruction"), *k));
        keys.iter()
            .filter_map(|k| ex.byte_strings(k))
            .flat_map(|v| v.iter())
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .find(|s| !s.is_empty())
            .unwrap_or_default()
    }

    pub(super) fn actions(
        &self,
        ex: &Example,
        n: usize,
        path: &Path,
        record: usize,
        bridge_like: bool,
    ) -> Result<Actions> {
        let bad = |what: String| EpisodeError::BadRecord {
            path: path.to_owned(),
            record,
            what,
        };
        let flat: Vec<f32> = if let Some(v) = ex.floats("steps/action") {
            if v.len() != n * 7 {
                return Err(bad(format!(
                    "`steps/action` has {} values for {n} steps; spatialscope reads 7-D actions",
                    v.len()
                )));
            }
            v.to_vec()
        } else if let (Some(t), Some(r), Some(g)) = (
            ex.floats("steps/action/world_vector"),
            ex.floats("steps/action/rotation_delta"),
            ex.floats("steps/action/gripper_closedness_action"),
        ) {
            // RT-1 / Fractal: a dict of world_vector (3), rotation_delta (3), gripper (1).
            if t.len() != 3 * n || r.len() != 3 * n || g.len() != n {
                return Err(bad(
                    "RT-1 style action parts do not have 3 + 3 + 1 values per step".to_owned(),
                ));
            }
            (0..n)
                .flat_map(|s| {
                    t[3 * s..3 * s + 3]
                        .iter()
                        .chain(&r[3 * s..3 * s + 3])
                        .chain(&g[s..s + 1])
                        .copied()
                })
                .collect()
        } else {
            return Err(bad("no `steps/action` (7 floats per step) found".to_owned()));
        };
        let mut values = Vec::with_capacity(n);
        for (step, chunk) in flat.chunks(7).enumerate() {
            let mut a = [0f32; 7];
            a.copy_from_slice(chunk);
            if let Some(dim) = a.iter().position(|v| !v.is_finite()) {
                return Err(EpisodeError::NonFiniteAction {
                    path: path.to_owned(),
                    record: RecordLabel(Some(record)),
                    step,
                    dim,
                    value: a[dim],
                });
            }
            values.push(a);
        }
        let convention = if bridge_like {
            ActionConvention::metric_delta_base()
        } else {
            ActionConvention::unknown()
        };
        Ok(Actions { convention, values })
    }
}
