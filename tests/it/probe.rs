//! `spatialscope probe` through the binary on the simulated RGB-D sample with the tiny
//! checkpoint (random weights): one result per layer (SigLIP, the decoder input, each Gemma2
//! layer), the decoder input reading patch positions better than SigLIP's output (Ego3D adds
//! them between the two: if patches and positions were misaligned, this would fail), the
//! chart written, and bad arguments refused.

use crate::common;

use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

#[test]
fn probe_reports_every_layer_and_sees_ego3d_enter_the_decoder_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("probe");
    let o = common::run_ok(
        bin()
            .args([
                "probe",
                "--every",
                "3",
                "--max-frames",
                "20",
                "--depth-source",
                "sensor",
                "--out",
            ])
            .arg(&out)
            .arg(common::native_dir()),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("random"), "{text}");
    assert!(out.join("probe_r2.png").is_file());
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("probe.json")).unwrap()).unwrap();
    let layers = j["layers"].as_array().unwrap();
    let names: Vec<&str> = layers
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names[..2], ["siglip", "embeddings"]);
    assert!(
        names[2..]
            .iter()
            .enumerate()
            .all(|(i, n)| *n == format!("layer {i}"))
    );
    assert_eq!(j["frames"].as_array().unwrap().len(), 20);
    assert_eq!(j["test_frames"], 4);
    assert_eq!(j["patches_per_frame"], 256);
    let r2 = |i: usize| layers[i]["fit"]["r2"].as_f64().unwrap();
    assert!(
        r2(1) > r2(0) + 0.05,
        "Ego3D is added between SigLIP ({}) and the decoder input ({})",
        r2(0),
        r2(1)
    );
    for l in layers {
        let c = l["cka_with_positions"].as_f64().unwrap();
        assert!((0.0..=1.0 + 1e-9).contains(&c), "{l}");
    }
}

#[test]
fn probe_refuses_too_few_frames_and_outputs_inside_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["probe", "--max-frames", "3", "--out"])
        .arg(tmp.path().join("p"))
        .arg(common::native_dir())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--max-frames"));
    let inside = common::native_dir().join("probe_out");
    let o = bin()
        .args(["probe", "--out"])
        .arg(&inside)
        .arg(common::native_dir())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!inside.exists());
}
