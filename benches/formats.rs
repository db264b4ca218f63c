//! LeRobot and HDF5 benchmarks (issue: formats), each beside a baseline from the same run:
//!
//! - `open/*`: open a dataset (metadata only). The shipped samples (3 episodes) and synthetic
//!   metadata of 5000 episodes (v2.1 `episodes.jsonl`, v3.0 episode parquet). Baseline:
//!   `std::fs::read` of the same metadata files.
//! - `decode/*`: every frame of a 256 x 256 camera of one episode in order, no cache hits
//!   (budget 0): H.264 (LeRobot v2.1), AV1 (LeRobot v3.0), HDF5 gzip chunks. Baseline: the
//!   `image` crate decoding the same frames from the native copy's PNGs.
//! - `video_file/*`: every frame of one MP4 in order from a cold open, through our Rust
//!   decoders (OpenH264, rav1d), through FFmpeg in process (H.264, `--features ffmpeg`), and
//!   the `ffmpeg` executable decoding the same file to raw RGB (1 thread and automatic
//!   threads) when it is installed: what a user would otherwise run.
//! - Printed once before the timings: resident memory after visiting every frame of every
//!   episode of every sample dataset three times over with a 64 MiB frame cache (bounded:
//!   rounds 2 and 3 must not grow).

#[path = "../tests/it/common/synthetic.rs"]
#[expect(dead_code, reason = "the data writers are for the doctor benchmark")]
mod synthetic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spatialscope::episode::formats::video::{Decoders, FFMPEG_BUILT_IN, VideoCursor};
use spatialscope::episode::{self, Dataset, FrameCache};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes")
}

fn open(p: &std::path::Path) -> Dataset {
    episode::open_path(p).expect("open").datasets.remove(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn memory_report() {
    let cache = Arc::new(FrameCache::new(64 << 20));
    let sets: Vec<Dataset> = [
        "sim_lerobot_v21",
        "sim_lerobot_v30_av1",
        "sim_hdf5",
        "sim_native",
    ]
    .iter()
    .map(|f| open(&samples().join(f)))
    .collect();
    let start = rss_kib();
    let mut frames = 0usize;
    for round in 1..=3 {
        for d in &sets {
            for i in 0..d.len() {
                let ep = d.open_episode(i, &cache).expect("episode");
                for s in 0..ep.num_steps() {
                    for c in 0..ep.cameras.len() {
                        ep.rgb(s, c).expect("rgb");
                        ep.depth(s, c).expect("depth");
                        frames += 1;
                    }
                }
            }
        }
        let st = cache.stats();
        println!(
            "memory: round {round}: {frames} frames visited, RSS {} MiB (+{} MiB over the start), cache {} / {} MiB",
            rss_kib() / 1024,
            (rss_kib().saturating_sub(start)) / 1024,
            st.bytes >> 20,
            st.budget_bytes >> 20
        );
    }
}

fn bench(c: &mut Criterion) {
    memory_report();
    let tmp = tempfile::tempdir().expect("tmp");
    let big21 = tmp.path().join("big_v21");
    let big30 = tmp.path().join("big_v30");
    synthetic::write_lerobot_metadata(&big21, false, 5000);
    synthetic::write_lerobot_metadata(&big30, true, 5000);

    let mut g = c.benchmark_group("open");
    g.bench_function("lerobot_v21_sample", |b| {
        b.iter(|| open(&samples().join("sim_lerobot_v21")).len())
    });
    g.bench_function("lerobot_v30_sample", |b| {
        b.iter(|| open(&samples().join("sim_lerobot_v30_av1")).len())
    });
    g.bench_function("hdf5_sample", |b| {
        b.iter(|| open(&samples().join("sim_hdf5")).len())
    });
    g.bench_function("synthetic_v21_5000_episodes", |b| {
        b.iter(|| open(&big21).len())
    });
    g.bench_function("baseline_read_v21_5000_metadata", |b| {
        b.iter(|| {
            std::fs::read(big21.join("meta/info.json"))
                .expect("read")
                .len()
                + std::fs::read(big21.join("meta/episodes.jsonl"))
                    .expect("read")
                    .len()
        })
    });
    g.bench_function("synthetic_v30_5000_episodes", |b| {
        b.iter(|| open(&big30).len())
    });
    g.bench_function("baseline_read_v30_5000_metadata", |b| {
        b.iter(|| {
            std::fs::read(big30.join("meta/info.json"))
                .expect("read")
                .len()
                + std::fs::read(big30.join("meta/episodes/chunk-000/file-000.parquet"))
                    .expect("read")
                    .len()
        })
    });
    g.finish();

    let none = Arc::new(FrameCache::new(0));
    let mut g = c.benchmark_group("decode");
    let steps = 46u64; // episode 0, agentview, 256 x 256
    g.throughput(Throughput::Elements(steps));
    for (label, folder) in [
        ("h264_256px_lerobot_v21", "sim_lerobot_v21"),
        ("av1_256px_lerobot_v30", "sim_lerobot_v30_av1"),
        ("hdf5_gzip_256px", "sim_hdf5"),
    ] {
        let d = open(&samples().join(folder));
        g.bench_function(label, |b| {
            b.iter(|| {
                // A fresh episode each time: the decoder starts cold, as when one is opened.
                let ep = d.open_episode(0, &none).expect("episode");
                (0..ep.num_steps())
                    .map(|s| ep.rgb(s, 0).expect("rgb").byte_size())
                    .sum::<usize>()
            })
        });
    }
    let pngs: Vec<Vec<u8>> = (0..steps)
        .map(|s| {
            std::fs::read(
                samples().join(format!("sim_native/episode_000/rgb/agentview/{s:06}.png")),
            )
            .expect("png")
        })
        .collect();
    g.bench_function("baseline_png_256px_native", |b| {
        b.iter(|| {
            pngs.iter()
                .map(|p| image::load_from_memory(p).expect("png").into_rgb8().len())
                .sum::<usize>()
        })
    });
    g.finish();
    video_decoders(c);
}

/// Every frame of one file through `VideoCursor`, in order, from a cold open.
fn decode_file(path: &std::path::Path, decoders: Decoders, times: &[f64]) -> usize {
    let mut v = VideoCursor::open_with(path, decoders).expect("open");
    times
        .iter()
        .map(|&t| v.frame_at(t).expect("frame").pixels.len())
        .sum()
}

/// The Rust decoders against FFmpeg on the same files: in process through the `ffmpeg`
/// feature (H.264; AV1 never goes to FFmpeg in process, see `video::ffmpeg`), and against
/// the `ffmpeg` executable decoding the whole file to raw RGB when it is installed.
fn video_decoders(c: &mut Criterion) {
    let h264 = samples()
        .join("sim_lerobot_v21/videos/chunk-000/observation.images.agentview/episode_000000.mp4");
    let av1 = samples()
        .join("sim_lerobot_v30_av1/videos/observation.images.agentview/chunk-000/file-000.mp4");
    let mut g = c.benchmark_group("video_file");
    for (label, path, frames) in [
        ("h264_256px_46", &h264, 46u64),
        ("av1_256px_164", &av1, 164),
    ] {
        let times: Vec<f64> = (0..frames).map(|k| k as f64 / 20.0).collect();
        g.throughput(Throughput::Elements(frames));
        g.bench_function(format!("{label}_rust"), |b| {
            b.iter(|| decode_file(path, Decoders::Auto, &times))
        });
        if FFMPEG_BUILT_IN && label.starts_with("h264") {
            g.bench_function(format!("{label}_ffmpeg_in_process"), |b| {
                b.iter(|| decode_file(path, Decoders::Ffmpeg, &times))
            });
        }
        let cli = |threads: &str| {
            std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-threads", threads, "-i"])
                .arg(path)
                .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
                .output()
        };
        if cli("1").is_ok_and(|o| o.status.success()) {
            for threads in ["1", "0"] {
                g.bench_function(format!("{label}_ffmpeg_cli_threads_{threads}"), |b| {
                    b.iter(|| cli(threads).expect("ffmpeg").stdout.len())
                });
            }
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
