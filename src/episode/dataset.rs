//! Datasets and collections: what opening a path gives you.
//!
//! [`open_path`] detects the format of a file or folder ([`DatasetFormat`] is a closed enum)
//! and, for a folder that is no dataset itself, looks for datasets below it (a few levels
//! deep), so `sample_episodes/` with a native and an RLDS dataset opens as one collection.
//! Nothing here decodes frames: a dataset is its list of episodes, opened one at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::formats::{hdf5, lerobot, native, rlbench, rlds};
use super::{
    DatasetFormat, DeclaredStats, Episode, EpisodeError, FrameCache, ImageOrientation, Result,
};

/// What is known about an episode without decoding it (filled in progressively).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpisodeSummary {
    pub name: String,
    pub instruction: Option<String>,
    pub num_steps: Option<usize>,
    pub cameras: Vec<String>,
}

impl EpisodeSummary {
    pub(crate) fn named(name: String) -> Self {
        Self {
            name,
            instruction: None,
            num_steps: None,
            cameras: Vec::new(),
        }
    }
}

#[derive(Debug)]
enum Backend {
    Native(native::NativeDataset),
    Rlds(rlds::RldsDataset),
    LeRobot(Box<lerobot::LeRobotDataset>),
    Hdf5(hdf5::Hdf5Dataset),
    RlBench(rlbench::RlBenchDataset),
}

/// One dataset: a list of episodes in one format.
#[derive(Debug)]
pub struct Dataset {
    pub root: PathBuf,
    pub name: String,
    pub format: DatasetFormat,
    /// Problems found while opening that did not stop it (e.g. a truncated shard whose
    /// earlier records are fine).
    pub problems: Vec<EpisodeError>,
    backend: Backend,
}

impl Dataset {
    /// Opens one dataset of a known format (metadata only).
    pub fn open(path: &Path, format: DatasetFormat) -> Result<Self> {
        match format {
            DatasetFormat::Native => {
                let d = native::NativeDataset::open(path)?;
                Ok(Self {
                    root: d.root.clone(),
                    name: d.name.clone(),
                    format,
                    problems: Vec::new(),
                    backend: Backend::Native(d),
                })
            }
            DatasetFormat::Rlds => {
                let mut d = rlds::RldsDataset::open(path)?;
                Ok(Self {
                    root: d.root.clone(),
                    name: if d.version.is_empty() {
                        d.name.clone()
                    } else {
                        format!("{} {}", d.name, d.version)
                    },
                    format,
                    problems: std::mem::take(&mut d.problems),
                    backend: Backend::Rlds(d),
                })
            }
            DatasetFormat::LeRobot => {
                let mut d = lerobot::LeRobotDataset::open(path)?;
                Ok(Self {
                    root: d.root.clone(),
                    name: d.name.clone(),
                    format,
                    problems: std::mem::take(&mut d.problems),
                    backend: Backend::LeRobot(Box::new(d)),
                })
            }
            DatasetFormat::Hdf5 => Self::open_hdf5(path, ImageOrientation::Auto),
            DatasetFormat::RlBench => {
                let d = rlbench::RlBenchDataset::open(path)?;
                Ok(Self {
                    root: d.root.clone(),
                    name: d.name.clone(),
                    format,
                    problems: Vec::new(),
                    backend: Backend::RlBench(d),
                })
            }
        }
    }

    /// Opens an HDF5 file with a chosen image orientation.
    pub fn open_hdf5(path: &Path, orientation: ImageOrientation) -> Result<Self> {
        let d = hdf5::Hdf5Dataset::open(path, orientation)?;
        Ok(Self {
            root: d.path.clone(),
            name: d.name.clone(),
            format: DatasetFormat::Hdf5,
            problems: Vec::new(),
            backend: Backend::Hdf5(d),
        })
    }

    /// For HDF5 datasets: whether frames are flipped and why.
    pub fn orientation_note(&self) -> Option<&str> {
        match &self.backend {
            Backend::Hdf5(d) => Some(&d.flip_reason),
            _ => None,
        }
    }

    /// For HDF5 datasets: the orientation asked for and what it resolved to.
    pub fn orientation(&self) -> Option<(ImageOrientation, String)> {
        match &self.backend {
            Backend::Hdf5(d) => Some((d.orientation, d.flip_reason.clone())),
            _ => None,
        }
    }

    /// The action statistics the dataset ships with, when it has any.
    pub fn declared_stats(&self) -> Option<&DeclaredStats> {
        match &self.backend {
            Backend::LeRobot(d) => d.stats.as_ref(),
            Backend::Native(_) | Backend::Rlds(_) | Backend::Hdf5(_) | Backend::RlBench(_) => None,
        }
    }

    /// Number of episodes.
    pub fn len(&self) -> usize {
        match &self.backend {
            Backend::Native(d) => d.episodes.len(),
            Backend::Rlds(d) => d.entries.len(),
            Backend::LeRobot(d) => d.episodes.len(),
            Backend::Hdf5(d) => d.demos.len(),
            Backend::RlBench(d) => d.episodes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What is known about episode `i` without reading it (may lack instruction/length).
    pub fn quick_summary(&self, i: usize) -> EpisodeSummary {
        match &self.backend {
            Backend::Native(d) => d.episodes.get(i).map(|e| e.1.clone()),
            Backend::Rlds(d) => {
                (i < d.entries.len()).then(|| EpisodeSummary::named(d.episode_name(i)))
            }
            Backend::LeRobot(d) => d.summary(i),
            Backend::Hdf5(d) => d.demos.get(i).map(|m| m.summary.clone()),
            Backend::RlBench(d) => d.quick_summary(i),
        }
        .unwrap_or_else(|| EpisodeSummary::named(format!("#{i}")))
    }

    /// The full summary of episode `i` (reads its metadata; decodes no frame).
    pub fn summarize(&self, i: usize) -> Result<EpisodeSummary> {
        match &self.backend {
            Backend::Native(d) => d.summarize(i),
            Backend::Rlds(d) => d.summarize(i),
            Backend::LeRobot(d) => d.summary(i).ok_or_else(|| EpisodeError::EpisodeOutOfRange {
                path: d.root.clone(),
                index: i,
                len: d.episodes.len(),
            }),
            Backend::Hdf5(d) => d.demos.get(i).map(|m| m.summary.clone()).ok_or_else(|| {
                EpisodeError::EpisodeOutOfRange {
                    path: d.path.clone(),
                    index: i,
                    len: d.demos.len(),
                }
            }),
            Backend::RlBench(d) => d.summarize(i),
        }
    }

    /// Opens episode `i`; frames decode later, through `cache`.
    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        match &self.backend {
            Backend::Native(d) => d.open_episode(i, cache),
            Backend::Rlds(d) => d.open_episode(i, cache),
            Backend::LeRobot(d) => d.open_episode(i, cache),
            Backend::Hdf5(d) => d.open_episode(i, cache),
            Backend::RlBench(d) => d.open_episode(i, cache),
        }
    }
}

/// Everything found under one opened path.
#[derive(Debug)]
pub struct Collection {
    pub root: PathBuf,
    pub datasets: Vec<Dataset>,
    /// Datasets below the root that failed to open; the others are still usable.
    pub problems: Vec<EpisodeError>,
}

impl Collection {
    /// Total number of episodes over all datasets.
    pub fn episode_count(&self) -> usize {
        self.datasets.iter().map(Dataset::len).sum()
    }

    /// The folders (or files) of the open datasets: nothing is ever written below them.
    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.datasets.iter().map(|d| d.root.as_path())
    }

    /// Refuses an output path inside any of the open datasets ([`crate::util::guard`]).
    pub fn ensure_outside(
        &self,
        out: &Path,
    ) -> std::result::Result<(), crate::util::guard::InsideDataset> {
        crate::util::guard::ensure_outside(out, self.roots())
    }
}

/// The format of `path` itself, if it is a dataset (not a folder of datasets).
pub fn detect(path: &Path) -> Option<DatasetFormat> {
    if path.is_file() {
        let name = path.file_name()?.to_string_lossy();
        if name == "episode.json" {
            return Some(DatasetFormat::Native);
        }
        if hdf5::is_hdf5_file(path) {
            return Some(DatasetFormat::Hdf5);
        }
        if name == "info.json"
            && path
                .parent()
                .is_some_and(|m| m.file_name().is_some_and(|n| n == "meta"))
        {
            return Some(DatasetFormat::LeRobot);
        }
        if name.contains(".tfrecord") || name == "features.json" || name == "dataset_info.json" {
            return Some(DatasetFormat::Rlds);
        }
        if name == rlbench::layout::LOW_DIM_PICKLE {
            return Some(DatasetFormat::RlBench);
        }
        return None;
    }
    if lerobot::is_dataset_dir(path) {
        return Some(DatasetFormat::LeRobot);
    }
    if native::is_native(path) {
        return Some(DatasetFormat::Native);
    }
    if rlbench::is_dataset_dir(path) {
        return Some(DatasetFormat::RlBench);
    }
    if rlds::is_dataset_dir(path) {
        return Some(DatasetFormat::Rlds);
    }
    None
}

/// How deep below an opened folder to look for datasets.
const MAX_SCAN_DEPTH: usize = 4;

/// Looks for datasets in `dir` and below, never through a link whose target is outside
/// `root` (the opened folder): such links are reported in `problems`.
fn scan(
    dir: &Path,
    root: &Path,
    depth: usize,
    found: &mut Vec<(PathBuf, DatasetFormat)>,
    problems: &mut Vec<EpisodeError>,
) {
    if let Some(f) = detect(dir) {
        found.push((dir.to_owned(), f));
        return;
    }
    if depth == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut inside = |p: &PathBuf| match super::formats::confine(p, root) {
        Ok(()) => true,
        Err(e) => {
            problems.push(e);
            false
        }
    };
    let mut subdirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && inside(p))
        .collect();
    subdirs.sort();
    // HDF5 files in this folder (LIBERO: one file per task) are datasets of their own.
    let mut h5: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "hdf5" || x == "h5")
                        && inside(p)
                        && hdf5::is_hdf5_file(p)
                })
                .collect()
        })
        .unwrap_or_default();
    h5.sort();
    found.extend(h5.into_iter().map(|p| (p, DatasetFormat::Hdf5)));
    // A folder of native episode folders without an index.json is one dataset.
    let episode_dirs: Vec<&PathBuf> = subdirs
        .iter()
        .filter(|p| p.join("episode.json").is_file())
        .collect();
    if episode_dirs.len() > 1 {
        found.extend(
            episode_dirs
                .into_iter()
                .map(|p| (p.clone(), DatasetFormat::Native)),
        );
        return;
    }
    for sub in subdirs {
        scan(&sub, root, depth - 1, found, problems);
    }
}

/// Opens a file or folder: one dataset, or every dataset found below a folder.
pub fn open_path(path: &Path) -> Result<Collection> {
    if !path.exists() {
        return Err(EpisodeError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let mut found = Vec::new();
    let mut problems = Vec::new();
    if path.is_file() {
        match detect(path) {
            Some(DatasetFormat::Rlds) if !path.to_string_lossy().contains(".tfrecord") => {
                found.push((
                    path.parent().unwrap_or(Path::new(".")).to_owned(),
                    DatasetFormat::Rlds,
                ));
            }
            Some(f) => found.push((path.to_owned(), f)),
            None => {
                return Err(EpisodeError::UnknownFormat {
                    path: path.to_owned(),
                    reason: "expected episode.json, a *.tfrecord* shard, an HDF5 file, meta/info.json, low_dim_obs.pkl or a dataset folder"
                        .to_owned(),
                });
            }
        }
    } else {
        scan(path, path, MAX_SCAN_DEPTH, &mut found, &mut problems);
    }
    if found.is_empty() {
        return Err(EpisodeError::UnknownFormat {
            path: path.to_owned(),
            reason: format!(
                "no native episode (episode.json / index.json), RLDS dataset (features.json + *.tfrecord*), LeRobot dataset (meta/info.json), RLBench task or episode folder (episodeN/low_dim_obs.pkl) or HDF5 file within {MAX_SCAN_DEPTH} levels"
            ),
        });
    }
    let mut datasets = Vec::new();
    for (p, f) in found {
        match Dataset::open(&p, f) {
            Ok(d) => datasets.push(d),
            Err(e) => problems.push(e),
        }
    }
    if datasets.is_empty() && problems.len() == 1 {
        return Err(problems.remove(0));
    }
    Ok(Collection {
        root: path.to_owned(),
        datasets,
        problems,
    })
}
