//! SpatialVLA on the bundled tiny checkpoint, CPU, float32, with same-run baselines:
//!
//! - `load`: opening and checking the checkpoint, building every layer (`Predictor::load`),
//!   against `read_weights_baseline`, reading the weight file into memory.
//! - `image_branch`: SigLIP + Ego3D + projector for one frame.
//! - `step_13_tokens`: one model step as the app runs it (image branch, prompt pass and 13
//!   greedy tokens: a full chunk plus `<eos>`), without and with the per-token attention
//!   read-out (`_attention`), so the debug outputs' cost reads as a ratio.
//!
//! Depth is the golden `depth_224` of the first case, so the work is exactly the reference's.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use candle_core::{DType, Device};
use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::model::preprocess::pixel_values;
use spatialscope::model::processor::IntrinsicsPrecision;
use spatialscope::model::{FrameInput, GenerateOptions, Predictor};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn bench(c: &mut Criterion) {
    let dir = repo("assets/tiny_spatialvla");
    let mut g = c.benchmark_group("model_tiny_cpu");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("load", |b| {
        b.iter(|| Predictor::load(&dir, &Device::Cpu, DType::F32).unwrap())
    });
    g.bench_function("read_weights_baseline", |b| {
        b.iter(|| std::fs::read(dir.join("model.safetensors")).unwrap())
    });
    let p = Predictor::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let img = image::open(repo("tests/golden/tiny_spatialvla/inputs/example.png"))
        .unwrap()
        .to_rgb8();
    let golden = candle_core::safetensors::load(
        repo("tests/golden/tiny_spatialvla/reference_outputs.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let depth = golden["example_png/depth_224"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let size = p.model.config().vision.image_size;
    let input = FrameInput {
        pixel_values: pixel_values(
            img.as_raw(),
            img.width() as usize,
            img.height() as usize,
            size,
        ),
        depth_m: depth,
        intrinsics: p
            .intrinsics
            .choose(
                "bridge_orig/1.0.0",
                size as u32,
                IntrinsicsPrecision::Float32,
            )
            .unwrap()
            .k,
        prompt_ids: p
            .tokenizer
            .prompt_ids("pick up the cup", p.model.config().vision.num_patches())
            .unwrap(),
    };
    let cancel = AtomicBool::new(false);
    g.bench_function("image_branch", |b| {
        b.iter(|| p.model.image_features(&input, false).unwrap())
    });
    // ZoeDepth (tiny: BEiT 4 x 32 at 384 px): the depth branch of one frame, resampling included.
    g.bench_function("zoedepth_384", |b| {
        b.iter(|| p.estimate_depth(&input.pixel_values, size).unwrap())
    });
    for attention in [false, true] {
        let name = if attention {
            "step_13_tokens_attention"
        } else {
            "step_13_tokens"
        };
        let opts = GenerateOptions {
            max_new_tokens: 13,
            top_k: 5,
            attention,
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let f = p.model.image_features(&input, false).unwrap();
                p.model
                    .generate(&f, &input.prompt_ids, opts, &cancel)
                    .unwrap()
            })
        });
    }
    g.finish();
    if std::env::var_os("SPATIALSCOPE_BENCH_REAL_ZOE").is_some() {
        real_size_zoedepth(&p, &input.pixel_values, size);
    }
}

/// The released ZoeDepth's size (BEiT-L, 24 x 1024, at 384 px) built from the published
/// config with candle's default initialisation (random layer weights; the arithmetic does not depend on them): one
/// warm-up and three timed forwards, printed beside the tiny model's. Opt-in
/// (`SPATIALSCOPE_BENCH_REAL_ZOE=1`): about 1.4 GB of weights and seconds per forward on a CPU.
fn real_size_zoedepth(p: &Predictor, pixels: &[f32], size: usize) {
    use spatialscope::model::zoe_config::ZoeConfig;
    use spatialscope::model::zoedepth::ZoeDepth;
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("assets/spatialvla/config.json")).unwrap(),
    )
    .unwrap();
    let zcfg = ZoeConfig::from_value(&cfg["vision_zoe_config"]).unwrap();
    let device = Device::Cpu;
    let vm = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &device);
    let zoe = ZoeDepth::load(&zcfg, vb).unwrap();
    let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
    let s = zcfg.backbone_config.image_size;
    let x = candle_core::Tensor::from_vec(
        spatialscope::model::zoe_resample::zoe_input(pixels, size),
        (1, 3, s, s),
        &device,
    )
    .unwrap();
    zoe.forward(&x).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..3 {
        zoe.forward(&x).unwrap();
    }
    let real_ms = t.elapsed().as_secs_f64() * 1e3 / 3.0;
    let t = std::time::Instant::now();
    for _ in 0..3 {
        p.estimate_depth(pixels, size).unwrap();
    }
    let tiny_ms = t.elapsed().as_secs_f64() * 1e3 / 3.0;
    println!(
        "real-size ZoeDepth (BEiT-L, {params} parameters) on CPU: {real_ms:.0} ms per frame; tiny: {tiny_ms:.1} ms ({:.0}x)",
        real_ms / tiny_ms
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
