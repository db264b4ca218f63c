//! The dataset doctor against just reading the actions, in the same run:
//!
//! - `doctor/samples_*`: every sample dataset (frames decoded for the camera checks) against
//!   the action distribution of the same datasets (`DistributionJob`: opening every episode
//!   and reading its actions, no checks).
//! - `doctor/synthetic_v30_10000_*`: a synthetic LeRobot v3.0 dataset of 10,000 episodes x
//!   30 steps (metadata + actions, no videos), the doctor without frame checks against
//!   reading the same actions.

#[path = "../tests/it/common/synthetic.rs"]
mod synthetic;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::action_grid::ProcessorConfig;
use spatialscope::episode::{self, FrameCache};
use spatialscope::pipeline::distribution::{DistributionJob, StatsSource};
use spatialscope::pipeline::doctor::{DoctorJob, DoctorOptions};

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes")
}

fn doctor(path: &Path, cfg: &ProcessorConfig, frames: bool) -> usize {
    let c = episode::open_path(path).expect("open");
    let cache = Arc::new(FrameCache::new(16 << 20));
    let mut findings = 0;
    for d in &c.datasets {
        let opts = DoctorOptions {
            frames,
            ..DoctorOptions::default()
        };
        let mut job = DoctorJob::new(d, cfg, &cache, opts);
        while !job.is_done() {
            job.step(d, &cache);
        }
        findings += job.finish(d, cfg).findings.len();
    }
    findings
}

fn read_actions(path: &Path) -> usize {
    let c = episode::open_path(path).expect("open");
    let cache = Arc::new(FrameCache::new(16 << 20));
    let mut n = 0;
    for d in &c.datasets {
        let mut job = DistributionJob::new(d, StatsSource::Dataset, 1e-3);
        while !job.is_done() {
            job.step(d, &cache);
        }
        n += job.progress().0;
    }
    n
}

fn bench(c: &mut Criterion) {
    let cfg =
        ProcessorConfig::load(&spatialscope::util::assets::default_grid_path()).expect("grid");
    let tmp = tempfile::tempdir().expect("tmp");
    let big = tmp.path().join("synthetic_v30");
    synthetic::write_lerobot_metadata(&big, true, 10_000);
    synthetic::write_lerobot_v3_data(&big, 10_000);

    let mut g = c.benchmark_group("doctor");
    g.bench_function("samples_doctor", |b| {
        b.iter(|| doctor(&samples(), &cfg, true))
    });
    g.bench_function("samples_baseline_read_actions", |b| {
        b.iter(|| read_actions(&samples()))
    });
    g.bench_function("synthetic_v30_10000_doctor", |b| {
        b.iter(|| doctor(&big, &cfg, false))
    });
    g.bench_function("synthetic_v30_10000_baseline_read_actions", |b| {
        b.iter(|| read_actions(&big))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
