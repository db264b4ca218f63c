//! Broken files get typed errors naming the file, the record/step and the problem; nothing
//! panics and nothing is written into the dataset folder. Each test corrupts a scratch copy.

use crate::common;

use std::sync::Arc;

use prost::Message;
use spatialscope::episode::formats::rlds::example::{Example, Kind};
use spatialscope::episode::{self, CrcKind, EpisodeError, FrameCache, FrameKind};

fn cache() -> Arc<FrameCache> {
    Arc::new(FrameCache::new(16 << 20))
}

#[test]
fn truncated_tfrecord_keeps_the_good_records_and_reports_the_cut() {
    let (_tmp, dir) = common::bridge_copy();
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    let bytes = std::fs::read(&shard).expect("read");
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).expect("truncate");
    let c = episode::open_path(&dir).expect("a truncated shard still opens");
    let d = &c.datasets[0];
    assert!(d.len() > 5 && d.len() < 25, "kept {} records", d.len());
    match &d.problems[..] {
        [EpisodeError::TruncatedRecord { path, record, .. }] => {
            assert_eq!(path, &shard);
            assert_eq!(*record, d.len());
        }
        other => panic!("expected one truncation, got {other:?}"),
    }
    let msg = d.problems[0].to_string();
    assert!(
        msg.contains("bridge_dataset-train.tfrecord") && msg.contains("truncated"),
        "{msg}"
    );
    d.open_episode(0, &cache())
        .expect("records before the cut still open");
}

#[test]
fn flipped_payload_byte_fails_the_data_crc_of_that_record_only() {
    let (_tmp, dir) = common::bridge_copy();
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    let idx = episode::formats::rlds::tfrecord::index_records(&shard).expect("index");
    let span = idx.records[3];
    let mut bytes = std::fs::read(&shard).expect("read");
    bytes[(span.offset + 12 + span.len / 2) as usize] ^= 0x40;
    std::fs::write(&shard, &bytes).expect("write");
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    assert_eq!(d.len(), 25, "indexing checks only headers");
    let err = d.open_episode(3, &cache()).expect_err("crc must fail");
    assert!(
        matches!(
            err,
            EpisodeError::CrcMismatch {
                record: 3,
                which: CrcKind::Data,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("record 3"), "{err}");
    d.open_episode(2, &cache()).expect("neighbours are fine");
    d.open_episode(4, &cache()).expect("neighbours are fine");
}

#[test]
fn flipped_length_crc_byte_stops_indexing_with_a_named_error() {
    let (_tmp, dir) = common::bridge_copy();
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    let mut bytes = std::fs::read(&shard).expect("read");
    bytes[9] ^= 0x01; // inside record 0's length CRC
    std::fs::write(&shard, &bytes).expect("write");
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    assert_eq!(d.len(), 0);
    assert!(
        matches!(
            &d.problems[..],
            [EpisodeError::CrcMismatch {
                record: 0,
                which: CrcKind::Length,
                offset: 0,
                ..
            }]
        ),
        "{:?}",
        d.problems
    );
}

/// Rewrites the shard with record `r` changed by `f` (valid framing and CRCs).
fn rewrite_record(dir: &std::path::Path, r: usize, f: impl FnOnce(&mut Example)) {
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    let mut records = common::read_all_records(&shard);
    let mut ex = Example::decode(&records[r][..]).expect("decode");
    f(&mut ex);
    records[r] = ex.encode_to_vec();
    common::write_tfrecord(&shard, &records);
}

#[test]
fn corrupt_jpeg_inside_a_valid_record_fails_that_frame_only() {
    let (_tmp, dir) = common::bridge_copy();
    rewrite_record(&dir, 5, |ex| {
        let feats = ex.features.as_mut().expect("features");
        let Some(Kind::BytesList(l)) = feats
            .feature
            .get_mut("steps/observation/image_0")
            .and_then(|f| f.kind.as_mut())
        else {
            panic!("image_0 bytes")
        };
        l.value[2] = bytes::Bytes::from_static(b"\xff\xd8\xff\xe0 definitely not a jpeg");
    });
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let ep = d.open_episode(5, &cache()).expect("the episode opens");
    let err = ep.rgb(2, 0).expect_err("corrupt frame");
    match &err {
        EpisodeError::ImageDecode {
            step: 2,
            camera,
            record,
            ..
        } => {
            assert_eq!(camera, "image_0");
            assert_eq!(record.0, Some(5));
        }
        other => panic!("expected ImageDecode, got {other}"),
    }
    assert!(
        err.to_string().contains("record 5") && err.to_string().contains("step 2"),
        "{err}"
    );
    ep.rgb(3, 0).expect("other frames decode");
}

#[test]
fn nan_action_in_a_record_is_named_by_record_step_and_dimension() {
    let (_tmp, dir) = common::bridge_copy();
    rewrite_record(&dir, 7, |ex| {
        let feats = ex.features.as_mut().expect("features");
        let Some(Kind::FloatList(l)) = feats
            .feature
            .get_mut("steps/action")
            .and_then(|f| f.kind.as_mut())
        else {
            panic!("action floats")
        };
        l.value[4 * 7 + 2] = f32::NAN;
    });
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let err = d
        .open_episode(7, &cache())
        .expect_err("NaN must be rejected");
    assert!(
        matches!(
            err,
            EpisodeError::NonFiniteAction {
                step: 4,
                dim: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("record 7"), "{err}");
}

#[test]
fn wrong_action_width_is_a_bad_record_not_a_panic() {
    let (_tmp, dir) = common::bridge_copy();
    rewrite_record(&dir, 0, |ex| {
        let feats = ex.features.as_mut().expect("features");
        if let Some(Kind::FloatList(l)) = feats
            .feature
            .get_mut("steps/action")
            .and_then(|f| f.kind.as_mut())
        {
            l.value.truncate(l.value.len() - 3);
        }
    });
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let err = d.open_episode(0, &cache()).expect_err("bad shape");
    assert!(
        matches!(err, EpisodeError::BadRecord { record: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("steps/action"), "{err}");
}

#[test]
fn garbage_record_payload_is_not_an_example() {
    let (_tmp, dir) = common::bridge_copy();
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    common::write_tfrecord(&shard, &[vec![0xff; 64]]);
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let err = d.open_episode(0, &cache()).expect_err("not protobuf");
    assert!(err.to_string().contains("not a tf.train.Example"), "{err}");
}

fn edit_json(dir: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("episode.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).expect("ser")).expect("write");
}

#[test]
fn episode_json_missing_or_wrong_typed_fields_name_the_field() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    edit_json(&dir, |v| {
        v.as_object_mut().expect("obj").remove("instruction");
    });
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let err = d.open_episode(0, &cache()).expect_err("missing");
    assert!(
        err.to_string().contains("episode.json") && err.to_string().contains("instruction"),
        "{err}"
    );

    edit_json(&dir, |v| {
        v["instruction"] = "x".into();
        v["fps"] = "fast".into();
    });
    let err = d.open_episode(0, &cache()).expect_err("wrong type");
    match &err {
        EpisodeError::Json { field, .. } => assert_eq!(field, "fps"),
        other => panic!("expected Json, got {other}"),
    }

    edit_json(&dir, |v| {
        v["fps"] = 20.into();
        v["frames"][3]["action_7d"] = serde_json::json!([1, 2, "three", 4, 5, 6, 7]);
    });
    let err = d.open_episode(0, &cache()).expect_err("wrong element type");
    assert!(err.to_string().contains("frames[3].action_7d"), "{err}");

    edit_json(&dir, |v| {
        v["frames"][3]["action_7d"] = serde_json::json!([1, 2, 3, 4, 5, 6, 7]);
        v["num_frames"] = 999.into();
    });
    let err = d.open_episode(0, &cache()).expect_err("length mismatch");
    assert!(err.to_string().contains("num_frames"), "{err}");
}

#[test]
fn nan_action_in_episode_json_is_named_by_step_and_dimension() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    let p = dir.join("episode.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    v["frames"][6]["action_7d"][1] = serde_json::json!(123456.5);
    // Python's json writes bare NaN tokens; produce exactly that.
    let text = serde_json::to_string(&v)
        .expect("ser")
        .replace("123456.5", "NaN");
    std::fs::write(&p, text).expect("write");
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let err = d.open_episode(0, &cache()).expect_err("NaN");
    assert!(
        matches!(
            err,
            EpisodeError::NonFiniteAction {
                step: 6,
                dim: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("episode.json"), "{err}");
}

#[test]
fn corrupt_png_and_wrong_size_depth_are_frame_errors() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    let rgb = dir.join("rgb/agentview/000003.png");
    let mut bytes = std::fs::read(&rgb).expect("read");
    bytes.truncate(bytes.len() / 3);
    std::fs::write(&rgb, bytes).expect("write");
    let depth = dir.join("depth/agentview/000001.png");
    image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_pixel(10, 10, image::Luma([500]))
        .save(&depth)
        .expect("write small depth");

    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let ep = d.open_episode(0, &cache()).expect("metadata is fine");
    let err = ep.rgb(3, 0).expect_err("corrupt png");
    match &err {
        EpisodeError::ImageDecode {
            path,
            step: 3,
            camera,
            ..
        } => {
            assert_eq!(path, &rgb);
            assert_eq!(camera, "agentview");
        }
        other => panic!("expected ImageDecode, got {other}"),
    }
    let err = ep.depth(1, 0).expect_err("wrong size");
    assert!(
        matches!(
            err,
            EpisodeError::ImageSize {
                kind: FrameKind::Depth,
                got_w: 10,
                got_h: 10,
                want_w: 256,
                want_h: 256,
                step: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("000001.png"), "{err}");
    ep.rgb(4, 0).expect("other frames decode");
    ep.depth(2, 0).expect("other depth decodes");

    std::fs::remove_file(dir.join("rgb/agentview/000005.png")).expect("rm");
    let err = ep.rgb(5, 0).expect_err("missing file");
    assert!(
        matches!(err, EpisodeError::Io { .. }) && err.to_string().contains("000005.png"),
        "{err}"
    );
}

#[test]
fn path_templates_cannot_leave_the_episode_folder() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    edit_json(&dir, |v| {
        v["cameras"]["agentview"]["rgb_path"] = "../../outside/{frame:06d}.png".into()
    });
    let d = &episode::open_path(&dir).expect("open").datasets[0];
    let err = d.open_episode(0, &cache()).expect_err("escape");
    assert!(matches!(err, EpisodeError::PathEscapes { .. }), "{err}");
}

#[test]
fn unknown_paths_and_formats_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let err = episode::open_path(&tmp.path().join("nope")).expect_err("missing");
    assert!(err.to_string().contains("nope"), "{err}");
    std::fs::write(tmp.path().join("notes.txt"), "hello").expect("write");
    let err = episode::open_path(tmp.path()).expect_err("empty folder");
    assert!(matches!(err, EpisodeError::UnknownFormat { .. }), "{err}");
    let err = episode::open_path(&tmp.path().join("notes.txt")).expect_err("unknown file");
    assert!(matches!(err, EpisodeError::UnknownFormat { .. }), "{err}");
}

#[test]
fn reading_everything_writes_nothing_into_the_dataset_folders() {
    let root = common::repo().join("sample_episodes");
    let before = common::snapshot_tree(&root);
    let report = spatialscope::cli::inspect::inspect(&root).expect("inspect");
    assert_eq!(report.datasets.len(), 7);
    let c = episode::open_path(&root).expect("open");
    let cache = cache();
    for d in &c.datasets {
        for i in 0..d.len() {
            let ep = d.open_episode(i, &cache).expect("open");
            for ci in 0..ep.cameras.len() {
                ep.rgb(0, ci).expect("rgb");
                ep.depth(ep.num_steps() - 1, ci).expect("depth");
            }
        }
    }
    assert_eq!(
        before,
        common::snapshot_tree(&root),
        "the sample folders changed"
    );
}
