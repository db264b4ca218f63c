//! The 7 action dimensions (and proprio) over time, one small plot each with linked x axes
//! and a marker at the current step. Clicking a plot jumps to that step.

use egui_plot::{Line, Plot, PlotPoints, VLine};

use super::theme;
use crate::episode::Episode;

/// One named series for a plot.
struct Series<'a> {
    title: &'a str,
    values: Vec<[f64; 2]>,
    color: egui::Color32,
}

fn plot_series(ui: &mut egui::Ui, id: &str, s: Series<'_>, step: usize, link: egui::Id) -> Option<usize> {
    let mut clicked = None;
    ui.label(egui::RichText::new(s.title).small());
    Plot::new(id)
        .height(theme::PLOT_HEIGHT)
        .link_axis(link, [true, false])
        .allow_zoom([true, false])
        .allow_scroll(false)
        .allow_drag([true, false])
        .y_axis_min_width(48.0)
        .show(ui, |p| {
            p.line(Line::new(s.title, PlotPoints::from(s.values)).color(s.color));
            p.vline(VLine::new("step", step as f64).color(theme::STEP_MARKER));
            if p.response().clicked()
                && let Some(c) = p.pointer_coordinate()
            {
                clicked = Some(c.x.round().max(0.0) as usize);
            }
        });
    clicked
}

/// Draws the action (and optionally proprio) plots; returns a step the user clicked.
pub fn plots_ui(ui: &mut egui::Ui, ep: &Episode, step: usize, show_proprio: bool) -> Option<usize> {
    let link = egui::Id::unique(("plots", ep.uid));
    let mut clicked = None;
    let labels = ep.actions.convention.dimension_labels();
    ui.strong("Actions");
    ui.weak(ep.actions.convention.describe());
    let columns = if ui.available_width() > 900.0 { 2 } else { 1 };
    let mut series: Vec<(String, Series)> = labels
        .iter()
        .enumerate()
        .map(|(d, label)| {
            (
                format!("action{d}"),
                Series {
                    title: label.as_str(),
                    values: ep.actions.values.iter().enumerate().map(|(i, a)| [i as f64, f64::from(a[d])]).collect(),
                    color: theme::dimension_color(d),
                },
            )
        })
        .collect();
    if show_proprio && let Some(p) = &ep.proprio {
        for (d, name) in p.names.iter().enumerate() {
            series.push((
                format!("proprio{d}"),
                Series {
                    title: name.as_str(),
                    values: p
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.get(d).map(|x| [i as f64, f64::from(*x)]))
                        .collect(),
                    color: theme::dimension_color(d),
                },
            ));
        }
    }
    let proprio_start = 7;
    egui::Grid::new("plot_grid").num_columns(columns).show(ui, |ui| {
        for (i, (id, s)) in series.into_iter().enumerate() {
            if i == proprio_start {
                ui.end_row();
                ui.strong("Proprio");
                ui.end_row();
            }
            let w = ui.available_width().min(900.0 / columns as f32).max(200.0);
            ui.vertical(|ui| {
                ui.set_width(w);
                if let Some(s) = plot_series(ui, &id, s, step, link) {
                    clicked = Some(s);
                }
            });
            let index_in_block = if i >= proprio_start { i - proprio_start } else { i };
            if (index_in_block + 1) % columns == 0 {
                ui.end_row();
            }
        }
    });
    clicked
}
