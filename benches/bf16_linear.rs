//! A real-size layer in bfloat16 on the CPU: Gemma2's `up_proj` (2304 -> 9216) for one
//! generated token (1 row) and for a prompt pass (268 rows), in the same run:
//! - ours (`model::linear`): AMX tiles where the CPU has them (`model::amx`), else
//!   `ours_bf16_without_amx`, the AVX2 path (weight widened in registers or in blocks);
//! - ours with float32 activations (`ours_mixed`: what `--dtype bf16` runs on the CPU; on
//!   AMX the input rounded while packed and the output rounded, without AMX the float32
//!   product of the stored weights, `model/linear_bf16.rs`), also on `down_proj`
//!   (9216 -> 2304), whose prompt rows (4.9 MB) do not fit in L2;
//! - ours in float32: AVX-512 kernels where the CPU has them (`model::sgemm`);
//! - candle's own bfloat16 matmul (which widens both operands to a fresh float32 copy per
//!   call) and candle's float32 matmul;
//! - PyTorch's `linear` in float32 and bfloat16 (oneDNN/MKL), when `SPATIALSCOPE_TORCH_PYTHON`
//!   names a Python with torch (`benches/torch_linear.py`, same thread count).
//!
//! `cargo bench --profile dev --bench bf16_linear`

use candle_core::{DType, Device, Module, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use half::bf16;
use spatialscope::model::linear::{Linear, avx2_product};

fn bench(c: &mut Criterion) {
    let (k, n) = (2304, 9216);
    let dev = Device::Cpu;
    let w32 = Tensor::randn(0f32, 0.02, (n, k), &dev).unwrap();
    let w16 = w32.to_dtype(DType::BF16).unwrap();
    let w16_vec: Vec<bf16> = w16.flatten_all().unwrap().to_vec1().unwrap();
    println!(
        "AMX: {}",
        if spatialscope::model::amx::available() {
            "yes"
        } else {
            "no (ours_bf16 is the AVX2 path)"
        }
    );
    let mut g = c.benchmark_group("bf16_linear_2304x9216");
    g.sample_size(10);
    for m in [1usize, 268] {
        let x32 = Tensor::randn(0f32, 1.0, (1, m, k), &dev).unwrap();
        let x16 = x32.to_dtype(DType::BF16).unwrap();
        let x16_vec: Vec<bf16> = x16.flatten_all().unwrap().to_vec1().unwrap();
        let ours = Linear::new(w16.clone(), None);
        let candle16 = candle_nn::Linear::new(w16.clone(), None);
        let candle32 = candle_nn::Linear::new(w32.clone(), None);
        g.bench_function(format!("ours_bf16_rows{m}"), |b| {
            b.iter(|| ours.forward(&x16).unwrap())
        });
        g.bench_function(format!("ours_mixed_rows{m}"), |b| {
            b.iter(|| ours.forward(&x32).unwrap())
        });
        g.bench_function(format!("ours_bf16_without_amx_rows{m}"), |b| {
            b.iter(|| avx2_product(&x16_vec, &w16_vec, m, n, k))
        });
        g.bench_function(format!("candle_bf16_rows{m}"), |b| {
            b.iter(|| candle16.forward(&x16).unwrap())
        });
        let ours32 = Linear::new(w32.clone(), None);
        g.bench_function(format!("ours_f32_rows{m}"), |b| {
            b.iter(|| ours32.forward(&x32).unwrap())
        });
        g.bench_function(format!("candle_f32_rows{m}"), |b| {
            b.iter(|| candle32.forward(&x32).unwrap())
        });
    }
    g.finish();
    // down_proj: the wide-k product.
    let (k, n) = (9216, 2304);
    let w32 = Tensor::randn(0f32, 0.02, (n, k), &dev).unwrap();
    let down16 = Linear::new(w32.to_dtype(DType::BF16).unwrap(), None);
    let down32 = Linear::new(w32, None);
    let mut g = c.benchmark_group("bf16_linear_9216x2304");
    g.sample_size(10);
    for m in [1usize, 268] {
        let x32 = Tensor::randn(0f32, 1.0, (1, m, k), &dev).unwrap();
        g.bench_function(format!("ours_mixed_rows{m}"), |b| {
            b.iter(|| down16.forward(&x32).unwrap())
        });
        g.bench_function(format!("ours_f32_rows{m}"), |b| {
            b.iter(|| down32.forward(&x32).unwrap())
        });
    }
    g.finish();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    match std::env::var("SPATIALSCOPE_TORCH_PYTHON") {
        Ok(py) => {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/torch_linear.py");
            match std::process::Command::new(py)
                .arg(script)
                .arg(threads.to_string())
                .output()
            {
                Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
                Ok(o) => println!("torch: failed: {}", String::from_utf8_lossy(&o.stderr)),
                Err(e) => println!("torch: cannot run: {e}"),
            }
        }
        Err(_) => println!("torch: not measured (set SPATIALSCOPE_TORCH_PYTHON)"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
