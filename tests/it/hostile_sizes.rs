//! Sizes read from files are checked before any arithmetic or allocation: a safetensors
//! shape whose element count overflows, config fields near `i64::MAX` or declaring 10^9
//! layers, an HDF5 dataset declaring 10^9 rows it does not store or frames of 10^5 px a side,
//! and a 1 MB instruction each end in a clear error (or, for the instruction, a visible cut),
//! never a panic or an abort. Also data that used to pass in silence: float64 image stacks,
//! zero-step demos, empty shards, declared widths the data does not have.

use std::path::Path;

use crate::common;
use spatialscope::episode::{self, Dataset, DatasetFormat, FrameCache};
use spatialscope::model::{Checkpoint, SpatialVlaConfig};

fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(common::repo().join("assets/tiny_spatialvla")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    dir
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    let text = serde_json::to_string(&v).unwrap();
    std::fs::write(&p, &text).unwrap();
    text
}

#[test]
fn a_safetensors_shape_that_overflows_is_an_error() {
    let dir = tiny_copy();
    let header =
        br#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(&[0; 4]);
    std::fs::write(dir.path().join("model.safetensors"), file).unwrap();
    let err = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn config_sizes_near_the_integer_limits_are_errors() {
    let dir = tiny_copy();
    let path = dir.path().join("config.json");
    let text = edit_config(dir.path(), |v| {
        v["action_token_begin_idx"] = serde_json::json!(i64::MAX - 10);
    });
    let err = SpatialVlaConfig::from_json_str(&text, &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not fit the vocabulary"), "{err}");
    for (section, field) in [
        ("text_config", "num_hidden_layers"),
        ("vision_config", "num_hidden_layers"),
        ("text_config", "vocab_size"),
        ("vision_config", "image_size"),
    ] {
        let mut original = serde_json::Value::Null;
        let text = edit_config(dir.path(), |v| {
            original = v[section][field].clone();
            v[section][field] = serde_json::json!(1_000_000_000u64);
        });
        let err = SpatialVlaConfig::from_json_str(&text, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(field) && err.contains("beyond any real model"),
            "{section}.{field}: {err}"
        );
        // Through the checkpoint too, with the file's name in the message.
        let err = Checkpoint::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        edit_config(dir.path(), |v| v[section][field] = original);
    }
    let text = edit_config(dir.path(), |v| {
        v["vision_zoe_config"]["backbone_config"]["num_hidden_layers"] =
            serde_json::json!(1_000_000_000u64);
    });
    let err = SpatialVlaConfig::from_json_str(&text, &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("beyond any real model"), "{err}");
}

#[test]
fn a_one_megabyte_instruction_is_cut_with_a_note() {
    use spatialscope::model::{
        DepthChoice, DepthInput, GenerateOptions, PredictRequest, Predictor,
    };
    let dir = common::repo().join("assets/tiny_spatialvla");
    let p = Predictor::load(&dir, &candle_core::Device::Cpu, candle_core::DType::F32).unwrap();
    let rgb = vec![128u8; 64 * 48 * 3];
    let instruction = "pick up the red cube and put it in the bowl ".repeat(24_000);
    assert!(instruction.len() > 1_000_000);
    let req = PredictRequest {
        rgb: &rgb,
        width: 64,
        height: 48,
        instruction: &instruction,
        depth: Some(DepthInput {
            depth_m: vec![1.0; 64 * 48],
            width: 64,
            height: 48,
            source: "constant test depth".into(),
        }),
        depth_choice: DepthChoice::Sensor,
        compare_depth: false,
        unnorm_key: "bridge_orig/1.0.0",
        intrinsics: spatialscope::model::processor::IntrinsicsPrecision::Float32,
        intrinsics_source: spatialscope::model::processor::IntrinsicsSource::Processor,
        options: GenerateOptions {
            max_new_tokens: 2,
            top_k: 1,
            attention: false,
        },
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let pred = p
        .predict(&req, &cancel)
        .expect("a long instruction is cut, not fatal");
    let image_tokens = p.model.config().vision.num_patches();
    assert!(
        pred.prompt_ids.len()
            <= image_tokens + 2 + spatialscope::model::prompt::MAX_INSTRUCTION_TOKENS,
        "{} prompt ids",
        pred.prompt_ids.len()
    );
    assert!(
        pred.notes.iter().any(|n| n.contains("instruction was cut")),
        "{:?}",
        pred.notes
    );
}

fn open_err(path: &Path, episode: usize) -> String {
    let d = Dataset::open(path, DatasetFormat::Hdf5).unwrap();
    d.open_episode(episode, &std::sync::Arc::new(FrameCache::default()))
        .unwrap_err()
        .to_string()
}

#[test]
fn hdf5_sizes_it_does_not_store_and_odd_stacks_are_errors() {
    // demo_0: 10^9 declared rows, none stored; demo_1: frames of 100,000 px a side;
    // demo_2: float64 images; demo_3: zero steps (h5py-written, tests/fixtures/hdf5/make.py).
    let (_t, p) = crate::bad_hdf5::h5_fixture("hostile.hdf5");
    let e = open_err(&p, 0);
    assert!(e.contains("declares") && e.contains("not read"), "{e}");
    let e = open_err(&p, 1);
    assert!(e.contains("16384 px"), "{e}");
    let e = open_err(&p, 2);
    assert!(e.contains("uint8") && e.contains("agentview_image"), "{e}");
    let e = open_err(&p, 3);
    assert!(e.contains("zero steps"), "{e}");
    // demo_4: 768 MB frames the file does not store are refused, not read as fill values.
    let d = Dataset::open(&p, DatasetFormat::Hdf5).unwrap();
    let ep = d
        .open_episode(4, &std::sync::Arc::new(FrameCache::default()))
        .unwrap();
    let e = ep.rgb(0, 0).unwrap_err().to_string();
    assert!(e.contains("not read") && e.contains("hostile.hdf5"), "{e}");
    // demo_5: 8x8 frames stored in one 3 GB chunk: the chunk is refused, not allocated.
    let ep = d
        .open_episode(5, &std::sync::Arc::new(FrameCache::default()))
        .unwrap();
    let e = ep.rgb(0, 0).unwrap_err().to_string();
    assert!(
        e.contains("chunks of shape") && e.contains("not read"),
        "{e}"
    );
}

#[test]
fn empty_shards_and_declared_widths_the_data_lacks_are_said() {
    // An RLDS shard with no records beside the real one.
    let (_t, bridge) = common::bridge_copy();
    std::fs::write(
        bridge.join("bridge_dataset-val.tfrecord-00000-of-00001"),
        b"",
    )
    .unwrap();
    let c = episode::open_path(&bridge).unwrap();
    assert!(
        c.datasets[0]
            .problems
            .iter()
            .any(|e| e.to_string().contains("holds no records")),
        "{:?}",
        c.datasets[0].problems
    );

    // features.json declaring 10 action values per step where the data has 7.
    let (_t2, bridge) = common::bridge_copy();
    let fpath = bridge.join("features.json");
    let text = std::fs::read_to_string(&fpath).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut patched = false;
    patch_action_shape(&mut v, &mut patched);
    assert!(
        patched,
        "the Bridge features.json has a steps/action tensor"
    );
    std::fs::write(&fpath, serde_json::to_string(&v).unwrap()).unwrap();
    let c = episode::open_path(&bridge).unwrap();
    let ep = c.datasets[0]
        .open_episode(0, &std::sync::Arc::new(FrameCache::default()))
        .unwrap();
    assert!(
        ep.notes
            .iter()
            .any(|n| n.contains("declares `steps/action` with 10")),
        "{:?}",
        ep.notes
    );

    // LeRobot: info.json declaring an 8-wide action over a 7-wide column.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim_lerobot_v21");
    common::copy_dir(
        &common::repo().join("sample_episodes/sim_lerobot_v21"),
        &dir,
    );
    let info = dir.join("meta/info.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    v["features"]["action"]["shape"] = serde_json::json!([8]);
    std::fs::write(&info, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let d = Dataset::open(&dir, DatasetFormat::LeRobot).unwrap();
    let ep = d
        .open_episode(0, &std::sync::Arc::new(FrameCache::default()))
        .unwrap();
    assert!(
        ep.notes
            .iter()
            .any(|n| n.contains("declares `action` with 8") && n.contains("stores 7")),
        "{:?}",
        ep.notes
    );
}

/// Sets the shape of the `action` tensor inside the `steps` feature to [10].
fn patch_action_shape(v: &mut serde_json::Value, patched: &mut bool) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(a) = map.get_mut("action")
                && let Some(shape) = a.pointer_mut("/tensor/shape")
            {
                *shape = serde_json::json!({"dimensions": ["10"]});
                *patched = true;
                return;
            }
            for (_, x) in map.iter_mut() {
                patch_action_shape(x, patched);
            }
        }
        serde_json::Value::Array(items) => {
            for x in items {
                patch_action_shape(x, patched);
            }
        }
        _ => {}
    }
}
