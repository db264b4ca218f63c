//! Checks that decode frames: three per camera (first, middle, last step), so the cost per
//! episode is bounded whatever its length. Finds frames that cannot be decoded (a video
//! shorter than its table included), black and frozen cameras, depth without intrinsics
//! (Ego3D cannot lift it), and depth that is mostly invalid.

use crate::episode::{Episode, VideoFacts};

use super::{Finding, Severity};

/// A video's frame rate further than this (relative) from the dataset's is flagged.
const VIDEO_FPS_TOLERANCE: f64 = 0.01;

/// A frame whose every channel value is at most this is black (JPEG noise allowed).
const BLACK_MAX: u8 = 8;
/// Depth with more invalid pixels than this fraction (over the sampled frames) is flagged.
const DEPTH_INVALID_MAX: f64 = 0.3;

fn sample_steps(n: usize) -> Vec<usize> {
    let mut s = vec![0, n / 2, n.saturating_sub(1)];
    s.dedup();
    s
}

/// An error that is this build's limit (a codec it was built without), not the data's.
fn needs_build_feature(e: &str) -> bool {
    e.contains("--features ffmpeg")
}

/// Runs the frame checks on every camera of `ep` (index `i`).
pub fn check(ep: &Episode, i: usize, out: &mut Vec<Finding>) {
    let n = ep.num_steps();
    if n == 0 {
        return;
    }
    for (c, cam) in ep.cameras.iter().enumerate() {
        if let Some(Ok(v)) = ep.video_facts(c) {
            video(ep, i, &cam.name, &v, out);
        }
        let steps = sample_steps(n);
        let mut frames = Vec::new();
        for &s in &steps {
            match ep.rgb(s, c) {
                Ok(f) => frames.push(f),
                Err(e) => {
                    let e = e.to_string();
                    out.push(unreadable(i, s, &cam.name, "frame", &e));
                    break;
                }
            }
        }
        if frames.len() == steps.len() {
            let black = frames
                .iter()
                .all(|f| f.pixels.iter().all(|&v| v <= BLACK_MAX));
            if black && cam.placeholder {
                out.push(
                    Finding::new(
                        "cameras.placeholder",
                        Severity::Info,
                        format!(
                            "camera `{}` is a placeholder (black frames for a camera the robot did not have)",
                            cam.name
                        ),
                    )
                    .episode(i),
                );
            } else if black {
                out.push(
                    Finding::new(
                        "cameras.black",
                        Severity::Warning,
                        format!("camera `{}` shows only black frames", cam.name),
                    )
                    .episode(i),
                );
            } else if frames.len() >= 3 && frames.windows(2).all(|w| w[0].pixels == w[1].pixels) {
                out.push(
                    Finding::new(
                        "cameras.frozen",
                        Severity::Warning,
                        format!(
                            "camera `{}` shows the same picture at the first, middle and last step",
                            cam.name
                        ),
                    )
                    .episode(i)
                    .steps(0, n - 1),
                );
            }
        }
        if !cam.has_depth {
            continue;
        }
        if cam.intrinsics.is_none() {
            out.push(
                Finding::new(
                    "cameras.no_intrinsics",
                    Severity::Warning,
                    format!(
                        "camera `{}` has depth but no intrinsics: its depth cannot be lifted to 3-D (Ego3D needs K)",
                        cam.name
                    ),
                )
                .episode(i),
            );
        }
        let (mut invalid, mut total) = (0usize, 0usize);
        for &s in &steps {
            match ep.depth(s, c) {
                Ok(Some(d)) => {
                    total += d.depth_m.len();
                    invalid += d
                        .depth_m
                        .iter()
                        .filter(|v| !(v.is_finite() && **v > 0.0))
                        .count();
                }
                Ok(None) => {}
                Err(e) => {
                    out.push(unreadable(i, s, &cam.name, "depth", &e.to_string()));
                    total = 0;
                    break;
                }
            }
        }
        if total > 0 && invalid as f64 > DEPTH_INVALID_MAX * total as f64 {
            out.push(
                Finding::new(
                    "cameras.depth_invalid",
                    Severity::Warning,
                    format!(
                        "camera `{}`: {:.0} % of the sampled depth pixels are invalid (no return)",
                        cam.name,
                        100.0 * invalid as f64 / total as f64
                    ),
                )
                .episode(i),
            );
        }
    }
}

fn unreadable(i: usize, step: usize, camera: &str, what: &str, e: &str) -> Finding {
    if needs_build_feature(e) {
        return Finding::new(
            "cameras.needs_ffmpeg",
            Severity::Info,
            format!("camera `{camera}`: {what}s need a decoder this build lacks (build with --features ffmpeg); not checked"),
        )
        .episode(i);
    }
    let check = if e.contains("shorter than its table") {
        "time.video_short"
    } else if what == "depth" {
        "cameras.depth_unreadable"
    } else {
        "cameras.unreadable"
    };
    Finding::new(
        check,
        Severity::Error,
        format!("camera `{camera}`: {what} of step {step} cannot be read: {e}"),
    )
    .episode(i)
    .steps(step, step)
}

/// The video's own frame rate and frame count against the dataset's fps and the table.
fn video(ep: &Episode, i: usize, camera: &str, v: &VideoFacts, out: &mut Vec<Finding>) {
    if let (Some(vf), Some(df)) = (v.fps, ep.fps)
        && (vf - df).abs() > VIDEO_FPS_TOLERANCE * df
    {
        out.push(
            Finding::new(
                "time.video_fps_mismatch",
                Severity::Warning,
                format!(
                    "camera `{camera}`: the video runs at {vf:.3} fps, the dataset declares {df:.3}"
                ),
            )
            .episode(i),
        );
    }
    let n = ep.num_steps();
    if let Some(frames) = v.frames
        && frames != n
    {
        let (severity, what) = if frames < n {
            (Severity::Error, "fewer")
        } else {
            (Severity::Warning, "more")
        };
        out.push(
            Finding::new(
                "time.video_frames",
                severity,
                format!(
                    "camera `{camera}`: the video holds {frames} frames in this episode's time span, {what} than its {n} steps ({})",
                    v.path.display()
                ),
            )
            .episode(i),
        );
    }
}
