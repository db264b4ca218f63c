//! `spatialscope stats PATH [--grid DIR] [--unnorm-key KEY] [--out DIR] [--noop-threshold X]`:
//! the action distribution of every dataset under PATH against a checkpoint's grid, streamed
//! episode by episode with progress on stderr, written as `stats.json` (or printed).
//!
//! The statistics default to the dataset's SpatialVLA key when the checkpoint has it (Bridge
//! -> `bridge_orig/1.0.0`), else the dataset's own q01/q99. The output folder may not lie
//! inside a dataset folder: spatialscope never writes into a user's data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::action_grid::ProcessorConfig;
use crate::analysis::{DistributionJob, StatsSource};
use crate::episode::{self, FrameCache};

pub struct StatsArgs<'a> {
    pub path: &'a Path,
    pub grid: &'a Path,
    pub unnorm_key: Option<&'a str>,
    pub out: Option<&'a Path>,
    pub noop_threshold: f64,
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

/// Runs the command; returns what to print on stdout.
pub fn run(a: &StatsArgs<'_>) -> Result<String> {
    let cfg = ProcessorConfig::load(a.grid)
        .with_context(|| format!("cannot read the grid from {}", a.grid.display()))?;
    if let Some(k) = a.unnorm_key {
        cfg.stats(k)?;
    }
    let collection =
        episode::open_path(a.path).with_context(|| format!("cannot open {}", a.path.display()))?;
    if let Some(out) = a.out {
        // Resolve the nearest existing ancestor so a folder to be created is checked too.
        let out_abs = canonical(
            out.ancestors()
                .find(|p| p.exists())
                .unwrap_or(Path::new(".")),
        );
        for d in &collection.datasets {
            let root = canonical(&d.root);
            if out_abs.starts_with(&root) {
                bail!(
                    "--out {} is inside the dataset folder {}; spatialscope never writes into datasets",
                    out.display(),
                    root.display()
                );
            }
        }
    }
    let cache = Arc::new(FrameCache::new(16 << 20));
    let mut reports = Vec::new();
    for p in &collection.problems {
        eprintln!("warning: {p}");
    }
    for d in &collection.datasets {
        let key_guess = d
            .open_episode(0, &cache)
            .ok()
            .and_then(|ep| ep.dataset_key.clone())
            .filter(|k| cfg.statistics.contains_key(k));
        let source = match (a.unnorm_key, key_guess) {
            (Some(k), _) => StatsSource::Key(k.to_owned()),
            (None, Some(k)) => StatsSource::Key(k),
            (None, None) => StatsSource::Dataset,
        };
        let mut job = DistributionJob::new(d, source.clone(), a.noop_threshold);
        let total = d.len();
        let mut last_pct = None;
        while !job.is_done() {
            job.step(d, &cache);
            let (done, _) = job.progress();
            let pct = done * 100 / total.max(1);
            if last_pct != Some(pct / 10) {
                eprintln!("{}: {done}/{total} episodes", d.name);
                last_pct = Some(pct / 10);
            }
        }
        let skipped: Vec<String> = job.skipped.iter().map(ToString::to_string).collect();
        for s in &skipped {
            eprintln!("warning: skipped: {s}");
        }
        let dist = job
            .finish(&cfg)
            .with_context(|| format!("dataset {}", d.name))?;
        reports.push(json!({
            "dataset": d.name,
            "format": d.format,
            "root": d.root.display().to_string(),
            "grid": cfg.path.display().to_string(),
            "statistics": source.label(),
            "skipped_episodes": skipped,
            "distribution": dist,
        }));
    }
    let doc = json!({ "path": a.path.display().to_string(), "datasets": reports });
    let text = serde_json::to_string_pretty(&doc)?;
    match a.out {
        Some(out) => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let file = out.join("stats.json");
            // Write to a temporary name, then rename: no half-written stats.json is left.
            let tmp = out.join(".stats.json.partial");
            std::fs::write(&tmp, &text)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            Ok(format!("wrote {}\n", file.display()))
        }
        None => Ok(text),
    }
}
