//! Sizes of the panels, and the palette's colours as egui colours (every colour is defined
//! once, in `render::palette`).

use egui::Color32;

use crate::render::palette;

const fn rgb(c: palette::Rgb) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

/// Colour of action dimension `d` (0..7) in plots.
pub fn dimension_color(d: usize) -> Color32 {
    rgb(palette::dimension(d))
}

/// The current-step marker in plots.
pub const STEP_MARKER: Color32 = rgb(palette::STEP_MARKER);
/// Errors in the status bar.
pub const ERROR_TEXT: Color32 = rgb(palette::ERROR);
/// Warnings and notes (placeholder cameras, nominal intrinsics).
pub const WARN_TEXT: Color32 = rgb(palette::WARNING);
/// Size of the instruction text.
pub const INSTRUCTION_SIZE: f32 = 18.0;
/// Largest height of one camera image, points (the pane's height decides below it).
pub const MAX_IMAGE_HEIGHT: f32 = 480.0;
/// Smallest height of one camera image, points (the pane scrolls below it).
pub const MIN_IMAGE_HEIGHT: f32 = 64.0;
/// Height of one time-series plot, points.
pub const PLOT_HEIGHT: f32 = 84.0;

/// Action-grid drawing: bin edges.
pub const GRID_LINE: Color32 = rgb(palette::GRID_LINE);
/// The bin the action falls in.
pub const GRID_CELL: Color32 = Color32::from_rgba_premultiplied(60, 110, 170, 140);
pub const GRID_CELL_EDGE: Color32 = rgb(palette::GRID_BIN);
/// The ground-truth action.
pub const GROUND_TRUTH: Color32 = rgb(palette::GROUND_TRUTH);
/// A decoded bin centre.
pub const DECODED: Color32 = rgb(palette::ACTION);
/// Statistics a dataset ships with (LeRobot `meta/stats.json`), beside the computed ones.
pub const DECLARED_STATS: Color32 = rgb(palette::DECLARED_STATS);

/// Model predictions (curves, chunk markers) against the white/dimension-coloured truth.
pub const PREDICTION: Color32 = rgb(palette::PREDICTION);
/// Predictions of evaluation stores A and B.
pub const STORED: [Color32; 2] = [rgb(palette::STORED[0]), rgb(palette::STORED[1])];
