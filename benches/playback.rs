//! Playback against the dataset's own rate: the time to make every step of a sample
//! episode ready to show (each camera's RGB and colour-mapped depth decoded into egui images,
//! and the 3-D scene built: what the frame worker does per step during playback) from a
//! cold cache, as steps per second beside the dataset's fps. A ratio above 1 means playback
//! at 1x can show every step; below 1, the timeline keeps real time and skips steps.
//!
//! Drawing is not included (the GPU or, here, Mesa's software rasteriser draws each frame
//! in the UI thread); the figures are the worker's share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::episode::{self, FrameCache};
use spatialscope::scene::SceneOptions;
use spatialscope::worker::step_bundle::step_bundle;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes")
}

fn bench(c: &mut Criterion) {
    let grid = spatialscope::action_grid::ProcessorConfig::load(
        &spatialscope::util::assets::default_grid_path(),
    )
    .ok();
    let mut g = c.benchmark_group("playback");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let mut summary = Vec::new();
    for name in [
        "sim_native",
        "sim_hdf5",
        "sim_lerobot_v21",
        "sim_lerobot_v30_av1",
        "bridge_rlds",
    ] {
        let collection = episode::open_path(&samples().join(name)).unwrap();
        let d = &collection.datasets[0];
        let options = SceneOptions::default();
        let play = || {
            let cache = Arc::new(FrameCache::new(256 << 20));
            let ep = d.open_episode(0, &cache).unwrap();
            for step in 0..ep.num_steps() {
                std::hint::black_box(step_bundle(&ep, step, &options, grid.as_ref()));
            }
            ep.num_steps()
        };
        g.bench_function(format!("{name}_episode_0"), |b| b.iter(play));
        // One more pass for the summary line (criterion's own figures are per episode).
        let cache = Arc::new(FrameCache::new(256 << 20));
        let ep = d.open_episode(0, &cache).unwrap();
        let fps = ep.fps.unwrap_or(5.0);
        let t = Instant::now();
        let steps = play();
        let rate = steps as f64 / t.elapsed().as_secs_f64();
        summary.push(format!(
            "{name}: {steps} steps, {rate:.1} steps/s ready vs {fps:.1} fps ({:.2}x real time)",
            rate / fps
        ));
    }
    g.finish();
    for line in summary {
        println!("playback: {line}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
