//! The model panel's token inspector (every generated token with its slot, bins,
//! probability and top-5 alternatives decoded) and the normalisation check (the same tokens
//! decoded with every key of the checkpoint, ranked against the ground truth's magnitude).

use crate::action_grid::Slot;
use crate::model::predict::rank_keys_by_magnitude;
use crate::pipeline::StepPrediction;
use crate::ui::theme;

fn slot_name(s: Slot) -> &'static str {
    match s {
        Slot::Translation => "translation",
        Slot::Rotation => "rotation",
        Slot::Gripper => "gripper",
    }
}

/// Short slot names for the "found (expected …)" cells, which keep the table narrow.
fn slot_short(s: Slot) -> &'static str {
    match s {
        Slot::Translation => "transl.",
        Slot::Rotation => "rot.",
        Slot::Gripper => "grip.",
    }
}

pub(super) fn tokens_ui(ui: &mut egui::Ui, p: &StepPrediction, selected: &mut usize) {
    let pred = &p.prediction;
    ui.strong("Generated tokens");
    if pred.issues.is_empty() {
        ui.label("well-formed: 12 action tokens in translation/rotation/gripper order, then <eos>");
    } else {
        let n = pred.issues.len();
        ui.colored_label(
            theme::WARN_TEXT,
            format!(
                "malformed chunk ({n} issue{}), decoded with the reference's clamping",
                if n == 1 { "" } else { "s" }
            ),
        );
        ui.collapsing("issues", |ui| {
            for i in &pred.issues {
                ui.label(i);
            }
        });
    }
    let shown = pred.tokens.len().min(3 * 4 + 4);
    // Its own sideways scroll, so it never widens the panel (see the chunk table).
    egui::ScrollArea::horizontal()
        .id_salt("tokens_scroll")
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible)
        .show(ui, |ui| {
            egui::Grid::new("tokens").striped(true).show(ui, |ui| {
                for h in ["#", "token", "p", "slot", "bins"] {
                    ui.strong(h);
                }
                ui.end_row();
                for t in &pred.tokens[..shown] {
                    let is_sel = *selected == t.position;
                    if ui
                        .selectable_label(is_sel, format!("{}", t.position))
                        .on_hover_text("show this token's attention")
                        .clicked()
                    {
                        *selected = t.position;
                    }
                    // The alternatives on hovering the token itself (and the top-5 column).
                    ui.monospace(&t.token)
                        .on_hover_ui(|ui| alternatives_ui(ui, t));
                    ui.monospace(format!("{:.3}", t.probability))
                        .on_hover_ui(|ui| alternatives_ui(ui, t));
                    let found = t.value.as_ref().map(|v| v.slot);
                    match (t.expected_slot, found) {
                        (Some(e), Some(f)) if e == f => {
                            ui.label(slot_name(f));
                        }
                        (Some(e), f) => {
                            ui.colored_label(
                                theme::WARN_TEXT,
                                format!(
                                    "{} (exp. {})",
                                    f.map_or("no action", slot_short),
                                    slot_short(e)
                                ),
                            );
                        }
                        (None, f) => {
                            ui.weak(f.map_or("—", slot_name));
                        }
                    }
                    // The decoded value on hovering the bins (a column of it made the table
                    // wider than the panel).
                    let bins = ui.monospace(
                        t.value
                            .as_ref()
                            .map_or(String::new(), |v| format!("{:?}", v.bins)),
                    );
                    if let Some(raw) = t.value.as_ref().and_then(|v| v.raw.as_ref()) {
                        bins.on_hover_text(format!(
                            "value {}",
                            raw.iter()
                                .map(|x| format!("{x:+.4}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ));
                    }
                    ui.end_row();
                }
            });
        });
    if pred.tokens.len() > shown {
        ui.weak(format!(
            "… {} more generated tokens{}",
            pred.tokens.len() - shown,
            if pred.stopped_on_eos {
                ""
            } else {
                " (no <eos>: generation hit the limit)"
            }
        ));
    }
}

pub(super) fn normalisation_ui(ui: &mut egui::Ui, p: &StepPrediction) {
    let truth: Vec<f64> = p
        .ground_truth
        .iter()
        .map(|a| (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt())
        .collect();
    if truth.is_empty() {
        return;
    }
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    if mean <= 1e-9 {
        ui.weak("normalisation check: the ground truth does not move here");
        return;
    }
    let ranked = rank_keys_by_magnitude(&p.prediction.per_key, mean);
    let chosen = &p.prediction.unnorm_key;
    let pos = ranked.iter().position(|(k, _)| k == chosen);
    let ratio = pos.map(|i| ranked[i].1);
    ui.strong("Normalisation check");
    let text = format!(
        "decoded/true translation with `{chosen}`: ×{:.2} (rank {} of {})",
        ratio.unwrap_or(f64::NAN),
        pos.map_or(0, |i| i + 1),
        ranked.len()
    );
    let suspicious = ratio.is_some_and(|r| !(0.2..=5.0).contains(&r));
    if suspicious {
        ui.colored_label(theme::WARN_TEXT, format!("{text}: likely the wrong key"));
    } else {
        ui.label(text);
    }
    ui.collapsing("closest keys", |ui| {
        for (k, r) in ranked.iter().take(5) {
            ui.monospace(format!("×{r:>6.2}  {k}"));
        }
    });
}

/// A token's top-5 alternatives, each decoded on its own, values rounded to what matters
/// (4 decimals of the raw action, 3 of a probability).
fn alternatives_ui(ui: &mut egui::Ui, t: &crate::model::predict::TokenReport) {
    ui.label(format!(
        "entropy {:.2} nats over the vocabulary",
        t.entropy_nats
    ));
    egui::Grid::new(("top", t.position)).show(ui, |ui| {
        for a in &t.top {
            ui.monospace(&a.token);
            ui.monospace(format!("p {:.3}", a.probability));
            ui.monospace(format!("logit {:.2}", a.logit));
            ui.monospace(
                a.value
                    .as_ref()
                    .map(|v| {
                        let raw = v
                            .raw
                            .as_deref()
                            .unwrap_or(&[])
                            .iter()
                            .map(|x| format!("{x:+.4}"))
                            .collect::<Vec<_>>()
                            .join(" ");
                        format!("{} {:?} -> {raw}", slot_name(v.slot), v.bins)
                    })
                    .unwrap_or_default(),
            );
            ui.end_row();
        }
    });
}
