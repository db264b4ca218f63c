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
}

criterion_group!(benches, bench);
criterion_main!(benches);
