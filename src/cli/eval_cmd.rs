//! `spatialscope eval --model DIR PATH [--episodes LIST] [--every K] [--unnorm-key KEY]
//! [--depth-source estimated|sensor] [--device cpu|cuda] [--batch N] --out DIR`: open-loop
//! evaluation of every K-th step into an evaluation store ([`crate::pipeline::eval`]).
//!
//! Steps go through the network `--batch` at a time, a batch never spanning two episodes (the
//! steps of one episode share the instruction, so their prompts align without padding).
//!
//! Resumable: a second run into the same store with the same checkpoint and settings skips
//! the steps already stored and says how many. Ctrl-C stops after the current batch; what is
//! stored stays (the summary says `complete: false`). Progress with an ETA goes to stderr.
//! The store may not lie inside the dataset or the checkpoint folder.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::episode::FrameCache;
use crate::model::processor::IntrinsicsPrecision;
use crate::model::{DepthChoice, GenerateOptions, Predictor};
use crate::pipeline::eval::store::{STORE_SCHEMA, checkpoint_fingerprint};
use crate::pipeline::eval::summary::summarize;
use crate::pipeline::eval::{EvalRow, EvalSettings, Manifest, StoreWriter, parse_episode_list};
use crate::pipeline::{
    IntrinsicsChoice, RunSettings, choose_unnorm_key, predict_step, predict_steps,
};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Dataset file or folder.
    pub path: PathBuf,
    /// Checkpoint folder (default: the bundled tiny random-weight checkpoint).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The store folder (created; a store made with the same checkpoint and settings is
    /// resumed).
    #[arg(long)]
    pub out: PathBuf,
    /// Episodes to evaluate, as indices in the listing: `0,2,5-7` (default: all).
    #[arg(long, conflicts_with = "all")]
    pub episodes: Option<String>,
    /// Every episode (the default).
    #[arg(long)]
    pub all: bool,
    /// Evaluate every K-th step of each episode, from step 0.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// Statistics key (default: each episode's dataset key).
    #[arg(long)]
    pub unnorm_key: Option<String>,
    /// `estimated` (ZoeDepth, the reference) or `sensor`.
    #[arg(long, default_value = "estimated")]
    pub depth_source: String,
    /// `processor`, `camera` or `entry:NAME` (see `predict --intrinsics`).
    #[arg(long, default_value = "processor")]
    pub intrinsics: String,
    /// Round K to bfloat16 as the reference predict_action path does.
    #[arg(long)]
    pub bf16_intrinsics: bool,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Steps per batch through the network (steps of one episode share the instruction, so
    /// their prompts align); 1 runs each step alone, as the app does.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

/// Set by Ctrl-C: stop after the current step.
static STOP: AtomicBool = AtomicBool::new(false);

fn install_ctrl_c() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user means it.
                std::process::exit(130);
            }
            eprintln!("eval: stopping after this batch (Ctrl-C again to quit at once)");
        });
    });
}

pub fn run(a: &EvalArgs) -> anyhow::Result<String> {
    if a.every == 0 {
        bail!("--every must be at least 1");
    }
    if a.batch == 0 || a.batch > 1024 {
        bail!("--batch must be between 1 and 1024");
    }
    let depth_choice = match a.depth_source.as_str() {
        "estimated" => DepthChoice::Estimated,
        "sensor" => DepthChoice::Sensor,
        other => bail!("--depth-source {other:?}: `estimated` or `sensor`"),
    };
    let intrinsics_choice = match a.intrinsics.as_str() {
        "processor" => IntrinsicsChoice::Processor,
        "camera" => IntrinsicsChoice::EpisodeCamera,
        s => match s.strip_prefix("entry:") {
            Some(n) if !n.is_empty() => IntrinsicsChoice::Entry(n.to_owned()),
            _ => bail!("--intrinsics {s}: expected processor, camera or entry:NAME"),
        },
    };
    let wanted = a
        .episodes
        .as_deref()
        .map(parse_episode_list)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let model_dir = a
        .model
        .clone()
        .unwrap_or_else(crate::util::assets::default_model_path);
    let collection = crate::episode::open_path(&a.path)
        .with_context(|| format!("cannot open {}", a.path.display()))?;
    collection.ensure_outside(&a.out)?;
    super::feature_common::ensure_outside_checkpoint(&a.out, &model_dir)?;
    let device = super::predict_cmd::device_from_name(&a.device)?;
    let dtype = super::predict_cmd::dtype_from_name(&a.dtype)?;
    let predictor = Predictor::load(&model_dir, &device, dtype)
        .with_context(|| format!("cannot load the checkpoint {}", model_dir.display()))?;
    let manifest = Manifest {
        schema: STORE_SCHEMA.to_owned(),
        checkpoint_path: model_dir.display().to_string(),
        checkpoint_label: predictor.label.clone(),
        checkpoint_fingerprint: checkpoint_fingerprint(&model_dir)?,
        dataset_path: a.path.display().to_string(),
        settings: EvalSettings {
            every: a.every,
            unnorm_key: a.unnorm_key.clone(),
            depth_source: a.depth_source.clone(),
            intrinsics: a.intrinsics.clone(),
            bf16_intrinsics: a.bf16_intrinsics,
            dtype: a.dtype.clone(),
        },
    };
    let (mut writer, stored) = StoreWriter::open(&a.out, &manifest)?;
    let done: HashSet<(String, u32, u32)> = stored.iter().map(EvalRow::key).collect();

    // The steps to evaluate: (dataset, episode index in dataset, listing index).
    let mut plan = Vec::new();
    let mut listing = 0usize;
    for (di, d) in collection.datasets.iter().enumerate() {
        for e in 0..d.len() {
            if wanted
                .as_ref()
                .is_none_or(|w| w.binary_search(&listing).is_ok())
            {
                plan.push((di, e));
            }
            listing += 1;
        }
    }
    if let Some(w) = &wanted
        && let Some(&last) = w.last()
        && last >= listing
    {
        bail!(
            "--episodes names episode {last}, but {} lists {listing}",
            a.path.display()
        );
    }
    install_ctrl_c();
    STOP.store(false, Ordering::SeqCst);
    let cache = Arc::new(FrameCache::new(256 << 20));
    let settings_for = |ep: &crate::episode::Episode| -> anyhow::Result<RunSettings> {
        Ok(RunSettings {
            unnorm_key: choose_unnorm_key(&predictor, ep, a.unnorm_key.as_deref())?,
            intrinsics: if a.bf16_intrinsics {
                IntrinsicsPrecision::Bfloat16
            } else {
                IntrinsicsPrecision::Float32
            },
            intrinsics_choice: intrinsics_choice.clone(),
            depth_choice,
            compare_depth: false,
            options: GenerateOptions {
                max_new_tokens: 3 * predictor.processor.chunk_size + 1,
                top_k: 5,
                attention: false,
            },
        })
    };
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let (mut skipped, mut evaluated, mut failed) = (0usize, 0usize, 0usize);
    let mut stopped = false;
    let total_episodes = plan.len();
    'episodes: for (k, &(di, e)) in plan.iter().enumerate() {
        let d = &collection.datasets[di];
        let ep = match d.open_episode(e, &cache) {
            Ok(ep) => ep,
            Err(err) => {
                eprintln!("eval: skipped {}: {err}", d.quick_summary(e).name);
                failed += 1;
                continue;
            }
        };
        let settings = settings_for(&ep)?;
        let todo: Vec<usize> = (0..ep.num_steps())
            .step_by(a.every)
            .filter(|&step| !done.contains(&(d.name.clone(), e as u32, step as u32)))
            .collect();
        skipped += ep.num_steps().div_ceil(a.every) - todo.len();
        for steps in todo.chunks(a.batch) {
            if STOP.load(Ordering::SeqCst) {
                stopped = true;
                break 'episodes;
            }
            let t = Instant::now();
            let results = if a.batch == 1 {
                vec![predict_step(&predictor, &ep, steps[0], &settings, &cancel)]
            } else {
                predict_steps(&predictor, &ep, steps, &settings, &cancel)
            };
            // Each row's time is its share of the batch.
            let ms = t.elapsed().as_secs_f64() * 1e3 / steps.len() as f64;
            for (&step, r) in steps.iter().zip(results) {
                match r {
                    Ok(sp) => {
                        writer.push(EvalRow::from_prediction(&d.name, e, &sp, ms))?;
                        evaluated += 1;
                    }
                    Err(err) => {
                        eprintln!("eval: {} step {step}: {err:#}", ep.name);
                        failed += 1;
                    }
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let per_episode = elapsed / (k + 1) as f64;
        eprintln!(
            "eval: {}/{total_episodes} episodes, {evaluated} steps evaluated, {skipped} already stored; ETA {:.0} s",
            k + 1,
            per_episode * (total_episodes - k - 1) as f64
        );
    }
    let rows = writer.finish()?;
    let data_dir = crate::util::bookmarks::data_dir();
    if let Err(e) = crate::pipeline::eval::registry::register(&data_dir, &a.out, &a.path, &manifest)
    {
        eprintln!("eval: the app will not offer this store by itself: {e:#}");
    }
    let summary = summarize(&manifest, &rows, !stopped);
    let text = serde_json::to_string_pretty(&summary)? + "\n";
    let path = a.out.join("summary.json");
    let tmp = a.out.join("summary.json.partial");
    std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    let secs = started.elapsed().as_secs_f64();
    Ok(format!(
        "eval: {evaluated} steps evaluated ({:.2} steps/s), {skipped} skipped as already stored, {failed} failed{}; {} rows in {}\n",
        if secs > 0.0 {
            evaluated as f64 / secs
        } else {
            0.0
        },
        if stopped { ", stopped by Ctrl-C" } else { "" },
        rows.len(),
        a.out.display()
    ))
}
