//! The Doctor in the app (egui_kittest, real worker thread): run from the window, findings
//! grouped by check, a click on a finding opens its episode at its step with the plots
//! marking it, badges and the "only flagged" filter in the episode list.

use std::time::Duration;

use egui_kittest::kittest::Queryable;

use crate::common;
use crate::common::app::{app_harness, run_until};

#[test]
fn the_doctor_runs_in_the_app_and_jumps_to_a_finding() {
    // A copy of the native sample whose episode 1 has an outlier at step 10.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sim_native");
    common::copy_dir(&common::native_dir(), &root);
    let p = root.join("episode_001/episode.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["frames"][10]["action_7d"][1] = 2.0.into();
    std::fs::write(&p, v.to_string()).unwrap();

    let mut h = app_harness(root);
    let t = Duration::from_secs(60);
    assert!(run_until(&mut h, t, |a| a.session.grid.is_some()
        && a.session.episode.is_some()));
    h.state_mut().doctor.open = true;
    h.run_steps(3);
    h.get_by_label("Check dataset").click();
    assert!(
        run_until(&mut h, t, |a| a.session.doctor.is_some()),
        "doctor result"
    );
    h.run_steps(3);
    let (ds, result) = h.state().session.doctor.clone().expect("result");
    assert_eq!(ds, 0);
    assert!(
        result
            .findings
            .iter()
            .any(|f| f.check == "values.outlier" && f.episodes == [1])
    );
    // The window groups by check; the list offers the filter and badges flagged rows.
    h.get_by_label_contains("warning values.outlier (1)");
    h.get_by_label_contains("only flagged episodes (1 in sim_native)");
    // Jump: episode 1 opens at step 10 and the plots mark dy there.
    h.get_by_label("episode 1 @ 10").click();
    assert!(
        run_until(&mut h, t, |a| a.session.selected == Some((0, 1))
            && a.session
                .episode
                .as_ref()
                .is_some_and(|e| e.num_steps() == 52)
            && a.session.timeline.step == 10),
        "episode 1 at step 10"
    );
    let hl = h.state().session.highlight.clone().expect("highlight");
    assert_eq!((hl.steps, hl.dims), (Some((10, 10)), vec!["dy".to_owned()]));
    // The filter leaves only the flagged episode in the list (the window closed first: it
    // floats over the list).
    h.state_mut().doctor.open = false;
    h.run_steps(3);
    h.get_by_label_contains("only flagged episodes").click();
    h.run_steps(3);
    assert!(h.state().panels.episodes.list.only_flagged);
    assert!(h.query_by_label_contains("pick up the red can").is_none());
    h.get_by_label_contains("52 steps  ·  2 cam");
}
