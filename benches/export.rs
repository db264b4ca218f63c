//! Rerun export of one episode of each sample dataset to an `.rrd` file (Ego3D samples
//! included, no model), against the naive export of raw decoded frames measured in the same
//! run. Sizes are printed once per case (criterion measures time only). Also what checking
//! the passed-through JPEG/PNG bytes costs over reading them.

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
    for name in ["sim_native", "bridge_rlds"] {
        let coll = open_path(&samples.join(name)).unwrap();
        let ep = coll.datasets[0]
            .open_episode(0, &Arc::new(FrameCache::default()))
            .unwrap();
        for raw in [false, true] {
            let label = format!(
                "{name}/{}",
                if raw {
                    "raw_frames_baseline"
                } else {
                    "encoded"
                }
            );
            let out = tmp.path().join(format!("{name}_{raw}.rrd"));
            let opts = ExportOptions {
                raw_images: raw,
                ego3d: true,
                predictions: Predictions::None,
                steps: None,
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
