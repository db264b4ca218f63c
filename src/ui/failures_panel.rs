//! The Failures window: an evaluation store (`spatialscope eval`) read on the worker, its
//! steps in a table sorted by the chosen metric (worst first), filterable by text and flags,
//! with a histogram of that metric; a click opens the step's episode at that step (when the
//! store's dataset is the one open) and shows the stored prediction beside its ground truth,
//! without running the model (the plots, the 3-D view and the model panel draw it too).
//!
//! A second store (B, another checkpoint on the same dataset) is compared with the first
//! (A): each row shows both values, a summary says how often B is worse or better, and B's
//! largest regressions are listed first, each a click away.

use egui_plot::{Bar, BarChart, Plot};

use super::Intent;
use super::session::{STORE_NAMES, Session};
use crate::pipeline::eval::compare::Comparison;
use crate::pipeline::eval::{EvalRow, LoadedStore};
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
    /// The store folders typed: A, and B to compare with A.
    pub path_text: String,
    pub path_text_b: String,
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

fn chunk_table(ui: &mut egui::Ui, r: &EvalRow, name: &str) {
    egui::Grid::new(("failure_chunk", name))
        .striped(true)
        .show(ui, |ui| {
            ui.strong("step");
            for d in crate::action_grid::distribution::DIMENSION_NAMES {
                ui.strong(d);
            }
            ui.end_row();
            for k in 0..crate::pipeline::eval::row::CHUNK {
                let predicted = format!("{name} predicted");
                for (label, v) in [
                    (predicted.as_str(), &r.predicted),
                    ("robot", &r.ground_truth),
                ] {
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
        "{name}: tokens {:?}\np {:?}",
        r.token_ids,
        r.token_probabilities
            .iter()
            .map(|p| (p * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    ));
}

/// The stored prediction of a step (ids, probabilities, chunk against the robot's), as the
/// model panel shows it when no live prediction exists.
pub fn stored_prediction_ui(ui: &mut egui::Ui, slot: usize, store: &LoadedStore, r: &EvalRow) {
    ui.label(
        egui::RichText::new(format!(
            "stored prediction, store {} {}",
            STORE_NAMES[slot],
            store.label()
        ))
        .color(super::theme::STORED[slot.min(1)]),
    );
    chunk_table(ui, r, STORE_NAMES[slot]);
}

/// A jump to a row's episode and step, marking the chunk's steps.
fn jump(
    datasets: &[DatasetInfo],
    dataset: &str,
    episode: u32,
    step: u32,
    len: u8,
) -> Option<Intent> {
    let d = datasets.iter().position(|d| d.name == dataset)?;
    Some(Intent::JumpTo {
        dataset: d,
        episode: episode as usize,
        step: Some(step as usize),
        highlight: Some(super::Highlight {
            // The chunk's steps that exist in the episode.
            steps: Some((step as usize, step as usize + usize::from(len.max(1)) - 1)),
            dims: Vec::new(),
        }),
    })
}

/// The two store slots: a path field and Open, or the open store and Close.
fn store_rows(
    ui: &mut egui::Ui,
    state: &mut FailuresState,
    session: &Session,
    out: &mut Vec<Intent>,
) {
    for (slot, name) in STORE_NAMES.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(if slot == 0 {
                "store A"
            } else {
                "compare with B"
            });
            match &session.stores[slot] {
                Some(s) => {
                    ui.colored_label(
                        super::theme::STORED[slot],
                        format!("{} · {} steps", s.label(), s.rows.len()),
                    );
                    if ui.button(format!("Close {name}")).clicked() {
                        out.push(Intent::CloseStore(slot));
                    }
                }
                None => {
                    let text = if slot == 0 {
                        &mut state.path_text
                    } else {
                        &mut state.path_text_b
                    };
                    ui.add(
                        egui::TextEdit::singleline(text)
                            .hint_text("folder written by spatialscope eval --out")
                            .desired_width(320.0),
                    );
                    let enabled = slot == 0 || session.stores[0].is_some();
                    let label = if slot == 0 { "Open store" } else { "Open B" };
                    if ui.add_enabled(enabled, egui::Button::new(label)).clicked()
                        && !text.trim().is_empty()
                    {
                        out.push(Intent::OpenStore {
                            path: text.trim().into(),
                            slot,
                        });
                    }
                }
            }
        });
    }
}

/// The stores recorded for the open dataset that are not open: one click opens one as A
/// (or as B when A is open).
fn offers_ui(ui: &mut egui::Ui, session: &Session, out: &mut Vec<Intent>) {
    let open: Vec<&std::path::Path> = session
        .stores
        .iter()
        .flatten()
        .map(|s| s.path.as_path())
        .collect();
    let offers: Vec<_> = session
        .store_offers
        .iter()
        .filter(|o| !open.contains(&o.store.as_path()))
        .collect();
    if offers.is_empty() || session.stores[1].is_some() {
        return;
    }
    let slot = usize::from(session.stores[0].is_some());
    ui.label(egui::RichText::new("evaluated on this dataset").small());
    for o in offers {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} · {}",
                o.store.display(),
                o.checkpoint_label.split(" (").next().unwrap_or_default()
            ));
            if ui
                .button(format!("Open as {}", STORE_NAMES[slot]))
                .clicked()
            {
                out.push(Intent::OpenStore {
                    path: o.store.clone(),
                    slot,
                });
            }
        });
    }
}

/// B against A for the chosen metric: the summary and B's largest regressions (clickable).
fn comparison_ui(
    ui: &mut egui::Ui,
    c: &Comparison,
    metric: usize,
    datasets: &[DatasetInfo],
    out: &mut Vec<Intent>,
) {
    let Some(m) = c.metrics.get(metric) else {
        return;
    };
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    ui.label(format!(
        "B vs A on {} shared steps ({} only in A, {} only in B): mean A {} vs B {}; B worse on {}, better on {}",
        m.steps,
        c.only_in_a,
        c.only_in_b,
        fmt(m.mean_a),
        fmt(m.mean_b),
        m.b_worse,
        m.b_better
    ));
    if m.most_worse.is_empty() {
        return;
    }
    ui.label(egui::RichText::new("B's largest regressions").strong());
    egui::ScrollArea::vertical()
        .id_salt("regressions")
        .max_height(110.0)
        .show(ui, |ui| {
            for d in &m.most_worse {
                let text = format!(
                    "+{:.4}  {} step {}  (A {:.4}, B {:.4})",
                    d.worse_by, d.episode, d.step, d.a, d.b
                );
                if ui.selectable_label(false, text).clicked() {
                    out.extend(jump(datasets, &d.dataset, d.episode_index, d.step, 4));
                }
            }
        });
}

/// Draws the window.
pub fn failures_window(
    ctx: &egui::Context,
    state: &mut FailuresState,
    session: &Session,
) -> Vec<Intent> {
    let mut intents = Vec::new();
    let mut open = state.open;
    let datasets = &session.datasets;
    egui::Window::new("Failures")
        .open(&mut open)
        .default_size([760.0, 600.0])
        .vscroll(false)
        .show(ctx, |ui| {
            store_rows(ui, state, session, &mut intents);
            offers_ui(ui, session, &mut intents);
            let Some(store) = session.stores[0].as_ref() else {
                ui.weak("Evaluate with `spatialscope eval --model DIR DATASET --out STORE`, then open the STORE folder here.");
                return;
            };
            let (manifest, rows) = (&store.manifest, &store.rows);
            let b = session.stores[1].as_ref();
            ui.label(format!(
                "{} · key {} · every {}",
                manifest.dataset_path,
                manifest.settings.unnorm_key.as_deref().unwrap_or("per episode"),
                manifest.settings.every
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
            if let Some(c) = &session.comparison {
                comparison_ui(ui, c, state.metric, datasets, &mut intents);
            }
            let key = (
                state.metric,
                state.filter.clone(),
                state.only_flagged,
                std::ptr::from_ref(rows.as_slice()).cast::<u8>() as usize,
            );
            if state.order.as_ref().is_none_or(|(k, _)| *k != key) {
                let order = sorted_rows(rows, state.metric, &state.filter, state.only_flagged);
                state.order = Some((key, order));
            }
            let order = &state.order.as_ref().expect("set above").1;
            let value = METRICS[state.metric].1;
            let line = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            egui::ScrollArea::vertical()
                .max_height(200.0)
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
                        let vs_b = b
                            .and_then(|b| b.row_at(&r.dataset, r.episode_index as usize, r.step as usize))
                            .map(|rb| format!(" (B {:.4})", value(rb)))
                            .unwrap_or_default();
                        let text = format!(
                            "{:>9.4}{vs_b}  {} step {}  {}{}",
                            value(r),
                            r.episode,
                            r.step,
                            r.instruction,
                            flags
                        );
                        if ui.selectable_label(state.selected == Some(i), text).clicked() {
                            state.selected = Some(i);
                            intents.extend(jump(datasets, &r.dataset, r.episode_index, r.step, r.ground_truth_len));
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
                egui::ScrollArea::vertical().id_salt("failure_detail").show(ui, |ui| {
                    chunk_table(ui, r, "A");
                    if let Some(rb) = b.and_then(|b| b.row_at(&r.dataset, r.episode_index as usize, r.step as usize)) {
                        chunk_table(ui, rb, "B");
                    }
                });
            }
        });
    state.open = open;
    intents
}
