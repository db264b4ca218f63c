//! Episode loading benchmarks, each with a baseline measured in the same run so results are
//! read as ratios (the machines are noisy):
//!
//! - `first_frame/*`: open a sample dataset from disk and decode every camera of step 0 of
//!   its first episode (fresh cache). Baseline: reading the same dataset's bytes with
//!   `std::fs::read` (whole shard / the episode's files for step 0).
//! - `decode/*`: sequential decode of a whole episode, every camera, no cache hits (budget
//!   0). Baseline: the `image` crate decoding the very same encoded bytes directly, i.e. the
//!   cost of our pipeline (record framing, checks, conversion) over the raw codec. After
//!   the group, Pillow decoding the native episode's PNGs (`benches/numpy_baselines.py`) is
//!   timed and printed.

#[path = "python_baseline.rs"]
pub mod python_baseline;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spatialscope::episode::{self, FrameCache};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes")
}

fn bridge() -> PathBuf {
    samples().join("bridge_rlds/bridge_dataset/1.0.0")
}

fn native() -> PathBuf {
    samples().join("sim_native")
}

fn first_frame(path: &Path) -> usize {
    let c = episode::open_path(path).expect("open");
    let cache = Arc::new(FrameCache::new(64 << 20));
    let ep = c.datasets[0].open_episode(0, &cache).expect("episode");
    let mut bytes = 0;
    for cam in 0..ep.cameras.len() {
        bytes += ep.rgb(0, cam).expect("rgb").byte_size();
        if let Some(d) = ep.depth(0, cam).expect("depth") {
            bytes += d.byte_size();
        }
    }
    bytes
}

fn bench_first_frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("first_frame");
    g.bench_function("bridge_rlds", |b| b.iter(|| first_frame(&bridge())));
    g.bench_function("baseline_read_bridge_shard", |b| {
        b.iter(|| {
            std::fs::read(bridge().join("bridge_dataset-train.tfrecord-00000-of-00001"))
                .expect("read")
                .len()
        })
    });
    g.bench_function("native", |b| b.iter(|| first_frame(&native())));
    let ep0 = native().join("episode_000");
    let step0_files = [
        ep0.join("episode.json"),
        ep0.join("rgb/agentview/000000.png"),
        ep0.join("rgb/robot0_eye_in_hand/000000.png"),
        ep0.join("depth/agentview/000000.png"),
        ep0.join("depth/robot0_eye_in_hand/000000.png"),
    ];
    g.bench_function("baseline_read_native_step0_files", |b| {
        b.iter(|| {
            step0_files
                .iter()
                .map(|p| std::fs::read(p).expect("read").len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let no_cache = Arc::new(FrameCache::new(0));

    // Bridge: 10 steps x 4 cameras of 64x64 JPEG.
    let d = episode::open_path(&bridge()).expect("open");
    let ep = d.datasets[0].open_episode(0, &no_cache).expect("episode");
    let jpegs: Vec<bytes::Bytes> = (0..ep.num_steps())
        .flat_map(|s| (0..ep.cameras.len()).map(move |c| (s, c)))
        .map(|(s, c)| ep.encoded_rgb(s, c).expect("bytes").bytes)
        .collect();
    g.throughput(Throughput::Elements(jpegs.len() as u64));
    g.bench_function("bridge_jpeg_frames", |b| {
        b.iter(|| {
            for s in 0..ep.num_steps() {
                for cam in 0..ep.cameras.len() {
                    ep.rgb(s, cam).expect("rgb");
                }
            }
        })
    });
    g.bench_function("baseline_image_crate_jpeg", |b| {
        b.iter(|| {
            for j in &jpegs {
                let _ = image::load_from_memory_with_format(j, image::ImageFormat::Jpeg)
                    .expect("jpeg")
                    .into_rgb8();
            }
        })
    });

    // Native: 46 steps x 2 cameras, PNG RGB + 16-bit PNG depth per frame.
    let d = episode::open_path(&native()).expect("open");
    let ep = d.datasets[0].open_episode(0, &no_cache).expect("episode");
    let n = ep.num_steps() * ep.cameras.len();
    let ep_dir = native().join("episode_000");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("native_png_rgb_plus_depth_frames", |b| {
        b.iter(|| {
            for s in 0..ep.num_steps() {
                for cam in 0..ep.cameras.len() {
                    ep.rgb(s, cam).expect("rgb");
                    ep.depth(s, cam).expect("depth");
                }
            }
        })
    });
    g.bench_function("baseline_image_crate_png_rgb_plus_depth", |b| {
        b.iter(|| {
            for s in 0..ep.num_steps() {
                for cam in &ep.cameras {
                    let f = format!("{:06}.png", s);
                    let _ = image::open(ep_dir.join("rgb").join(&cam.name).join(&f))
                        .expect("png")
                        .into_rgb8();
                    let _ = image::open(ep_dir.join("depth").join(&cam.name).join(&f))
                        .expect("png")
                        .into_luma16();
                }
            }
        })
    });
    g.finish();
    // Pillow decoding the same PNGs into arrays, as a Python script would read them.
    python_baseline::print(&["pillow_png", &ep_dir.display().to_string()]);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_first_frame, bench_decode
}
criterion_main!(benches);
