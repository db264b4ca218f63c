//! The blocked products and the few-row path against float64, on every instruction set
//! this CPU runs; the right operand given by its rows; bounds.

use super::*;

fn values(len: usize, seed: u64) -> Vec<f32> {
    crate::model::test_values::uniform(len, seed)
}

fn exact(x: &[f32], w: &[f32], i: usize, j: usize, k: usize) -> f64 {
    (0..k)
        .map(|l| f64::from(x[i * k + l]) * f64::from(w[j * k + l]))
        .sum()
}

/// Against float64 products, over panel, block and thread edges, for `x W^T` as the
/// linear layers call it and for a strided left operand, on every instruction set this
/// CPU runs (so an AVX-512 machine checks the AVX2 kernels too).
#[test]
fn products_equal_exact_products() {
    let isas = runnable();
    if isas.is_empty() {
        eprintln!("neither AVX-512 nor AVX2 here: the kernels are not exercised");
        return;
    }
    for isa in isas {
        for (m, n, k) in [
            (1, 1, 1),
            (5, 33, 7),
            (13, 65, 300),
            (300, 70, 513),
            (40, 1000, 64),
        ] {
            let x = values(m * k, 1);
            let w = values(n * k, 2);
            let view = |data, rs, cs| View { data, rs, cs };
            // `x W^T` as the linear layers call it, into rows wider than `n`.
            let linear = |dst: &mut Vec<f32>, accumulate| {
                let (lhs, rhs) = (view(&x, k, 1), view(&w, 1, k));
                product_with(isa, 2, dst, n + 3, (m, n, k), lhs, rhs, accumulate);
            };
            let mut got = vec![f32::NAN; m * (n + 3)];
            linear(&mut got, false);
            // The same product again on top: `accumulate` adds.
            let mut twice = got.clone();
            linear(&mut twice, true);
            // A row-contiguous right operand (W^T stored as such) and a strided left one.
            let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
            let xt: Vec<f32> = (0..k * m).map(|i| x[(i % m) * k + i / m]).collect();
            let mut other = vec![0f32; m * n];
            product_with(
                isa,
                1,
                &mut other,
                n,
                (m, n, k),
                view(&xt, 1, m),
                view(&wt, n, 1),
                false,
            );
            // A bfloat16 weight, widened while packed: the float32 product of its values.
            let w16: Vec<half::bf16> = w.iter().map(|v| half::bf16::from_f32(*v)).collect();
            let w16_wide: Vec<f32> = w16.iter().map(|v| v.to_f32()).collect();
            let mut narrow = vec![0f32; m * n];
            product_with(
                isa,
                2,
                &mut narrow,
                n,
                (m, n, k),
                view(&x, k, 1),
                View {
                    data: &w16,
                    rs: 1,
                    cs: k,
                },
                false,
            );
            // The right operand given by its rows (`Rows`), in reverse order with gaps.
            let pitch = n + 5;
            let starts: Vec<usize> = (0..k).map(|r| (k - 1 - r) * pitch + 2).collect();
            let mut scattered = vec![f32::NAN; k * pitch];
            for (r, s) in starts.iter().enumerate() {
                scattered[*s..s + n].copy_from_slice(&wt[r * n..(r + 1) * n]);
            }
            let mut gathered = vec![0f32; m * n];
            let rhs = Rhs {
                view: view(&scattered, 0, 1),
                starts: Some(&starts),
                packed: None,
            };
            product_with(
                isa,
                2,
                &mut gathered,
                n,
                (m, n, k),
                view(&x, k, 1),
                rhs,
                false,
            );
            // The weight packed once (for the detected kernels only).
            let mut prepacked = vec![f32::NAN; m * n];
            let packed_ran = match pack_weight(&w, (n, k)) {
                Some(pw) if pw.isa == isa => {
                    let rhs = Rhs {
                        view: view(&[][..], 0, 0),
                        starts: None,
                        packed: Some(&pw),
                    };
                    product_with::<f32>(
                        isa,
                        2,
                        &mut prepacked,
                        n,
                        (m, n, k),
                        view(&x, k, 1),
                        rhs,
                        false,
                    );
                    true
                }
                _ => false,
            };
            let rows = rows_times_weight_with(isa, &x, &w, (m, n, k)).expect("a kernel");
            let tol = 1e-6 * k as f64;
            for i in 0..m {
                for j in 0..n {
                    let want = exact(&x, &w, i, j, k);
                    let at = i * (n + 3) + j;
                    let want16 = exact(&x, &w16_wide, i, j, k);
                    let d16 = (f64::from(narrow[i * n + j]) - want16).abs();
                    assert!(
                        d16 <= tol,
                        "{isa:?} bf16 ({m}, {n}, {k}) at ({i}, {j}): {d16}"
                    );
                    for (what, v, scale) in [
                        ("product", got[at], 1.0),
                        ("accumulated", twice[at], 2.0),
                        ("other layout", other[i * n + j], 1.0),
                        ("given rows", gathered[i * n + j], 1.0),
                        (
                            "packed at load",
                            if packed_ran {
                                prepacked[i * n + j]
                            } else {
                                want as f32
                            },
                            1.0,
                        ),
                        ("rows", rows[i * n + j], 1.0),
                    ] {
                        let d = (f64::from(v) - scale * want).abs();
                        assert!(
                            d <= scale * tol,
                            "{isa:?} {what} ({m}, {n}, {k}) at ({i}, {j}): {d}"
                        );
                    }
                }
                assert!(
                    got[i * (n + 3) + n..(i + 1) * (n + 3)]
                        .iter()
                        .all(|v| v.is_nan()),
                    "{isa:?}: wrote past the row's columns"
                );
            }
        }
    }
}

/// A row that would run past the slice is refused before anything is read.
#[test]
#[should_panic(expected = "an operand is smaller than its shape")]
fn rows_past_the_slice_panic() {
    let Some(isa) = runnable().first().copied() else {
        panic!("sgemm: an operand is smaller than its shape (no kernel here)")
    };
    let (x, data) = (vec![1f32; 4], vec![1f32; 10]);
    let starts = [0usize, 7];
    let rhs = Rhs {
        view: View {
            data: &data,
            rs: 0,
            cs: 1,
        },
        starts: Some(&starts[..]),
        packed: None,
    };
    let lhs = View {
        data: &x,
        rs: 2,
        cs: 1,
    };
    let mut out = vec![0f32; 2 * 4];
    product_with(isa, 1, &mut out, 4, (2, 4, 2), lhs, rhs, false);
}

/// The vision towers' linear shapes (SigLIP at 256 tokens, BEiT-L at 577), x W^T + b:
/// `cargo test --lib sgemm::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn timing() {
    use candle_core::{Device, Module, Tensor};
    for (m, k, n) in [
        (256, 1152, 3456),
        (256, 1152, 1152),
        (256, 1152, 4304),
        (256, 4304, 1152),
        (577, 1024, 3072),
        (577, 1024, 4096),
        (577, 4096, 1024),
    ] {
        let dev = Device::Cpu;
        let x = Tensor::new(values(m * k, 1), &dev)
            .unwrap()
            .reshape((m, k))
            .unwrap();
        let w = Tensor::new(values(n * k, 2), &dev)
            .unwrap()
            .reshape((n, k))
            .unwrap();
        let b = Tensor::new(values(n, 3), &dev).unwrap();
        let w16 = w.to_dtype(candle_core::DType::BF16).unwrap();
        let lin = crate::model::linear::Linear::new(w, Some(b.clone()));
        let packed = lin.clone().prepacked().unwrap();
        // bfloat16 panels, float32 input: a float32 model of a bfloat16 checkpoint.
        let packed16 = crate::model::linear::Linear::new(w16, Some(b))
            .prepacked()
            .unwrap();
        for (what, lin) in [
            ("per call", &lin),
            ("packed at load", &packed),
            ("bf16 packed at load", &packed16),
        ] {
            let mut ts: Vec<f64> = (0..13)
                .map(|_| {
                    let t = std::time::Instant::now();
                    lin.forward(&x).unwrap();
                    t.elapsed().as_secs_f64()
                })
                .skip(3)
                .collect();
            ts.sort_by(f64::total_cmp);
            let flop = 2.0 * (m * k * n) as f64;
            eprintln!(
                "ours {m}x{k}->{n} {what}: median {:.2} ms min {:.2} ms {:.0} GFLOPS",
                ts[5] * 1e3,
                ts[0] * 1e3,
                flop / ts[5] / 1e9
            );
        }
    }
}

/// Gemma2-2B's linear shapes, a generated token (1 row) and the prompt pass (268 rows),
/// with the weight as stored and packed at load:
/// `cargo test --lib sgemm::tests::timing_gemma -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn timing_gemma() {
    use candle_core::{Device, Module, Tensor};
    for (k, n) in [
        (2304, 2048),
        (2304, 1024),
        (2048, 2304),
        (2304, 9216),
        (9216, 2304),
    ] {
        let dev = Device::Cpu;
        let w = Tensor::new(values(n * k, 2), &dev)
            .unwrap()
            .reshape((n, k))
            .unwrap();
        let w16 = w.to_dtype(candle_core::DType::BF16).unwrap();
        let lin = crate::model::linear::Linear::new(w, None);
        let packed = lin.clone().prepacked().unwrap();
        let lin16 = crate::model::linear::Linear::new(w16, None);
        let packed16 = lin16.clone().prepacked().unwrap();
        for m in [1, 268] {
            let x = Tensor::new(values(m * k, 1), &dev)
                .unwrap()
                .reshape((m, k))
                .unwrap();
            let reps = if m == 1 { 41 } else { 9 };
            for (what, lin) in [
                ("as stored", &lin),
                ("packed at load", &packed),
                ("bf16 as stored", &lin16),
                ("bf16 packed at load", &packed16),
            ] {
                let mut ts: Vec<f64> = (0..reps)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        lin.forward(&x).unwrap();
                        t.elapsed().as_secs_f64()
                    })
                    .skip(1)
                    .collect();
                ts.sort_by(f64::total_cmp);
                let med = ts[ts.len() / 2];
                eprintln!(
                    "ours {m}x{k}->{n} {what}: median {:.3} ms min {:.3} ms {:.1} GB/s of weight",
                    med * 1e3,
                    ts[0] * 1e3,
                    (n * k * if what.starts_with("bf16") { 2 } else { 4 }) as f64 / med / 1e9
                );
            }
        }
    }
}

/// Packing Gemma2's MLP weight at load, float32 and bfloat16:
/// `cargo test --lib sgemm::tests::timing_packing -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn timing_packing() {
    let (n, k) = (9216, 2304);
    let w = values(n * k, 2);
    let w16: Vec<half::bf16> = w.iter().map(|v| half::bf16::from_f32(*v)).collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        drop(pack_weight(&w, (n, k)));
        let f = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        drop(pack_weight(&w16, (n, k)));
        let b = t.elapsed().as_secs_f64();
        eprintln!(
            "packing {n}x{k}: float32 {:.1} ms, bfloat16 {:.1} ms",
            f * 1e3,
            b * 1e3
        );
    }
}
