//! The Bookmarks window: steps marked with a tag and a note (the B key or the button), listed
//! for the open datasets, a click jumps to one; exported as CSV, JSON and LeRobot's episode
//! list into a folder the user names. The bookmarks file is read and written by the worker
//! ([`crate::util::bookmarks`]); this window only edits the list in memory.

use std::path::PathBuf;

use super::Intent;
use crate::util::bookmarks::Bookmarks;
use crate::worker::DatasetInfo;

/// The window's state and every bookmark (all datasets, as in the file).
#[derive(Debug)]
pub struct BookmarksState {
    pub open: bool,
    /// The folder holding `bookmarks.json` (the user's data folder).
    pub dir: PathBuf,
    pub all: Bookmarks,
    /// The file has been read (nothing is written before, so an unreadable file is kept).
    pub loaded: bool,
    pub tag: String,
    pub note: String,
    pub export_dir: String,
}

impl Default for BookmarksState {
    fn default() -> Self {
        Self {
            open: false,
            dir: crate::util::bookmarks::data_dir(),
            all: Bookmarks::new(),
            loaded: false,
            tag: String::new(),
            note: String::new(),
            export_dir: String::new(),
        }
    }
}

/// Draws the window.
pub fn bookmarks_window(
    ctx: &egui::Context,
    state: &mut BookmarksState,
    datasets: &[DatasetInfo],
    can_bookmark: bool,
) -> Vec<Intent> {
    let mut intents = Vec::new();
    let mut open = state.open;
    egui::Window::new("Bookmarks")
        .open(&mut open)
        .default_size([560.0, 360.0])
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut state.tag)
                        .hint_text("tag")
                        .desired_width(100.0),
                );
                ui.add(
                    egui::TextEdit::singleline(&mut state.note)
                        .hint_text("note")
                        .desired_width(220.0),
                );
                if ui
                    .add_enabled(can_bookmark, egui::Button::new("Bookmark this step (B)"))
                    .clicked()
                {
                    intents.push(Intent::AddBookmark);
                }
            });
            if !state.loaded {
                ui.weak("reading the bookmarks file…");
            }
            ui.separator();
            let mut any = false;
            egui::ScrollArea::vertical()
                .max_height(220.0)
                .show(ui, |ui| {
                    for (di, d) in datasets.iter().enumerate() {
                        let root = d.root.display().to_string();
                        let Some(list) = state.all.get(&root) else {
                            continue;
                        };
                        for (k, b) in list.iter().enumerate() {
                            any = true;
                            ui.horizontal(|ui| {
                                let text = format!(
                                    "{} step {}  [{}] {}",
                                    b.episode, b.step, b.tag, b.note
                                );
                                if ui.link(text).clicked() {
                                    intents.push(Intent::JumpTo {
                                        dataset: di,
                                        episode: b.episode_index,
                                        step: Some(b.step),
                                        highlight: None,
                                    });
                                }
                                if ui.small_button("remove").clicked() {
                                    intents.push(Intent::RemoveBookmark {
                                        root: root.clone(),
                                        index: k,
                                    });
                                }
                            });
                        }
                    }
                });
            if !any {
                ui.weak("No bookmarks in the open datasets yet.");
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut state.export_dir)
                        .hint_text("export folder (outside the dataset)")
                        .desired_width(300.0),
                );
                if ui
                    .add_enabled(
                        any && !state.export_dir.trim().is_empty(),
                        egui::Button::new("Export"),
                    )
                    .on_hover_text(
                        "bookmarks.csv, bookmarks.json and bookmarks_lerobot.txt ([0, 3, 7])",
                    )
                    .clicked()
                {
                    intents.push(Intent::ExportBookmarks(state.export_dir.trim().into()));
                }
            });
            ui.weak(format!(
                "kept in {}",
                crate::util::bookmarks::file_in(&state.dir).display()
            ));
        });
    state.open = open;
    intents
}
