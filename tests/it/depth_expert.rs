//! Raw depth against depth experts: the pipeline on a real RLBench depth map with an expert
//! whose answer is known (so the alignment and the disagreement figures can be checked), and
//! `spatialscope depth --expert` through the binary (files, JSON, the aligned PNG equal to
//! the library's, errors).

use crate::common;

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use spatialscope::episode::{DepthImage, FrameCache};
use spatialscope::model::depth_anything::ExpertOutput;
use spatialscope::pipeline::depth_expert::{ExpertRun, compare_with_raw};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

fn lift() -> std::path::PathBuf {
    common::repo().join("sample_episodes/sim_rlbench/lift")
}

fn raw_front_depth() -> Arc<DepthImage> {
    let ds = spatialscope::episode::open_path(&lift()).unwrap();
    let ep = ds.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::new(1 << 26)))
        .unwrap();
    let cam = ep.cameras.iter().position(|c| c.name == "front").unwrap();
    ep.depth(3, cam).unwrap().unwrap()
}

#[test]
fn a_relative_expert_that_knows_the_scene_is_aligned_and_flags_the_corrupted_raw_pixels() {
    let raw = raw_front_depth();
    let (w, h) = (raw.width_px as usize, raw.height_px as usize);
    // The "expert": inverse depth up to scale 2.5 and shift -0.2 (what a perfect relative
    // model would output).
    let (s, t) = (2.5f64, -0.2f64);
    let values: Vec<f32> = raw
        .depth_m
        .iter()
        .map(|z| ((1.0 / f64::from(*z) - t) / s) as f32)
        .collect();
    // The sensor fails on a block of the image: 30 % too far in the top-left 64 x 64
    // pixels, missing in the next 32 columns.
    let mut bad = raw.depth_m.clone();
    for y in 0..64 {
        for x in 0..96 {
            bad[y * w + x] = if x < 64 { bad[y * w + x] * 1.3 } else { 0.0 };
        }
    }
    let run = ExpertRun {
        name: "depth-anything-v2",
        label: "known answer".into(),
        output: ExpertOutput::RelativeInverseDepth,
        values,
        width_px: w,
        height_px: h,
        ms: 0.0,
    };
    let raw_bad = DepthImage {
        width_px: w as u32,
        height_px: h as u32,
        depth_m: bad,
    };
    let c = compare_with_raw(run, Some(&raw_bad), 0.1);
    let sm = c.summary.expect("aligned");
    assert!(
        (sm.alignment.scale - s).abs() < 1e-4 * s,
        "{:?}",
        sm.alignment
    );
    assert!((sm.alignment.shift - t).abs() < 1e-4, "{:?}", sm.alignment);
    let total = (w * h) as f64;
    assert!((sm.raw_missing_fraction - 64.0 * 32.0 / total).abs() < 1e-12);
    let valid = total - 64.0 * 32.0;
    assert!(
        (sm.disagree_fraction - 64.0 * 64.0 / valid).abs() < 1e-9,
        "{}",
        sm.disagree_fraction
    );
    assert!((sm.suspect_fraction - 64.0 * 96.0 / total).abs() < 1e-9);
    // Where the raw depth is right, the aligned expert equals it.
    let aligned = c.aligned_m.unwrap();
    let diff = c.difference_m.unwrap();
    for y in (64..h).step_by(7) {
        for x in (0..w).step_by(7) {
            let i = y * w + x;
            assert!((aligned[i] - raw.depth_m[i]).abs() < 1e-4 * raw.depth_m[i]);
        }
    }
    // The too-far block shows the expert nearer (negative), the missing one no value.
    assert!(diff[10 * w + 10] < 0.0 && diff[10 * w + 70].is_nan());
}

#[test]
fn depth_expert_command_writes_aligned_maps_and_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("experts");
    let model = common::repo().join("tests/golden/depth_anything_v2/tiny_relative.safetensors");
    let report = common::run_ok(
        bin()
            .args(["depth", "--step", "3", "--camera", "wrist"])
            .args(["--expert", "depth-anything-v2", "--expert", "zoedepth"])
            .args(["--expert-input-size", "140", "--expert-model"])
            .arg(&model)
            .arg("--out")
            .arg(&out)
            .arg(lift()),
    );
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(report.contains("camera wrist"), "{report}");
    for f in [
        "raw_depth_mm.png",
        "raw_depth_preview.png",
        "depth-anything-v2_depth_mm.png",
        "depth-anything-v2_depth_preview.png",
        "depth-anything-v2_difference_preview.png",
        "zoedepth_depth_mm.png",
        "zoedepth_difference_preview.png",
        "expert_stats.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("expert_stats.json")).unwrap())
            .unwrap();
    assert_eq!(j["camera"], "wrist");
    let e = &j["experts"];
    assert_eq!(e[0]["name"], "depth-anything-v2");
    assert_eq!(e[0]["output"], "relative_inverse_depth");
    assert_eq!(e[0]["comparison"]["alignment"]["space"], "inverse_depth");
    assert_eq!(e[1]["comparison"]["alignment"]["space"], "depth");
    let n = j["width_px"].as_u64().unwrap() * j["height_px"].as_u64().unwrap();
    assert_eq!(e[0]["comparison"]["total_px"].as_u64().unwrap(), n);

    // The aligned PNG is the library's expert under the reported scale and shift.
    let png = image::open(out.join("depth-anything-v2_depth_mm.png"))
        .unwrap()
        .into_luma16();
    let m = spatialscope::model::depth_anything::DepthAnythingV2::load(
        &model,
        None,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let ds = spatialscope::episode::open_path(&lift()).unwrap();
    let ep = ds.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::new(1 << 26)))
        .unwrap();
    let cam = ep.cameras.iter().position(|c| c.name == "wrist").unwrap();
    let rgb = ep.rgb(3, cam).unwrap();
    let p = m
        .infer(
            &rgb.pixels,
            rgb.width_px as usize,
            rgb.height_px as usize,
            140,
        )
        .unwrap();
    let al = &e[0]["comparison"]["alignment"];
    let (s, t) = (al["scale"].as_f64().unwrap(), al["shift"].as_f64().unwrap());
    let mut checked = 0;
    for (i, v) in p.values.iter().enumerate().step_by(97) {
        let inv = s * f64::from(*v) + t;
        if inv > 1e-3 {
            let mm = (1000.0 / inv).round().clamp(1.0, 65535.0) as u16;
            assert!(
                png.as_raw()[i].abs_diff(mm) <= 1,
                "{i}: {} vs {mm}",
                png.as_raw()[i]
            );
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn depth_expert_command_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let o = bin()
            .args(["depth", "--out"])
            .arg(tmp.path().join("o"))
            .args(extra)
            .arg(lift())
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(&["--expert", "depth-anything-v2"]);
    assert!(e.contains("--expert-model"), "{e}");
    let e = run(&["--expert", "zoedepth", "--camera", "overhead"]);
    assert!(
        e.contains("no camera `overhead`") && e.contains("front"),
        "{e}"
    );
    let e = run(&[
        "--expert",
        "depth-anything-v2",
        "--expert-model",
        "Cargo.toml",
    ]);
    assert!(e.contains("Cargo.toml") && e.contains("safetensors"), "{e}");
    // Never into the dataset.
    let o = bin()
        .args(["depth", "--expert", "zoedepth", "--out"])
        .arg(lift().join("out"))
        .arg(lift())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!lift().join("out").exists());
}
