//! Depth Anything V2 in candle against the official PyTorch code, same machine, same run.
//!
//! - `conv3x3/*`: the strided-gemm 3 x 3 convolution (`model::conv3x3`) against candle's
//!   `Conv2d` on the same input in the same run, at the sizes the depth heads use: Depth
//!   Anything's output convs (32 channels at 518 x 518) and ZoeDepth-L's neck (256 channels
//!   at 96 x 96).
//! - `depth_anything/tiny_518`: the bundled tiny checkpoint's forward at 518 x 518 (always).
//! - `depth_anything/vits_518`: a real-size ViT-S (24.8 M parameters) forward at 518 x 518,
//!   when `SPATIALSCOPE_TORCH_PYTHON` (a Python with torch and safetensors) and
//!   `SPATIALSCOPE_DEPTH_ANYTHING_REPO` (a checkout of DepthAnything/Depth-Anything-V2) are
//!   set: `benches/depth_anything_baseline.py` builds it with the official code (random
//!   weights), saves it as the releases are (`.pth`), times PyTorch's forward on an input and
//!   keeps its output; this bench loads that `.pth` (the real-size path of `model/pth.rs`),
//!   prints the largest difference from PyTorch's output and times our forward on the same
//!   input. Without them it says so.

use std::path::PathBuf;
use std::time::Duration;

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::model::depth_anything::DepthAnythingV2;

fn conv(c: &mut Criterion) {
    use candle_core::Module;
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("conv3x3");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (ch, side) in [(32usize, 518usize), (256, 96)] {
        let w = Tensor::randn(0f32, 0.1, (ch, ch, 3, 3), &dev).unwrap();
        let b = Tensor::randn(0f32, 0.1, ch, &dev).unwrap();
        let cfg = candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let candle = candle_nn::Conv2d::new(w, Some(b), cfg);
        let ours = spatialscope::model::conv3x3::Conv3x3::new(candle.clone()).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, ch, side, side), &dev).unwrap();
        g.bench_function(format!("candle_{ch}ch_{side}"), |bn| {
            bn.iter(|| candle.forward(&x).unwrap())
        });
        g.bench_function(format!("strided_gemm_{ch}ch_{side}"), |bn| {
            bn.iter(|| ours.forward(&x).unwrap())
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("depth_anything");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let tiny = DepthAnythingV2::load(
        &spatialscope::util::assets::default_depth_expert_path(),
        None,
        &dev,
    )
    .unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, 3, 518, 518), &dev).unwrap();
    g.bench_function("tiny_518", |b| b.iter(|| tiny.forward(&x).unwrap()));

    let (Ok(python), Ok(repo)) = (
        std::env::var("SPATIALSCOPE_TORCH_PYTHON"),
        std::env::var("SPATIALSCOPE_DEPTH_ANYTHING_REPO"),
    ) else {
        println!(
            "depth_anything/vits_518: not measured (set SPATIALSCOPE_TORCH_PYTHON and SPATIALSCOPE_DEPTH_ANYTHING_REPO)"
        );
        return;
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("depth_anything_vits");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/depth_anything_baseline.py"
    );
    let o = std::process::Command::new(&python)
        .arg(script)
        .arg(&repo)
        .arg(&out)
        .output();
    match o {
        Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
        Ok(o) => {
            println!(
                "depth_anything/vits_518: the PyTorch baseline failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return;
        }
        Err(e) => {
            println!("depth_anything/vits_518: cannot run {python}: {e}");
            return;
        }
    }
    let t0 = std::time::Instant::now();
    let vits = DepthAnythingV2::load(&out.join("depth_anything_v2_vits.pth"), None, &dev).unwrap();
    println!(
        "candle load of the .pth: {:.0} ms ({})",
        t0.elapsed().as_secs_f64() * 1e3,
        vits.label()
    );
    let x =
        candle_core::safetensors::load(out.join("input.safetensors"), &dev).unwrap()["x"].clone();
    let want =
        candle_core::safetensors::load(out.join("output.safetensors"), &dev).unwrap()["y"].clone();
    let got = vits.forward(&x).unwrap();
    let diff: f32 = (got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    let scale: f32 = want.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    println!("candle vs PyTorch, ViT-S at 518: max |diff| {diff:.3e} (output up to {scale:.3})");
    g.bench_function("vits_518", |b| b.iter(|| vits.forward(&x).unwrap()));
    g.finish();
}

criterion_group!(benches, conv, bench);
criterion_main!(benches);
