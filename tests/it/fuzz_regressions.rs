//! Inputs the fuzzers (`fuzz/`) found, kept as regression tests: each file under
//! `tests/fixtures/fuzz/<target>/` goes through that target's entry point again and must
//! come back (an error is fine) within 30 s, without panicking.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::common;
use spatialscope::episode::formats::video::VideoCursor;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = common::repo().join("tests/fixtures/fuzz").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs `f` on another thread and fails if it takes longer than 30 s or panics.
fn within_30_s(what: &Path, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{} hangs", what.display()),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{} panicked", what.display()),
    }
}

#[test]
fn mp4_inputs_found_by_fuzzing_come_back() {
    let found = inputs("mp4");
    assert!(!found.is_empty());
    for p in found {
        let path = p.clone();
        within_30_s(&p, move || {
            if let Ok(mut v) = VideoCursor::open(&path) {
                for t in [0.0, 0.05, 0.1, 0.0, 0.3, 1e9] {
                    let _ = v.frame_at(t);
                }
            }
        });
    }
}

#[test]
fn lerobot_tables_found_by_fuzzing_are_errors() {
    let found = inputs("lerobot_table");
    assert!(!found.is_empty());
    for p in found {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("sim_lerobot_v21");
        common::copy_dir(
            &common::repo().join("sample_episodes/sim_lerobot_v21"),
            &root,
        );
        std::fs::copy(&p, root.join("data/chunk-000/episode_000000.parquet")).unwrap();
        within_30_s(&p, move || {
            let c = spatialscope::episode::open_path(&root).unwrap();
            let e = c.datasets[0]
                .open_episode(
                    0,
                    &std::sync::Arc::new(spatialscope::episode::FrameCache::new(0)),
                )
                .unwrap_err();
            assert!(e.to_string().contains("episode_000000.parquet"), "{e}");
            drop(tmp);
        });
    }
}

/// Every frame of every episode of each HDF5 input, read as the app would.
fn read_every_frame(path: &Path) -> Vec<String> {
    use spatialscope::episode::{Dataset, DatasetFormat, FrameCache};
    let mut errors = Vec::new();
    let d = match Dataset::open(path, DatasetFormat::Hdf5) {
        Ok(d) => d,
        Err(e) => return vec![e.to_string()],
    };
    let cache = std::sync::Arc::new(FrameCache::new(0));
    for i in 0..d.len() {
        let ep = match d.open_episode(i, &cache) {
            Ok(ep) => ep,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        for c in 0..ep.cameras.len() {
            for s in 0..ep.num_steps() {
                if let Err(e) = ep.rgb(s, c) {
                    errors.push(e.to_string());
                }
                if let Err(e) = ep.depth(s, c) {
                    errors.push(e.to_string());
                }
            }
        }
    }
    errors
}

/// `chunk_index_3gb.hdf5`: a robomimic file whose chunk index claims a 3 GB chunk; the
/// reader zero-filled 3 GB before reading it. The index is now checked first.
#[test]
fn hdf5_inputs_found_by_fuzzing_come_back() {
    let found = inputs("hdf5");
    assert!(!found.is_empty());
    for p in found {
        let path = p.clone();
        within_30_s(&p, move || {
            let errors = read_every_frame(&path);
            if path.ends_with("chunk_index_3gb.hdf5") {
                assert!(
                    errors
                        .iter()
                        .any(|e| e.contains("chunk index lists a chunk")),
                    "{errors:?}"
                );
            }
        });
    }
}
