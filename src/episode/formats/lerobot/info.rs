//! `meta/info.json` of a LeRobot dataset: the codebase version, the features and the path
//! templates, checked before anything else is read.
//!
//! Templates are Python format strings (`data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet`).
//! [`render`] fills only the fields LeRobot defines, with `{name}` or `{name:0Nd}` specs,
//! and the result must be a relative path inside the dataset ([`super::super::safe_join`]):
//! a hostile `info.json` cannot make us read `../../etc/passwd`.

use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::episode::{EpisodeError, Result};

/// The LeRobot layouts spatialscope reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeRobotVersion {
    /// v2.0 / v2.1: one parquet per episode, `episodes.jsonl`, one MP4 per camera per episode.
    V2,
    /// v3.0: episodes packed into larger parquet and MP4 files, `meta/episodes/*.parquet`
    /// with per-episode row ranges and video time offsets.
    V3,
}

impl LeRobotVersion {
    pub fn parse(codebase_version: &str) -> Option<Self> {
        match codebase_version {
            "v2.0" | "v2.1" => Some(Self::V2),
            "v3.0" => Some(Self::V3),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FeatureJson {
    pub dtype: String,
    #[serde(default)]
    pub shape: Vec<usize>,
    #[serde(default)]
    pub names: Option<serde_json::Value>,
    #[serde(default)]
    pub info: Option<serde_json::Value>,
    /// v2.0's older place for the video facts (`video.codec`, `video.is_depth_map`).
    #[serde(default)]
    pub video_info: Option<serde_json::Value>,
}

impl FeatureJson {
    /// Dimension names: a plain list, or the older `{"motors": [...]}` form (any one key).
    pub fn name_list(&self) -> Option<Vec<String>> {
        let list = match self.names.as_ref()? {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(o) if o.len() == 1 => o.values().next()?.as_array()?,
            _ => return None,
        };
        list.iter().map(|v| v.as_str().map(str::to_owned)).collect()
    }

    /// (width, height) of an image or video feature, from `shape` and `names`.
    pub fn image_size(&self) -> Option<(u32, u32)> {
        if self.shape.len() != 3 {
            return None;
        }
        let names = self.name_list().unwrap_or_default();
        let pos = |n: &str| names.iter().position(|x| x == n);
        let (h, w) = match (pos("height"), pos("width")) {
            (Some(h), Some(w)) => (self.shape[h], self.shape[w]),
            // Channels first ([3, H, W]) or the usual [H, W, 3].
            _ if self.shape[0] == 3 && self.shape[2] != 3 => (self.shape[1], self.shape[2]),
            _ => (self.shape[0], self.shape[1]),
        };
        Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
    }

    /// The codec named in the video `info` block (`h264`, `av1`), when present.
    pub fn video_codec(&self) -> Option<String> {
        self.info
            .as_ref()?
            .get("video.codec")?
            .as_str()
            .map(str::to_owned)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InfoJson {
    pub codebase_version: String,
    #[serde(default)]
    pub robot_type: Option<String>,
    pub fps: f64,
    #[serde(default)]
    pub total_episodes: Option<usize>,
    #[serde(default)]
    pub chunks_size: Option<usize>,
    pub data_path: String,
    #[serde(default)]
    pub video_path: Option<String>,
    pub features: IndexMap<String, FeatureJson>,
}

/// A checked `info.json`.
#[derive(Debug, Clone)]
pub struct Info {
    pub json: InfoJson,
    pub version: LeRobotVersion,
    pub chunks_size: usize,
}

/// Camera feature prefix in LeRobot.
pub const IMAGE_PREFIX: &str = "observation.images.";

impl Info {
    /// Reads `meta/info.json` of the dataset rooted at `root`.
    pub fn read(path: &Path, root: &Path) -> Result<Self> {
        let json: InfoJson = super::super::parse_json(path, root)?;
        let field = |field: &str, reason: String| EpisodeError::Json {
            path: path.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let version = LeRobotVersion::parse(&json.codebase_version).ok_or_else(|| {
            field(
                "codebase_version",
                format!(
                    "{:?} is not a LeRobot version spatialscope reads (v2.0, v2.1, v3.0)",
                    json.codebase_version
                ),
            )
        })?;
        if !(json.fps.is_finite() && json.fps > 0.0) {
            return Err(field("fps", format!("must be positive, is {}", json.fps)));
        }
        let chunks_size = json.chunks_size.unwrap_or(1000);
        if chunks_size == 0 {
            return Err(field("chunks_size", "must be positive".into()));
        }
        if json.video_path.is_none() && json.features.values().any(|f| f.dtype == "video") {
            return Err(field(
                "video_path",
                "missing, but some features are videos".into(),
            ));
        }
        Ok(Self {
            json,
            version,
            chunks_size,
        })
    }

    /// Camera features (video or image) in declaration order: (feature key, camera name).
    pub fn cameras(&self) -> Vec<(String, String)> {
        self.json
            .features
            .iter()
            .filter(|(_, f)| f.dtype == "video" || f.dtype == "image")
            .map(|(k, _)| {
                let name = k.strip_prefix(IMAGE_PREFIX).unwrap_or(k).to_owned();
                (k.clone(), name)
            })
            .collect()
    }
}

/// A value for a template field.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Int(usize),
    Str(&'a str),
}

/// Widest zero padding a template may ask for.
const MAX_DIGITS: usize = 12;

/// Fills a Python-style path template. Unknown fields, bad specs and unbalanced braces are
/// errors (a message; the caller names the file).
pub fn render(template: &str, fields: &[(&str, Field<'_>)]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!("unbalanced '}}' in template {template:?}"));
        }
        let close = tail
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in template {template:?}"))?;
        let inner = &tail[1..close];
        let (name, spec) = inner.split_once(':').unwrap_or((inner, ""));
        let value = fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("unknown field {{{name}}} in template {template:?}"))?;
        match (value, spec) {
            (Field::Int(v), "" | "d") => out.push_str(&v.to_string()),
            (Field::Int(v), s) => {
                let width: usize = s
                    .strip_prefix('0')
                    .and_then(|s| s.strip_suffix('d'))
                    .and_then(|s| s.parse().ok())
                    .filter(|w| *w <= MAX_DIGITS)
                    .ok_or_else(|| {
                        format!("unsupported format spec {{{inner}}} in {template:?}")
                    })?;
                out.push_str(&format!("{v:0width$}"));
            }
            (Field::Str(v), "" | "s") => out.push_str(v),
            (Field::Str(_), _) => {
                return Err(format!(
                    "unsupported format spec {{{inner}}} in {template:?}"
                ));
            }
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_fields_only() {
        let t = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4";
        let got = render(
            t,
            &[
                ("episode_chunk", Field::Int(1)),
                ("video_key", Field::Str("observation.images.top")),
                ("episode_index", Field::Int(1234)),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            "videos/chunk-001/observation.images.top/episode_001234.mp4"
        );
        assert!(
            render("x/{nope}.parquet", &[])
                .unwrap_err()
                .contains("nope")
        );
        assert!(render("x/{a:>5}", &[("a", Field::Int(1))]).is_err());
        assert!(render("x/{a", &[("a", Field::Int(1))]).is_err());
        assert!(render("x/{a:099d}", &[("a", Field::Int(1))]).is_err());
        assert_eq!(render("{{x}}", &[]).unwrap(), "{x}");
    }

    #[test]
    fn versions() {
        assert_eq!(LeRobotVersion::parse("v2.1"), Some(LeRobotVersion::V2));
        assert_eq!(LeRobotVersion::parse("v3.0"), Some(LeRobotVersion::V3));
        assert_eq!(LeRobotVersion::parse("v1.6"), None);
    }

    #[test]
    fn names_in_both_forms() {
        let f: FeatureJson =
            serde_json::from_str(r#"{"dtype":"float32","shape":[2],"names":{"motors":["a","b"]}}"#)
                .unwrap();
        assert_eq!(f.name_list().unwrap(), ["a", "b"]);
        let f: FeatureJson = serde_json::from_str(
            r#"{"dtype":"video","shape":[256,320,3],"names":["height","width","rgb"]}"#,
        )
        .unwrap();
        assert_eq!(f.image_size(), Some((320, 256)));
    }
}
