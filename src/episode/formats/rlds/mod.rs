//! RLDS datasets as written by TFDS (Open X-Embodiment, BridgeData, Fractal).
//!
//! A dataset folder holds `dataset_info.json` (name, version, splits), `features.json` (the
//! feature tree) and TFRecord shards `NAME-SPLIT.tfrecord-XXXXX-of-YYYYY`; each record is one
//! episode as a `tf.train.Example` whose `steps/...` features are the per-step values
//! concatenated over the episode. Opening the dataset indexes record headers only; an
//! episode's record is read, CRC-checked and decoded when the episode is opened, and its
//! JPEGs stay encoded (sharing the record buffer) until a frame is asked for.
//!
//! Camera keys are found from `features.json` (every per-step `Image`), not from a list of
//! known names. RLDS ships no intrinsics: the primary camera gets the nominal entry of the
//! per-dataset table, labelled as such.

pub mod example;
pub mod features;
mod frames;
mod layout;
pub mod tfrecord;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::example::Example;
use self::features::FeatureSpec;
use self::frames::{DepthData, RldsFrames, Stream};
use self::layout::{DepthKind, Layout};
use self::tfrecord::RecordSpan;
use super::{FrameContext, PLACEHOLDER_MAX_VALUE, decode_rgb};
use crate::episode::types::next_episode_uid;
use crate::episode::{
    CalibrationOrigin, Camera, CameraPoses, DatasetFormat, Episode, EpisodeError, EpisodeSource,
    FrameCache, FrameSource, Proprio, Result, intrinsics_table,
};

/// Largest |delta| (m or rad) of a translation/rotation dimension that still counts as no
/// motion: Bridge's first actions are ~1e-7, not exactly 0.
const NO_OP_ACTION_TOLERANCE: f32 = 1e-5;

/// BridgeData's control rate, Hz.
const BRIDGE_NOMINAL_FPS: f64 = 5.0;

/// One TFRecord file of the dataset.
#[derive(Debug)]
pub struct Shard {
    pub path: PathBuf,
    /// Split name parsed from the file name (`train`, `val`), or "" when it does not follow
    /// the TFDS naming.
    pub split: String,
    pub records: Vec<RecordSpan>,
}

/// An indexed RLDS dataset.
#[derive(Debug)]
pub struct RldsDataset {
    pub root: PathBuf,
    pub name: String,
    pub version: String,
    pub features: Arc<Vec<FeatureSpec>>,
    pub shards: Vec<Shard>,
    /// (shard, record) of every episode, in shard then record order.
    pub entries: Vec<(usize, usize)>,
    /// Problems found while indexing (a truncated shard keeps its good records).
    pub problems: Vec<EpisodeError>,
}

/// Whether `dir` looks like an RLDS dataset folder.
pub fn is_dataset_dir(dir: &Path) -> bool {
    dir.join("features.json").is_file()
        && std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .any(|e| is_shard_name(&e.file_name().to_string_lossy()))
            })
            .unwrap_or(false)
}

fn is_shard_name(name: &str) -> bool {
    name.contains(".tfrecord")
}

fn split_of(file_name: &str, dataset: &str) -> String {
    // NAME-SPLIT.tfrecord-XXXXX-of-YYYYY
    file_name
        .strip_prefix(dataset)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.split(".tfrecord").next())
        .unwrap_or("")
        .to_owned()
}

fn read_json(path: &Path, root: &Path) -> Result<serde_json::Value> {
    let text = super::read_text_confined(path, root)?;
    serde_json::from_str(&text).map_err(|e| EpisodeError::Json {
        path: path.to_owned(),
        field: "(document)".to_owned(),
        reason: e.to_string(),
    })
}

impl RldsDataset {
    /// Opens a dataset folder, or a single shard file (then only that shard is indexed).
    pub fn open(path: &Path) -> Result<Self> {
        let (root, only) = if path.is_file() {
            let root = path.parent().unwrap_or(Path::new(".")).to_owned();
            (root, Some(path.to_owned()))
        } else {
            (path.to_owned(), None)
        };
        let info_path = root.join("dataset_info.json");
        let (name, version) = if info_path.is_file() {
            let info = read_json(&info_path, &root)?;
            let name = info
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            let version = info
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            (name, version)
        } else {
            (String::new(), String::new())
        };
        let name = if name.is_empty() {
            // TFDS layout: .../NAME/VERSION/
            root.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rlds".to_owned())
        } else {
            name
        };
        let features_path = root.join("features.json");
        let text = super::read_text_confined(&features_path, &root)?;
        let features = Arc::new(features::parse(&features_path, &text)?);

        let mut shard_paths: Vec<PathBuf> = match only {
            Some(p) => vec![p],
            None => std::fs::read_dir(&root)
                .map_err(|e| EpisodeError::io(&root, e))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .is_some_and(|n| is_shard_name(&n.to_string_lossy()))
                })
                .collect(),
        };
        shard_paths.sort();
        if shard_paths.is_empty() {
            return Err(EpisodeError::UnknownFormat {
                path: root,
                reason: "features.json but no *.tfrecord* shard".to_owned(),
            });
        }
        let mut shards = Vec::new();
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for path in shard_paths {
            // A shard that is a link out of the dataset is left out, and said so.
            if let Err(e) = super::confine(&path, &root) {
                problems.push(e);
                continue;
            }
            let idx = tfrecord::index_records(&path)?;
            let damaged = idx.error.is_some();
            if let Some(e) = idx.error {
                problems.push(e);
            }
            if idx.records.is_empty() && !damaged {
                problems.push(EpisodeError::metadata(
                    &path,
                    "the shard holds no records (an empty or truncated file): no episodes from it",
                ));
            }
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let s = shards.len();
            entries.extend((0..idx.records.len()).map(|r| (s, r)));
            shards.push(Shard {
                split: split_of(&file_name, &name),
                path,
                records: idx.records,
            });
        }
        Ok(Self {
            root,
            name,
            version,
            features,
            shards,
            entries,
            problems,
        })
    }

    /// Display name of episode `i`: `split #record`.
    pub fn episode_name(&self, i: usize) -> String {
        let (s, r) = self.entries[i];
        let split = &self.shards[s].split;
        if self.shards.iter().filter(|x| x.split == *split).count() > 1 {
            format!("{split} {s}#{r}")
        } else if split.is_empty() {
            format!("#{r}")
        } else {
            format!("{split} #{r}")
        }
    }

    fn read_example(&self, i: usize) -> Result<(PathBuf, usize, Example)> {
        let (s, r) = *self
            .entries
            .get(i)
            .ok_or_else(|| EpisodeError::EpisodeOutOfRange {
                path: self.root.clone(),
                index: i,
                len: self.entries.len(),
            })?;
        let shard = &self.shards[s];
        let payload = tfrecord::read_record(&shard.path, r, shard.records[r])?;
        let example = Example::decode_from(payload).map_err(|e| EpisodeError::BadRecord {
            path: shard.path.clone(),
            record: r,
            what: format!("not a tf.train.Example: {e}"),
        })?;
        Ok((shard.path.clone(), r, example))
    }

    /// Instruction, step count and cameras of episode `i` (reads and parses its record,
    /// decodes no image).
    pub fn summarize(&self, i: usize) -> Result<crate::episode::EpisodeSummary> {
        let (path, record, ex) = self.read_example(i)?;
        let layout = Layout::new(&self.features);
        Ok(crate::episode::EpisodeSummary {
            name: self.episode_name(i),
            instruction: Some(layout.instruction(&ex)),
            num_steps: Some(layout.num_steps(&ex, &path, record)?),
            cameras: layout.cameras.iter().map(|c| c.name.clone()).collect(),
        })
    }

    /// Reads, checks and decodes episode `i`'s record into an [`Episode`].
    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        let (path, record, ex) = self.read_example(i)?;
        let layout = Layout::new(&self.features);
        let n = layout.num_steps(&ex, &path, record)?;
        let bad = |what: String| EpisodeError::BadRecord {
            path: path.clone(),
            record,
            what,
        };
        let bridge_like =
            intrinsics_table::key_for(&self.name, &self.version) == "bridge_orig/1.0.0";

        // Actions.
        let actions = layout.actions(&ex, n, &path, record, bridge_like)?;

        // Proprio.
        let proprio = match &layout.state_key {
            Some(key) => {
                let v = ex.floats(key).unwrap_or(&[]);
                if n == 0 || v.len() % n != 0 {
                    return Err(bad(format!(
                        "`{key}` has {} values, not a multiple of {n} steps",
                        v.len()
                    )));
                }
                let d = v.len() / n;
                let names = if bridge_like && d == 7 {
                    [
                        "x (m)",
                        "y (m)",
                        "z (m)",
                        "roll (rad)",
                        "pitch (rad)",
                        "yaw (rad)",
                        "gripper (~0..1)",
                    ]
                    .map(str::to_owned)
                    .to_vec()
                } else {
                    (0..d).map(|j| format!("state[{j}]")).collect()
                };
                Some(Proprio {
                    names,
                    values: v.chunks(d).map(<[f32]>::to_vec).collect(),
                })
            }
            None => None,
        };

        // Camera streams.
        let mut streams = Vec::new();
        let mut cameras = Vec::new();
        let table_key = intrinsics_table::key_for(&self.name, &self.version);
        for (ci, cam) in layout.cameras.iter().enumerate() {
            let frames = ex.byte_strings(&cam.rgb_key).unwrap_or(&[]).to_vec();
            if frames.len() != n {
                return Err(bad(format!(
                    "`{}` has {} images for {n} steps",
                    cam.rgb_key,
                    frames.len()
                )));
            }
            let depth = match &cam.depth_key {
                Some((k, DepthKind::Png)) => {
                    let d = ex.byte_strings(k).unwrap_or(&[]).to_vec();
                    if d.len() != n {
                        return Err(bad(format!(
                            "`{k}` has {} depth images for {n} steps",
                            d.len()
                        )));
                    }
                    Some(DepthData::Png(d))
                }
                Some((k, DepthKind::Float { width, height })) => {
                    let v = ex.floats(k).unwrap_or(&[]);
                    let per_step = *width as usize * *height as usize;
                    if v.len() != n * per_step {
                        return Err(bad(format!(
                            "`{k}` has {} depth values for {n} steps of {width}x{height}",
                            v.len()
                        )));
                    }
                    Some(DepthData::Float {
                        values_m: v.to_vec(),
                        width: *width,
                        height: *height,
                    })
                }
                None => None,
            };
            streams.push(Stream {
                name: cam.name.clone(),
                frames,
                format: cam.format,
                depth,
                size: cam.size,
            });
            // Size: from features.json, else from the first frame.
            let size = match cam.size {
                Some(s) => s,
                None if n > 0 => {
                    let ctx = FrameContext {
                        path: &path,
                        record: Some(record),
                        step: 0,
                        camera: &cam.name,
                    };
                    let img = decode_rgb(&streams[ci].frames[0], cam.format, None, ctx)?;
                    (img.width_px, img.height_px)
                }
                None => (0, 0),
            };
            streams[ci].size = Some(size);
            // The dataset table describes the primary (first) camera only.
            let (intrinsics, intrinsics_source) =
                match intrinsics_table::lookup(&table_key, size.0, size.1) {
                    Some(k) if ci == 0 => (
                        Some(k),
                        CalibrationOrigin::DatasetTable {
                            key: table_key.clone(),
                        },
                    ),
                    _ => (None, CalibrationOrigin::None),
                };
            cameras.push(Camera {
                name: cam.name.clone(),
                width_px: size.0,
                height_px: size.1,
                intrinsics,
                intrinsics_source,
                poses: CameraPoses::Unknown,
                has_depth: cam.depth_key.is_some(),
                placeholder: false,
            });
        }

        let frames = Arc::new(RldsFrames {
            path: path.clone(),
            record,
            streams,
        });
        let mut notes = Vec::new();
        // What features.json declares for the action against what the data holds (7 per
        // step once read): a disagreement is said, not passed over.
        if let Some(declared) = self
            .features
            .iter()
            .find(|f| f.key == "steps/action")
            .and_then(|f| f.values_per_item())
            .filter(|&d| d != 7)
        {
            notes.push(format!(
                "features.json declares `steps/action` with {declared} values per step, but the data holds 7"
            ));
        }
        // Placeholder cameras: black at the first, middle and last step.
        for (ci, cam) in cameras.iter_mut().enumerate() {
            let probe = [0, n / 2, n.saturating_sub(1)];
            let mut all_black = n > 0;
            for &s in &probe {
                match frames.decode_rgb(s, ci) {
                    Ok(img) if img.max_value() <= PLACEHOLDER_MAX_VALUE => {}
                    Ok(_) => {
                        all_black = false;
                        break;
                    }
                    Err(e) => {
                        notes.push(format!("camera `{}`: {e}", cam.name));
                        all_black = false;
                        break;
                    }
                }
            }
            cam.placeholder = all_black;
            if all_black {
                notes.push(format!(
                    "camera `{}` is an all-black placeholder (no such camera in this episode)",
                    cam.name
                ));
            }
        }
        if let Some(last) = ex.ints("steps/is_last")
            && !last.iter().any(|&v| v != 0)
        {
            notes.push("RLDS `is_last` is never set: the episode is truncated".to_owned());
        }
        if bridge_like
            && actions
                .values
                .first()
                .is_some_and(|a| a[..6].iter().all(|v| v.abs() < NO_OP_ACTION_TOLERANCE))
        {
            notes.push(
                "step 0 action is ~0 except the gripper (|v| < 1e-5: raw BridgeData; SpatialVLA drops this step)".to_owned(),
            );
        }
        // RLDS stores no rate; BridgeData is recorded at 5 Hz (the rate the LeRobot
        // conversion declares), so playback uses that, labelled as nominal.
        let fps = bridge_like.then_some(BRIDGE_NOMINAL_FPS);
        if fps.is_some() {
            notes.push(format!("fps is nominal ({BRIDGE_NOMINAL_FPS} Hz, the BridgeData control rate); RLDS stores none"));
        }
        for missing in &layout.unpaired_depth {
            notes.push(format!(
                "depth stream `{missing}` matches no RGB camera and is not shown"
            ));
        }

        Ok(Episode {
            uid: next_episode_uid(),
            name: self.episode_name(i),
            instruction: layout.instruction(&ex),
            fps,
            source: EpisodeSource {
                format: DatasetFormat::Rlds,
                path,
                record: Some(record),
            },
            dataset_key: Some(intrinsics_table::canonical_key(&self.name, &self.version)),
            cameras,
            actions,
            proprio,
            notes,
            timestamps_s: None,
            frames,
            cache: cache.clone(),
        })
    }
}
