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
pub mod tfrecord;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use image::ImageFormat;

use self::example::Example;
use self::features::{FeatureKind, FeatureSpec};
use self::tfrecord::RecordSpan;
use super::{FrameContext, PLACEHOLDER_MAX_VALUE, decode_depth_u16, decode_rgb};
use crate::episode::model::next_episode_uid;
use crate::episode::{
    ActionConvention, Actions, Camera, CameraPoses, DatasetFormat, DepthImage, EncodedFrame,
    Episode, EpisodeError, EpisodeSource, FrameCache, FrameSource, IntrinsicsSource, Proprio,
    RecordLabel, Result, RgbImage, intrinsics_table,
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

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| EpisodeError::io(path, e))?;
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
            let info = read_json(&info_path)?;
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
        let text = std::fs::read_to_string(&features_path)
            .map_err(|e| EpisodeError::io(&features_path, e))?;
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
            let idx = tfrecord::index_records(&path)?;
            if let Some(e) = idx.error {
                problems.push(e);
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
                        IntrinsicsSource::DatasetTable {
                            key: table_key.clone(),
                        },
                    ),
                    _ => (None, IntrinsicsSource::None),
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
            cameras,
            actions,
            proprio,
            notes,
            frames,
            cache: cache.clone(),
        })
    }
}

/// One RGB camera found in `features.json`.
#[derive(Debug, Clone)]
struct CameraLayout {
    name: String,
    rgb_key: String,
    format: Option<ImageFormat>,
    /// (width, height) from `features.json` when fully known.
    size: Option<(u32, u32)>,
    /// The paired depth feature and how it is stored.
    depth_key: Option<(String, DepthKind)>,
}

/// How an RLDS depth feature is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DepthKind {
    /// 16-bit PNG `Image` feature, millimetres assumed.
    Png,
    /// float32 `Tensor` of [H, W] or [H, W, 1] per step, metres.
    Float { width: u32, height: u32 },
}

/// How this dataset's features map onto the episode model.
struct Layout<'a> {
    features: &'a [FeatureSpec],
    cameras: Vec<CameraLayout>,
    state_key: Option<String>,
    unpaired_depth: Vec<String>,
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
    fn new(features: &'a [FeatureSpec]) -> Self {
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

    fn num_steps(&self, ex: &Example, path: &Path, record: usize) -> Result<usize> {
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

    fn instruction(&self, ex: &Example) -> String {
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

    fn actions(
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

struct Stream {
    name: String,
    frames: Vec<Bytes>,
    format: Option<ImageFormat>,
    depth: Option<DepthData>,
    size: Option<(u32, u32)>,
}

/// One camera's depth for the whole episode.
enum DepthData {
    /// Encoded 16-bit PNGs, one per step.
    Png(Vec<Bytes>),
    /// Metric depth, `height * width` values per step, concatenated.
    Float {
        values_m: Vec<f32>,
        width: u32,
        height: u32,
    },
}

/// Frames of one RLDS episode: encoded bytes sharing the record buffer.
struct RldsFrames {
    path: PathBuf,
    record: usize,
    streams: Vec<Stream>,
}

impl RldsFrames {
    fn stream(&self, step: usize, camera: usize) -> Result<(&Stream, &Bytes)> {
        let s = self
            .streams
            .get(camera)
            .ok_or_else(|| EpisodeError::NoSuchCamera {
                path: self.path.clone(),
                camera: format!("#{camera}"),
            })?;
        let b = s
            .frames
            .get(step)
            .ok_or_else(|| EpisodeError::StepOutOfRange {
                path: self.path.clone(),
                step,
                len: s.frames.len(),
            })?;
        Ok((s, b))
    }
}

impl FrameSource for RldsFrames {
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage> {
        let (s, bytes) = self.stream(step, camera)?;
        let ctx = FrameContext {
            path: &self.path,
            record: Some(self.record),
            step,
            camera: &s.name,
        };
        decode_rgb(bytes, s.format, s.size, ctx)
    }

    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>> {
        let (s, _) = self.stream(step, camera)?;
        let ctx = FrameContext {
            path: &self.path,
            record: Some(self.record),
            step,
            camera: &s.name,
        };
        match &s.depth {
            None => Ok(None),
            // RLDS depth PNGs declare no unit; millimetres (0 = no return) is the common
            // convention.
            Some(DepthData::Png(frames)) => match frames.get(step) {
                Some(bytes) => decode_depth_u16(bytes, 0.001, 0, s.size, ctx).map(Some),
                None => Ok(None),
            },
            Some(DepthData::Float {
                values_m,
                width,
                height,
            }) => {
                ctx.check_size(crate::episode::FrameKind::Depth, (*width, *height), s.size)?;
                let per_step = *width as usize * *height as usize;
                let Some(v) = values_m.get(step * per_step..(step + 1) * per_step) else {
                    return Ok(None);
                };
                let depth_m = v
                    .iter()
                    .map(|&d| if d.is_finite() && d > 0.0 { d } else { 0.0 })
                    .collect();
                Ok(Some(DepthImage {
                    width_px: *width,
                    height_px: *height,
                    depth_m,
                }))
            }
        }
    }

    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        let (s, bytes) = self.stream(step, camera)?;
        Ok(EncodedFrame {
            bytes: bytes.clone(),
            encoding: match s.format {
                Some(ImageFormat::Png) => "png",
                _ => "jpeg",
            },
        })
    }
}
