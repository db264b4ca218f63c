//! The episode list: every dataset of the opened collection, its episodes with instruction,
//! length and cameras, and a search box over instructions and names.

use super::{Intent, theme};
use crate::worker::DatasetInfo;

/// Draws the list; `selected` is the open (dataset, episode).
pub fn episode_list_ui(
    ui: &mut egui::Ui,
    datasets: &[DatasetInfo],
    selected: Option<(usize, usize)>,
    filter: &mut String,
) -> Option<Intent> {
    let mut intent = None;
    ui.horizontal(|ui| {
        ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(filter)
                .hint_text("search instructions")
                .desired_width(f32::INFINITY),
        );
    });
    let needle = filter.to_lowercase();
    let total: usize = datasets.iter().map(|d| d.summaries.len()).sum();
    ui.weak(format!("{} dataset(s), {total} episode(s)", datasets.len()));
    ui.separator();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (di, d) in datasets.iter().enumerate() {
                egui::CollapsingHeader::new(format!(
                    "{} ({}, {})",
                    d.name,
                    d.format.label(),
                    d.summaries.len()
                ))
                .id_salt(("dataset", di))
                .default_open(true)
                .show(ui, |ui| {
                    for (ei, s) in d.summaries.iter().enumerate() {
                        let instruction = s.instruction.as_deref().unwrap_or("…");
                        if !needle.is_empty()
                            && !instruction.to_lowercase().contains(&needle)
                            && !s.name.to_lowercase().contains(&needle)
                        {
                            continue;
                        }
                        let steps = s.num_steps.map_or("?".to_owned(), |n| n.to_string());
                        let text = format!(
                            "{}  ·  {steps} steps  ·  {} cam\n{instruction}",
                            s.name,
                            s.cameras.len()
                        );
                        let is_sel = selected == Some((di, ei));
                        let failure = d.failures.get(ei).and_then(Option::as_ref);
                        let label = match failure {
                            Some(_) => egui::RichText::new(format!("{text}\n(cannot open)"))
                                .color(theme::ERROR_TEXT),
                            None => egui::RichText::new(text),
                        };
                        let hover = match failure {
                            Some(f) => f.message.clone(),
                            None => format!("cameras: {}", s.cameras.join(", ")),
                        };
                        let r = ui.selectable_label(is_sel, label).on_hover_text(hover);
                        if r.clicked() && !is_sel {
                            intent = Some(Intent::SelectEpisode {
                                dataset: di,
                                episode: ei,
                            });
                        }
                    }
                });
            }
        });
    intent
}
