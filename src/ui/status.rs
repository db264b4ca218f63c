//! The status bar: progress of long work (with Cancel), the latest error with its file, and
//! a window listing every error of the session.

use super::{Intent, theme};
use crate::worker::UserError;

/// Progress of the current background task.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub task: String,
    pub done: usize,
    /// 0 when unknown.
    pub total: usize,
}

/// Errors and progress shown in the status bar.
#[derive(Debug, Default)]
pub struct StatusState {
    pub progress: Option<Progress>,
    pub errors: Vec<UserError>,
    pub show_all_errors: bool,
    /// The last completed export or save, shown when there is no error.
    pub notice: Option<String>,
    /// How long the last step asked for took to arrive decoded (worker: decode, depth
    /// colours, the 3-D scene), milliseconds.
    pub step_ready_ms: Option<f64>,
    /// CPU time of the last UI frame (layout and drawing commands), milliseconds.
    pub ui_frame_ms: Option<f32>,
}

/// Draws the status bar; may ask to cancel background work.
pub fn status_ui(ui: &mut egui::Ui, s: &mut StatusState, info: &str) -> Option<Intent> {
    let mut intent = None;
    ui.horizontal(|ui| {
        if let Some(p) = &s.progress {
            ui.spinner();
            if p.total > 0 {
                ui.add(
                    egui::ProgressBar::new(p.done as f32 / p.total as f32)
                        .desired_width(160.0)
                        .text(format!("{} {}/{}", p.task, p.done, p.total)),
                );
            } else {
                ui.label(&p.task);
            }
            if ui.small_button("Cancel").clicked() {
                intent = Some(Intent::Cancel);
            }
            ui.separator();
        }
        if let Some(e) = s.errors.last() {
            let r = ui.colored_label(theme::ERROR_TEXT, format!("Error: {}", e.message));
            if let Some(f) = &e.file {
                r.on_hover_text(format!("file: {}", f.display()));
            }
            if ui
                .small_button(format!("all errors ({})", s.errors.len()))
                .clicked()
            {
                s.show_all_errors = true;
            }
        } else if let Some(n) = &s.notice {
            ui.label(n);
        } else {
            ui.weak(info);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let mut parts = Vec::new();
            if let Some(ms) = s.step_ready_ms {
                parts.push(format!("step ready in {ms:.0} ms"));
            }
            if let Some(ms) = s.ui_frame_ms {
                parts.push(format!("UI {ms:.0} ms/frame"));
            }
            if !parts.is_empty() {
                ui.weak(egui::RichText::new(parts.join(" · ")).small())
                    .on_hover_text(
                        "Where a step's time goes: the worker's decode, depth colours and 3-D scene \
                         (step ready), then the UI thread's frame (drawing itself is on the GPU).",
                    );
            }
        });
    });
    let mut open = s.show_all_errors;
    egui::Window::new("Errors")
        .open(&mut open)
        .vscroll(true)
        .show(ui.ctx(), |ui| {
            if ui.button("Clear").clicked() {
                s.errors.clear();
            }
            for e in s.errors.iter().rev() {
                ui.colored_label(theme::ERROR_TEXT, &e.message);
                if let Some(f) = &e.file {
                    ui.weak(f.display().to_string());
                }
                ui.separator();
            }
        });
    s.show_all_errors = open && !s.errors.is_empty();
    intent
}
