//! Shared by the fuzz targets: a scratch copy of a sample dataset (made once per process, in
//! /dev/shm when it exists) whose one file each input replaces, and a reader that touches
//! everything a user's first look would: every dataset found, the first episodes, the first
//! and last frames of each camera, RGB and depth. Errors are the expected outcome; panics,
//! aborts, hangs and huge allocations are what libFuzzer reports.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use spatialscope::episode::{self, FrameCache};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// libfuzzer-sys installs a panic hook that aborts at the panic itself, before any
/// `catch_unwind` in the code under test can turn it into an error (the app guards the
/// parquet and MP4 crates that way). The default hook is put back, silenced: a panic nobody
/// catches still reaches libfuzzer-sys's own `catch_unwind`, which aborts and reports it.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
    });
}

/// A per-process scratch copy of `rel` (relative to the repository), made on first use.
pub fn scratch(rel: &str) -> &'static Path {
    init();
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("spatialscope-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&repo().join(rel), &dir);
        dir
    })
}

/// Opens `path` and its first episodes (metadata, actions, cameras), decoding no frames:
/// for the targets whose input is metadata, so each run stays fast.
pub fn open_like_a_user(path: &Path) {
    visit(path, false);
}

/// Opens `path` as a user would and reads what the app shows first.
pub fn read_like_a_user(path: &Path) {
    visit(path, true);
}

/// Every dataset found, its first three episodes and, with `frames`, the first and last
/// frames of each camera (RGB, depth, the encoded bytes the export passes through).
fn visit(path: &Path, frames: bool) {
    let Ok(c) = episode::open_path(path) else {
        return;
    };
    let cache = Arc::new(FrameCache::new(0));
    for d in &c.datasets {
        for i in 0..d.len().min(3) {
            let Ok(ep) = d.open_episode(i, &cache) else {
                continue;
            };
            if !frames {
                continue;
            }
            let n = ep.num_steps();
            for cam in 0..ep.cameras.len() {
                for s in [0, n.saturating_sub(1)] {
                    let _ = ep.rgb(s, cam);
                    let _ = ep.depth(s, cam);
                    let _ = ep.encoded_rgb(s, cam);
                }
            }
        }
    }
}
