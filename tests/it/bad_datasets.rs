//! Hostile or broken LeRobot and HDF5 datasets: every one is a typed error naming the file
//! (and the episode where there is one), nothing panics, and nothing is written into the
//! dataset folder.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spatialscope::episode::{self, Dataset, DatasetFormat, EpisodeError, FrameCache};

pub(crate) fn cache() -> Arc<FrameCache> {
    Arc::new(FrameCache::new(64 << 20))
}

fn lerobot_copy(folder: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join(folder);
    common::copy_dir(&common::repo().join("sample_episodes").join(folder), &dir);
    (tmp, dir)
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn open_one(dir: &Path) -> episode::Result<Dataset> {
    Dataset::open(dir, DatasetFormat::LeRobot)
}

/// Opens episode `i` and reads every frame of every camera; the first error.
pub(crate) fn read_all(d: &Dataset, i: usize) -> episode::Result<()> {
    let ep = d.open_episode(i, &cache())?;
    for s in 0..ep.num_steps() {
        for c in 0..ep.cameras.len() {
            ep.rgb(s, c)?;
        }
    }
    Ok(())
}

#[test]
fn unknown_lerobot_versions_are_refused_by_name() {
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    edit_json(&dir.join("meta/info.json"), |v| {
        v["codebase_version"] = "v1.6".into()
    });
    let err = open_one(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("info.json") && msg.contains("v1.6") && msg.contains("codebase_version"),
        "{msg}"
    );
}

#[test]
fn path_templates_cannot_leave_the_dataset() {
    for (field, template) in [
        (
            "data_path",
            "../../outside/episode_{episode_index:06d}.parquet",
        ),
        ("data_path", "/etc/episode_{episode_index:06d}.parquet"),
        (
            "video_path",
            "videos/../../{video_key}/episode_{episode_index:06d}.mp4",
        ),
    ] {
        let (_t, dir) = lerobot_copy("sim_lerobot_v21");
        edit_json(&dir.join("meta/info.json"), |v| v[field] = template.into());
        let d = open_one(&dir).expect("metadata opens");
        let err = d.open_episode(0, &cache()).unwrap_err();
        assert!(
            matches!(err, EpisodeError::PathEscapes { .. }),
            "{template}: {err}"
        );
        assert!(err.to_string().contains("info.json"), "{err}");
    }
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    edit_json(&dir.join("meta/info.json"), |v| {
        v["data_path"] = "data/{secret}.parquet".into()
    });
    let err = open_one(&dir)
        .unwrap()
        .open_episode(0, &cache())
        .unwrap_err();
    assert!(err.to_string().contains("unknown field {secret}"), "{err}");
}

#[test]
fn missing_files_name_the_file_and_episode() {
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    std::fs::remove_file(dir.join("data/chunk-000/episode_000001.parquet")).unwrap();
    let d = open_one(&dir).expect("opening reads no data file");
    let err = d.open_episode(1, &cache()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("episode_000001.parquet") && msg.contains("episode 1"),
        "{msg}"
    );
    read_all(&d, 0).expect("the other episodes still read");

    std::fs::remove_file(dir.join("meta/episodes.jsonl")).unwrap();
    let err = open_one(&dir).unwrap_err();
    assert!(err.to_string().contains("episodes.jsonl"), "{err}");
}

#[test]
fn a_table_shorter_than_its_episode_list_is_an_error() {
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    let p = dir.join("meta/episodes.jsonl");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"length\": 46", "\"length\": 60");
    std::fs::write(&p, text).unwrap();
    let err = open_one(&dir)
        .unwrap()
        .open_episode(0, &cache())
        .unwrap_err();
    assert!(
        err.to_string().contains("46 rows") && err.to_string().contains("60"),
        "{err}"
    );
}

#[test]
fn a_video_shorter_than_its_table_fails_at_the_missing_steps_only() {
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    let v = dir.join("videos/chunk-000/observation.images.agentview");
    // Episode 2 (66 steps) gets episode 0's 46-frame video.
    std::fs::copy(v.join("episode_000000.mp4"), v.join("episode_000002.mp4")).unwrap();
    let d = open_one(&dir).unwrap();
    let ep = d.open_episode(2, &cache()).unwrap();
    ep.rgb(45, 0).expect("inside the short video");
    let err = ep.rgb(50, 0).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            EpisodeError::Video {
                episode: 2,
                step: 50,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("episode_000002.mp4") && msg.contains("shorter than its table"),
        "{msg}"
    );
    ep.rgb(60, 1).expect("the other camera is intact");
}

#[test]
fn corrupt_and_truncated_videos_are_errors() {
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    let v = dir.join("videos/chunk-000/observation.images.agentview");
    std::fs::write(
        v.join("episode_000000.mp4"),
        b"\x00\x00\x00\x18ftypmp42 garbage garbage",
    )
    .unwrap();
    let bytes = std::fs::read(v.join("episode_000001.mp4")).unwrap();
    std::fs::write(v.join("episode_000001.mp4"), &bytes[..bytes.len() / 3]).unwrap();
    // Flip bits in the middle of episode 2's stream: decoding must not crash.
    let mut b2 = std::fs::read(v.join("episode_000002.mp4")).unwrap();
    let mid = b2.len() / 2;
    for x in &mut b2[mid..mid + 2000] {
        *x ^= 0x5A;
    }
    std::fs::write(v.join("episode_000002.mp4"), b2).unwrap();
    let d = open_one(&dir).unwrap();
    for i in 0..2 {
        let err = read_all(&d, i).unwrap_err();
        assert!(matches!(err, EpisodeError::Video { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!("episode_00000{i}.mp4")),
            "{err}"
        );
    }
    // Damaged packets either decode (FFmpeg conceals) or fail with an error; never a panic.
    let _ = read_all(&d, 2);
}

#[test]
fn wrong_dtypes_and_nan_actions_are_named() {
    use arrow_array::{ArrayRef, Float32Array, RecordBatch, StringArray};
    let (_t, dir) = lerobot_copy("sim_lerobot_v21");
    let p = dir.join("data/chunk-000/episode_000000.parquet");
    // A table whose `action` is text.
    let action: ArrayRef = Arc::new(StringArray::from(vec!["up"; 46]));
    let ts: ArrayRef = Arc::new(Float32Array::from(
        (0..46).map(|i| i as f32 / 20.0).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_from_iter([("action", action), ("timestamp", ts)]).unwrap();
    common::synthetic::write_parquet(&p, &batch);
    let err = open_one(&dir)
        .unwrap()
        .open_episode(0, &cache())
        .unwrap_err();
    assert!(
        err.to_string().contains("`action`") && err.to_string().contains("not numbers"),
        "{err}"
    );

    // NaN in an action.
    let vals: Vec<Option<Vec<Option<f32>>>> = (0..46)
        .map(|i| {
            Some(
                (0..7)
                    .map(|d| Some(if i == 7 && d == 2 { f32::NAN } else { 0.0 }))
                    .collect(),
            )
        })
        .collect();
    let action: ArrayRef = Arc::new(arrow_array::FixedSizeListArray::from_iter_primitive::<
        arrow_array::types::Float32Type,
        _,
        _,
    >(vals, 7));
    let ts: ArrayRef = Arc::new(Float32Array::from(
        (0..46).map(|i| i as f32 / 20.0).collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_from_iter([("action", action), ("timestamp", ts)]).unwrap();
    common::synthetic::write_parquet(&p, &batch);
    let err = open_one(&dir)
        .unwrap()
        .open_episode(0, &cache())
        .unwrap_err();
    assert!(
        matches!(
            err,
            EpisodeError::NonFiniteAction {
                step: 7,
                dim: 2,
                ..
            }
        ),
        "{err}"
    );

    // Not a parquet file at all.
    std::fs::write(&p, b"PAR1 but not really").unwrap();
    let err = open_one(&dir)
        .unwrap()
        .open_episode(0, &cache())
        .unwrap_err();
    assert!(err.to_string().contains("parquet"), "{err}");
}

/// Rewrites v3's episode list with `f` applied to (from, to, video from_timestamp) of one episode.
fn edit_v3_episode(dir: &Path, episode: usize, f: impl Fn(i64, i64, f64) -> (i64, i64, f64)) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    let p = dir.join("meta/episodes/chunk-000/file-000.parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&p).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batch = reader.map(Result::unwrap).next().unwrap();
    let schema = batch.schema();
    let mut cols: Vec<(String, ArrayRef)> = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let name = field.name().clone();
        let col = batch.column(i).clone();
        let col: ArrayRef = if name == "dataset_from_index" || name == "dataset_to_index" {
            let a = col.as_primitive::<Int64Type>();
            Arc::new(Int64Array::from_iter_values((0..a.len()).map(|r| {
                if r != episode {
                    return a.value(r);
                }
                let (from, to, _) = f(
                    batch
                        .column_by_name("dataset_from_index")
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .value(r),
                    batch
                        .column_by_name("dataset_to_index")
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .value(r),
                    0.0,
                );
                if name == "dataset_from_index" {
                    from
                } else {
                    to
                }
            })))
        } else if name.ends_with("/from_timestamp") {
            let a = col.as_primitive::<Float64Type>();
            Arc::new(Float64Array::from_iter_values((0..a.len()).map(|r| {
                if r == episode {
                    f(0, 0, a.value(r)).2
                } else {
                    a.value(r)
                }
            })))
        } else {
            col
        };
        cols.push((name, col));
    }
    let out = RecordBatch::try_from_iter(cols).unwrap();
    common::synthetic::write_parquet(&p, &out);
}

#[test]
fn v3_offsets_past_the_end_are_errors() {
    // Episode 2 is alone in data file 1: shifting its rows past the file's end.
    let (_t, dir) = lerobot_copy("sim_lerobot_v30_av1");
    edit_v3_episode(&dir, 2, |from, to, t| (from + 500, to + 500, t));
    let d = open_one(&dir).unwrap();
    // Alone in its file, the shift moves the file's first row too: still consistent.
    read_all(&d, 2).expect("a file's first row is the smallest offset of its episodes");
    // Episode 1 shares file 0 with episode 0: past that file's 98 rows.
    let (_t, dir) = lerobot_copy("sim_lerobot_v30_av1");
    edit_v3_episode(&dir, 1, |from, to, t| (from + 500, to + 500, t));
    let err = open_one(&dir)
        .unwrap()
        .open_episode(1, &cache())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, EpisodeError::EpisodeData { episode: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("file-000.parquet") && msg.contains("the file has 98"),
        "{msg}"
    );
    // A video offset past the end of the video.
    let (_t, dir) = lerobot_copy("sim_lerobot_v30_av1");
    edit_v3_episode(&dir, 0, |from, to, t| (from, to, t + 100.0));
    let err = read_all(&open_one(&dir).unwrap(), 0).unwrap_err();
    assert!(
        matches!(
            err,
            EpisodeError::Video {
                episode: 0,
                step: 0,
                ..
            }
        ),
        "{err}"
    );
    // Rows that do not match the length.
    let (_t, dir) = lerobot_copy("sim_lerobot_v30_av1");
    edit_v3_episode(&dir, 0, |from, to, t| (from, to + 3, t));
    let err = open_one(&dir).unwrap_err();
    assert!(err.to_string().contains("do not match its length"), "{err}");
}

#[test]
fn reading_lerobot_and_hdf5_writes_nothing() {
    for folder in ["sim_lerobot_v21", "sim_lerobot_v30_av1", "sim_hdf5"] {
        let root = common::repo().join("sample_episodes").join(folder);
        let before = common::snapshot_tree(&root);
        let c = episode::open_path(&root).unwrap();
        for d in &c.datasets {
            for i in 0..d.len() {
                read_all(d, i).unwrap();
            }
        }
        assert_eq!(before, common::snapshot_tree(&root), "{folder} changed");
    }
}

// ---- HDF5 ----

#[test]
fn thousands_of_episodes_open_from_metadata_alone() {
    for v3 in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join(if v3 { "big_v30" } else { "big_v21" });
        common::synthetic::write_lerobot_metadata(&root, v3, 5000);
        // No data or video file exists: opening must not need one.
        let c = episode::open_path(&root).unwrap();
        let d = &c.datasets[0];
        assert_eq!(d.len(), 5000);
        let s = d.quick_summary(4321);
        assert_eq!(
            s.instruction.as_deref(),
            Some(common::synthetic::instruction(4321).as_str())
        );
        assert_eq!(s.num_steps, Some(30));
        assert_eq!(s.cameras, ["image_0"]);
        // Opening an episode then names the missing data file.
        let err = d.open_episode(4321, &cache()).unwrap_err();
        assert!(
            matches!(err, EpisodeError::EpisodeData { episode: 4321, .. }),
            "{err}"
        );
        let want = if v3 {
            "chunk-043/file-000.parquet"
        } else {
            "chunk-004/episode_004321.parquet"
        };
        assert!(err.to_string().contains(want), "{err}");
    }
}

#[test]
fn the_real_ipec_bridge_and_fractal_metadata_open() {
    // meta/ of the IPEC-COMMUNITY LeRobot conversions (AV1, `{"motors": [...]}` names); the
    // parquet and video files were not obtainable, so opening an episode names the missing file.
    // SpatialVLA's intrinsics table lists Bridge; every other dataset gets its `default`.
    for (folder, camera, size, key, table) in [
        (
            "bridge_orig_lerobot",
            "image_0",
            (256, 256),
            "bridge_orig/1.0.0",
            "bridge_orig/1.0.0",
        ),
        (
            "fractal20220817_data_lerobot",
            "image",
            (320, 256),
            "fractal20220817_data/0.1.0",
            "default",
        ),
    ] {
        let root = common::repo()
            .join("tests/fixtures/ipec_lerobot_meta")
            .join(folder);
        let c = episode::open_path(&root).unwrap_or_else(|e| panic!("{folder}: {e}"));
        let d = &c.datasets[0];
        assert_eq!(d.format, DatasetFormat::LeRobot);
        assert_eq!(d.len(), 3);
        let s = d.quick_summary(0);
        assert_eq!(s.cameras, [camera]);
        assert!(s.instruction.as_deref().is_some_and(|i| !i.is_empty()));
        let stats = d.declared_stats().expect("stats.json has the action");
        assert_eq!(stats.mean.len(), 7);
        let err = d.open_episode(0, &cache()).unwrap_err();
        assert!(err.to_string().contains("episode_000000.parquet"), "{err}");

        // With a data table written for episode 0 (the real schema's columns), the episode
        // opens: the camera gets SpatialVLA's nominal K for the dataset, labelled, and the
        // missing video is a note, then an error naming it when a frame is asked for.
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join(folder);
        common::copy_dir(&root, &copy);
        let n = d.quick_summary(0).num_steps.unwrap();
        write_episode_table(&copy.join("data/chunk-000/episode_000000.parquet"), n, 8);
        let d = Dataset::open(&copy, DatasetFormat::LeRobot).unwrap();
        let ep = d.open_episode(0, &cache()).unwrap();
        assert_eq!(ep.dataset_key.as_deref(), Some(key));
        let cam = &ep.cameras[0];
        assert_eq!((cam.width_px, cam.height_px), size);
        assert_eq!(
            cam.intrinsics_source,
            episode::CalibrationOrigin::DatasetTable {
                key: table.to_owned()
            }
        );
        assert_eq!(
            ep.actions.convention,
            episode::ActionConvention::metric_delta_base()
        );
        assert!(
            ep.notes.iter().any(|n| n.contains("is missing")),
            "{:?}",
            ep.notes
        );
        let err = ep.rgb(0, 0).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("observation.images.{camera}/episode_000000.mp4")),
            "{err}"
        );
    }
}

/// A LeRobot v2.1 data table for episode 0: `action` (7), `observation.state`, timestamps.
fn write_episode_table(path: &Path, rows: usize, state_dims: i32) {
    use arrow_array::types::Float32Type;
    use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch};
    let list = |dims: i32| -> ArrayRef {
        Arc::new(
            FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
                (0..rows)
                    .map(|r| Some((0..dims).map(move |d| Some(0.001 * (r as f32) * d as f32)))),
                dims,
            ),
        )
    };
    let batch = RecordBatch::try_from_iter([
        ("observation.state", list(state_dims)),
        ("action", list(7)),
        (
            "timestamp",
            Arc::new(Float32Array::from_iter_values(
                (0..rows).map(|r| r as f32 / 5.0),
            )) as ArrayRef,
        ),
        (
            "frame_index",
            Arc::new(Int64Array::from_iter_values((0..rows).map(|r| r as i64))) as ArrayRef,
        ),
        (
            "episode_index",
            Arc::new(Int64Array::from_iter_values((0..rows).map(|_| 0))) as ArrayRef,
        ),
    ])
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    common::synthetic::write_parquet(path, &batch);
}

#[test]
fn lerobot_images_stored_inline_in_the_parquet_decode() {
    // LeRobot `dtype: image` features keep PNG bytes in the table (struct<bytes, path>).
    use arrow_array::builder::{BinaryBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Float32Array, RecordBatch, StructArray};
    use arrow_schema::{DataType, Field};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("inline_images");
    std::fs::create_dir_all(root.join("meta")).unwrap();
    std::fs::create_dir_all(root.join("data/chunk-000")).unwrap();
    let info = serde_json::json!({
        "codebase_version": "v2.1", "fps": 10, "chunks_size": 1000, "total_episodes": 1,
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "features": {
            "observation.images.top": {"dtype": "image", "shape": [4, 6, 3], "names": ["height", "width", "channel"]},
            "action": {"dtype": "float32", "shape": [7]}
        }
    });
    std::fs::write(root.join("meta/info.json"), info.to_string()).unwrap();
    std::fs::write(
        root.join("meta/episodes.jsonl"),
        "{\"episode_index\": 0, \"tasks\": [\"look\"], \"length\": 3}\n",
    )
    .unwrap();
    let mut bytes = BinaryBuilder::new();
    let mut paths = StringBuilder::new();
    let mut want = Vec::new();
    for f in 0..3u8 {
        let img = image::RgbImage::from_fn(6, 4, |x, y| {
            image::Rgb([f * 50, x as u8 * 40, y as u8 * 60])
        });
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        bytes.append_value(&png);
        paths.append_value(format!("frame_{f}.png"));
        want.push(img.into_raw());
    }
    let images = StructArray::from(vec![
        (
            Arc::new(Field::new("bytes", DataType::Binary, true)),
            Arc::new(bytes.finish()) as ArrayRef,
        ),
        (
            Arc::new(Field::new("path", DataType::Utf8, true)),
            Arc::new(paths.finish()) as ArrayRef,
        ),
    ]);
    let action: ArrayRef = Arc::new(arrow_array::FixedSizeListArray::from_iter_primitive::<
        arrow_array::types::Float32Type,
        _,
        _,
    >((0..3).map(|_| Some(vec![Some(0f32); 7])), 7));
    let batch = RecordBatch::try_from_iter([
        ("observation.images.top", Arc::new(images) as ArrayRef),
        ("action", action),
        (
            "timestamp",
            Arc::new(Float32Array::from(vec![0.0, 0.1, 0.2])) as ArrayRef,
        ),
    ])
    .unwrap();
    common::synthetic::write_parquet(&root.join("data/chunk-000/episode_000000.parquet"), &batch);
    let d = open_one(&root).unwrap();
    let ep = d.open_episode(0, &cache()).unwrap();
    assert_eq!(ep.cameras[0].name, "top");
    assert_eq!((ep.cameras[0].width_px, ep.cameras[0].height_px), (6, 4));
    for (s, w) in want.iter().enumerate() {
        assert_eq!(&ep.rgb(s, 0).unwrap().pixels, w, "frame {s}");
        assert_eq!(ep.encoded_rgb(s, 0).unwrap().encoding, "png");
    }
    assert_eq!(ep.instruction, "look");
    assert_eq!(
        ep.actions.convention,
        episode::ActionConvention::unknown(),
        "no names: as stored"
    );
}
