//! An evaluation store read whole for the app: its rows indexed by episode and step, so the
//! plots, the 3-D view and the model panel find the stored prediction of the open step
//! without scanning (built on the worker, shared as an `Arc`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::row::{CHUNK, DIMS, EvalRow};
use super::store::{Manifest, read_store};

/// A store, read and indexed.
#[derive(Debug)]
pub struct LoadedStore {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub rows: Vec<EvalRow>,
    /// dataset -> episode index -> row indices sorted by step (looked up by `&str`, so the
    /// per-frame lookups of the app allocate nothing).
    by_episode: HashMap<String, HashMap<u32, Vec<usize>>>,
}

impl LoadedStore {
    /// Reads the store at `path` (kept canonical, so it compares with the registry's).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let (manifest, rows) = read_store(path)?;
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Self::new(path, manifest, rows))
    }

    pub fn new(path: PathBuf, manifest: Manifest, rows: Vec<EvalRow>) -> Self {
        let mut by_episode: HashMap<String, HashMap<u32, Vec<usize>>> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            by_episode
                .entry(r.dataset.clone())
                .or_default()
                .entry(r.episode_index)
                .or_default()
                .push(i);
        }
        for v in by_episode.values_mut().flat_map(HashMap::values_mut) {
            v.sort_by_key(|&i| rows[i].step);
        }
        LoadedStore {
            path,
            manifest,
            rows,
            by_episode,
        }
    }

    /// A short name: the store folder's name and the checkpoint's label.
    pub fn label(&self) -> String {
        let folder = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string());
        let ckpt = self
            .manifest
            .checkpoint_label
            .split(" (")
            .next()
            .unwrap_or_default();
        format!("{folder} ({ckpt})")
    }

    fn episode_index(&self, dataset: &str, episode: usize) -> Option<&Vec<usize>> {
        self.by_episode
            .get(dataset)?
            .get(&u32::try_from(episode).ok()?)
    }

    /// The rows of one episode, by step.
    pub fn episode_rows(&self, dataset: &str, episode: usize) -> impl Iterator<Item = &EvalRow> {
        self.episode_index(dataset, episode)
            .into_iter()
            .flatten()
            .map(|&i| &self.rows[i])
    }

    /// The row of one step, if it was evaluated.
    pub fn row_at(&self, dataset: &str, episode: usize, step: usize) -> Option<&EvalRow> {
        let idx = self.episode_index(dataset, episode)?;
        let pos = idx
            .binary_search_by_key(&(step as u64), |&i| u64::from(self.rows[i].step))
            .ok()?;
        Some(&self.rows[idx[pos]])
    }
}

impl EvalRow {
    /// The stored predicted chunk as actions (the rows before the first non-finite value;
    /// empty when the chunk could not be decoded).
    pub fn predicted_actions(&self) -> Vec<[f64; 7]> {
        (0..CHUNK)
            .map_while(|k| {
                let row = self.predicted.get(k * DIMS..(k + 1) * DIMS)?;
                row.iter().all(|v| v.is_finite()).then(|| {
                    let mut a = [0.0; 7];
                    for (d, v) in a.iter_mut().zip(row) {
                        *d = f64::from(*v);
                    }
                    a
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(episode: u32, step: u32, predicted: Vec<f32>) -> EvalRow {
        EvalRow {
            dataset: "d".into(),
            episode_index: episode,
            episode: format!("e{episode}"),
            step,
            instruction: String::new(),
            token_ids: Vec::new(),
            token_probabilities: Vec::new(),
            token_entropy_nats: Vec::new(),
            predicted,
            ground_truth: vec![f32::NAN; CHUNK * DIMS],
            ground_truth_len: 0,
            first_translation_l2: 0.0,
            chunk_translation_l2: 0.0,
            first_direction_deg: 0.0,
            first_rotation_l2: 0.0,
            gripper_agreement: 0.0,
            first_abs_error: vec![0.0; DIMS],
            malformed: false,
            low_confidence: false,
            unnorm_key: String::new(),
            depth_source: String::new(),
            intrinsics: String::new(),
            time_ms: 0.0,
        }
    }

    #[test]
    fn rows_are_found_by_episode_and_step() {
        let mut two = vec![0.5; 2 * DIMS];
        two.extend(vec![f32::NAN; 2 * DIMS]);
        let s = LoadedStore::new(
            "x/store_a".into(),
            Manifest {
                schema: String::new(),
                checkpoint_path: String::new(),
                checkpoint_label: "tiny (random weights)".into(),
                checkpoint_fingerprint: String::new(),
                dataset_path: String::new(),
                settings: super::super::EvalSettings {
                    every: 1,
                    unnorm_key: None,
                    depth_source: String::new(),
                    intrinsics: String::new(),
                    bf16_intrinsics: false,
                    dtype: String::new(),
                },
            },
            vec![
                row(1, 8, two),
                row(1, 0, vec![f32::NAN; CHUNK * DIMS]),
                row(0, 4, vec![1.0; CHUNK * DIMS]),
            ],
        );
        assert_eq!(s.label(), "store_a (tiny)");
        let steps: Vec<u32> = s.episode_rows("d", 1).map(|r| r.step).collect();
        assert_eq!(steps, [0, 8]);
        assert_eq!(s.row_at("d", 1, 8).unwrap().predicted_actions().len(), 2);
        assert!(s.row_at("d", 1, 0).unwrap().predicted_actions().is_empty());
        assert_eq!(s.row_at("d", 0, 4).unwrap().predicted_actions().len(), 4);
        assert!(s.row_at("d", 1, 4).is_none() && s.row_at("e", 0, 4).is_none());
    }
}
