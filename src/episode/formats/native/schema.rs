//! The JSON schema of a native episode folder (`episode.json`, `index.json`), as serde
//! structs; field paths in errors come from `serde_path_to_error`.

use indexmap::IndexMap;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct EpisodeJson {
    #[serde(default)]
    pub(super) format: Option<String>,
    pub(super) instruction: String,
    pub(super) fps: f64,
    pub(super) num_frames: usize,
    pub(super) cameras: IndexMap<String, CameraJson>,
    pub(super) frames: Vec<FrameJson>,
}

#[derive(Deserialize)]
pub(super) struct CameraJson {
    pub(super) width: u32,
    pub(super) height: u32,
    #[serde(rename = "K", default)]
    pub(super) k: Option<[[f64; 3]; 3]>,
    pub(super) rgb_path: String,
    #[serde(default)]
    pub(super) depth_path: Option<String>,
    #[serde(default)]
    pub(super) depth_encoding: Option<DepthEncodingJson>,
    #[serde(default)]
    pub(super) world_from_camera_opencv: Option<[[f64; 4]; 4]>,
    #[serde(default)]
    pub(super) world_from_camera_mujoco: Option<[[f64; 4]; 4]>,
}

#[derive(Deserialize)]
pub(super) struct DepthEncodingJson {
    pub(super) scale_to_metres: f32,
    #[serde(default)]
    pub(super) invalid_value: u16,
}

#[derive(Deserialize)]
pub(super) struct FrameJson {
    pub(super) index: usize,
    /// `null` stands for a non-finite value written as a bare NaN/Infinity token.
    pub(super) action_7d: [Option<f32>; 7],
    /// Seconds from the episode start, when recorded.
    #[serde(default)]
    pub(super) timestamp: Option<f64>,
    #[serde(default)]
    pub(super) proprio: Option<ProprioJson>,
    #[serde(default)]
    pub(super) camera_extrinsics: Option<IndexMap<String, ExtrinsicsJson>>,
}

#[derive(Deserialize)]
pub(super) struct ProprioJson {
    #[serde(default)]
    pub(super) eef_pos_m: Option<[f32; 3]>,
    #[serde(default)]
    pub(super) eef_rpy_rad: Option<[f32; 3]>,
    #[serde(default)]
    pub(super) gripper_qpos_m: Option<[f32; 2]>,
}

#[derive(Deserialize)]
pub(super) struct ExtrinsicsJson {
    #[serde(default)]
    pub(super) world_from_camera_opencv: Option<[[f64; 4]; 4]>,
    #[serde(default)]
    pub(super) world_from_camera_mujoco: Option<[[f64; 4]; 4]>,
}

#[derive(Deserialize)]
pub(super) struct IndexJson {
    #[serde(default)]
    pub(super) format: Option<String>,
    pub(super) episodes: Vec<IndexEntryJson>,
}

#[derive(Deserialize)]
pub(super) struct IndexEntryJson {
    pub(super) folder: String,
    #[serde(default)]
    pub(super) instruction: Option<String>,
    #[serde(default)]
    pub(super) num_frames: Option<usize>,
    #[serde(default)]
    pub(super) cameras: Vec<String>,
}
