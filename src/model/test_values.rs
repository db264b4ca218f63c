//! Deterministic test inputs for the kernels' tests (`amx`, `sgemm`, `linear`): xorshift
//! values in [-0.5, 0.5), the same for a seed on every machine.

pub(crate) fn uniform(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        })
        .collect()
}
