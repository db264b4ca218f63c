//! Every frame of every sample video, found by its timestamp: in order, at random, and through
//! the episode API, compared with FFmpeg's decode of the same file (`tests/fixtures/video`,
//! 8x8 thumbnails made with the `ffmpeg` CLI). H.264 (High profile, B-frames) goes through
//! OpenH264 and AV1 through rav1d; both must find each frame, give the same pixels whatever
//! the order of the requests, and agree with FFmpeg within a few grey levels.

use crate::common;

use spatialscope::episode::formats::video::{Decoders, FFMPEG_BUILT_IN, VideoCursor};
use spatialscope::episode::{self, FrameCache};

struct Reference {
    path: std::path::PathBuf,
    pts_s: Vec<f64>,
    thumbs: Vec<Vec<u8>>,
}

fn references() -> Vec<Reference> {
    let text =
        std::fs::read_to_string(common::repo().join("tests/fixtures/video/thumbs.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out: Vec<Reference> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, r)| Reference {
            path: common::repo().join(path),
            pts_s: r["pts_s"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_f64().unwrap())
                .collect(),
            thumbs: r["thumbs_hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    let h = h.as_str().unwrap();
                    (0..h.len() / 2)
                        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                        .collect()
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(out.len(), 8, "six v2.1 H.264 files and two v3.0 AV1 files");
    out
}

/// 8x8 block means of an RGB image (as FFmpeg's area scaler makes them).
fn thumb(img: &episode::RgbImage) -> Vec<u8> {
    let (w, h) = (img.width_px as usize, img.height_px as usize);
    let (bw, bh) = (w / 8, h / 8);
    let mut out = Vec::with_capacity(192);
    for by in 0..8 {
        for bx in 0..8 {
            for c in 0..3 {
                let mut sum = 0u64;
                for y in by * bh..(by + 1) * bh {
                    for x in bx * bw..(bx + 1) * bw {
                        sum += u64::from(img.pixels[(y * w + x) * 3 + c]);
                    }
                }
                out.push((sum as f64 / (bw * bh) as f64).round() as u8);
            }
        }
    }
    out
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

/// A fixed pseudo-random permutation of 0..n.
fn scrambled(n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        v.swap(i, (s >> 33) as usize % (i + 1));
    }
    v
}

#[test]
fn every_frame_of_every_sample_video_is_found_in_order_and_at_random() {
    every_frame_is_found(Decoders::Auto);
}

/// The same through FFmpeg, where it is built in (`--features ffmpeg`).
#[test]
fn every_frame_is_found_through_ffmpeg_too() {
    if FFMPEG_BUILT_IN {
        every_frame_is_found(Decoders::Ffmpeg);
    } else {
        eprintln!("SKIPPED: built without the `ffmpeg` feature");
    }
}

fn every_frame_is_found(decoders: Decoders) {
    for r in references() {
        if decoders == Decoders::Ffmpeg && r.path.to_string_lossy().contains("av1") {
            // AV1 is never handed to FFmpeg (see `video::ffmpeg`): it must say so.
            let e = VideoCursor::open_with(&r.path, decoders).unwrap_err();
            assert!(e.0.contains("rav1d"), "{e}");
            continue;
        }
        let name = format!("{} ({decoders:?})", r.path.display());
        let mut cursor = VideoCursor::open_with(&r.path, decoders).unwrap();
        let info = cursor.info().clone();
        assert!(
            matches!(
                (info.codec.as_str(), info.decoder),
                ("h264", "openh264") | ("av1", "rav1d") | (_, "ffmpeg")
            ),
            "{name}: {info:?}"
        );
        assert!((info.fps.unwrap() - 20.0).abs() < 1e-6, "{name}: {info:?}");
        let n = r.pts_s.len();
        let mut in_order = Vec::with_capacity(n);
        let mut total_diff = 0.0;
        for (k, &t) in r.pts_s.iter().enumerate() {
            let img = cursor
                .frame_at(t)
                .unwrap_or_else(|e| panic!("{name}: frame {k} at {t} s: {e}"));
            let th = thumb(&img);
            let d = mean_abs_diff(&th, &r.thumbs[k]);
            // Chroma upsampling differs (FFmpeg interpolates, we take the co-sited sample).
            assert!(
                d < 3.0,
                "{name}: frame {k} differs from FFmpeg's by {d:.2} levels"
            );
            total_diff += d;
            // It is this frame, not a neighbour (where the neighbour looks different at all).
            for j in [k.wrapping_sub(1), k + 1] {
                if let Some(other) = r.thumbs.get(j)
                    && mean_abs_diff(&r.thumbs[k], other) > 1.5
                {
                    assert!(
                        d <= mean_abs_diff(&th, other) + 1e-9,
                        "{name}: frame {k} looks more like frame {j}"
                    );
                }
            }
            in_order.push(img.pixels.clone());
        }
        let mean = total_diff / n as f64;
        assert!(
            mean < 1.5,
            "{name}: frames differ from FFmpeg's by {mean:.2} levels on average"
        );
        // Random access (backwards jumps, restarts at keyframes) gives the same pixels.
        let mut fresh = VideoCursor::open_with(&r.path, decoders).unwrap();
        for k in scrambled(n) {
            let img = fresh.frame_at(r.pts_s[k]).unwrap();
            assert!(
                img.pixels == in_order[k],
                "{name}: frame {k} at random differs"
            );
        }
        // Half a frame period off still names the frame; past the end is a clear error.
        let img = fresh.frame_at(r.pts_s[1] + 0.02).unwrap();
        assert!(img.pixels == in_order[1], "{name}");
        let e = fresh.frame_at(r.pts_s[n - 1] + 1.0).unwrap_err();
        assert!(e.0.contains("ends at"), "{name}: {e}");
    }
}

#[test]
fn every_step_of_the_lerobot_samples_decodes_in_order_and_at_random() {
    for folder in ["sim_lerobot_v21", "sim_lerobot_v30_av1"] {
        let c = episode::open_path(&common::repo().join("sample_episodes").join(folder)).unwrap();
        let d = &c.datasets[0];
        for i in 0..d.len() {
            // A cache that keeps nothing, so every request decodes.
            let ep = d
                .open_episode(i, &std::sync::Arc::new(FrameCache::new(0)))
                .unwrap();
            for cam in 0..ep.cameras.len() {
                let n = ep.num_steps();
                let order: Vec<usize> = (0..n).chain(scrambled(n)).collect();
                let mut first: Vec<Option<u64>> = vec![None; n];
                for s in order {
                    let img = ep.rgb(s, cam).unwrap_or_else(|e| {
                        panic!("{folder} episode {i} camera {cam} step {s}: {e}")
                    });
                    let h = img
                        .pixels
                        .iter()
                        .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                    assert_eq!(*first[s].get_or_insert(h), h, "{folder} {i} {cam} {s}");
                }
            }
        }
    }
}

/// The export of each LeRobot v2.1 episode keeps every frame of both cameras (the FFmpeg
/// cursor used to drop 5 of episode 0's 46 agentview frames with "no frame at 0.1000 s").
#[test]
fn exporting_lerobot_episodes_keeps_every_frame() {
    let tmp = tempfile::tempdir().unwrap();
    for (ep, steps) in [(0, 46), (1, 52), (2, 66)] {
        let out = tmp.path().join(format!("{ep}.rrd"));
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_spatialscope"))
            .args(["export", "--episode", &ep.to_string(), "--rrd"])
            .arg(&out)
            .arg(common::repo().join("sample_episodes/sim_lerobot_v21"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let line = stdout.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["report"]["warnings"],
            serde_json::json!([]),
            "episode {ep}"
        );
        assert_eq!(v["report"]["images"], 2 * steps, "episode {ep}");
    }
}

/// A LeRobot camera in HEVC: without the `ffmpeg` feature the episode notes and the frame
/// error name the camera, the codec and the feature, and the other camera works; with it,
/// every frame decodes.
#[test]
fn hevc_video_needs_ffmpeg_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sim_lerobot_v21");
    common::copy_dir(
        &common::repo().join("sample_episodes/sim_lerobot_v21"),
        &root,
    );
    std::fs::copy(
        common::repo().join("tests/fixtures/video/eye_in_hand_ep0_hevc.mp4"),
        root.join("videos/chunk-000/observation.images.robot0_eye_in_hand/episode_000000.mp4"),
    )
    .unwrap();
    let info_path = root.join("meta/info.json");
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info_path).unwrap()).unwrap();
    info["features"]["observation.images.robot0_eye_in_hand"]["info"]["video.codec"] =
        serde_json::json!("hevc");
    std::fs::write(&info_path, serde_json::to_string_pretty(&info).unwrap()).unwrap();

    let c = episode::open_path(&root).unwrap();
    let ep = c.datasets[0]
        .open_episode(0, &std::sync::Arc::new(FrameCache::new(0)))
        .unwrap();
    let eye = ep.camera_index("robot0_eye_in_hand").unwrap();
    let agent = ep.camera_index("agentview").unwrap();
    let noted = ep.notes.iter().any(|n| {
        n.contains("robot0_eye_in_hand") && n.contains("hevc") && n.contains("--features ffmpeg")
    });
    if FFMPEG_BUILT_IN {
        assert!(!noted, "{:?}", ep.notes);
        for s in 0..ep.num_steps() {
            let img = ep.rgb(s, eye).unwrap();
            assert_eq!((img.width_px, img.height_px), (128, 128));
        }
    } else {
        assert!(noted, "{:?}", ep.notes);
        let e = ep.rgb(0, eye).unwrap_err().to_string();
        assert!(
            e.contains("robot0_eye_in_hand")
                && e.contains("hevc")
                && e.contains("--features ffmpeg"),
            "{e}"
        );
        ep.rgb(0, agent).expect("the H.264 camera still works");
    }
}
