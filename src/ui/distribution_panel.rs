//! The curator's view of a whole dataset's actions against the grid (computed on the
//! worker): per-dimension histograms of raw and normalised values with q01/q99 and mean/std,
//! clipping and zero-variance flags; occupancy of every grid axis against the
//! equal-probability promise (expected count line, empty/overfull bins, entropy); round-trip
//! error of the adaptive grid beside 256 uniform bins, with direction vs magnitude error;
//! idle steps per episode and what a no-op filter would remove.

use egui_plot::{Bar, BarChart, HLine, Plot, VLine};

use super::{Intent, theme};
use crate::action_grid::distribution::{Distribution, Histogram};
use crate::episode::DeclaredStats;
use crate::pipeline::distribution::StatsSource;

/// Settings and results of the panel.
#[derive(Debug)]
pub struct DistributionState {
    pub open: bool,
    /// |raw| below this on every moving dimension counts as an idle step.
    pub noop_threshold: f64,
    /// The last result and the dataset it is for.
    pub result: Option<(usize, std::sync::Arc<Distribution>)>,
}

impl Default for DistributionState {
    fn default() -> Self {
        Self {
            open: false,
            noop_threshold: 1e-3,
            result: None,
        }
    }
}

fn histogram_plot(
    ui: &mut egui::Ui,
    id: String,
    h: &Histogram,
    color: egui::Color32,
    marks: &[(f64, egui::Color32)],
    height: f32,
) {
    let w = (h.hi - h.lo) / h.counts.len() as f64;
    let bars: Vec<Bar> = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar::new(h.centre(i), c as f64).width(w))
        .collect();
    Plot::new(id)
        .height(height)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show_y(false)
        .y_axis_min_width(24.0)
        .show(ui, |p| {
            p.bar_chart(BarChart::new("count", bars).color(color));
            for (x, c) in marks {
                p.vline(VLine::new("mark", *x).color(*c));
            }
        });
}

/// Draws the window; may ask the app to (re)compute.
pub fn distribution_window(
    ctx: &egui::Context,
    state: &mut DistributionState,
    dataset: Option<(usize, &str)>,
    source: &StatsSource,
    declared: Option<&DeclaredStats>,
) -> Option<Intent> {
    let mut intent = None;
    let mut open = state.open;
    egui::Window::new("Action distribution")
        .open(&mut open)
        .default_size([760.0, 700.0])
        .vscroll(true)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                let Some((di, name)) = dataset else {
                    ui.weak("open an episode first");
                    return;
                };
                ui.label(format!("dataset {name}, statistics: {}", source.label()));
                ui.add(
                    egui::DragValue::new(&mut state.noop_threshold)
                        .range(0.0..=1.0)
                        .speed(1e-4)
                        .prefix("no-op < "),
                )
                .on_hover_text("A step is idle when |dx|..|dyaw| (raw units) are all below this.");
                if ui.button("Compute").clicked() {
                    intent = Some(Intent::ComputeDistribution { dataset: di });
                }
            });
            let Some((di, d)) = &state.result else {
                ui.weak(
                    "Compute reads every episode's actions on the worker (no frames are decoded).",
                );
                return;
            };
            if dataset.map(|x| x.0) != Some(*di) {
                ui.colored_label(theme::WARN_TEXT, "(this result is for another dataset)");
            }
            summary_ui(ui, d);
            ui.separator();
            dimensions_ui(ui, d, declared);
            ui.separator();
            occupancy_ui(ui, d);
            ui.separator();
            round_trip_ui(ui, d);
            ui.separator();
            refit_ui(ui, d);
            ui.separator();
            idle_ui(ui, d);
        });
    state.open = open;
    intent
}

fn summary_ui(ui: &mut egui::Ui, d: &Distribution) {
    ui.label(format!(
        "{} actions in {} episodes, normalised with {}. Tokens used: translation {} / {}, rotation {} / {}. Gripper open {:.0} %.",
        d.actions,
        d.episodes,
        d.statistics,
        d.translation_tokens_used,
        d.translation_tokens_total,
        d.rotation_tokens_used,
        d.rotation_tokens_total,
        100.0 * d.gripper_open_fraction
    ));
}

fn dimensions_ui(ui: &mut egui::Ui, d: &Distribution, declared: Option<&DeclaredStats>) {
    ui.strong("Per dimension: raw (q01/q99 of the data yellow, of the statistics orange, mean white, ±1 std grey) and normalised");
    if let Some(s) = declared {
        ui.label(format!(
            "The dataset's own statistics ({}) in the second column: min/max, mean ± std{}; mean and min/max also marked in blue on the raw histogram.",
            s.source.display(),
            if s.q01.is_some() { ", q01/q99" } else { " (no quantiles in the file)" }
        ));
    }
    for (i, dim) in d.dimensions.iter().enumerate() {
        ui.horizontal(|ui| {
            let mut text = format!(
                "{:<7} mean {:+.4} std {:.4}\nq01 {:+.4} q99 {:+.4}",
                dim.name, dim.mean, dim.std, dim.q01, dim.q99
            );
            if dim.clipped_fraction > 0.0 {
                text.push_str(&format!("\nclipped {:.1} %", 100.0 * dim.clipped_fraction));
            }
            ui.add_sized(
                [170.0, 54.0],
                egui::Label::new(egui::RichText::new(text).monospace().small()),
            );
            let theirs = declared.filter(|s| i < s.min.len());
            if let Some(s) = theirs {
                let mut t = format!(
                    "file: mean {:+.4} std {:.4}\nmin {:+.4} max {:+.4}",
                    s.mean[i], s.std[i], s.min[i], s.max[i]
                );
                if let (Some(q01), Some(q99)) = (&s.q01, &s.q99) {
                    t.push_str(&format!("\nq01 {:+.4} q99 {:+.4}", q01[i], q99[i]));
                }
                ui.add_sized(
                    [170.0, 54.0],
                    egui::Label::new(egui::RichText::new(t).monospace().small()),
                );
            }
            if dim.zero_variance {
                ui.colored_label(theme::WARN_TEXT, "zero variance (normalised to 0)");
                return;
            }
            let w = (ui.available_width() / 2.0 - 4.0).max(120.0);
            ui.allocate_ui(egui::vec2(w, 56.0), |ui| {
                let marks = [
                    (dim.q01, theme::STEP_MARKER),
                    (dim.q99, theme::STEP_MARKER),
                    (dim.norm_q01, theme::DECODED),
                    (dim.norm_q99, theme::DECODED),
                    (dim.mean, theme::GROUND_TRUTH),
                    (dim.mean - dim.std, theme::GRID_LINE),
                    (dim.mean + dim.std, theme::GRID_LINE),
                ];
                let file_marks: Vec<(f64, egui::Color32)> = theirs
                    .map(|s| {
                        vec![
                            (s.mean[i], theme::DECLARED_STATS),
                            (s.min[i], theme::DECLARED_STATS),
                            (s.max[i], theme::DECLARED_STATS),
                        ]
                    })
                    .unwrap_or_default();
                let marks: Vec<(f64, egui::Color32)> =
                    marks.iter().copied().chain(file_marks).collect();
                histogram_plot(
                    ui,
                    format!("raw{i}"),
                    &dim.raw_histogram,
                    theme::dimension_color(i),
                    &marks,
                    50.0,
                );
            });
            ui.allocate_ui(egui::vec2(w, 56.0), |ui| {
                histogram_plot(
                    ui,
                    format!("norm{i}"),
                    &dim.normalized_histogram,
                    theme::dimension_color(i),
                    &[],
                    50.0,
                );
            });
        });
    }
}

fn occupancy_ui(ui: &mut egui::Ui, d: &Distribution) {
    ui.strong("Grid occupancy (line: the count every bin would have if the equal-probability promise held)");
    for (i, o) in d.occupancy.iter().enumerate() {
        ui.horizontal(|ui| {
            let text = format!(
                "{:<5} empty {}/{}\noverfull {}\nentropy {:.2}/{:.2} bit",
                o.axis,
                o.empty_bins,
                o.counts.len(),
                o.overfull_bins,
                o.entropy_bits,
                o.max_entropy_bits
            );
            ui.add_sized(
                [170.0, 54.0],
                egui::Label::new(egui::RichText::new(text).monospace().small()),
            );
            let bars: Vec<Bar> = o
                .counts
                .iter()
                .enumerate()
                .map(|(b, &c)| Bar::new(b as f64, c as f64).width(0.8))
                .collect();
            Plot::new(format!("occ{i}"))
                .height(54.0)
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .y_axis_min_width(24.0)
                .show(ui, |p| {
                    p.bar_chart(BarChart::new("count", bars).color(theme::GRID_CELL_EDGE));
                    p.hline(HLine::new("expected", o.expected_per_bin).color(theme::STEP_MARKER));
                });
        });
    }
}

fn round_trip_ui(ui: &mut egui::Ui, d: &Distribution) {
    ui.strong("Round trip (encode -> decode), |error| in normalised units");
    egui::Grid::new("round_trip").striped(true).show(ui, |ui| {
        for h in [
            "dim",
            "adaptive mean",
            "adaptive max",
            "linear-256 mean",
            "linear-256 max",
        ] {
            ui.weak(h);
        }
        ui.end_row();
        for dim in &d.dimensions {
            ui.monospace(dim.name);
            ui.monospace(format!("{:.4}", dim.adaptive_error_mean));
            ui.monospace(format!("{:.4}", dim.adaptive_error_max));
            ui.monospace(format!("{:.4}", dim.linear256_error_mean));
            ui.monospace(format!("{:.4}", dim.linear256_error_max));
            ui.end_row();
        }
    });
    ui.label("per dimension |error| histograms on one scale: adaptive grid (left), 256 uniform bins (right; their errors stay below 1/256, so they sit in the first bar): the largest error of each beside the name");
    for (i, dim) in d.dimensions.iter().enumerate().take(6) {
        ui.horizontal(|ui| {
            ui.add_sized(
                [110.0, 40.0],
                egui::Label::new(
                    egui::RichText::new(format!(
                        "{}\nmax {:.3} / {:.4}",
                        dim.name, dim.adaptive_error_max, dim.linear256_error_max
                    ))
                    .monospace()
                    .small(),
                ),
            );
            let w = (ui.available_width() / 2.0 - 4.0).max(100.0);
            ui.allocate_ui(egui::vec2(w, 42.0), |ui| {
                histogram_plot(
                    ui,
                    format!("rt_ad{i}"),
                    &dim.adaptive_error_histogram,
                    theme::DECODED,
                    &[],
                    38.0,
                );
            });
            ui.allocate_ui(egui::vec2(w, 42.0), |ui| {
                histogram_plot(
                    ui,
                    format!("rt_li{i}"),
                    &dim.linear256_error_histogram,
                    theme::GRID_LINE,
                    &[],
                    38.0,
                );
            });
        });
    }
    ui.label(format!(
        "translation: direction error mean {:.2}°, |magnitude error| mean {:.4}",
        d.direction_error_deg_mean, d.magnitude_error_abs_mean
    ));
    ui.columns(2, |c| {
        c[0].label("direction error (deg)");
        histogram_plot(
            &mut c[0],
            "dir_err".into(),
            &d.direction_error_deg,
            theme::DECODED,
            &[],
            60.0,
        );
        c[1].label("magnitude error (decoded r - r)");
        histogram_plot(
            &mut c[1],
            "mag_err".into(),
            &d.magnitude_error,
            theme::DECODED,
            &[(0.0, theme::GROUND_TRUTH)],
            60.0,
        );
    });
}

fn refit_ui(ui: &mut egui::Ui, d: &Distribution) {
    let Some(r) = &d.refit else { return };
    ui.strong(format!(
        "The grid this dataset would get (Gaussians fitted to its normalised actions, sigma floor {}): grey = grid in use, orange = refit",
        r.min_sigma
    ));
    for a in &r.axes {
        ui.horizontal(|ui| {
            let text = format!(
                "{:<5} mu {:+.3} sigma {:.3}
max edge shift {:.3}",
                a.axis, a.mu, a.sigma, a.max_edge_shift
            );
            ui.add_sized(
                [170.0, 34.0],
                egui::Label::new(egui::RichText::new(text).monospace().small()),
            );
            let width = ui.available_width().max(100.0);
            let (resp, painter) =
                ui.allocate_painter(egui::vec2(width, 30.0), egui::Sense::hover());
            let rect = resp.rect;
            let (lo, hi) = (
                a.current_edges[0],
                a.current_edges[a.current_edges.len() - 1],
            );
            let x = |v: f64| rect.left() + ((v - lo) / (hi - lo).max(1e-12)) as f32 * rect.width();
            for &e in &a.current_edges {
                painter.line_segment(
                    [
                        egui::pos2(x(e), rect.top()),
                        egui::pos2(x(e), rect.center().y),
                    ],
                    egui::Stroke::new(1.5, theme::GRID_LINE),
                );
            }
            for &e in &a.refit_edges {
                painter.line_segment(
                    [
                        egui::pos2(x(e), rect.center().y),
                        egui::pos2(x(e), rect.bottom()),
                    ],
                    egui::Stroke::new(1.5, theme::DECODED),
                );
            }
        });
    }
}

fn idle_ui(ui: &mut egui::Ui, d: &Distribution) {
    let total_steps: usize = d.idle.iter().map(|e| e.steps).sum();
    ui.strong(format!(
        "Idle steps (all of dx..dyaw below {:e}): a no-op filter would remove {} of {} steps ({:.1} %)",
        d.noop_threshold,
        d.idle_total,
        total_steps,
        100.0 * d.idle_total as f64 / total_steps.max(1) as f64
    ));
    for e in d.idle.iter().filter(|e| !e.idle_steps.is_empty()).take(200) {
        let steps: Vec<String> = e
            .idle_steps
            .iter()
            .take(20)
            .map(ToString::to_string)
            .collect();
        let more = if e.idle_steps.len() > 20 { " …" } else { "" };
        ui.monospace(format!(
            "{}: {} of {} idle (steps {}{more})",
            e.episode,
            e.idle_steps.len(),
            e.steps,
            steps.join(", ")
        ));
    }
}
