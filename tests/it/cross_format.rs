//! The same three simulated episodes in four forms (native JSON+PNG, robomimic HDF5, LeRobot
//! v2.1 with H.264, LeRobot v3.0 with AV1 packed files) must read as the same episodes:
//! instructions, lengths, actions, cameras, K, poses and depth agree to the precision the
//! files store; images agree exactly where storage is lossless (HDF5) and up to codec loss
//! for video, where each decoded frame must also match *its own* step better than its
//! neighbours (the timestamp lookup picks the right frame).

use crate::common;

use std::sync::Arc;

use spatialscope::episode::{self, CameraPoses, Dataset, DatasetFormat, Episode, FrameCache};

fn open(folder: &str, format: DatasetFormat) -> Dataset {
    let c = episode::open_path(&common::repo().join("sample_episodes").join(folder))
        .unwrap_or_else(|e| panic!("{folder}: {e}"));
    assert!(c.problems.is_empty(), "{folder}: {:?}", c.problems);
    assert_eq!(c.datasets.len(), 1, "{folder}");
    let d = c.datasets.into_iter().next().unwrap();
    assert_eq!(d.format, format, "{folder}");
    assert_eq!(d.len(), 3, "{folder}");
    d
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

fn forms() -> (Dataset, Vec<(&'static str, Dataset)>) {
    let native = open("sim_native", DatasetFormat::Native);
    let others = vec![
        ("hdf5", open("sim_hdf5", DatasetFormat::Hdf5)),
        (
            "lerobot v2.1",
            open("sim_lerobot_v21", DatasetFormat::LeRobot),
        ),
        (
            "lerobot v3.0",
            open("sim_lerobot_v30_av1", DatasetFormat::LeRobot),
        ),
    ];
    (native, others)
}

fn pose_max_diff(a: &CameraPoses, b: &CameraPoses, steps: usize) -> f64 {
    (0..steps)
        .map(|s| {
            let (Some(x), Some(y)) = (a.world_from_camera(s), b.world_from_camera(s)) else {
                panic!("pose missing at step {s}: {a:?} vs {b:?}");
            };
            (x - y).amax()
        })
        .fold(0.0, f64::max)
}

#[test]
fn metadata_actions_cameras_and_poses_agree() {
    let cache = Arc::new(FrameCache::new(64 << 20));
    let (native, others) = forms();
    for i in 0..3 {
        let n = native.open_episode(i, &cache).unwrap();
        for (label, d) in &others {
            let e = d
                .open_episode(i, &cache)
                .unwrap_or_else(|err| panic!("{label}: {err}"));
            assert_eq!(e.instruction, n.instruction, "{label} episode {i}");
            assert_eq!(e.num_steps(), n.num_steps(), "{label} episode {i}");
            assert_eq!(e.fps, n.fps, "{label} episode {i}");
            assert_eq!(
                e.actions.convention.dimension_labels(),
                n.actions.convention.dimension_labels(),
                "{label}"
            );
            // Native rounds to 1e-6; the others store float32.
            let worst = e
                .actions
                .values
                .iter()
                .zip(&n.actions.values)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                .fold(0f32, f32::max);
            assert!(
                worst < 2e-6,
                "{label} episode {i}: actions differ by {worst}"
            );
            let names: Vec<_> = e.cameras.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["agentview", "robot0_eye_in_hand"], "{label}");
            for (ce, cn) in e.cameras.iter().zip(&n.cameras) {
                assert_eq!((ce.width_px, ce.height_px), (cn.width_px, cn.height_px));
                let (ke, kn) = (ce.intrinsics.unwrap().k(), cn.intrinsics.unwrap().k());
                assert!(
                    (ke - kn).amax() < 1e-5,
                    "{label} {}: K {ke} vs {kn}",
                    ce.name
                );
                let dp = pose_max_diff(&ce.poses, &cn.poses, n.num_steps());
                assert!(
                    dp < 2e-6,
                    "{label} {} episode {i}: poses differ by {dp}",
                    ce.name
                );
                assert_eq!(
                    std::mem::discriminant(&ce.poses),
                    std::mem::discriminant(&cn.poses),
                    "{label} {}",
                    ce.name
                );
            }
        }
    }
}

fn check_video_frames(label: &str, e: &Episode, n: &Episode, camera: usize, max_mad: f64) {
    let steps = n.num_steps();
    let (mut worst, mut sum) = (0f64, 0f64);
    for s in 0..steps {
        let got = e
            .rgb(s, camera)
            .unwrap_or_else(|err| panic!("{label}: {err}"));
        let want = n.rgb(s, camera).unwrap();
        assert_eq!(
            (got.width_px, got.height_px),
            (want.width_px, want.height_px)
        );
        let own = mean_abs_diff(&got.pixels, &want.pixels);
        assert!(
            own < max_mad,
            "{label} {} step {s}: mean |diff| {own:.2} levels",
            e.name
        );
        worst = worst.max(own);
        sum += own;
        // The robot moves between steps: the right frame must beat its neighbours.
        for other in [s.wrapping_sub(1), s + 1] {
            if other < steps {
                let neighbour = mean_abs_diff(&got.pixels, &n.rgb(other, camera).unwrap().pixels);
                if neighbour > 2.0 * max_mad / 3.0 {
                    assert!(
                        own < neighbour,
                        "{label} {} step {s}: closer to step {other} ({neighbour:.2}) than to its own ({own:.2})",
                        e.name
                    );
                }
            }
        }
    }
    eprintln!(
        "{label} {} camera {camera}: mean |diff| {:.2} levels per frame on average, {worst:.2} at worst",
        e.name,
        sum / steps as f64
    );
}

#[test]
fn images_and_depth_agree_across_forms() {
    let cache = Arc::new(FrameCache::new(256 << 20));
    let (native, others) = forms();
    for i in 0..3 {
        let n = native.open_episode(i, &cache).unwrap();
        for (label, d) in &others {
            let e = d.open_episode(i, &cache).unwrap();
            for cam in 0..2 {
                match d.format {
                    DatasetFormat::Hdf5 => {
                        for s in [0, n.num_steps() / 2, n.num_steps() - 1] {
                            assert_eq!(
                                e.rgb(s, cam).unwrap(),
                                n.rgb(s, cam).unwrap(),
                                "hdf5 rgb {i}/{cam}/{s}"
                            );
                        }
                    }
                    // H.264 crf 23 / AV1 crf 30 on aliased renders: a few levels on average.
                    _ => check_video_frames(label, &e, &n, cam, 6.0),
                }
                let has_depth = e.cameras[cam].has_depth;
                assert_eq!(
                    has_depth,
                    d.format != DatasetFormat::LeRobot || label.contains("2.1"),
                    "{label}"
                );
                if has_depth {
                    for s in [0, n.num_steps() - 1] {
                        let a = e.depth(s, cam).unwrap().unwrap();
                        let b = n.depth(s, cam).unwrap().unwrap();
                        let worst = a
                            .depth_m
                            .iter()
                            .zip(&b.depth_m)
                            .map(|(x, y)| (x - y).abs())
                            .fold(0f32, f32::max);
                        // Native and LeRobot store the same millimetre PNGs; HDF5 keeps the
                        // float depth with a 12-bit mantissa (<= 0.25 mm), native rounds to
                        // the millimetre (<= 0.5 mm): provenance (d).
                        let tol = if d.format == DatasetFormat::Hdf5 {
                            0.000_75
                        } else {
                            1e-6
                        };
                        assert!(worst <= tol, "{label} depth {i}/{cam}/{s}: {worst} m");
                    }
                }
            }
        }
    }
}

#[test]
fn stepping_backwards_and_jumping_gives_the_same_frames() {
    // Random access must equal sequential access (the decoder cursor seeks correctly).
    let cache = Arc::new(FrameCache::new(0)); // no caching: every call decodes
    let d = open("sim_lerobot_v30_av1", DatasetFormat::LeRobot);
    let e = d.open_episode(1, &cache).unwrap();
    let forward: Vec<_> = (0..e.num_steps()).map(|s| e.rgb(s, 0).unwrap()).collect();
    for s in [40, 3, 51, 0, 25, 24, 26, 10] {
        assert_eq!(*e.rgb(s, 0).unwrap(), *forward[s], "step {s}");
    }
}

#[test]
fn lerobot_declared_stats_are_read() {
    let d = open("sim_lerobot_v21", DatasetFormat::LeRobot);
    let s = d.declared_stats().expect("stats.json has action stats");
    assert_eq!(s.min.len(), 7);
    assert!((s.max[6] - 1.0).abs() < 1e-9 && s.min[6] == 0.0);
    assert!(s.q01.is_none(), "v2.1 stats have no quantiles");
}
