//! The processor's intrinsics table (`processor_config.json -> intrinsic_config`, spec 5.3):
//! K for the requested unnorm key, else `default`, scaled row-wise to the model input in
//! float32; optionally rounded to bfloat16 as `predict_action` does before the model sees it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{ModelError, Result};
use crate::geometry::{Mat3f, bf16_matrix, scale_to};

/// How K reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrinsicsPrecision {
    /// The processor's float32 K (what `generate` sees when called directly; the golden
    /// reference outputs use it).
    #[default]
    Float32,
    /// Rounded to bfloat16, as the reference `predict_action` path casts it.
    Bfloat16,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    k: [[f64; 3]; 3],
    width: u32,
    height: u32,
}

/// The table of one checkpoint.
#[derive(Debug, Clone)]
pub struct ProcessorIntrinsics {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

/// Where K comes from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum IntrinsicsSource {
    /// The processor's entry for the unnorm key, else `default` (the reference behaviour).
    #[default]
    Processor,
    /// A named entry of the processor's table.
    Entry(String),
    /// Given K for a `width` x `height` image (e.g. the episode camera's own calibration:
    /// "what if the model knew the real camera").
    Explicit {
        k: [[f64; 3]; 3],
        width: u32,
        height: u32,
        label: String,
    },
}

/// K as chosen for a frame.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChosenIntrinsics {
    /// The table entry used (`default` when the key has none).
    pub entry: String,
    pub precision: IntrinsicsPrecision,
    /// At the model input size.
    pub k: Mat3f,
}

impl ProcessorIntrinsics {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("processor_config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io {
            path: path.clone(),
            what: format!("cannot read: {e}"),
        })?;
        let text = crate::util::json::non_finite_tokens_to_null(&text);
        let v: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.clone(),
            field: "(file)".into(),
            what: format!("not valid JSON: {e}"),
        })?;
        let mut entries = BTreeMap::new();
        if let Some(map) = v.get("intrinsic_config").and_then(Value::as_object) {
            for (key, e) in map {
                let field = format!("intrinsic_config.{key}");
                let bad = |what: &str| ModelError::Config {
                    path: path.clone(),
                    field: field.clone(),
                    what: what.to_owned(),
                };
                let rows = e
                    .get("intrinsic")
                    .and_then(Value::as_array)
                    .filter(|r| r.len() == 3)
                    .ok_or_else(|| bad("`intrinsic` must be a 3x3 list"))?;
                let mut k = [[0f64; 3]; 3];
                for (r, row) in rows.iter().enumerate() {
                    let row = row
                        .as_array()
                        .filter(|c| c.len() == 3)
                        .ok_or_else(|| bad("`intrinsic` must be a 3x3 list"))?;
                    for (c, x) in row.iter().enumerate() {
                        k[r][c] = x
                            .as_f64()
                            .filter(|x| x.is_finite())
                            .ok_or_else(|| bad("`intrinsic` holds a non-number"))?;
                    }
                }
                let dim = |name: &str| {
                    e.get(name)
                        .and_then(Value::as_u64)
                        .filter(|&n| n > 0 && n <= u64::from(u32::MAX))
                        .map(|n| n as u32)
                        .ok_or_else(|| bad(&format!("`{name}` must be a positive integer")))
                };
                entries.insert(
                    key.clone(),
                    Entry {
                        k,
                        width: dim("width")?,
                        height: dim("height")?,
                    },
                );
            }
        }
        Ok(ProcessorIntrinsics { path, entries })
    }

    /// The keys with their own entry.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// K from `source` at `size` x `size`.
    pub fn choose_from(
        &self,
        source: &IntrinsicsSource,
        unnorm_key: &str,
        size: u32,
        precision: IntrinsicsPrecision,
    ) -> Result<ChosenIntrinsics> {
        let (label, k, w, h) = match source {
            IntrinsicsSource::Processor => return self.choose(unnorm_key, size, precision),
            IntrinsicsSource::Entry(name) => {
                let e = self.entries.get(name).ok_or_else(|| ModelError::Config {
                    path: self.path.clone(),
                    field: format!("intrinsic_config.{name}"),
                    what: "no such entry".into(),
                })?;
                (name.clone(), e.k, e.width, e.height)
            }
            IntrinsicsSource::Explicit {
                k,
                width,
                height,
                label,
            } => (label.clone(), *k, *width, *height),
        };
        if w == 0 || h == 0 {
            return Err(ModelError::Input(format!(
                "intrinsics `{label}` are for a 0-pixel image"
            )));
        }
        let k = scale_to(&k, w, h, size, size);
        let k = match precision {
            IntrinsicsPrecision::Float32 => k,
            IntrinsicsPrecision::Bfloat16 => bf16_matrix(&k),
        };
        Ok(ChosenIntrinsics {
            entry: label,
            precision,
            k,
        })
    }

    /// K for `unnorm_key` (else `default`) at `size` x `size`.
    pub fn choose(
        &self,
        unnorm_key: &str,
        size: u32,
        precision: IntrinsicsPrecision,
    ) -> Result<ChosenIntrinsics> {
        let (entry, e) = self
            .entries
            .get_key_value(unnorm_key)
            .or_else(|| self.entries.get_key_value("default"))
            .ok_or_else(|| ModelError::Config {
                path: self.path.clone(),
                field: "intrinsic_config".into(),
                what: format!("no entry for `{unnorm_key}` and no `default`"),
            })?;
        let k = scale_to(&e.k, e.width, e.height, size, size);
        let k = match precision {
            IntrinsicsPrecision::Float32 => k,
            IntrinsicsPrecision::Bfloat16 => bf16_matrix(&k),
        };
        Ok(ChosenIntrinsics {
            entry: entry.clone(),
            precision,
            k,
        })
    }
}
