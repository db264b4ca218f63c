//! Reading a checkpoint's `processor_config.json` (spec 7.3): the released grid edges
//! (`bin_policy`, read as stored, never refitted), the bin counts they must agree with
//! (`action_config.num_bins`), the chunk size and every unnorm key's action statistics; and
//! `action_token_begin_idx` from the neighbouring `config.json` when present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::grid::{ActionGrid, Axis, BinCounts};
use super::normalize::ActionStatistics;
use super::tokens::{RELEASED_ACTION_TOKEN_BEGIN_ID, TokenLayout};
use super::{GridError, Result};

/// What the action layer needs from a checkpoint.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// The `processor_config.json` read.
    pub path: PathBuf,
    pub grid: ActionGrid,
    pub layout: TokenLayout,
    pub chunk_size: usize,
    /// `min_sigma` as stored (0.0 in the release although 0.5 was used; informational).
    pub min_sigma_recorded: f64,
    pub statistics: BTreeMap<String, ActionStatistics>,
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| GridError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let text = crate::util::json::non_finite_tokens_to_null(&text);
    serde_json::from_str(&text).map_err(|e| GridError::Config {
        path: path.to_owned(),
        what: format!("not valid JSON: {e}"),
    })
}

impl ProcessorConfig {
    /// Loads from a checkpoint folder or a `processor_config.json` file.
    pub fn load(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join("processor_config.json")
        } else {
            path.to_owned()
        };
        let v = read_json(&file)?;
        if v.get("bin_policy").is_none() && v.get("theta").and_then(|t| t.get("mu")).is_some() {
            return Self::from_gaussian_json(&file, &v);
        }
        let err = |what: String| GridError::Config {
            path: file.clone(),
            what,
        };
        let get = |v: &Value, key: &str| -> Result<Value> {
            v.get(key)
                .cloned()
                .ok_or_else(|| err(format!("missing `{key}`")))
        };

        // Grid edges.
        let policy = get(&v, "bin_policy")?;
        let mut edges: [Vec<f64>; 6] = Default::default();
        for (i, axis) in Axis::ALL.into_iter().enumerate() {
            let group = if i < 3 { "translation" } else { "rotation" };
            let key = format!("{}_bins", axis.name());
            let list = policy
                .get(group)
                .and_then(|g| g.get(&key))
                .ok_or_else(|| err(format!("missing `bin_policy.{group}.{key}`")))?;
            edges[i] = serde_json::from_value(list.clone())
                .map_err(|e| err(format!("`bin_policy.{group}.{key}`: {e}")))?;
        }
        let grid = ActionGrid::from_edges(edges).map_err(|e| err(e.to_string()))?;

        // Bin counts must agree with the edges.
        let got = grid.bin_counts();
        if let Some(nb) = v.get("action_config").and_then(|a| a.get("num_bins")) {
            for (i, axis) in Axis::ALL.into_iter().enumerate() {
                let group = if i < 3 { "translation" } else { "rotation" };
                let key = format!("{}_bins", axis.name());
                if let Some(n) = nb
                    .get(group)
                    .and_then(|g| g.get(&key))
                    .and_then(Value::as_u64)
                    && n as usize != got.of(axis)
                {
                    return Err(err(format!(
                        "`action_config.num_bins.{group}.{key}` is {n} but `bin_policy` has {} edges ({} bins)",
                        got.of(axis) + 1,
                        got.of(axis)
                    )));
                }
            }
            if let Some(total) = nb.get("total").and_then(Value::as_u64)
                && total as usize != got.total_tokens()
            {
                return Err(err(format!(
                    "`action_config.num_bins.total` is {total} but the bins give {} tokens",
                    got.total_tokens()
                )));
            }
        }

        // Statistics.
        let mut statistics = BTreeMap::new();
        if let Some(stats) = v.get("statistics").and_then(Value::as_object) {
            for (key, s) in stats {
                let action = s
                    .get("action")
                    .ok_or_else(|| err(format!("`statistics.{key}` has no `action`")))?;
                let parsed: ActionStatistics = serde_json::from_value(action.clone())
                    .map_err(|e| err(format!("`statistics.{key}.action`: {e}")))?;
                statistics.insert(key.clone(), parsed);
            }
        }

        let chunk_size = v
            .get("action_chunk_size")
            .and_then(Value::as_u64)
            .unwrap_or(4) as usize;
        let min_sigma_recorded = v.get("min_sigma").and_then(Value::as_f64).unwrap_or(0.0);
        let begin_id = file
            .parent()
            .map(|d| d.join("config.json"))
            .filter(|p| p.is_file())
            .and_then(|p| read_json(&p).ok())
            .and_then(|c| c.get("action_token_begin_idx").and_then(Value::as_i64))
            .unwrap_or(RELEASED_ACTION_TOKEN_BEGIN_ID);
        Ok(Self {
            path: file,
            layout: TokenLayout {
                begin_id,
                bins: got,
            },
            grid,
            chunk_size,
            min_sigma_recorded,
            statistics,
        })
    }

    /// A grid from a Gaussian statistics file (`gs_bridge.json` style: `theta`, `phi`, `r`,
    /// `roll`, `pitch`, `yaw` -> `{mu, sigma}`), with the released bin counts and the
    /// pre-training sigma floor 0.5 (the only value known to have been used; the file does
    /// not say). Such a file carries no dataset statistics.
    fn from_gaussian_json(file: &Path, v: &Value) -> Result<Self> {
        let mut gaussians = Vec::new();
        for axis in Axis::ALL {
            let g = v.get(axis.name()).ok_or_else(|| GridError::Config {
                path: file.to_owned(),
                what: format!("Gaussian file has no `{}`", axis.name()),
            })?;
            let parsed: super::Gaussian =
                serde_json::from_value(g.clone()).map_err(|e| GridError::Config {
                    path: file.to_owned(),
                    what: format!("`{}`: {e}", axis.name()),
                })?;
            gaussians.push((axis, parsed));
        }
        let grid = ActionGrid::from_gaussians(
            BinCounts::RELEASED,
            |a| gaussians.iter().find(|(x, _)| *x == a).map(|(_, g)| *g),
            super::distribution::PRETRAINING_MIN_SIGMA,
        )?;
        Ok(Self {
            path: file.to_owned(),
            grid,
            layout: TokenLayout::RELEASED,
            chunk_size: 4,
            min_sigma_recorded: super::distribution::PRETRAINING_MIN_SIGMA,
            statistics: BTreeMap::new(),
        })
    }

    /// The statistics of `key`, or an error listing the known keys.
    pub fn stats(&self, key: &str) -> Result<&ActionStatistics> {
        self.statistics
            .get(key)
            .ok_or_else(|| GridError::UnknownKey {
                key: key.to_owned(),
                known: self.statistics.keys().cloned().collect(),
            })
    }

    /// Whether the grid has the released bin counts.
    pub fn is_released_layout(&self) -> bool {
        self.layout.bins == BinCounts::RELEASED
    }
}
