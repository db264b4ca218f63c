//! egui_kittest tests of the UI logic (no GPU needed: nothing is rendered).
//!
//! 1. The timeline panel on its own: arrow keys, Home/End, Space, the Play button and
//!    playback at the episode's fps.
//! 2. The whole app with its real worker on the shipped native samples: the first episode
//!    opens by itself, frames arrive for the current step, arrow keys step the timeline and
//!    the worker follows, selecting another episode replaces it, and a broken path shows an
//!    error in the status bar while the app keeps working.

use crate::common;

use crate::common::app::{app_harness, run_until};

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use spatialscope::ui::Intent;
use spatialscope::ui::settings::ViewSettings;
use spatialscope::ui::timeline::{Timeline, timeline_ui};

struct TimelineState {
    timeline: Timeline,
    speed: f32,
    changes: Vec<usize>,
}

fn timeline_harness(len: usize, fps: f64) -> Harness<'static, TimelineState> {
    Harness::builder()
        .with_size([900.0, 80.0])
        .with_step_dt(0.05)
        .build_ui_state(
            |ui, s: &mut TimelineState| {
                if let Some(step) = timeline_ui(ui, &mut s.timeline, &mut s.speed, false) {
                    s.changes.push(step);
                }
            },
            TimelineState {
                timeline: Timeline::new(len, fps),
                speed: 1.0,
                changes: Vec::new(),
            },
        )
}

#[test]
fn keys_step_and_jump() {
    let mut h = timeline_harness(10, 10.0);
    for _ in 0..3 {
        h.key_press(egui::Key::ArrowRight);
        h.run();
    }
    assert_eq!(h.state().timeline.step, 3);
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    assert_eq!(h.state().timeline.step, 2);
    h.key_press(egui::Key::End);
    h.run();
    assert_eq!(h.state().timeline.step, 9);
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert_eq!(h.state().timeline.step, 9, "clamped at the last step");
    h.key_press(egui::Key::Home);
    h.run();
    assert_eq!(h.state().timeline.step, 0);
    assert_eq!(h.state().changes, [1, 2, 3, 2, 9, 0]);
}

#[test]
fn play_button_plays_at_the_dataset_fps_and_stops_at_the_end() {
    // 10 fps with 0.05 s frames: one step every two frames.
    let mut h = timeline_harness(6, 10.0);
    h.get_by_label("Play").click();
    h.step();
    assert!(h.state().timeline.playing);
    for _ in 0..4 {
        h.step();
    }
    let s = h.state().timeline.step;
    assert!(
        (2..=3).contains(&s),
        "after ~0.25 s at 10 fps the step is {s}"
    );
    for _ in 0..20 {
        h.step();
    }
    assert_eq!(h.state().timeline.step, 5);
    assert!(!h.state().timeline.playing, "stops at the end");
    // Space toggles playback (and restarts from the end).
    h.key_press(egui::Key::Space);
    h.step();
    assert!(h.state().timeline.playing);
    assert!(h.state().timeline.step <= 1);
}

/// Steps the harness until `done` holds or `timeout` passes (the worker is a real thread).
#[test]
fn the_app_opens_the_samples_and_follows_the_timeline() {
    let mut h = app_harness(common::native_dir());
    let t = Duration::from_secs(30);
    assert!(
        run_until(&mut h, t, |a| a.session.episode.is_some()
            && a.session.frame.as_ref().is_some_and(|f| f.step == 0)),
        "first episode and its first frame"
    );
    {
        let app = h.state();
        assert_eq!(app.session.datasets.len(), 1);
        assert_eq!(app.session.datasets[0].summaries.len(), 3);
        let ep = app.session.episode.as_ref().expect("episode");
        assert_eq!(ep.instruction, "pick up the red cube");
        assert_eq!(app.session.timeline.len, 46);
        assert_eq!(app.session.timeline.fps, 20.0);
        let f = app.session.frame.as_ref().expect("frame");
        assert_eq!(f.cameras.len(), 2);
        assert!(
            f.cameras
                .iter()
                .all(|c| c.rgb.is_ok() && c.depth.as_ref().is_some_and(Result::is_ok))
        );
    }
    // The instruction is always on screen.
    h.get_by_label("“pick up the red cube”");

    h.key_press(egui::Key::ArrowRight);
    h.key_press(egui::Key::ArrowRight);
    assert!(
        run_until(&mut h, t, |a| a
            .session
            .frame
            .as_ref()
            .is_some_and(|f| f.step == 2)),
        "frame for step 2"
    );
    assert_eq!(h.state().session.timeline.step, 2);

    // Select the third episode from the list.
    h.get_by_label_contains("pick up the red can").click();
    assert!(
        run_until(&mut h, t, |a| a
            .session
            .episode
            .as_ref()
            .is_some_and(|e| e.num_steps() == 66)
            && a.session.frame.is_some()),
        "third episode"
    );
    assert_eq!(h.state().session.timeline.step, 0);
    assert_eq!(h.state().session.selected, Some((0, 2)));
}

#[test]
fn a_bad_path_is_reported_and_the_app_keeps_working() {
    let mut h = app_harness(common::native_dir());
    assert!(run_until(&mut h, Duration::from_secs(30), |a| a
        .session
        .frame
        .is_some()));
    let missing = std::env::temp_dir().join("spatialscope-no-such-dataset");
    let ctx = h.ctx.clone();
    h.state_mut().open_for_test(Intent::Open(missing), &ctx);
    // The error and the end of the "opening" progress may arrive in different frames.
    assert!(run_until(&mut h, Duration::from_secs(30), |a| !a
        .session
        .status
        .errors
        .is_empty()
        && !a.is_busy()));
    h.run_steps(2);
    let err = &h.state().session.status.errors[0];
    assert!(
        err.message.contains("spatialscope-no-such-dataset"),
        "{}",
        err.message
    );
    // The status bar shows it (the label is "Error: <message naming the path>").
    h.get_by_label_contains("Error: ");
    // Still usable: the open episode stays and stepping works.
    h.key_press(egui::Key::ArrowRight);
    assert!(run_until(&mut h, Duration::from_secs(30), |a| a
        .session
        .frame
        .as_ref()
        .is_some_and(|f| f.step == 1)));
}

/// An in-memory eframe storage.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn view_settings_persist_through_eframe_storage() {
    let mut h = app_harness(common::native_dir());
    h.state_mut().session.settings.show_depth = false;
    h.state_mut().session.settings.playback_speed = 2.5;
    h.state_mut().session.settings.loop_playback = true;
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let restored: ViewSettings =
        eframe::get_value(&storage, spatialscope::ui::settings::STORAGE_KEY)
            .expect("saved under the versioned key");
    assert!(!restored.show_depth && restored.loop_playback);
    assert_eq!(restored.playback_speed, 2.5);
    // The layout is persisted too, and restores to the same tree.
    let dock: spatialscope::ui::dock::Dock =
        eframe::get_value(&storage, spatialscope::ui::dock::STORAGE_KEY)
            .expect("the layout under its versioned key");
    assert!(dock.tree == h.state().dock.tree);
    // Data is never persisted: only the settings and the layout keys exist.
    assert_eq!(storage.0.len(), 2);
}

#[test]
fn the_grid_panel_reads_the_current_action_with_the_dataset_key() {
    let mut h = app_harness(common::bridge_dir());
    assert!(
        run_until(&mut h, Duration::from_secs(30), |a| a
            .session
            .grid
            .is_some()
            && a.session.frame.is_some()),
        "grid and first frame"
    );
    h.run_steps(2);
    assert_eq!(
        h.state().session.stats_choice,
        spatialscope::ui::grid_panel::StatsChoice::Key("bridge_orig/1.0.0".into()),
        "Bridge episodes use SpatialVLA's bridge_orig statistics"
    );
    // Step 1 of record 0: the golden action_step1; its tokens are on screen.
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    let cfg = h.state().session.grid.clone().expect("grid");
    let ep = h.state().session.episode.clone().expect("episode");
    let raw: Vec<f64> = ep.actions.values[1].iter().map(|&v| f64::from(v)).collect();
    let r = spatialscope::action_grid::read_action(
        &cfg.grid,
        &cfg.layout,
        cfg.stats("bridge_orig/1.0.0").expect("key"),
        &raw,
    )
    .expect("read");
    h.get_by_label_contains(&format!(
        "tokens {} {} {}",
        r.tokens[0], r.tokens[1], r.tokens[2]
    ));
    h.get_by_label_contains("quantisation: direction");
}

#[test]
fn native_episodes_fall_back_to_their_own_statistics() {
    let mut h = app_harness(common::native_dir());
    assert!(run_until(&mut h, Duration::from_secs(30), |a| a
        .session
        .grid
        .is_some()
        && a.session.frame.is_some()));
    h.run_steps(2);
    assert_eq!(
        h.state().session.stats_choice,
        spatialscope::ui::grid_panel::StatsChoice::Episode
    );
    h.get_by_label_contains("quantisation: direction");
}

#[test]
fn the_distribution_is_computed_on_the_worker_and_shown() {
    let mut h = app_harness(common::bridge_dir());
    assert!(run_until(&mut h, Duration::from_secs(30), |a| a
        .session
        .grid
        .is_some()
        && a.session.frame.is_some()));
    h.get_by_label("Action distribution of this dataset…")
        .click();
    // Opening the window starts the computation (no "Compute" click needed).
    assert!(
        run_until(&mut h, Duration::from_secs(60), |a| a
            .distribution
            .result
            .is_some()),
        "distribution result"
    );
    h.run_steps(2);
    let (ds, d) = h.state().distribution.result.clone().expect("result");
    assert_eq!(ds, 0);
    assert_eq!((d.actions, d.episodes), (250, 25));
    assert_eq!(d.statistics, "bridge_orig/1.0.0");
    // Raw Bridge: step 0 of every episode is a no-op (|v| ~ 1e-7).
    assert!(
        d.idle.iter().all(|e| e.idle_steps.first() == Some(&0)),
        "{:?}",
        d.idle
    );
    h.get_by_label_contains("a no-op filter would remove");
    h.get_by_label_contains("250 actions in 25 episodes");
    // The refit preview compares the released grid with this dataset's own.
    let refit = d.refit.as_ref().expect("refit");
    assert_eq!(refit.axes.len(), 6);
    assert!(
        refit
            .axes
            .iter()
            .all(|a| a.refit_edges.len() == a.current_edges.len())
    );
    h.get_by_label_contains("The grid this dataset would get");
}

/// "As the model sees it" enlarges the points for the sparse Ego3D samples and gives the size
/// back when turned off; a size the user picked meanwhile is kept.
#[test]
fn the_model_view_toggle_restores_the_point_size() {
    use spatialscope::ui::view3d::{MODEL_VIEW_POINT_PX, View3dState, camera_toggles_ui};
    let mut h = Harness::builder().with_size([900.0, 60.0]).build_ui_state(
        |ui, s: &mut View3dState| {
            camera_toggles_ui(ui, s, &[(0, "agentview")]);
        },
        View3dState::default(),
    );
    assert_eq!(h.state().point_size_px, 3.0);
    h.get_by_label("as the model sees it").click();
    h.run();
    assert_eq!(h.state().point_size_px, MODEL_VIEW_POINT_PX);
    h.get_by_label("as the model sees it").click();
    h.run();
    assert_eq!(h.state().point_size_px, 3.0);
    // On, then the user picks 5 px: turning it off keeps 5.
    h.get_by_label("as the model sees it").click();
    h.run();
    h.state_mut().point_size_px = 5.0;
    h.get_by_label("as the model sees it").click();
    h.run();
    assert_eq!(h.state().point_size_px, 5.0);
}

/// File > Open path… opens a dataset from a typed path (what the app also offers when no
/// file dialog can open).
#[test]
fn a_typed_path_opens_a_dataset_without_a_dialog() {
    let mut h = app_harness(common::native_dir());
    let t = Duration::from_secs(30);
    assert!(run_until(&mut h, t, |a| a.session.episode.is_some()));
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open path…").click();
    h.run_steps(2);
    assert!(h.state().path_prompt.is_some());
    h.state_mut().path_prompt.as_mut().unwrap().text = common::bridge_dir().display().to_string();
    h.run_steps(2);
    h.get_by_label("OK").click();
    assert!(
        run_until(&mut h, t, |a| a.path_prompt.is_none()
            && a.session
                .datasets
                .first()
                .is_some_and(|d| d.name.contains("bridge"))),
        "the typed path opened"
    );
}
