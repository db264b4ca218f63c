//! One LeRobot episode: its parquet rows (actions, state, timestamps, extrinsics, images
//! stored inline) read at open, its video frames decoded on demand by timestamp.
//!
//! The frame for step `i` of camera `c` is at `from_timestamp(c) + timestamp[i]` in the
//! camera's video (`from_timestamp` is 0 for v2's one-file-per-episode layout), as LeRobot
//! itself looks frames up. A video shorter than its table is an error at that step, naming
//! the file, the episode and the time asked for.

use std::sync::Arc;

use nalgebra::Matrix4;

use super::depth::{self, DepthQuant};
use super::frames::{DepthSource, LeRobotFrames, Pixels, Stream, VideoFile};
use super::info::Field;
use super::table;
use super::{LeRobotDataset, Location};
use crate::episode::formats::video;
use crate::episode::types::next_episode_uid;
use crate::episode::{
    ActionConvention, Actions, CalibrationOrigin, Camera, CameraPoses, DatasetFormat, Episode,
    EpisodeError, EpisodeSource, FrameCache, Intrinsics, Proprio, Result, intrinsics_table,
};

/// The 7-D action layout SpatialVLA uses, as LeRobot conversions name it.
const METRIC_ACTION_NAMES: [&str; 7] = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"];

impl LeRobotDataset {
    /// Opens episode `i`: reads its rows, checks them against the episode list, maps the
    /// features onto the episode model.
    pub fn open_episode(&self, i: usize, cache: &Arc<FrameCache>) -> Result<Episode> {
        let meta = self.entry(i)?.clone();
        let ep = meta.index;
        let chunk = ep / self.info.chunks_size;
        let (data_path, range) = match &meta.location {
            Location::PerEpisodeFiles => (
                self.path_from(
                    &self.info.json.data_path,
                    &[
                        ("episode_chunk", Field::Int(chunk)),
                        ("episode_index", Field::Int(ep)),
                    ],
                )?,
                None,
            ),
            Location::Packed {
                data_chunk,
                data_file,
                from_index,
                file_first_index,
                ..
            } => (
                self.path_from(
                    &self.info.json.data_path,
                    &[
                        ("chunk_index", Field::Int(*data_chunk)),
                        ("file_index", Field::Int(*data_file)),
                    ],
                )?,
                Some((from_index - file_first_index, meta.length)),
            ),
        };
        let data_err = |what: String| EpisodeError::EpisodeData {
            path: data_path.clone(),
            episode: ep,
            what,
        };
        if !data_path.is_file() {
            return Err(data_err("data file missing".into()));
        }
        let features = &self.info.json.features;
        let sidecar_cams = self.sidecar.as_ref().map(|s| &s.cameras);
        let extrinsics_col = |cam: &str, key: &str| -> String {
            sidecar_cams
                .and_then(|c| {
                    c.values()
                        .find(|s| s.video_key.as_deref() == Some(key))
                        .or_else(|| c.get(cam))
                })
                .and_then(|s| s.extrinsics_column.clone())
                .unwrap_or_else(|| format!("camera_extrinsics.{cam}"))
        };
        let cameras_meta = self.pairing.cameras.clone();
        let wanted: Vec<String> = [
            "action",
            "observation.state",
            "timestamp",
            "frame_index",
            "episode_index",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(
            cameras_meta
                .iter()
                .flat_map(|(k, n)| [k.clone(), extrinsics_col(n, k)]),
        )
        .collect();
        let keep = |n: &str| wanted.iter().any(|w| w == n);
        let t = table::read(&data_path, Some(&keep), range).map_err(data_err)?;
        if t.rows != meta.length {
            return Err(data_err(format!(
                "the table has {} rows, the episode list says {}",
                t.rows, meta.length
            )));
        }
        if t.has("episode_index") {
            let idx = t.index_column("episode_index").map_err(data_err)?;
            if let Some((row, other)) = idx.iter().enumerate().find(|(_, v)| **v != ep) {
                return Err(data_err(format!(
                    "row {row} belongs to episode {other} (offsets in the episode list are wrong)"
                )));
            }
        }
        let n = t.rows;

        // Actions.
        let raw = t.f64_rows("action").map_err(data_err)?;
        let names = features.get("action").and_then(|f| f.name_list());
        let metric = names.as_ref().is_some_and(|n| {
            n.len() == 7
                && n.iter()
                    .zip(METRIC_ACTION_NAMES)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
        });
        let mut notes = self.pairing.notes.clone();
        let (values, note) =
            crate::episode::formats::seven_dim_actions(&raw, &data_path, Some(ep))?;
        notes.extend(note);
        // The declared width against the stored one: a narrower column is said, not padded
        // over in silence.
        if let (Some(declared), Some(stored)) = (
            features
                .get("action")
                .and_then(|f| (f.shape.len() == 1).then(|| f.shape[0])),
            raw.first().map(Vec::len),
        ) && declared != stored
        {
            notes.push(format!(
                "meta/info.json declares `action` with {declared} values per step, but {} stores {stored}",
                data_path.display()
            ));
        }
        let convention = if metric {
            notes.push(
                "action convention read from the feature names (x, y, z, roll, pitch, yaw, gripper): metre and radian deltas, gripper 1 = open".into(),
            );
            ActionConvention::metric_delta_base()
        } else {
            ActionConvention::unknown()
        };

        // Timestamps (seconds from the episode start) and frame indices.
        let fps = self.info.json.fps;
        let timestamps_s = if t.has("timestamp") {
            t.f64_column("timestamp").map_err(data_err)?
        } else {
            (0..n).map(|i| i as f64 / fps).collect()
        };
        if let Some((step, ts)) = timestamps_s
            .iter()
            .enumerate()
            .find(|(i, ts)| !ts.is_finite() || **ts < 0.0 || (*i > 0 && **ts < timestamps_s[i - 1]))
        {
            return Err(data_err(format!(
                "step {step}: timestamp {ts} is not a non-decreasing time"
            )));
        }
        let frame_index = if t.has("frame_index") {
            t.index_column("frame_index").map_err(data_err)?
        } else {
            (0..n).collect()
        };

        // Proprio.
        let proprio = if t.has("observation.state") {
            let v = t.f64_rows("observation.state").map_err(data_err)?;
            let width = v.first().map_or(0, Vec::len);
            let names = features
                .get("observation.state")
                .and_then(|f| f.name_list())
                .filter(|n| n.len() == width)
                .unwrap_or_else(|| (0..width).map(|i| format!("state[{i}]")).collect());
            Some(Proprio {
                names,
                values: v
                    .into_iter()
                    .map(|r| r.into_iter().map(|x| x as f32).collect())
                    .collect(),
            })
        } else {
            None
        };

        // Cameras. Without a K in the sidecar, the primary camera gets SpatialVLA's nominal
        // entry for the dataset (as for RLDS), labelled as such.
        let folder = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dataset_key = intrinsics_table::lerobot_key(&folder);
        let table_key = intrinsics_table::entry_for(dataset_key.as_deref());
        let mut cameras = Vec::new();
        let mut streams = Vec::new();
        for (key, name) in &cameras_meta {
            let f = &features[key];
            let side = sidecar_cams.and_then(|c| {
                c.values()
                    .find(|s| s.video_key.as_deref() == Some(key.as_str()))
                    .or_else(|| c.get(name.as_str()))
            });
            let size = f.image_size();
            let cam_key = key.as_str();
            let video_file = |key: &str, notes: &mut Vec<String>| -> Result<VideoFile> {
                let template = self.info.json.video_path.as_deref().unwrap_or_default();
                let (path, from_s) = match &meta.location {
                    Location::PerEpisodeFiles => (
                        self.path_from(
                            template,
                            &[
                                ("episode_chunk", Field::Int(chunk)),
                                ("episode_index", Field::Int(ep)),
                                ("video_key", Field::Str(key)),
                            ],
                        )?,
                        0.0,
                    ),
                    Location::Packed { videos, .. } => {
                        let v = videos.get(key).ok_or_else(|| {
                            data_err(format!(
                                "the episode list has no video location for `{key}`"
                            ))
                        })?;
                        (
                            self.path_from(
                                template,
                                &[
                                    ("chunk_index", Field::Int(v.chunk)),
                                    ("file_index", Field::Int(v.file)),
                                    ("video_key", Field::Str(key)),
                                ],
                            )?,
                            v.from_s,
                        )
                    }
                };
                if !path.is_file() {
                    notes.push(format!(
                        "camera `{name}`: video {} is missing",
                        path.display()
                    ));
                }
                if let Some(codec) = features.get(key).and_then(|f| f.video_codec())
                    && let Some(why) = video::undecodable_here(&codec)
                {
                    notes.push(if key == cam_key {
                        format!("camera `{name}`: {why}")
                    } else {
                        format!("camera `{name}`: its depth `{key}`: {why}")
                    });
                }
                Ok(VideoFile::new((path, from_s)))
            };
            // A LeRobot depth video: this camera's own (unpaired depth) or its partner's.
            if depth::is_depth_map(f) && !depth::is_depth_video(f) {
                notes.push(format!(
                    "camera `{name}`: a depth map stored as images; its values are shown as a picture, not read as metres"
                ));
            }
            let depth_key = if depth::is_depth_video(f) {
                Some(key.as_str())
            } else {
                self.pairing.depth_for(key)
            };
            let video_depth = match depth_key {
                Some(dk) => match DepthQuant::from_feature(&features[dk]) {
                    Ok(q) => {
                        notes.push(format!(
                            "camera `{name}`: depth from `{dk}`, {}",
                            q.describe()
                        ));
                        Some(DepthSource::Video {
                            file: video_file(dk, &mut notes)?,
                            table_m: q.table_m(),
                        })
                    }
                    Err(why) => {
                        notes.push(format!(
                            "camera `{name}`: depth `{dk}` is not read: {}: {why}",
                            self.info_path.display()
                        ));
                        None
                    }
                },
                _ => None,
            };
            let pixels = if depth::is_depth_video(f) {
                Pixels::DepthCodes
            } else if f.dtype == "video" {
                Pixels::Video(video_file(key, &mut notes)?)
            } else {
                Pixels::Inline(t.image_bytes(key).map_err(data_err)?)
            };
            let (w, h) = size.unwrap_or((0, 0));
            let from_file = side
                .and_then(|s| s.K)
                .map(|k| Intrinsics::from_k(&k, w, h))
                .filter(|k| w > 0 && k.is_valid());
            let (intrinsics, intrinsics_source) = match from_file {
                Some(k) => (Some(k), CalibrationOrigin::File),
                None if cameras.is_empty() && w > 0 => {
                    match intrinsics_table::lookup(&table_key, w, h) {
                        Some(k) => (
                            Some(k),
                            CalibrationOrigin::DatasetTable {
                                key: table_key.clone(),
                            },
                        ),
                        None => (None, CalibrationOrigin::None),
                    }
                }
                None => (None, CalibrationOrigin::None),
            };
            let ext_col = extrinsics_col(name, key);
            let poses = if t.has(&ext_col) {
                poses_from_rows(&t.f64_rows(&ext_col).map_err(data_err)?).ok_or_else(|| {
                    data_err(format!(
                        "column `{ext_col}` is not a 4x4 rigid pose per row"
                    ))
                })?
            } else {
                CameraPoses::Unknown
            };
            let depth = match (
                self.sidecar.as_ref().and_then(|s| s.depth_path.clone()),
                side.and_then(|s| s.depth_key.clone()),
            ) {
                (Some(tpl), Some(dk)) => {
                    let enc = self.sidecar.as_ref().and_then(|s| s.depth_encoding.clone());
                    DepthSource::Png(
                        tpl,
                        dk,
                        enc.as_ref().map_or(0.001, |e| e.scale_to_metres),
                        enc.as_ref().map_or(0, |e| e.invalid_value),
                    )
                }
                _ => video_depth.unwrap_or(DepthSource::None),
            };
            cameras.push(Camera {
                name: name.clone(),
                width_px: w,
                height_px: h,
                intrinsics_source,
                intrinsics,
                poses,
                has_depth: !matches!(depth, DepthSource::None),
                placeholder: false,
            });
            streams.push(Stream {
                name: name.clone(),
                size,
                pixels,
                depth,
            });
        }

        let name = format!("episode_{ep:06}");
        Ok(Episode {
            uid: next_episode_uid(),
            name,
            instruction: meta.tasks.join("; "),
            fps: Some(fps),
            source: EpisodeSource {
                format: DatasetFormat::LeRobot,
                path: data_path.clone(),
                record: Some(ep),
            },
            dataset_key,
            cameras,
            actions: Actions { convention, values },
            proprio,
            notes,
            timestamps_s: t.has("timestamp").then(|| timestamps_s.clone()),
            frames: Arc::new(LeRobotFrames {
                root: self.root.clone(),
                info_path: self.info_path.clone(),
                data_path,
                episode: ep,
                episode_chunk: chunk,
                timestamps_s,
                frame_index,
                streams,
            }),
            cache: cache.clone(),
        })
    }
}

/// Row-major 4x4 `world_from_camera` per row; `None` if a row is not 16 finite values with
/// a last row of (0, 0, 0, 1).
fn poses_from_rows(rows: &[Vec<f64>]) -> Option<CameraPoses> {
    let mut all = Vec::with_capacity(rows.len());
    for r in rows {
        if r.len() != 16 || r.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let m = Matrix4::from_row_slice(r);
        if (m[(3, 3)] - 1.0).abs() > 1e-6 || m.fixed_view::<1, 3>(3, 0).amax() > 1e-6 {
            return None;
        }
        all.push(m);
    }
    Some(match all.first() {
        None => CameraPoses::Unknown,
        Some(first) if all.iter().all(|m| m == first) => CameraPoses::Static(*first),
        Some(_) => CameraPoses::PerStep(all),
    })
}
