//! The window: the fixed chrome (menu bar, instruction header, timeline, status bar) around
//! the dockable panels, and the floating action-distribution window. Returns the intents
//! of everything drawn this frame.

use std::path::PathBuf;

use super::SpatialscopeApp;
use crate::ui::dock::Dock;
use crate::ui::status::status_ui;
use crate::ui::timeline::timeline_ui;
use crate::ui::{Intent, PanelId, theme};

impl SpatialscopeApp {
    pub(super) fn layout_ui(&mut self, ui: &mut egui::Ui) -> Vec<Intent> {
        let ctx = ui.ctx().clone();
        let mut intents = Vec::new();
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            intents.push(Intent::Open(p));
        }

        egui::Panel::top("menu").show(ui, |ui| intents.extend(self.menu_ui(ui)));
        let info = self
            .session
            .root
            .as_ref()
            .map_or("no dataset open".to_owned(), |r| {
                format!("opened {}", r.display())
            });
        egui::Panel::bottom("status").show(ui, |ui| {
            intents.extend(status_ui(ui, &mut self.session.status, &info))
        });
        egui::Panel::bottom("timeline").show(ui, |ui| {
            let s = &mut self.session;
            if s.episode.is_some() {
                if let Some(step) = timeline_ui(
                    ui,
                    &mut s.timeline,
                    &mut s.settings.playback_speed,
                    s.settings.loop_playback,
                ) {
                    intents.push(Intent::StepChanged(step));
                }
            } else {
                ui.weak("timeline: no episode");
            }
        });
        egui::Panel::top("instruction").show(ui, |ui| self.header_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            intents.extend(self.dock.ui(ui, &mut self.panels, &self.session));
        });

        let current = self.session.selected.and_then(|(d, _)| {
            self.session
                .datasets
                .get(d)
                .map(|info| (d, info.name.clone()))
        });
        let source = self.stats_source();
        let declared = self
            .session
            .selected
            .and_then(|(d, _)| self.session.datasets.get(d))
            .and_then(|info| info.declared_stats.clone());
        intents.extend(crate::ui::distribution_panel::distribution_window(
            &ctx,
            &mut self.distribution,
            current.as_ref().map(|(d, n)| (*d, n.as_str())),
            &source,
            declared.as_ref(),
        ));
        intents.extend(crate::ui::doctor_panel::doctor_window(
            &ctx,
            &mut self.doctor,
            current.as_ref().map(|(d, n)| (*d, n.as_str())),
            self.session.doctor.as_ref(),
        ));
        intents.extend(crate::ui::failures_panel::failures_window(
            &ctx,
            &mut self.failures,
            &self.session,
        ));
        let can_bookmark = self.session.episode.is_some() && self.bookmarks.loaded;
        intents.extend(crate::ui::bookmarks_panel::bookmarks_window(
            &ctx,
            &mut self.bookmarks,
            &self.session.datasets,
            can_bookmark,
        ));
        if let Some(prompt) = &mut self.path_prompt {
            let (intent, keep) = crate::ui::path_prompt::path_prompt_window(&ctx, prompt);
            intents.extend(intent);
            if !keep {
                self.path_prompt = None;
            }
        }
        // B bookmarks the current step, unless a text field has the keyboard.
        if can_bookmark
            && ctx.memory(|m| m.focused().is_none())
            && ctx.input(|i| i.key_pressed(egui::Key::B))
        {
            intents.push(Intent::AddBookmark);
        }
        intents
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) -> Option<Intent> {
        let mut intent = None;
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open folder…").clicked() {
                    intent = Some(Intent::PickPath { folder: true });
                }
                if ui.button("Open file…").clicked() {
                    intent = Some(Intent::PickPath { folder: false });
                }
                if ui
                    .button("Open path…")
                    .on_hover_text("type a folder or file path (no dialog)")
                    .clicked()
                {
                    intent = Some(Intent::OpenPathPrompt);
                }
                if let Some(root) = &self.session.root
                    && ui.button("Reload").clicked()
                {
                    intent = Some(Intent::Open(root.clone()));
                }
                ui.separator();
                let has_episode = self.session.episode.is_some();
                if ui
                    .add_enabled(
                        has_episode,
                        egui::Button::new("Save episode as Rerun .rrd…"),
                    )
                    .clicked()
                {
                    intent = Some(Intent::SaveRecording);
                }
                if ui
                    .add_enabled(
                        has_episode,
                        egui::Button::new("Send episode to Rerun viewer"),
                    )
                    .on_hover_text(super::exports::DEFAULT_VIEWER)
                    .clicked()
                {
                    intent = Some(Intent::SendToRerun);
                }
                ui.checkbox(&mut self.export_jpeg, "frames as JPEG")
                    .on_hover_text("PNG frames and raw HDF5 pixels go into the recording as JPEG (quality 90): about a third of the size, lossy colours; JPEG and video sources pass through");
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                ui.label("Panels");
                for id in PanelId::ALL {
                    let mut shown = self.dock.is_visible(id);
                    if ui.checkbox(&mut shown, id.title()).changed() {
                        self.dock.set_visible(id, shown);
                    }
                }
                if ui.button("Maximise the 3-D view").clicked() {
                    self.dock.set_visible(PanelId::View3d, true);
                    self.dock.maximized = Some(PanelId::View3d);
                    ui.close();
                }
                if ui.button("Reset layout").clicked() {
                    self.dock = Dock::default();
                    ui.close();
                }
                ui.separator();
                let settings = &mut self.session.settings;
                ui.checkbox(&mut settings.show_depth, "Depth views");
                ui.checkbox(&mut settings.show_proprio, "Proprio plots");
                ui.checkbox(&mut self.distribution.open, "Action distribution…");
                ui.checkbox(&mut self.doctor.open, "Doctor (dataset health)…");
                ui.checkbox(&mut self.failures.open, "Failures (evaluation store)…");
                ui.checkbox(&mut self.bookmarks.open, "Bookmarks…");
                ui.checkbox(&mut settings.loop_playback, "Loop playback");
                ui.add(
                    egui::Slider::new(&mut settings.fallback_fps, 0.5..=60.0)
                        .text("fps when unknown"),
                );
            });
            ui.separator();
            ui.weak("Drop a dataset folder or file here · Left/Right step · Space play · Home/End · drag tabs to rearrange");
        });
        intent
    }

    fn header_ui(&self, ui: &mut egui::Ui) {
        match &self.session.episode {
            Some(ep) => {
                let instruction = if ep.instruction.is_empty() {
                    "(no instruction)"
                } else {
                    ep.instruction.as_str()
                };
                ui.label(
                    egui::RichText::new(format!("“{instruction}”"))
                        .size(theme::INSTRUCTION_SIZE)
                        .strong(),
                );
                ui.horizontal_wrapped(|ui| {
                    ui.weak(format!(
                        "{} · {} · {} steps · {} · {}",
                        ep.name,
                        ep.source.format.label(),
                        ep.num_steps(),
                        ep.fps
                            .map_or("fps unknown".to_owned(), |f| format!("{f} fps")),
                        ep.source.path.display()
                    ));
                });
                for n in &ep.notes {
                    ui.colored_label(theme::WARN_TEXT, format!("note: {n}"));
                }
            }
            None => {
                ui.label(egui::RichText::new("No episode open").size(theme::INSTRUCTION_SIZE));
                ui.weak(
                    "File > Open, drop a folder on the window, or start with `spatialscope PATH`.",
                );
            }
        }
    }
}
