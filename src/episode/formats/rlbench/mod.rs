//! RLBench / PerAct episodes: per-camera PNG folders and a pickled demo.
//!
//! Layouts: see [`layout`]. Low-dimensional data comes from `low_dim_obs.pkl`, read by the
//! code-free [`crate::util::pickle`] reader (nothing in the file is imported or run).
//!
//! Cameras follow PyRep's `VisionSensor`, which RLBench records from:
//! - `<cam>_camera_extrinsics` is `get_matrix()`, world-from-camera in CoppeliaSim's camera
//!   axes (x left, y up, z forward); converted here to OpenCV axes by right-multiplying
//!   diag(-1, -1, 1, 1).
//! - `<cam>_camera_intrinsics` is `get_intrinsic_matrix()`: focal lengths negative (the same
//!   axis flip), principal point at (W/2, H/2) for integer pixel coordinates. The magnitudes
//!   are used and the principal point is kept as stored, so the points this program lifts are
//!   the ones PyRep's `pointcloud_from_depth_and_camera_params` (and PerAct, RVT, SpatialActor
//!   after it) computes, half a pixel from a pixel-centre camera. K is scaled if the images
//!   are not the size it describes.
//! - depth: see [`frames`].
//!
//! RLBench stores no actions. Shown are the deltas between consecutive gripper poses (world
//! frame, metres and roll/pitch/yaw with R = Rz Ry Rx) with the next step's gripper state
//! (1 = open), as keyframe methods derive their targets; the last step repeats the pose.

mod demo;
mod frames;
pub mod layout;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::{Matrix4, Quaternion, Rotation3, UnitQuaternion, Vector4};

use crate::episode::types::next_episode_uid;
use crate::episode::{
    ActionConvention, ActionFrame, Actions, CalibrationOrigin, Camera, CameraPoses, DatasetFormat,
    Episode, EpisodeError, EpisodeSource, EpisodeSummary, FrameCache, GripperSense, Intrinsics,
    Proprio, Result, RotationConvention, TranslationUnit,
};
use crate::util::pickle;
use demo::DemoStep;
use frames::{RlFrames, RlStream, read_bounded};
use layout::EpisodeDir;

pub use layout::is_dataset_dir;

/// Largest pickle read, bytes (a demo of thousands of steps is a few MiB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// An RLBench task (or variation, or episode) folder.
#[derive(Debug)]
pub struct RlBenchDataset {
    pub root: PathBuf,
    pub name: String,
    pub episodes: Vec<EpisodeDir>,
}

fn folder_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Reads and parses a pickle inside `root`.
fn read_pickle(path: &Path, root: &Path) -> Result<pickle::Value> {
    let bytes = super::read_confined(path, root, MAX_PICKLE_BYTES, "a pickle")?;
    pickle::parse(&bytes).map_err(|e| EpisodeError::metadata(path, e.to_string()))
}

impl RlBenchDataset {
    /// Lists the episode folders below `path` (reads no pickle).
    pub fn open(path: &Path) -> Result<Self> {
        let root = if path.is_file() {
            path.parent().unwrap_or(Path::new(".")).to_owned()
        } else {
            path.to_owned()
        };
        let episodes = layout::find_episodes(&root);
        if episodes.is_empty() {
            return Err(EpisodeError::UnknownFormat {
                path: root,
                reason: "no RLBench episode folder (episodeN/low_dim_obs.pkl)".to_owned(),
            });
        }
        Ok(Self {
            name: folder_name(&root),
            root,
            episodes,
        })
    }

    fn entry(&self, i: usize) -> Result<&EpisodeDir> {
        self.episodes
            .get(i)
            .ok_or_else(|| EpisodeError::EpisodeOutOfRange {
                path: self.root.clone(),
                index: i,
                len: self.episodes.len(),
            })
    }

    /// What the list shows before an episode is opened.
    pub fn quick_summary(&self, i: usize) -> Option<EpisodeSummary> {
        self.episodes
            .get(i)
            .map(|e| EpisodeSummary::named(e.name.clone()))
    }

    /// Reads the descriptions and the demo for the summary.
    pub fn summarize(&self, i: usize) -> Result<EpisodeSummary> {
        let e = self.entry(i)?;
        let cameras = layout::cameras_in(&e.dir);
        let steps = self.read_steps(e, &cameras)?;
        Ok(EpisodeSummary {
            name: e.name.clone(),
            instruction: Some(
                self.descriptions(e)?
                    .0
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
            ),
            num_steps: Some(steps.len()),
            cameras,
        })
    }

    fn read_steps(&self, e: &EpisodeDir, cameras: &[String]) -> Result<Vec<DemoStep>> {
        let path = e.dir.join(layout::LOW_DIM_PICKLE);
        let value = read_pickle(&path, &self.root)?;
        demo::read_demo(&value, cameras).map_err(|w| EpisodeError::metadata(&path, w))
    }

    /// The instruction variants and the file they came from (empty when there is none).
    fn descriptions(&self, e: &EpisodeDir) -> Result<(Vec<String>, Option<PathBuf>)> {
        for p in layout::description_candidates(&e.dir) {
            if p.is_file() && super::confine(&p, &self.root).is_ok() {
                let v = read_pickle(&p, &self.root)?;
                let d = demo::read_descriptions(&v).map_err(|w| EpisodeError::metadata(&p, w))?;
                return Ok((d, Some(p)));
            }
        }
        Ok((Vec::new(), None))
    }

    /// Opens episode `i`: reads its pickles and each camera's first frame header.
    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        let e = self.entry(i)?;
        let names = layout::cameras_in(&e.dir);
        if names.is_empty() {
            return Err(EpisodeError::metadata(
                &e.dir,
                "no camera folder (<camera>_rgb) in this RLBench episode",
            ));
        }
        let steps = self.read_steps(e, &names)?;
        if steps.is_empty() {
            return Err(EpisodeError::metadata(
                e.dir.join(layout::LOW_DIM_PICKLE),
                "the demo has no observations",
            ));
        }
        let mut notes = Vec::new();
        let (descriptions, from) = self.descriptions(e)?;
        match (descriptions.split_first(), &from) {
            (Some((_, rest)), _) if !rest.is_empty() => {
                notes.push(format!("also described as: {}", rest.join(" | ")));
            }
            (None, None) => notes.push("no variation_descriptions.pkl: no instruction".to_owned()),
            _ => {}
        }
        let mut cameras = Vec::new();
        let mut streams = Vec::new();
        for (ci, name) in names.iter().enumerate() {
            let (camera, stream) = self.camera(e, ci, name, &steps, &mut notes)?;
            cameras.push(camera);
            streams.push(stream);
        }
        notes.push(
            "RLBench stores no actions: shown are deltas between consecutive gripper poses (world frame) with the next step's gripper state".to_owned(),
        );
        Ok(Episode {
            uid: next_episode_uid(),
            name: e.name.clone(),
            instruction: descriptions.first().cloned().unwrap_or_default(),
            fps: None,
            source: EpisodeSource {
                format: DatasetFormat::RlBench,
                path: e.dir.clone(),
                record: None,
            },
            dataset_key: None,
            cameras,
            actions: actions_from_poses(&steps),
            proprio: proprio(&steps),
            notes,
            timestamps_s: None,
            frames: Arc::new(RlFrames {
                dir: e.dir.clone(),
                root: self.root.clone(),
                streams,
            }),
            cache: cache.clone(),
        })
    }

    fn camera(
        &self,
        e: &EpisodeDir,
        ci: usize,
        name: &str,
        steps: &[DemoStep],
        notes: &mut Vec<String>,
    ) -> Result<(Camera, RlStream)> {
        let first = e.dir.join(format!("{name}_rgb/0.png"));
        let header = read_bounded(&first, &self.root)?;
        let (w, h) =
            image::ImageReader::with_format(std::io::Cursor::new(&header), image::ImageFormat::Png)
                .into_dimensions()
                .map_err(|err| {
                    EpisodeError::metadata(&first, format!("cannot read the PNG header: {err}"))
                })?;
        let sensor = |s: &DemoStep| s.sensors.get(ci).cloned().unwrap_or_default();
        let intrinsics = sensor(&steps[0]).intrinsics.and_then(|k| {
            let (cx, cy) = (k[0][2], k[1][2]);
            let (kw, kh) = ((2.0 * cx).round(), (2.0 * cy).round());
            let valid =
                kw >= 1.0 && kh >= 1.0 && kw <= f64::from(u32::MAX) && kh <= f64::from(u32::MAX);
            let i = Intrinsics {
                fx_px: k[0][0].abs(),
                fy_px: k[1][1].abs(),
                cx_px: cx,
                cy_px: cy,
                width_px: if valid { kw as u32 } else { w },
                height_px: if valid { kh as u32 } else { h },
            };
            let i = if (i.width_px, i.height_px) == (w, h) {
                i
            } else {
                i.scaled_to(w, h)
            };
            i.is_valid().then_some(i)
        });
        if intrinsics.is_none() {
            notes.push(format!(
                "camera `{name}`: no usable intrinsics in the demo's misc"
            ));
        }
        let poses: Option<Vec<Matrix4<f64>>> = steps
            .iter()
            .map(|s| {
                sensor(s)
                    .extrinsics
                    .map(|m| m * Matrix4::from_diagonal(&Vector4::new(-1.0, -1.0, 1.0, 1.0)))
            })
            .collect();
        let poses = match poses {
            Some(v) if v.windows(2).all(|p| (p[0] - p[1]).abs().max() < 1e-9) => {
                CameraPoses::Static(v[0])
            }
            Some(v) => CameraPoses::PerStep(v),
            None => {
                notes.push(format!(
                    "camera `{name}`: extrinsics missing at some step; pose unknown"
                ));
                CameraPoses::Unknown
            }
        };
        let planes: Option<Vec<(f64, f64)>> = steps
            .iter()
            .map(|s| {
                let s = sensor(s);
                let (n, f) = (s.near_m?, s.far_m?);
                (n.is_finite() && f.is_finite() && n >= 0.0 && f > n).then_some((n, f))
            })
            .collect();
        let depth_dir = e.dir.join(format!("{name}_depth")).is_dir();
        if depth_dir && planes.is_none() {
            notes.push(format!(
                "camera `{name}`: depth not shown: the demo lacks valid near/far planes for it"
            ));
        }
        let depth_planes_m = planes.filter(|_| depth_dir);
        let camera = Camera {
            name: name.to_owned(),
            width_px: w,
            height_px: h,
            intrinsics_source: CalibrationOrigin::file_if(intrinsics.is_some()),
            intrinsics,
            poses,
            has_depth: depth_planes_m.is_some(),
            placeholder: false,
        };
        let stream = RlStream {
            name: name.to_owned(),
            size: (w, h),
            depth_planes_m,
        };
        Ok((camera, stream))
    }
}

fn rotation(pose: &[f64; 7]) -> Rotation3<f64> {
    let q = UnitQuaternion::from_quaternion(Quaternion::new(pose[6], pose[3], pose[4], pose[5]));
    q.to_rotation_matrix()
}

/// Deltas between consecutive gripper poses (see the module docs).
fn actions_from_poses(steps: &[DemoStep]) -> Actions {
    let convention = ActionConvention {
        translation: TranslationUnit::MetresDelta,
        rotation: RotationConvention::DeltaRollPitchYawRad,
        gripper: GripperSense::OneIsOpen,
        frame: ActionFrame::World,
    };
    let values = (0..steps.len())
        .map(|i| {
            let next = steps.get(i + 1).unwrap_or(&steps[i]);
            let gripper = next.gripper_open.or(steps[i].gripper_open).unwrap_or(0.0) as f32;
            let (Some(a), Some(b)) = (steps[i].gripper_pose, next.gripper_pose) else {
                return [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, gripper];
            };
            let delta = rotation(&b) * rotation(&a).inverse();
            let (roll, pitch, yaw) = delta.euler_angles();
            [
                (b[0] - a[0]) as f32,
                (b[1] - a[1]) as f32,
                (b[2] - a[2]) as f32,
                roll as f32,
                pitch as f32,
                yaw as f32,
                gripper,
            ]
        })
        .collect();
    Actions { convention, values }
}

/// Gripper pose, open state and joint positions, where every step has them.
fn proprio(steps: &[DemoStep]) -> Option<Proprio> {
    let mut names: Vec<String> = Vec::new();
    let poses = steps.iter().all(|s| s.gripper_pose.is_some());
    if poses {
        names.extend(
            [
                "eef x (m)",
                "eef y (m)",
                "eef z (m)",
                "eef qx",
                "eef qy",
                "eef qz",
                "eef qw",
            ]
            .map(String::from),
        );
    }
    let open = steps.iter().all(|s| s.gripper_open.is_some());
    if open {
        names.push("gripper open (1 = open)".to_owned());
    }
    let joints = steps[0].joint_positions.as_ref().map_or(0, Vec::len);
    let joints = if steps
        .iter()
        .all(|s| s.joint_positions.as_ref().map(Vec::len) == Some(joints))
    {
        joints
    } else {
        0
    };
    names.extend((1..=joints).map(|j| format!("joint {j} (rad)")));
    if names.is_empty() {
        return None;
    }
    let values = steps
        .iter()
        .map(|s| {
            let mut v: Vec<f32> = Vec::with_capacity(names.len());
            if poses {
                v.extend(s.gripper_pose.iter().flatten().map(|x| *x as f32));
            }
            if open {
                v.extend(s.gripper_open.map(|x| x as f32));
            }
            if joints > 0 {
                v.extend(s.joint_positions.iter().flatten().map(|x| *x as f32));
            }
            v
        })
        .collect();
    Some(Proprio { names, values })
}
