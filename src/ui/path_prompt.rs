//! A typed path where no file dialog can open (no desktop portal, no zenity: a remote or
//! headless session), or where the user prefers typing: every file action works without a
//! dialog. The app opens it when a dialog comes back empty at once, and File > Open path…
//! opens it directly. Saving is refused inside a dataset by the worker, as from a dialog.

use std::path::PathBuf;

use super::Intent;
use crate::render::PointUniforms;

/// What the typed path is for.
#[derive(Debug, Clone, PartialEq)]
pub enum PathPurpose {
    /// A dataset folder or file to open.
    Open,
    /// A checkpoint folder to load.
    LoadModel,
    /// Where to save the episode as a Rerun recording.
    SaveRecording,
    /// Where to save the 3-D view as a PNG.
    SavePng {
        uniforms: PointUniforms,
        size: [u32; 2],
    },
}

impl PathPurpose {
    fn title(&self) -> &'static str {
        match self {
            Self::Open => "Open a dataset folder or file",
            Self::LoadModel => "Open a checkpoint folder",
            Self::SaveRecording => "Save the episode as a Rerun recording (.rrd)",
            Self::SavePng { .. } => "Save the 3-D view as PNG",
        }
    }

    /// The intent that carries out the purpose with `path`.
    pub fn intent(self, path: PathBuf) -> Intent {
        match self {
            Self::Open => Intent::Open(path),
            Self::LoadModel => Intent::LoadModel(path),
            Self::SaveRecording => Intent::SaveRecordingTo(path),
            Self::SavePng { uniforms, size } => Intent::SavePngTo {
                path,
                uniforms,
                size,
            },
        }
    }
}

/// An open prompt.
#[derive(Debug, Clone)]
pub struct PathPrompt {
    pub purpose: PathPurpose,
    pub text: String,
    /// Why it opened (a dialog that could not), shown above the field.
    pub why: Option<String>,
}

/// Draws the prompt; returns the intent when the user confirms, and whether it stays open.
pub fn path_prompt_window(ctx: &egui::Context, prompt: &mut PathPrompt) -> (Option<Intent>, bool) {
    let mut intent = None;
    let mut keep = true;
    egui::Window::new(prompt.purpose.title())
        .collapsible(false)
        .default_width(520.0)
        .show(ctx, |ui| {
            if let Some(why) = &prompt.why {
                ui.weak(why);
            }
            let edit = ui.add(
                egui::TextEdit::singleline(&mut prompt.text)
                    .hint_text("/path/to/...")
                    .desired_width(480.0),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.horizontal(|ui| {
                let ok = ui
                    .add_enabled(!prompt.text.trim().is_empty(), egui::Button::new("OK"))
                    .clicked();
                if (ok || enter) && !prompt.text.trim().is_empty() {
                    intent = Some(
                        prompt
                            .purpose
                            .clone()
                            .intent(PathBuf::from(prompt.text.trim())),
                    );
                    keep = false;
                }
                if ui.button("Cancel").clicked() {
                    keep = false;
                }
            });
        });
    (intent, keep)
}
