//! spatialscope's native episode folder (spec: `sample_episodes/README.md`).
//!
//! ```text
//! DATASET/index.json                        optional: list of episode folders
//! DATASET/episode_000/episode.json          everything except pixels
//! DATASET/episode_000/rgb/<cam>/000000.png  8-bit RGB, upright
//! DATASET/episode_000/depth/<cam>/000000.png 16-bit millimetres, 0 = invalid
//! ```
//! `episode.json` is parsed with field paths in every error (`frames[3].action_7d[2]`).
//! Bare `NaN`/`Infinity` tokens (which Python's `json` writes) are read as non-finite
//! numbers so they are reported as a bad action at a step, not as a syntax error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::ImageFormat;
use nalgebra::Matrix4;

mod schema;

use schema::{EpisodeJson, FrameJson, IndexJson};

use super::{FrameContext, decode_depth_u16, decode_rgb, parse_json, safe_join};
use crate::episode::types::next_episode_uid;
use crate::episode::{
    ActionConvention, Actions, CalibrationOrigin, Camera, CameraPoses, DatasetFormat, DepthImage,
    EncodedFrame, Episode, EpisodeError, EpisodeSource, EpisodeSummary, FrameCache, FrameSource,
    Intrinsics, Proprio, RecordLabel, Result, RgbImage, opencv_from_opengl,
};

/// The `format` value this reader understands.
pub const FORMAT_NAME: &str = "sim-episode-native";

/// Widest zero padding a frame template may ask for.
const MAX_FRAME_DIGITS: usize = 12;

/// Expands `{frame}` / `{frame:06d}` in a path template.
fn expand_template(template: &str, frame: usize) -> Option<String> {
    let start = template.find("{frame")?;
    let end = start + template[start..].find('}')?;
    let spec = &template[start + "{frame".len()..end];
    let digits = match spec {
        "" | ":d" => format!("{frame}"),
        s => {
            let width: usize = s.strip_prefix(":0")?.strip_suffix('d')?.parse().ok()?;
            if width > MAX_FRAME_DIGITS {
                return None;
            }
            format!("{frame:0width$}")
        }
    };
    Some(format!(
        "{}{}{}",
        &template[..start],
        digits,
        &template[end + 1..]
    ))
}

fn matrix(rows: &[[f64; 4]; 4]) -> Matrix4<f64> {
    Matrix4::from_fn(|r, c| rows[r][c])
}

fn pose_opencv(
    opencv: Option<&[[f64; 4]; 4]>,
    mujoco: Option<&[[f64; 4]; 4]>,
) -> Option<Matrix4<f64>> {
    opencv
        .map(matrix)
        .or_else(|| mujoco.map(|m| opencv_from_opengl(&matrix(m))))
}

/// A native dataset: one or more episode folders.
#[derive(Debug)]
pub struct NativeDataset {
    pub root: PathBuf,
    pub name: String,
    /// Episode folders, with what `index.json` says about them (if anything).
    pub episodes: Vec<(PathBuf, EpisodeSummary)>,
}

/// Whether `dir` is a native dataset (an `index.json` of this format, or episode folders)
/// or a single native episode folder.
pub fn is_native(dir: &Path) -> bool {
    dir.join("episode.json").is_file()
        || index_format(dir).is_some_and(|f| f == FORMAT_NAME)
        || !episode_subfolders(dir).is_empty()
}

/// Subfolders of `dir` holding an `episode.json`, sorted by name.
fn episode_subfolders(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("episode.json").is_file() && super::confine(p, dir).is_ok())
        .collect();
    v.sort();
    v
}

fn index_format(dir: &Path) -> Option<String> {
    let p = dir.join("index.json");
    let text = super::read_text_confined(&p, dir).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("format")?.as_str().map(str::to_owned)
}

fn folder_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

impl NativeDataset {
    /// Opens a dataset folder (with `index.json`), one episode folder, or an `episode.json`.
    pub fn open(path: &Path) -> Result<Self> {
        let dir = if path.is_file() {
            path.parent().unwrap_or(Path::new("."))
        } else {
            path
        };
        if dir.join("episode.json").is_file() {
            return Ok(Self {
                root: dir.to_owned(),
                name: folder_name(dir),
                episodes: vec![(dir.to_owned(), EpisodeSummary::named(folder_name(dir)))],
            });
        }
        let index_path = dir.join("index.json");
        if !index_path.is_file() {
            // A folder of episode folders without an index.
            let episodes: Vec<(PathBuf, EpisodeSummary)> = episode_subfolders(dir)
                .into_iter()
                .map(|p| {
                    let name = folder_name(&p);
                    (p, EpisodeSummary::named(name))
                })
                .collect();
            if episodes.is_empty() {
                return Err(EpisodeError::UnknownFormat {
                    path: dir.to_owned(),
                    reason: "no episode.json, index.json or episode folders".to_owned(),
                });
            }
            return Ok(Self {
                root: dir.to_owned(),
                name: folder_name(dir),
                episodes,
            });
        }
        let index: IndexJson = parse_json(&index_path, dir)?;
        if index.format.as_deref().is_some_and(|f| f != FORMAT_NAME) {
            return Err(EpisodeError::UnknownFormat {
                path: index_path,
                reason: format!("format is {:?}, expected {FORMAT_NAME:?}", index.format),
            });
        }
        let mut episodes = Vec::new();
        for e in index.episodes {
            let folder = safe_join(dir, &e.folder, &index_path)?;
            episodes.push((
                folder,
                EpisodeSummary {
                    name: e.folder,
                    instruction: e.instruction,
                    num_steps: e.num_frames,
                    cameras: e.cameras,
                },
            ));
        }
        Ok(Self {
            root: dir.to_owned(),
            name: folder_name(dir),
            episodes,
        })
    }

    /// Reads `episode.json` of episode `i` for its summary (no pixels).
    pub fn summarize(&self, i: usize) -> Result<EpisodeSummary> {
        let (dir, known) = self.entry(i)?;
        if known.instruction.is_some() && known.num_steps.is_some() {
            return Ok(known.clone());
        }
        let meta_path = dir.join("episode.json");
        let ep: EpisodeJson = parse_json(&meta_path, &self.root)?;
        Ok(EpisodeSummary {
            name: known.name.clone(),
            instruction: Some(ep.instruction),
            num_steps: Some(ep.frames.len()),
            cameras: ep.cameras.keys().cloned().collect(),
        })
    }

    fn entry(&self, i: usize) -> Result<&(PathBuf, EpisodeSummary)> {
        self.episodes
            .get(i)
            .ok_or_else(|| EpisodeError::EpisodeOutOfRange {
                path: self.root.clone(),
                index: i,
                len: self.episodes.len(),
            })
    }

    /// Parses and validates episode `i`'s `episode.json`.
    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        let (dir, summary) = self.entry(i)?;
        let meta_path = dir.join("episode.json");
        let ep: EpisodeJson = parse_json(&meta_path, &self.root)?;
        let field_err = |field: String, reason: String| EpisodeError::Json {
            path: meta_path.clone(),
            field,
            reason,
        };
        if let Some(f) = &ep.format
            && f != FORMAT_NAME
        {
            return Err(field_err(
                "format".into(),
                format!("is {f:?}, expected {FORMAT_NAME:?}"),
            ));
        }
        if ep.frames.len() != ep.num_frames {
            return Err(field_err(
                "frames".into(),
                format!(
                    "has {} entries but num_frames is {}",
                    ep.frames.len(),
                    ep.num_frames
                ),
            ));
        }
        if !(ep.fps.is_finite() && ep.fps > 0.0) {
            return Err(field_err(
                "fps".into(),
                format!("must be a positive number, is {}", ep.fps),
            ));
        }
        let n = ep.frames.len();
        let mut values = Vec::with_capacity(n);
        for (step, f) in ep.frames.iter().enumerate() {
            if f.index != step {
                return Err(field_err(
                    format!("frames[{step}].index"),
                    format!("is {}, expected {step}", f.index),
                ));
            }
            let mut a = [0f32; 7];
            for (dim, v) in f.action_7d.iter().enumerate() {
                match v {
                    Some(v) if v.is_finite() => a[dim] = *v,
                    other => {
                        return Err(EpisodeError::NonFiniteAction {
                            path: meta_path.clone(),
                            record: RecordLabel(None),
                            step,
                            dim,
                            value: other.unwrap_or(f32::NAN),
                        });
                    }
                }
            }
            values.push(a);
        }

        let mut cameras = Vec::new();
        let mut streams = Vec::new();
        for (name, c) in &ep.cameras {
            if c.width == 0 || c.height == 0 {
                return Err(field_err(
                    format!("cameras.{name}"),
                    "width and height must be positive".into(),
                ));
            }
            let intrinsics = c.k.map(|k| Intrinsics::from_k(&k, c.width, c.height));
            if let Some(k) = &intrinsics
                && !k.is_valid()
            {
                return Err(field_err(
                    format!("cameras.{name}.K"),
                    "not a valid pinhole matrix".into(),
                ));
            }
            for (field, t) in [
                ("rgb_path", Some(&c.rgb_path)),
                ("depth_path", c.depth_path.as_ref()),
            ] {
                if let Some(t) = t {
                    let expanded = expand_template(t, 0).ok_or_else(|| {
                        field_err(
                            format!("cameras.{name}.{field}"),
                            format!("template {t:?} has no {{frame}} field"),
                        )
                    })?;
                    // The template's shape only: links are checked when a frame is read,
                    // so one bad frame does not close the episode.
                    super::relative_inside(dir, &expanded, &meta_path)?;
                }
            }
            let per_step: Vec<Option<Matrix4<f64>>> = ep
                .frames
                .iter()
                .map(|f| {
                    f.camera_extrinsics
                        .as_ref()
                        .and_then(|m| m.get(name))
                        .and_then(|e| {
                            pose_opencv(
                                e.world_from_camera_opencv.as_ref(),
                                e.world_from_camera_mujoco.as_ref(),
                            )
                        })
                })
                .collect();
            let fixed = pose_opencv(
                c.world_from_camera_opencv.as_ref(),
                c.world_from_camera_mujoco.as_ref(),
            );
            let poses = if n > 0 && per_step.iter().all(Option::is_some) {
                let all: Vec<Matrix4<f64>> = per_step.into_iter().flatten().collect();
                if all.iter().all(|m| m == &all[0]) {
                    CameraPoses::Static(all[0])
                } else {
                    CameraPoses::PerStep(all)
                }
            } else {
                fixed.map_or(CameraPoses::Unknown, CameraPoses::Static)
            };
            let depth = c.depth_path.as_ref().map(|t| {
                let enc = c.depth_encoding.as_ref();
                (
                    t.clone(),
                    enc.map_or(0.001, |e| e.scale_to_metres),
                    enc.map_or(0, |e| e.invalid_value),
                )
            });
            cameras.push(Camera {
                name: name.clone(),
                width_px: c.width,
                height_px: c.height,
                intrinsics_source: CalibrationOrigin::file_if(intrinsics.is_some()),
                intrinsics,
                poses,
                has_depth: depth.is_some(),
                placeholder: false,
            });
            streams.push(NativeStream {
                name: name.clone(),
                size: (c.width, c.height),
                rgb_template: c.rgb_path.clone(),
                depth,
            });
        }

        let proprio = native_proprio(&ep.frames);
        Ok(Episode {
            uid: next_episode_uid(),
            name: summary.name.clone(),
            instruction: ep.instruction,
            fps: Some(ep.fps),
            source: EpisodeSource {
                format: DatasetFormat::Native,
                path: dir.clone(),
                record: None,
            },
            dataset_key: None,
            cameras,
            actions: Actions {
                convention: ActionConvention {
                    frame: crate::episode::ActionFrame::World,
                    ..ActionConvention::metric_delta_base()
                },
                values,
            },
            proprio,
            notes: Vec::new(),
            timestamps_s: ep.frames.iter().map(|f| f.timestamp).collect(),
            frames: Arc::new(NativeFrames {
                dir: dir.clone(),
                meta_path,
                streams,
            }),
            cache: cache.clone(),
        })
    }
}

fn native_proprio(frames: &[FrameJson]) -> Option<Proprio> {
    let first = frames.first()?.proprio.as_ref()?;
    let mut names = Vec::new();
    if first.eef_pos_m.is_some() {
        names.extend(["eef x (m)", "eef y (m)", "eef z (m)"]);
    }
    if first.eef_rpy_rad.is_some() {
        names.extend(["eef roll (rad)", "eef pitch (rad)", "eef yaw (rad)"]);
    }
    if first.gripper_qpos_m.is_some() {
        names.extend(["gripper left (m)", "gripper right (m)"]);
    }
    if names.is_empty() {
        return None;
    }
    let values = frames
        .iter()
        .map(|f| {
            let p = f.proprio.as_ref();
            let mut v = Vec::with_capacity(names.len());
            if first.eef_pos_m.is_some() {
                v.extend(p.and_then(|p| p.eef_pos_m).map_or([f32::NAN; 3], |x| x));
            }
            if first.eef_rpy_rad.is_some() {
                v.extend(p.and_then(|p| p.eef_rpy_rad).map_or([f32::NAN; 3], |x| x));
            }
            if first.gripper_qpos_m.is_some() {
                v.extend(
                    p.and_then(|p| p.gripper_qpos_m)
                        .map_or([f32::NAN; 2], |x| x),
                );
            }
            v
        })
        .collect();
    Some(Proprio {
        names: names.into_iter().map(str::to_owned).collect(),
        values,
    })
}

struct NativeStream {
    name: String,
    size: (u32, u32),
    rgb_template: String,
    /// (path template, scale to metres, invalid value)
    depth: Option<(String, f32, u16)>,
}

struct NativeFrames {
    dir: PathBuf,
    meta_path: PathBuf,
    streams: Vec<NativeStream>,
}

impl NativeFrames {
    fn stream(&self, camera: usize) -> Result<&NativeStream> {
        self.streams
            .get(camera)
            .ok_or_else(|| EpisodeError::NoSuchCamera {
                path: self.meta_path.clone(),
                camera: format!("#{camera}"),
            })
    }

    fn file(&self, template: &str, step: usize) -> Result<PathBuf> {
        let rel = expand_template(template, step).ok_or_else(|| EpisodeError::PathEscapes {
            path: self.meta_path.clone(),
            template: template.to_owned(),
        })?;
        safe_join(&self.dir, &rel, &self.meta_path)
    }

    fn read(&self, template: &str, step: usize) -> Result<(PathBuf, Vec<u8>)> {
        let path = self.file(template, step)?;
        let bytes = std::fs::read(&path).map_err(|e| EpisodeError::io(&path, e))?;
        Ok((path, bytes))
    }
}

impl FrameSource for NativeFrames {
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage> {
        let s = self.stream(camera)?;
        let (path, bytes) = self.read(&s.rgb_template, step)?;
        let ctx = FrameContext {
            path: &path,
            record: None,
            step,
            camera: &s.name,
        };
        decode_rgb(&bytes, Some(ImageFormat::Png), Some(s.size), ctx)
    }

    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>> {
        let s = self.stream(camera)?;
        let Some((template, scale, invalid)) = &s.depth else {
            return Ok(None);
        };
        let (path, bytes) = self.read(template, step)?;
        let ctx = FrameContext {
            path: &path,
            record: None,
            step,
            camera: &s.name,
        };
        decode_depth_u16(&bytes, *scale, *invalid, Some(s.size), ctx).map(Some)
    }

    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        let s = self.stream(camera)?;
        let (_, bytes) = self.read(&s.rgb_template, step)?;
        Ok(EncodedFrame {
            bytes: bytes.into(),
            encoding: "png",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_and_escapes_are_refused() {
        assert_eq!(
            expand_template("rgb/a/{frame:06d}.png", 7).as_deref(),
            Some("rgb/a/000007.png")
        );
        assert_eq!(
            expand_template("x/{frame}.png", 12).as_deref(),
            Some("x/12.png")
        );
        assert_eq!(expand_template("x/none.png", 1), None);
        assert_eq!(
            expand_template("x/{frame:0999999999d}.png", 1),
            None,
            "absurd padding is refused"
        );
        let base = Path::new("/data/ep");
        assert!(safe_join(base, "../secret.png", base).is_err());
        assert!(safe_join(base, "/etc/passwd", base).is_err());
        assert!(safe_join(base, "rgb/a/000001.png", base).is_ok());
    }
}
