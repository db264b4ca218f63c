//! The Failures window: an evaluation store (`spatialscope eval`) read on the worker, its
//! steps in a table sorted by the chosen metric (worst first), filterable by text and flags,
//! with a histogram of that metric; a click opens the step's episode at that step (when the
//! store's dataset is the one open) and shows the stored prediction beside its ground truth,
//! without running the model.

use std::sync::Arc;

use egui_plot::{Bar, BarChart, Plot};

use super::Intent;
use crate::pipeline::eval::{EvalRow, Manifest};
use crate::worker::DatasetInfo;

/// A metric the table sorts by: (label, value, whether larger is worse).
type Metric = (&'static str, fn(&EvalRow) -> f32, bool);

const METRICS: [Metric; 5] = [
    ("first translation L2 (m)", |r| r.first_translation_l2, true),
    ("chunk translation L2 (m)", |r| r.chunk_translation_l2, true),
    ("direction (deg)", |r| r.first_direction_deg, true),
    ("rotation L2 (rad)", |r| r.first_rotation_l2, true),
    ("gripper agreement", |r| r.gripper_agreement, false),
];

/// The window's state and the open store.
#[derive(Debug, Default)]
pub struct FailuresState {
    pub open: bool,
    /// The store folder typed or picked.
    pub path_text: String,
    pub store: Option<(std::path::PathBuf, Manifest, Arc<Vec<EvalRow>>)>,
    /// Index into [`METRICS`].
    pub metric: usize,
    pub filter: String,
    pub only_flagged: bool,
    /// The row shown in detail (index into the store's rows).
    pub selected: Option<usize>,
    /// The sorted, filtered order and what it was made for (metric, filter, flagged, rows):
    /// sorted once per change, not every frame.
    order: Option<(OrderKey, Vec<usize>)>,
}

/// What a sorted order was made for: (metric, filter, only flagged, the rows' address).
type OrderKey = (usize, String, bool, usize);

/// Rows to show, sorted worst first by the chosen metric (NaN last).
pub fn sorted_rows(
    rows: &[EvalRow],
    metric: usize,
    filter: &str,
    only_flagged: bool,
) -> Vec<usize> {
    let (_, value, larger_is_worse) = METRICS[metric.min(METRICS.len() - 1)];
    let needle = filter.to_lowercase();
    let mut idx: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            let r = &rows[i];
            (!only_flagged || r.malformed || r.low_confidence)
                && (needle.is_empty()
                    || r.instruction.to_lowercase().contains(&needle)
                    || r.episode.to_lowercase().contains(&needle)
                    || r.dataset.to_lowercase().contains(&needle))
        })
        .collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (value(&rows[a]), value(&rows[b]));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if larger_is_worse => y.total_cmp(&x),
            _ => x.total_cmp(&y),
        }
        .then(rows[a].key().cmp(&rows[b].key()))
    });
    idx
}

fn histogram(ui: &mut egui::Ui, rows: &[EvalRow], metric: usize) {
    let (label, value, _) = METRICS[metric];
    let v: Vec<f32> = rows.iter().map(value).filter(|x| x.is_finite()).collect();
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if v.is_empty() {
        return;
    }
    let bins = 30usize;
    let width = ((hi - lo) / bins as f32).max(1e-9);
    let mut counts = vec![0u32; bins];
    for x in &v {
        counts[(((x - lo) / width) as usize).min(bins - 1)] += 1;
    }
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            Bar::new(f64::from(lo + (i as f32 + 0.5) * width), f64::from(c)).width(f64::from(width))
        })
        .collect();
    ui.label(egui::RichText::new(format!("{label}: {} steps", v.len())).small());
    Plot::new("failures_histogram")
        .height(90.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |p| p.bar_chart(BarChart::new(label, bars)));
}

fn chunk_table(ui: &mut egui::Ui, r: &EvalRow) {
    egui::Grid::new("failure_chunk")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("step");
            for d in crate::action_grid::distribution::DIMENSION_NAMES {
                ui.strong(d);
            }
            ui.end_row();
            for k in 0..crate::pipeline::eval::row::CHUNK {
                for (label, v) in [("predicted", &r.predicted), ("robot", &r.ground_truth)] {
                    ui.label(format!("+{k} {label}"));
                    for d in 0..7 {
                        let x = v[k * 7 + d];
                        ui.label(if x.is_finite() {
                            format!("{x:+.4}")
                        } else {
                            "-".into()
                        });
                    }
                    ui.end_row();
                }
            }
        });
    ui.label(format!(
        "tokens {:?}\np {:?}",
        r.token_ids,
        r.token_probabilities
            .iter()
            .map(|p| (p * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    ));
}

/// Draws the window.
pub fn failures_window(
    ctx: &egui::Context,
    state: &mut FailuresState,
    datasets: &[DatasetInfo],
) -> Vec<Intent> {
    let mut intents = Vec::new();
    let mut open = state.open;
    egui::Window::new("Failures")
        .open(&mut open)
        .default_size([720.0, 560.0])
        .vscroll(false)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.label("store");
                ui.add(
                    egui::TextEdit::singleline(&mut state.path_text)
                        .hint_text("folder written by spatialscope eval --out")
                        .desired_width(360.0),
                );
                if ui.button("Open store").clicked() && !state.path_text.trim().is_empty() {
                    intents.push(Intent::OpenStore(state.path_text.trim().into()));
                }
            });
            let Some((path, manifest, rows)) = &state.store else {
                ui.weak("Evaluate with `spatialscope eval --model DIR DATASET --out STORE`, then open the STORE folder here.");
                return;
            };
            ui.label(format!(
                "{} · {} steps · {} · key {}",
                path.display(),
                rows.len(),
                manifest.checkpoint_label,
                manifest.settings.unnorm_key.as_deref().unwrap_or("per episode")
            ));
            ui.horizontal_wrapped(|ui| {
                egui::ComboBox::from_id_salt("failure_metric")
                    .selected_text(METRICS[state.metric].0)
                    .show_ui(ui, |ui| {
                        for (i, m) in METRICS.iter().enumerate() {
                            ui.selectable_value(&mut state.metric, i, m.0);
                        }
                    });
                ui.add(egui::TextEdit::singleline(&mut state.filter).hint_text("filter").desired_width(160.0));
                ui.checkbox(&mut state.only_flagged, "only malformed / low confidence");
            });
            histogram(ui, rows, state.metric);
            let key = (
                state.metric,
                state.filter.clone(),
                state.only_flagged,
                Arc::as_ptr(rows) as usize,
            );
            if state.order.as_ref().is_none_or(|(k, _)| *k != key) {
                let order = sorted_rows(rows, state.metric, &state.filter, state.only_flagged);
                state.order = Some((key, order));
            }
            let order = &state.order.as_ref().expect("set above").1;
            let value = METRICS[state.metric].1;
            let line = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            egui::ScrollArea::vertical()
                .max_height(220.0)
                .auto_shrink([false, false])
                .show_rows(ui, line, order.len(), |ui, range| {
                    for &i in &order[range] {
                        let r = &rows[i];
                        let flags = match (r.malformed, r.low_confidence) {
                            (true, true) => " [malformed, low p]",
                            (true, false) => " [malformed]",
                            (false, true) => " [low p]",
                            _ => "",
                        };
                        let text = format!(
                            "{:>9.4}  {} step {}  {}{}",
                            value(r),
                            r.episode,
                            r.step,
                            r.instruction,
                            flags
                        );
                        if ui
                            .selectable_label(state.selected == Some(i), text)
                            .clicked()
                        {
                            state.selected = Some(i);
                            if let Some(d) = datasets.iter().position(|d| d.name == r.dataset) {
                                intents.push(Intent::JumpTo {
                                    dataset: d,
                                    episode: r.episode_index as usize,
                                    step: Some(r.step as usize),
                                    highlight: Some(super::Highlight {
                                        // The chunk's steps that exist in the episode.
                                        steps: Some((
                                            r.step as usize,
                                            r.step as usize
                                                + usize::from(r.ground_truth_len.max(1))
                                                - 1,
                                        )),
                                        dims: Vec::new(),
                                    }),
                                });
                            }
                        }
                    }
                });
            if let Some(r) = state.selected.and_then(|i| rows.get(i)) {
                ui.separator();
                if !datasets.iter().any(|d| d.name == r.dataset) {
                    ui.weak(format!(
                        "dataset `{}` is not open (open {} to jump to its steps)",
                        r.dataset, manifest.dataset_path
                    ));
                }
                chunk_table(ui, r);
            }
        });
    state.open = open;
    intents
}
