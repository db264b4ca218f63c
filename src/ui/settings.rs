//! View settings persisted between runs (eframe storage, versioned key). Only settings, never
//! loaded data; restored values are validated and fall back to defaults.

use serde::{Deserialize, Serialize};

/// Storage key; bump the version when the meaning of a field changes.
pub const STORAGE_KEY: &str = "spatialscope.view_settings.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewSettings {
    /// Show depth views next to RGB where the camera has depth.
    pub show_depth: bool,
    /// Plot proprioception under the actions.
    pub show_proprio: bool,
    /// Playback restarts at the first step after the last.
    pub loop_playback: bool,
    /// Playback speed relative to the dataset's fps.
    pub playback_speed: f32,
    /// Playback rate for datasets that declare no fps.
    pub fallback_fps: f32,
    /// Last opened path, reopened when the app starts with no argument.
    pub last_path: Option<std::path::PathBuf>,
    /// Unnorm key chosen in the grid panel (None: guess from the dataset, else the
    /// episode's own statistics).
    pub unnorm_key: Option<String>,
}

impl Default for ViewSettings {
    fn default() -> Self {
        Self {
            show_depth: true,
            show_proprio: true,
            loop_playback: false,
            playback_speed: 1.0,
            fallback_fps: 5.0,
            last_path: None,
            unnorm_key: None,
        }
    }
}

impl ViewSettings {
    /// Clamps restored values into their valid ranges.
    pub fn validated(mut self) -> Self {
        let d = Self::default();
        if !(self.playback_speed.is_finite() && (0.05..=16.0).contains(&self.playback_speed)) {
            self.playback_speed = d.playback_speed;
        }
        if !(self.fallback_fps.is_finite() && (0.1..=240.0).contains(&self.fallback_fps)) {
            self.fallback_fps = d.fallback_fps;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_restored_values_fall_back_to_defaults() {
        let s = ViewSettings {
            playback_speed: f32::NAN,
            fallback_fps: -3.0,
            ..Default::default()
        }
        .validated();
        assert_eq!(s.playback_speed, 1.0);
        assert_eq!(s.fallback_fps, 5.0);
        let json = r#"{"show_depth": false, "unknown_field": 3}"#;
        let s: ViewSettings =
            serde_json::from_str(json).expect("serde(default) tolerates missing fields");
        assert!(!s.show_depth);
        assert!(s.show_proprio);
    }
}
