//! Colours and sizes in one place.

use egui::Color32;

/// Colour of action dimension `d` (0..7) in plots.
pub fn dimension_color(d: usize) -> Color32 {
    const COLORS: [Color32; 8] = [
        Color32::from_rgb(230, 85, 80),   // x
        Color32::from_rgb(90, 190, 90),   // y
        Color32::from_rgb(80, 140, 235),  // z
        Color32::from_rgb(235, 160, 60),  // roll
        Color32::from_rgb(180, 110, 220), // pitch
        Color32::from_rgb(70, 200, 200),  // yaw
        Color32::from_rgb(200, 200, 200), // gripper
        Color32::from_rgb(160, 160, 120),
    ];
    COLORS[d % COLORS.len()]
}

/// The current-step marker in plots.
pub const STEP_MARKER: Color32 = Color32::from_rgb(255, 210, 60);
/// Errors in the status bar.
pub const ERROR_TEXT: Color32 = Color32::from_rgb(255, 110, 100);
/// Warnings and notes (placeholder cameras, nominal intrinsics).
pub const WARN_TEXT: Color32 = Color32::from_rgb(240, 190, 80);
/// Size of the instruction text.
pub const INSTRUCTION_SIZE: f32 = 18.0;
/// Largest height of one camera image, points.
pub const MAX_IMAGE_HEIGHT: f32 = 210.0;
/// Height of one time-series plot, points.
pub const PLOT_HEIGHT: f32 = 84.0;
/// Width of the episode list, points.
pub const EPISODE_LIST_WIDTH: f32 = 300.0;

/// Action-grid drawing: bin edges.
pub const GRID_LINE: Color32 = Color32::from_rgb(80, 80, 90);
/// The bin the action falls in.
pub const GRID_CELL: Color32 = Color32::from_rgba_premultiplied(60, 110, 170, 140);
pub const GRID_CELL_EDGE: Color32 = Color32::from_rgb(110, 170, 240);
/// The ground-truth action.
pub const GROUND_TRUTH: Color32 = Color32::from_rgb(250, 250, 250);
/// A decoded bin centre.
pub const DECODED: Color32 = Color32::from_rgb(255, 140, 60);
/// Statistics a dataset ships with (LeRobot `meta/stats.json`), beside the computed ones.
pub const DECLARED_STATS: Color32 = Color32::from_rgb(90, 170, 255);
/// Width of the action-grid panel, points.
pub const GRID_PANEL_WIDTH: f32 = 470.0;
/// Height of the 3-D view, points.
pub const VIEW3D_HEIGHT: f32 = 330.0;

/// Model predictions (curves, chunk markers) against the white/dimension-coloured truth.
pub const PREDICTION: Color32 = Color32::from_rgb(255, 80, 200);
