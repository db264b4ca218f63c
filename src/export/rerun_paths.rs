//! Entity paths of spatialscope's Rerun recordings, in one place (the export, its tests and
//! the README name them from here). Timelines: `step` (sequence) and, when the episode's
//! fps is known, `time` (seconds since the first step).
//!
//! ```text
//! world                                   view coordinates (z up), static
//! world/trajectory                        end-effector path, static
//! world/cameras/<cam>                     world_from_camera per step (static if fixed)
//! world/cameras/<cam>/image               pinhole (K, resolution, OpenCV axes), static
//! world/cameras/<cam>/image/rgb           encoded image per step (the dataset's JPEG/PNG bytes)
//! world/cameras/<cam>/image/depth         metric depth per step (float32, metres)
//! world/ego3d/<cam>                       the model's 1,024 Ego3D samples per step
//! world/action                            the step's action arrow (true scale)
//! world/predicted_chunk                   the predicted chunk as arrows (with --model)
//! episode/instruction                     the language instruction, static
//! actions/<dim>                           ground-truth action scalars per step
//! predictions/<dim>                       first action of each predicted chunk (with --model)
//! predictions/tokens                      the generated tokens as text (with --model)
//! predictions/attention                   first token's attention over the patches (with --model)
//! predictions/estimated_depth             ZoeDepth's depth at the model input (with --model)
//! ```

pub const TIMELINE_STEP: &str = "step";
pub const TIMELINE_TIME: &str = "time";

pub const WORLD: &str = "world";
pub const TRAJECTORY: &str = "world/trajectory";
pub const ACTION_ARROW: &str = "world/action";
pub const PREDICTED_CHUNK: &str = "world/predicted_chunk";
pub const INSTRUCTION: &str = "episode/instruction";
pub const TOKENS: &str = "predictions/tokens";
pub const ATTENTION: &str = "predictions/attention";
pub const ESTIMATED_DEPTH: &str = "predictions/estimated_depth";

/// Action dimension names used in paths.
pub const ACTION_DIMS: [&str; 7] = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"];

/// A camera name made safe for an entity path segment.
pub fn segment(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn camera(name: &str) -> String {
    format!("world/cameras/{}", segment(name))
}

pub fn pinhole(name: &str) -> String {
    format!("{}/image", camera(name))
}

pub fn rgb(name: &str) -> String {
    format!("{}/image/rgb", camera(name))
}

pub fn depth(name: &str) -> String {
    format!("{}/image/depth", camera(name))
}

pub fn ego3d(name: &str) -> String {
    format!("world/ego3d/{}", segment(name))
}

pub fn action(dim: usize) -> String {
    format!("actions/{}", ACTION_DIMS[dim])
}

pub fn predicted(dim: usize) -> String {
    format!("predictions/{}", ACTION_DIMS[dim])
}
