//! Where evaluation stores are: `spatialscope eval` records each store it writes in
//! `stores.json` in the user's data folder (the same folder as the bookmarks, never a dataset
//! or checkpoint folder), keyed by the dataset's canonical path, so the app can offer the
//! stores of a dataset when it is opened. Entries whose store is gone are dropped when read.
//! A registry that cannot be read or written is never fatal: evaluation goes on, and the app
//! simply offers nothing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One recorded store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredStore {
    /// The store folder, absolute.
    pub store: PathBuf,
    /// The dataset path as evaluated, canonical.
    pub dataset: PathBuf,
    pub checkpoint_path: String,
    pub checkpoint_label: String,
    pub checkpoint_fingerprint: String,
}

/// The registry file in a data folder.
pub fn file_in(dir: &Path) -> PathBuf {
    dir.join("stores.json")
}

fn read(file: &Path) -> Vec<RegisteredStore> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_owned()))
}

/// Records (or refreshes) a store in the registry of `dir`.
pub fn register(
    dir: &Path,
    store: &Path,
    dataset: &Path,
    manifest: &super::Manifest,
) -> anyhow::Result<()> {
    let file = file_in(dir);
    let entry = RegisteredStore {
        store: canonical(store),
        dataset: canonical(dataset),
        checkpoint_path: manifest.checkpoint_path.clone(),
        checkpoint_label: manifest.checkpoint_label.clone(),
        checkpoint_fingerprint: manifest.checkpoint_fingerprint.clone(),
    };
    let mut all: Vec<RegisteredStore> = read(&file)
        .into_iter()
        .filter(|e| e.store != entry.store && e.store.join("store.json").is_file())
        .collect();
    all.push(entry);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = serde_json::to_string_pretty(&all)? + "\n";
    crate::util::fs::write_atomically(&file, |tmp| Ok(std::fs::write(tmp, &text)?))
}

/// The stores recorded for `dataset` (or a dataset inside it, when a folder of datasets
/// is open) that still exist, newest last.
pub fn stores_for(dir: &Path, dataset: &Path) -> Vec<RegisteredStore> {
    let root = canonical(dataset);
    read(&file_in(dir))
        .into_iter()
        .filter(|e| e.dataset.starts_with(&root) && e.store.join("store.json").is_file())
        .collect()
}
