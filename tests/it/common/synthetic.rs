//! Synthetic LeRobot metadata for many episodes (shared by the tests and the benchmarks via
//! `#[path]`): `meta/info.json` plus the episode list, v2.1 (`episodes.jsonl`) or v3.0
//! (`meta/episodes/chunk-000/file-000.parquet`). No data or video files: opening such a
//! dataset proves that opening reads metadata only.

use std::path::Path;
use std::sync::Arc;

/// The instruction of synthetic episode `i`.
pub fn instruction(i: usize) -> String {
    const VERBS: [&str; 4] = ["pick up", "push", "open", "stack"];
    const THINGS: [&str; 5] = [
        "the red cube",
        "the drawer",
        "the blue bowl",
        "the spoon",
        "the can",
    ];
    format!("{} {} #{i}", VERBS[i % 4], THINGS[(i / 4) % 5])
}

fn info(v3: bool, n: usize) -> serde_json::Value {
    let (data, video) = if v3 {
        (
            "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        )
    } else {
        (
            "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        )
    };
    serde_json::json!({
        "codebase_version": if v3 { "v3.0" } else { "v2.1" },
        "robot_type": "widowx", "total_episodes": n, "fps": 5, "chunks_size": 1000,
        "data_path": data, "video_path": video,
        "features": {
            "observation.images.image_0": {"dtype": "video", "shape": [256, 256, 3],
                "names": ["height", "width", "rgb"], "info": {"video.codec": "av1"}},
            "observation.state": {"dtype": "float32", "shape": [8], "names": {"motors": ["x","y","z","roll","pitch","yaw","pad","gripper"]}},
            "action": {"dtype": "float32", "shape": [7], "names": {"motors": ["x","y","z","roll","pitch","yaw","gripper"]}}
        }
    })
}

/// Writes metadata for `n` episodes of 30 steps under `root`.
pub fn write_lerobot_metadata(root: &Path, v3: bool, n: usize) {
    let meta = root.join("meta");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(meta.join("info.json"), info(v3, n).to_string()).unwrap();
    if !v3 {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(
                &serde_json::json!({"episode_index": i, "tasks": [instruction(i)], "length": 30})
                    .to_string(),
            );
            s.push('\n');
        }
        std::fs::write(meta.join("episodes.jsonl"), s).unwrap();
        return;
    }
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    let ints = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values((0..n).map(f)))
    };
    let mut tasks = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        tasks.values().append_value(instruction(i));
        tasks.append(true);
    }
    let key = "videos/observation.images.image_0";
    let batch = RecordBatch::try_from_iter([
        ("episode_index", ints(&|i| i as i64)),
        ("tasks", Arc::new(tasks.finish()) as ArrayRef),
        ("length", ints(&|_| 30)),
        ("data/chunk_index", ints(&|i| (i / 100) as i64)),
        ("data/file_index", ints(&|_| 0)),
        ("dataset_from_index", ints(&|i| 30 * i as i64)),
        ("dataset_to_index", ints(&|i| 30 * i as i64 + 30)),
        (&format!("{key}/chunk_index"), ints(&|i| (i / 100) as i64)),
        (&format!("{key}/file_index"), ints(&|_| 0)),
        (
            &format!("{key}/from_timestamp"),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| (i % 100) as f64 * 6.0),
            )) as ArrayRef,
        ),
        (
            &format!("{key}/to_timestamp"),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| (i % 100) as f64 * 6.0 + 6.0),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let dir = meta.join("episodes/chunk-000");
    std::fs::create_dir_all(&dir).unwrap();
    write_parquet(&dir.join("file-000.parquet"), &batch);
}

/// Writes one record batch as a parquet file.
pub fn write_parquet(path: &Path, batch: &arrow_array::RecordBatch) {
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Writes the v3.0 data files for `n` episodes of 30 steps (the layout
/// [`write_lerobot_metadata`] declares: 100 episodes per chunk): actions and state as lerobot
/// stores them (fixed-size lists of float32), timestamps at 5 fps, indices. Actions are
/// smooth motions with a little noise and a gripper that closes halfway, so the doctor finds
/// nothing alarming in them.
pub fn write_lerobot_v3_data(root: &Path, n: usize) {
    for chunk in 0..n.div_ceil(100) {
        let episodes = (chunk * 100)..(n.min(chunk * 100 + 100));
        write_v3_chunk(root, chunk, episodes);
    }
}

fn write_v3_chunk(root: &Path, chunk: usize, episodes: std::ops::Range<usize>) {
    use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
    use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
    let rows: Vec<usize> = (episodes.start * 30..episodes.end * 30).collect();
    let list = |width: i32, f: &dyn Fn(usize, usize) -> f32| -> ArrayRef {
        let mut b = FixedSizeListBuilder::new(Float32Builder::new(), width);
        for &r in &rows {
            for d in 0..width as usize {
                b.values().append_value(f(r, d));
            }
            b.append(true);
        }
        Arc::new(b.finish())
    };
    // A deterministic hash for "random" values in [-0.5, 0.5).
    let h = |r: usize, d: usize| -> f32 {
        let x = ((r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (d as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .rotate_left(17)
        .wrapping_mul(0x94D0_49BB_1331_11EB);
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let act = |r: usize, d: usize| -> f32 {
        0.01 * ((r % 30) as f32 / 5.0 + d as f32 + (r / 30) as f32).sin() + 0.002 * h(r, d)
    };
    // The end effector follows the actions: x, y, z integrate them; the rest is noise.
    let state = list(8, &|r, d| {
        if d < 3 {
            (r - r % 30..r).map(|k| act(k, d)).sum::<f32>() + 0.0005 * h(r, d + 10)
        } else {
            0.1 * h(r, d + 10)
        }
    });
    let action = list(7, &|r, d| {
        if d == 6 {
            f32::from(u8::from((r % 30) < 15))
        } else {
            act(r, d)
        }
    });
    let ints = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|&r| f(r))))
    };
    let batch = RecordBatch::try_from_iter([
        ("observation.state", state),
        ("action", action),
        (
            "timestamp",
            Arc::new(Float32Array::from_iter_values(
                rows.iter().map(|&r| (r % 30) as f32 / 5.0),
            )) as ArrayRef,
        ),
        ("frame_index", ints(&|r| (r % 30) as i64)),
        ("episode_index", ints(&|r| (r / 30) as i64)),
        ("index", ints(&|r| r as i64)),
        ("task_index", ints(&|r| (r / 30) as i64)),
    ])
    .unwrap();
    let dir = root.join(format!("data/chunk-{chunk:03}"));
    std::fs::create_dir_all(&dir).unwrap();
    write_parquet(&dir.join("file-000.parquet"), &batch);
}
