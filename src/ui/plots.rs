//! The 7 action dimensions (and proprio) over time, one small plot each with linked x axes
//! and a marker at the current step. Clicking a plot jumps to that step.
//!
//! The points are built once per episode ([`PlotData::from_episode`]) and borrowed by the
//! plots every frame, so long episodes cost no per-frame allocation here.

use egui_plot::{Line, Plot, PlotPoint, PlotPoints, VLine};

use super::panel::Panel;
use super::session::Session;
use super::{Intent, theme};
use crate::episode::Episode;

/// The plots as a dock panel, with the prediction overlay built once per change of what it
/// shows (not every frame).
#[derive(Default)]
pub struct PlotsPanel {
    overlay: Option<(super::session::OverlayKey, Option<PredictionOverlay>)>,
}

impl Panel for PlotsPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        let (Some(ep), Some(data)) = (&session.episode, &session.plot_data) else {
            ui.weak("no episode open");
            return Vec::new();
        };
        if !data.is_for(ep.uid) {
            return Vec::new();
        }
        let key = session.overlay_key();
        if self.overlay.as_ref().is_none_or(|(k, _)| *k != key) {
            self.overlay = Some((key, session.prediction_overlay()));
        }
        let overlay = self.overlay.as_ref().and_then(|(_, o)| o.as_ref());
        egui::ScrollArea::vertical()
            .id_salt("plots_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                plots_ui(
                    ui,
                    data,
                    session.step(),
                    session.settings.show_proprio,
                    overlay,
                    session.highlight.as_ref(),
                )
            })
            .inner
            .map(Intent::StepChanged)
            .into_iter()
            .collect()
    }
}

/// One plotted series.
pub struct SeriesData {
    id: String,
    title: String,
    points: Vec<PlotPoint>,
    color: egui::Color32,
    /// Values the y range must include (0 for actions; 0 and 1 for a gripper).
    include_y: Vec<f64>,
}

/// Everything the plots show for one episode.
pub struct PlotData {
    episode_uid: u64,
    convention: String,
    actions: Vec<SeriesData>,
    proprio: Vec<SeriesData>,
}

impl PlotData {
    pub fn from_episode(ep: &Episode) -> Self {
        let labels = ep.actions.convention.dimension_labels();
        let actions = labels
            .into_iter()
            .enumerate()
            .map(|(d, title)| SeriesData {
                id: format!("action{d}"),
                title,
                points: ep
                    .actions
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, a)| PlotPoint::new(i as f64, f64::from(a[d])))
                    .collect(),
                color: theme::dimension_color(d),
                include_y: if d == 6 { vec![0.0, 1.0] } else { vec![0.0] },
            })
            .collect();
        let proprio = ep
            .proprio
            .as_ref()
            .map(|p| {
                p.names
                    .iter()
                    .enumerate()
                    .map(|(d, name)| SeriesData {
                        id: format!("proprio{d}"),
                        title: name.clone(),
                        points: p
                            .values
                            .iter()
                            .enumerate()
                            .filter_map(|(i, v)| {
                                v.get(d).map(|x| PlotPoint::new(i as f64, f64::from(*x)))
                            })
                            .collect(),
                        color: theme::dimension_color(d),
                        include_y: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            episode_uid: ep.uid,
            convention: ep.actions.convention.describe(),
            actions,
            proprio,
        }
    }

    /// Whether this data was built for episode `uid`.
    pub fn is_for(&self, uid: u64) -> bool {
        self.episode_uid == uid
    }
}

/// Model predictions drawn over the ground-truth actions: the live model's and each open
/// evaluation store's, each in its colour.
#[derive(Default)]
pub struct PredictionOverlay {
    pub series: Vec<OverlaySeries>,
}

/// One source of predictions, per action dimension: the chunk predicted at the current step
/// (at steps s..s+3) and the first action of every chunk predicted (one point per step).
pub struct OverlaySeries {
    pub label: String,
    pub color: egui::Color32,
    pub chunk: [Vec<PlotPoint>; 7],
    pub first_actions: [Vec<PlotPoint>; 7],
}

impl OverlaySeries {
    /// From `(step, chunk)` pairs (chunk rows in dataset units), current step `step`.
    pub fn build(
        label: String,
        color: egui::Color32,
        predictions: impl Iterator<Item = (usize, Vec<[f64; 7]>)>,
        step: usize,
    ) -> Self {
        let mut o = OverlaySeries {
            label,
            color,
            chunk: Default::default(),
            first_actions: Default::default(),
        };
        for (s, chunk) in predictions {
            if let Some(first) = chunk.first() {
                for (series, v) in o.first_actions.iter_mut().zip(first) {
                    series.push(PlotPoint::new(s as f64, *v));
                }
            }
            if s == step {
                for (k, a) in chunk.iter().enumerate() {
                    for (series, v) in o.chunk.iter_mut().zip(a) {
                        series.push(PlotPoint::new((s + k) as f64, *v));
                    }
                }
            }
        }
        o
    }
}

/// Whether a finding's dimensions name this series: an action dimension by its short name
/// (`dx` for "dx (m)"), a state dimension by its whole name.
fn highlighted(s: &SeriesData, h: &super::Highlight) -> bool {
    let action = s.id.starts_with("action");
    let first = s.title.split_whitespace().next().unwrap_or("");
    h.dims.is_empty()
        || h.dims
            .iter()
            .any(|d| d == &s.title || (action && d == first))
}

/// Grid marks at 1, 2 or 5 x 10^k, the finest such step whose labels are at least
/// [`LABEL_STEP_PX`] apart, plus unlabelled minor lines at a fifth of it. `base_step_size`
/// is egui_plot's smallest step, 8 points of the axis.
pub fn nice_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (lo, hi) = input.bounds;
    let base = input.base_step_size;
    if !(lo.is_finite() && hi.is_finite() && base.is_finite() && base > 0.0 && hi > lo) {
        return Vec::new();
    }
    let wanted = base * f64::from(LABEL_STEP_PX) / 8.0;
    let decade = 10f64.powf(wanted.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= wanted)
        .unwrap_or(10.0 * decade);
    let minor = step / 5.0;
    let (first, last) = ((lo / minor).ceil() as i64, (hi / minor).floor() as i64);
    if last - first > 10_000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| {
            let major = k.rem_euclid(5) == 0;
            egui_plot::GridMark {
                value: k as f64 * minor,
                step_size: if major { step } else { minor },
            }
        })
        .collect()
}

/// A tick's label with as many decimals as its step needs: 0.005 steps print "0.005",
/// "0.010" (egui_plot's default rounds the decimals, so 2-5 steps printed "0.01" twice).
pub fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10() - 1e-9).ceil().clamp(0.0, 12.0) as usize
    } else {
        0
    };
    let text = format!("{value:.decimals$}");
    // No "-0.000" for a tick at zero.
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

/// The smallest distance between two labelled y ticks, points.
const LABEL_STEP_PX: f32 = 14.0;

fn plot_series(
    ui: &mut egui::Ui,
    s: &SeriesData,
    step: usize,
    link: egui::Id,
    overlay: &[(&OverlaySeries, usize)],
    highlight: Option<&super::Highlight>,
) -> Option<usize> {
    let mut clicked = None;
    ui.label(egui::RichText::new(&s.title).small());
    let mut plot = Plot::new(&s.id)
        .height(theme::PLOT_HEIGHT)
        .link_axis(link, [true, false])
        .allow_zoom([true, false])
        .allow_scroll(false)
        .allow_drag([true, false])
        // Small tick labels allowed 10 px apart, at 1-2-5 steps: at the plots' height the
        // defaults (20 px, body text, powers of ten only) left many a y axis with a lone "0".
        .y_grid_spacer(nice_marks)
        .custom_y_axes(vec![
            egui_plot::AxisHints::new_y()
                .label_spacing(10.0..=13.0)
                .tick_label_font(egui::FontId::proportional(10.0))
                .formatter(|m, _| tick_label(m.value, m.step_size))
                .min_thickness(48.0),
        ]);
    for y in &s.include_y {
        plot = plot.include_y(*y);
    }
    plot.show(ui, |p| {
        p.line(Line::new(&s.title, PlotPoints::Borrowed(&s.points)).color(s.color));
        for (o, k) in overlay {
            let (chunk, firsts) = (o.chunk[*k].as_slice(), o.first_actions[*k].as_slice());
            if firsts.len() > 1 {
                p.line(
                    Line::new(
                        format!("{} (first of chunk)", o.label),
                        PlotPoints::Borrowed(firsts),
                    )
                    .color(o.color)
                    .style(egui_plot::LineStyle::dashed_loose()),
                );
            }
            if !chunk.is_empty() {
                p.line(
                    Line::new(format!("{} chunk", o.label), PlotPoints::Borrowed(chunk))
                        .color(o.color)
                        .width(2.5),
                );
                p.points(
                    egui_plot::Points::new(
                        format!("{} chunk steps", o.label),
                        PlotPoints::Borrowed(chunk),
                    )
                    .color(o.color)
                    .radius(3.0),
                );
            }
        }
        if let Some(h) = highlight.filter(|h| highlighted(s, h))
            && let Some((a, b)) = h.steps
        {
            let marked: Vec<PlotPoint> = s
                .points
                .iter()
                .filter(|q| q.x >= a as f64 - 0.5 && q.x <= b as f64 + 0.5)
                .copied()
                .collect();
            p.vline(VLine::new("finding", a as f64 - 0.5).color(theme::WARN_TEXT));
            p.vline(VLine::new("finding", b as f64 + 0.5).color(theme::WARN_TEXT));
            p.points(
                egui_plot::Points::new("finding", PlotPoints::Owned(marked))
                    .color(theme::WARN_TEXT)
                    .radius(4.0),
            );
        }
        p.vline(VLine::new("step", step as f64).color(theme::STEP_MARKER));
        if p.response().clicked()
            && let Some(c) = p.pointer_coordinate()
        {
            clicked = Some(c.x.round().max(0.0) as usize);
        }
    });
    clicked
}

fn block_ui(
    ui: &mut egui::Ui,
    series: &[SeriesData],
    step: usize,
    link: egui::Id,
    overlay: Option<&PredictionOverlay>,
    highlight: Option<&super::Highlight>,
) -> Option<usize> {
    let columns = if ui.available_width() > 900.0 { 2 } else { 1 };
    let mut clicked = None;
    ui.columns(columns, |cols| {
        for (k, s) in series.iter().enumerate() {
            let o: Vec<(&OverlaySeries, usize)> = overlay
                .filter(|_| k < 7)
                .map(|o| o.series.iter().map(|s| (s, k)).collect())
                .unwrap_or_default();
            if let Some(c) = plot_series(&mut cols[k % columns], s, step, link, &o, highlight) {
                clicked = Some(c);
            }
        }
    });
    clicked
}

/// Draws the action (and optionally proprio) plots; returns a step the user clicked.
pub fn plots_ui(
    ui: &mut egui::Ui,
    data: &PlotData,
    step: usize,
    show_proprio: bool,
    overlay: Option<&PredictionOverlay>,
    highlight: Option<&super::Highlight>,
) -> Option<usize> {
    let link = egui::Id::unique(("plots", data.episode_uid));
    ui.strong("Actions");
    ui.weak(&data.convention);
    let mut clicked = block_ui(ui, &data.actions, step, link, overlay, highlight);
    if show_proprio && !data.proprio.is_empty() {
        ui.strong("Proprio");
        clicked = block_ui(ui, &data.proprio, step, link, None, highlight).or(clicked);
    }
    clicked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y_marks_use_1_2_5_steps_at_least_14_points_apart() {
        // -0.012..0.06 at 0.0016 per 8 points (360 points); labels every 0.005 (14 px
        // needs 0.0028, the next 1-2-5 step up).
        let marks = nice_marks(egui_plot::GridInput {
            bounds: (-0.012, 0.06),
            base_step_size: 0.0016,
        });
        let labelled: Vec<f64> = marks
            .iter()
            .filter(|m| (m.step_size - 0.005).abs() < 1e-12)
            .map(|m| (m.value * 1e6).round() / 1e6)
            .collect();
        assert_eq!(labelled.first(), Some(&-0.01));
        assert_eq!(labelled.last(), Some(&0.06));
        assert!(labelled.contains(&0.0));
        assert_eq!(labelled.len(), 15);
        assert!(
            nice_marks(egui_plot::GridInput {
                bounds: (1.0, 0.0),
                base_step_size: 0.1,
            })
            .is_empty()
        );
    }

    #[test]
    fn tick_labels_show_the_digits_their_step_needs() {
        let labels: Vec<String> = [0.0, 0.005, 0.01, 0.015]
            .iter()
            .map(|v| tick_label(*v, 0.005))
            .collect();
        assert_eq!(labels, ["0.000", "0.005", "0.010", "0.015"]);
        assert_eq!(tick_label(-1e-17, 0.01), "0.00");
        assert_eq!(tick_label(20.0, 10.0), "20");
        assert_eq!(tick_label(0.2, 0.2), "0.2");
    }
}
