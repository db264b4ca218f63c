//! Checkpoint loading: the tensor table against the published checkpoint's index (names and
//! shapes of the real 4B model, without its 8 GB of weights), and broken checkpoints
//! (missing shard, wrong shape, wrong dtype, truncated file, config missing a field), each
//! reported with the tensor, field or file named and without a panic.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use spatialscope::model::checkpoint::ZOE_PREFIX;
use spatialscope::model::{Checkpoint, ModelError, SpatialVla, SpatialVlaConfig, expected_tensors};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn tensor_table_equals_the_published_index() {
    let dir = repo("tests/golden/real_checkpoint_meta");
    let cfg = SpatialVlaConfig::load(&dir).unwrap();
    // Library defaults the release relies on (absent from its config.json).
    assert_eq!(cfg.text.head_dim, 256);
    assert_eq!(cfg.text.num_attention_heads, 8);
    assert_eq!(cfg.text.query_pre_attn_scalar, 256.0);
    assert_eq!(cfg.text.attn_logit_softcapping, Some(50.0));
    assert_eq!(cfg.text.final_logit_softcapping, Some(30.0));
    assert_eq!(cfg.vision.image_size, 224);
    assert_eq!(
        cfg.text.hidden_size, 2304,
        "text_config, not the top-level leftover 2048"
    );
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("model.safetensors.index.json")).unwrap(),
    )
    .unwrap();
    let published: BTreeSet<String> = index["weight_map"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with(ZOE_PREFIX))
        .cloned()
        .collect();
    let table = expected_tensors(&cfg);
    let ours: BTreeSet<String> = table.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(table.len(), ours.len(), "no duplicate names");
    let missing: Vec<_> = published.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&published).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert_eq!(
        ours.len(),
        735,
        "1382 tensors minus 647 ZoeDepth ones (spec 7.4)"
    );
    // Shapes: spot checks from spec 7.5 and the total from spec 6.1 (4,027,854,731
    // parameters, of which ZoeDepth 345,073,307).
    let shape: HashMap<&str, &Vec<usize>> = table.iter().map(|(n, s)| (n.as_str(), s)).collect();
    assert_eq!(
        shape["language_model.model.layers.0.self_attn.q_proj.weight"],
        &vec![2048, 2304]
    );
    assert_eq!(
        shape["language_model.model.layers.25.self_attn.k_proj.weight"],
        &vec![1024, 2304]
    );
    assert_eq!(shape["language_model.lm_head.weight"], &vec![265_347, 2304]);
    assert_eq!(
        shape["vision_tower.vision_model.embeddings.patch_embedding.weight"],
        &vec![1152, 3, 14, 14]
    );
    assert_eq!(
        shape["position_embedding_3d.position_embedding_head.0.weight"],
        &vec![1152, 204]
    );
    assert_eq!(shape["spatial_embed_tokens.weight"], &vec![8194, 2304]);
    let params: usize = table.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    assert_eq!(params, 4_027_854_731 - 345_073_307);
}

/// A copy of the tiny checkpoint in a temporary folder.
fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(repo("assets/tiny_spatialvla")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    dir
}

fn open_err(dir: &Path) -> String {
    let e = Checkpoint::open(dir).expect_err("a broken checkpoint must be rejected");
    e.to_string()
}

fn tensors(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
}

#[test]
fn the_tiny_checkpoint_loads_in_f32_and_bf16() {
    let ck = Checkpoint::open(&repo("assets/tiny_spatialvla")).unwrap();
    assert!(ck.has_zoe_weights);
    assert!(ck.unexpected.is_empty());
    for dtype in [DType::F32, DType::BF16] {
        SpatialVla::load(&ck, &Device::Cpu, dtype).unwrap();
    }
}

#[test]
fn wrong_shape_is_named() {
    let dir = tiny_copy();
    let mut t = tensors(dir.path());
    let name = "language_model.model.layers.1.self_attn.k_proj.weight";
    t.insert(
        name.into(),
        Tensor::zeros((12, 64), DType::BF16, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&t, dir.path().join("model.safetensors")).unwrap();
    let msg = open_err(dir.path());
    assert!(
        msg.contains(name) && msg.contains("[12, 64]") && msg.contains("[24, 64]"),
        "{msg}"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let dir = tiny_copy();
    let mut t = tensors(dir.path());
    let name = "multi_modal_projector.linear.bias";
    t.insert(
        name.into(),
        Tensor::zeros(64, DType::I64, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&t, dir.path().join("model.safetensors")).unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains(name) && msg.contains("I64"), "{msg}");
}

#[test]
fn missing_tensor_is_named() {
    let dir = tiny_copy();
    let mut t = tensors(dir.path());
    t.remove("spatial_embed_tokens.weight");
    candle_core::safetensors::save(&t, dir.path().join("model.safetensors")).unwrap();
    let msg = open_err(dir.path());
    assert!(
        msg.contains("spatial_embed_tokens.weight") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn truncated_file_is_named() {
    let dir = tiny_copy();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    for keep in [4, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let msg = open_err(dir.path());
        assert!(
            msg.contains("model.safetensors") && msg.contains("truncated"),
            "{keep}: {msg}"
        );
    }
}

#[test]
fn missing_shard_is_named() {
    let dir = tiny_copy();
    // Split into two shards with an index, then delete one.
    let t = tensors(dir.path());
    let (a, b): (HashMap<_, _>, HashMap<_, _>) = t
        .into_iter()
        .partition(|(k, _)| k.starts_with("language_model"));
    candle_core::safetensors::save(&a, dir.path().join("model-00001-of-00002.safetensors"))
        .unwrap();
    candle_core::safetensors::save(&b, dir.path().join("model-00002-of-00002.safetensors"))
        .unwrap();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let mut map = serde_json::Map::new();
    for k in a.keys() {
        map.insert(k.clone(), "model-00001-of-00002.safetensors".into());
    }
    for k in b.keys() {
        map.insert(k.clone(), "model-00002-of-00002.safetensors".into());
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let ck = Checkpoint::open(dir.path()).expect("the sharded copy opens");
    assert_eq!(ck.files.len(), 2);
    SpatialVla::load(&ck, &Device::Cpu, DType::F32).expect("and loads");
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let msg = open_err(dir.path());
    assert!(
        msg.contains("model-00002-of-00002.safetensors") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn shard_names_cannot_leave_the_folder() {
    let dir = tiny_copy();
    let index = serde_json::json!({"weight_map": {"language_model.lm_head.weight": "../model.safetensors"}});
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let msg = open_err(dir.path());
    assert!(msg.contains("not a file name inside"), "{msg}");
}

#[test]
fn config_errors_name_the_field() {
    let dir = tiny_copy();
    let path = dir.path().join("config.json");
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 5] = [
        ("text_config.hidden_size", |v| {
            v["text_config"]
                .as_object_mut()
                .unwrap()
                .remove("hidden_size");
        }),
        ("vision_config.patch_size", |v| {
            v["vision_config"]["patch_size"] = "14".into();
        }),
        ("action_token_begin_idx", |v| {
            v.as_object_mut().unwrap().remove("action_token_begin_idx");
        }),
        ("ego3d_patch_reso", |v| {
            v["ego3d_patch_reso"] = 4.into();
        }),
        ("text_config", |v| {
            v.as_object_mut().unwrap().remove("text_config");
        }),
    ];
    for (field, edit) in cases {
        let mut v = original.clone();
        edit(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
        let msg = open_err(dir.path());
        assert!(
            msg.contains(&format!("`{field}`")) && msg.contains("config.json"),
            "{field}: {msg}"
        );
    }
    std::fs::write(&path, "{not json").unwrap();
    assert!(matches!(
        Checkpoint::open(dir.path()),
        Err(ModelError::Config { .. })
    ));
}

/// Some fine-tunes drop ZoeDepth: the checkpoint still loads, says depth cannot be
/// estimated, refuses an estimated-depth prediction with that message (offering the sensor
/// depth the frame has), and predicts on sensor depth.
#[test]
fn a_checkpoint_without_zoedepth_weights_runs_on_sensor_depth_only() {
    use spatialscope::model::{
        DepthChoice, DepthInput, GenerateOptions, PredictRequest, Predictor,
    };
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tiny_spatialvla");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no_zoe");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        if e.file_name() != "model.safetensors" {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    let all = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    let kept: HashMap<String, Tensor> = all
        .into_iter()
        .filter(|(k, _)| !k.starts_with("vision_zoe_model."))
        .collect();
    candle_core::safetensors::save(&kept, dir.join("model.safetensors")).unwrap();

    let p = Predictor::load(&dir, &Device::Cpu, DType::F32).expect("loads without ZoeDepth");
    assert!(p.zoe.is_none());
    let why = p.zoe_unavailable.clone().unwrap();
    assert!(why.contains("no `vision_zoe_model.` weights"), "{why}");
    let rgb = vec![128u8; 64 * 48 * 3];
    let sensor = DepthInput {
        depth_m: vec![1.0; 64 * 48],
        width: 64,
        height: 48,
        source: "constant test depth".into(),
    };
    let mut req = PredictRequest {
        rgb: &rgb,
        width: 64,
        height: 48,
        instruction: "pick up the cube",
        depth: Some(sensor),
        depth_choice: DepthChoice::Estimated,
        compare_depth: true,
        unnorm_key: "bridge_orig/1.0.0",
        intrinsics: spatialscope::model::processor::IntrinsicsPrecision::Float32,
        intrinsics_source: spatialscope::model::processor::IntrinsicsSource::Processor,
        options: GenerateOptions {
            max_new_tokens: 3,
            top_k: 2,
            attention: false,
        },
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let err = p.predict(&req, &cancel).unwrap_err().to_string();
    assert!(
        err.contains("no `vision_zoe_model.` weights") && err.contains("sensor depth"),
        "{err}"
    );
    req.depth_choice = DepthChoice::Sensor;
    let pred = p.predict(&req, &cancel).expect("sensor depth works");
    assert_eq!(pred.tokens.len(), 3);
    assert!(pred.estimated_depth.is_none());
    assert_eq!(pred.depth_source, "constant test depth");
}
