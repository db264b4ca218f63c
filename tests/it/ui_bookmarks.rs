//! Bookmarks (egui_kittest, real worker): B marks the current step, the file in the user's
//! data folder keeps it across a restart, a click jumps back to it, an export writes CSV,
//! JSON and LeRobot's episode list, and nothing is written into the dataset.

use std::time::Duration;

use egui_kittest::kittest::Queryable;

use crate::common;
use crate::common::app::{app_harness, run_until};

#[test]
fn bookmarks_survive_a_restart_and_stay_out_of_the_dataset() {
    let data = tempfile::tempdir().unwrap();
    let ds_tmp = tempfile::tempdir().unwrap();
    let ds = ds_tmp.path().join("sim_native");
    common::copy_dir(&common::native_dir(), &ds);
    let before = common::snapshot_tree(&ds);
    let t = Duration::from_secs(60);
    {
        let mut h = app_harness(ds.clone());
        h.state_mut().bookmarks.dir = data.path().to_owned();
        h.state_mut().reload_bookmarks();
        assert!(run_until(&mut h, t, |a| a.session.episode.is_some()
            && a.bookmarks.loaded));
        for _ in 0..3 {
            h.key_press(egui::Key::ArrowRight);
        }
        h.state_mut().bookmarks.tag = "slip".into();
        h.run_steps(2);
        h.key_press(egui::Key::B);
        let file = data.path().join("bookmarks.json");
        assert!(
            run_until(&mut h, t, |_| std::fs::read_to_string(&file)
                .is_ok_and(|s| s.contains("\"step\": 3"))),
            "bookmark written"
        );
    }
    // A new app on the same data folder has it, and jumps to it.
    let mut h = app_harness(ds.clone());
    h.state_mut().bookmarks.dir = data.path().to_owned();
    h.state_mut().reload_bookmarks();
    assert!(run_until(&mut h, t, |a| a.bookmarks.loaded
        && a.session.episode.is_some()));
    let all = h.state().bookmarks.all.clone();
    let list = all.values().next().expect("one dataset's bookmarks");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].episode_index, list[0].step, list[0].tag.as_str()),
        (0, 3, "slip")
    );
    h.state_mut().bookmarks.open = true;
    h.run_steps(3);
    h.get_by_label_contains("step 3  [slip]").click();
    assert!(run_until(&mut h, t, |a| a.session.timeline.step == 3));
    // Export next to the data folder; an export into the dataset is refused.
    let out = data.path().join("export");
    h.state_mut().bookmarks.export_dir = out.display().to_string();
    h.run_steps(2);
    h.get_by_label("Export").click();
    assert!(run_until(&mut h, t, |_| out
        .join("bookmarks_lerobot.txt")
        .is_file()));
    assert_eq!(
        std::fs::read_to_string(out.join("bookmarks_lerobot.txt")).unwrap(),
        "[0]\n"
    );
    assert!(
        std::fs::read_to_string(out.join("bookmarks.csv"))
            .unwrap()
            .contains(",3,slip,")
    );
    // And a Rerun recording of the bookmarked step (its content: rerun_export.rs).
    assert!(run_until(&mut h, t, |a| a
        .session
        .status
        .notice
        .as_deref()
        .is_some_and(|n| n.contains("1 Rerun recordings"))));
    let rrd: Vec<_> = std::fs::read_dir(out.join("bookmarks_rrd"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(rrd.len(), 1);
    assert!(rrd[0].path().extension().is_some_and(|e| e == "rrd"));
    h.state_mut().bookmarks.export_dir = ds.join("exports").display().to_string();
    h.run_steps(2);
    h.get_by_label("Export").click();
    assert!(run_until(&mut h, t, |a| !a
        .session
        .status
        .errors
        .is_empty()));
    drop(h);
    assert_eq!(
        common::snapshot_tree(&ds),
        before,
        "the dataset folder changed"
    );
}
