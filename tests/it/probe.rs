//! `spatialscope probe` through the binary on the simulated RGB-D sample with the tiny
//! checkpoint (random weights): one result per layer (SigLIP, the decoder input, each Gemma2
//! layer), the decoder input reading patch positions better than SigLIP's output (Ego3D adds
//! them between the two: if patches and positions were misaligned, this would fail), the
//! chart written, and bad arguments refused. `spatialscope features`: every layer saved,
//! PCA colours per layer, episode-wide fits identical from any step of the fitted set.

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

fn features(out: &std::path::Path, extra: &[&str]) -> Value {
    common::run_ok(
        bin()
            .args(["features", "--depth-source", "sensor", "--out"])
            .arg(out)
            .args(extra)
            .arg(common::native_dir()),
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("pca.json")).unwrap()).unwrap()
}

#[test]
fn features_are_saved_and_episode_fits_give_the_same_colours_at_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let j = features(&a, &["--step", "0", "--fit", "episode", "--every", "5"]);
    let t =
        candle_core::safetensors::load(a.join("features.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    assert_eq!(t["siglip"].dims()[0], 256);
    assert_eq!(t["patch_xyz"].dims(), [256, 3]);
    assert!(t.contains_key("embeddings") && t.contains_key("layer_0"));
    for l in j["layers"].as_array().unwrap() {
        let e: Vec<f64> = serde_json::from_value(l["explained_variance_ratio"].clone()).unwrap();
        assert!(
            e[0] >= e[1] && e[1] >= e[2] && e.iter().sum::<f64>() <= 1.0 + 1e-9,
            "{l}"
        );
        let name = l["layer"].as_str().unwrap().replace(' ', "_");
        assert!(a.join(format!("pca_{name}.png")).is_file());
        assert!(a.join(format!("pca_{name}_overlay.png")).is_file());
    }
    // Step 5 fits on the same set of steps: the same components, so the same colour ranges.
    let b = tmp.path().join("b");
    let k = features(&b, &["--step", "5", "--fit", "episode", "--every", "5"]);
    for (la, lb) in j["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(k["layers"].as_array().unwrap())
    {
        let ra: Vec<(f64, f64)> =
            serde_json::from_value(la["score_ranges_p01_p99"].clone()).unwrap();
        let rb: Vec<(f64, f64)> =
            serde_json::from_value(lb["score_ranges_p01_p99"].clone()).unwrap();
        for (x, y) in ra.iter().zip(&rb) {
            // The same rows in another order: equal up to summation order.
            assert!(
                (x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9,
                "{x:?} {y:?}"
            );
        }
    }
    // One layer by name; an unknown one is named with the choices.
    let c = tmp.path().join("c");
    let j = features(&c, &["--layer", "siglip"]);
    assert_eq!(j["layers"].as_array().unwrap().len(), 1);
    // SPA's ViT beside SpatialVLA's layers: its own 14 x 14 grid.
    let spa = common::repo().join("tests/golden/spa/tiny_spa.safetensors");
    let s = tmp.path().join("s");
    let j = features(&s, &["--layer", "spa", "--spa", spa.to_str().unwrap()]);
    assert_eq!(j["layers"][0]["layer"], "spa");
    let t =
        candle_core::safetensors::load(s.join("features.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    assert_eq!(t["spa"].dims(), [196, 64]);
    assert!(s.join("pca_spa_overlay.png").is_file());
    let o = bin()
        .args(["features", "--layer", "layer_99", "--out"])
        .arg(tmp.path().join("d"))
        .arg(common::native_dir())
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("layer_99") && e.contains("siglip"),
        "{e}"
    );
}

#[test]
fn alignment_with_the_layers_own_projected_features_is_one_everywhere() {
    use candle_core::{DType, Device, Tensor};
    let tmp = tempfile::tempdir().unwrap();
    let dev = Device::Cpu;
    // A random projector in Spatial Forcing's names: 64 (the tiny decoder) -> 2 x 8 -> 16,
    // with the optional LayerNorm.
    let mut p = std::collections::HashMap::new();
    p.insert(
        "fc1.weight".to_owned(),
        Tensor::randn(0f32, 0.2, (16, 64), &dev).unwrap(),
    );
    p.insert(
        "fc1.bias".to_owned(),
        Tensor::randn(0f32, 0.1, 16, &dev).unwrap(),
    );
    p.insert(
        "fc2.weight".to_owned(),
        Tensor::randn(0f32, 0.3, (16, 16), &dev).unwrap(),
    );
    p.insert(
        "fc2.bias".to_owned(),
        Tensor::randn(0f32, 0.1, 16, &dev).unwrap(),
    );
    p.insert(
        "vlm_norm.weight".to_owned(),
        Tensor::ones(64, DType::F32, &dev).unwrap(),
    );
    p.insert(
        "vlm_norm.bias".to_owned(),
        Tensor::zeros(64, DType::F32, &dev).unwrap(),
    );
    let proj_path = tmp.path().join("align_projector.safetensors");
    candle_core::safetensors::save(&p, &proj_path).unwrap();
    // The layer's own features, projected, as the "3-D" dump (16 x 16 grid: pooling is
    // the identity), with the first row of patches marked as padding.
    let a = tmp.path().join("a");
    features(&a, &["--step", "2", "--layer", "layer_1"]);
    let t = candle_core::safetensors::load(a.join("features.safetensors"), &dev).unwrap();
    let proj = spatialscope::model::align::AlignProjector::load(&proj_path, &dev).unwrap();
    let projected = proj.forward(&t["layer_1"]).unwrap();
    let mut valid = vec![1f32; 256];
    valid[..16].fill(0.0);
    let mut dump = std::collections::HashMap::new();
    dump.insert("tokens".to_owned(), projected);
    dump.insert("grid".to_owned(), Tensor::new(&[16u32, 16], &dev).unwrap());
    dump.insert(
        "valid".to_owned(),
        Tensor::from_vec(valid, 256, &dev).unwrap(),
    );
    let dump_path = tmp.path().join("frame_vggt.safetensors");
    candle_core::safetensors::save(&dump, &dump_path).unwrap();
    let b = tmp.path().join("b");
    let o = common::run_ok(
        bin()
            .args([
                "features",
                "--depth-source",
                "sensor",
                "--step",
                "2",
                "--layer",
                "layer_1",
            ])
            .arg("--projector")
            .arg(&proj_path)
            .arg("--features3d")
            .arg(&dump_path)
            .args(["--align-layer", "layer_1", "--out"])
            .arg(&b)
            .arg(common::native_dir()),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("mean cosine"));
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("alignment.json")).unwrap()).unwrap();
    assert_eq!(j["patches_compared"], 240);
    assert!(
        (j["mean_cosine"].as_f64().unwrap() - 1.0).abs() < 1e-5,
        "{}",
        j["mean_cosine"]
    );
    let per = j["cosine_per_patch"].as_array().unwrap();
    assert!(
        per[..16].iter().all(Value::is_null),
        "padding has no similarity"
    );
    assert!(
        per[16..]
            .iter()
            .all(|c| (c.as_f64().unwrap() - 1.0).abs() < 1e-5)
    );
    assert!(b.join("alignment_heatmap.png").is_file() && b.join("alignment_overlay.png").is_file());

    // A dump of another width than the projector's output is refused by name.
    let mut bad = dump;
    bad.insert(
        "tokens".to_owned(),
        Tensor::zeros((256, 8), DType::F32, &dev).unwrap(),
    );
    candle_core::safetensors::save(&bad, &dump_path).unwrap();
    let o = bin()
        .args(["features", "--depth-source", "sensor", "--projector"])
        .arg(&proj_path)
        .arg("--features3d")
        .arg(&dump_path)
        .arg("--out")
        .arg(tmp.path().join("c"))
        .arg(common::native_dir())
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("differ in shape"), "{e}");
}
