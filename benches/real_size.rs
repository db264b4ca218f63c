//! SpatialVLA at real size on the CPU, stage by stage, against the reference PyTorch
//! implementation on the same checkpoint in the same run (opt-in: the checkpoint is 8 GB and
//! one step takes a minute):
//!
//! ```text
//! SPATIALSCOPE_REAL_SIZE=DIR SPATIALSCOPE_TORCH_PYTHON=PY SPATIALSCOPE_SPATIALVLA_REPO=REPO \
//!     cargo bench --profile dev --bench real_size
//! ```
//!
//! DIR is written by `scripts/make_real_size_checkpoint.py`; PY is a Python with torch and
//! transformers 4.47; REPO a SpatialVLA checkout at the spec's commit. Each (side, dtype) runs
//! in its own process, one after the other (two real-size models do not fit in memory at
//! once), so each has its own load time and peak resident memory: ours f32, the reference's
//! f32, ours bf16, the reference's bf16. Stages (the reference's side is
//! `benches/real_size_reference.py`): load (from a warm page cache: the weight files are
//! read once before each side); ZoeDepth with the resize back; the image branch
//! (SigLIP, Ego3D, projector); the prompt pass (head at the last position only, as
//! `generate` asks); 12 greedy tokens (prompt pass plus 11 one-token passes), from which one
//! token is `(generate - prompt) / 11`. Criterion is not used: its minimum of 10 samples
//! would take an hour per side; every figure is one measurement, and the ratio table is
//! what the README quotes. `SPATIALSCOPE_NO_AMX=1` runs our bf16 without AMX tiles.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use candle_core::{DType, Device};
use serde_json::{Value, json};
use spatialscope::model::gemma2::AttentionCapture;
use spatialscope::model::preprocess::pixel_values;
use spatialscope::model::processor::IntrinsicsPrecision;
use spatialscope::model::{FrameInput, GenerateOptions, Predictor};

const CHILD: &str = "SPATIALSCOPE_REAL_SIZE_BENCH_CHILD";
const MARK: &str = "REAL_SIZE_JSON ";
const PROMPT: &str = "What action should the robot take to pick the cup?";
const STAGES: [&str; 5] = ["load_s", "zoe_s", "image_s", "prompt_s", "token_s"];

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Peak resident memory of this process in GB (`VmHWM`).
fn peak_rss_gb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb * 1024.0 / 1e9)
}

/// Whether the child stops after `stage` (`SPATIALSCOPE_REAL_SIZE_STOP_AFTER=load|zoe|image|prompt`,
/// for profiling one stage, e.g. under `perf record`).
fn stop_after(stage: &str) -> bool {
    std::env::var("SPATIALSCOPE_REAL_SIZE_STOP_AFTER").is_ok_and(|s| s == stage)
}

/// One step of ours in this process, printed as a JSON line.
fn child(dir: &Path, dtype: DType) {
    let secs = |t: Instant| t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = Predictor::load(dir, &Device::Cpu, dtype).expect("the checkpoint loads");
    let load_s = secs(t);
    eprintln!("load: {load_s:.3} s, peak {:.2} GB", peak_rss_gb());
    if stop_after("load") {
        return;
    }
    let img = image::open(repo("tests/golden/tiny_spatialvla/inputs/example.png"))
        .expect("the example image")
        .to_rgb8();
    let size = p.model.config().vision.image_size;
    let pv = pixel_values(
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        size,
    );
    let t = Instant::now();
    let depth = p.estimate_depth(&pv, size).expect("ZoeDepth runs");
    let zoe_s = secs(t);
    eprintln!("zoe: {zoe_s:.3} s");
    if stop_after("zoe") {
        return;
    }
    let input = FrameInput {
        depth_m: depth.depth_m,
        intrinsics: p
            .intrinsics
            .choose(
                "bridge_orig/1.0.0",
                size as u32,
                IntrinsicsPrecision::Float32,
            )
            .expect("intrinsics")
            .k,
        prompt_ids: p
            .tokenizer
            .prompt_ids(PROMPT, p.model.config().vision.num_patches())
            .expect("prompt"),
        pixel_values: pv,
    };
    let t = Instant::now();
    let f = p.model.image_features(&input, false).expect("image branch");
    let image_s = secs(t);
    eprintln!("image: {image_s:.3} s");
    if stop_after("image") {
        return;
    }
    let t = Instant::now();
    p.model
        .prompt_pass(&f, &input.prompt_ids, AttentionCapture::None)
        .expect("prompt pass");
    let prompt_s = secs(t);
    eprintln!("prompt: {prompt_s:.3} s");
    if stop_after("prompt") {
        return;
    }
    let opts = GenerateOptions {
        max_new_tokens: 12,
        ..GenerateOptions::default()
    };
    let t = Instant::now();
    let g = p
        .model
        .generate(&f, &input.prompt_ids, opts, &AtomicBool::new(false))
        .expect("generation");
    let generate_s = secs(t);
    let out = json!({
        "dtype": if dtype == DType::F32 { "f32" } else { "bf16" },
        "amx": spatialscope::model::amx::available(),
        "load_s": load_s, "zoe_s": zoe_s, "image_s": image_s, "prompt_s": prompt_s,
        "generate_s": generate_s,
        "tokens": g.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        "peak_rss_gb": peak_rss_gb(),
    });
    println!("{MARK}{out}");
}

/// Runs one side in a child process and returns its JSON line, with `token_s` added.
/// Reads every weight file of `dir` once, so each side's load starts from the same warm
/// page cache: the side that ran first used to pay for reading 8 GB from disk (10-12 s
/// here) that the other then found cached. A 20 GB process can evict part of it again, so
/// this runs before every side.
fn warm_page_cache(dir: &Path) {
    use std::io::Read;
    let t = Instant::now();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 8 << 20];
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for path in files.map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "safetensors") {
            continue;
        }
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        while let Ok(n @ 1..) = f.read(&mut buf) {
            bytes += n as u64;
        }
    }
    println!(
        "page cache: {:.1} GB of weights read in {:.1} s",
        bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
}

fn run(cmd: &mut Command, what: &str) -> Option<Value> {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            println!("{what}: cannot run: {e}");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| {
        l.strip_prefix(MARK)
            .or_else(|| l.starts_with('{').then_some(l))
    });
    let Some(mut v) = line.and_then(|l| serde_json::from_str::<Value>(l).ok()) else {
        println!(
            "{what}: failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
        return None;
    };
    let g = v["generate_s"].as_f64().unwrap_or(f64::NAN);
    let p = v["prompt_s"].as_f64().unwrap_or(f64::NAN);
    v["token_s"] = json!((g - p) / 11.0);
    println!("{what}: {v}");
    Some(v)
}

fn main() {
    let Ok(dir) = std::env::var("SPATIALSCOPE_REAL_SIZE") else {
        println!(
            "real_size: not measured (set SPATIALSCOPE_REAL_SIZE to a checkpoint from scripts/make_real_size_checkpoint.py)"
        );
        return;
    };
    let dir = PathBuf::from(dir);
    if let Ok(dtype) = std::env::var(CHILD) {
        child(
            &dir,
            if dtype == "bf16" {
                DType::BF16
            } else {
                DType::F32
            },
        );
        return;
    }
    let exe = std::env::current_exe().expect("the bench's own path");
    let python = std::env::var("SPATIALSCOPE_TORCH_PYTHON").ok();
    let svla = std::env::var("SPATIALSCOPE_SPATIALVLA_REPO").ok();
    let mut rows = Vec::new();
    for dtype in ["f32", "bf16"] {
        warm_page_cache(&dir);
        let ours = run(
            Command::new(&exe).env(CHILD, dtype),
            &format!("ours {dtype}"),
        );
        let reference = match (&python, &svla) {
            (Some(py), Some(repo_dir)) => {
                warm_page_cache(&dir);
                run(
                    Command::new(py)
                        .arg(repo("benches/real_size_reference.py"))
                        .arg(repo_dir)
                        .arg(&dir)
                        .arg(dtype),
                    &format!("reference {dtype}"),
                )
            }
            _ => {
                println!(
                    "reference {dtype}: not measured (set SPATIALSCOPE_TORCH_PYTHON and SPATIALSCOPE_SPATIALVLA_REPO)"
                );
                None
            }
        };
        rows.push((dtype, ours, reference));
    }
    println!("\n| stage | ours f32 | reference f32 | ratio | ours bf16 | reference bf16 | ratio |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let cell = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v[k].as_f64());
    for stage in STAGES.iter().copied().chain(["peak_rss_gb"]) {
        let mut line = format!("| {stage} |");
        for (_, ours, reference) in &rows {
            let (a, b) = (cell(ours, stage), cell(reference, stage));
            let f = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.3}"));
            let ratio = match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "-".to_owned(),
            };
            line += &format!(" {} | {} | {ratio} |", f(a), f(b));
        }
        println!("{line}");
    }
    println!("(ratio: ours / reference; below 1 is faster or leaner)");
}
