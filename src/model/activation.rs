//! The tanh-approximated GELU (Gemma2's and SigLIP's `gelu_pytorch_tanh`), the exact (erf)
//! GELU (ZoeDepth's BEiT and neck, the ViTs) and the tanh soft-cap (Gemma2's attention and
//! final logits) on the CPU, vectorisable and on all cores.
//!
//! candle computes both one value at a time through libm's `tanhf` (and its `expm1f`): at
//! real size that was a fifth of a bfloat16 step and a tenth of a float32 one (170 M GELUs
//! a frame). Here both are written through one exponential:
//! - `gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u))`, `u = sqrt(2/pi) (x + 0.044715 x^3)`
//!   (the same function, since `0.5 (1 + tanh(u)) = sigmoid(2u)`);
//! - `cap * tanh(x / cap) = cap (1 - 2 / (1 + exp(2x / cap)))`;
//! - `gelu(x) = 0.5 x (1 + erf(x / sqrt 2))`, erf by Abramowitz and Stegun 7.1.26
//!   (`1 - t P(t) exp(-z^2)`, `t = 1 / (1 + 0.3275911 |z|)`, within 1.5e-7 of erf), the
//!   negative side as `0.5 x t P(t) exp(-z^2)` directly (no cancellation). candle calls
//!   libm's `erff` per value, single-threaded: 56 M values in ZoeDepth's backbone alone.
//!
//! The exponential: `exp(x) = 2^n exp(r)`, `n` the integer nearest `x / ln 2` (rounded by the
//! 1.5 * 2^23 trick, which needs no SSE4.1 rounding instruction), `r = x - n ln 2` in two
//! parts (`ln 2` split so `n * LN2_HI` is exact), `|r| <= ln 2 / 2`, and `exp(r)` by its
//! Taylor series to `r^7 / 7!` (truncation below 5e-9 relative); `2^n` is built in the
//! exponent bits. Inputs are clamped to [-87, 88] so `2^n` stays a normal number; beyond,
//! the results are the limits (0 or x for the GELU, -cap or cap for the cap) to float32
//! precision. Checked against float64 in the tests: GELU within (4 + 8|u|) 2^-24 relative
//! (float32's own limit, as in candle's and PyTorch's: `u` carries a few `|u| 2^-24` of
//! rounding, which the exponential passes on to the tail), soft-cap within 2e-7 of `cap`.
//!
//! bfloat16 is widened, computed in float32 and rounded once. Other dtypes and devices go
//! through candle unchanged.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use half::bf16;

use crate::util::parallel::each_chunk_mut;

const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// 1.5 * 2^23: adding and subtracting it rounds a float32 of magnitude below 2^22 to an
/// integer.
const ROUNDER: f32 = 12_582_912.0;
/// Values per thread below which one core does the work.
const PER_THREAD: usize = 1 << 16;

#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // `shifted` is 1.5 * 2^23 + n exactly, so its bits are ROUNDER's plus n: the integer
    // comes from the bits, with no float-to-integer conversion (whose saturating Rust
    // semantics kept this loop scalar).
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let n_bits = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    f32::from_bits(n_bits.wrapping_add(127) << 23) * p
}

#[inline(always)]
fn gelu_tanh_one(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

#[inline(always)]
fn gelu_erf_one(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let p = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    // erfc(|z|) = t P(t) exp(-z^2); 1 + erf(z) is 2 - erfc(|z|) above zero, erfc(|z|) below.
    let tail = p * exp(-a * a);
    let one_plus_erf = if z >= 0.0 { 2.0 - tail } else { tail };
    0.5 * x * one_plus_erf
}

#[inline(always)]
fn softcap_one(x: f32, cap: f32) -> f32 {
    cap * (1.0 - 2.0 / (1.0 + exp(2.0 * x / cap)))
}

/// `f` over `src` into a new vector, split across the cores for large inputs.
fn map<S: Copy + Sync, D: Copy + Default + Send>(src: &[S], f: impl Fn(S) -> D + Sync) -> Vec<D> {
    let mut out = vec![D::default(); src.len()];
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(src.len().div_ceil(PER_THREAD))
        .max(1);
    let per = src.len().div_ceil(threads).max(1);
    let avx2 = avx2_fma();
    each_chunk_mut(&mut out, per, "an activation", |i, d| {
        let src = &src[i * per..];
        if avx2 {
            // SAFETY: the CPU has AVX2 and FMA (detected above).
            #[expect(unsafe_code, reason = "a loop compiled for AVX2, called where it runs")]
            unsafe {
                apply_avx2(src, d, &f)
            }
        } else {
            apply(src, d, &f);
        }
    });
    out
}

/// Whether this CPU runs AVX2 with FMA (the activations' 8-wide loop).
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[inline(always)]
fn apply<S: Copy, D>(src: &[S], dst: &mut [D], f: &impl Fn(S) -> D) {
    for (o, v) in dst.iter_mut().zip(src) {
        *o = f(*v);
    }
}

/// [`apply`] compiled for AVX2 and FMA, where the functions above vectorise 8 wide (the
/// baseline x86-64 build has SSE2 alone).
///
/// Callers check that the CPU has `avx2` and `fma` ([`avx2_fma`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn apply_avx2<S: Copy, D>(src: &[S], dst: &mut [D], f: &impl Fn(S) -> D) {
    apply(src, dst, f);
}

#[cfg(not(target_arch = "x86_64"))]
fn apply_avx2<S: Copy, D>(src: &[S], dst: &mut [D], f: &impl Fn(S) -> D) {
    apply(src, dst, f);
}

#[derive(Clone, Copy)]
enum Op {
    GeluTanh,
    GeluErf,
    SoftCap(f32),
}

impl CustomOp1 for Op {
    fn name(&self) -> &'static str {
        match self {
            Op::GeluTanh => "gelu-tanh",
            Op::GeluErf => "gelu-erf",
            Op::SoftCap(_) => "soft-cap",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("{}: contiguous input expected", self.name())
        };
        let op = *self;
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(match op {
                Op::GeluTanh => map(&v[a..b], gelu_tanh_one),
                Op::GeluErf => map(&v[a..b], gelu_erf_one),
                Op::SoftCap(cap) => map(&v[a..b], |x| softcap_one(x, cap)),
            }),
            CpuStorage::BF16(v) => CpuStorage::BF16(match op {
                Op::GeluTanh => map(&v[a..b], |x: bf16| {
                    bf16::from_f32(gelu_tanh_one(x.to_f32()))
                }),
                Op::GeluErf => map(&v[a..b], |x: bf16| bf16::from_f32(gelu_erf_one(x.to_f32()))),
                Op::SoftCap(cap) => map(&v[a..b], |x: bf16| {
                    bf16::from_f32(softcap_one(x.to_f32(), cap))
                }),
            }),
            _ => candle_core::bail!("{}: float32 or bfloat16 expected", self.name()),
        };
        Ok((out, l.shape().clone()))
    }
}

fn cpu_fast(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::BF16)
}

/// `gelu_pytorch_tanh`, as candle's `gelu`.
pub fn gelu_tanh(x: &Tensor) -> candle_core::Result<Tensor> {
    if cpu_fast(x) {
        x.contiguous()?.apply_op1_no_bwd(&Op::GeluTanh)
    } else {
        x.gelu()
    }
}

/// The exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, as candle's `gelu_erf` (within 2.5e-7
/// |x| of it: the erf approximation's error).
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    if cpu_fast(x) {
        x.contiguous()?.apply_op1_no_bwd(&Op::GeluErf)
    } else {
        x.gelu_erf()
    }
}

/// `cap * tanh(x / cap)`.
pub fn soft_cap(x: &Tensor, cap: f64) -> candle_core::Result<Tensor> {
    if cpu_fast(x) {
        x.contiguous()?.apply_op1_no_bwd(&Op::SoftCap(cap as f32))
    } else {
        (x / cap)?.tanh()? * cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<f32> {
        let mut v: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.005).collect();
        v.extend([
            -200.0, -90.0, -30.0, -9.5, -1e-6, 0.0, 1e-6, 3e-3, 9.5, 30.0, 90.0, 200.0,
        ]);
        v.extend((0..200).map(|i| (i as f32 - 100.0) * 0.37));
        v
    }

    #[test]
    fn gelu_within_float32_rounding_of_float64() {
        for x in samples() {
            let xd = f64::from(x);
            let u = (2.0 / std::f64::consts::PI).sqrt() * (xd + 0.044715 * xd * xd * xd);
            let want = 0.5 * xd * (1.0 + u.tanh());
            let got = f64::from(gelu_tanh_one(x));
            // Float32's own limit: u from x + 0.044715 x^3 carries a few |u| 2^-24 of
            // rounding (the cubic term is larger than u), which exp(-2u) turns into as much
            // relative error in the tail; plus a few roundings.
            let rel = (4.0 + 8.0 * u.abs().min(90.0)) * f64::from(f32::EPSILON) / 2.0;
            assert!(
                (got - want).abs() <= rel * want.abs() + 1e-12,
                "gelu({x}) = {got}, want {want}"
            );
        }
    }

    /// Against libm's erff through candle's `gelu_erf`: the approximation's 1.5e-7 on erf
    /// (times |x| / 2), plus a few roundings; the far negative tail to 1e-12.
    #[test]
    fn gelu_erf_within_the_approximation_of_candles() {
        let dev = candle_core::Device::Cpu;
        let xs = samples();
        let want: Vec<f32> = Tensor::new(xs.as_slice(), &dev)
            .unwrap()
            .gelu_erf()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (x, w) in xs.iter().zip(want) {
            let got = gelu_erf_one(*x);
            let tol = 2.5e-7 * x.abs() + 2.0 * f32::EPSILON * w.abs() + 1e-12;
            assert!((got - w).abs() <= tol, "gelu_erf({x}) = {got}, want {w}");
        }
    }

    /// A NaN activation stays NaN, as in PyTorch (a clamp that swallowed it would hide a
    /// broken checkpoint behind plausible numbers).
    #[test]
    fn nan_stays_nan() {
        assert!(exp(f32::NAN).is_nan());
        assert!(gelu_erf_one(f32::NAN).is_nan());
        assert!(gelu_tanh_one(f32::NAN).is_nan());
        assert!(softcap_one(f32::NAN, 30.0).is_nan());
    }

    #[test]
    fn soft_cap_within_float32_rounding_of_float64() {
        for cap in [30.0f32, 50.0] {
            for x in samples() {
                let want = f64::from(cap) * (f64::from(x) / f64::from(cap)).tanh();
                let got = f64::from(softcap_one(x, cap));
                assert!(
                    (got - want).abs() <= 2e-7 * f64::from(cap),
                    "cap {cap}, {x}: {got} vs {want}"
                );
            }
        }
    }

    /// Through the tensor ops, which run the AVX2-compiled loop on a CPU that has it (the
    /// large input spans threads), against candle's own ops.
    #[test]
    fn tensors_equal_candles_ops_to_rounding() {
        let dev = candle_core::Device::Cpu;
        let x = Tensor::new(samples(), &dev).unwrap();
        let big = Tensor::randn(0f32, 3.0, (3, 70_001), &dev).unwrap();
        for x in [x, big.t().unwrap()] {
            for dtype in [DType::F32, DType::BF16] {
                let x = x.to_dtype(dtype).unwrap();
                let pairs = [
                    (gelu_tanh(&x).unwrap(), x.gelu().unwrap()),
                    (gelu_erf(&x).unwrap(), x.gelu_erf().unwrap()),
                    (
                        soft_cap(&x, 30.0).unwrap(),
                        ((&x / 30.0).unwrap().tanh().unwrap() * 30.0).unwrap(),
                    ),
                ];
                for (got, want) in pairs {
                    assert_eq!(got.dims(), want.dims());
                    assert_eq!(got.dtype(), dtype);
                    let d = (got.to_dtype(DType::F32).unwrap()
                        - want.to_dtype(DType::F32).unwrap())
                    .unwrap()
                    .abs()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                    // candle rounds the soft-cap's three steps to bfloat16 each, we once:
                    // two bfloat16 steps of values up to 30 (0.125 each); float32 rounding.
                    let tol = if dtype == DType::BF16 { 0.25 } else { 1e-5 };
                    assert!(d <= tol, "{dtype:?}: {d}");
                }
            }
        }
    }
}
