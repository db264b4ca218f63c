//! The "Depth experts" panel through the whole app, with the real model thread: the bundled
//! tiny Depth Anything V2 loads at start and again from the panel, "Compare on this frame" yields the raw depth
//! against both experts (the same alignment the pipeline computes directly), the 3-D view
//! switches to the expert-over-raw cloud, "on every step" follows the timeline, and bad
//! weights give an error while the app keeps running.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use crate::common::app::{app_harness, run_until};
use egui_kittest::kittest::Queryable;
use spatialscope::geometry::depth_align::AlignSpace;
use spatialscope::scene::expert_view::ExpertCloud;

const T: Duration = Duration::from_secs(90);

#[test]
fn compare_raw_depth_with_experts_and_show_it_in_3d() {
    let lift = common::repo().join("sample_episodes/sim_rlbench/lift");
    let mut h = app_harness(lift.clone());
    assert!(
        run_until(&mut h, T, |a| a.session.episode.is_some()
            && a.session.model.info.is_some()),
        "episode and bundled checkpoint load"
    );
    h.get_by_label("Depth experts").click();
    h.run_steps(3);
    // The bundled tiny Depth Anything V2 loads by itself, labelled as random.
    assert!(
        run_until(&mut h, T, |a| a.session.model.expert.is_some()),
        "the bundled expert loads at start"
    );

    // Bad weights: an error naming the file, the app goes on.
    h.state_mut().panels.experts.weights = lift.join("variation0").display().to_string();
    h.get_by_label("Load").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.expert_error.is_some()),
        "load error"
    );
    assert!(
        h.state()
            .session
            .model
            .expert_error
            .as_ref()
            .unwrap()
            .message
            .contains("safetensors")
    );

    h.state_mut().panels.experts.weights = spatialscope::util::assets::default_depth_expert_path()
        .display()
        .to_string();
    h.state_mut().panels.experts.input_size = 140;
    h.get_by_label("Load").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.expert.is_some()),
        "the bundled tiny Depth Anything V2 loads"
    );
    h.run_steps(2);
    h.get_by_label("Compare on this frame").click();
    assert!(
        run_until(&mut h, T, |a| a.session.model.expert_views.contains_key(&0)),
        "comparison of step 0"
    );
    h.run_steps(3);
    let v = h.state().session.model.expert_views[&0].clone();
    assert_eq!(v.camera_name, "front", "the first camera with depth");
    assert_eq!(v.experts.len(), 2);
    assert_eq!(v.experts[0].name, "depth-anything-v2");
    assert_eq!(v.experts[1].name, "zoedepth");
    let s0 = v.experts[0].summary.expect("aligned to the raw depth");
    assert_eq!(s0.alignment.space, AlignSpace::InverseDepth);
    assert_eq!(
        v.experts[1].summary.unwrap().alignment.space,
        AlignSpace::Depth
    );
    assert!(v.raw_cloud.is_some() && v.experts[0].overlay.is_some());

    // The same numbers as the pipeline on the same frame.
    let ds = spatialscope::episode::open_path(&lift).unwrap();
    let ep = ds.datasets[0]
        .open_episode(
            0,
            &Arc::new(spatialscope::episode::FrameCache::new(1 << 26)),
        )
        .unwrap();
    let model = spatialscope::model::depth_anything::DepthAnythingV2::load(
        &spatialscope::util::assets::default_depth_expert_path(),
        None,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let rgb = ep.rgb(0, v.camera).unwrap();
    let raw = ep.depth(0, v.camera).unwrap().unwrap();
    let run = spatialscope::pipeline::depth_expert::run_depth_anything(
        &model,
        &rgb,
        140,
        (raw.width_px as usize, raw.height_px as usize),
    )
    .unwrap();
    let direct = spatialscope::pipeline::depth_expert::compare_with_raw(run, Some(&raw), 0.1);
    assert_eq!(direct.summary.unwrap().alignment, s0.alignment);

    // The 3-D view: expert over raw.
    h.get_by_label("depth-anything-v2 (orange) over raw (blue)")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().session.expert_cloud, ExpertCloud::Both(0));
    let shown = h.state().session.shown_cloud().unwrap();
    assert!(Arc::ptr_eq(&shown, v.experts[0].overlay.as_ref().unwrap()));

    // Following the timeline.
    h.state_mut().panels.experts.follow = true;
    h.state_mut().session.timeline.step = 2;
    assert!(
        run_until(&mut h, T, |a| a.session.model.expert_views.contains_key(&2)),
        "comparison follows the step"
    );
}
