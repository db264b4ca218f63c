//! The real BridgeData RLDS sample against its golden summary (computed independently with
//! TensorFlow by the data hunt): for all 25 episodes the instruction, length, step-1 action,
//! step-0 state, the sha256 of the first image_0 JPEG, per-dimension |action| max, and the
//! all-black image_3 placeholder.

use crate::common;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use spatialscope::episode::{self, CalibrationOrigin, DatasetFormat, FrameCache};

fn golden() -> serde_json::Value {
    let text =
        std::fs::read_to_string(common::repo().join("tests/fixtures/bridge_expected_summary.json"))
            .expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn all_25_episodes_match_the_golden_summary() {
    let g = golden();
    let collection = episode::open_path(&common::bridge_dir()).expect("open bridge");
    assert_eq!(collection.datasets.len(), 1);
    let d = &collection.datasets[0];
    assert_eq!(d.format, DatasetFormat::Rlds);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let expected = g["episodes"].as_array().expect("episodes");
    assert_eq!(d.len(), 25);
    assert_eq!(expected.len(), 25);
    let cache = Arc::new(FrameCache::new(16 << 20));
    for e in expected {
        let i = e["record_index"].as_u64().expect("index") as usize;
        let ep = d
            .open_episode(i, &cache)
            .unwrap_or_else(|err| panic!("episode {i}: {err}"));
        assert_eq!(
            ep.instruction,
            e["language_instruction"].as_str().expect("str"),
            "episode {i}"
        );
        assert_eq!(
            ep.num_steps(),
            e["num_steps"].as_u64().expect("n") as usize,
            "episode {i}"
        );

        // Step-1 action and step-0 state: float32 values printed exactly, so compare tightly.
        for (got, want) in ep.actions.values[1].iter().zip(floats(&e["action_step1"])) {
            assert!(
                (f64::from(*got) - want).abs() <= 1e-9,
                "episode {i} action_step1 {got} vs {want}"
            );
        }
        let proprio = ep.proprio.as_ref().expect("state");
        for (got, want) in proprio.values[0].iter().zip(floats(&e["state_step0"])) {
            assert!(
                (f64::from(*got) - want).abs() <= 1e-9,
                "episode {i} state_step0 {got} vs {want}"
            );
        }
        let abs_max = floats(&e["action_abs_max"]);
        for (dim, want) in abs_max.iter().enumerate() {
            let got = ep
                .actions
                .values
                .iter()
                .map(|a| f64::from(a[dim].abs()))
                .fold(0.0, f64::max);
            assert!(
                (got - want).abs() <= 1e-9,
                "episode {i} dim {dim}: |max| {got} vs {want}"
            );
        }

        // Cameras found from features.json, in key order; image_3 flagged.
        let names: Vec<&str> = ep.cameras.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["image_0", "image_1", "image_2", "image_3"]);
        let cam0 = ep.camera_index("image_0").expect("image_0");
        let jpeg = ep.encoded_rgb(0, cam0).expect("jpeg");
        assert_eq!(jpeg.encoding, "jpeg");
        let hash = format!("{:x}", Sha256::digest(&jpeg.bytes));
        assert_eq!(
            hash,
            e["image_0_step0_sha256"].as_str().expect("hash"),
            "episode {i}"
        );
        let cam3 = ep.camera_index("image_3").expect("image_3");
        assert_eq!(
            ep.cameras[cam3].placeholder,
            e["image_3_all_black"].as_bool().expect("bool"),
            "episode {i}"
        );
        assert!(!ep.cameras[cam0].placeholder);
        assert!(ep.cameras.iter().all(|c| !c.has_depth));
    }
}

#[test]
fn frames_decode_to_64px_and_intrinsics_are_nominal_for_the_primary_camera_only() {
    let d = &episode::open_path(&common::bridge_shard())
        .expect("open shard")
        .datasets[0];
    let cache = Arc::new(FrameCache::new(16 << 20));
    let ep = d.open_episode(0, &cache).expect("episode 0");
    for step in 0..ep.num_steps() {
        for c in 0..ep.cameras.len() {
            let img = ep.rgb(step, c).expect("decode");
            assert_eq!((img.width_px, img.height_px), (64, 64));
            assert_eq!(img.pixels.len(), 64 * 64 * 3);
        }
    }
    let cam0 = &ep.cameras[0];
    assert_eq!(
        cam0.intrinsics_source,
        CalibrationOrigin::DatasetTable {
            key: "bridge_orig/1.0.0".into()
        }
    );
    let k = cam0.intrinsics.expect("nominal K");
    assert!((k.fx_px - 62.3588).abs() < 1e-9 && (k.fy_px - 623.588 * 64.0 / 480.0).abs() < 1e-9);
    assert!(
        ep.cameras[1..]
            .iter()
            .all(|c| c.intrinsics.is_none() && c.intrinsics_source == CalibrationOrigin::None)
    );
    // Raw Bridge conventions are surfaced as notes, not hidden.
    assert!(
        ep.notes.iter().any(|n| n.contains("truncated")),
        "{:?}",
        ep.notes
    );
    assert!(
        ep.notes.iter().any(|n| n.contains("image_3")),
        "{:?}",
        ep.notes
    );
    // The cache served repeated requests.
    let before = cache.stats();
    ep.rgb(0, 0).expect("cached");
    assert_eq!(cache.stats().hits, before.hits + 1);
}

#[test]
fn summaries_read_metadata_without_decoding_frames() {
    let d = &episode::open_path(&common::bridge_dir())
        .expect("open")
        .datasets[0];
    let s = d.summarize(3).expect("summary");
    assert_eq!(s.num_steps, Some(10));
    assert_eq!(s.cameras.len(), 4);
    assert!(s.instruction.is_some_and(|i| !i.is_empty()));
    assert_eq!(s.name, "train #3");
}

/// RLDS datasets that store metric depth as a float32 tensor per step (several Open
/// X-Embodiment sets do): a crafted copy of the Bridge sample with `depth_0` added.
#[test]
fn float_depth_tensors_pair_with_their_camera() {
    use prost::Message;
    use spatialscope::episode::formats::rlds::example::{Example, Feature, FloatList, Kind};

    let (_tmp, dir) = common::bridge_copy();
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    let mut records = common::read_all_records(&shard);
    let mut ex = Example::decode(&records[0][..]).expect("decode");
    let values: Vec<f32> = (0..10 * 64 * 64)
        .map(|i| {
            if i % 97 == 0 {
                f32::NAN
            } else {
                0.5 + (i % 64) as f32 * 0.01
            }
        })
        .collect();
    ex.features.as_mut().expect("features").feature.insert(
        "steps/observation/depth_0".to_owned(),
        Feature {
            kind: Some(Kind::FloatList(FloatList {
                value: values.clone(),
            })),
        },
    );
    records[0] = ex.encode_to_vec();
    common::write_tfrecord(&shard, &records);
    let features_path = dir.join("features.json");
    let mut f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&features_path).expect("read"))
            .expect("json");
    f["featuresDict"]["features"]["steps"]["sequence"]["feature"]["featuresDict"]["features"]["observation"]
        ["featuresDict"]["features"]["depth_0"] = serde_json::json!({
        "pythonClassName": "tensorflow_datasets.core.features.tensor_feature.Tensor",
        "tensor": {"shape": {"dimensions": ["64", "64", "1"]}, "dtype": "float32", "encoding": "none"}
    });
    std::fs::write(&features_path, serde_json::to_string(&f).expect("ser")).expect("write");

    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let cache = Arc::new(FrameCache::new(16 << 20));
    let ep = d.open_episode(0, &cache).expect("episode");
    assert_eq!(ep.cameras.len(), 4, "depth is not a camera of its own");
    assert!(ep.cameras[0].has_depth && !ep.cameras[1].has_depth);
    let depth = ep.depth(3, 0).expect("decode").expect("depth");
    let base = 3 * 64 * 64;
    for (i, got) in depth.depth_m.iter().enumerate() {
        let want = values[base + i];
        if want.is_finite() {
            assert_eq!(*got, want);
        } else {
            assert_eq!(*got, 0.0, "NaN depth becomes invalid");
        }
    }
}
