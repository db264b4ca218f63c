//! Datasets and collections: what opening a path gives you.
//!
//! [`open_path`] detects the format of a file or folder ([`DatasetFormat`] is a closed enum)
//! and, for a folder that is no dataset itself, looks for datasets below it (a few levels
//! deep), so `sample_episodes/` with a native and an RLDS dataset opens as one collection.
//! Nothing here decodes frames: a dataset is its list of episodes, opened one at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::formats::{native, rlds};
use super::{DatasetFormat, Episode, EpisodeError, FrameCache, Result};

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
        }
    }

    /// Number of episodes.
    pub fn len(&self) -> usize {
        match &self.backend {
            Backend::Native(d) => d.episodes.len(),
            Backend::Rlds(d) => d.entries.len(),
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
        }
        .unwrap_or_else(|| EpisodeSummary::named(format!("#{i}")))
    }

    /// The full summary of episode `i` (reads its metadata; decodes no frame).
    pub fn summarize(&self, i: usize) -> Result<EpisodeSummary> {
        match &self.backend {
            Backend::Native(d) => d.summarize(i),
            Backend::Rlds(d) => d.summarize(i),
        }
    }

    /// Opens episode `i`; frames decode later, through `cache`.
    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        match &self.backend {
            Backend::Native(d) => d.open_episode(i, cache),
            Backend::Rlds(d) => d.open_episode(i, cache),
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
}

/// The format of `path` itself, if it is a dataset (not a folder of datasets).
pub fn detect(path: &Path) -> Option<DatasetFormat> {
    if path.is_file() {
        let name = path.file_name()?.to_string_lossy();
        if name == "episode.json" {
            return Some(DatasetFormat::Native);
        }
        if name.contains(".tfrecord") || name == "features.json" || name == "dataset_info.json" {
            return Some(DatasetFormat::Rlds);
        }
        return None;
    }
    if native::is_native(path) {
        return Some(DatasetFormat::Native);
    }
    if rlds::is_dataset_dir(path) {
        return Some(DatasetFormat::Rlds);
    }
    None
}

/// How deep below an opened folder to look for datasets.
const MAX_SCAN_DEPTH: usize = 4;

fn scan(dir: &Path, depth: usize, found: &mut Vec<(PathBuf, DatasetFormat)>) {
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
    let mut subdirs: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
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
        scan(&sub, depth - 1, found);
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
                    reason: "expected episode.json, a *.tfrecord* shard or a dataset folder"
                        .to_owned(),
                });
            }
        }
    } else {
        scan(path, MAX_SCAN_DEPTH, &mut found);
    }
    if found.is_empty() {
        return Err(EpisodeError::UnknownFormat {
            path: path.to_owned(),
            reason: format!(
                "no native episode (episode.json / index.json) or RLDS dataset (features.json + *.tfrecord*) within {MAX_SCAN_DEPTH} levels"
            ),
        });
    }
    let mut datasets = Vec::new();
    let mut problems = Vec::new();
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
