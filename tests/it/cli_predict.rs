//! `spatialscope predict` end to end through the real binary: single-image mode reproduces
//! the reference's greedy ids and decoded actions for every golden case (depth supplied as a
//! .npy file, as a user would), and episode mode writes one JSON line per step plus a
//! summary, never inside the dataset.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use serde_json::Value;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

fn write_npy_f32(path: &Path, h: usize, w: usize, data: &[f32]) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({h}, {w}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in data {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn single_image_mode_reproduces_the_reference() {
    let golden = repo("tests/golden/tiny_spatialvla");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(golden.join("reference_outputs.json")).unwrap(),
    )
    .unwrap();
    let tensors =
        candle_core::safetensors::load(golden.join("reference_outputs.safetensors"), &Device::Cpu)
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for case in json["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let depth = tensors[&format!("{id}/depth_224")]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let n = (depth.len() as f64).sqrt() as usize;
        let npy = tmp.path().join(format!("{id}.npy"));
        write_npy_f32(&npy, n, n, &depth);
        // Twice: with the reference's depth as a file (sensor), and with our ZoeDepth
        // estimating it in the loop (the default): both must give the reference's ids.
        for estimated in [false, true] {
            let mut cmd = bin();
            cmd.args(["predict", "--json", "--image"])
                .arg(golden.join(case["image_file"].as_str().unwrap()))
                .args(["--prompt", case["prompt"].as_str().unwrap()])
                .args(["--unnorm-key", case["unnorm_key"].as_str().unwrap()]);
            if !estimated {
                cmd.arg("--depth").arg(&npy);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let p: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(p["random_weights"], true);
            let got: Vec<i64> = p["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
                .collect();
            let want: Vec<i64> = case["greedy"]["generated_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(got, want, "{id}: greedy ids");
            let want_actions = &case["greedy"]["decode_actions"]["actions"];
            let got_actions = &p["chunk"]["actions"];
            for (r, row) in want_actions.as_array().unwrap().iter().enumerate() {
                for (c, w) in row.as_array().unwrap().iter().enumerate() {
                    let g = got_actions[r][c].as_f64().unwrap();
                    assert!(
                        (g - w.as_f64().unwrap()).abs() <= 1e-12,
                        "{id} action[{r}][{c}] {g} vs {w}"
                    );
                }
            }
            assert!(
                !p["issues"].as_array().unwrap().is_empty(),
                "random weights never make a clean chunk"
            );
            let zoe = &p["estimated_depth"];
            assert_eq!(
                zoe["domain"], case["zoe_domain_chosen"],
                "{id}: ZoeDepth domain"
            );
            if estimated {
                assert_eq!(p["depth_choice"], "estimated");
                assert!(p["depth_source"].as_str().unwrap().contains("ZoeDepth"));
            } else {
                assert_eq!(p["depth_choice"], "sensor");
                assert!(p["depth_source"].as_str().unwrap().contains(".npy"));
            }
        }
    }
}

#[test]
fn episode_mode_writes_jsonl_and_refuses_the_dataset_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("preds.jsonl");
    common::run_ok(
        bin()
            .args([
                "predict",
                "--unnorm-key",
                "bridge_orig/1.0.0",
                "--episode",
                "0",
                "--max-new-tokens",
                "13",
                "--depth-source",
                "sensor",
                "--out",
            ])
            .arg(&out)
            .arg(repo("sample_episodes/sim_native")),
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, steps) = lines.split_last().unwrap();
    let n = summary["summary"]["steps"].as_u64().unwrap() as usize;
    assert_eq!(n, steps.len());
    assert!(n > 10);
    for s in steps {
        assert_eq!(s["token_ids"].as_array().unwrap().len(), 13);
        assert_eq!(s["actions"].as_array().unwrap().len(), 4);
        assert!(s["depth_source"].as_str().unwrap().contains("sensor depth"));
    }
    assert!(!tmp.path().join("preds.jsonl.partial").exists());
    // Never into the dataset.
    let inside = repo("sample_episodes/sim_native/preds.jsonl");
    let run = bin()
        .args(["predict", "--unnorm-key", "bridge_orig/1.0.0", "--out"])
        .arg(&inside)
        .arg(repo("sample_episodes/sim_native"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("refusing"));
    assert!(!inside.exists());
}

#[test]
fn rgb_only_frames_run_on_estimated_depth_and_refuse_sensor_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = |source: &str| -> Vec<Value> {
        let out = tmp.path().join(format!("{source}.jsonl"));
        common::run_ok(
            bin()
                .args([
                    "predict",
                    "--episode",
                    "0",
                    "--step",
                    "0",
                    "--max-new-tokens",
                    "13",
                ])
                .args(["--depth-source", source, "--out"])
                .arg(&out)
                .arg(repo("sample_episodes/bridge_rlds")),
        );
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // Bridge has no depth: ZoeDepth estimates it, as in the reference.
    let est = lines("estimated");
    assert_eq!(
        est[0]["token_ids"].as_array().unwrap().len(),
        13,
        "{}",
        est[0]
    );
    assert!(
        est[0]["depth_source"]
            .as_str()
            .unwrap()
            .contains("ZoeDepth"),
        "{}",
        est[0]
    );
    // Asking for sensor depth on an RGB-only frame is a clear per-step error.
    let sensor = lines("sensor");
    assert!(
        sensor[0]["error"]
            .as_str()
            .unwrap()
            .contains("sensor depth was chosen but this frame has none"),
        "{}",
        sensor[0]
    );
}

#[test]
fn the_model_can_be_given_the_episode_cameras_own_k() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ks = Vec::new();
    for choice in ["processor", "camera"] {
        let out = tmp.path().join(format!("{choice}.jsonl"));
        common::run_ok(
            bin()
                .args([
                    "predict",
                    "--unnorm-key",
                    "bridge_orig/1.0.0",
                    "--episode",
                    "0",
                    "--step",
                    "0",
                ])
                .args(["--max-new-tokens", "3", "--intrinsics", choice, "--out"])
                .arg(&out)
                .arg(repo("sample_episodes/sim_native")),
        );
        let first: Value = serde_json::from_str(
            std::fs::read_to_string(&out)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        ks.push(first["intrinsics"].clone());
    }
    // The checkpoint's K for bridge (623.588 px at 640 x 480) scaled to 224, against the
    // simulated agentview's own K (309.02 px at 256 x 256) scaled to 224.
    let fx = |k: &Value| k["k"][0][0].as_f64().unwrap();
    assert!((fx(&ks[0]) - 218.2558).abs() < 1e-3, "{}", ks[0]);
    assert!(
        (fx(&ks[1]) - 309.019336 * 224.0 / 256.0).abs() < 1e-3,
        "{}",
        ks[1]
    );
    assert!(ks[1]["entry"].as_str().unwrap().contains("agentview"));
    let bad = bin()
        .args(["predict", "--intrinsics", "nonsense", "--out"])
        .arg(tmp.path().join("x.jsonl"))
        .arg(repo("sample_episodes/sim_native"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
