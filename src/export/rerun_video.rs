//! Cameras stored as video files (LeRobot's MP4s) go into a recording as what they are: the
//! file once, as a Rerun video asset, and per step a reference to the frame that step shows
//! (its presentation time in the file, from the container's sample table). The viewer
//! decodes; nothing is decoded or re-encoded here. Cameras whose frame times cannot be told
//! without decoding (the FFmpeg backend), or files over [`MAX_ASSET_BYTES`], keep the
//! per-frame images.

use rerun::RecordingStream;

use super::rerun_paths as paths;
use crate::episode::Episode;

/// The largest video file logged as an asset (a packed LeRobot v3 file holds many
/// episodes; past this, per-frame images are smaller).
pub const MAX_ASSET_BYTES: u64 = 1 << 30;

/// Logs each video camera's file as a static asset under its image entity; per camera,
/// whether its frames are to be referenced.
pub(super) fn log_video_assets(rec: &RecordingStream, ep: &Episode) -> anyhow::Result<Vec<bool>> {
    let mut videos = vec![false; ep.cameras.len()];
    for (ci, cam) in ep.cameras.iter().enumerate() {
        if cam.placeholder {
            continue;
        }
        let Some(Ok((path, _))) = ep.video_frame(0, ci) else {
            continue;
        };
        // Too large or unreadable: the camera keeps its per-frame images.
        if !std::fs::metadata(&path).is_ok_and(|m| m.len() <= MAX_ASSET_BYTES) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        rec.log_static(
            paths::rgb(&cam.name),
            &rerun::AssetVideo::new(bytes).with_media_type(rerun::MediaType::mp4()),
        )?;
        videos[ci] = true;
    }
    Ok(videos)
}

/// The reference to the frame `step` shows; an error (the frame is not in the file) is
/// returned for the caller's warnings.
pub(super) fn log_video_frame(
    rec: &RecordingStream,
    ep: &Episode,
    step: usize,
    camera: usize,
) -> anyhow::Result<Result<(), String>> {
    let name = &ep.cameras[camera].name;
    match ep.video_frame(step, camera) {
        Some(Ok((_, ns))) => {
            rec.log(
                paths::rgb(name),
                &rerun::VideoFrameReference::new(rerun::components::VideoTimestamp::from_nanos(ns)),
            )?;
            Ok(Ok(()))
        }
        Some(Err(e)) => Ok(Err(e.to_string())),
        None => Ok(Err("no frame time in the video".into())),
    }
}
