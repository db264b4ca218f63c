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
    /// Values the y range must include (0 always; 0 and 1 for a gripper).
    include_y: &'static [f64],
}

fn plot_series(
    ui: &mut egui::Ui,
    id: &str,
    s: Series<'_>,
    step: usize,
    link: egui::Id,
) -> Option<usize> {
    let mut clicked = None;
    ui.label(egui::RichText::new(s.title).small());
    Plot::new(id)
        .height(theme::PLOT_HEIGHT)
        .link_axis(link, [true, false])
        .allow_zoom([true, false])
        .allow_scroll(false)
        .allow_drag([true, false])
        .y_axis_min_width(48.0)
        .include_y(s.include_y.first().copied().unwrap_or(0.0))
        .include_y(s.include_y.last().copied().unwrap_or(0.0))
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
                    values: ep
                        .actions
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, a)| [i as f64, f64::from(a[d])])
                        .collect(),
                    color: theme::dimension_color(d),
                    include_y: if d == 6 { &[0.0, 1.0] } else { &[0.0] },
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
                    include_y: &[],
                },
            ));
        }
    }
    let (actions, proprio): (Vec<_>, Vec<_>) =
        series.into_iter().enumerate().partition(|(i, _)| *i < 7);
    for (title, block) in [(None, actions), (Some("Proprio"), proprio)] {
        if block.is_empty() {
            continue;
        }
        if let Some(t) = title {
            ui.strong(t);
        }
        let mut cells: Vec<Vec<(String, Series)>> = (0..columns).map(|_| Vec::new()).collect();
        for (k, (_, item)) in block.into_iter().enumerate() {
            cells[k % columns].push(item);
        }
        ui.columns(columns, |cols| {
            for (col, items) in cols.iter_mut().zip(cells) {
                for (id, s) in items {
                    if let Some(s) = plot_series(col, &id, s, step, link) {
                        clicked = Some(s);
                    }
                }
            }
        });
    }
    clicked
}
