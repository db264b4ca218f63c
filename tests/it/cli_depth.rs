//! `spatialscope depth` through the binary: the estimated depth as a 16-bit millimetre PNG
//! equal to what the library's ZoeDepth gives for that frame, the preview, and with sensor
//! depth the comparison files and statistics; RGB-only data gets no comparison; the output
//! may not go into a dataset.

use crate::common;

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

#[test]
fn depth_writes_estimate_comparison_and_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sim");
    common::run_ok(
        bin()
            .args(["depth", "--step", "5", "--out"])
            .arg(&out)
            .arg(common::native_dir()),
    );
    for f in [
        "estimated_depth_mm.png",
        "estimated_depth_preview.png",
        "sensor_depth_mm.png",
        "sensor_depth_preview.png",
        "difference_preview.png",
        "depth_stats.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("depth_stats.json")).unwrap())
            .unwrap();
    assert_eq!(j["camera"], "agentview");
    assert_eq!(j["stats"]["valid_px"], 224 * 224);
    assert!(j["stats"]["abs_rel"].as_f64().unwrap() > 0.0);
    assert!(["nyu", "kitti"].contains(&j["zoe_domain"].as_str().unwrap()));

    // The PNG holds what the library estimates for that frame (to the millimetre).
    let png = image::open(out.join("estimated_depth_mm.png"))
        .unwrap()
        .into_luma16();
    assert_eq!(png.dimensions(), (224, 224));
    let p = spatialscope::model::Predictor::load(
        &common::repo().join("assets/tiny_spatialvla"),
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .unwrap();
    let ds = spatialscope::episode::open_path(&common::native_dir()).unwrap();
    let ep = ds.datasets[0]
        .open_episode(
            0,
            &Arc::new(spatialscope::episode::FrameCache::new(1 << 26)),
        )
        .unwrap();
    let rgb = ep.rgb(5, 0).unwrap();
    let px = spatialscope::model::preprocess::pixel_values(&rgb.pixels, 256, 256, 224);
    let est = p.estimate_depth(&px, 224).unwrap();
    let worst = png
        .as_raw()
        .iter()
        .zip(&est.depth_m)
        .map(|(mm, m)| (f32::from(*mm) / 1000.0 - m).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 0.0005 + 1e-6, "PNG vs library estimate: {worst} m");
    assert_eq!(j["zoe_domain"], est.domain.as_str());

    // RGB-only data: an estimate, no comparison.
    let out2 = tmp.path().join("bridge");
    let run = common::run_ok(
        bin()
            .args(["depth", "--out"])
            .arg(&out2)
            .arg(common::bridge_dir()),
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("no sensor depth"));
    assert!(out2.join("estimated_depth_mm.png").is_file());
    assert!(!out2.join("sensor_depth_mm.png").exists());
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("depth_stats.json")).unwrap())
            .unwrap();
    assert!(j["stats"].is_null());

    // Never into a dataset.
    let inside = common::native_dir().join("depth_out");
    let run = bin()
        .args(["depth", "--out"])
        .arg(&inside)
        .arg(common::native_dir())
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(!inside.exists());
}
