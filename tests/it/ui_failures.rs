//! The Failures window (egui_kittest, real worker): an evaluation store made by
//! `spatialscope eval` is read on the worker, its steps listed worst first, and a click opens
//! the step's episode at that step.

use std::time::Duration;

use egui_kittest::kittest::Queryable;

use crate::common;
use crate::common::app::{app_harness, run_until};

#[test]
fn an_evaluation_store_lists_steps_worst_first_and_jumps_to_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spatialscope"))
        .arg("eval")
        .arg(common::bridge_dir())
        .args(["--episodes", "1-2", "--every", "4", "--out"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut h = app_harness(common::bridge_dir());
    let t = Duration::from_secs(60);
    assert!(run_until(&mut h, t, |a| a.session.episode.is_some()));
    h.state_mut().failures.open = true;
    h.state_mut().failures.path_text = store.display().to_string();
    h.run_steps(3);
    h.get_by_label("Open store").click();
    assert!(
        run_until(&mut h, t, |a| a.failures.store.is_some()),
        "store read"
    );
    h.run_steps(3);
    let rows = h.state().failures.store.as_ref().unwrap().2.clone();
    assert_eq!(rows.len(), 6);
    let order = spatialscope::ui::failures_panel::sorted_rows(&rows, 0, "", false);
    let worst = &rows[order[0]];
    assert!(
        order
            .windows(2)
            .all(|w| rows[w[0]].first_translation_l2 >= rows[w[1]].first_translation_l2)
    );
    // The worst row is listed with its value and opens its episode at its step.
    let label = format!("{} step {}", worst.episode, worst.step);
    h.get_by_label_contains(&label).click();
    assert!(
        run_until(&mut h, t, |a| a.session.selected
            == Some((0, worst.episode_index as usize))
            && a.session.timeline.step == worst.step as usize),
        "jump to {label}"
    );
    // A folder that is no store is an error in the status bar; the app keeps working.
    h.state_mut().failures.path_text = tmp.path().display().to_string();
    h.run_steps(2);
    h.get_by_label("Open store").click();
    assert!(run_until(&mut h, t, |a| a
        .session
        .status
        .errors
        .iter()
        .any(|e| e.message.contains("no store.json"))));
}
