//! The Failures window (egui_kittest, real worker): an evaluation store made by
//! `spatialscope eval` is read on the worker, its steps listed worst first, and a click opens
//! the step's episode at that step, where the stored prediction is drawn (plots, 3-D view,
//! model panel) without running the model. A second store (B) is compared with it.

use std::path::Path;
use std::time::Duration;

use egui_kittest::kittest::Queryable;

use crate::common;
use crate::common::app::{app_harness, run_until};

/// `spatialscope eval` of the Bridge sample into `store`, recording it in the data folder
/// `data`.
fn eval_into(data: &Path, store: &Path, args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spatialscope"))
        .env("SPATIALSCOPE_DATA_DIR", data)
        .arg("eval")
        .arg(common::bridge_dir())
        .args(args)
        .arg("--out")
        .arg(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_evaluation_store_lists_steps_worst_first_and_jumps_to_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, store_b) = (tmp.path().join("store"), tmp.path().join("store_b"));
    let (data, some) = (
        common::test_data_dir(),
        ["--episodes", "1-2", "--every", "4"],
    );
    eval_into(&data, &store, &some);
    // B: the same tokens decoded with another key, so every metric moves.
    let key = ["--unnorm-key", "fractal20220817_data/0.1.0"];
    eval_into(&data, &store_b, &[&some[..], &key[..]].concat());

    let mut h = app_harness(common::bridge_dir());
    let t = Duration::from_secs(60);
    assert!(run_until(&mut h, t, |a| a.session.episode.is_some()));
    h.state_mut().failures.open = true;
    h.state_mut().failures.path_text = store.display().to_string();
    h.run_steps(3);
    h.get_by_label("Open store").click();
    assert!(
        run_until(&mut h, t, |a| a.session.stores[0].is_some()),
        "store read"
    );
    h.run_steps(3);
    let a_store = h.state().session.stores[0].clone().unwrap();
    let rows = &a_store.rows;
    assert_eq!(rows.len(), 6);
    let order = spatialscope::ui::failures_panel::sorted_rows(rows, 0, "", false);
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
            && a.session.timeline.step == worst.step as usize
            && a.session.episode.is_some()),
        "jump to {label}"
    );
    h.run_steps(3);
    // There, with no model run: the stored chunk in the plots and the model panel.
    {
        let s = &h.state().session;
        assert!(s.model.predictions.is_empty());
        let at = s.stored_rows_at(worst.step as usize);
        assert_eq!(at.len(), 1);
        assert_eq!(at[0].1.token_ids, worst.token_ids);
        let overlay = s
            .prediction_overlay()
            .expect("stored predictions are plotted");
        assert_eq!(overlay.series.len(), 1);
        let chunk_x: Vec<f64> = overlay.series[0].chunk[0].iter().map(|p| p.x).collect();
        let n = worst.predicted_actions().len();
        let want: Vec<f64> = (0..n).map(|k| (worst.step as usize + k) as f64).collect();
        assert_eq!(chunk_x, want, "the stored chunk at steps s..s+{n}");
        let firsts = &overlay.series[0].first_actions[0];
        let in_episode = rows
            .iter()
            .filter(|r| r.episode_index == worst.episode_index && !r.predicted_actions().is_empty())
            .count();
        assert_eq!(firsts.len(), in_episode);
    }
    h.get_by_label("Model").click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("stored prediction, store A")
            .is_some(),
        "the model panel shows the stored prediction"
    );

    // B, compared with A: both values per row, the summary and B's regressions.
    h.state_mut().failures.path_text_b = store_b.display().to_string();
    h.run_steps(2);
    h.get_by_label("Open B").click();
    assert!(
        run_until(&mut h, t, |a| a.session.comparison.is_some()),
        "B read and compared"
    );
    h.run_steps(3);
    let c = h.state().session.comparison.clone().unwrap();
    assert_eq!(c.shared_steps, 6);
    assert!(
        h.query_by_label_contains("B vs A on 6 shared steps")
            .is_some()
    );
    assert!(h.query_all_by_label_contains("(B ").count() >= 6);
    assert_eq!(
        h.state().session.stored_rows_at(worst.step as usize).len(),
        2
    );
    assert_eq!(
        h.state().session.prediction_overlay().unwrap().series.len(),
        2
    );
    if let Some(first) = c.metrics[0].most_worse.first() {
        let label = format!("{} step {}  (A", first.episode, first.step);
        h.get_by_label_contains(&label).click();
        assert!(
            run_until(&mut h, t, |a| a.session.timeline.step
                == first.step as usize
                && a.session.selected == Some((0, first.episode_index as usize))),
            "jump to B's regression {label}"
        );
    }
    // Closing A closes B.
    h.get_by_label("Close A").click();
    h.run_steps(2);
    assert!(h.state().session.stores.iter().all(Option::is_none));

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

/// `eval` records its store in the user's data folder; opening the dataset in the app offers
/// it, and one click opens it.
#[test]
fn a_store_evaluated_on_the_open_dataset_is_offered() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("offered_store");
    eval_into(data.path(), &store, &["--episodes", "0", "--every", "20"]);
    let found =
        spatialscope::pipeline::eval::registry::stores_for(data.path(), &common::bridge_dir());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].store, std::fs::canonicalize(&store).unwrap());
    // Another dataset has none.
    assert!(
        spatialscope::pipeline::eval::registry::stores_for(data.path(), &common::native_dir())
            .is_empty()
    );

    let mut h = app_harness(common::bridge_dir());
    h.state_mut().bookmarks.dir = data.path().to_owned();
    let t = Duration::from_secs(60);
    assert!(run_until(&mut h, t, |a| a.session.root.is_some()));
    // The harness opened the dataset before the data folder was set: look again.
    h.state_mut().find_stores();
    assert!(
        run_until(&mut h, t, |a| !a.session.store_offers.is_empty()),
        "offered"
    );
    assert!(
        h.state()
            .session
            .status
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("1 evaluation store(s)"))
    );
    h.state_mut().failures.open = true;
    h.run_steps(3);
    h.get_by_label("Open as A").click();
    assert!(run_until(&mut h, t, |a| a.session.stores[0].is_some()));
    h.run_steps(2);
    // Once open, it is no longer offered.
    assert!(h.query_by_label("Open as B").is_none());
}
