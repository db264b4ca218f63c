//! The Doctor window: runs the dataset doctor on the worker ([`crate::pipeline::doctor`]) and
//! shows its findings grouped by check, most severe first. Each finding names its episodes
//! and steps as links: a click opens the episode at the first step concerned, and the plots
//! mark the steps (and dimensions) it is about. The episode list shows the same findings as
//! badges and can hide episodes without any.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Intent, theme};
use crate::pipeline::doctor::{DatasetHealth, Finding, Severity};

/// Settings of the window (the result lives in the session, where the episode list and the
/// plots read it too).
#[derive(Debug, Default)]
pub struct DoctorState {
    pub open: bool,
    /// Skip decoding frames (camera checks) for a faster run.
    pub no_frames: bool,
    /// A run was asked for and has not reported back.
    pub running: bool,
}

/// The colour of a severity.
pub fn severity_colour(s: Severity) -> egui::Color32 {
    match s {
        Severity::Error => theme::ERROR_TEXT,
        Severity::Warning => theme::WARN_TEXT,
        Severity::Info => egui::Color32::from_rgb(110, 150, 210),
    }
}

/// The worst severity of the findings that name episode `e`.
pub fn worst_for(h: &DatasetHealth, e: usize) -> Option<Severity> {
    h.worst_by_episode.get(e).copied().flatten()
}

/// Draws the window; may ask the app to run the doctor or jump to a finding.
pub fn doctor_window(
    ctx: &egui::Context,
    state: &mut DoctorState,
    dataset: Option<(usize, &str)>,
    result: Option<&(usize, Arc<DatasetHealth>)>,
) -> Vec<Intent> {
    let mut intents = Vec::new();
    let mut open = state.open;
    // First shown at the right, over the grid panel, leaving the episode list (its badges)
    // and the plots (the marked steps) in view.
    let right = ctx.content_rect().right();
    egui::Window::new("Doctor")
        .open(&mut open)
        .default_pos([(right - 660.0).max(0.0), 90.0])
        .default_size([640.0, 360.0])
        .vscroll(true)
        .show(ctx, |ui| {
            ui.horizontal_wrapped(|ui| {
                let Some((di, name)) = dataset else {
                    ui.weak("open an episode first");
                    return;
                };
                ui.label(format!("dataset {name}"));
                ui.checkbox(&mut state.no_frames, "skip camera checks")
                    .on_hover_text("Camera checks decode three frames per camera and episode.");
                let label = if state.running { "Running…" } else { "Check dataset" };
                if ui
                    .add_enabled(!state.running, egui::Button::new(label))
                    .clicked()
                {
                    state.running = true;
                    intents.push(Intent::RunDoctor { dataset: di });
                }
                if state.running && ui.button("Cancel").clicked() {
                    state.running = false;
                    intents.push(Intent::Cancel);
                }
            });
            let Some((di, h)) = result else {
                ui.weak(
                    "Check dataset reads every episode on the worker: values, timestamps, \
                     cameras, lengths, duplicates, normalisation and grid use (spatialscope \
                     doctor on the command line runs the same checks).",
                );
                return;
            };
            if dataset.map(|x| x.0) != Some(*di) {
                ui.colored_label(theme::WARN_TEXT, "(this result is for another dataset)");
            }
            ui.label(format!(
                "{} episodes, {} steps: {} errors, {} warnings, {} info; {} episodes pass; statistics: {}",
                h.episodes, h.steps, h.errors, h.warnings, h.infos, h.keep.len(), h.statistics
            ));
            ui.separator();
            let mut groups: BTreeMap<(std::cmp::Reverse<Severity>, &str), Vec<&Finding>> =
                BTreeMap::new();
            for f in &h.findings {
                groups
                    .entry((std::cmp::Reverse(f.severity), f.check))
                    .or_default()
                    .push(f);
            }
            if groups.is_empty() {
                ui.label("No findings.");
            }
            for ((sev, check), fs) in groups {
                let title = egui::RichText::new(format!(
                    "{} {check} ({})",
                    sev.0.label(),
                    fs.len()
                ))
                .color(severity_colour(sev.0));
                egui::CollapsingHeader::new(title)
                    .id_salt(check)
                    .default_open(sev.0 >= Severity::Warning)
                    .show(ui, |ui| {
                        for f in fs {
                            finding_ui(ui, *di, f, &mut intents);
                        }
                    });
            }
        });
    state.open = open;
    intents
}

/// Most episode links shown per finding.
const MAX_LINKS: usize = 24;

fn finding_ui(ui: &mut egui::Ui, dataset: usize, f: &Finding, intents: &mut Vec<Intent>) {
    ui.horizontal_wrapped(|ui| {
        ui.label(&f.reason);
        if let Some((a, b)) = f.steps {
            ui.weak(format!("steps {a}..{b}"));
        }
        for &e in f.episodes.iter().take(MAX_LINKS) {
            let step = f.steps.map(|(a, _)| a);
            let text = match step {
                Some(s) => format!("episode {e} @ {s}"),
                None => format!("episode {e}"),
            };
            if ui.link(text).clicked() {
                intents.push(Intent::JumpTo {
                    dataset,
                    episode: e,
                    step,
                    highlight: Some(super::Highlight {
                        steps: f.steps,
                        dims: f.dims.clone(),
                    }),
                });
            }
        }
        if f.episodes.len() > MAX_LINKS {
            ui.weak(format!("and {} more", f.episodes.len() - MAX_LINKS));
        }
    });
}
