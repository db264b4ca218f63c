//! The model panel driven through the whole app, with the real model thread and the bundled
//! tiny checkpoint: the checkpoint loads by itself; an episode without a known dataset key
//! runs with the key whose statistics fit its actions best, labelled a guess; after choosing
//! another, "Run on this frame"
//! yields a prediction whose tokens, chunk and attention the panel shows; "Run over
//! episode" fills every step and can be cancelled; the panel labels the random weights.

use crate::common;

use std::time::Duration;

use crate::common::app::{app_harness, run_until};
use egui_kittest::kittest::Queryable;
use spatialscope::pipeline::{AttentionSelection, attention_over_image};

const T: Duration = Duration::from_secs(60);

#[test]
fn predict_a_frame_and_inspect_it() {
    let mut h = app_harness(common::native_dir());
    assert!(
        run_until(&mut h, T, |a| a.session.episode.is_some()
            && a.session.model.info.is_some()),
        "episode and bundled checkpoint load"
    );
    assert!(
        h.state()
            .session
            .model
            .info
            .as_ref()
            .unwrap()
            .random_weights
    );
    h.get_by_label("Model").click();
    // Steps, not run(): a spinner (frames still decoding) may keep repainting.
    h.run_steps(3);
    // No dataset key the checkpoint knows: the panel offers its best guess (the key whose
    // statistics fit the episode's actions) and the first run uses it.
    let guess = h
        .state()
        .session
        .guessed_unnorm_key()
        .expect("a guessed key");
    h.get_by_label("Run on this frame").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.predictions.contains_key(&0)),
        "prediction of step 0 with the guessed key"
    );
    assert_eq!(
        h.state().session.model.predictions[&0]
            .prediction
            .unnorm_key,
        guess
    );
    assert!(h.state().session.model.failures.is_empty());

    h.state_mut().panels.model.unnorm_key = Some("bridge_orig/1.0.0".into());
    h.get_by_label("Run on this frame").click();
    assert!(
        run_until(&mut h, T, |a| a
            .session
            .model
            .predictions
            .get(&0)
            .is_some_and(|p| p.prediction.unnorm_key == "bridge_orig/1.0.0")),
        "prediction of step 0"
    );
    // Steps, not run(): a spinner elsewhere (a frame still decoding) may keep repainting.
    h.run_steps(3);
    let p = h.state().session.model.predictions[&0].clone();
    assert_eq!(p.step, 0);
    assert_eq!(p.prediction.unnorm_key, "bridge_orig/1.0.0");
    // The reference behaviour by default: ZoeDepth's estimate, recorded as such.
    assert!(
        p.prediction.depth_source.contains("ZoeDepth"),
        "{}",
        p.prediction.depth_source
    );
    assert!(p.prediction.estimated_depth.is_some());
    // The depth comparison: both maps at 224, statistics, and both clouds for the 3-D view.
    let v = h
        .state()
        .session
        .model
        .depth_views
        .get(&0)
        .cloned()
        .expect("depth view");
    assert_eq!(v.size, 224);
    assert!(v.sensor_m.is_some() && v.overlay_cloud.is_some());
    let st = v.stats.expect("statistics against the sensor depth");
    assert_eq!(st.total_px, 224 * 224);
    assert!(v.estimated_cloud.points.len() > 40_000);
    assert_eq!(
        v.overlay_cloud.as_ref().unwrap().points.len(),
        v.estimated_cloud.points.len() + st.valid_px.min(224 * 224)
    );
    assert_eq!(p.ground_truth.len(), 4);
    assert_eq!(p.errors.len(), 4);
    assert_eq!(p.prediction.chunk.actions.as_ref().unwrap().len(), 4);
    // Attention over the image for the first tokens: a distribution over the 256 patches.
    let a =
        attention_over_image(&p.prediction, 0, AttentionSelection::default()).expect("attention");
    assert_eq!(a.len(), 256);
    assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    let one = attention_over_image(
        &p.prediction,
        2,
        AttentionSelection {
            layer: Some(1),
            head: Some(3),
        },
    )
    .unwrap();
    assert!((one.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(
        attention_over_image(
            &p.prediction,
            0,
            AttentionSelection {
                layer: Some(9),
                head: None
            }
        )
        .is_none()
    );
    // The panel shows it.
    h.get_by_label("Decoded chunk vs ground truth");
    h.get_by_label("Generated tokens");
    h.get_by_label("Depth: estimated (ZoeDepth) vs sensor");
    h.get_by_label("random weights: these outputs only exercise the pipeline");
    assert!(
        h.query_by_label_contains("decoded/true translation")
            .is_some()
    );
    // The grid panel marks the model's bin beside the ground truth's.
    h.get_by_label("Action grid").click();
    h.run_steps(3);
    h.get_by_label("magenta: model's bin");

    // The "what if the model had true depth" experiment: the camera's sensor depth.
    h.state_mut().panels.model.depth_choice = spatialscope::model::DepthChoice::Sensor;
    h.state_mut().session.model.predictions.clear();
    h.get_by_label("Model").click();
    // Steps, not run(): a spinner (frames still decoding) may keep repainting.
    h.run_steps(3);
    h.get_by_label("Run on this frame").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.predictions.contains_key(&0)),
        "prediction on sensor depth"
    );
    let p = h.state().session.model.predictions[&0].clone();
    assert!(
        p.prediction.depth_source.contains("sensor depth"),
        "{}",
        p.prediction.depth_source
    );
    assert_eq!(
        p.prediction.depth_choice,
        spatialscope::model::DepthChoice::Sensor
    );
}

#[test]
fn run_over_the_episode_and_cancel() {
    let mut h = app_harness(common::native_dir());
    assert!(run_until(&mut h, T, |a| a.session.episode.is_some()
        && a.session.model.info.is_some()));
    h.state_mut().panels.model.unnorm_key = Some("bridge_orig/1.0.0".into());
    h.get_by_label("Model").click();
    // Steps, not run(): a spinner (frames still decoding) may keep repainting.
    h.run_steps(3);
    h.get_by_label("Run over episode").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.predictions.len() >= 2),
        "a few steps predicted"
    );
    h.get_by_label("Stop the model").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.run.is_none()),
        "the run stops"
    );
    let n = h.state().session.model.predictions.len();
    let total = h.state().session.timeline.len;
    assert!(n < total, "cancelled before the end ({n} of {total})");
    // The panel says where it stopped.
    let (done, of, stopped) = h.state().session.model.last_run.expect("how the run ended");
    assert!(stopped && done < of && of == total, "{done}/{of}");
    h.run_steps(2);
    h.get_by_label_contains(&format!("episode run stopped at {done}/{total} steps"));
    // Steps are predicted in order from 0.
    let steps: Vec<usize> = h
        .state()
        .session
        .model
        .predictions
        .keys()
        .copied()
        .collect();
    assert_eq!(steps, (0..steps.len()).collect::<Vec<_>>());
}

/// Device and dtype in the panel: the label says size, dtype, device and the weights'
/// memory; bf16 + "Reload" loads the checkpoint again in bfloat16 (about half the memory,
/// ZoeDepth staying float32); a CUDA choice in a build without CUDA cannot be picked; after
/// one frame the panel says what a run over the episode will cost.
#[test]
fn reload_in_bfloat16_and_say_what_an_episode_costs() {
    let mut h = app_harness(common::native_dir());
    assert!(
        run_until(&mut h, T, common::app::startup_loaded),
        "bundled checkpoint loads"
    );
    h.get_by_label("Model").click();
    h.run_steps(3);
    let f32_info = h.state().session.model.info.clone().unwrap();
    assert_eq!(
        (f32_info.dtype.as_str(), f32_info.device.as_str()),
        ("f32", "CPU")
    );
    // The parameter count is SpatialVLA's; the bytes add ZoeDepth's float32 weights, less
    // what float32 keeps as stored bfloat16 (this checkpoint is stored bfloat16): packed
    // layers and the embedding tables, most of it, not all (norms, biases, convolutions).
    let ck =
        spatialscope::model::Checkpoint::open(&spatialscope::util::assets::default_model_path())
            .unwrap();
    let (zoe, rest) = ck.parameter_split();
    assert_eq!(rest, f32_info.parameter_count);
    let all_f32 = 4 * (zoe + rest) as u64;
    assert!(
        f32_info.weight_bytes < all_f32 * 3 / 4 && f32_info.weight_bytes > all_f32 / 2,
        "{} of {all_f32}",
        f32_info.weight_bytes
    );
    assert!(f32_info.device_note.is_none());
    let _ = h.get_by_label_contains(" · f32 · CPU · weights ");
    h.state_mut().panels.model.bf16 = true;
    h.run_steps(2);
    h.get_by_label("Reload").click();
    assert!(
        run_until(&mut h, T, |a| a
            .session
            .model
            .info
            .as_ref()
            .is_some_and(|i| i.dtype == "bf16")),
        "reloaded in bfloat16"
    );
    let bf16 = h.state().session.model.info.clone().unwrap();
    // The bfloat16 model holds the rest at 2 bytes too; ZoeDepth stays float32 in both.
    assert!(
        bf16.weight_bytes < f32_info.weight_bytes && bf16.weight_bytes > all_f32 / 2,
        "{} vs {}: ZoeDepth stays float32",
        bf16.weight_bytes,
        f32_info.weight_bytes
    );
    h.run_steps(2);
    let _ = h.get_by_label_contains("run one frame first");
    h.get_by_label("Run on this frame").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.predictions.contains_key(&0)),
        "a bf16 prediction"
    );
    h.run_steps(3);
    let _ = h.get_by_label_contains("s per step (CPU, measured on step 0)");
}
