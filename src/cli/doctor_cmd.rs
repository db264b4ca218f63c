//! `spatialscope doctor PATH [--json | --markdown] [--html OUT.html] [--keep OUT.txt]
//! [--fail-on info|warning|error] [--unnorm-key KEY] [--chunk 4]`: health checks over every
//! dataset under PATH ([`crate::pipeline::doctor`]), streamed episode by episode with
//! progress on stderr. Prints a summary (or the JSON / Markdown report) and returns the exit
//! code: 0 when no finding reaches `--fail-on`, 1 when one does. Files are written only
//! outside the datasets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::action_grid::ProcessorConfig;
use crate::episode::{self, FrameCache};
use crate::export::doctor_report;
use crate::pipeline::doctor::{DoctorJob, DoctorOptions, DoctorReport, Severity};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// File or folder with datasets.
    pub path: PathBuf,
    /// Print the JSON report (schema `spatialscope.doctor/1`).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the report as Markdown.
    #[arg(long)]
    pub markdown: bool,
    /// Also write the report as one self-contained HTML page.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// Also write the episodes that pass (one index per line).
    #[arg(long, value_name = "OUT.txt")]
    pub keep: Option<PathBuf>,
    /// Exit with 1 when a finding is at least this severe.
    #[arg(long, default_value = "error", value_parser = ["info", "warning", "error"])]
    pub fail_on: String,
    /// Statistics key for the normalisation checks (default: the dataset's SpatialVLA key).
    #[arg(long)]
    pub unnorm_key: Option<String>,
    /// Checkpoint folder or processor_config.json (default: the bundled released grid).
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// The model's action chunk: shorter episodes are flagged.
    #[arg(long, default_value_t = 4)]
    pub chunk: usize,
    /// Outliers lie more than this many standard deviations from the mean.
    #[arg(long, default_value_t = 10.0)]
    pub sigma: f64,
    /// A step is idle when |dx|..|dyaw| are all below this (raw units).
    #[arg(long, default_value_t = 1e-3)]
    pub noop_threshold: f64,
    /// Skip the camera checks (no frame is decoded).
    #[arg(long)]
    pub no_frames: bool,
}

/// Runs the doctor; returns what to print and the exit code.
pub fn run(a: &DoctorArgs) -> Result<(String, u8)> {
    let grid = a
        .grid
        .clone()
        .unwrap_or_else(crate::util::assets::default_grid_path);
    let cfg = ProcessorConfig::load(&grid)
        .with_context(|| format!("cannot read the grid from {}", grid.display()))?;
    if let Some(k) = &a.unnorm_key {
        cfg.stats(k)?;
    }
    if a.chunk == 0 || !(a.sigma.is_finite() && a.sigma > 0.0) {
        anyhow::bail!("--chunk and --sigma must be positive");
    }
    let fail_on = Severity::parse(&a.fail_on).context("--fail-on is info, warning or error")?;
    let collection =
        episode::open_path(&a.path).with_context(|| format!("cannot open {}", a.path.display()))?;
    for out in [&a.html, &a.keep].into_iter().flatten() {
        collection.ensure_outside(out)?;
    }
    let cache = Arc::new(FrameCache::new(16 << 20));
    let opts = DoctorOptions {
        chunk: a.chunk,
        noop_threshold: a.noop_threshold,
        sigma_k: a.sigma,
        frames: !a.no_frames,
        unnorm_key: a.unnorm_key.clone(),
    };
    let mut datasets = Vec::new();
    for d in &collection.datasets {
        let mut job = DoctorJob::new(d, &cfg, &cache, opts.clone());
        let total = d.len();
        let mut shown = None;
        while !job.is_done() {
            job.step(d, &cache);
            let (done, _) = job.progress();
            let tenth = done * 10 / total.max(1);
            if shown != Some(tenth) {
                eprintln!("doctor: {}: {done}/{total} episodes", d.name);
                shown = Some(tenth);
            }
        }
        datasets.push(job.finish(d, &cfg));
    }
    let problems = collection
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    let report = DoctorReport::new(
        a.path.display().to_string(),
        cfg.path.display().to_string(),
        fail_on,
        problems,
        datasets,
    );
    if let Some(p) = &a.html {
        write_atomic(p, &doctor_report::html(&report))?;
        eprintln!("doctor: wrote {}", p.display());
    }
    if let Some(p) = &a.keep {
        write_atomic(p, &keep_text(&report))?;
        eprintln!("doctor: wrote {}", p.display());
    }
    let text = if a.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else if a.markdown {
        doctor_report::markdown(&report)
    } else {
        summary(&report)
    };
    Ok((text, report.exit_code))
}

/// The keep list: one episode index per line, a `#` header per dataset with LeRobot's form.
fn keep_text(r: &DoctorReport) -> String {
    let mut s = String::new();
    for d in &r.datasets {
        s.push_str(&format!(
            "# {} ({}): {} of {} episodes pass; LeRobot: --episodes \"{}\"\n",
            d.dataset,
            d.root,
            d.keep.len(),
            d.episodes,
            doctor_report::py_list(&d.keep)
        ));
        for k in &d.keep {
            s.push_str(&format!("{k}\n"));
        }
    }
    s
}

/// The text summary: per dataset, counts and each finding on one line.
fn summary(r: &DoctorReport) -> String {
    let mut s = String::new();
    for p in &r.problems {
        s.push_str(&format!("could not open: {p}\n"));
    }
    for d in &r.datasets {
        s.push_str(&format!(
            "{} ({:?}, {} episodes, {} steps): {} errors, {} warnings, {} info; {} episodes pass\n",
            d.dataset,
            d.format,
            d.episodes,
            d.steps,
            d.errors,
            d.warnings,
            d.infos,
            d.keep.len()
        ));
        for f in &d.findings {
            let eps = match f.episodes.len() {
                0 => "dataset".to_owned(),
                1 => format!("episode {}", f.episodes[0]),
                n if n <= 8 => format!(
                    "episodes {}",
                    f.episodes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                n => format!("{n} episodes"),
            };
            let steps = f
                .steps
                .map(|(a, b)| format!(" steps {a}..{b}"))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {:7} {:28} {eps}{steps}: {}\n",
                f.severity.label(),
                f.check,
                f.reason
            ));
        }
    }
    s.push_str(&format!(
        "exit code {} (fails on {})\n",
        r.exit_code,
        r.fail_on.label()
    ));
    s
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
