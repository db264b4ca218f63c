//! The one palette: every colour that means something (a dimension, the prediction, the
//! ground truth, a depth source, the grid's bin) is defined here once, as sRGB bytes, and
//! used by the 3-D view's lines, the 2-D panels (`ui::theme` wraps these as egui colours),
//! the depth overlay and the exported charts, so a colour means the same everywhere.
//! The camera-id colours live in `shaders/points.wgsl` (`camera_color`), mirrored in
//! [`CAMERAS`] for legends; keep the two in sync.

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// Action dimensions x, y, z, roll, pitch, yaw, gripper (and one spare for padded actions).
pub const DIMENSIONS: [Rgb; 8] = [
    [230, 85, 80],
    [90, 190, 90],
    [80, 140, 235],
    [235, 160, 60],
    [180, 110, 220],
    [70, 200, 200],
    [200, 200, 200],
    [160, 160, 120],
];

/// Colour of action dimension `d`.
pub fn dimension(d: usize) -> Rgb {
    DIMENSIONS[d % DIMENSIONS.len()]
}

/// The model's predictions: curves, chunk markers, the 3-D "worm".
pub const PREDICTION: Rgb = [255, 80, 200];
/// Predictions read from evaluation stores A and B (plots, the 3-D worms), beside the live
/// prediction's magenta.
pub const STORED: [Rgb; 2] = [[120, 235, 110], [60, 200, 255]];
/// The recorded (ground-truth) action and the end-effector trajectory.
pub const GROUND_TRUTH: Rgb = [245, 245, 245];
/// The step's action (arrow in 3-D) and a decoded bin centre.
pub const ACTION: Rgb = [255, 140, 60];
/// The action grid's bin of the step's action (cell edge in 2-D, wedge in 3-D).
pub const GRID_BIN: Rgb = [110, 170, 240];
/// Bin edges of the action grid, and the 3-D ground grid.
pub const GRID_LINE: Rgb = [75, 75, 85];
/// Camera frustums.
pub const FRUSTUM: Rgb = [235, 200, 80];
/// The model's patch outlines ("as the model sees it").
pub const PATCH: Rgb = [120, 200, 255];
/// World axes x, y, z.
pub const AXES: [Rgb; 3] = [[230, 70, 60], [80, 200, 90], [70, 120, 240]];
/// ZoeDepth's estimate when overlaid on the sensor depth.
pub const ESTIMATED_DEPTH: Rgb = [255, 150, 40];
/// The sensor depth in that overlay.
pub const SENSOR_DEPTH: Rgb = [60, 200, 255];
/// Statistics a dataset ships with (LeRobot `meta/stats.json`), beside the computed ones.
pub const DECLARED_STATS: Rgb = [90, 170, 255];
/// The current step's marker.
pub const STEP_MARKER: Rgb = [255, 210, 60];
/// Errors.
pub const ERROR: Rgb = [255, 110, 100];
/// Warnings and notes.
pub const WARNING: Rgb = [240, 190, 80];
/// Points whose RGB is unknown (depth and image of different sizes).
pub const UNKNOWN_POINT: Rgb = [200, 200, 200];

/// Charts for slides (`spatialscope stats`) are drawn on white: their ink, axes and marks.
pub mod chart {
    use super::Rgb;
    /// Axes and text.
    pub const AXIS: Rgb = [40, 40, 40];
    /// Grid lines.
    pub const GRID: Rgb = [225, 225, 225];
    /// The data's own q01/q99 and the expected (equal-probability) level.
    pub const DATA_MARK: Rgb = [220, 160, 0];
    /// The statistics' q01/q99 (a checkpoint's key).
    pub const STATS_MARK: Rgb = [230, 90, 20];
    /// Means.
    pub const MEAN_MARK: Rgb = [30, 30, 30];
    /// Standard deviations.
    pub const STD_MARK: Rgb = [150, 150, 150];
}

/// The camera-id colours of `shaders/points.wgsl` (`camera_color`), as bytes.
pub const CAMERAS: [Rgb; 6] = [
    [242, 115, 89],
    [89, 191, 242],
    [140, 230, 102],
    [242, 204, 77],
    [204, 128, 242],
    [230, 230, 230],
];

#[cfg(test)]
mod tests {
    /// The shader's palette, parsed, equals [`super::CAMERAS`].
    #[test]
    fn the_camera_palette_matches_the_shader() {
        let wgsl = include_str!("../../shaders/points.wgsl");
        let body = wgsl
            .split("fn camera_color")
            .nth(1)
            .and_then(|s| s.split("return").next())
            .expect("camera_color in points.wgsl");
        let values: Vec<f32> = body
            .split("vec3<f32>(")
            .skip(1) // what precedes the first entry
            .filter_map(|e| e.split(')').next())
            .flat_map(|e| {
                e.split(',')
                    .map(|v| v.trim().parse::<f32>().expect("number"))
            })
            .collect();
        let bytes: Vec<u8> = values.iter().map(|v| (v * 255.0).round() as u8).collect();
        let expected: Vec<u8> = super::CAMERAS.iter().flatten().copied().collect();
        assert_eq!(bytes, expected);
    }
}
