//! Command line: `spatialscope [PATH]` opens the app (default `sample_episodes/`),
//! `spatialscope inspect PATH [--json]` prints what a dataset holds, `spatialscope grid
//! encode|decode` runs the action tokenizer on stdin.

pub mod align_out;
pub mod depth_cmd;
pub mod depth_expert_cmd;
pub mod doctor_cmd;
pub mod eval_cmd;
#[cfg(feature = "export")]
pub mod export_cmd;
pub mod feature_common;
pub mod features_cmd;
pub mod grid_cmd;
pub mod inspect;
pub mod predict_cmd;
pub mod probe_cmd;
pub mod render_cmd;
pub mod stats_cmd;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "spatialscope",
    version,
    about = "Inspect robot episodes and what SpatialVLA makes of them"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// File or folder to open in the app (default: the bundled sample_episodes/).
    pub path: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Open the desktop app (the default).
    View {
        /// File or folder to open.
        path: Option<PathBuf>,
    },
    /// Print episodes, steps, cameras, depth, intrinsics source and action statistics.
    Inspect {
        /// File or folder to inspect.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Action distributions of every dataset under PATH against the grid (stats.json).
    Stats {
        /// File or folder with datasets.
        path: PathBuf,
        /// Checkpoint folder or processor_config.json (default: the bundled released grid).
        #[arg(long)]
        grid: Option<PathBuf>,
        /// Statistics key (default: the dataset's SpatialVLA key if known, else its own q01/q99).
        #[arg(long)]
        unnorm_key: Option<String>,
        /// Folder to write stats.json into (default: print JSON to stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A step is idle when |dx|..|dyaw| are all below this (raw units).
        #[arg(long, default_value_t = 1e-3)]
        noop_threshold: f64,
    },
    /// Health checks over every episode of the datasets under PATH, with a report and a CI
    /// exit code (0: nothing reaches --fail-on, 1: something does, 2: could not run).
    Doctor(doctor_cmd::DoctorArgs),
    /// Open-loop evaluation of a checkpoint over whole datasets into an evaluation store
    /// (steps.parquet, summary.json), resumable.
    Eval(eval_cmd::EvalArgs),
    /// Compare two evaluation stores of the same dataset: per-step deltas, the steps where B
    /// is much worse than A first (JSON).
    Compare {
        /// Store A (the baseline, e.g. the pretrained checkpoint).
        a: PathBuf,
        /// Store B (e.g. the fine-tuned checkpoint).
        b: PathBuf,
    },
    /// Run SpatialVLA: on every step of the episodes under PATH (--out preds.jsonl), or on
    /// one --image with a --prompt.
    Predict(predict_cmd::PredictArgs),
    /// Episodes (and predictions) as Rerun recordings: --rrd out.rrd or --connect [ADDR].
    #[cfg(feature = "export")]
    Export(export_cmd::ExportArgs),
    /// Render the 3-D view of one step offscreen to a PNG (no window needed).
    Render(render_cmd::RenderArgs),
    /// ZoeDepth's metric depth of one step (16-bit PNG in mm + a coloured preview) and, where
    /// the episode has sensor depth, the comparison (error statistics JSON, difference map);
    /// with `--expert depth-anything-v2|zoedepth`, raw depth against aligned depth experts.
    Depth(depth_cmd::DepthArgs),
    /// Every layer's image-patch features of one step (safetensors) and their first three
    /// principal components as colours over the image.
    Features(features_cmd::FeaturesArgs),
    /// Where 3-D position is linearly readable in the network: a ridge probe from each
    /// layer's image-patch states to the patches' Ego3D positions (held-out R^2, CKA).
    Probe(probe_cmd::ProbeArgs),
    /// SpatialVLA's action tokenizer: encode actions to token ids, decode ids to actions.
    Grid {
        #[command(subcommand)]
        op: GridOp,
    },
}

/// `grid encode` / `grid decode`.
#[derive(Debug, Subcommand)]
pub enum GridOp {
    /// Read actions (one JSON 7-array per line, or one JSON array of them) on stdin; print
    /// their 3 token ids each.
    Encode(GridArgs),
    /// Read token ids (one sequence per line) on stdin; print decoded actions and any
    /// malformed-sequence flags.
    Decode(GridArgs),
}

#[derive(Debug, clap::Args)]
pub struct GridArgs {
    /// Checkpoint folder or its processor_config.json (the grid is read, never refitted).
    #[arg(long)]
    pub grid: PathBuf,
    /// Dataset statistics key for (un)normalisation, e.g. bridge_orig/1.0.0.
    #[arg(long)]
    pub unnorm_key: Option<String>,
    /// Actions are in normalised [-1, 1] units (no unnorm key needed).
    #[arg(long)]
    pub normalized: bool,
    /// One JSON object per input line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `grid encode|decode` on stdin; returns (output, failed line count).
pub fn run_grid(op: &GridOp, input: impl std::io::BufRead) -> anyhow::Result<(String, usize)> {
    let (args, encode) = match op {
        GridOp::Encode(a) => (a, true),
        GridOp::Decode(a) => (a, false),
    };
    let (config, key) = grid_cmd::load(&args.grid, args.unnorm_key.as_deref(), args.normalized)?;
    let stats = match &key {
        Some(k) => Some(config.stats(k)?),
        None => None,
    };
    let o = grid_cmd::GridOptions {
        config: &config,
        stats,
        json: args.json,
    };
    if encode {
        grid_cmd::encode(input, &o)
    } else {
        grid_cmd::decode(input, &o)
    }
}

/// Runs `inspect`; returns the text to print.
pub fn run_inspect(path: &Path, json: bool) -> anyhow::Result<String> {
    use anyhow::Context;
    let report =
        inspect::inspect(path).with_context(|| format!("cannot inspect {}", path.display()))?;
    if json {
        Ok(serde_json::to_string_pretty(&report)?)
    } else {
        Ok(report.to_text())
    }
}

/// Episode `n` of the collection, counting across its datasets in listing order.
/// Opens `path`, refuses `out` inside it, and opens episode `n` (listing index) checking
/// that it has step `step`: what every one-step command starts with.
pub fn open_step(
    path: &Path,
    out: &Path,
    n: usize,
    step: usize,
    cache_bytes: usize,
) -> anyhow::Result<crate::episode::Episode> {
    use anyhow::Context;
    let collection = crate::episode::open_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    collection.ensure_outside(out)?;
    let cache = std::sync::Arc::new(crate::episode::FrameCache::new(cache_bytes));
    let ep = open_nth_episode(&collection, n, &cache)?;
    anyhow::ensure!(
        step < ep.num_steps(),
        "step {step} does not exist ({} has {} steps)",
        ep.name,
        ep.num_steps()
    );
    Ok(ep)
}

pub fn open_nth_episode(
    collection: &crate::episode::Collection,
    n: usize,
    cache: &std::sync::Arc<crate::episode::FrameCache>,
) -> anyhow::Result<crate::episode::Episode> {
    let mut index = 0usize;
    for ds in &collection.datasets {
        if n < index + ds.len() {
            return Ok(ds.open_episode(n - index, cache)?);
        }
        index += ds.len();
    }
    anyhow::bail!(
        "episode {n} does not exist ({} episodes)",
        collection.episode_count()
    )
}
