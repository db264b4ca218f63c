//! The app's panels that read its state directly: the grid panel wrapper, the menu bar,
//! the instruction header and the central area (cameras, 3-D view, plots).

use std::sync::Arc;

use super::SpatialscopeApp;
use crate::episode::Episode;
use crate::ui::camera_view::camera_ui;
use crate::ui::grid_panel::{StatsChoice, grid_panel_ui};
use crate::ui::{Intent, plots, theme};
use crate::worker::Command;

impl SpatialscopeApp {
    pub(super) fn grid_ui(&mut self, ui: &mut egui::Ui) {
        let (Some(cfg), Some(ep)) = (self.grid.clone(), self.episode.clone()) else {
            ui.weak("action grid: loading…");
            return;
        };
        ui.strong("Action grid (SpatialVLA, released)");
        let Some(action) = ep.actions.values.get(self.timeline.step) else {
            return;
        };
        if ui.button("Action distribution of this dataset…").clicked() {
            self.distribution.open = true;
        }
        // The model's first predicted step, when its grid has the panel's bin counts.
        let predicted = self
            .model_panel
            .predictions
            .get(&self.timeline.step)
            .and_then(|p| p.prediction.chunk.bins.first().copied())
            .filter(|_| {
                self.model_panel.info.as_ref().map(|i| i.grid_counts) == Some(cfg.grid.bin_counts())
            });
        egui::ScrollArea::vertical().show(ui, |ui| {
            let before = self.stats_choice.clone();
            grid_panel_ui(
                ui,
                &cfg,
                self.episode_stats.as_ref(),
                &mut self.stats_choice,
                action,
                predicted.as_ref(),
            );
            if self.stats_choice != before {
                self.settings.unnorm_key = match &self.stats_choice {
                    StatsChoice::Key(k) => Some(k.clone()),
                    StatsChoice::Episode => None,
                };
            }
        });
    }

    pub(super) fn menu_ui(&mut self, ui: &mut egui::Ui) -> Option<Intent> {
        let mut intent = None;
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open folder…").clicked() {
                    intent = Some(Intent::PickPath { folder: true });
                }
                if ui.button("Open file…").clicked() {
                    intent = Some(Intent::PickPath { folder: false });
                }
                if let Some(root) = &self.root
                    && ui.button("Reload").clicked()
                {
                    intent = Some(Intent::Open(root.clone()));
                }
                ui.separator();
                let has_episode = self.episode.is_some();
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
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.settings.show_depth, "Depth views");
                ui.checkbox(&mut self.settings.show_proprio, "Proprio plots");
                ui.checkbox(&mut self.settings.show_grid, "Action grid panel");
                ui.checkbox(&mut self.settings.show_model, "Model panel");
                ui.checkbox(&mut self.distribution.open, "Action distribution…");
                ui.checkbox(&mut self.settings.loop_playback, "Loop playback");
                ui.add(
                    egui::Slider::new(&mut self.settings.fallback_fps, 0.5..=60.0)
                        .text("fps when unknown"),
                );
            });
            ui.separator();
            ui.weak("Drop a dataset folder or file here · Left/Right step · Space play · Home/End");
        });
        intent
    }

    pub(super) fn header_ui(&self, ui: &mut egui::Ui) {
        match &self.episode {
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

    pub(super) fn central_ui(&mut self, ui: &mut egui::Ui) -> Option<Intent> {
        let ep = self.episode.clone()?;
        let mut intent = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                let n = ep.cameras.len().max(1);
                let spacing = ui.spacing().item_spacing.x;
                let width =
                    ((ui.available_width() - spacing * (n as f32 - 1.0)) / n as f32).max(96.0);
                // One attention map per frame, shared by the image overlay and the 3-D view.
                let attention_map = self.attention_values();
                let attention = attention_map
                    .as_ref()
                    .filter(|_| self.model_panel.attention.show);
                ui.horizontal_top(|ui| {
                    for (ci, cam) in ep.cameras.iter().enumerate() {
                        let frame = self.frame.as_ref().and_then(|f| f.cameras.get(ci));
                        let overlay = attention
                            .as_ref()
                            .filter(|a| a.0 == ci)
                            .map(|a| (a.1.as_slice(), a.2, a.3));
                        if let Some(t) = self.textures.get(ci) {
                            camera_ui(ui, cam, frame, t, width, self.settings.show_depth, overlay);
                        }
                    }
                });
                let depth_cams: Vec<(usize, &str)> = ep
                    .cameras
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.has_depth && c.intrinsics.is_some())
                    .map(|(i, c)| (i, c.name.as_str()))
                    .collect();
                if !depth_cams.is_empty()
                    && crate::ui::view3d::camera_toggles_ui(ui, &mut self.view3d, &depth_cams)
                {
                    self.worker.send(Command::ShowStep {
                        episode_uid: ep.uid,
                        step: self.timeline.step,
                        scene: self.scene_options(),
                    });
                }
                // The model's depth, once this step has a prediction: the estimate alone (also
                // for RGB-only data, whose frames give no cloud) or overlaid on the sensor's.
                if let Some(cloud) = self.shown_cloud() {
                    ui.separator();
                    let lines = self.scene_lines();
                    let attention = attention_map.as_ref().map(|a| Arc::new(a.1.clone()));
                    let cameras =
                        view_cameras(&ep, self.timeline.step, &self.view3d.hidden_cameras);
                    crate::ui::view3d::view3d_ui(
                        ui,
                        &mut self.view3d,
                        crate::ui::view3d::View3dInput {
                            cloud: &cloud,
                            lines: &lines,
                            attention,
                            cameras: &cameras,
                        },
                        theme::VIEW3D_HEIGHT,
                    );
                    let ctx = ui.ctx().clone();
                    self.take_png_request(&ctx);
                }
                if let Some(f) = &self.frame
                    && f.step != self.timeline.step
                {
                    ui.weak(format!(
                        "showing step {} while step {} decodes…",
                        f.step, self.timeline.step
                    ));
                }
                ui.separator();
                let overlay = self.prediction_overlay();
                if let Some(data) = self.plot_data.as_ref().filter(|d| d.is_for(ep.uid))
                    && let Some(s) = plots::plots_ui(
                        ui,
                        data,
                        self.timeline.step,
                        self.settings.show_proprio,
                        overlay.as_ref(),
                    )
                {
                    intent = Some(Intent::StepChanged(s));
                }
            });
        intent
    }
}

/// The cameras the 3-D view can look through at `step`: shown, with intrinsics and a pose.
fn view_cameras(ep: &Episode, step: usize, hidden: &[usize]) -> Vec<crate::ui::view3d::ViewCamera> {
    ep.cameras
        .iter()
        .enumerate()
        .filter(|(i, c)| !hidden.contains(i) && !c.placeholder)
        .filter_map(|(index, c)| {
            let k = c.intrinsics?;
            let pose = c.poses.world_from_camera(step)?;
            Some(crate::ui::view3d::ViewCamera {
                index,
                name: c.name.clone(),
                world_from_camera: *pose,
                fx: k.fx_px,
                fy: k.fy_px,
                cx: k.cx_px,
                cy: k.cy_px,
                width: f64::from(k.width_px),
                height: f64::from(k.height_px),
            })
        })
        .collect()
}
