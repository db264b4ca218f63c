//! The app's exports: "Save episode as .rrd…", "Send episode to Rerun" and the 3-D view's
//! "Save PNG…". Dialogs run on their own thread; the work itself runs on export threads
//! started by the worker, with progress in the status bar.

use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use super::SpatialscopeApp;
use crate::render::PointUniforms;
use crate::worker::export::{PngRequest, RecordingTarget};
use crate::worker::{Command, UserError};

/// What a pending save dialog is for.
pub(super) enum SaveKind {
    Recording,
    Png {
        uniforms: PointUniforms,
        size: [u32; 2],
    },
}

/// A save dialog waiting for the user.
pub(super) struct PendingSave {
    rx: Receiver<Option<PathBuf>>,
    kind: SaveKind,
    started: std::time::Instant,
}

/// The default address of a local Rerun viewer.
/// JPEG quality of "frames as JPEG" (as `spatialscope export --jpeg`).
pub const EXPORT_JPEG_QUALITY: u8 = 90;
pub const DEFAULT_VIEWER: &str = "rerun+http://127.0.0.1:9876/proxy";

impl SpatialscopeApp {
    pub(super) fn ask_where_to_save(&mut self, ctx: &egui::Context, kind: SaveKind) {
        let (title, name, ext) = match &kind {
            SaveKind::Recording => (
                "Save the episode as a Rerun recording",
                "episode.rrd",
                "rrd",
            ),
            SaveKind::Png { .. } => ("Save the 3-D view as PNG", "view3d.png", "png"),
        };
        let name = match (&kind, &self.session.episode) {
            (SaveKind::Recording, Some(ep)) => {
                format!("{}.rrd", crate::export::rerun_paths::segment(&ep.name))
            }
            (SaveKind::Png { .. }, Some(ep)) => {
                format!(
                    "{}_step{:04}.png",
                    crate::export::rerun_paths::segment(&ep.name),
                    self.session.step()
                )
            }
            _ => name.to_owned(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("save-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title(title)
                    .set_file_name(name)
                    .add_filter(ext, &[ext])
                    .save_file();
                let _ = tx.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.pending_save = Some(PendingSave {
                    rx,
                    kind,
                    started: std::time::Instant::now(),
                });
            }
            Err(e) => self.session.status.errors.push(UserError {
                file: None,
                message: format!("cannot open the save dialog: {e}"),
            }),
        }
    }

    /// Applies a finished save dialog.
    pub(super) fn poll_save_dialog(&mut self) {
        let Some(p) = &self.pending_save else { return };
        let Ok(picked) = p.rx.try_recv() else { return };
        let p = self.pending_save.take().expect("checked above");
        match picked {
            Some(path) => match p.kind {
                SaveKind::Recording => self.export_recording(RecordingTarget::File(path)),
                SaveKind::Png { uniforms, size } => self.save_view_png(path, uniforms, size),
            },
            None if p.started.elapsed() < super::DIALOG_FAILED_WITHIN => {
                let purpose = match p.kind {
                    SaveKind::Recording => crate::ui::path_prompt::PathPurpose::SaveRecording,
                    SaveKind::Png { uniforms, size } => {
                        crate::ui::path_prompt::PathPurpose::SavePng { uniforms, size }
                    }
                };
                self.ask_typed_path(purpose);
            }
            None => {}
        }
    }

    /// Exports the open episode (and the predictions computed so far), its frames as JPEG when
    /// File > "frames as JPEG" is on.
    pub fn export_recording(&mut self, target: RecordingTarget) {
        let Some(ep) = &self.session.episode else {
            return;
        };
        let predictions = if self.session.model.episode_uid == Some(ep.uid) {
            self.session.model.predictions.clone()
        } else {
            Default::default()
        };
        self.session.status.notice = None;
        self.worker.send(Command::ExportRecording {
            episode_uid: ep.uid,
            predictions,
            target,
            jpeg_quality: self.export_jpeg.then_some(EXPORT_JPEG_QUALITY),
        });
    }

    /// Saves the current 3-D view at `size` to `path` (rendered offscreen on the worker).
    pub fn save_view_png(&mut self, path: PathBuf, uniforms: PointUniforms, size: [u32; 2]) {
        let Some(cloud) = self.session.shown_cloud() else {
            return;
        };
        let lines = self.panels.view3d.lines(&self.session);
        let mode = crate::render::ColorMode::ALL
            .into_iter()
            .find(|m| m.shader_index() == uniforms.color_mode)
            .unwrap_or(crate::render::ColorMode::Rgb);
        let attention = self.session.patch_values(mode);
        self.worker.send(Command::SaveViewPng(Box::new(PngRequest {
            cloud,
            lines,
            attention,
            uniforms,
            size,
            path,
        })));
    }
}

impl SpatialscopeApp {
    /// Opens the typed-path prompt because no file dialog could open.
    pub(super) fn ask_typed_path(&mut self, purpose: crate::ui::path_prompt::PathPurpose) {
        let why = "No file dialog could open here (no desktop portal or zenity): type the path.";
        self.session.status.notice = Some(why.to_owned());
        self.path_prompt = Some(crate::ui::path_prompt::PathPrompt {
            purpose,
            text: String::new(),
            why: Some(why.to_owned()),
        });
    }
}
