//! The Ego3D sinusoidal encoding (spec 5.5): each of a patch's `3 * reso^2` coordinates is
//! centred on (0, 0, 2) m and halved, then expanded to `[v, sin(2^k v), cos(2^k v)]` for
//! k = 0..7 (17 numbers; the raw value is kept and there is no factor pi), giving 204
//! features per patch for reso 2.

/// Frequency bands (2^0 .. 2^7).
pub const EGO3D_N_FREQS: usize = 8;

/// The centre subtracted from each point before halving, metres (x, y, z).
pub const EGO3D_CENTRE_M: [f32; 3] = [0.0, 0.0, 2.0];

/// Encodes one patch's coordinates (x, y, z repeated per sample) in float32. The output
/// has `coords.len() * (2 * 8 + 1)` features.
pub fn frequency_encoding(coords: &[f32]) -> Vec<f32> {
    frequency_encoding_n(coords, EGO3D_N_FREQS)
}

/// [`frequency_encoding`] with `n_freqs` bands (2^0 .. 2^(n-1)), for checkpoints whose
/// `n_freqs` differs from the release.
pub fn frequency_encoding_n(coords: &[f32], n_freqs: usize) -> Vec<f32> {
    let per = 2 * n_freqs + 1;
    let mut out = vec![0f32; coords.len() * per];
    for (i, &v) in coords.iter().enumerate() {
        let v = (v - EGO3D_CENTRE_M[i % 3]) / 2.0;
        let block = &mut out[i * per..(i + 1) * per];
        block[0] = v;
        for k in 0..n_freqs {
            let f = 2f32.powi(k as i32);
            block[1 + k] = (f * v).sin();
            block[1 + n_freqs + k] = (f * v).cos();
        }
    }
    out
}
