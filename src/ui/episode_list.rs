//! The episode list: every dataset of the opened collection, its episodes with instruction,
//! length and cameras, a search box over instructions and names, and episodes that failed to
//! open marked in red with the reason on hover.
//!
//! Rows have a fixed height (two text lines) and the list is virtualised with
//! `ScrollArea::show_rows`, so a collection of many thousands of episodes costs only the
//! visible rows per frame.

use std::collections::BTreeSet;

use egui::{Role, Sense, WidgetInfo};

use super::doctor_panel::{severity_colour, worst_for};
use super::panel::Panel;
use super::session::Session;
use super::{Intent, theme};
use crate::pipeline::doctor::{DatasetHealth, Severity};
use crate::worker::DatasetInfo;

/// The episode list as a dock panel.
#[derive(Debug, Default)]
pub struct EpisodesPanel {
    pub list: EpisodeListState,
}

impl Panel for EpisodesPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        episode_list_ui(
            ui,
            &session.datasets,
            session.selected,
            &mut self.list,
            session.doctor.as_ref(),
        )
        .into_iter()
        .collect()
    }
}

/// State of the list that is not data: the search text and collapsed datasets.
#[derive(Debug, Default)]
pub struct EpisodeListState {
    pub filter: String,
    pub collapsed: BTreeSet<usize>,
    /// Show only episodes the doctor flagged with a warning or an error.
    pub only_flagged: bool,
}

/// The doctor's result for the list: (dataset, findings).
type Health<'a> = Option<&'a (usize, std::sync::Arc<DatasetHealth>)>;

/// The worst doctor severity naming episode `ei` of dataset `di`, when the doctor has run on
/// that dataset.
fn flag(health: Health<'_>, di: usize, ei: usize) -> Option<Severity> {
    health
        .filter(|(d, _)| *d == di)
        .and_then(|(_, h)| worst_for(h, ei))
}

#[derive(Debug, Clone, Copy)]
enum Row {
    Dataset(usize),
    Episode(usize, usize),
}

fn rows(datasets: &[DatasetInfo], state: &EpisodeListState, health: Health<'_>) -> Vec<Row> {
    let needle = state.filter.to_lowercase();
    let mut out = Vec::new();
    for (di, d) in datasets.iter().enumerate() {
        out.push(Row::Dataset(di));
        if state.collapsed.contains(&di) {
            continue;
        }
        for (ei, s) in d.summaries.iter().enumerate() {
            let matches = needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.instruction
                    .as_deref()
                    .is_some_and(|i| i.to_lowercase().contains(&needle));
            let flagged = || flag(health, di, ei).is_some_and(|s| s >= Severity::Warning);
            let checked = health.is_some_and(|(d, _)| *d == di);
            if matches && (!state.only_flagged || !checked || flagged()) {
                out.push(Row::Episode(di, ei));
            }
        }
    }
    out
}

/// Draws the list; `selected` is the open (dataset, episode).
pub fn episode_list_ui(
    ui: &mut egui::Ui,
    datasets: &[DatasetInfo],
    selected: Option<(usize, usize)>,
    state: &mut EpisodeListState,
    health: Health<'_>,
) -> Option<Intent> {
    let mut intent = None;
    ui.horizontal(|ui| {
        ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(&mut state.filter)
                .hint_text("search instructions")
                .desired_width(f32::INFINITY),
        );
    });
    let total: usize = datasets.iter().map(|d| d.summaries.len()).sum();
    ui.weak(format!("{} dataset(s), {total} episode(s)", datasets.len()));
    if let Some((di, h)) = health {
        let flagged = (0..h.episodes)
            .filter(|&e| worst_for(h, e).is_some_and(|s| s >= Severity::Warning))
            .count();
        let name = datasets.get(*di).map_or("", |d| d.name.as_str());
        ui.checkbox(
            &mut state.only_flagged,
            format!("only flagged episodes ({flagged} in {name})"),
        )
        .on_hover_text("Episodes the doctor found a warning or an error in (Doctor window).");
    }
    ui.separator();

    let rows = rows(datasets, state, health);
    let line = ui.text_style_height(&egui::TextStyle::Body);
    let row_height = 2.0 * line + 6.0;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, rows.len(), |ui, range| {
            for row in &rows[range] {
                match *row {
                    Row::Dataset(di) => {
                        let d = &datasets[di];
                        let open = !state.collapsed.contains(&di);
                        let arrow = if open { "v" } else { ">" };
                        let text = format!(
                            "{arrow} {} ({}, {})",
                            d.name,
                            d.format.label(),
                            d.summaries.len()
                        );
                        let r = ui.add_sized(
                            [ui.available_width(), row_height],
                            egui::Button::new(egui::RichText::new(text).strong()).frame(false),
                        );
                        let hover = match &d.orientation {
                            Some((_, why)) => format!(
                                "{}\nimages: {why}\n(right-click to change)",
                                d.root.display()
                            ),
                            None => d.root.display().to_string(),
                        };
                        let r = r.on_hover_text(hover);
                        if r.clicked() && !state.collapsed.remove(&di) {
                            state.collapsed.insert(di);
                        }
                        if let Some((current, _)) = d.orientation {
                            r.context_menu(|ui| {
                                use crate::episode::ImageOrientation as Orientation;
                                ui.label("Image orientation");
                                for (o, label) in [
                                    (Orientation::Auto, "from the file (auto)"),
                                    (Orientation::AsStored, "as stored"),
                                    (Orientation::Flipped, "flipped vertically"),
                                ] {
                                    if ui.radio(current == o, label).clicked() {
                                        intent = Some(Intent::SetOrientation {
                                            dataset: di,
                                            orientation: o,
                                        });
                                        ui.close();
                                    }
                                }
                            });
                        }
                    }
                    Row::Episode(di, ei) => {
                        if episode_row(
                            ui,
                            &datasets[di],
                            ei,
                            selected == Some((di, ei)),
                            row_height,
                            flag(health, di, ei),
                        ) {
                            intent = Some(Intent::SelectEpisode {
                                dataset: di,
                                episode: ei,
                            });
                        }
                    }
                }
            }
        });
    intent
}

/// One two-line row; true when clicked (and not already selected).
fn episode_row(
    ui: &mut egui::Ui,
    d: &DatasetInfo,
    ei: usize,
    is_selected: bool,
    height: f32,
    flag: Option<Severity>,
) -> bool {
    let s = &d.summaries[ei];
    let failure = d.failures.get(ei).and_then(Option::as_ref);
    let steps = s.num_steps.map_or("?".to_owned(), |n| n.to_string());
    let top = format!("{}  ·  {steps} steps  ·  {} cam", s.name, s.cameras.len());
    let bottom = match (failure, s.instruction.as_deref()) {
        (Some(_), _) => "cannot open (hover for the reason)".to_owned(),
        (None, Some(i)) if !i.is_empty() => i.to_owned(),
        (None, Some(_)) => "(no instruction)".to_owned(),
        (None, None) => "…".to_owned(),
    };
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), height), Sense::click());
    let label = format!("{top}\n{bottom}");
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, is_selected, &label));
    if ui.is_rect_visible(rect) {
        let visuals = ui.style().interact_selectable(&response, is_selected);
        if is_selected || response.hovered() {
            ui.painter().rect_filled(rect, 2.0, visuals.weak_bg_fill);
        }
        let text_color = if failure.is_some() {
            theme::ERROR_TEXT
        } else {
            visuals.text_color()
        };
        let font = egui::TextStyle::Body.resolve(ui.style());
        let painter = ui.painter().with_clip_rect(rect.shrink(2.0));
        let x = rect.left() + 6.0;
        painter.text(
            egui::pos2(x, rect.top() + 3.0),
            egui::Align2::LEFT_TOP,
            top,
            font.clone(),
            text_color,
        );
        painter.text(
            egui::pos2(x, rect.center().y + 1.0),
            egui::Align2::LEFT_TOP,
            bottom,
            font,
            text_color.gamma_multiply(0.8),
        );
        if let Some(sev) = flag {
            // A badge at the right: the worst doctor finding on this episode.
            let c = egui::pos2(rect.right() - 12.0, rect.top() + 11.0);
            let colour = severity_colour(sev);
            if sev >= Severity::Warning {
                painter.circle_filled(c, 7.0, colour);
                painter.text(
                    c,
                    egui::Align2::CENTER_CENTER,
                    "!",
                    egui::FontId::proportional(11.0),
                    egui::Color32::BLACK,
                );
            } else {
                painter.circle_filled(c, 3.5, colour);
            }
        }
    }
    let mut hover = match failure {
        Some(f) => f.message.clone(),
        None => format!(
            "{}\ncameras: {}",
            s.instruction.as_deref().unwrap_or("…"),
            s.cameras.join(", ")
        ),
    };
    if let Some(sev) = flag {
        hover.push_str(&format!("\ndoctor: {} (Doctor window)", sev.label()));
    }
    response.on_hover_text(hover).clicked() && !is_selected
}
