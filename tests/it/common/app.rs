//! Driving the whole app (real worker and model threads) in egui_kittest.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use spatialscope::SpatialscopeApp;
use spatialscope::ui::settings::ViewSettings;

/// Steps the harness until `done` holds or `timeout` passes.
pub fn run_until(
    h: &mut Harness<'_, SpatialscopeApp>,
    timeout: Duration,
    done: impl Fn(&SpatialscopeApp) -> bool,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        h.step();
        if done(h.state()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The app on `path`, with default view settings.
pub fn app_harness(path: std::path::PathBuf) -> Harness<'static, SpatialscopeApp> {
    Harness::builder()
        .with_size([1400.0, 900.0])
        .build_eframe(move |cc| {
            SpatialscopeApp::new(&cc.egui_ctx, ViewSettings::default(), Some(path))
        })
}

/// Whether the loads the app starts by itself (the bundled checkpoint and depth expert on
/// the model thread) have answered, so no late message repaints the window.
pub fn startup_loaded(a: &SpatialscopeApp) -> bool {
    let m = &a.session.model;
    m.loading.is_none()
        && (m.info.is_some() || m.load_error.is_some())
        && m.expert_loading.is_none()
        && (m.expert.is_some() || m.expert_error.is_some())
}
