//! TFDS `features.json`: the feature tree of an RLDS dataset, flattened to the keys a
//! `tf.train.Example` uses (`steps/observation/image_0`, `episode_metadata/file_path`).
//!
//! TFDS nests `FeaturesDict` (a `featuresDict.features` map), `Dataset` (a `sequence` whose
//! items are the steps), `Tensor`/`Scalar` (`tensor`: shape, dtype), `Image` (`image`: shape,
//! dtype, encodingFormat) and `Text` (`text`). Unknown node types are kept as
//! [`FeatureKind::Other`] so a dataset with extra exotic features still opens.

use std::path::Path;

use serde_json::Value;

use crate::episode::{EpisodeError, Result};

/// What one flattened feature holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureKind {
    /// An encoded image per step (or per episode).
    Image {
        /// [height, width, channels]; -1 where unknown.
        shape: Vec<i64>,
        dtype: String,
        /// "jpeg", "png" or "" (TFDS default: png for uint16, jpeg/png otherwise).
        encoding: String,
    },
    /// A numeric tensor (scalars have an empty shape).
    Tensor { shape: Vec<i64>, dtype: String },
    /// UTF-8 text.
    Text,
    /// A node type spatialscope does not interpret (its python class name).
    Other(String),
}

/// One flattened feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// Example key, e.g. `steps/observation/image_0`.
    pub key: String,
    /// Inside the `steps` sequence: one value (or tensor) per step, concatenated.
    pub per_step: bool,
    pub kind: FeatureKind,
}

impl FeatureSpec {
    /// Number of scalar values per step for tensors (product of the shape); `None` when a
    /// dimension is unknown.
    pub fn values_per_item(&self) -> Option<usize> {
        match &self.kind {
            FeatureKind::Tensor { shape, .. } => shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?)),
            _ => None,
        }
    }
}

/// Parses `features.json` into flattened specs, sorted by key.
pub fn parse(path: &Path, text: &str) -> Result<Vec<FeatureSpec>> {
    let root: Value = serde_json::from_str(text).map_err(|e| EpisodeError::Json {
        path: path.to_owned(),
        field: "(document)".to_owned(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    walk(path, &root, "", false, &mut out)?;
    if out.is_empty() {
        return Err(EpisodeError::metadata(path, "no features found"));
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn dims(node: &Value) -> Vec<i64> {
    node.get("shape")
        .and_then(|s| s.get("dimensions"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|d| match d {
                    Value::String(s) => s.parse().unwrap_or(-1),
                    Value::Number(n) => n.as_i64().unwrap_or(-1),
                    _ => -1,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

fn walk(
    path: &Path,
    node: &Value,
    key: &str,
    per_step: bool,
    out: &mut Vec<FeatureSpec>,
) -> Result<()> {
    let class = node
        .get("pythonClassName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(dict) = node.get("featuresDict") {
        let features = dict
            .get("features")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                EpisodeError::metadata(
                    path,
                    format!("`{key}`: featuresDict without a features map"),
                )
            })?;
        for (name, child) in features {
            walk(path, child, &join(key, name), per_step, out)?;
        }
        return Ok(());
    }
    if let Some(seq) = node.get("sequence") {
        let item = seq.get("feature").ok_or_else(|| {
            EpisodeError::metadata(path, format!("`{key}`: sequence without a feature"))
        })?;
        return walk(path, item, key, true, out);
    }
    let kind = if let Some(img) = node.get("image") {
        FeatureKind::Image {
            shape: dims(img),
            dtype: img
                .get("dtype")
                .and_then(Value::as_str)
                .unwrap_or("uint8")
                .to_owned(),
            encoding: img
                .get("encodingFormat")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }
    } else if let Some(t) = node.get("tensor") {
        FeatureKind::Tensor {
            shape: dims(t),
            dtype: t
                .get("dtype")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }
    } else if node.get("text").is_some() {
        FeatureKind::Text
    } else {
        FeatureKind::Other(class.to_owned())
    };
    out.push(FeatureSpec {
        key: key.to_owned(),
        per_step,
        kind,
    });
    Ok(())
}
