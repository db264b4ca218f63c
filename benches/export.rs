//! Rerun export of one episode of each sample dataset to an `.rrd` file (Ego3D samples
//! included, no model), against the naive export of raw decoded frames measured in the same
//! run, and with frames stored as JPEG of quality 90 (`--jpeg`). Sizes are printed once per
//! case (criterion measures time only). Also what checking the passed-through JPEG/PNG bytes
//! costs over reading them. After the group the Rerun Python SDK exports the same episodes
//! (`benches/rerun_sdk_export.py`: native with the PNG files' bytes, HDF5 with raw arrays
//! and with the SDK's own JPEG compression) and its times and sizes are printed.

#[path = "python_baseline.rs"]
pub mod python_baseline;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::episode::{FrameCache, open_path};
use spatialscope::export::rerun_export::{ExportOptions, Predictions, export_to_file};

fn bench(c: &mut Criterion) {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes");
    let tmp = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("rerun_export");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for name in ["sim_native", "sim_hdf5", "bridge_rlds"] {
        let coll = open_path(&samples.join(name)).unwrap();
        let ep = coll.datasets[0]
            .open_episode(0, &Arc::new(FrameCache::default()))
            .unwrap();
        for (variant, raw, jpeg) in [
            ("encoded", false, None),
            ("jpeg90", false, Some(90)),
            ("raw_frames_baseline", true, None),
        ] {
            let label = format!("{name}/{variant}");
            let out = tmp.path().join(format!("{name}_{variant}.rrd"));
            let opts = ExportOptions {
                raw_images: raw,
                ego3d: true,
                predictions: Predictions::None,
                steps: None,
                jpeg_quality: jpeg,
            };
            let cancel = AtomicBool::new(false);
            g.bench_function(&label, |b| {
                b.iter(|| export_to_file(&out, &ep, &opts, &mut |_, _| {}, &cancel).unwrap())
            });
            println!(
                "{label}: {} steps, {} bytes",
                ep.num_steps(),
                std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0)
            );
        }
        // What checking the passed-through frames costs (header, chunk/segment walk, PNG
        // CRCs) against only reading their bytes, both over every frame of the episode.
        let frames = |check: bool| {
            for step in 0..ep.num_steps() {
                for (ci, cam) in ep.cameras.iter().enumerate() {
                    if let Ok(enc) = ep.encoded_rgb(step, ci) {
                        if check {
                            let _ = std::hint::black_box(enc.check(cam.width_px, cam.height_px));
                        } else {
                            std::hint::black_box(&enc.bytes);
                        }
                    }
                }
            }
        };
        g.bench_function(format!("{name}/read_encoded_frames"), |b| {
            b.iter(|| frames(false))
        });
        g.bench_function(format!("{name}/read_and_check_encoded_frames"), |b| {
            b.iter(|| frames(true))
        });
    }
    g.finish();
    // The Rerun Python SDK exporting the same episodes (`benches/rerun_sdk_export.py`).
    let out = tmp.path().join("sdk.rrd");
    let out = out.to_str().unwrap();
    let native = samples.join("sim_native/episode_000");
    let native = native.to_str().unwrap();
    let h5 = samples.join("sim_hdf5/sim_episodes.hdf5");
    let h5 = h5.to_str().unwrap();
    for args in [
        vec!["native", native, out],
        vec!["hdf5", h5, "demo_0", out],
        vec!["hdf5", h5, "demo_0", out, "--jpeg", "90"],
    ] {
        python_baseline::run_script("rerun_sdk_export.py", &args);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
