//! Exports from the app, through its real worker: the open episode saved as a Rerun
//! recording (the status bar reports it; the file is complete under its final name; with
//! "frames as JPEG" the frames go in as JPEG and the file shrinks), the
//! 3-D view saved as a PNG at a chosen resolution (rendered offscreen), and both refused
//! inside the dataset folder with an error while the app keeps working.

use crate::common;

use std::time::Duration;

use crate::common::app::{app_harness, run_until};
use spatialscope::render::{OrbitCamera, PointUniforms};
use spatialscope::worker::export::RecordingTarget;

const T: Duration = Duration::from_secs(60);

#[test]
fn save_recording_and_png_from_the_app() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = app_harness(common::native_dir());
    assert!(run_until(&mut h, T, |a| a.session.episode.is_some()
        && a.session.frame.as_ref().is_some_and(|f| f.scene.is_some())));

    // Exports to `path` and waits for the status bar to say so; returns the file's size.
    let export = |h: &mut egui_kittest::Harness<'_, spatialscope::app::SpatialscopeApp>,
                  path: &std::path::Path| {
        h.state_mut().session.status.notice = None;
        h.state_mut()
            .export_recording(RecordingTarget::File(path.to_path_buf()));
        assert!(run_until(h, T, |a| a
            .session
            .status
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("exported"))));
        std::fs::metadata(path).unwrap().len()
    };
    let rrd = tmp.path().join("ep.rrd");
    export(&mut h, &rrd);
    let png_size = std::fs::metadata(&rrd).unwrap().len();
    assert!(png_size > 100_000);
    assert!(!tmp.path().join("ep.rrd.partial").exists());

    // File > "frames as JPEG": the same episode, its PNG frames stored as JPEG.
    h.state_mut().export_jpeg = true;
    let jpeg_size = export(&mut h, &tmp.path().join("ep_jpeg.rrd"));
    assert!(
        jpeg_size * 10 < png_size * 6,
        "JPEG {jpeg_size} B vs PNG {png_size} B"
    );

    let png = tmp.path().join("view.png");
    let cloud = h
        .state()
        .session
        .frame
        .as_ref()
        .unwrap()
        .scene
        .clone()
        .unwrap()
        .cloud;
    let u = PointUniforms::for_view(
        &OrbitCamera::at_distance(cloud.median, 1.0),
        &cloud,
        [400, 300],
        3.0,
        spatialscope::render::ColorMode::Rgb,
    );
    h.state_mut().save_view_png(png.clone(), u, [400, 300]);
    let done = run_until(&mut h, T, |a| {
        a.session
            .status
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("saved the 3-D view"))
            || !a.session.status.errors.is_empty()
    });
    assert!(done);
    let errors: Vec<String> = h
        .state()
        .session
        .status
        .errors
        .iter()
        .map(|e| e.message.clone())
        .collect();
    if errors.iter().any(|e| e.contains("no GPU adapter")) {
        common::skip_without_gpu("the saved PNG", &format!("{errors:?}"));
    } else {
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            image::open(&png).unwrap().to_rgba8().dimensions(),
            (400, 300)
        );
    }

    // Never into the dataset.
    let inside = common::native_dir().join("nope.rrd");
    h.state_mut()
        .export_recording(RecordingTarget::File(inside.clone()));
    assert!(run_until(&mut h, T, |a| a
        .session
        .status
        .errors
        .iter()
        .any(|e| e.message.contains("never writes into datasets"))));
    assert!(!inside.exists());
    // Still working: stepping shows the next frame.
    h.state_mut().open_for_test(
        spatialscope::ui::Intent::StepChanged(3),
        &egui::Context::default(),
    );
    assert!(run_until(&mut h, T, |a| a
        .session
        .frame
        .as_ref()
        .is_some_and(|f| f.step == 3)));
}
