//! A real-size layer in bfloat16 on the CPU: Gemma2's `up_proj` (2304 -> 9216) for one
//! generated token (1 row) and for a prompt pass (268 rows), through our bfloat16 linear
//! (`model::linear`), candle's own bfloat16 matmul (which widens both operands to a fresh
//! float32 copy per call) and candle's float32 matmul, in the same run.
//!
//! `cargo bench --profile dev --bench bf16_linear`

use candle_core::{DType, Device, Module, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::model::linear::Linear;

fn bench(c: &mut Criterion) {
    let (k, n) = (2304, 9216);
    let dev = Device::Cpu;
    let w32 = Tensor::randn(0f32, 0.02, (n, k), &dev).unwrap();
    let w16 = w32.to_dtype(DType::BF16).unwrap();
    let mut g = c.benchmark_group("bf16_linear_2304x9216");
    g.sample_size(10);
    for m in [1usize, 268] {
        let x32 = Tensor::randn(0f32, 1.0, (1, m, k), &dev).unwrap();
        let x16 = x32.to_dtype(DType::BF16).unwrap();
        let ours = Linear::new(w16.clone(), None);
        let candle16 = candle_nn::Linear::new(w16.clone(), None);
        let candle32 = candle_nn::Linear::new(w32.clone(), None);
        g.bench_function(format!("ours_bf16_rows{m}"), |b| {
            b.iter(|| ours.forward(&x16).unwrap())
        });
        g.bench_function(format!("candle_bf16_rows{m}"), |b| {
            b.iter(|| candle16.forward(&x16).unwrap())
        });
        g.bench_function(format!("candle_f32_rows{m}"), |b| {
            b.iter(|| candle32.forward(&x32).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
