//! The typed `Episode` and the `FrameSource` trait formats implement.
//!
//! An `Episode` holds everything small (metadata, actions, proprio, poses) eagerly and
//! decodes pixels only when asked, through its format's `FrameSource`, memoised in the
//! shared byte-bounded [`FrameCache`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cache::{CachedFrame, FrameCache, FrameKey};
use super::{Actions, Camera, DepthImage, EpisodeError, FrameKind, Proprio, Result, RgbImage};

/// The file formats spatialscope reads. Closed on purpose: a new format is a compile error
/// wherever formats are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetFormat {
    /// spatialscope's native folder form (`episode.json` + PNG), see `sample_episodes/README.md`.
    Native,
    /// RLDS as written by TFDS: `dataset_info.json`, `features.json`, TFRecord shards.
    Rlds,
    /// LeRobot v2.0/v2.1/v3.0: `meta/info.json`, parquet tables, MP4 videos.
    #[serde(rename = "lerobot")]
    LeRobot,
    /// robomimic / LIBERO HDF5: `data/demo_N/{actions, obs/...}`.
    Hdf5,
    /// RLBench / PerAct episode folders: per-camera PNGs and a pickled demo.
    #[serde(rename = "rlbench")]
    RlBench,
}

impl DatasetFormat {
    pub fn label(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Rlds => "RLDS/TFRecord",
            Self::LeRobot => "LeRobot",
            Self::Hdf5 => "HDF5 (robomimic/LIBERO)",
            Self::RlBench => "RLBench",
        }
    }
}

/// Where an episode came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeSource {
    pub format: DatasetFormat,
    /// The file or folder holding the episode (`episode.json`'s folder, the TFRecord shard).
    pub path: PathBuf,
    /// Record index inside `path` for record-based formats.
    pub record: Option<usize>,
}

/// Encoded bytes of one frame as stored in the dataset (JPEG, PNG).
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub bytes: bytes::Bytes,
    /// `"jpeg"` or `"png"`.
    pub encoding: &'static str,
}

/// Decodes pixels of one episode on demand. Implemented once per format.
pub trait FrameSource: Send + Sync {
    /// Decodes the RGB frame of `camera` (index into `Episode::cameras`) at `step`.
    fn decode_rgb(&self, step: usize, camera: usize) -> Result<RgbImage>;
    /// Decodes the metric depth of `camera` at `step`; `Ok(None)` when it has no depth.
    fn decode_depth(&self, step: usize, camera: usize) -> Result<Option<DepthImage>>;
    /// The RGB frame's bytes as stored, without decoding.
    fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame>;
    /// Whether RGB is stored as raw pixels (then `encoded_rgb` encodes a PNG on the spot,
    /// and an export asked for JPEG encodes the decoded pixels instead).
    fn stores_raw_rgb(&self) -> bool {
        false
    }
    /// What the camera's video file says about itself, for cameras stored as video.
    fn video_facts(&self, _camera: usize) -> Option<Result<VideoFacts>> {
        None
    }
    /// For a camera stored as a video file: the file and the presentation time (ns from its
    /// start) of the frame `step` shows, so an export can reference the video instead of
    /// re-encoding its frames. `None` for other cameras or where the time is not known
    /// without decoding.
    fn video_frame(&self, _step: usize, _camera: usize) -> Option<Result<(PathBuf, i64)>> {
        None
    }
}

/// A camera video's own account of itself, against which its table can be checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFacts {
    /// The file.
    pub path: PathBuf,
    /// Frame rate from the sample table (or the container's average rate).
    pub fps: Option<f64>,
    /// Frames presented within this episode's time span (`None` where the decoder cannot
    /// count without decoding).
    pub frames: Option<usize>,
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A process-unique id for cache keys.
pub(crate) fn next_episode_uid() -> u64 {
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

/// One robot episode: metadata and actions in memory, frames decoded lazily.
pub struct Episode {
    /// Process-unique id (cache key); not stable across runs.
    pub uid: u64,
    /// Display name (folder name, `split #record`).
    pub name: String,
    /// The language instruction ("" when the dataset has none).
    pub instruction: String,
    /// Control / recording rate, when known.
    pub fps: Option<f64>,
    pub source: EpisodeSource,
    /// The dataset's `name/version` key as SpatialVLA names it (`bridge_orig/1.0.0`), for
    /// finding its statistics; `None` when the format has no dataset name.
    pub dataset_key: Option<String>,
    pub cameras: Vec<Camera>,
    /// N x 7, one per step.
    pub actions: Actions,
    pub proprio: Option<Proprio>,
    /// Things a researcher should know about this episode (truncation, raw conventions).
    pub notes: Vec<String>,
    /// Recorded time of each step, seconds from the episode start, where the format stores
    /// one (LeRobot's `timestamp` column); `None` where steps are only counted.
    pub timestamps_s: Option<Vec<f64>>,
    pub(crate) frames: Arc<dyn FrameSource>,
    pub(crate) cache: Arc<FrameCache>,
}

impl std::fmt::Debug for Episode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Episode")
            .field("name", &self.name)
            .field("instruction", &self.instruction)
            .field("num_steps", &self.num_steps())
            .field("cameras", &self.cameras)
            .finish_non_exhaustive()
    }
}

impl Episode {
    /// Number of steps (observations) in the episode.
    pub fn num_steps(&self) -> usize {
        self.actions.values.len()
    }

    /// The camera a model looks through: the first real (non-placeholder) camera, as the
    /// reference pipelines feed the primary image.
    pub fn model_camera(&self) -> Option<usize> {
        self.cameras.iter().position(|c| !c.placeholder)
    }

    /// The first camera not in `hidden` that has depth and intrinsics: the one whose depth
    /// the model's Ego3D view lifts. The one place this choice is made.
    pub fn first_depth_camera(&self, hidden: &[usize]) -> Option<usize> {
        (0..self.cameras.len()).find(|c| {
            !hidden.contains(c)
                && self.cameras[*c].has_depth
                && self.cameras[*c].intrinsics.is_some()
        })
    }

    /// Index of the camera called `name`.
    pub fn camera_index(&self, name: &str) -> Option<usize> {
        self.cameras.iter().position(|c| c.name == name)
    }

    fn check(&self, step: usize, camera: usize) -> Result<()> {
        if step >= self.num_steps() {
            return Err(EpisodeError::StepOutOfRange {
                path: self.source.path.clone(),
                step,
                len: self.num_steps(),
            });
        }
        if camera >= self.cameras.len() {
            return Err(EpisodeError::NoSuchCamera {
                path: self.source.path.clone(),
                camera: format!("#{camera}"),
            });
        }
        Ok(())
    }

    fn key(&self, step: usize, camera: usize, kind: FrameKind) -> FrameKey {
        FrameKey {
            episode_uid: self.uid,
            step,
            camera,
            kind,
        }
    }

    /// The decoded RGB frame, from the cache or decoded now.
    pub fn rgb(&self, step: usize, camera: usize) -> Result<Arc<RgbImage>> {
        self.check(step, camera)?;
        let key = self.key(step, camera, FrameKind::Rgb);
        if let Some(CachedFrame::Rgb(img)) = self.cache.get(&key) {
            return Ok(img);
        }
        let img = Arc::new(self.frames.decode_rgb(step, camera)?);
        self.cache.insert(key, CachedFrame::Rgb(img.clone()));
        Ok(img)
    }

    /// The decoded metric depth, `None` when the camera has none.
    pub fn depth(&self, step: usize, camera: usize) -> Result<Option<Arc<DepthImage>>> {
        self.check(step, camera)?;
        if !self.cameras[camera].has_depth {
            return Ok(None);
        }
        let key = self.key(step, camera, FrameKind::Depth);
        if let Some(CachedFrame::Depth(d)) = self.cache.get(&key) {
            return Ok(d);
        }
        let d = self.frames.decode_depth(step, camera)?.map(Arc::new);
        self.cache.insert(key, CachedFrame::Depth(d.clone()));
        Ok(d)
    }

    /// The RGB frame's stored bytes (for hashing and export without re-encoding).
    pub fn encoded_rgb(&self, step: usize, camera: usize) -> Result<EncodedFrame> {
        self.check(step, camera)?;
        self.frames.encoded_rgb(step, camera)
    }

    /// Whether RGB frames are stored as raw pixels (see [`FrameSource::stores_raw_rgb`]).
    pub fn rgb_stored_raw(&self) -> bool {
        self.frames.stores_raw_rgb()
    }

    /// The camera's video's own frame rate and frame count, for cameras stored as video
    /// (opens the file's sample table; decodes nothing).
    pub fn video_facts(&self, camera: usize) -> Option<Result<VideoFacts>> {
        if camera >= self.cameras.len() {
            return None;
        }
        self.frames.video_facts(camera)
    }

    /// See [`FrameSource::video_frame`].
    pub fn video_frame(&self, step: usize, camera: usize) -> Option<Result<(PathBuf, i64)>> {
        if camera >= self.cameras.len() || step >= self.num_steps() {
            return None;
        }
        self.frames.video_frame(step, camera)
    }
}

impl Drop for Episode {
    fn drop(&mut self) {
        self.cache.forget_episode(self.uid);
    }
}

/// How an HDF5 dataset's images are turned upright (robomimic stores them as rendered,
/// LIBERO upside down; see `formats::hdf5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageOrientation {
    /// From the file's attributes (see the module docs).
    #[default]
    Auto,
    /// Shown as stored.
    AsStored,
    /// Flipped vertically (row 0 of the file is the bottom of the picture).
    Flipped,
}
