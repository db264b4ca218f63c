//! `spatialscope predict`: run SpatialVLA on every step of the episodes under a path
//! (JSON lines, one per step, then a summary line), or on one image with a prompt.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use candle_core::{DType, Device};

use crate::episode::FrameCache;
use crate::model::processor::IntrinsicsPrecision;
use crate::model::{DepthChoice, DepthInput, GenerateOptions, PredictRequest, Predictor};
use crate::pipeline::{IntrinsicsChoice, RunSettings, choose_unnorm_key, predict_step};

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// Dataset file or folder (episode mode).
    pub path: Option<PathBuf>,
    /// Checkpoint folder (default: the bundled tiny random-weight checkpoint).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Statistics key for un-normalisation (default: the episode's dataset key).
    #[arg(long)]
    pub unnorm_key: Option<String>,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Round K to bfloat16 as the reference predict_action path does.
    #[arg(long)]
    pub bf16_intrinsics: bool,
    /// Which K the model gets: `processor` (the checkpoint's entry for the key, the
    /// reference), `entry:NAME` (another entry of its table) or `camera` (the episode
    /// camera's own calibration; episode mode).
    #[arg(long, default_value = "processor")]
    pub intrinsics: String,
    /// Only this episode (index in the listing).
    #[arg(long)]
    pub episode: Option<usize>,
    /// Only this step.
    #[arg(long)]
    pub step: Option<usize>,
    /// JSON-lines output (episode mode).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Single-image mode: an RGB image file.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Single-image mode: the instruction.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Single-image mode: depth as a 16-bit PNG in millimetres or a float32/float64 .npy in metres.
    #[arg(long)]
    pub depth: Option<PathBuf>,
    /// Which depth the model lifts its patches with: `estimated` (ZoeDepth from the RGB
    /// frame, what the reference does) or `sensor` (the episode camera's depth, or --depth).
    /// Default: `sensor` when --depth is given, else `estimated`.
    #[arg(long)]
    pub depth_source: Option<String>,
    /// Print JSON (single-image mode).
    #[arg(long)]
    pub json: bool,
    /// At most this many generated tokens.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
}

/// `--device` and `--dtype` of the commands that run the model beside others' flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOn {
    /// cpu, cuda or cuda:N (a CUDA device that cannot be used falls back to the CPU, said
    /// on stderr).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32 or bf16 (the language model and vision tower; ZoeDepth stays float32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

impl RunOn {
    pub fn open(&self) -> anyhow::Result<(Device, DType)> {
        Ok((
            device_from_name(&self.device)?,
            dtype_from_name(&self.dtype)?,
        ))
    }
}

/// `cpu`, `cuda` or `cuda:N`. A CUDA device that cannot be used (no driver, no GPU, or a
/// binary built without the `cuda` feature) is said on stderr and the CPU is used instead.
pub fn device_from_name(name: &str) -> anyhow::Result<Device> {
    let choice = crate::model::device::DeviceChoice::parse(name).map_err(anyhow::Error::msg)?;
    let (device, why) = choice.open();
    if let Some(why) = why {
        eprintln!("spatialscope: {why}");
    }
    Ok(device)
}

pub fn dtype_from_name(name: &str) -> anyhow::Result<DType> {
    match name {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        other => bail!("unknown dtype `{other}` (f32 or bf16)"),
    }
}

/// Reads a depth file: a 16-bit PNG in millimetres, or a 2-D float .npy in metres.
pub fn read_depth_file(path: &Path) -> anyhow::Result<DepthInput> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_lowercase();
    let (depth_m, width, height) = if ext == "npy" {
        read_npy_2d(path)?
    } else {
        let img = image::open(path)
            .with_context(|| format!("{}: cannot decode depth image", path.display()))?;
        if !matches!(img, image::DynamicImage::ImageLuma16(_)) {
            bail!(
                "{}: depth PNG must be 16-bit greyscale (millimetres)",
                path.display()
            );
        }
        let g = img.to_luma16();
        let (w, h) = g.dimensions();
        (
            g.pixels().map(|p| f32::from(p.0[0]) / 1000.0).collect(),
            w as usize,
            h as usize,
        )
    };
    Ok(DepthInput {
        depth_m,
        width,
        height,
        source: format!("file {}", path.display()),
    })
}

/// A minimal reader for little-endian float32/float64 C-order .npy arrays whose shape is
/// (H, W) with any number of leading 1s.
fn read_npy_2d(path: &Path) -> anyhow::Result<(Vec<f32>, usize, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let bad = |what: &str| anyhow::anyhow!("{}: {what}", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unsupported .npy version")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + len)
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    let width = if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(bad("dtype must be little-endian float32 or float64"));
    };
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran-order arrays are not supported"));
    }
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape in header"))?;
    let dims: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<anyhow::Result<_>>()?;
    let real: Vec<usize> = dims.iter().copied().skip_while(|&d| d == 1).collect();
    let [h, w] = real[..] else {
        return Err(bad(&format!("shape {dims:?} is not a 2-D depth map")));
    };
    let data = &bytes[start + len..];
    if data.len() < h * w * width {
        return Err(bad("truncated data"));
    }
    let values = (0..h * w)
        .map(|i| {
            let b = &data[i * width..(i + 1) * width];
            if width == 4 {
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            } else {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
        })
        .collect();
    Ok((values, w, h))
}

fn intrinsics_choice(s: &str) -> anyhow::Result<IntrinsicsChoice> {
    Ok(match s {
        "processor" => IntrinsicsChoice::Processor,
        "camera" => IntrinsicsChoice::EpisodeCamera,
        _ => match s.strip_prefix("entry:") {
            Some(name) if !name.is_empty() => IntrinsicsChoice::Entry(name.to_owned()),
            _ => bail!("--intrinsics {s}: expected processor, camera or entry:NAME"),
        },
    })
}

pub fn run(args: &PredictArgs) -> anyhow::Result<String> {
    let dir = args
        .model
        .clone()
        .unwrap_or_else(crate::util::assets::default_model_path);
    let device = device_from_name(&args.device)?;
    let dtype = dtype_from_name(&args.dtype)?;
    let predictor = Predictor::load(&dir, &device, dtype)
        .with_context(|| format!("cannot load the checkpoint {}", dir.display()))?;
    eprintln!(
        "loaded {} ({} parameters) in {:.0} ms",
        predictor.label,
        predictor.parameter_count,
        predictor.load_time.as_secs_f64() * 1e3
    );
    let intrinsics = if args.bf16_intrinsics {
        IntrinsicsPrecision::Bfloat16
    } else {
        IntrinsicsPrecision::Float32
    };
    let options = GenerateOptions {
        max_new_tokens: args.max_new_tokens,
        top_k: 5,
        attention: false,
    };
    let cancel = AtomicBool::new(false);
    if let Some(image_path) = &args.image {
        let prompt = args.prompt.as_deref().context("--image needs --prompt")?;
        let img = image::open(image_path)
            .with_context(|| format!("{}: cannot decode image", image_path.display()))?
            .to_rgb8();
        let depth = args.depth.as_deref().map(read_depth_file).transpose()?;
        let key = match &args.unnorm_key {
            Some(k) => k.clone(),
            None => predictor
                .unnorm_keys()
                .into_iter()
                .find(|k| k == "bridge_orig/1.0.0")
                .context("--unnorm-key is needed")?,
        };
        let depth_choice = depth_choice(&args.depth_source, depth.is_some())?;
        let req = PredictRequest {
            rgb: img.as_raw(),
            width: img.width() as usize,
            height: img.height() as usize,
            instruction: prompt,
            depth,
            depth_choice,
            // One frame: show what ZoeDepth would give beside the supplied depth.
            compare_depth: true,
            unnorm_key: &key,
            intrinsics,
            intrinsics_source: match intrinsics_choice(&args.intrinsics)? {
                IntrinsicsChoice::Processor => crate::model::processor::IntrinsicsSource::Processor,
                IntrinsicsChoice::Entry(e) => crate::model::processor::IntrinsicsSource::Entry(e),
                IntrinsicsChoice::EpisodeCamera => {
                    bail!("--intrinsics camera needs an episode (no camera with --image)")
                }
            },
            options,
        };
        let p = predictor.predict(&req, &cancel)?;
        if args.json {
            return Ok(serde_json::to_string_pretty(&p)? + "\n");
        }
        let mut text = format!("checkpoint: {}\ndepth: {}\n", p.checkpoint, p.depth_source);
        for t in p.tokens.iter().take(3 * predictor.processor.chunk_size + 1) {
            text += &format!(
                "  {:>3} {:>6} {:<16} p={:.3}\n",
                t.position, t.id, t.token, t.probability
            );
        }
        if let Some(actions) = &p.chunk.actions {
            for a in actions {
                text += &format!("  action {:?}\n", a.map(|v| (v * 1e4).round() / 1e4));
            }
        }
        for i in &p.issues {
            text += &format!("  issue: {i}\n");
        }
        return Ok(text);
    }
    let path = args
        .path
        .as_deref()
        .context("give a dataset PATH, or --image with --prompt")?;
    let out_path = args
        .out
        .as_deref()
        .context("episode mode needs --out preds.jsonl")?;
    let collection = crate::episode::open_path(path)?;
    collection.ensure_outside(out_path)?;
    let cache = Arc::new(FrameCache::new(256 << 20));
    let tmp = out_path.with_extension("jsonl.partial");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    let mut index = 0usize;
    let (mut steps, mut failures) = (0usize, 0usize);
    let (mut t_l2, mut n_l2, mut grip_ok, mut n_grip, mut malformed) =
        (0f64, 0usize, 0usize, 0usize, 0usize);
    for ds in &collection.datasets {
        for i in 0..ds.len() {
            let this = index;
            index += 1;
            if args.episode.is_some_and(|e| e != this) {
                continue;
            }
            let ep = match ds.open_episode(i, &cache) {
                Ok(ep) => ep,
                Err(e) => {
                    failures += 1;
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"episode_index": this, "error": e.to_string()})
                    )?;
                    continue;
                }
            };
            let settings = RunSettings {
                unnorm_key: choose_unnorm_key(&predictor, &ep, args.unnorm_key.as_deref())?,
                intrinsics,
                intrinsics_choice: intrinsics_choice(&args.intrinsics)?,
                depth_choice: depth_choice(&args.depth_source, false)?,
                compare_depth: false,
                options,
            };
            for step in 0..ep.num_steps() {
                if args.step.is_some_and(|s| s != step) {
                    continue;
                }
                match predict_step(&predictor, &ep, step, &settings, &cancel) {
                    Ok(sp) => {
                        steps += 1;
                        if !sp.prediction.issues.is_empty() {
                            malformed += 1;
                        }
                        for e in &sp.errors {
                            t_l2 += e.translation_l2;
                            n_l2 += 1;
                            grip_ok += usize::from(e.gripper_agrees);
                            n_grip += 1;
                        }
                        let line = serde_json::json!({
                            "episode_index": this,
                            "episode": sp.episode,
                            "step": sp.step,
                            "camera": sp.camera,
                            "unnorm_key": sp.prediction.unnorm_key,
                            "depth_source": sp.prediction.depth_source,
                            "intrinsics": sp.prediction.intrinsics,
                            "token_ids": sp.prediction.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
                            "tokens": sp.prediction.tokens.iter().map(|t| &t.token).collect::<Vec<_>>(),
                            "probabilities": sp.prediction.tokens.iter().map(|t| t.probability).collect::<Vec<_>>(),
                            "actions": sp.prediction.chunk.actions,
                            "issues": sp.prediction.issues,
                            "ground_truth": sp.ground_truth,
                            "errors": sp.errors,
                        });
                        writeln!(out, "{line}")?;
                    }
                    Err(e) => {
                        failures += 1;
                        writeln!(
                            out,
                            "{}",
                            serde_json::json!({"episode_index": this, "step": step, "error": format!("{e:#}")})
                        )?;
                    }
                }
            }
        }
    }
    let summary = serde_json::json!({
        "summary": {
            "checkpoint": predictor.label,
            "steps": steps,
            "failures": failures,
            "malformed_chunks": malformed,
            "mean_translation_l2": if n_l2 > 0 { Some(t_l2 / n_l2 as f64) } else { None },
            "gripper_agreement": if n_grip > 0 { Some(grip_ok as f64 / n_grip as f64) } else { None },
        }
    });
    writeln!(out, "{summary}")?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, out_path)
        .with_context(|| format!("cannot move the output to {}", out_path.display()))?;
    Ok(format!("{summary}\n"))
}

/// `--depth-source`; without it, `sensor` when a depth file was given, else `estimated`.
fn depth_choice(arg: &Option<String>, have_file: bool) -> anyhow::Result<DepthChoice> {
    Ok(match arg.as_deref() {
        Some("estimated") => DepthChoice::Estimated,
        Some("sensor") => DepthChoice::Sensor,
        Some(other) => bail!("--depth-source {other:?}: `estimated` or `sensor`"),
        None if have_file => DepthChoice::Sensor,
        None => DepthChoice::Estimated,
    })
}
