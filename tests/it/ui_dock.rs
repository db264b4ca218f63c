//! The dockable layout: every panel has a tab in the default layout, the 3-D view can be
//! maximised from the View menu and restored with Escape, a panel can be hidden and shown
//! again, and a persisted layout is validated on restore (a tree missing a panel or
//! holding one twice falls back to the default).

use std::time::Duration;

use egui_kittest::kittest::Queryable;

use crate::common;
use crate::common::app::{app_harness, run_until, startup_loaded};
use spatialscope::ui::PanelId;
use spatialscope::ui::dock::{Dock, default_tree};

#[test]
fn every_panel_has_a_tab_and_the_3d_view_maximises_and_restores() {
    let mut h = app_harness(common::native_dir());
    // The first frame, and the start-up loads answered (a late one would repaint during
    // `run()` below).
    assert!(run_until(&mut h, Duration::from_secs(30), |a| a
        .session
        .frame
        .is_some()
        && startup_loaded(a)));
    h.run_steps(2);
    for id in PanelId::ALL {
        h.get_by_label(id.title());
    }
    h.get_by_label("View").click();
    h.run();
    h.get_by_label("Maximise the 3-D view").click();
    h.run_steps(2);
    assert_eq!(h.state().dock.maximized, Some(PanelId::View3d));
    h.get_by_label("Restore layout");
    assert!(
        h.query_by_label("Episodes").is_none(),
        "only the maximised panel is drawn"
    );
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert_eq!(h.state().dock.maximized, None);
    h.get_by_label("Episodes");
}

#[test]
fn a_hidden_panel_leaves_the_layout_and_comes_back() {
    let mut h = app_harness(common::native_dir());
    assert!(run_until(&mut h, Duration::from_secs(30), |a| a
        .session
        .frame
        .is_some()));
    h.state_mut().dock.set_visible(PanelId::Plots, false);
    h.run_steps(2);
    assert!(!h.state().dock.is_visible(PanelId::Plots));
    assert!(h.query_by_label("Plots").is_none());
    // The tab sharing a container with a hidden one stays.
    h.state_mut().dock.set_visible(PanelId::Model, false);
    h.run_steps(2);
    h.get_by_label("Action grid");
    h.state_mut().dock.set_visible(PanelId::Plots, true);
    h.state_mut().dock.set_visible(PanelId::Model, true);
    h.run_steps(2);
    h.get_by_label("Plots");
    assert!(h.state().dock.is_visible(PanelId::Model));
}

#[test]
fn a_restored_layout_is_validated() {
    let good = Dock::default();
    let json = serde_json::to_string(&good).unwrap();
    let back: Dock = serde_json::from_str(&json).unwrap();
    assert!(
        back.clone().validated().tree == good.tree,
        "a saved layout restores as it was"
    );

    // Missing a panel: the default comes back.
    let mut missing = Dock::default();
    let plots = missing.tree.tiles.find_pane(&PanelId::Plots).unwrap();
    missing.tree.tiles.remove(plots);
    assert!(missing.validated().tree == default_tree());

    // A panel twice: the default too.
    let mut twice = Dock::default();
    let extra = twice.tree.tiles.insert_pane(PanelId::Model);
    let root = twice.tree.root().unwrap();
    if let Some(egui_tiles::Tile::Container(c)) = twice.tree.tiles.get_mut(root) {
        c.add_child(extra);
    }
    assert!(twice.validated().tree == default_tree());

    // Unknown JSON is not a layout at all (eframe then uses the default).
    assert!(serde_json::from_str::<Dock>(r#"{"tree": 3}"#).is_err());
}
