//! The fused attention against a float64 evaluation of the definition, and against the
//! candle path it replaces.

use super::*;
use candle_core::Device;

fn tensor(shape: &[usize], seed: u64, spread: f32) -> Tensor {
    let len = shape.iter().product();
    let v: Vec<f32> = crate::model::test_values::uniform(len, seed)
        .into_iter()
        .map(|x| x * spread)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// `softmax(q k^T scale + bias) v` per head in float64.
fn definition(q: &Tensor, k: &Tensor, v: &Tensor, heads: Heads, bias: Option<&Tensor>) -> Vec<f64> {
    let to = |t: &Tensor| -> Vec<f32> {
        t.contiguous()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let (q3, k3, v3) = (to(q), to(k), to(v));
    let bias = bias.map(to);
    let (b, nq, w) = q.dims3().unwrap();
    let (_, nk, kw) = k.dims3().unwrap();
    let d = heads.head_dim;
    let groups = heads.heads / heads.kv_heads;
    let mut out = vec![0f64; b * nq * w];
    for bi in 0..b {
        for h in 0..heads.heads {
            let kvh = h / groups;
            for i in 0..nq {
                let mut s: Vec<f64> = (0..nk)
                    .map(|j| {
                        let dot: f64 = (0..d)
                            .map(|c| {
                                f64::from(q3[(bi * nq + i) * w + h * d + c])
                                    * f64::from(k3[(bi * nk + j) * kw + kvh * d + c])
                            })
                            .sum();
                        let b = bias
                            .as_ref()
                            .map_or(0.0, |t| f64::from(t[(h * nq + i) * nk + j]));
                        dot * heads.scale + b
                    })
                    .collect();
                let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                s.iter_mut().for_each(|x| *x = (*x - max).exp());
                let sum: f64 = s.iter().sum();
                for c in 0..d {
                    out[(bi * nq + i) * w + h * d + c] = (0..nk)
                        .map(|j| s[j] / sum * f64::from(v3[(bi * nk + j) * kw + kvh * d + c]))
                        .sum();
                }
            }
        }
    }
    out
}

fn worst(got: &Tensor, want: &[f64]) -> f64 {
    let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0.0, f64::max)
}

/// Query rows across row blocks and the cores' bands (and batch items inside a band),
/// grouped key/value heads, a bias, keys fewer and more than queries, and q k v narrowed
/// from one fused projection (rows 3W apart).
#[test]
fn equals_the_definition_in_float64() {
    if !sgemm::available() {
        eprintln!("no AVX2 or AVX-512 here: only candle's path is checked");
    }
    for (b, nq, nk, hn, hkv, d, with_bias) in [
        (1, 577, 577, 4, 4, 16, true),
        (2, 300, 300, 4, 2, 8, false),
        (3, 5, 9, 2, 1, 4, true),
        (1, 1, 40, 3, 3, 8, false),
        (2, 130, 7, 2, 2, 24, true),
    ] {
        let heads = Heads {
            heads: hn,
            kv_heads: hkv,
            head_dim: d,
            scale: (d as f64).powf(-0.5),
        };
        // Scores of a few units, so the softmax is neither flat nor one-hot.
        let q = tensor(&[b, nq, hn * d], 1, 6.0);
        let k = tensor(&[b, nk, hkv * d], 2, 6.0);
        let v = tensor(&[b, nk, hkv * d], 3, 2.0);
        let bias = with_bias.then(|| tensor(&[hn, nq, nk], 4, 3.0));
        let want = definition(&q, &k, &v, heads, bias.as_ref());
        let tol = 2e-6 * (d as f64).sqrt() + 1e-6;
        let fused = attend(&q, &k, &v, heads, bias.as_ref()).unwrap();
        assert_eq!(fused.dims(), &[b, nq, hn * d]);
        let candle = attend_candle([&q, &k, &v], heads, bias.as_ref()).unwrap();
        for (what, t) in [("fused", &fused), ("candle", &candle)] {
            let e = worst(t, &want);
            assert!(e <= tol, "{what} ({b}, {nq}, {nk}, {hn}/{hkv}, {d}): {e}");
        }
        if hkv == hn && nq == nk {
            // The same heads read from one fused (B, N, 3W) projection.
            let w = hn * d;
            let qkv = Tensor::cat(&[&q, &k, &v], 2).unwrap();
            let (qn, kn, vn) = (
                qkv.narrow(2, 0, w).unwrap(),
                qkv.narrow(2, w, w).unwrap(),
                qkv.narrow(2, 2 * w, w).unwrap(),
            );
            let e = worst(&attend(&qn, &kn, &vn, heads, bias.as_ref()).unwrap(), &want);
            assert!(e <= tol, "fused projection ({b}, {nq}): {e}");
        }
    }
}

#[test]
fn shapes_that_do_not_fit_are_errors() {
    let heads = Heads {
        heads: 2,
        kv_heads: 2,
        head_dim: 4,
        scale: 0.5,
    };
    let q = tensor(&[1, 3, 8], 1, 1.0);
    let k = tensor(&[1, 5, 8], 2, 1.0);
    assert!(attend(&q, &k, &k, heads, None).is_ok());
    assert!(attend(&q, &tensor(&[1, 5, 6], 2, 1.0), &k, heads, None).is_err());
    assert!(
        attend(
            &q,
            &k,
            &k,
            Heads {
                kv_heads: 3,
                ..heads
            },
            None
        )
        .is_err()
    );
    assert!(attend(&q, &k, &k, heads, Some(&tensor(&[2, 3, 4], 3, 1.0))).is_err());
    assert!(attend(&q, &k, &tensor(&[1, 4, 8], 2, 1.0), heads, None).is_err());
}

/// Timing at SigLIP's and BEiT's shapes, narrowed from a fused projection as the towers do
/// (`cargo test --lib attention_tests::timing -- --ignored --nocapture`).
#[test]
#[ignore = "a timing, not a check"]
fn timing() {
    for (n, heads, d) in [(256, 16, 72), (577, 16, 64)] {
        let width = heads * d;
        let qkv = tensor(&[1, n, 3 * width], 1, 1.0);
        let part = |i: usize| qkv.narrow(2, i * width, width).unwrap();
        let h = Heads {
            heads,
            kv_heads: heads,
            head_dim: d,
            scale: (d as f64).powf(-0.5),
        };
        let mut ts: Vec<f64> = (0..23)
            .map(|_| {
                let t = std::time::Instant::now();
                attend(&part(0), &part(1), &part(2), h, None).unwrap();
                t.elapsed().as_secs_f64()
            })
            .skip(3)
            .collect();
        ts.sort_by(f64::total_cmp);
        println!(
            "attention {n} x {heads} x {d}: median {:.2} ms, min {:.2} ms",
            ts[ts.len() / 2] * 1e3,
            ts[0] * 1e3
        );
    }
}
