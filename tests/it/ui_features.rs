//! The "Features" panel through the whole app, with the real model thread: the tiny SPA
//! loads from the panel (bad weights give an error and the app goes on), "Compute on this
//! frame" gives SigLIP's and SPA's maps side by side, "on every step" follows the timeline
//! and a change of encoder, the 3-D view's patch-colour mode takes the pane's colours
//! (sampled onto the model's 16 x 16 grid), and the probe runs over the episode in pieces
//! with progress and a report.

use crate::common;

use std::time::Duration;

use crate::common::app::{app_harness, run_until, startup_loaded};
use egui_kittest::kittest::Queryable;
use spatialscope::pipeline::probe::view::FeatureSource;
use spatialscope::render::ColorMode;
use spatialscope::ui::feature_session::CloudPatchColours;

const T: Duration = Duration::from_secs(120);

#[test]
fn feature_maps_side_by_side_lifted_onto_the_cloud_and_the_probe() {
    let mut h = app_harness(common::native_dir());
    assert!(
        run_until(&mut h, T, |a| a.session.episode.is_some()
            && startup_loaded(a)),
        "episode and bundled checkpoint load"
    );
    h.get_by_label("Features").click();
    h.run_steps(3);

    // SPA chosen: its weights field appears; bad weights name the problem.
    h.state_mut().panels.features.second = Some(FeatureSource::Spa);
    h.state_mut().panels.features.spa_weights = common::native_dir().display().to_string();
    h.run_steps(2);
    h.get_by_label("Load").click();
    assert!(
        run_until(&mut h, T, |a| a.session.features.spa_error.is_some()),
        "SPA load error"
    );
    h.state_mut().panels.features.spa_weights = spatialscope::util::assets::default_spa_path()
        .display()
        .to_string();
    h.run_steps(2);
    h.get_by_label("Load").click();
    assert!(
        run_until(&mut h, T, |a| a.session.features.spa.is_some()),
        "the tiny SPA loads"
    );
    h.run_steps(2);
    h.get_by_label("Compute on this frame").click();
    assert!(
        run_until(&mut h, T, |a| a.session.features.views.contains_key(&0)),
        "features of step 0"
    );
    h.run_steps(3);
    let v = h.state().session.features.views[&0].1.clone();
    assert_eq!(v.panes.len(), 2);
    assert_eq!(
        (v.panes[0].label.as_str(), v.panes[0].side),
        ("SpatialVLA siglip", 16)
    );
    assert_eq!(
        (v.panes[1].label.as_str(), v.panes[1].side),
        ("SPA ViT", 14)
    );

    // The 3-D view takes the SPA pane's colours on the model's grid.
    h.state_mut().session.features.cloud_colours = CloudPatchColours::Second;
    h.run_steps(1);
    h.get_by_label("apply").click();
    h.run_steps(3);
    let a = h.state();
    assert_eq!(a.session.features.cloud_colours, CloudPatchColours::Second);
    assert_eq!(a.panels.view3d.state.color_mode, ColorMode::PatchColours);
    let values = a.session.patch_values(ColorMode::PatchColours).unwrap();
    assert_eq!(values.len(), 256);
    // Model patch (row 15, column 0) lies in SPA patch (13, 0).
    let rgb = v.panes[1].colours[13 * 14];
    let packed = values[15 * 16].to_bits();
    assert_eq!(
        [packed & 255, (packed >> 8) & 255, (packed >> 16) & 255],
        rgb.map(u32::from)
    );

    // Following the timeline (and the settings): a new step gets its maps by itself.
    h.state_mut().panels.features.second = None;
    h.state_mut().panels.features.follow = true;
    h.state_mut().session.timeline.step = 4;
    assert!(
        run_until(&mut h, T, |a| a
            .session
            .features
            .views
            .get(&4)
            .is_some_and(|(_, v)| v.panes.len() == 1)),
        "features of step 4 follow"
    );
    h.state_mut().panels.features.follow = false;

    // The probe over the episode, one frame at a time.
    h.state_mut().panels.features.probe_every = 4;
    h.run_steps(2);
    h.get_by_label("Probe this episode").click();
    assert!(
        run_until(&mut h, T, |a| a.session.features.probe.is_some()
            || a.session.features.run_error.is_some()),
        "the probe finishes"
    );
    let f = &h.state().session.features;
    assert!(f.run_error.is_none(), "{:?}", f.run_error);
    let r = f.probe.as_ref().unwrap();
    assert!(r.random_weights);
    assert_eq!(r.layers[0].layer, "siglip");
    assert!(r.frames.len() >= 5);
    h.run_steps(3);
}
