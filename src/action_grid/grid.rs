//! The adaptive action grid: bin edges per dimension, encoding of a normalised action to
//! bins and decoding of bins to bin centres (spec 3.4, 3.5).
//!
//! Binning counts inner edges `<=` the value (numpy `digitize` on `edges[1..M]`), which for
//! any non-decreasing edge list is also the reference's rotation rule, so one routine serves
//! every axis. Decoding takes the arithmetic midpoint of the bin's two edges.

use super::gaussian::{Gaussian, edges_from_gaussian};
use super::spherical::{Spherical, cartesian_from_spherical, spherical_from_cartesian};
use super::{GridError, Result, check_action};

/// The six binned axes, in the reference's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    Theta,
    Phi,
    R,
    Roll,
    Pitch,
    Yaw,
}

impl Axis {
    pub const ALL: [Axis; 6] = [
        Axis::Theta,
        Axis::Phi,
        Axis::R,
        Axis::Roll,
        Axis::Pitch,
        Axis::Yaw,
    ];

    /// The reference's name (`theta`, `roll`...) as in Gaussian statistics files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Theta => "theta",
            Self::Phi => "phi",
            Self::R => "r",
            Self::Roll => "roll",
            Self::Pitch => "pitch",
            Self::Yaw => "yaw",
        }
    }

    /// The value range of the axis.
    pub fn range(self) -> (f64, f64) {
        use std::f64::consts::PI;
        match self {
            Self::Theta => (0.0, PI),
            Self::Phi => (-PI, PI),
            Self::R => (0.0, 3f64.sqrt()),
            Self::Roll | Self::Pitch | Self::Yaw => (-1.0, 1.0),
        }
    }
}

/// `of(axis)` for a struct with one `usize` field per axis (bin counts, bin indices).
macro_rules! impl_axis_field {
    ($t:ty) => {
        impl $t {
            /// The field of `axis`.
            pub fn of(&self, axis: Axis) -> usize {
                match axis {
                    Axis::Theta => self.theta,
                    Axis::Phi => self.phi,
                    Axis::R => self.r,
                    Axis::Roll => self.roll,
                    Axis::Pitch => self.pitch,
                    Axis::Yaw => self.yaw,
                }
            }
        }
    };
}

impl_axis_field!(BinCounts);

/// Bin counts per axis (the released model: 16, 32, 8, 16, 16, 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinCounts {
    pub theta: usize,
    pub phi: usize,
    pub r: usize,
    pub roll: usize,
    pub pitch: usize,
    pub yaw: usize,
}

impl BinCounts {
    pub const RELEASED: BinCounts = BinCounts {
        theta: 16,
        phi: 32,
        r: 8,
        roll: 16,
        pitch: 16,
        yaw: 16,
    };

    /// Number of translation tokens (theta x phi x r).
    pub fn translation_tokens(&self) -> usize {
        self.theta * self.phi * self.r
    }

    /// Number of rotation tokens (roll x pitch x yaw).
    pub fn rotation_tokens(&self) -> usize {
        self.roll * self.pitch * self.yaw
    }

    /// All action tokens including the two gripper tokens.
    pub fn total_tokens(&self) -> usize {
        self.translation_tokens() + self.rotation_tokens() + 2
    }
}

/// Bin indices of one encoded action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ActionBins {
    pub theta: usize,
    pub phi: usize,
    pub r: usize,
    pub roll: usize,
    pub pitch: usize,
    pub yaw: usize,
    /// 1 = open (value >= 0.5), 0 = closed.
    pub gripper: usize,
}

impl_axis_field!(ActionBins);

/// Bin edges for the six axes. Edges are used exactly as given (never re-snapped).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionGrid {
    edges: [Vec<f64>; 6],
}

/// Index of the bin holding `value`: the number of inner edges `<=` value.
pub fn bin_index(edges: &[f64], value: f64) -> usize {
    let inner = &edges[1..edges.len() - 1];
    inner.partition_point(|&e| e <= value)
}

impl ActionGrid {
    /// A grid from explicit edges (theta, phi, r, roll, pitch, yaw), each non-decreasing,
    /// finite, with at least two edges.
    pub fn from_edges(edges: [Vec<f64>; 6]) -> Result<Self> {
        for (axis, e) in Axis::ALL.iter().zip(&edges) {
            if e.len() < 2 {
                return Err(GridError::BadEdges {
                    axis: axis.name(),
                    what: format!("{} edges; need at least 2", e.len()),
                });
            }
            if let Some(i) = e.iter().position(|v| !v.is_finite()) {
                return Err(GridError::BadEdges {
                    axis: axis.name(),
                    what: format!("edge {i} is not finite ({})", e[i]),
                });
            }
            if let Some(i) = e.windows(2).position(|w| w[1] < w[0]) {
                return Err(GridError::BadEdges {
                    axis: axis.name(),
                    what: format!("edges decrease at {i}: {} > {}", e[i], e[i + 1]),
                });
            }
        }
        Ok(Self { edges })
    }

    /// Equal-probability edges from per-axis Gaussians (None = uniform) with a sigma floor.
    pub fn from_gaussians(
        bins: BinCounts,
        gaussians: impl Fn(Axis) -> Option<Gaussian>,
        min_sigma: f64,
    ) -> Result<Self> {
        let mut edges: [Vec<f64>; 6] = Default::default();
        for (i, axis) in Axis::ALL.into_iter().enumerate() {
            let (lo, hi) = axis.range();
            edges[i] = edges_from_gaussian(
                axis.name(),
                lo,
                hi,
                bins.of(axis),
                gaussians(axis),
                min_sigma,
            )?;
        }
        Self::from_edges(edges)
    }

    /// Uniform edges over each axis' range.
    pub fn uniform(bins: BinCounts) -> Self {
        let mut edges: [Vec<f64>; 6] = Default::default();
        for (i, axis) in Axis::ALL.into_iter().enumerate() {
            let (lo, hi) = axis.range();
            edges[i] = super::gaussian::linspace(lo, hi, bins.of(axis) + 1);
        }
        Self { edges }
    }

    pub fn edges(&self, axis: Axis) -> &[f64] {
        &self.edges[axis as usize]
    }

    pub fn bin_counts(&self) -> BinCounts {
        let n = |a: Axis| self.edges(a).len() - 1;
        BinCounts {
            theta: n(Axis::Theta),
            phi: n(Axis::Phi),
            r: n(Axis::R),
            roll: n(Axis::Roll),
            pitch: n(Axis::Pitch),
            yaw: n(Axis::Yaw),
        }
    }

    /// Midpoint of bin `bin` of `axis` (clamped into range).
    pub fn bin_centre(&self, axis: Axis, bin: usize) -> f64 {
        let e = self.edges(axis);
        let b = bin.min(e.len() - 2);
        (e[b] + e[b + 1]) / 2.0
    }

    /// Bins of a normalised action (clipped to [-1, 1] first). Non-finite input is an error.
    pub fn encode(&self, normalized: &[f64]) -> Result<ActionBins> {
        let a = check_action(normalized)?.map(|v| v.clamp(-1.0, 1.0));
        let s = spherical_from_cartesian([a[0], a[1], a[2]]);
        Ok(ActionBins {
            theta: bin_index(self.edges(Axis::Theta), s.theta_rad),
            phi: bin_index(self.edges(Axis::Phi), s.phi_rad),
            r: bin_index(self.edges(Axis::R), s.r),
            roll: bin_index(self.edges(Axis::Roll), a[3]),
            pitch: bin_index(self.edges(Axis::Pitch), a[4]),
            yaw: bin_index(self.edges(Axis::Yaw), a[5]),
            gripper: usize::from(a[6] >= 0.5),
        })
    }

    /// The (theta, phi, r) bin centres of `bins`.
    pub fn translation_centre(&self, bins: &ActionBins) -> Spherical {
        Spherical {
            theta_rad: self.bin_centre(Axis::Theta, bins.theta),
            phi_rad: self.bin_centre(Axis::Phi, bins.phi),
            r: self.bin_centre(Axis::R, bins.r),
        }
    }

    /// The normalised action a set of bins decodes to: bin midpoints, translation back to
    /// Cartesian and clipped to [-1, 1], gripper 0 or 1.
    pub fn decode(&self, bins: &ActionBins) -> [f64; 7] {
        let xyz =
            cartesian_from_spherical(self.translation_centre(bins)).map(|v| v.clamp(-1.0, 1.0));
        [
            xyz[0],
            xyz[1],
            xyz[2],
            self.bin_centre(Axis::Roll, bins.roll),
            self.bin_centre(Axis::Pitch, bins.pitch),
            self.bin_centre(Axis::Yaw, bins.yaw),
            if bins.gripper >= 1 { 1.0 } else { 0.0 },
        ]
    }
}
