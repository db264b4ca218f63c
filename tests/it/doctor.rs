//! The dataset doctor: each check against a copy of a sample dataset given exactly that
//! defect in the test, firing there and nothing else at warning or above; the clean samples
//! raise no warning; the command's exit codes, reports and keep list.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use spatialscope::action_grid::ProcessorConfig;
use spatialscope::episode::{FrameCache, open_path};
use spatialscope::pipeline::doctor::{DatasetHealth, DoctorJob, DoctorOptions, Severity};

use crate::common;

fn doctor_with(path: &Path, opts: DoctorOptions) -> DatasetHealth {
    let cfg = ProcessorConfig::load(&spatialscope::util::assets::default_grid_path()).unwrap();
    let c = open_path(path).unwrap();
    assert_eq!(c.datasets.len(), 1, "{}", path.display());
    let d = &c.datasets[0];
    let cache = Arc::new(FrameCache::new(16 << 20));
    let mut job = DoctorJob::new(d, &cfg, &cache, opts);
    while !job.is_done() {
        job.step(d, &cache);
    }
    job.finish(d, &cfg)
}

fn doctor(path: &Path) -> DatasetHealth {
    doctor_with(path, DoctorOptions::default())
}

/// The checks at warning or above, sorted and deduplicated.
fn serious(h: &DatasetHealth) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = h
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| f.check)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn has(h: &DatasetHealth, check: &str, episode: Option<usize>) -> bool {
    h.findings
        .iter()
        .any(|f| f.check == check && episode.is_none_or(|e| f.episodes.contains(&e)))
}

/// A copy of the native sample (3 episodes: 46, 52, 66 steps at 20 fps) with `edit` applied
/// to each episode's `episode.json` (episode index, document).
fn native_with(edit: impl Fn(usize, &mut Value)) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sim_native");
    common::copy_dir(&common::native_dir(), &root);
    for e in 0..3 {
        let p = root.join(format!("episode_{e:03}/episode.json"));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        edit(e, &mut v);
        std::fs::write(&p, v.to_string()).unwrap();
    }
    (tmp, root)
}

/// Copies episode folder `from` to `to` and drops `index.json` (the folders are then found
/// by scanning, copies included).
fn add_copy(root: &Path, from: &str, to: &str) {
    common::copy_dir(&root.join(from), &root.join(to));
    let _ = std::fs::remove_file(root.join("index.json"));
}

fn frames(v: &mut Value) -> &mut Vec<Value> {
    v["frames"].as_array_mut().unwrap()
}

fn describe(h: &DatasetHealth) -> String {
    h.findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {:?}: {}",
                f.severity.label(),
                f.check,
                f.episodes,
                f.reason
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn clean_samples_raise_no_warning() {
    let samples = common::repo().join("sample_episodes");
    for name in [
        "sim_native",
        "sim_lerobot_v21",
        "sim_lerobot_v30_av1",
        "sim_hdf5",
        "bridge_rlds",
    ] {
        let c = open_path(&samples.join(name)).unwrap();
        for d in &c.datasets {
            let h = doctor(&d.root);
            assert!(serious(&h).is_empty(), "{name}:\n{}", describe(&h));
            assert_eq!(h.keep.len(), h.episodes, "{name}");
        }
    }
}

#[test]
fn non_finite_actions() {
    let (_t, root) = native_with(|e, v| {
        if e == 1 {
            frames(v)[5]["action_7d"][0] = Value::Null;
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["values.non_finite"], "{}", describe(&h));
    let f = h
        .findings
        .iter()
        .find(|f| f.check == "values.non_finite")
        .unwrap();
    assert_eq!(f.episodes, [1]);
    assert!(f.reason.contains("step 5, dimension 0"), "{}", f.reason);
    assert_eq!(h.keep, [0, 2]);
}

#[test]
fn a_dimension_frozen_across_the_dataset() {
    let (_t, root) = native_with(|_, v| {
        for f in frames(v) {
            f["action_7d"][3] = 0.0.into();
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["values.frozen"], "{}", describe(&h));
}

#[test]
fn a_dimension_saturated_at_a_bound() {
    let (_t, root) = native_with(|_, v| {
        for f in frames(v) {
            let x = f["action_7d"][1].as_f64().unwrap();
            f["action_7d"][1] = x.clamp(-0.004, 0.004).into();
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["values.saturated"], "{}", describe(&h));
}

#[test]
fn an_outlier_step() {
    let (_t, root) = native_with(|e, v| {
        if e == 1 {
            frames(v)[10]["action_7d"][1] = 2.0.into();
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["values.outlier"], "{}", describe(&h));
    let f = h
        .findings
        .iter()
        .find(|f| f.check == "values.outlier")
        .unwrap();
    assert_eq!((f.episodes.clone(), f.steps), (vec![1], Some((10, 10))));
}

#[test]
fn a_chattering_gripper() {
    let (_t, root) = native_with(|e, v| {
        if e == 0 {
            for s in 20..27 {
                frames(v)[s]["action_7d"][6] = f64::from(s as u8 % 2).into();
            }
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["values.gripper_chatter"], "{}", describe(&h));
    assert!(has(&h, "values.gripper_chatter", Some(0)));
}

#[test]
fn timestamps_repeated_dropped_and_off_rate() {
    let (_t, root) = native_with(|e, v| {
        let fr = frames(v);
        match e {
            0 => {
                let t = fr[6]["timestamp"].clone();
                fr[7]["timestamp"] = t;
            }
            1 => {
                for f in fr.iter_mut().skip(20) {
                    let t = f["timestamp"].as_f64().unwrap();
                    f["timestamp"] = (t + 0.2).into();
                }
            }
            _ => v["fps"] = 10.into(),
        }
    });
    let h = doctor(&root);
    assert_eq!(
        serious(&h),
        [
            "time.dropped_frames",
            "time.fps_mismatch",
            "time.not_increasing"
        ],
        "{}",
        describe(&h)
    );
    assert!(has(&h, "time.not_increasing", Some(0)));
    assert!(has(&h, "time.dropped_frames", Some(1)));
    assert!(has(&h, "time.fps_mismatch", Some(2)));
}

fn write_png_rgb(path: &Path, w: u32, h: u32, px: [u8; 3]) {
    image::RgbImage::from_pixel(w, h, image::Rgb(px))
        .save(path)
        .unwrap();
}

#[test]
fn black_and_frozen_cameras() {
    let (_t, root) = native_with(|_, _| {});
    // Episode 0's agentview black at the sampled steps (first, middle, last of 46).
    for s in [0, 23, 45] {
        write_png_rgb(
            &root.join(format!("episode_000/rgb/agentview/{s:06}.png")),
            256,
            256,
            [0, 0, 0],
        );
    }
    // Episode 1's wrist camera frozen: its first frame at the middle and the end.
    let first = root.join("episode_001/rgb/robot0_eye_in_hand/000000.png");
    for s in [26, 51] {
        std::fs::copy(
            &first,
            root.join(format!("episode_001/rgb/robot0_eye_in_hand/{s:06}.png")),
        )
        .unwrap();
    }
    let h = doctor(&root);
    assert_eq!(
        serious(&h),
        ["cameras.black", "cameras.frozen"],
        "{}",
        describe(&h)
    );
    assert!(has(&h, "cameras.black", Some(0)) && has(&h, "cameras.frozen", Some(1)));
    // Without frame checks neither is seen.
    let h = doctor_with(
        &root,
        DoctorOptions {
            frames: false,
            ..DoctorOptions::default()
        },
    );
    assert!(serious(&h).is_empty(), "{}", describe(&h));
}

#[test]
fn depth_without_intrinsics_and_mostly_invalid_depth() {
    let (_t, root) = native_with(|e, v| {
        if e == 2 {
            v["cameras"]["agentview"]
                .as_object_mut()
                .unwrap()
                .remove("K");
        }
    });
    for s in [0, 23, 45] {
        let p = root.join(format!("episode_000/depth/robot0_eye_in_hand/{s:06}.png"));
        let (w, h) = image::image_dimensions(&p).unwrap();
        image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::new(w, h)
            .save(&p)
            .unwrap();
    }
    let h = doctor(&root);
    assert_eq!(
        serious(&h),
        ["cameras.depth_invalid", "cameras.no_intrinsics"],
        "{}",
        describe(&h)
    );
    assert!(has(&h, "cameras.depth_invalid", Some(0)) && has(&h, "cameras.no_intrinsics", Some(2)));
}

#[test]
fn short_idle_silent_and_duplicate_episodes() {
    let (_t, root) = native_with(|e, v| match e {
        0 => {
            for f in frames(v).iter_mut().take(4) {
                for d in 0..6 {
                    f["action_7d"][d] = 0.0.into();
                }
            }
        }
        1 => {
            // Three steps from the middle (its first step holds a rotation burst that
            // would be the only one left once episode 0 starts idle).
            let fr = frames(v);
            fr.drain(..10);
            fr.truncate(3);
            for (k, f) in fr.iter_mut().enumerate() {
                f["index"] = k.into();
            }
            v["num_frames"] = 3.into();
            v["instruction"] = "".into();
        }
        _ => {}
    });
    // Episode 3: a copy of episode 0.
    add_copy(&root, "episode_000", "episode_003");
    let h = doctor(&root);
    assert_eq!(
        serious(&h),
        [
            "episodes.near_duplicate",
            "episodes.no_instruction",
            "episodes.too_short"
        ],
        "{}",
        describe(&h)
    );
    assert!(has(&h, "episodes.too_short", Some(1)) && has(&h, "episodes.no_instruction", Some(1)));
    assert!(has(&h, "episodes.near_duplicate", Some(3)));
    let idle = h
        .findings
        .iter()
        .find(|f| f.check == "episodes.idle_ends")
        .unwrap();
    assert_eq!(
        (idle.episodes.clone(), idle.steps),
        (vec![0], Some((4, 45)))
    );
    assert_eq!(h.keep, [0, 2]);
}

#[test]
fn an_episode_that_never_moves() {
    let (_t, root) = native_with(|e, v| {
        if e == 2 {
            for f in frames(v) {
                for d in 0..6 {
                    f["action_7d"][d] = 0.0.into();
                }
            }
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["episodes.no_motion"], "{}", describe(&h));
    assert!(has(&h, "episodes.no_motion", Some(2)));
}

#[test]
fn an_unreadable_episode_is_an_error() {
    let (_t, root) = native_with(|_, _| {});
    std::fs::write(root.join("episode_001/episode.json"), "{\"format\": ").unwrap();
    let h = doctor(&root);
    assert!(
        h.findings.iter().any(|f| f.check == "episodes.unreadable"
            && f.episodes == [1]
            && f.severity == Severity::Error)
            || h.findings.iter().any(|f| f.check == "dataset.problem"),
        "{}",
        describe(&h)
    );
}

#[test]
fn the_wrong_statistics_key_clips_the_actions() {
    let h = doctor_with(
        &common::native_dir(),
        DoctorOptions {
            unnorm_key: Some("bridge_orig/1.0.0".into()),
            ..DoctorOptions::default()
        },
    );
    assert_eq!(serious(&h), ["normalisation.clipped"], "{}", describe(&h));
    assert_eq!(h.statistics, "bridge_orig/1.0.0");
}

#[test]
fn declared_statistics_that_disagree_with_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sim_lerobot_v21");
    common::copy_dir(
        &common::repo().join("sample_episodes/sim_lerobot_v21"),
        &root,
    );
    let p = root.join("meta/stats.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["action"]["mean"][2] = 0.5.into();
    std::fs::write(&p, v.to_string()).unwrap();
    let h = doctor(&root);
    assert_eq!(serious(&h), ["stats.declared_mismatch"], "{}", describe(&h));
    assert_eq!(
        h.findings
            .iter()
            .find(|f| f.check == "stats.declared_mismatch")
            .unwrap()
            .dims,
        ["dz"]
    );
}

#[test]
fn a_video_shorter_than_its_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sim_lerobot_v21");
    common::copy_dir(
        &common::repo().join("sample_episodes/sim_lerobot_v21"),
        &root,
    );
    // Episode 1 (52 steps) gets episode 0's 46-frame agentview video.
    let dir = root.join("videos/chunk-000/observation.images.agentview");
    std::fs::copy(
        dir.join("episode_000000.mp4"),
        dir.join("episode_000001.mp4"),
    )
    .unwrap();
    let h = doctor(&root);
    assert_eq!(
        serious(&h),
        ["time.video_frames", "time.video_short"],
        "{}",
        describe(&h)
    );
    assert!(has(&h, "time.video_short", Some(1)) && has(&h, "time.video_frames", Some(1)));
    let f = h
        .findings
        .iter()
        .find(|f| f.check == "time.video_frames")
        .unwrap();
    assert!(
        f.reason.contains("46 frames") && f.reason.contains("52 steps"),
        "{}",
        f.reason
    );
}

#[test]
fn videos_at_another_rate_than_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sim_lerobot_v21");
    common::copy_dir(
        &common::repo().join("sample_episodes/sim_lerobot_v21"),
        &root,
    );
    let p = root.join("meta/info.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["fps"] = 25.into();
    std::fs::write(&p, v.to_string()).unwrap();
    let h = doctor(&root);
    // The table's timestamps (0.05 s apart) and the videos (20 fps) both disagree with 25.
    assert_eq!(
        serious(&h),
        ["time.fps_mismatch", "time.video_fps_mismatch"],
        "{}",
        describe(&h)
    );
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

#[test]
fn doctor_command_exit_codes_reports_and_keep_list() {
    let (t, root) = native_with(|e, v| {
        if e == 1 {
            frames(v)[5]["action_7d"][0] = Value::Null;
        }
        if e == 2 {
            v["instruction"] = "".into();
        }
    });
    // An error: exit 1 with the default --fail-on error.
    let out = bin()
        .arg("doctor")
        .arg(&root)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema"], "spatialscope.doctor/1");
    assert_eq!(j["exit_code"], 1);
    assert_eq!(j["datasets"][0]["keep"], serde_json::json!([0]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("3/3 episodes"));
    // A clean copy passes at --fail-on warning; the sim sample has only info findings.
    let out = bin()
        .arg("doctor")
        .arg(common::native_dir())
        .args(["--fail-on", "warning"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // ... and fails at --fail-on info.
    let out = bin()
        .arg("doctor")
        .arg(common::native_dir())
        .args(["--fail-on", "info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // Reports and the keep list, outside the dataset only.
    let html = t.path().join("report/doctor.html");
    let keep = t.path().join("keep.txt");
    let out = bin()
        .arg("doctor")
        .arg(&root)
        .arg("--markdown")
        .arg("--html")
        .arg(&html)
        .arg("--keep")
        .arg(&keep)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("| error | `values.non_finite` | 1 |"), "{md}");
    assert!(
        md.contains("--operation.episode_indices \"[1, 2]\""),
        "{md}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("values.non_finite"));
    assert!(page.contains("data:image/png;base64,") && !page.contains("<script"));
    let k = std::fs::read_to_string(&keep).unwrap();
    assert_eq!(
        k.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["0"]
    );
    let inside = bin()
        .arg("doctor")
        .arg(&root)
        .arg("--html")
        .arg(root.join("report.html"))
        .output()
        .unwrap();
    assert_eq!(inside.status.code(), Some(2));
    assert!(!root.join("report.html").exists());
    // A path that is not a dataset: exit 2 and a message.
    let out = bin()
        .arg("doctor")
        .arg("/nonexistent/data")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/data"));
}

#[test]
fn task_imbalance_is_noted() {
    let (_t, root) = native_with(|e, v| {
        v["instruction"] = if e == 1 {
            "push the cube"
        } else {
            "pick up the red cube"
        }
        .into();
    });
    for k in 3..12 {
        add_copy(&root, "episode_000", &format!("episode_{k:03}"));
    }
    let h = doctor(&root);
    assert!(has(&h, "episodes.task_imbalance", None), "{}", describe(&h));
}

/// A synthetic LeRobot v3.0 dataset of 300 episodes with actions (no videos): the doctor
/// reads every episode, flags nothing at warning or above, and keeps them all.
#[test]
fn a_large_synthetic_lerobot_dataset_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("synthetic_v30");
    common::synthetic::write_lerobot_metadata(&root, true, 300);
    common::synthetic::write_lerobot_v3_data(&root, 300);
    let h = doctor_with(
        &root,
        DoctorOptions {
            frames: false,
            ..DoctorOptions::default()
        },
    );
    assert_eq!(h.episodes, 300);
    assert_eq!(h.steps, 9000);
    assert!(serious(&h).is_empty(), "{}", describe(&h));
    assert_eq!(h.keep.len(), 300);
}

#[test]
fn a_state_jump() {
    let (_t, root) = native_with(|e, v| {
        if e == 1 {
            let p = &mut frames(v)[20]["proprio"]["eef_pos_m"][0];
            *p = (p.as_f64().unwrap() + 1.0).into();
        }
    });
    let h = doctor(&root);
    assert_eq!(serious(&h), ["values.state_jump"], "{}", describe(&h));
    let f = h
        .findings
        .iter()
        .find(|f| f.check == "values.state_jump")
        .unwrap();
    assert_eq!(f.episodes, [1]);
    assert!(
        matches!(f.steps, Some((19, 20)) | Some((20, 21))),
        "{:?}",
        f.steps
    );
}

#[test]
fn actions_that_the_state_does_not_follow() {
    // Episode 1's dy with its sign flipped: the end effector moves against it.
    let (_t, root) = native_with(|e, v| {
        if e == 1 {
            for f in frames(v) {
                let y = f["action_7d"][1].as_f64().unwrap();
                f["action_7d"][1] = (-y).into();
            }
        }
    });
    let h = doctor(&root);
    assert_eq!(
        serious(&h),
        ["values.action_state_disagree"],
        "{}",
        describe(&h)
    );
    let f = h
        .findings
        .iter()
        .find(|f| f.check == "values.action_state_disagree")
        .unwrap();
    assert_eq!(
        (f.episodes.clone(), f.dims.clone()),
        (vec![1], vec!["dy".to_owned()])
    );
}

#[test]
fn undecodable_frames() {
    let (_t, root) = native_with(|_, _| {});
    std::fs::write(
        root.join("episode_001/rgb/agentview/000000.png"),
        b"not a png",
    )
    .unwrap();
    let h = doctor(&root);
    assert_eq!(serious(&h), ["cameras.unreadable"], "{}", describe(&h));
    assert!(has(&h, "cameras.unreadable", Some(1)));
}

#[test]
fn bridge_placeholders_and_static_grippers_are_information() {
    let h = doctor(&common::bridge_dir());
    assert!(serious(&h).is_empty(), "{}", describe(&h));
    let p = h
        .findings
        .iter()
        .find(|f| f.check == "cameras.placeholder")
        .expect("image_3 is a placeholder");
    assert_eq!(p.episodes.len(), 25);
    assert!(has(&h, "values.gripper_static", None));
}
