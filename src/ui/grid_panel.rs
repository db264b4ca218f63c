//! The action-grid panel for the current step: where the ground-truth action falls on
//! SpatialVLA's adaptive grid.
//!
//! Two polar views of the translation bins, each with the bin edges as wedges and shells:
//! azimuth phi against radius r, and polar angle theta (from +z, up) against r. The action's
//! cell is filled, the action is a dot and the bin centre it decodes to a ring, joined by the
//! quantisation error. Below: roll/pitch/yaw as strips of 16 bins with the value and the bin
//! centre, the gripper token, the three token ids and strings, and the error split into
//! direction (angle) and magnitude (radius), in normalised units and in the dataset's units.

use egui::{Pos2, Sense, Shape, Stroke, Vec2, pos2, vec2};

use super::panel::Panel;
use super::session::Session;
use super::{Intent, theme};
use crate::action_grid::{
    ActionBins, ActionReading, ActionStatistics, Axis, ProcessorConfig, read_action,
};

/// Which statistics normalise the actions.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsChoice {
    /// A key of the checkpoint's statistics.
    Key(String),
    /// q01/q99 of the open episode's own actions.
    Episode,
}

/// The action-grid panel as a dock panel.
#[derive(Debug, Default)]
pub struct GridPanel;

impl Panel for GridPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        let mut out = Vec::new();
        let (Some(cfg), Some(ep)) = (&session.grid, &session.episode) else {
            ui.weak(if session.episode.is_none() {
                "no episode open"
            } else {
                "action grid: loading…"
            });
            return out;
        };
        ui.strong("Action grid (SpatialVLA, released)");
        let Some(action) = ep.actions.values.get(session.step()) else {
            return out;
        };
        if ui.button("Action distribution of this dataset…").clicked() {
            out.push(Intent::ShowDistribution);
        }
        let predicted = session.predicted_bins();
        egui::ScrollArea::vertical()
            .id_salt("grid_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                let mut choice = session.stats_choice.clone();
                grid_panel_ui(
                    ui,
                    cfg,
                    session.episode_stats.as_ref(),
                    &mut choice,
                    action,
                    predicted.as_ref(),
                );
                if choice != session.stats_choice {
                    out.push(Intent::SetStatsChoice(choice));
                }
            });
        out
    }
}

/// Draws the panel; `choice` may be changed by the key selector.
pub fn grid_panel_ui(
    ui: &mut egui::Ui,
    cfg: &ProcessorConfig,
    episode_stats: Option<&ActionStatistics>,
    choice: &mut StatsChoice,
    action: &[f32; 7],
    predicted: Option<&ActionBins>,
) {
    stats_selector(ui, cfg, episode_stats.is_some(), choice);
    let stats = match choice {
        StatsChoice::Key(k) => cfg.statistics.get(k.as_str()),
        StatsChoice::Episode => episode_stats,
    };
    let Some(stats) = stats else {
        ui.colored_label(theme::WARN_TEXT, "choose statistics to normalise with");
        return;
    };
    let raw: Vec<f64> = action.iter().map(|&v| f64::from(v)).collect();
    let r = match read_action(&cfg.grid, &cfg.layout, stats, &raw) {
        Ok(r) => r,
        Err(e) => {
            ui.colored_label(theme::ERROR_TEXT, e.to_string());
            return;
        }
    };
    let side = (ui.available_width() / 2.0 - 6.0).clamp(120.0, 220.0);
    ui.horizontal(|ui| {
        polar_view(ui, cfg, &r, PolarKind::Azimuth, side, predicted);
        polar_view(ui, cfg, &r, PolarKind::Elevation, side, predicted);
    });
    for (i, axis) in [Axis::Roll, Axis::Pitch, Axis::Yaw].into_iter().enumerate() {
        rotation_strip(
            ui,
            cfg,
            axis,
            r.normalized[3 + i],
            r.bins.of(axis),
            predicted.map(|p| p.of(axis)),
        );
    }
    readout(ui, &r);
}

fn stats_selector(
    ui: &mut egui::Ui,
    cfg: &ProcessorConfig,
    has_episode: bool,
    choice: &mut StatsChoice,
) {
    let label = match choice {
        StatsChoice::Key(k) => k.clone(),
        StatsChoice::Episode => "this episode's q01/q99".to_owned(),
    };
    egui::ComboBox::from_label("statistics")
        .selected_text(label)
        .width(ui.available_width() - 70.0)
        .show_ui(ui, |ui| {
            if has_episode {
                ui.selectable_value(choice, StatsChoice::Episode, "this episode's q01/q99");
            }
            for k in cfg.statistics.keys() {
                ui.selectable_value(choice, StatsChoice::Key(k.clone()), k);
            }
        });
}

#[derive(Clone, Copy)]
enum PolarKind {
    /// phi (azimuth, full circle) against r.
    Azimuth,
    /// theta (polar angle from +z = up, half circle) against r.
    Elevation,
}

/// Screen point of (angle, radius) on a polar view.
fn polar_point(kind: PolarKind, centre: Pos2, scale: f32, angle: f64, r: f64) -> Pos2 {
    let (s, c) = (angle as f32).sin_cos();
    let r = r as f32 * scale;
    match kind {
        // phi from +x (right) towards +y (up on screen).
        PolarKind::Azimuth => pos2(centre.x + r * c, centre.y - r * s),
        // theta from +z (up) towards the horizontal (right).
        PolarKind::Elevation => pos2(centre.x + r * s, centre.y - r * c),
    }
}

fn polar_view(
    ui: &mut egui::Ui,
    cfg: &ProcessorConfig,
    r: &ActionReading,
    kind: PolarKind,
    side: f32,
    predicted: Option<&ActionBins>,
) {
    let (angle_axis, title) = match kind {
        PolarKind::Azimuth => (Axis::Phi, "azimuth φ × radius r"),
        PolarKind::Elevation => (Axis::Theta, "polar angle θ (from +z) × radius r"),
    };
    ui.vertical(|ui| {
        ui.label(egui::RichText::new(title).small());
        let (resp, painter) = ui.allocate_painter(Vec2::splat(side), Sense::hover());
        let rect = resp.rect;
        let (centre, scale) = match kind {
            PolarKind::Azimuth => (rect.center(), rect.width() / 2.0 / 3f32.sqrt() * 0.95),
            PolarKind::Elevation => (
                pos2(rect.left() + 4.0, rect.center().y),
                (rect.width() - 8.0) / 3f32.sqrt(),
            ),
        };
        let scale = match kind {
            PolarKind::Azimuth => scale,
            PolarKind::Elevation => scale.min(rect.height() / 2.0 / 3f32.sqrt() * 0.95),
        };
        let grid_stroke = Stroke::new(1.0, theme::GRID_LINE);
        let r_edges = cfg.grid.edges(Axis::R);
        let a_edges = cfg.grid.edges(angle_axis);
        let arc = |a0: f64, a1: f64, rad: f64, n: usize| -> Vec<Pos2> {
            (0..=n)
                .map(|k| {
                    polar_point(
                        kind,
                        centre,
                        scale,
                        a0 + (a1 - a0) * k as f64 / n as f64,
                        rad,
                    )
                })
                .collect()
        };
        let (a_lo, a_hi) = (a_edges[0], a_edges[a_edges.len() - 1]);
        // Highlighted cell first, under the lines.
        let (ab, rb) = match kind {
            PolarKind::Azimuth => (r.bins.phi, r.bins.r),
            PolarKind::Elevation => (r.bins.theta, r.bins.r),
        };
        let mut cell = arc(a_edges[ab], a_edges[ab + 1], r_edges[rb + 1], 24);
        let mut inner = arc(a_edges[ab], a_edges[ab + 1], r_edges[rb], 24);
        inner.reverse();
        cell.extend(inner);
        painter.add(Shape::convex_polygon(
            cell.clone(),
            theme::GRID_CELL,
            Stroke::NONE,
        ));
        painter.add(Shape::closed_line(
            cell,
            Stroke::new(1.5, theme::GRID_CELL_EDGE),
        ));
        for &e in r_edges {
            painter.add(Shape::line(arc(a_lo, a_hi, e, 96), grid_stroke));
        }
        for &e in a_edges {
            painter.line_segment(
                [
                    polar_point(kind, centre, scale, e, 0.0),
                    polar_point(kind, centre, scale, e, r_edges[r_edges.len() - 1]),
                ],
                grid_stroke,
            );
        }
        if let Some(p) = predicted {
            let (pa, pr) = match kind {
                PolarKind::Azimuth => (p.phi, p.r),
                PolarKind::Elevation => (p.theta, p.r),
            };
            let mut outline = arc(a_edges[pa], a_edges[pa + 1], r_edges[pr + 1], 24);
            let mut inner = arc(a_edges[pa], a_edges[pa + 1], r_edges[pr], 24);
            inner.reverse();
            outline.extend(inner);
            painter.add(Shape::closed_line(
                outline,
                Stroke::new(2.0, theme::PREDICTION),
            ));
            let c = cfg.grid.translation_centre(p);
            let a = match kind {
                PolarKind::Azimuth => c.phi_rad,
                PolarKind::Elevation => c.theta_rad,
            };
            let pp = polar_point(kind, centre, scale, a, c.r);
            painter.rect_filled(
                egui::Rect::from_center_size(pp, vec2(7.0, 7.0)),
                0.0,
                theme::PREDICTION,
            );
        }
        let (a_true, a_dec) = match kind {
            PolarKind::Azimuth => (r.spherical.phi_rad, r.centre.phi_rad),
            PolarKind::Elevation => (r.spherical.theta_rad, r.centre.theta_rad),
        };
        let p_true = polar_point(kind, centre, scale, a_true, r.spherical.r);
        let p_dec = polar_point(kind, centre, scale, a_dec, r.centre.r);
        painter.line_segment([p_true, p_dec], Stroke::new(1.0, theme::STEP_MARKER));
        painter.circle_stroke(p_dec, 4.0, Stroke::new(2.0, theme::DECODED));
        painter.circle_filled(p_true, 3.5, theme::GROUND_TRUTH);
        resp.on_hover_text(format!(
            "{} bin {} of {}, r bin {} of {}",
            angle_axis.name(),
            ab,
            a_edges.len() - 1,
            rb,
            r_edges.len() - 1
        ));
    });
}

fn rotation_strip(
    ui: &mut egui::Ui,
    cfg: &ProcessorConfig,
    axis: Axis,
    value: f64,
    bin: usize,
    predicted: Option<usize>,
) {
    ui.horizontal(|ui| {
        ui.add_sized(
            [40.0, 16.0],
            egui::Label::new(egui::RichText::new(axis.name()).small()),
        );
        let width = ui.available_width().max(80.0);
        let (resp, painter) = ui.allocate_painter(vec2(width, 16.0), Sense::hover());
        let rect = resp.rect;
        let x = |v: f64| rect.left() + ((v + 1.0) / 2.0) as f32 * rect.width();
        let edges = cfg.grid.edges(axis);
        let cell = egui::Rect::from_x_y_ranges(x(edges[bin])..=x(edges[bin + 1]), rect.y_range());
        painter.rect_filled(cell, 0.0, theme::GRID_CELL);
        for &e in edges {
            painter.line_segment(
                [pos2(x(e), rect.top()), pos2(x(e), rect.bottom())],
                Stroke::new(1.0, theme::GRID_LINE),
            );
        }
        painter.line_segment(
            [
                pos2(rect.left(), rect.center().y),
                pos2(rect.right(), rect.center().y),
            ],
            Stroke::new(1.0, theme::GRID_LINE),
        );
        if let Some(pb) = predicted.filter(|&b| b + 1 < edges.len()) {
            let cell = egui::Rect::from_x_y_ranges(x(edges[pb])..=x(edges[pb + 1]), rect.y_range());
            painter.rect_stroke(
                cell,
                0.0,
                Stroke::new(2.0, theme::PREDICTION),
                egui::StrokeKind::Inside,
            );
        }
        let centre = cfg.grid.bin_centre(axis, bin);
        painter.circle_stroke(
            pos2(x(centre), rect.center().y),
            4.0,
            Stroke::new(2.0, theme::DECODED),
        );
        painter.circle_filled(pos2(x(value), rect.center().y), 3.5, theme::GROUND_TRUTH);
        resp.on_hover_text(format!(
            "{} = {value:+.4} (normalised), bin {bin} [{:+.4}, {:+.4}], centre {centre:+.4}",
            axis.name(),
            edges[bin],
            edges[bin + 1]
        ));
    });
}

fn readout(ui: &mut egui::Ui, r: &ActionReading) {
    ui.horizontal(|ui| {
        ui.colored_label(theme::GROUND_TRUTH, "dot: action");
        ui.colored_label(theme::DECODED, "ring: decoded bin centre");
        ui.colored_label(theme::PREDICTION, "magenta: model's bin");
        ui.colored_label(theme::GRID_CELL_EDGE, "filled: its bin");
    });
    ui.monospace(format!(
        "tokens {} {} {}\nids    {} {} {}",
        r.tokens[0], r.tokens[1], r.tokens[2], r.ids[0], r.ids[1], r.ids[2]
    ));
    ui.monospace(format!(
        "bins θ{} φ{} r{} | roll{} pitch{} yaw{} | gripper {}",
        r.bins.theta,
        r.bins.phi,
        r.bins.r,
        r.bins.roll,
        r.bins.pitch,
        r.bins.yaw,
        if r.bins.gripper == 1 {
            "open"
        } else {
            "closed"
        }
    ));
    let dir = if r.direction_error_rad.is_nan() {
        "n/a".to_owned()
    } else {
        format!("{:.2}°", r.direction_error_rad.to_degrees())
    };
    ui.monospace(format!(
        "quantisation: direction {dir}, magnitude {:+.4} (r {:.4} -> {:.4})",
        r.magnitude_error, r.spherical.r, r.centre.r
    ));
    egui::Grid::new("grid_readout")
        .striped(true)
        .show(ui, |ui| {
            ui.weak("dim");
            ui.weak("raw");
            ui.weak("normalised");
            ui.weak("decoded raw");
            ui.end_row();
            for (i, name) in ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "grip"]
                .iter()
                .enumerate()
            {
                ui.monospace(*name);
                ui.monospace(format!("{:+.5}", r.raw[i]));
                let n = format!("{:+.4}", r.normalized[i]);
                if r.clipped[i] {
                    ui.colored_label(theme::WARN_TEXT, format!("{n} clipped"));
                } else {
                    ui.monospace(n);
                }
                ui.monospace(format!("{:+.5}", r.decoded_raw[i]));
                ui.end_row();
            }
        });
}
