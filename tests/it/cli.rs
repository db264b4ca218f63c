//! The real `spatialscope` binary: `inspect` as JSON and text, and a clear failure for a
//! path that is not a dataset.

use crate::common;

use std::process::Command;

fn spatialscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

#[test]
fn inspect_json_reports_cameras_depth_intrinsics_and_action_stats() {
    let out = spatialscope()
        .args(["inspect", "--json"])
        .arg(common::repo().join("sample_episodes"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let datasets = v["datasets"].as_array().expect("datasets");
    // bridge_rlds, sim_hdf5, sim_lerobot_v21, sim_lerobot_v30_av1, sim_native, and
    // sim_rlbench's two tasks.
    assert_eq!(datasets.len(), 7);
    assert_eq!(datasets[5]["format"], "rlbench");
    assert_eq!(datasets[1]["format"], "hdf5");
    assert!(
        datasets[1]["orientation"]
            .as_str()
            .unwrap()
            .contains("upright")
    );
    assert_eq!(datasets[2]["format"], "lerobot");
    assert_eq!(
        datasets[2]["declared_stats"]["mean"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert!(datasets[0]["declared_stats"].is_null());

    let bridge = &datasets[0];
    assert_eq!(bridge["format"], "rlds");
    assert_eq!(bridge["episodes"].as_array().expect("eps").len(), 25);
    let e0 = &bridge["episodes"][0];
    assert_eq!(e0["steps"], 10);
    assert_eq!(e0["depth_present"], false);
    assert_eq!(e0["cameras"][0]["intrinsics_source"], "dataset_table");
    assert_eq!(e0["cameras"][0]["intrinsics_key"], "bridge_orig/1.0.0");
    assert_eq!(e0["cameras"][1]["intrinsics_source"], "none");
    assert_eq!(e0["cameras"][3]["placeholder"], true);
    // Gripper is always open in the first Bridge episode; its stats say so exactly.
    let g = &e0["action_stats"][6];
    assert_eq!(
        (g["min"].as_f64(), g["max"].as_f64(), g["std"].as_f64()),
        (Some(1.0), Some(1.0), Some(0.0))
    );

    let native = &datasets[4];
    assert_eq!(native["format"], "native");
    let n0 = &native["episodes"][0];
    assert_eq!(n0["steps"], 46);
    assert_eq!(n0["depth_present"], true);
    assert_eq!(n0["cameras"][1]["extrinsics"], "per_step");
    assert_eq!(n0["cameras"][0]["intrinsics_source"], "file");
    // dx of the lift episode: the first command is the controller's maximum, 0.05 m.
    assert_eq!(
        n0["action_stats"][0]["max"]
            .as_f64()
            .map(|m| (m * 1e6).round() / 1e6),
        Some(0.05)
    );
}

#[test]
fn inspect_text_names_each_episode_and_flags_nominal_intrinsics() {
    let out = spatialscope()
        .arg("inspect")
        .arg(common::bridge_dir())
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("episode train #").count(), 25);
    assert!(text.contains("nominal: bridge_orig/1.0.0"));
    assert!(text.contains("all-black placeholder"));
}

#[test]
fn inspect_of_a_non_dataset_fails_with_the_path_in_the_message() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = spatialscope()
        .arg("inspect")
        .arg(tmp.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&tmp.path().display().to_string()), "{err}");
    assert!(err.contains("not a dataset"), "{err}");
}

#[test]
fn stats_writes_a_distribution_per_dataset_and_never_into_a_dataset() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out_dir = tmp.path().join("report");
    let out = spatialscope()
        .args(["stats"])
        .arg(common::repo().join("sample_episodes"))
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("25/25 episodes"),
        "progress on stderr"
    );
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("stats.json")).expect("stats.json"),
    )
    .expect("json");
    let ds = v["datasets"].as_array().expect("datasets");
    assert_eq!(ds.len(), 7);
    assert_eq!(ds[0]["statistics"], "bridge_orig/1.0.0");
    assert_eq!(ds[0]["distribution"]["actions"], 250);
    // The four copies of the simulated episodes: the same 164 actions each.
    for d in &ds[1..5] {
        assert_eq!(d["statistics"], "dataset's own q01/q99");
        assert_eq!(d["distribution"]["actions"], 46 + 52 + 66);
    }
    // The RLBench copies: episode 0 whole, episode 1's first 20 steps.
    assert_eq!(ds[5]["distribution"]["actions"], 46);
    assert_eq!(ds[6]["distribution"]["actions"], 20);
    let occ = ds[0]["distribution"]["occupancy"]
        .as_array()
        .expect("occupancy");
    assert_eq!(occ.len(), 6);
    let counts: u64 = occ[0]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 250, "every action lands in one theta bin");
    assert!(!out_dir.join(".stats.json.partial").exists());
    // Slide plots: 7 x 2 histograms, 6 occupancy charts, 2 round-trip charts per dataset.
    let plots: Vec<_> = std::fs::read_dir(out_dir.join("bridge_dataset_1.0.0"))
        .expect("plots dir")
        .flatten()
        .collect();
    assert_eq!(plots.len(), 22, "{plots:?}");
    let img = image::open(out_dir.join("bridge_dataset_1.0.0/occupancy_theta.png"))
        .expect("png")
        .into_rgb8();
    assert_eq!(img.dimensions(), (1280, 720));

    let inside = common::native_dir().join("report");
    let out = spatialscope()
        .args(["stats"])
        .arg(common::native_dir())
        .arg("--out")
        .arg(&inside)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never writes into datasets"));
    assert!(!inside.exists());

    let out = spatialscope()
        .args(["stats", "--unnorm-key", "nope"])
        .arg(common::bridge_dir())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("known keys"));
}

#[test]
fn a_gaussian_statistics_file_is_accepted_as_the_grid() {
    // SpatialVLA's gs_*.json form: the grid is built from it (no dataset statistics inside).
    let tmp = tempfile::tempdir().expect("tmp");
    let gs = tmp.path().join("gs_test.json");
    std::fs::write(
        &gs,
        r#"{"x": {"mu": 0, "sigma": 1}, "theta": {"mu": 2.18, "sigma": 0.78}, "phi": {"mu": 0.14, "sigma": 1.79},
           "r": {"mu": 0.55, "sigma": 0.3}, "roll": {"mu": 0.0, "sigma": 0.31}, "pitch": {"mu": 0.08, "sigma": 0.3},
           "yaw": {"mu": 0.0, "sigma": 0.4}}"#,
    )
    .expect("write");
    let out = spatialscope()
        .args(["stats"])
        .arg(common::bridge_dir())
        .arg("--grid")
        .arg(&gs)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["datasets"][0]["statistics"], "dataset's own q01/q99",
        "a Gaussian file has no keys"
    );
    let cfg = spatialscope::action_grid::ProcessorConfig::load(&gs).expect("load");
    assert_eq!(
        cfg.grid.bin_counts(),
        spatialscope::action_grid::BinCounts::RELEASED
    );
    std::fs::write(&gs, r#"{"theta": {"mu": 1, "sigma": 1}}"#).expect("write");
    let err = spatialscope::action_grid::ProcessorConfig::load(&gs).expect_err("incomplete");
    assert!(err.to_string().contains("no `phi`"), "{err}");
}
