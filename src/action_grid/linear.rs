//! The uniform 256-bin-per-dimension tokenisation (OpenVLA style) as a comparison baseline
//! for the adaptive grid: each of the 6 continuous dimensions binned on [-1, 1]
//! independently, decoded to bin centres; the gripper binarised at 0.5.

use super::gaussian::linspace;
use super::grid::bin_index;

/// Uniform per-dimension bins on [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct LinearBins {
    edges: Vec<f64>,
}

impl LinearBins {
    pub fn new(bins: usize) -> Self {
        Self {
            edges: linspace(-1.0, 1.0, bins.max(1) + 1),
        }
    }

    /// The common baseline: 256 bins.
    pub fn openvla() -> Self {
        Self::new(256)
    }

    /// Encode then decode a normalised action (clipped to [-1, 1]).
    pub fn round_trip(&self, n: &[f64; 7]) -> [f64; 7] {
        let mut out = [0.0; 7];
        for i in 0..6 {
            let v = n[i].clamp(-1.0, 1.0);
            let b = bin_index(&self.edges, v);
            out[i] = (self.edges[b] + self.edges[b + 1]) / 2.0;
        }
        out[6] = if n[6] >= 0.5 { 1.0 } else { 0.0 };
        out
    }
}
