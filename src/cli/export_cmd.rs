//! `spatialscope export`: episodes as Rerun recordings, to `.rrd` files or a running viewer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::episode::FrameCache;
use crate::export::rerun_export::{ExportOptions, Predictions, export_to_file, export_to_viewer};
use crate::model::processor::IntrinsicsPrecision;
use crate::model::{GenerateOptions, Predictor};
use crate::pipeline::{IntrinsicsChoice, RunSettings, choose_unnorm_key, predict_step};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Dataset file or folder.
    pub path: PathBuf,
    /// Write an .rrd file (with --all: a folder receiving one <episode>.rrd each).
    #[arg(long)]
    pub rrd: Option<PathBuf>,
    /// Stream to a running Rerun viewer instead (default rerun+http://127.0.0.1:9876/proxy).
    #[arg(long, num_args = 0..=1, default_missing_value = "rerun+http://127.0.0.1:9876/proxy")]
    pub connect: Option<String>,
    /// Episode index in the listing (across datasets).
    #[arg(long, default_value_t = 0)]
    pub episode: usize,
    /// Every episode (one recording each).
    #[arg(long)]
    pub all: bool,
    /// Run this checkpoint on every step and log its predictions.
    #[arg(long, conflicts_with = "store")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub run_on: super::predict_cmd::RunOn,
    /// Log the predictions of an evaluation store (`spatialscope eval --out`) instead of
    /// running a model: the stored chunks and token ids of the steps it evaluated.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Statistics key for the predictions (default: the episode's dataset key).
    #[arg(long)]
    pub unnorm_key: Option<String>,
    /// Leave out the model's Ego3D samples.
    #[arg(long)]
    pub no_ego3d: bool,
    /// Log decoded pixels instead of the dataset's encoded images (the naive baseline).
    #[arg(long, conflicts_with = "jpeg")]
    pub raw_images: bool,
    /// Store frames that are not already JPEG (PNG files, raw HDF5 pixels) as JPEG of this
    /// quality (default 90) instead of lossless PNG: smaller recordings, lossy colours.
    #[arg(long, num_args = 0..=1, default_missing_value = "90",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg: Option<u8>,
    /// With --model: at most this many generated tokens per step.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
}

pub fn run(a: &ExportArgs) -> anyhow::Result<String> {
    if a.rrd.is_some() == a.connect.is_some() {
        bail!("give exactly one of --rrd FILE and --connect [ADDR]");
    }
    let collection = crate::episode::open_path(&a.path)
        .with_context(|| format!("cannot open {}", a.path.display()))?;
    if let Some(out) = &a.rrd {
        collection.ensure_outside(out)?;
    }
    let predictor = match &a.model {
        Some(dir) => Some({
            let (device, dtype) = a.run_on.open()?;
            Predictor::load(dir, &device, dtype)
                .with_context(|| format!("cannot load the checkpoint {}", dir.display()))?
        }),
        None => None,
    };
    let store = match &a.store {
        Some(dir) => Some(
            crate::pipeline::eval::LoadedStore::read(dir)
                .with_context(|| format!("cannot read the evaluation store {}", dir.display()))?,
        ),
        None => None,
    };
    let cache = Arc::new(FrameCache::new(128 << 20));
    let cancel = AtomicBool::new(false);
    let mut lines = Vec::new();
    let mut index = 0usize;
    for ds in &collection.datasets {
        for i in 0..ds.len() {
            let this = index;
            index += 1;
            if !a.all && this != a.episode {
                continue;
            }
            let ep = ds.open_episode(i, &cache)?;
            // The model runs here, step by step as the export asks (the export only logs).
            let settings = match &predictor {
                Some(p) => Some(RunSettings {
                    unnorm_key: choose_unnorm_key(p, &ep, a.unnorm_key.as_deref())?,
                    intrinsics: IntrinsicsPrecision::Float32,
                    intrinsics_choice: IntrinsicsChoice::Processor,
                    depth_choice: crate::model::DepthChoice::Estimated,
                    compare_depth: false,
                    options: GenerateOptions {
                        max_new_tokens: a.max_new_tokens,
                        top_k: 5,
                        attention: true,
                    },
                }),
                None => None,
            };
            let run = |step: usize| -> anyhow::Result<crate::pipeline::StepPrediction> {
                match (&predictor, &settings) {
                    (Some(p), Some(s)) => predict_step(p, &ep, step, s, &cancel),
                    _ => bail!("no checkpoint"),
                }
            };
            let predictions = match (&predictor, &store) {
                (Some(_), _) => Predictions::PerStep(&run),
                (None, Some(s)) => Predictions::Stored(s, &ds.name, i),
                (None, None) => Predictions::None,
            };
            let opts = ExportOptions {
                raw_images: a.raw_images,
                ego3d: !a.no_ego3d,
                predictions,
                steps: None,
                jpeg_quality: a.jpeg,
            };
            let t0 = Instant::now();
            let mut progress = |done: usize, total: usize| {
                if done == total || done.is_multiple_of(20) {
                    eprintln!("{}: {done}/{total} steps", ep.name);
                }
            };
            let (report, target, bytes) = match (&a.rrd, &a.connect) {
                (Some(out), _) => {
                    let file = if a.all {
                        out.join(format!(
                            "{}.rrd",
                            crate::export::rerun_paths::segment(&ep.name)
                        ))
                    } else {
                        out.clone()
                    };
                    let r = export_to_file(&file, &ep, &opts, &mut progress, &cancel)?;
                    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    (r, file.display().to_string(), Some(bytes))
                }
                (None, Some(url)) => {
                    let r = export_to_viewer(
                        url,
                        &ep,
                        &opts,
                        &mut progress,
                        &cancel,
                        Duration::from_secs(10),
                    )?;
                    (r, url.clone(), None)
                }
                _ => unreachable!("checked above"),
            };
            lines.push(serde_json::json!({
                "episode": ep.name,
                "target": target,
                "bytes": bytes,
                "seconds": t0.elapsed().as_secs_f64(),
                "report": report,
            }));
        }
    }
    if lines.is_empty() {
        bail!(
            "episode {} does not exist ({} episodes)",
            a.episode,
            collection.episode_count()
        );
    }
    Ok(lines
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n")
}
