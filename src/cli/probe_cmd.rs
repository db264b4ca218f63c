//! `spatialscope probe PATH [--model DIR] [--episodes LIST] [--every K] [--max-frames N]
//! [--depth-source estimated|sensor] [--features3d DIR] --out DIR`: the per-layer spatial
//! probe (`pipeline::probe`): held-out R^2 of a ridge read-out of each patch's 3-D position
//! from each layer (SigLIP's output, the decoder input, every Gemma2 layer), and linear CKA
//! between each layer and the positions; with `--features3d` (one episode's per-step dumps,
//! `step_<S>.safetensors`) also linear CKA between each layer and the 3-D foundation
//! model's tokens pooled to the same patches. Writes `probe.json` and `probe_r2.png` (one
//! bar per layer) into `--out` (never inside a dataset or the checkpoint).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};

use crate::episode::FrameCache;
use crate::export::charts::BarChart;
use crate::model::Predictor;
use crate::pipeline::eval::parse_episode_list;
use crate::pipeline::probe::{frames, probe};

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Dataset file or folder.
    pub path: PathBuf,
    /// Checkpoint folder (default: the bundled tiny checkpoint).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub run_on: super::predict_cmd::RunOn,
    /// Episodes by listing index (`0,2,5-7`); default: all.
    #[arg(long)]
    pub episodes: Option<String>,
    /// Every K-th step of each episode.
    #[arg(long, default_value_t = 1)]
    pub every: usize,
    /// At most this many frames in all (spread evenly; the last fifth are held out).
    #[arg(long, default_value_t = 40)]
    pub max_frames: usize,
    /// Which depth Ego3D lifts: estimated (ZoeDepth, the reference) or sensor.
    #[arg(long, default_value = "estimated")]
    pub depth_source: String,
    /// A folder of per-step 3-D feature dumps of the (one) probed episode
    /// (`scripts/vggt_dump.py --frames`): adds each layer's CKA with them.
    #[arg(long)]
    pub features3d: Option<PathBuf>,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: &ProbeArgs) -> anyhow::Result<String> {
    if a.every == 0 || a.max_frames < 5 {
        bail!("--every must be at least 1 and --max-frames at least 5");
    }
    let depth_choice = super::feature_common::depth_choice(&a.depth_source)?;
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
    let (device, dtype) = a.run_on.open()?;
    let predictor = Predictor::load(&model_dir, &device, dtype)
        .with_context(|| format!("cannot load the checkpoint {}", model_dir.display()))?;
    let cache = Arc::new(FrameCache::new(256 << 20));
    let total: usize = collection.datasets.iter().map(|d| d.len()).sum();
    let indices: Vec<usize> = match &wanted {
        Some(w) => {
            if let Some(&last) = w.last()
                && last >= total
            {
                bail!(
                    "--episodes names episode {last}, but {} lists {total}",
                    a.path.display()
                );
            }
            w.clone()
        }
        None => (0..total).collect(),
    };
    let episodes: Vec<Arc<crate::episode::Episode>> = indices
        .iter()
        .map(|&n| super::open_nth_episode(&collection, n, &cache).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    let first = episodes.first().context("no episode to probe")?;
    // The statistics key changes only how actions decode, never the features.
    let settings = super::feature_common::features_settings(&predictor, first, depth_choice)?;
    if a.features3d.is_some() && episodes.len() != 1 {
        bail!("--features3d holds one episode's dumps: choose one episode with --episodes N");
    }
    let plan = frames(&episodes, a.every, a.max_frames);
    let cancel = AtomicBool::new(false);
    let report = probe(
        &predictor,
        &episodes,
        &plan,
        &settings,
        a.features3d.as_deref(),
        &cancel,
        |d, t| eprint!("\rprobe: {d}/{t} frames"),
    )?;
    eprintln!();
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    std::fs::write(
        a.out.join("probe.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )
    .with_context(|| format!("cannot write into {}", a.out.display()))?;
    let chart = BarChart {
        title: format!(
            "held-out R^2 of patch 3-D position, by layer ({} frames, {} held out){}",
            report.frames.len(),
            report.test_frames,
            if report.random_weights {
                " - random weights"
            } else {
                ""
            }
        ),
        x_label: "layer (0 = SigLIP, 1 = decoder input, 2.. = Gemma2 layers)".to_owned(),
        bars: report
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, l.fit.as_ref().map_or(0.0, |f| f.r2.max(0.0))))
            .collect(),
        bar_width: 0.8,
        bar_colour: [70, 120, 190],
        vlines: Vec::new(),
        hlines: Vec::new(),
    };
    chart
        .render(1280, 720)
        .save(a.out.join("probe_r2.png"))
        .with_context(|| format!("cannot write into {}", a.out.display()))?;
    let mut text = format!(
        "{}: {} frames ({} held out), {} patches each\n",
        report.checkpoint,
        report.frames.len(),
        report.test_frames,
        report.patches_per_frame
    );
    for l in &report.layers {
        text.push_str(&format!(
            "  {:<12} width {:>5}  R^2 {:>7}  CKA {}{}\n",
            l.layer,
            l.width,
            l.fit
                .as_ref()
                .map_or("-".into(), |f| format!("{:.3}", f.r2)),
            l.cka_with_positions
                .map_or("-".into(), |c| format!("{c:.3}")),
            match (report.features3d_frames, l.cka_with_features3d) {
                (0, _) => String::new(),
                (_, c) => format!(
                    "  CKA with 3-D features {}",
                    c.map_or("-".into(), |c| format!("{c:.3}"))
                ),
            }
        ));
    }
    if a.features3d.is_some() {
        text.push_str(&format!(
            "{} of the {} frames had a 3-D feature dump\n",
            report.features3d_frames,
            report.frames.len()
        ));
    }
    if report.random_weights {
        text.push_str(
            "the checkpoint's weights are random: these figures describe an untrained network\n",
        );
    }
    text.push_str(&format!("wrote {}\n", a.out.display()));
    Ok(text)
}
