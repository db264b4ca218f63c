//! Shared helpers for the integration tests: paths to the shipped samples, copying them to a
//! scratch folder before corrupting, and a TFRecord writer for crafted records.

pub mod app;
pub mod synthetic;

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bridge_dir() -> PathBuf {
    repo().join("sample_episodes/bridge_rlds/bridge_dataset/1.0.0")
}

pub fn bridge_shard() -> PathBuf {
    bridge_dir().join("bridge_dataset-train.tfrecord-00000-of-00001")
}

pub fn native_dir() -> PathBuf {
    repo().join("sample_episodes/sim_native")
}

/// Recursively copies `src` into `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("create dir");
    for e in std::fs::read_dir(src).expect("read dir").flatten() {
        let p = e.path();
        let to = dst.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &to);
        } else {
            std::fs::copy(&p, &to).expect("copy file");
        }
    }
}

/// A scratch copy of the Bridge dataset folder (metadata + train shard).
pub fn bridge_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("bridge_dataset/1.0.0");
    copy_dir(&bridge_dir(), &dir);
    (tmp, dir)
}

/// A scratch copy of one native episode folder.
pub fn native_episode_copy(episode: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(episode);
    copy_dir(&native_dir().join(episode), &dir);
    (tmp, dir)
}

/// Writes records with valid TFRecord framing and CRCs.
pub fn write_tfrecord(path: &Path, records: &[Vec<u8>]) {
    use spatialscope::episode::formats::rlds::tfrecord::masked_crc32c;
    let mut out = Vec::new();
    for r in records {
        let len = (r.len() as u64).to_le_bytes();
        out.extend_from_slice(&len);
        out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
        out.extend_from_slice(r);
        out.extend_from_slice(&masked_crc32c(r).to_le_bytes());
    }
    std::fs::write(path, out).expect("write tfrecord");
}

/// All records of a TFRecord file (payloads), via the crate's reader.
pub fn read_all_records(path: &Path) -> Vec<Vec<u8>> {
    use spatialscope::episode::formats::rlds::tfrecord::{index_records, read_record};
    let idx = index_records(path).expect("index");
    assert!(idx.error.is_none());
    idx.records
        .iter()
        .enumerate()
        .map(|(i, s)| read_record(path, i, *s).expect("read").to_vec())
        .collect()
}

/// Every file under `dir` with its size and modification time (to prove nothing was written).
pub fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p, m.len(), m.modified().expect("mtime")));
        }
    }
    out.sort();
    out
}

/// A float32 tensor from a safetensors file: (shape, values). Test helper for the golden
/// files (an 8-byte little-endian header length, a JSON header, then raw data).
pub fn read_f32_tensor(path: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).expect("read safetensors");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("header length")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header json");
    let t = &header[name];
    assert_eq!(t["dtype"], "F32", "{name}");
    let shape: Vec<usize> = t["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|v| v.as_u64().expect("dim") as usize)
        .collect();
    let off = t["data_offsets"].as_array().expect("offsets");
    let (a, b) = (
        off[0].as_u64().expect("a") as usize,
        off[1].as_u64().expect("b") as usize,
    );
    let data = &bytes[8 + n + a..8 + n + b];
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    (shape, values)
}

/// Runs a command to completion and requires success, showing its stderr otherwise.
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Set (as `.ci/run` does) to turn every "no GPU adapter" skip into a failure, so a machine
/// that should render can never skip the rendering tests silently.
pub const REQUIRE_GPU_VAR: &str = "SPATIALSCOPE_REQUIRE_GPU";

/// Called where a test finds no wgpu adapter: prints `SKIPPED` with the reason and returns,
/// or fails when [`REQUIRE_GPU_VAR`] is set.
pub fn skip_without_gpu(test: &str, reason: &str) {
    if std::env::var_os(REQUIRE_GPU_VAR).is_some() {
        panic!("{test}: no GPU adapter, and {REQUIRE_GPU_VAR} asks for one: {reason}");
    }
    eprintln!("SKIPPED {test}: no wgpu adapter on this machine ({reason})");
}

/// An offscreen GPU, or `None` after [`skip_without_gpu`].
pub fn offscreen_or_skip(test: &str) -> Option<spatialscope::render::offscreen::Offscreen> {
    match spatialscope::render::offscreen::Offscreen::new() {
        Ok(g) => Some(g),
        Err(e) => {
            skip_without_gpu(test, &e.to_string());
            None
        }
    }
}

/// A data folder for commands the tests run (`eval` records its stores there), so no test
/// writes into the user's own data folder.
pub fn test_data_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("spatialscope-test-data-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}
