//! The Rerun export read back by a real external reader: the official Python `rerun-sdk`
//! (pinned to the Rust SDK's version; `.ci/run` installs it and sets
//! `SPATIALSCOPE_REQUIRE_RERUN_PY=1`, so CI fails rather than skips when it is missing)
//! opens each exported `.rrd` and `tests/rerun_check.py` checks entity paths, row counts per
//! timeline and values against the source episode. Also: atomic writes, refusal to write
//! into a dataset, an unwritable path, and a viewer that is not running.

#![cfg(feature = "export")]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sha2::Digest;
use spatialscope::episode::{Episode, FrameCache, open_path};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

fn python() -> String {
    std::env::var("SPATIALSCOPE_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether the Python reader is available; fails the test when CI requires it.
fn reader_available() -> bool {
    let ok = Command::new(python())
        .args([
            "-c",
            "import rerun, datafusion; assert rerun.__version__ == '0.36.3', rerun.__version__",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("SPATIALSCOPE_REQUIRE_RERUN_PY").is_err(),
            "rerun-sdk[datafusion]==0.36.3 is required here but `{}` cannot import it",
            python()
        );
        eprintln!(
            "SKIPPED the read-back: no rerun-sdk 0.36.3 for `{}` (CI installs it)",
            python()
        );
    }
    ok
}

fn first_episode(path: &Path) -> Episode {
    let c = open_path(path).unwrap();
    c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .unwrap()
}

fn expected(ep: &Episode, with_ego3d: bool, predictions: bool) -> serde_json::Value {
    let cameras: Vec<serde_json::Value> = ep
        .cameras
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.placeholder)
        .map(|(ci, c)| {
            let mut v = match ep.video_frame(0, ci) {
                // A video file: the asset and each step's frame time.
                Some(Ok((path, _))) => serde_json::json!({
                    "name": c.name,
                    "width": c.width_px,
                    "video": {
                        "sha256": format!("{:x}", sha2::Sha256::digest(std::fs::read(&path).unwrap())),
                        "timestamps_ns": (0..ep.num_steps())
                            .map(|s| ep.video_frame(s, ci).unwrap().unwrap().1)
                            .collect::<Vec<_>>(),
                    },
                }),
                _ => {
                    let enc = ep.encoded_rgb(0, ci).unwrap();
                    serde_json::json!({
                        "name": c.name,
                        "width": c.width_px,
                        "step0_sha256": format!("{:x}", sha2::Sha256::digest(&enc.bytes)),
                        "media_type": if enc.encoding == "png" { "image/png" } else { "image/jpeg" },
                    })
                }
            };
            if let Some(k) = c.intrinsics {
                v["fx"] = k.fx_px.into();
                v["cx"] = k.cx_px.into();
            }
            if c.has_depth {
                let step = ep.num_steps() / 2;
                let d = ep.depth(step, ci).unwrap().unwrap();
                let (x, y) = (d.width_px / 3, d.height_px / 2);
                let u16_mm =
                    spatialscope::export::rerun_export::millimetres_if_exact(&d.depth_m).is_some();
                v["depth_probe"] = serde_json::json!({
                    "step": step, "x": x, "y": y,
                    "metres": d.depth_m[(y * d.width_px + x) as usize],
                    "u16_mm": u16_mm,
                });
            }
            v
        })
        .collect();
    let ego3d_camera = ep
        .cameras
        .iter()
        .find(|c| c.has_depth && c.intrinsics.is_some())
        .map(|c| c.name.clone());
    serde_json::json!({
        "num_steps": ep.num_steps(),
        "instruction": ep.instruction,
        "fps": ep.fps,
        "actions": ep.actions.values.iter().map(|a| a.map(f64::from)).collect::<Vec<_>>(),
        "cameras": cameras,
        "ego3d_points": if with_ego3d && ego3d_camera.is_some() { Some(1024) } else { None },
        "ego3d_camera": ego3d_camera,
        "predictions": predictions,
    })
}

fn export(path: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let run = bin()
        .arg("export")
        .arg(path)
        .arg("--rrd")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

fn check(rrd: &Path, exp: &serde_json::Value, dir: &Path) {
    let exp_path = dir.join("expected.json");
    std::fs::write(&exp_path, exp.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rerun_check.py");
    let out = Command::new(python())
        .arg(script)
        .arg(rrd)
        .arg(&exp_path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success() && text.contains("rerun_check: OK"),
        "{text}"
    );
}

#[test]
fn rgbd_episode_round_trips_through_the_rerun_sdk() {
    let tmp = tempfile::tempdir().unwrap();
    let rrd = tmp.path().join("native.rrd");
    let report = export(&common::native_dir(), &rrd, &[]);
    assert_eq!(report["report"]["steps"], 46);
    assert!(!tmp.path().join("native.rrd.partial").exists());
    if reader_available() {
        check(
            &rrd,
            &expected(&first_episode(&common::native_dir()), true, false),
            tmp.path(),
        );
    }
}

#[test]
fn rlds_episode_keeps_its_jpeg_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let rrd = tmp.path().join("bridge.rrd");
    export(&common::bridge_dir(), &rrd, &[]);
    // Encoded JPEGs, not raw pixels: the file is smaller than the naive raw export.
    let raw = tmp.path().join("bridge_raw.rrd");
    export(&common::bridge_dir(), &raw, &["--raw-images"]);
    let (a, b) = (
        std::fs::metadata(&rrd).unwrap().len(),
        std::fs::metadata(&raw).unwrap().len(),
    );
    assert!(a < b, "encoded {a} B vs raw {b} B");
    if reader_available() {
        check(
            &rrd,
            &expected(&first_episode(&common::bridge_dir()), false, false),
            tmp.path(),
        );
    }
}

/// `--jpeg 90`: raw HDF5 pixels go in as JPEG (the recording shrinks), and what the Rerun
/// SDK reads back is, byte for byte, our encoder's JPEG of the decoded frame.
#[test]
fn hdf5_frames_go_in_as_jpeg_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_episodes/sim_hdf5");
    let png = tmp.path().join("png.rrd");
    let jpeg = tmp.path().join("jpeg.rrd");
    export(&dir, &png, &[]);
    export(&dir, &jpeg, &["--jpeg", "90"]);
    let (a, b) = (
        std::fs::metadata(&png).unwrap().len(),
        std::fs::metadata(&jpeg).unwrap().len(),
    );
    assert!(b * 10 < a * 8, "JPEG {b} B vs PNG {a} B");
    for bad in [&["--jpeg", "0"][..], &["--jpeg", "90", "--raw-images"]] {
        let run = bin()
            .arg("export")
            .arg(&dir)
            .arg("--rrd")
            .arg(tmp.path().join("bad.rrd"))
            .args(bad)
            .output()
            .unwrap();
        assert!(!run.status.success(), "{bad:?} refused");
    }
    if reader_available() {
        let ep = first_episode(&dir);
        let mut exp = expected(&ep, true, false);
        for (ci, cam) in exp["cameras"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .enumerate()
        {
            let jpeg = ep.rgb(0, ci).unwrap().to_jpeg(90).unwrap();
            cam["step0_sha256"] = format!("{:x}", sha2::Sha256::digest(&jpeg)).into();
            cam["media_type"] = "image/jpeg".into();
        }
        check(&jpeg, &exp, tmp.path());
    }
}

#[test]
fn predictions_are_exported_with_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let rrd = tmp.path().join("pred.rrd");
    let report = export(
        &common::native_dir(),
        &rrd,
        &[
            "--model",
            "assets/tiny_spatialvla",
            "--unnorm-key",
            "bridge_orig/1.0.0",
            "--episode",
            "0",
            "--max-new-tokens",
            "13",
        ],
    );
    assert_eq!(report["report"]["predictions"], 46);
    if reader_available() {
        check(
            &rrd,
            &expected(&first_episode(&common::native_dir()), true, true),
            tmp.path(),
        );
    }
}

/// A LeRobot episode's MP4 cameras go in as video assets with per-step frame references
/// (no frame decoded or re-encoded): read back with the Rerun SDK, the asset is the dataset's
/// file and every reference is a frame Rerun finds in it, the one our reader decodes.
#[test]
fn lerobot_videos_are_exported_as_video_assets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::repo().join("sample_episodes/sim_lerobot_v21");
    let rrd = tmp.path().join("v21.rrd");
    let report = export(&dir, &rrd, &[]);
    assert_eq!(report["report"]["images"], 2 * 46);
    assert_eq!(report["report"]["warnings"], serde_json::json!([]));
    // Smaller than the same export with every frame re-encoded (the raw baseline's bytes).
    let raw = tmp.path().join("raw.rrd");
    export(&dir, &raw, &["--raw-images"]);
    assert!(std::fs::metadata(&rrd).unwrap().len() < std::fs::metadata(&raw).unwrap().len());
    if reader_available() {
        let ep = first_episode(&dir);
        let exp = expected(&ep, true, false);
        assert!(exp["cameras"][0]["video"].is_object());
        check(&rrd, &exp, tmp.path());
    }
}

/// `export --store`: the store's chunks and token ids at exactly the evaluated steps, read
/// back with the Rerun SDK; no model runs.
#[test]
fn an_evaluation_store_is_exported_without_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let o = bin()
        .env("SPATIALSCOPE_DATA_DIR", common::test_data_dir())
        .arg("eval")
        .arg(common::native_dir())
        .args([
            "--episodes",
            "0",
            "--every",
            "9",
            "--unnorm-key",
            "bridge_orig/1.0.0",
        ])
        .arg("--out")
        .arg(&store)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rrd = tmp.path().join("stored.rrd");
    let report = export(
        &common::native_dir(),
        &rrd,
        &["--store", store.to_str().unwrap()],
    );
    let (_, rows) = spatialscope::pipeline::eval::read_store(&store).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(report["report"]["predictions"], 6);
    // --model and --store together are refused.
    let both = bin()
        .arg("export")
        .arg(common::native_dir())
        .args([
            "--rrd",
            "x.rrd",
            "--model",
            "assets/tiny_spatialvla",
            "--store",
        ])
        .arg(&store)
        .output()
        .unwrap();
    assert!(!both.status.success());
    if reader_available() {
        let mut exp = expected(&first_episode(&common::native_dir()), true, false);
        exp["stored"] = rows
            .iter()
            .map(|r| {
                let mut tokens = r
                    .token_ids
                    .iter()
                    .zip(&r.token_probabilities)
                    .map(|(id, p)| format!("{id} ({p:.2})"))
                    .collect::<Vec<_>>()
                    .join(" ");
                if r.malformed {
                    tokens += " | malformed";
                }
                if r.low_confidence {
                    tokens += " | low confidence";
                }
                let first = r.predicted_actions().first().map(|a| a[0]);
                serde_json::json!({"step": r.step, "tokens": tokens, "dx": first})
            })
            .collect();
        check(&rrd, &exp, tmp.path());
    }
}

/// Bookmarks as Rerun recordings: one per bookmarked episode, only its bookmarked steps.
#[test]
fn bookmarked_steps_are_a_recording_of_just_those_steps() {
    use spatialscope::util::bookmarks::Bookmark;
    let tmp = tempfile::tempdir().unwrap();
    let c = open_path(&common::native_dir()).unwrap();
    let cache = Arc::new(FrameCache::default());
    let ep = c.datasets[0].open_episode(0, &cache).unwrap();
    let mark = |episode_index: usize, step: usize| Bookmark {
        dataset_root: String::new(),
        dataset: c.datasets[0].name.clone(),
        episode_index,
        episode: String::new(),
        step,
        tag: "t".into(),
        note: String::new(),
        created_unix_s: 0,
    };
    // Steps 10 and 3 (twice) of episode 0, a step past its end, and another dataset's mark.
    let mut other = mark(0, 1);
    other.dataset = "not open".into();
    let list = [mark(0, 10), mark(0, 3), mark(0, 3), mark(0, 100_000), other];
    let n =
        spatialscope::worker::export::bookmark_recordings(&c, &cache, &list, tmp.path()).unwrap();
    assert_eq!(n, 1);
    let files: Vec<_> = std::fs::read_dir(tmp.path().join("bookmarks_rrd"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1);
    if reader_available() {
        let mut exp = expected(&ep, true, false);
        exp["only_steps"] = serde_json::json!([3, 10]);
        // The first logged step's image is step 3's.
        for (cam, v) in ep
            .cameras
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.placeholder)
            .zip(exp["cameras"].as_array_mut().unwrap())
        {
            let enc = ep.encoded_rgb(3, cam.0).unwrap();
            v["step0_sha256"] = format!("{:x}", sha2::Sha256::digest(&enc.bytes)).into();
        }
        check(&files[0], &exp, tmp.path());
    }
}

#[test]
fn bad_outputs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // Inside the dataset.
    let inside = common::native_dir().join("x.rrd");
    let run = bin()
        .arg("export")
        .arg(common::native_dir())
        .arg("--rrd")
        .arg(&inside)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("never writes into datasets"));
    assert!(!inside.exists());
    // Unwritable: a path under a regular file.
    let file = tmp.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let run = bin()
        .arg("export")
        .arg(common::native_dir())
        .arg("--rrd")
        .arg(file.join("out.rrd"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("cannot"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // No viewer listening on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("rerun+http://127.0.0.1:{port}/proxy");
    let run = bin()
        .arg("export")
        .arg(common::native_dir())
        .args(["--no-ego3d", "--connect", &url])
        .output()
        .unwrap();
    assert!(!run.status.success(), "streaming to nobody must fail");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("viewer"), "{err}");
    let _: PathBuf = tmp.path().to_owned();
}

#[test]
#[expect(
    unsafe_code,
    reason = "pre_exec resets SIGINT in the child (see SAFETY)"
)]
fn streaming_to_a_running_viewer_delivers_the_recording() {
    use std::os::unix::process::CommandExt;
    if !reader_available() {
        return;
    }
    // The SDK's own `rerun` binary (not its Python wrapper, which SIGKILLs it on Ctrl-C),
    // receiving headlessly and saving what arrives.
    let located = Command::new(python())
        .args(["-c", "import os, rerun_cli; print(os.path.join(os.path.dirname(rerun_cli.__file__), 'rerun'))"])
        .output()
        .unwrap();
    let rerun_bin = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim());
    assert!(
        rerun_bin.exists(),
        "no rerun binary at {}",
        rerun_bin.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("streamed.rrd");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(&rerun_bin);
    cmd.args(["--port", &port.to_string(), "--save"])
        .arg(&saved)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe libc calls between fork and exec. A background job of a
    // non-interactive shell (as CI runs) inherits SIGINT ignored; give the server the default
    // disposition so the SIGINT below stops it gracefully (it then closes its file).
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut server = cmd.spawn().expect("the rerun binary of the rerun-sdk");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "rerun server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let url = format!("rerun+http://127.0.0.1:{port}/proxy");
    let run = bin()
        .arg("export")
        .arg(common::native_dir())
        .args(["--connect", &url])
        .output()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SAFETY: signalling a child we spawned and have not reaped.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGINT);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!("the rerun server did not stop on SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check(
        &saved,
        &expected(&first_episode(&common::native_dir()), true, false),
        tmp.path(),
    );
}

/// LeRobot's 12-bit HEVC depth (written by lerobot 0.6) goes into the recording in metres,
/// with the Ego3D cloud built from it (the metres themselves are checked against lerobot's
/// reader in `lerobot_depth_video`). Needs the `ffmpeg` feature (CI builds it).
#[test]
fn lerobot_depth_video_is_metric_in_the_export() {
    if !spatialscope::episode::formats::video::FFMPEG_BUILT_IN {
        eprintln!("SKIPPED: LeRobot depth is HEVC; build with --features ffmpeg (CI does)");
        return;
    }
    let data = common::repo().join("tests/fixtures/lerobot_depth/m_log");
    let tmp = tempfile::tempdir().unwrap();
    let rrd = tmp.path().join("depth.rrd");
    let report = export(&data, &rrd, &[]);
    assert_eq!(report["report"]["steps"], 6, "{report}");
    let exp = expected(&first_episode(&data), true, false);
    assert!(exp["cameras"][0]["depth_probe"]["metres"].as_f64().unwrap() > 0.3);
    assert_eq!(exp["ego3d_camera"], "agentview");
    if reader_available() {
        check(&rrd, &exp, tmp.path());
    }
}
