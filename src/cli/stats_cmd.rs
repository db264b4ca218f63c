//! `spatialscope stats PATH [--grid DIR] [--unnorm-key KEY] [--out DIR] [--noop-threshold X]`:
//! the action distribution of every dataset under PATH against a checkpoint's grid, streamed
//! episode by episode with progress on stderr, written as `stats.json` (or printed).
//!
//! The statistics default to the dataset's SpatialVLA key when the checkpoint has it (Bridge
//! -> `bridge_orig/1.0.0`), else the dataset's own q01/q99. The output folder may not lie
//! inside a dataset folder: spatialscope never writes into a user's data.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;

use crate::action_grid::ProcessorConfig;
use crate::action_grid::distribution::{Distribution, Histogram};
use crate::episode::{self, FrameCache};
use crate::export::charts::BarChart;
use crate::pipeline::distribution::{DistributionJob, StatsSource};

pub struct StatsArgs<'a> {
    pub path: &'a Path,
    pub grid: &'a Path,
    pub unnorm_key: Option<&'a str>,
    pub out: Option<&'a Path>,
    pub noop_threshold: f64,
}

/// A file-name-safe version of a dataset name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

use crate::render::palette::chart::{DATA_MARK, MEAN_MARK, STATS_MARK, STD_MARK};
const EXPECTED: [u8; 3] = DATA_MARK;
const BAR: [u8; 3] = [70, 120, 190];

fn hist_chart(
    title: String,
    x_label: &str,
    h: &Histogram,
    vlines: Vec<(f64, String, [u8; 3])>,
) -> BarChart {
    BarChart {
        title,
        x_label: x_label.to_owned(),
        bars: h
            .counts
            .iter()
            .enumerate()
            .map(|(i, &c)| (h.centre(i), c as f64))
            .collect(),
        bar_width: (h.hi - h.lo) / h.counts.len() as f64,
        bar_colour: BAR,
        vlines,
        hlines: Vec::new(),
    }
}

fn save(chart: &BarChart, path: &Path) -> Result<()> {
    let tmp = path.with_extension("png.partial");
    chart
        .render(1280, 720)
        .save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes the slide plots of one dataset; returns how many.
fn write_plots(dir: &Path, d: &Distribution) -> Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut n = 0;
    for dim in &d.dimensions {
        let marks = vec![
            (dim.q01, "data q01/q99".to_owned(), DATA_MARK),
            (dim.q99, String::new(), DATA_MARK),
            (
                dim.norm_q01,
                format!("{} q01/q99", d.statistics),
                STATS_MARK,
            ),
            (dim.norm_q99, String::new(), STATS_MARK),
            (dim.mean, "mean".to_owned(), MEAN_MARK),
            (dim.mean - dim.std, "mean ± std".to_owned(), STD_MARK),
            (dim.mean + dim.std, String::new(), STD_MARK),
        ];
        let title = format!(
            "{}: raw (mean {:+.4}, std {:.4})",
            dim.name, dim.mean, dim.std
        );
        save(
            &hist_chart(
                title,
                "raw value (dataset units)",
                &dim.raw_histogram,
                marks,
            ),
            &dir.join(format!("{}_raw.png", dim.name)),
        )?;
        let title = format!(
            "{}: normalised, clipped {:.1} %",
            dim.name,
            100.0 * dim.clipped_fraction
        );
        save(
            &hist_chart(
                title,
                "normalised value",
                &dim.normalized_histogram,
                Vec::new(),
            ),
            &dir.join(format!("{}_normalized.png", dim.name)),
        )?;
        n += 2;
    }
    for o in &d.occupancy {
        let chart = BarChart {
            title: format!(
                "{} bins: {} empty, {} overfull, entropy {:.2} of {:.2} bit",
                o.axis, o.empty_bins, o.overfull_bins, o.entropy_bits, o.max_entropy_bits
            ),
            x_label: format!("{} bin", o.axis),
            bars: o
                .counts
                .iter()
                .enumerate()
                .map(|(b, &c)| (b as f64, c as f64))
                .collect(),
            bar_width: 1.0,
            bar_colour: BAR,
            vlines: Vec::new(),
            hlines: vec![(
                o.expected_per_bin,
                "equal-probability expectation".to_owned(),
                EXPECTED,
            )],
        };
        save(&chart, &dir.join(format!("occupancy_{}.png", o.axis)))?;
        n += 1;
    }
    let title = format!(
        "translation direction error, mean {:.2} deg",
        d.direction_error_deg_mean
    );
    save(
        &hist_chart(
            title,
            "angle between action and decoded bin centre (deg)",
            &d.direction_error_deg,
            Vec::new(),
        ),
        &dir.join("roundtrip_direction_deg.png"),
    )?;
    let title = format!(
        "translation magnitude error, mean |e| {:.4}",
        d.magnitude_error_abs_mean
    );
    save(
        &hist_chart(
            title,
            "decoded r - r (normalised units)",
            &d.magnitude_error,
            vec![(0.0, String::new(), DATA_MARK)],
        ),
        &dir.join("roundtrip_magnitude.png"),
    )?;
    Ok(n + 2)
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
        collection.ensure_outside(out)?;
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
        if let Some(out) = a.out {
            let dir = out.join(slug(&d.name));
            let n = write_plots(&dir, &dist)
                .with_context(|| format!("writing plots into {}", dir.display()))?;
            eprintln!("{}: wrote {n} plots into {}", d.name, dir.display());
        }
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
