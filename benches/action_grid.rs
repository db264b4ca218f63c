//! Action-grid throughput over 1 M actions, single thread, with a same-run baseline:
//!
//! - `encode_1m`: normalised action -> bins -> 3 token ids (the released grid).
//! - `decode_1m`: 3 token ids -> bins -> normalised action -> un-normalised (Bridge key).
//! - `baseline_linear256_1m`: the uniform 256-bin round trip of the same actions (what a
//!   naive per-dimension tokenizer costs), so results read as ratios.
//!
//! Actions are drawn from a fixed-seed generator, roughly Gaussian like normalised data.
//! After the group, the reference's way (numpy, vectorised over all actions:
//! `benches/numpy_baselines.py grid`) is timed on 1 M actions of the same kind and printed.

#[path = "python_baseline.rs"]
pub mod python_baseline;

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spatialscope::action_grid::{LinearBins, ProcessorConfig};

const N: usize = 1_000_000;

/// xorshift64*: deterministic, no dependency.
fn actions() -> Vec<[f64; 7]> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..N)
        .map(|_| {
            let mut a = [0.0; 7];
            for v in a.iter_mut().take(6) {
                // Sum of 3 uniforms: a cheap bell shape on [-1.5, 1.5].
                *v = next() + next() + next() - 1.5;
            }
            a[6] = if next() > 0.5 { 1.0 } else { 0.0 };
            a
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = ProcessorConfig::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/real_checkpoint_meta"),
    )
    .expect("config");
    let stats = cfg.stats("bridge_orig/1.0.0").expect("bridge").clone();
    let acts = actions();
    let ids: Vec<[i64; 3]> = acts
        .iter()
        .map(|a| cfg.layout.ids(&cfg.grid.encode(a).expect("encode")))
        .collect();
    let lin = LinearBins::openvla();

    let mut g = c.benchmark_group("action_grid");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("encode_1m", |b| {
        b.iter(|| {
            let mut acc = 0i64;
            for a in &acts {
                acc = acc.wrapping_add(cfg.layout.ids(&cfg.grid.encode(a).expect("encode"))[0]);
            }
            acc
        })
    });
    g.bench_function("decode_1m", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for i in &ids {
                acc += stats.unnormalize(&cfg.grid.decode(&cfg.layout.bins_of_ids(*i)))[0];
            }
            acc
        })
    });
    g.bench_function("baseline_linear256_1m", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for a in &acts {
                acc += lin.round_trip(a)[0];
            }
            acc
        })
    });
    g.finish();
    // The reference's vectorised numpy tokenizer on 1 M actions.
    let cfg_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/real_checkpoint_meta"
    );
    python_baseline::print(&["grid", &N.to_string(), cfg_dir]);
}

/// The full `stats` pass (every episode of both sample datasets -> distribution) against a
/// baseline that only opens every episode and reads its actions.
fn bench_stats_pass(c: &mut Criterion) {
    use spatialscope::episode::{self, FrameCache};
    use spatialscope::pipeline::distribution::{DistributionJob, StatsSource};
    use std::sync::Arc;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cfg = ProcessorConfig::load(&root.join("assets/spatialvla")).expect("config");
    let collection = episode::open_path(&root.join("sample_episodes")).expect("samples");
    let cache = Arc::new(FrameCache::new(16 << 20));
    let mut g = c.benchmark_group("stats_pass");
    g.bench_function("samples_distribution", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &collection.datasets {
                let mut job = DistributionJob::new(d, StatsSource::Dataset, 1e-3);
                while !job.is_done() {
                    job.step(d, &cache);
                }
                n += job.finish(&cfg).expect("finish").actions;
            }
            n
        })
    });
    g.bench_function("baseline_read_actions_only", |b| {
        b.iter(|| {
            let mut n = 0;
            for d in &collection.datasets {
                for i in 0..d.len() {
                    n += d.open_episode(i, &cache).expect("episode").num_steps();
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    targets = bench, bench_stats_pass
}
criterion_main!(benches);
