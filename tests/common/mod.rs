//! Shared helpers for the integration tests: paths to the shipped samples, copying them to a
//! scratch folder before corrupting, and a TFRecord writer for crafted records.

#![allow(dead_code)] // each test binary uses a different subset

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
