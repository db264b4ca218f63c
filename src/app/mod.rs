//! The eframe application: lifecycle, the session store, message handling, intents and the
//! layout.
//!
//! The app never reads files, decodes frames or runs the model: it sends commands to the
//! frame and model workers and applies their messages to the [`Session`] at the start of
//! every frame ([`messages`], [`model`]). Panels draw from the session and return
//! [`Intent`]s, which [`intents`] turns into session changes and commands. [`layout`] draws
//! the fixed chrome (menu, instruction, timeline, status) around the dockable panels.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use crate::ui::distribution_panel::DistributionState;

/// A dialog that answers "nothing chosen" faster than this could not open at all (no portal
/// or zenity); the app then asks for a typed path instead of doing nothing.
pub(crate) const DIALOG_FAILED_WITHIN: std::time::Duration = std::time::Duration::from_millis(400);
use crate::ui::dock::Dock;
use crate::ui::settings::ViewSettings;
use crate::ui::{Intent, Panels, Session};
use crate::worker::{Command, ModelHandle, WorkerHandle};

mod experts;
mod exports;
mod features;
mod intents;
mod layout;
mod messages;
mod model;

/// The whole app: the session (data, as the workers deliver it), the panels' view state,
/// the layout, and the handles on the background threads.
pub struct SpatialscopeApp {
    pub session: Session,
    pub panels: Panels,
    pub dock: Dock,
    /// The action-distribution window (floating, outside the dock).
    pub distribution: DistributionState,
    /// The Doctor window (floating, outside the dock).
    pub doctor: crate::ui::doctor_panel::DoctorState,
    /// The Failures window (an evaluation store).
    pub failures: crate::ui::failures_panel::FailuresState,
    /// The step last asked of the frame worker and when (the status bar's "step ready in").
    step_asked: Option<(usize, std::time::Instant)>,
    /// The Bookmarks window and every bookmark.
    pub bookmarks: crate::ui::bookmarks_panel::BookmarksState,
    worker: WorkerHandle,
    /// The model thread (inference never runs on the UI or frame worker threads).
    model: ModelHandle,
    /// Native dialogs run on their own threads; their answers arrive here.
    picker: Option<Receiver<Option<PathBuf>>>,
    model_picker: Option<Receiver<Option<PathBuf>>>,
    pending_save: Option<exports::PendingSave>,
    /// When the open/model dialogs were shown (an immediate empty answer means none could).
    picker_started: Option<std::time::Instant>,
    /// A typed path in place of a file dialog.
    pub path_prompt: Option<crate::ui::path_prompt::PathPrompt>,
    /// Rerun exports store frames that are not already JPEG as JPEG (File menu).
    pub export_jpeg: bool,
}

impl SpatialscopeApp {
    /// Creates the app and asks the worker to open `path` (if any).
    pub fn new(ctx: &egui::Context, settings: ViewSettings, path: Option<PathBuf>) -> Self {
        Self::with_layout(ctx, settings, Dock::default(), path)
    }

    fn with_layout(
        ctx: &egui::Context,
        settings: ViewSettings,
        dock: Dock,
        path: Option<PathBuf>,
    ) -> Self {
        let repaint_ctx = ctx.clone();
        let worker = crate::worker::frames::spawn(Arc::new(move || repaint_ctx.request_repaint()));
        let model_ctx = ctx.clone();
        let model = ModelHandle::spawn(Arc::new(move || model_ctx.request_repaint()));
        let mut app = Self {
            session: Session::new(settings),
            panels: Panels::default(),
            dock: dock.validated(),
            distribution: DistributionState::default(),
            doctor: Default::default(),
            failures: Default::default(),
            step_asked: None,
            bookmarks: Default::default(),
            worker,
            model,
            picker: None,
            model_picker: None,
            pending_save: None,
            picker_started: None,
            path_prompt: None,
            export_jpeg: false,
        };
        app.apply(
            Intent::LoadModel(crate::util::assets::default_model_path()),
            ctx,
        );
        // The bundled tiny Depth Anything V2 (labelled random) until the user loads weights.
        app.apply(
            Intent::LoadExpert(crate::util::assets::default_depth_expert_path()),
            ctx,
        );
        app.worker
            .send(Command::LoadGrid(crate::util::assets::default_grid_path()));
        if let Some(p) = path {
            app.apply(Intent::Open(p), ctx);
        }
        app
    }

    /// Creates the app from eframe's creation context, restoring the persisted view
    /// settings and layout (each validated, else the defaults).
    pub fn from_creation_context(cc: &eframe::CreationContext<'_>, path: Option<PathBuf>) -> Self {
        let settings: ViewSettings = cc
            .storage
            .and_then(|s| eframe::get_value(s, crate::ui::settings::STORAGE_KEY))
            .unwrap_or_default();
        let dock: Dock = cc
            .storage
            .and_then(|s| eframe::get_value(s, crate::ui::dock::STORAGE_KEY))
            .unwrap_or_default();
        let path = path.or_else(|| settings.last_path.clone().filter(|p| p.exists()));
        let mut app = Self::with_layout(&cc.egui_ctx, settings, dock, path);
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            app.register_renderer(rs);
        }
        app
    }

    /// Creates the 3-D point renderer in egui_wgpu's callback resources. A device that
    /// cannot run it (no storage buffers in the vertex stage or no compute, as on a WebGL2-
    /// level GL backend), or whose pipelines fail to build, leaves the 3-D view off with a
    /// log line instead of failing.
    pub fn register_renderer(&mut self, rs: &egui_wgpu::RenderState) {
        if let Some(why) = crate::render::renderer::unsupported(&rs.device.limits()) {
            log::warn!("3-D view off on {:?}: {why}", rs.adapter.get_info().name);
            return;
        }
        let scope = rs.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let renderer = crate::render::PointRenderer::new(&rs.device, rs.target_format);
        if let Some(e) = pollster::block_on(scope.pop()) {
            log::warn!("3-D view off: its pipelines failed to build: {e}");
            return;
        }
        rs.renderer.write().callback_resources.insert(renderer);
        self.panels.view3d.state.gpu_available = true;
    }

    /// True while the worker has work in flight (tests wait on this).
    pub fn is_busy(&self) -> bool {
        self.session.status.progress.is_some()
    }

    /// Applies an intent as if a panel had returned it (tests drive the app this way).
    pub fn open_for_test(&mut self, intent: Intent, ctx: &egui::Context) {
        self.apply(intent, ctx);
    }
}

impl eframe::App for SpatialscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.session.status.ui_frame_ms = frame.info().cpu_usage.map(|s| s * 1e3);
        self.handle_messages(&ctx);
        let intents = self.layout_ui(ui);
        for i in intents {
            self.apply(i, &ctx);
        }
    }

    /// The layout and settings are restored from our own keys; egui's memory (scroll
    /// offsets among it) is not, so a new launch opens at the top, not half-way down the
    /// plots.
    fn persist_egui_memory(&self) -> bool {
        false
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(
            storage,
            crate::ui::settings::STORAGE_KEY,
            &self.session.settings,
        );
        eframe::set_value(storage, crate::ui::dock::STORAGE_KEY, &self.dock);
    }
}
