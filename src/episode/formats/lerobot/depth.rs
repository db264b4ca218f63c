//! LeRobot's own depth cameras (lerobot >= 0.6): a video feature whose `info` says
//! `is_depth_map: true`, stored as 12-bit codes (grey HEVC, `gray12le`, lossless by
//! default) that quantise metres between `video.depth_min` and `video.depth_max`, in log
//! space (`video.use_log`, with `video.shift`) or linearly. `depth_unit` records the unit
//! of the frames the writer was given (`m` for floats, `mm` for integers); the parameters
//! are always metres, and the codes mean the same whichever unit was recorded.
//!
//! Decoding inverts the quantisation the way lerobot's `dequantize_depth` does:
//! `scale = (hi - lo) / 4095`, `x = code * scale + lo`, then `exp(x) - shift` in log mode,
//! clamped to `[depth_min, depth_max]`, with `lo`/`hi` = `ln(depth_min + shift)` /
//! `ln(depth_max + shift)` (log) or `depth_min` / `depth_max` (linear). The 4096 possible
//! codes go through a table built once per camera ([`DepthQuant::table_m`]), so a frame costs
//! one lookup per pixel. lerobot has no "no return" code: a sensor's zero lands on code 0 and
//! decodes to `depth_min`, as lerobot's reader gives it.
//!
//! [`pair`] decides which RGB camera a depth feature belongs to (the model and the 3-D view
//! pair depth with the picture): by name (`agentview_depth` with `agentview`), or the only
//! camera of the same size. A depth feature with no partner stays a camera of its own,
//! shown as a grey picture of its distances.

use serde_json::Value;

use super::info::{FeatureJson, IMAGE_PREFIX, Info};
use crate::episode::DepthImage;
use crate::episode::formats::video::LumaSamples;

/// Highest code lerobot writes (12-bit quantisation).
pub const DEPTH_QMAX: u16 = 4095;

/// lerobot's defaults (`lerobot.configs.video`), used when a key is absent.
const DEFAULT_MIN_M: f64 = 0.01;
const DEFAULT_MAX_M: f64 = 10.0;
const DEFAULT_SHIFT_M: f64 = 3.5;
const DEFAULT_USE_LOG: bool = true;

/// The quantisation of one depth feature, from `info.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthQuant {
    pub depth_min_m: f64,
    pub depth_max_m: f64,
    pub shift_m: f64,
    pub use_log: bool,
    /// The unit the writer was given (`m`, `mm`), for display only.
    pub source_unit: Option<String>,
}

/// Whether a feature is a depth video (depth stored as images is not read as metres yet).
pub fn is_depth_video(f: &FeatureJson) -> bool {
    f.dtype == "video" && is_depth_map(f)
}

/// Whether a feature is a depth map, in any of the spellings lerobot reads (`is_depth_map`
/// in `info`, the older `video.is_depth_map` in `info` or in a v2 `video_info`).
pub fn is_depth_map(f: &FeatureJson) -> bool {
    let flag = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    flag(f.info.as_ref(), "is_depth_map")
        || flag(f.info.as_ref(), "video.is_depth_map")
        || flag(f.video_info.as_ref(), "video.is_depth_map")
}

impl DepthQuant {
    /// The parameters of a depth feature (lerobot's defaults for absent keys); an error
    /// names the key that cannot be right.
    pub fn from_feature(f: &FeatureJson) -> Result<Self, String> {
        let info = f.info.as_ref();
        let num = |k: &str, default: f64| -> Result<f64, String> {
            match info.and_then(|i| i.get(k)) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| format!("`{k}` is {v}, not a finite number")),
            }
        };
        let q = Self {
            depth_min_m: num("video.depth_min", DEFAULT_MIN_M)?,
            depth_max_m: num("video.depth_max", DEFAULT_MAX_M)?,
            shift_m: num("video.shift", DEFAULT_SHIFT_M)?,
            use_log: match info.and_then(|i| i.get("video.use_log")) {
                None | Some(Value::Null) => DEFAULT_USE_LOG,
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| format!("`video.use_log` is {v}, not true or false"))?,
            },
            source_unit: info
                .and_then(|i| i.get("depth_unit"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        if q.depth_max_m <= q.depth_min_m {
            return Err(format!(
                "`video.depth_max` ({} m) is not above `video.depth_min` ({} m)",
                q.depth_max_m, q.depth_min_m
            ));
        }
        if q.use_log && q.depth_min_m + q.shift_m <= 0.0 {
            return Err(format!(
                "log quantisation needs `video.depth_min` + `video.shift` > 0 (is {} m)",
                q.depth_min_m + q.shift_m
            ));
        }
        Ok(q)
    }

    /// Metres for every code `0..=4095`, as lerobot dequantises them.
    pub fn table_m(&self) -> Vec<f32> {
        let (lo, hi) = if self.use_log {
            (
                (self.depth_min_m + self.shift_m).ln(),
                (self.depth_max_m + self.shift_m).ln(),
            )
        } else {
            (self.depth_min_m, self.depth_max_m)
        };
        let scale = (hi - lo) / f64::from(DEPTH_QMAX);
        (0..=DEPTH_QMAX)
            .map(|code| {
                let x = f64::from(code) * scale + lo;
                let m = if self.use_log {
                    x.exp() - self.shift_m
                } else {
                    x
                };
                m.clamp(self.depth_min_m, self.depth_max_m) as f32
            })
            .collect()
    }

    /// One line for notes and the inspector.
    pub fn describe(&self) -> String {
        format!(
            "{} quantisation of {}..{} m{} in 12-bit codes{}",
            if self.use_log { "log" } else { "linear" },
            self.depth_min_m,
            self.depth_max_m,
            if self.use_log {
                format!(" (shift {} m)", self.shift_m)
            } else {
                String::new()
            },
            self.source_unit
                .as_deref()
                .map(|u| format!(", recorded from {u}"))
                .unwrap_or_default()
        )
    }
}

/// Metres for a decoded frame of codes, through `table` ([`DepthQuant::table_m`]). Codes
/// above 4095 (a 16-bit decode) clamp to `depth_max` as lerobot's clamp does; 8- and 10-bit
/// samples cannot hold lerobot's codes and are refused.
pub fn to_metres(luma: &LumaSamples, table: &[f32]) -> Result<DepthImage, String> {
    if !matches!(luma.bit_depth, 12 | 16) {
        return Err(format!(
            "the depth video decodes to {}-bit samples; LeRobot depth codes are 12-bit (gray12le)",
            luma.bit_depth
        ));
    }
    let last = *table.last().ok_or("empty depth table")?;
    Ok(DepthImage {
        width_px: luma.width_px,
        height_px: luma.height_px,
        depth_m: luma
            .samples
            .iter()
            .map(|&c| table.get(usize::from(c)).copied().unwrap_or(last))
            .collect(),
    })
}

/// How the camera features of a dataset split into pictures and depth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pairing {
    /// (feature key, camera name) of every camera shown: RGB cameras and unpaired depth.
    pub cameras: Vec<(String, String)>,
    /// (RGB feature key, depth feature key) pairs.
    pub depth_of: Vec<(String, String)>,
    /// What the pairing decided that a user should know.
    pub notes: Vec<String>,
}

impl Pairing {
    /// The depth feature paired with camera feature `key`.
    pub fn depth_for(&self, key: &str) -> Option<&str> {
        self.depth_of
            .iter()
            .find(|(r, _)| r == key)
            .map(|(_, d)| d.as_str())
    }
}

/// Words that say what a stream is rather than which camera it comes from.
const KIND_WORDS: [&str; 9] = [
    "depth", "depths", "dpt", "rgb", "color", "colour", "image", "images", "img",
];

/// A camera name without the words for its kind: `agentview_depth` and `agentview_rgb`
/// are both `agentview`.
fn stem(name: &str) -> String {
    name.to_ascii_lowercase()
        .split(['_', '.', '-', '/'])
        .filter(|t| !t.is_empty() && !KIND_WORDS.contains(t))
        .collect::<Vec<_>>()
        .join("_")
}

fn camera_name(key: &str) -> String {
    key.strip_prefix(IMAGE_PREFIX).unwrap_or(key).to_owned()
}

/// Pairs each depth feature with its RGB camera ([module docs](self)).
pub fn pair(info: &Info) -> Pairing {
    let feats = &info.json.features;
    let mut out = Pairing::default();
    let mut rgb = Vec::new();
    let mut depth = Vec::new();
    for (key, _) in info.cameras() {
        if is_depth_video(&feats[&key]) {
            depth.push(key);
        } else {
            rgb.push(key);
        }
    }
    let size = |k: &String| feats[k].image_size();
    let mut unpaired = Vec::new();
    for d in &depth {
        let taken = |r: &String| out.depth_of.iter().any(|(x, _)| x == r);
        let same_size: Vec<&String> = rgb
            .iter()
            .filter(|r| !taken(r) && size(r) == size(d))
            .collect();
        let by_name: Vec<&&String> = same_size
            .iter()
            .filter(|r| stem(&camera_name(r)) == stem(&camera_name(d)))
            .collect();
        let partner = match (by_name.as_slice(), same_size.as_slice()) {
            ([r], _) => Some((**r).clone()),
            ([], [r]) if rgb.len() == 1 => Some((*r).clone()),
            _ => None,
        };
        match partner {
            Some(r) => {
                out.notes.push(format!(
                    "depth `{}` is paired with camera `{}`",
                    camera_name(d),
                    camera_name(&r)
                ));
                out.depth_of.push((r, d.clone()));
            }
            None => {
                let other_size = rgb
                    .iter()
                    .find(|r| stem(&camera_name(r)) == stem(&camera_name(d)) && size(r) != size(d));
                out.notes.push(match other_size {
                    Some(r) => format!(
                        "depth `{}` ({:?} px) is not the size of camera `{}` ({:?} px), so it is not paired with it; shown as a camera of its own",
                        camera_name(d),
                        size(d).unwrap_or_default(),
                        camera_name(r),
                        size(r).unwrap_or_default()
                    ),
                    None => format!(
                        "depth `{}` matches no camera by name and size; shown as a camera of its own",
                        camera_name(d)
                    ),
                });
                unpaired.push(d.clone());
            }
        }
    }
    out.cameras = rgb
        .iter()
        .chain(&unpaired)
        .map(|k| (k.clone(), camera_name(k)))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(info: &str) -> FeatureJson {
        serde_json::from_str(&format!(
            r#"{{"dtype":"video","shape":[32,48,1],"info":{info}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn defaults_and_flags_as_lerobot_reads_them() {
        let f = feature(r#"{"is_depth_map":true}"#);
        assert!(is_depth_map(&f));
        let q = DepthQuant::from_feature(&f).unwrap();
        assert_eq!(
            (q.depth_min_m, q.depth_max_m, q.shift_m, q.use_log),
            (0.01, 10.0, 3.5, true)
        );
        assert!(is_depth_map(&feature(r#"{"video.is_depth_map":true}"#)));
        assert!(!is_depth_map(&feature(r#"{"video.codec":"av1"}"#)));
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = DepthQuant::from_feature(&feature(
            r#"{"is_depth_map":true,"video.depth_min":2.0,"video.depth_max":1.0}"#,
        ))
        .unwrap_err();
        assert!(e.contains("depth_max"), "{e}");
        let e = DepthQuant::from_feature(&feature(
            r#"{"is_depth_map":true,"video.depth_min":0.0,"video.shift":-1.0}"#,
        ))
        .unwrap_err();
        assert!(e.contains("shift"), "{e}");
        let e =
            DepthQuant::from_feature(&feature(r#"{"is_depth_map":true,"video.use_log":"yes"}"#))
                .unwrap_err();
        assert!(e.contains("use_log"), "{e}");
    }

    /// The table against lerobot's formula written out independently: both ends land on the
    /// limits, codes rise monotonically, and a mid code matches the closed form.
    #[test]
    fn the_table_inverts_lerobot_quantisation() {
        let q = DepthQuant::from_feature(&feature(r#"{"is_depth_map":true}"#)).unwrap();
        let t = q.table_m();
        assert_eq!(t.len(), 4096);
        assert!((t[0] - 0.01).abs() < 1e-6 && (t[4095] - 10.0).abs() < 1e-5);
        assert!(t.windows(2).all(|w| w[1] > w[0]));
        // quantize(1.0 m) = rint((ln 4.5 - ln 3.51) / (ln 13.5 - ln 3.51) * 4095)
        let code = ((4.5f64.ln() - 3.51f64.ln()) / (13.5f64.ln() - 3.51f64.ln()) * 4095.0).round();
        let back = t[code as usize];
        let step = 4.5 * (13.5f64.ln() - 3.51f64.ln()) / 4095.0;
        assert!((f64::from(back) - 1.0).abs() <= step / 2.0 + 1e-6, "{back}");
        let lin = DepthQuant {
            use_log: false,
            depth_min_m: 0.2,
            depth_max_m: 4.0,
            ..q
        };
        let t = lin.table_m();
        assert!((t[2048] - (0.2 + 2048.0 * 3.8 / 4095.0) as f32).abs() < 1e-6);
    }

    #[test]
    fn codes_beyond_the_table_clamp_and_low_bit_depths_are_refused() {
        let table: Vec<f32> = (0..=4095).map(|c| c as f32).collect();
        let luma = LumaSamples {
            width_px: 2,
            height_px: 1,
            bit_depth: 16,
            samples: vec![7, 60000],
        };
        assert_eq!(to_metres(&luma, &table).unwrap().depth_m, [7.0, 4095.0]);
        let e = to_metres(
            &LumaSamples {
                bit_depth: 8,
                ..luma
            },
            &table,
        )
        .unwrap_err();
        assert!(e.contains("8-bit"), "{e}");
    }

    #[test]
    fn stems_ignore_kind_words() {
        assert_eq!(stem("agentview_depth"), "agentview");
        assert_eq!(stem("rgb.agentview"), "agentview");
        assert_eq!(stem("cam_high-Depth"), "cam_high");
        assert_eq!(stem("depth"), "");
    }
}
