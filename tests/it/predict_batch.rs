//! Batched prediction ([`Predictor::predict_batch`], `predict_steps`, `eval --batch`) gives
//! each step what the one-step path gives it: the same greedy ids, probabilities and
//! entropies within float rounding of a batched matrix product, the same chunk and Ego3D
//! points. Requests of different prompt lengths are grouped, a bad request fails alone.

use std::sync::atomic::AtomicBool;

use spatialscope::episode::FrameCache;
use spatialscope::model::processor::{IntrinsicsPrecision, IntrinsicsSource};
use spatialscope::model::{
    DepthChoice, DepthInput, GenerateOptions, PredictRequest, Prediction, Predictor,
};
use spatialscope::pipeline::{
    IntrinsicsChoice, RunSettings, choose_unnorm_key, predict_step, predict_steps,
};

use crate::common;

fn predictor() -> Predictor {
    let dir = common::repo().join("assets/tiny_spatialvla");
    Predictor::load(&dir, &candle_core::Device::Cpu, candle_core::DType::F32).unwrap()
}

/// Same ids; probabilities, entropies and top-k within `tol`; same chunk and Ego3D points.
fn assert_same(a: &Prediction, b: &Prediction, what: &str) {
    let ids = |p: &Prediction| p.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(a), ids(b), "{what}: ids");
    for (x, y) in a.tokens.iter().zip(&b.tokens) {
        assert!((x.probability - y.probability).abs() < 1e-5, "{what}: p");
        assert!((x.entropy_nats - y.entropy_nats).abs() < 1e-4, "{what}: H");
        let top = |t: &spatialscope::model::predict::TokenReport| {
            t.top.iter().map(|a| a.id).collect::<Vec<_>>()
        };
        assert_eq!(top(x), top(y), "{what}: top-k ids");
    }
    assert_eq!(a.chunk.actions, b.chunk.actions, "{what}: chunk");
    assert_eq!(a.ego3d_xyz, b.ego3d_xyz, "{what}: Ego3D points");
    assert_eq!(a.prompt_ids, b.prompt_ids, "{what}: prompt");
    assert_eq!(a.depth_source, b.depth_source, "{what}: depth source");
}

#[test]
fn a_batch_of_episode_steps_equals_each_step_alone() {
    let p = predictor();
    let collection = spatialscope::episode::open_path(&common::bridge_dir()).unwrap();
    let cache = std::sync::Arc::new(FrameCache::new(64 << 20));
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
    let cancel = AtomicBool::new(false);
    // A step past the end in the middle of the batch fails alone.
    let steps = [0, 3, 1_000_000, 7, ep.num_steps() - 1];
    let batched = predict_steps(&p, &ep, &steps, &settings, &cancel);
    assert_eq!(batched.len(), steps.len());
    for (&step, b) in steps.iter().zip(&batched) {
        if step == 1_000_000 {
            let e = format!("{:#}", b.as_ref().expect_err("a step past the end fails"));
            assert!(e.contains("1000000"), "{e}");
            continue;
        }
        let b = b.as_ref().unwrap();
        let one = predict_step(&p, &ep, step, &settings, &cancel).unwrap();
        assert_eq!(b.step, step);
        assert_same(&b.prediction, &one.prediction, &format!("step {step}"));
        assert_eq!(b.ground_truth, one.ground_truth);
    }
}

#[test]
fn prompts_of_other_lengths_and_bad_requests_do_not_disturb_a_batch() {
    let p = predictor();
    let (w, h) = (64usize, 48usize);
    // Three different pictures.
    let images: Vec<Vec<u8>> = (0..3u32)
        .map(|k| {
            (0..w * h * 3)
                .map(|i| ((i as u32 * (7 + k * 13) + k * 50) % 251) as u8)
                .collect()
        })
        .collect();
    let instructions = [
        "pick up the red cube",
        "put the spoon in the pot and close the drawer",
        "pick up the blue cube",
    ];
    let req = |i: usize, rgb: &'static [u8]| PredictRequest {
        rgb,
        width: w,
        height: h,
        instruction: instructions[i],
        depth: Some(DepthInput {
            depth_m: (0..w * h).map(|j| 0.5 + (j % 97) as f32 * 0.01).collect(),
            width: w,
            height: h,
            source: "ramp".into(),
        }),
        depth_choice: DepthChoice::Sensor,
        compare_depth: false,
        unnorm_key: "bridge_orig/1.0.0",
        intrinsics: IntrinsicsPrecision::Float32,
        intrinsics_source: IntrinsicsSource::Processor,
        options: GenerateOptions {
            max_new_tokens: 13,
            top_k: 3,
            attention: false,
        },
    };
    let images: &'static [Vec<u8>] = Box::leak(images.into_boxed_slice());
    let mut reqs: Vec<PredictRequest> = (0..3).map(|i| req(i, &images[i])).collect();
    // A fourth request with a wrong key fails alone.
    let mut bad = req(0, &images[1]);
    bad.unnorm_key = "no_such_key";
    reqs.insert(1, bad);
    let cancel = AtomicBool::new(false);
    let batched = p.predict_batch(&reqs, &cancel);
    assert_eq!(batched.len(), 4);
    let err = batched[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("no_such_key"), "{err}");
    for i in [0, 2, 3] {
        let one = p.predict(&reqs[i], &cancel).unwrap();
        assert_same(batched[i].as_ref().unwrap(), &one, &format!("request {i}"));
    }
    // The two short prompts have one length but differ: one batch of two different
    // sequences, beside a group of one.
    let (a, c) = (
        &batched[0].as_ref().unwrap().prompt_ids,
        &batched[3].as_ref().unwrap().prompt_ids,
    );
    assert_eq!(a.len(), c.len());
    assert_ne!(a, c);
    assert_ne!(a.len(), batched[2].as_ref().unwrap().prompt_ids.len());
}
