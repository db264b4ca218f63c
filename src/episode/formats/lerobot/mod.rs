//! LeRobot datasets, v2.0/v2.1 and v3.0.
//!
//! Opening reads metadata only: `meta/info.json` (version, features, path templates), the
//! episode list (`meta/episodes.jsonl` for v2, `meta/episodes/**/*.parquet` for v3) and the
//! dataset's own statistics (`meta/stats.json`). Thousands of episodes open in milliseconds;
//! no data parquet or video is touched until an episode is opened ([`episode.rs`](episode)),
//! and video frames are decoded one at a time through the shared byte-bounded frame cache.
//!
//! Non-standard but documented sidecar: `meta/cameras.json` (written by the sim sample's
//! converter) with per-camera K, depth PNG templates and the extrinsics column. Used when
//! present, ignored (with a note) when malformed.

pub mod depth;
mod episode;
mod frames;
pub mod info;
pub mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use info::{Info, LeRobotVersion};

use super::{parse_json, safe_join};
use crate::episode::{DeclaredStats, EpisodeError, EpisodeSummary, Result};

/// Where a v3 episode's video lives.
#[derive(Debug, Clone, PartialEq)]
pub struct V3Video {
    pub chunk: usize,
    pub file: usize,
    pub from_s: f64,
    pub to_s: Option<f64>,
}

/// Where an episode's rows live.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// v2: its own parquet and MP4 files, found through the templates.
    PerEpisodeFiles,
    /// v3: rows `from_index..to_index` of a shared file whose first row is `file_first_index`.
    Packed {
        data_chunk: usize,
        data_file: usize,
        from_index: usize,
        to_index: usize,
        file_first_index: usize,
        videos: HashMap<String, V3Video>,
    },
}

/// One entry of the episode list.
#[derive(Debug, Clone)]
pub struct EpisodeMeta {
    pub index: usize,
    pub tasks: Vec<String>,
    pub length: usize,
    pub location: Location,
}

#[derive(Debug, Clone, Deserialize)]
struct DepthEncodingJson {
    #[serde(default = "default_scale")]
    scale_to_metres: f32,
    #[serde(default)]
    invalid_value: u16,
}

fn default_scale() -> f32 {
    0.001
}

#[derive(Debug, Clone, Deserialize)]
#[expect(
    non_snake_case,
    reason = "field names as the sidecar JSON spells them (fx, cx, K)"
)]
struct SidecarCameraJson {
    #[serde(default)]
    video_key: Option<String>,
    #[serde(default)]
    depth_key: Option<String>,
    #[serde(default)]
    K: Option<[[f64; 3]; 3]>,
    #[serde(default)]
    extrinsics_column: Option<String>,
}

/// `meta/cameras.json` (non-standard sidecar).
#[derive(Debug, Clone, Deserialize)]
struct SidecarJson {
    #[serde(default)]
    depth_path: Option<String>,
    #[serde(default)]
    depth_encoding: Option<DepthEncodingJson>,
    #[serde(default)]
    cameras: indexmap::IndexMap<String, SidecarCameraJson>,
}

/// A LeRobot dataset (metadata).
#[derive(Debug)]
pub struct LeRobotDataset {
    pub root: PathBuf,
    pub name: String,
    pub info: Info,
    pub episodes: Vec<EpisodeMeta>,
    /// The dataset's own action statistics (`meta/stats.json`), when present.
    pub stats: Option<DeclaredStats>,
    /// Non-fatal problems found while opening.
    pub problems: Vec<EpisodeError>,
    /// Which camera features are pictures and which depth, paired ([`depth::pair`]).
    pub pairing: depth::Pairing,
    sidecar: Option<SidecarJson>,
    info_path: PathBuf,
}

/// Whether `dir` is a LeRobot dataset root (`meta/info.json` naming a codebase version).
pub fn is_dataset_dir(dir: &Path) -> bool {
    let p = dir.join("meta").join("info.json");
    p.is_file()
        && super::read_text_confined(&p, dir).is_ok_and(|t| t.contains("\"codebase_version\""))
}

#[derive(Deserialize)]
struct EpisodeLineJson {
    episode_index: usize,
    #[serde(default)]
    tasks: Vec<String>,
    length: usize,
}

impl LeRobotDataset {
    /// Opens the dataset at `root` (the folder holding `meta/`), or `root/meta/info.json`.
    pub fn open(path: &Path) -> Result<Self> {
        let root = if path.is_file() {
            path.parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."))
                .to_owned()
        } else {
            path.to_owned()
        };
        let meta = root.join("meta");
        let info_path = meta.join("info.json");
        let info = Info::read(&info_path, &root)?;
        let mut problems = Vec::new();
        let mut episodes = match info.version {
            LeRobotVersion::V2 => read_episodes_jsonl(&meta.join("episodes.jsonl"), &root)?,
            LeRobotVersion::V3 => read_episodes_v3(&meta.join("episodes"), &root)?,
        };
        episodes.sort_by_key(|e| e.index);
        if let Some(w) = episodes.windows(2).find(|w| w[0].index == w[1].index) {
            return Err(EpisodeError::metadata(
                &meta,
                format!("episode {} is listed twice", w[0].index),
            ));
        }
        if let Some(total) = info.json.total_episodes
            && total != episodes.len()
        {
            problems.push(EpisodeError::Json {
                path: info_path.clone(),
                field: "total_episodes".into(),
                reason: format!("is {total}, but {} episodes are listed", episodes.len()),
            });
        }
        let stats_path = meta.join("stats.json");
        let stats = super::read_text_confined(&stats_path, &root)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| DeclaredStats::from_json(&stats_path, &v, "action"));
        let sidecar_path = meta.join("cameras.json");
        let sidecar = if sidecar_path.is_file() {
            match parse_json::<SidecarJson>(&sidecar_path, &root) {
                Ok(s) => Some(s),
                Err(e) => {
                    problems.push(e);
                    None
                }
            }
        } else {
            None
        };
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        let pairing = depth::pair(&info);
        Ok(Self {
            name: format!("{name} {}", info.json.codebase_version),
            root,
            pairing,
            info,
            episodes,
            stats,
            problems,
            sidecar,
            info_path,
        })
    }

    fn entry(&self, i: usize) -> Result<&EpisodeMeta> {
        self.episodes
            .get(i)
            .ok_or_else(|| EpisodeError::EpisodeOutOfRange {
                path: self.root.clone(),
                index: i,
                len: self.episodes.len(),
            })
    }

    /// What the episode list says about episode `i` (no file read).
    pub fn summary(&self, i: usize) -> Option<EpisodeSummary> {
        let e = self.episodes.get(i)?;
        Some(EpisodeSummary {
            name: format!("episode_{:06}", e.index),
            instruction: Some(e.tasks.join("; ")),
            num_steps: Some(e.length),
            cameras: self
                .pairing
                .cameras
                .iter()
                .map(|(_, n)| n.clone())
                .collect(),
        })
    }

    /// Renders a path template from `info.json` and joins it safely onto the root.
    fn path_from(&self, template: &str, fields: &[(&str, info::Field<'_>)]) -> Result<PathBuf> {
        let rel = info::render(template, fields).map_err(|what| {
            EpisodeError::metadata(&self.info_path, format!("path template: {what}"))
        })?;
        safe_join(&self.root, &rel, &self.info_path)
    }
}

fn read_episodes_jsonl(path: &Path, root: &Path) -> Result<Vec<EpisodeMeta>> {
    let text = super::read_text_confined(path, root)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: EpisodeLineJson = serde_json::from_str(line).map_err(|e| EpisodeError::Json {
            path: path.to_owned(),
            field: format!("line {}", n + 1),
            reason: e.to_string(),
        })?;
        out.push(EpisodeMeta {
            index: e.episode_index,
            tasks: e.tasks,
            length: e.length,
            location: Location::PerEpisodeFiles,
        });
    }
    Ok(out)
}

/// Every `*.parquet` below `dir`, sorted (v3 writes `chunk-NNN/file-NNN.parquet`).
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_owned(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 3 {
                stack.push((p, depth + 1));
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_episodes_v3(dir: &Path, root: &Path) -> Result<Vec<EpisodeMeta>> {
    let files = parquet_files(dir);
    for f in &files {
        super::confine(f, root)?;
    }
    if files.is_empty() {
        return Err(EpisodeError::metadata(
            dir,
            "no episode metadata (meta/episodes/chunk-*/file-*.parquet)",
        ));
    }
    let mut out = Vec::new();
    for path in files {
        let keep = |n: &str| {
            matches!(
                n,
                "episode_index"
                    | "tasks"
                    | "length"
                    | "data/chunk_index"
                    | "data/file_index"
                    | "dataset_from_index"
                    | "dataset_to_index"
            ) || (n.starts_with("videos/") && !n.contains("/stats"))
        };
        let t =
            table::read(&path, Some(&keep), None).map_err(|w| EpisodeError::metadata(&path, w))?;
        let err = |w: String| EpisodeError::metadata(&path, w);
        let index = t.index_column("episode_index").map_err(err)?;
        let tasks = t.string_lists("tasks").map_err(err)?;
        let length = t.index_column("length").map_err(err)?;
        let chunk = t.index_column("data/chunk_index").map_err(err)?;
        let file = t.index_column("data/file_index").map_err(err)?;
        let from = t.index_column("dataset_from_index").map_err(err)?;
        let to = t.index_column("dataset_to_index").map_err(err)?;
        let video_keys: Vec<String> = t
            .all_columns
            .iter()
            .filter_map(|c| c.strip_prefix("videos/")?.strip_suffix("/chunk_index"))
            .map(str::to_owned)
            .collect();
        let mut videos: Vec<HashMap<String, V3Video>> = vec![HashMap::new(); t.rows];
        for key in &video_keys {
            let c = t
                .index_column(&format!("videos/{key}/chunk_index"))
                .map_err(err)?;
            let f = t
                .index_column(&format!("videos/{key}/file_index"))
                .map_err(err)?;
            let from_s = t
                .f64_column(&format!("videos/{key}/from_timestamp"))
                .map_err(err)?;
            let to_s = t.f64_column(&format!("videos/{key}/to_timestamp")).ok();
            for row in 0..t.rows {
                if !(from_s[row].is_finite() && from_s[row] >= 0.0) {
                    return Err(err(format!(
                        "row {row}: videos/{key}/from_timestamp is {}",
                        from_s[row]
                    )));
                }
                videos[row].insert(
                    key.clone(),
                    V3Video {
                        chunk: c[row],
                        file: f[row],
                        from_s: from_s[row],
                        to_s: to_s.as_ref().map(|v| v[row]),
                    },
                );
            }
        }
        for (row, v) in videos.into_iter().enumerate() {
            if to[row] < from[row] || to[row] - from[row] != length[row] {
                return Err(err(format!(
                    "episode {}: rows {}..{} do not match its length {}",
                    index[row], from[row], to[row], length[row]
                )));
            }
            out.push(EpisodeMeta {
                index: index[row],
                tasks: tasks[row].clone(),
                length: length[row],
                location: Location::Packed {
                    data_chunk: chunk[row],
                    data_file: file[row],
                    from_index: from[row],
                    to_index: to[row],
                    file_first_index: 0,
                    videos: v,
                },
            });
        }
    }
    // The first global row index of each data file = the smallest `from` among its episodes.
    let mut first: HashMap<(usize, usize), usize> = HashMap::new();
    for e in &out {
        if let Location::Packed {
            data_chunk,
            data_file,
            from_index,
            ..
        } = &e.location
        {
            let f = first
                .entry((*data_chunk, *data_file))
                .or_insert(*from_index);
            *f = (*f).min(*from_index);
        }
    }
    for e in &mut out {
        if let Location::Packed {
            data_chunk,
            data_file,
            file_first_index,
            ..
        } = &mut e.location
        {
            *file_first_index = first[&(*data_chunk, *data_file)];
        }
    }
    Ok(out)
}
