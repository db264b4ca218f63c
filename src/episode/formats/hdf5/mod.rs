//! robomimic / LIBERO / robocasa HDF5: `data/demo_N/{actions, obs/<camera>_image, ...}`.
//!
//! Opening lists the demos and reads their attributes only (instruction, length); an episode
//! reads its small arrays (actions, proprio, camera poses) and keeps handles to its image
//! and depth datasets, from which frames are read on demand. Frames are stored in gzip
//! chunks that often span many frames, so they are read a chunk-aligned block at a time and
//! the latest block is kept ([`Blocks`]): stepping through an episode inflates each chunk once.
//!
//! Image orientation: robosuite renders bottom-up; robomimic flips its frames upright
//! (`macros_image_convention = "opencv"`), LIBERO's files keep them upside down. The
//! attribute decides when present; otherwise LIBERO files (recognised by their
//! `problem_info`/`bddl_file_name` attributes) are flipped and others shown as stored. The
//! user can force either ([`ImageOrientation`]); the episode notes say which is used and why.
//!
//! Actions: the stored `actions` are the controller's normalised input (OSC deltas in
//! [-1, 1], gripper -1 open / +1 close) and are shown as stored; when the file also has
//! metric actions (`action_dict/rel_pos_m`, `rel_rot_rpy_rad`, `gripper_open`, as in the
//! sim sample) those are used, in SpatialVLA's convention.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::Matrix4;

mod frames;
mod h5;

use frames::{Blocks, Hdf5Frames, Stream};
use h5::{Group, H5File, str_attr};

use crate::episode::types::next_episode_uid;
use crate::episode::{
    ActionConvention, ActionFrame, Actions, CalibrationOrigin, Camera, CameraPoses, DatasetFormat,
    Episode, EpisodeError, EpisodeSource, EpisodeSummary, FrameCache, ImageOrientation, Intrinsics,
    Proprio, Result,
};

/// One demo as listed at open.
#[derive(Debug, Clone)]
pub struct DemoMeta {
    pub group: String,
    pub summary: EpisodeSummary,
}

/// An HDF5 file of demos.
#[derive(Debug)]
pub struct Hdf5Dataset {
    pub path: PathBuf,
    pub name: String,
    pub demos: Vec<DemoMeta>,
    /// Whether frames are flipped, and the reason shown to the user.
    pub flip: bool,
    pub flip_reason: String,
    /// What the user asked for.
    pub orientation: ImageOrientation,
    file: H5File,
}

fn h5err(path: &Path, what: impl std::fmt::Display) -> EpisodeError {
    EpisodeError::metadata(path, what.to_string())
}

/// Whether `path` looks like an HDF5 file (by its signature, not its name).
pub fn is_hdf5_file(path: &Path) -> bool {
    use std::io::Read;
    let mut sig = [0u8; 8];
    path.is_file()
        && std::fs::File::open(path).is_ok_and(|mut f| f.read_exact(&mut sig).is_ok())
        && sig == *b"\x89HDF\r\n\x1a\n"
}

/// The instruction of a demo: its own attributes, then LIBERO's file-level `problem_info`.
fn instruction(demo: &Group, data: &Group) -> Option<String> {
    str_attr(demo, "language_instruction")
        .or_else(|| {
            let meta: serde_json::Value = serde_json::from_str(&str_attr(demo, "ep_meta")?).ok()?;
            meta.get("lang")?.as_str().map(str::to_owned)
        })
        .or_else(|| {
            let info: serde_json::Value =
                serde_json::from_str(&str_attr(data, "problem_info")?).ok()?;
            info.get("language_instruction")?
                .as_str()
                .map(str::to_owned)
        })
}

/// Sort key for `demo_10` after `demo_9`.
fn demo_order(name: &str) -> (u64, String) {
    let n = name
        .rsplit('_')
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(u64::MAX);
    (n, name.to_owned())
}

/// Camera names: `obs/<camera>_image` (robomimic) or `obs/<camera>_rgb`.
fn camera_names(obs: &Group) -> Vec<String> {
    let mut names: Vec<String> = h5::dataset_names(obs)
        .into_iter()
        .filter_map(|m| {
            m.strip_suffix("_image")
                .or_else(|| m.strip_suffix("_rgb"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

fn image_key(obs: &Group, cam: &str) -> String {
    if h5::has_dataset(obs, &format!("{cam}_image")) {
        format!("{cam}_image")
    } else {
        format!("{cam}_rgb")
    }
}

impl Hdf5Dataset {
    pub fn open(path: &Path, orientation: ImageOrientation) -> Result<Self> {
        if !is_hdf5_file(path) {
            return Err(EpisodeError::UnknownFormat {
                path: path.to_owned(),
                reason: "not an HDF5 file (no HDF5 signature)".into(),
            });
        }
        let file =
            H5File::open(path).map_err(|e| h5err(path, format!("cannot open HDF5 file: {e}")))?;
        let data = file.group("data").map_err(|_| {
            h5err(
                path,
                "no `data` group (expected robomimic/LIBERO layout data/demo_N)",
            )
        })?;
        let mut groups = h5::group_names(&data);
        groups.sort_by_key(|g| demo_order(g));
        let mut demos = Vec::with_capacity(groups.len());
        for g in groups {
            let demo = data.group(&g).map_err(|e| h5err(path, e))?;
            let num_steps = h5::int_attr(&demo, "num_samples")
                .and_then(|n| usize::try_from(n).ok())
                .or_else(|| {
                    let a = demo.dataset("actions").ok()?;
                    Some(h5::shape(&a).ok()?.first().copied().unwrap_or(0))
                });
            let cameras = demo
                .group("obs")
                .map(|o| camera_names(&o))
                .unwrap_or_default();
            demos.push(DemoMeta {
                summary: EpisodeSummary {
                    name: g.clone(),
                    instruction: instruction(&demo, &data),
                    num_steps,
                    cameras,
                },
                group: g,
            });
        }
        let convention = str_attr(&data, "macros_image_convention");
        let libero = h5::has_attr(&data, "problem_info")
            || h5::has_attr(&data, "bddl_file_name")
            || path.to_string_lossy().to_lowercase().contains("libero");
        let (flip, flip_reason) = match (orientation, convention.as_deref()) {
            (ImageOrientation::AsStored, _) => (false, "shown as stored (chosen by the user)".to_owned()),
            (ImageOrientation::Flipped, _) => (true, "flipped vertically (chosen by the user)".to_owned()),
            (ImageOrientation::Auto, Some("opencv")) => (
                false,
                "stored upright (data.attrs macros_image_convention = \"opencv\")".to_owned(),
            ),
            (ImageOrientation::Auto, Some("opengl")) => (
                true,
                "flipped: stored upside down (data.attrs macros_image_convention = \"opengl\")".to_owned(),
            ),
            (ImageOrientation::Auto, _) if libero => (
                true,
                "flipped: LIBERO files store frames upside down (no macros_image_convention attribute)".to_owned(),
            ),
            (ImageOrientation::Auto, _) => (
                false,
                "shown as stored: the file does not say which way up its images are (flip them if they look upside down)".to_owned(),
            ),
        };
        Ok(Self {
            path: path.to_owned(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            demos,
            flip,
            flip_reason,
            orientation,
            file,
        })
    }

    fn err(&self, episode: usize, what: impl std::fmt::Display) -> EpisodeError {
        EpisodeError::EpisodeData {
            path: self.path.clone(),
            episode,
            what: what.to_string(),
        }
    }

    /// Reads a 1-D or 2-D numeric array at `name` inside `demo` as rows of `f64`.
    fn rows(&self, demo: &Group, i: usize, name: &str) -> Result<Option<Vec<Vec<f64>>>> {
        let Ok(ds) = demo.dataset(name) else {
            return Ok(None);
        };
        let err = |w: String| self.err(i, format!("`{name}`: {w}"));
        let shape = h5::shape(&ds).map_err(err)?;
        let width = match shape.len() {
            1 => 1,
            2 => shape[1],
            n => return Err(self.err(i, format!("`{name}` has {n} dimensions, expected 1 or 2"))),
        };
        let values = h5::read_all_f64(&ds, self.file.len_bytes).map_err(err)?;
        if values.len() != shape[0].saturating_mul(width) {
            return Err(self.err(
                i,
                format!("`{name}`: read {} values for shape {shape:?}", values.len()),
            ));
        }
        Ok(Some(
            values.chunks(width.max(1)).map(<[f64]>::to_vec).collect(),
        ))
    }

    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        let meta = self
            .demos
            .get(i)
            .ok_or_else(|| EpisodeError::EpisodeOutOfRange {
                path: self.path.clone(),
                index: i,
                len: self.demos.len(),
            })?;
        let data = self.file.group("data").map_err(|e| self.err(i, e))?;
        let demo = data.group(&meta.group).map_err(|e| self.err(i, e))?;

        // Actions: metric ones when present, else the stored controller input.
        let metric = (
            self.rows(&demo, i, "action_dict/rel_pos_m")?,
            self.rows(&demo, i, "action_dict/rel_rot_rpy_rad")?,
            self.rows(&demo, i, "action_dict/gripper_open")?,
        );
        let mut notes = vec![format!("images: {}", self.flip_reason)];
        let (rows, convention) = match metric {
            (Some(p), Some(r), Some(g)) if p.len() == r.len() && p.len() == g.len() => {
                notes.push("actions: action_dict/rel_pos_m, rel_rot_rpy_rad, gripper_open (metric; `actions` holds the normalised controller input)".into());
                let rows: Vec<Vec<f64>> = p
                    .into_iter()
                    .zip(r)
                    .zip(g)
                    .map(|((p, r), g)| p.into_iter().chain(r).chain(g).collect())
                    .collect();
                (
                    rows,
                    ActionConvention {
                        frame: ActionFrame::World,
                        ..ActionConvention::metric_delta_base()
                    },
                )
            }
            _ => {
                let rows = self
                    .rows(&demo, i, "actions")?
                    .ok_or_else(|| self.err(i, format!("{}: no `actions` dataset", meta.group)))?;
                notes.push("actions as stored: robomimic/LIBERO controller input (OSC deltas normalised to [-1, 1], gripper -1 open / +1 close)".into());
                (rows, ActionConvention::unknown())
            }
        };
        let n = rows.len();
        if n == 0 {
            return Err(self.err(
                i,
                format!("{}: the demo has zero steps (empty `actions`)", meta.group),
            ));
        }
        let (values, note) = super::seven_dim_actions(&rows, &self.path, Some(i))?;
        notes.extend(note);

        // Proprio: the usual robomimic and LIBERO keys that exist, concatenated.
        let mut names = Vec::new();
        let mut prop: Vec<Vec<f32>> = vec![Vec::new(); n];
        for key in [
            "robot0_eef_pos",
            "robot0_eef_quat_site",
            "robot0_gripper_qpos",
            "ee_pos",
            "ee_ori",
            "gripper_states",
            "joint_states",
        ] {
            if let Some(r) = self.rows(&demo, i, &format!("obs/{key}"))?
                && r.len() == n
                && let Some(w) = r.first().map(Vec::len)
            {
                names.extend((0..w).map(|j| format!("{key}[{j}]")));
                for (dst, src) in prop.iter_mut().zip(r) {
                    dst.extend(src.into_iter().map(|v| v as f32));
                }
            }
        }
        let proprio = (!names.is_empty()).then_some(Proprio {
            names,
            values: prop,
        });

        // Cameras.
        let obs = demo
            .group("obs")
            .map_err(|_| self.err(i, format!("{}: no `obs` group", meta.group)))?;
        let camera_info: Option<serde_json::Value> =
            str_attr(&demo, "camera_info").and_then(|t| serde_json::from_str(&t).ok());
        let mut cameras = Vec::new();
        let mut streams = Vec::new();
        for cam in camera_names(&obs) {
            let key = image_key(&obs, &cam);
            let image = obs
                .dataset(&key)
                .map_err(|e| self.err(i, format!("obs/{key}: {e}")))?;
            let shape = h5::shape(&image).map_err(|e| self.err(i, format!("obs/{key}: {e}")))?;
            if shape.len() == 4 && (shape[1] > MAX_SIDE_PX || shape[2] > MAX_SIDE_PX) {
                return Err(self.err(
                    i,
                    format!(
                        "obs/{key} has shape {shape:?}: frames larger than {MAX_SIDE_PX} px a side are refused"
                    ),
                ));
            }
            let dtype = h5::dtype(&image);
            if dtype != Some(hdf5_pure::DType::U8) {
                return Err(self.err(
                    i,
                    format!(
                        "obs/{key} holds {} values; RGB frames must be 8-bit unsigned (uint8) as robomimic and LIBERO write them",
                        dtype.map_or("unreadable".to_owned(), |t| h5::type_name(&t))
                    ),
                ));
            }
            if shape.len() != 4 || shape[3] != 3 || shape[0] != n {
                return Err(self.err(
                    i,
                    format!("obs/{key} has shape {shape:?}, expected ({n}, H, W, 3)"),
                ));
            }
            let (h, w) = (shape[1] as u32, shape[2] as u32);
            let depth = obs.dataset(&format!("{cam}_depth")).ok().filter(|d| {
                let Ok(s) = h5::shape(d) else { return false };
                let numeric = h5::dtype(d).is_some_and(|t| h5::is_numeric(&t));
                numeric
                    && (s.len() == 3 || (s.len() == 4 && s[3] == 1))
                    && s[0] == n
                    && s[1] == shape[1]
                    && s[2] == shape[2]
            });
            // Integer depth is millimetres (the common uint16 encoding), float depth metres.
            let depth_in_mm = depth
                .as_ref()
                .and_then(h5::dtype)
                .is_some_and(|t| h5::is_integer(&t));
            let params = demo.group(&format!("camera_params/{cam}")).ok();
            let k = params
                .as_ref()
                .and_then(|p| p.dataset("K").ok())
                .filter(|d| h5::shape(d).is_ok_and(|s| s == [3, 3]))
                .and_then(|d| h5::read_all_f64(&d, self.file.len_bytes).ok())
                .filter(|k| k.len() == 9)
                .map(|k| [[k[0], k[1], k[2]], [k[3], k[4], k[5]], [k[6], k[7], k[8]]])
                .or_else(|| {
                    let m = camera_info.as_ref()?.get(&cam)?.get("intrinsics")?;
                    serde_json::from_value::<[[f64; 3]; 3]>(m.clone()).ok()
                });
            let intrinsics = k
                .map(|k| Intrinsics::from_k(&k, w, h))
                .filter(Intrinsics::is_valid);
            let poses = params
                .as_ref()
                .and_then(|p| p.dataset("world_from_camera_opencv").ok())
                .filter(|d| h5::shape(d).is_ok_and(|s| s == [n, 4, 4]))
                .and_then(|d| h5::read_all_f64(&d, self.file.len_bytes).ok())
                .filter(|a| a.len() == n * 16)
                .map(|a| {
                    let all: Vec<Matrix4<f64>> = a
                        .chunks_exact(16)
                        .map(|m| Matrix4::from_fn(|r, c| m[r * 4 + c]))
                        .collect();
                    match all.first() {
                        Some(f) if all.iter().all(|m| m == f) => CameraPoses::Static(*f),
                        Some(_) => CameraPoses::PerStep(all),
                        None => CameraPoses::Unknown,
                    }
                })
                .or_else(|| {
                    // robomimic's camera_info: world pose for fixed cameras only (a wrist
                    // camera's is relative to the end effector).
                    if cam.contains("eye_in_hand") {
                        return None;
                    }
                    let m = camera_info.as_ref()?.get(&cam)?.get("extrinsics")?;
                    let m = serde_json::from_value::<[[f64; 4]; 4]>(m.clone()).ok()?;
                    Some(CameraPoses::Static(Matrix4::from_fn(|r, c| m[r][c])))
                })
                .unwrap_or(CameraPoses::Unknown);
            cameras.push(Camera {
                name: cam.clone(),
                width_px: w,
                height_px: h,
                intrinsics_source: CalibrationOrigin::file_if(intrinsics.is_some()),
                intrinsics,
                poses,
                has_depth: depth.is_some(),
                placeholder: false,
            });
            streams.push(Stream {
                name: cam,
                key,
                image: Blocks::new(image, self.file.len_bytes, 1),
                depth: depth.map(|d| Blocks::new(d, self.file.len_bytes, 8)),
                depth_in_mm,
                size: (w, h),
            });
        }

        Ok(Episode {
            uid: next_episode_uid(),
            name: meta.group.clone(),
            instruction: meta.summary.instruction.clone().unwrap_or_default(),
            fps: control_rate(&demo, &data),
            source: EpisodeSource {
                format: DatasetFormat::Hdf5,
                path: self.path.clone(),
                record: Some(i),
            },
            dataset_key: None,
            cameras,
            actions: Actions { convention, values },
            proprio,
            notes,
            timestamps_s: None,
            frames: Arc::new(Hdf5Frames {
                path: self.path.clone(),
                episode: i,
                group: meta.group.clone(),
                flip: self.flip,
                streams,
            }),
            cache: cache.clone(),
        })
    }
}

/// Largest image side accepted, pixels.
const MAX_SIDE_PX: usize = 16_384;
/// The control rate from `env_args.env_kwargs.control_freq` (robomimic), when stated.
fn control_rate(demo: &Group, data: &Group) -> Option<f64> {
    let args = str_attr(demo, "env_args").or_else(|| str_attr(data, "env_args"))?;
    let v: serde_json::Value = serde_json::from_str(&args).ok()?;
    v.get("env_kwargs")?
        .get("control_freq")?
        .as_f64()
        .filter(|f| f.is_finite() && *f > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demos_sort_numerically() {
        let mut v = vec!["demo_10", "demo_9", "demo_1"];
        v.sort_by_key(|g| demo_order(g));
        assert_eq!(v, ["demo_1", "demo_9", "demo_10"]);
    }
}
