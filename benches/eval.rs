//! Evaluation throughput, batch 1 against batch N in the same run (the figures `eval --batch`
//! is judged by): the first 8 steps of the Bridge sample's first episode through the bundled
//! tiny checkpoint on the CPU, as `spatialscope eval` runs them (estimated depth: ZoeDepth per
//! frame, then the network).
//!
//! - `eval/8_steps_batch_1`: `predict_step` on each step (the app's path);
//! - `eval/8_steps_batch_4`, `_batch_8`: `predict_steps` on batches of 4 and 8 (frames
//!   prepared across the cores, SigLIP, projector, prefill and generation batched);
//! - `eval/network_8_batch_1`, `_batch_8`: the network alone (image branch, prefill, 13
//!   greedy tokens) on 8 prepared frames, one at a time against one batch: what batching does
//!   where the work is matrix products.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use candle_core::{DType, Device};
use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::episode::{self, FrameCache};
use spatialscope::model::processor::IntrinsicsPrecision;
use spatialscope::model::{DepthChoice, FrameInput, GenerateOptions, Predictor};
use spatialscope::pipeline::{
    IntrinsicsChoice, RunSettings, choose_unnorm_key, predict_step, predict_steps,
};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn bench(c: &mut Criterion) {
    let p = Predictor::load(&repo("assets/tiny_spatialvla"), &Device::Cpu, DType::F32).unwrap();
    let collection =
        episode::open_path(&repo("sample_episodes/bridge_rlds/bridge_dataset/1.0.0")).unwrap();
    let cache = Arc::new(FrameCache::new(256 << 20));
    let ep = collection.datasets[0].open_episode(0, &cache).unwrap();
    let settings = RunSettings {
        unnorm_key: choose_unnorm_key(&p, &ep, None).unwrap(),
        intrinsics: IntrinsicsPrecision::Float32,
        intrinsics_choice: IntrinsicsChoice::Processor,
        depth_choice: DepthChoice::Estimated,
        compare_depth: false,
        options: GenerateOptions {
            max_new_tokens: 13,
            top_k: 5,
            attention: false,
        },
    };
    let steps: Vec<usize> = (0..8).collect();
    let cancel = AtomicBool::new(false);
    // Decode the frames once so every variant reads them from the cache.
    for &s in &steps {
        ep.rgb(s, 0).unwrap();
    }
    let mut g = c.benchmark_group("eval");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("8_steps_batch_1", |b| {
        b.iter(|| {
            for &s in &steps {
                predict_step(&p, &ep, s, &settings, &cancel).unwrap();
            }
        })
    });
    for n in [4, 8] {
        g.bench_function(format!("8_steps_batch_{n}"), |b| {
            b.iter(|| {
                for part in steps.chunks(n) {
                    for r in predict_steps(&p, &ep, part, &settings, &cancel) {
                        r.unwrap();
                    }
                }
            })
        });
    }
    let size = p.model.config().vision.image_size;
    let inputs: Vec<FrameInput> = (0..8)
        .map(|k| FrameInput {
            pixel_values: (0..3 * size * size)
                .map(|i| ((i * (7 + k)) % 255) as f32 / 255.0)
                .collect(),
            depth_m: (0..size * size)
                .map(|i| 0.5 + (i % 89) as f32 * 0.01)
                .collect(),
            intrinsics: p
                .intrinsics
                .choose(
                    &settings.unnorm_key,
                    size as u32,
                    IntrinsicsPrecision::Float32,
                )
                .unwrap()
                .k,
            prompt_ids: p
                .tokenizer
                .prompt_ids(&ep.instruction, p.model.config().vision.num_patches())
                .unwrap(),
        })
        .collect();
    g.bench_function("network_8_batch_1", |b| {
        b.iter(|| {
            for x in &inputs {
                let f = p.model.image_features(x, false).unwrap();
                p.model
                    .generate(&f, &x.prompt_ids, settings.options, &cancel)
                    .unwrap();
            }
        })
    });
    g.bench_function("network_8_batch_8", |b| {
        b.iter(|| {
            let refs: Vec<&FrameInput> = inputs.iter().collect();
            let f = p.model.image_features_batch(&refs).unwrap();
            let prompts: Vec<Vec<u32>> = inputs.iter().map(|x| x.prompt_ids.clone()).collect();
            p.model
                .generate_batch(&f, &prompts, settings.options, &cancel)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
