//! Action distributions of a whole dataset against the grid: what a curator checks.
//!
//! From every action of a dataset (raw units) and the statistics that normalise it:
//! per-dimension histograms of raw and normalised values with q01/q99/mean/std, how often
//! normalisation clips, zero-variance dimensions; occupancy of every grid bin against the
//! equal-probability promise (empty and overfull bins, entropy); the encode -> decode round
//! trip error per dimension and as direction vs magnitude, beside the uniform 256-bin
//! baseline; and idle (no-op) steps per episode under an adjustable threshold.
//!
//! Built incrementally ([`DistributionBuilder::add_episode`]) so a worker can report progress
//! and stop between episodes.

use serde::Serialize;

use super::grid::{ActionGrid, Axis};
use super::linear::LinearBins;
use super::normalize::{ActionStatistics, percentile_sorted};
use super::tokens::TokenLayout;
use super::{Result, read_action};

/// Fixed-range histogram; values outside go to the end bins, NaN is skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn new(lo: f64, hi: f64, bins: usize) -> Self {
        let hi = if hi > lo { hi } else { lo + 1e-9 };
        Self {
            lo,
            hi,
            counts: vec![0; bins.max(1)],
        }
    }

    pub fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        let n = self.counts.len();
        let t = ((v - self.lo) / (self.hi - self.lo) * n as f64).floor();
        let i = if t < 0.0 { 0 } else { (t as usize).min(n - 1) };
        self.counts[i] += 1;
    }

    /// Centre of bin `i`.
    pub fn centre(&self, i: usize) -> f64 {
        self.lo + (i as f64 + 0.5) * (self.hi - self.lo) / self.counts.len() as f64
    }
}

/// One action dimension.
#[derive(Debug, Clone, Serialize)]
pub struct DimensionSummary {
    pub name: &'static str,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub q01: f64,
    pub q99: f64,
    /// The statistics' q01/q99 used for normalisation.
    pub norm_q01: f64,
    pub norm_q99: f64,
    pub zero_variance: bool,
    /// Fraction of actions whose normalised value was clipped to +-1.
    pub clipped_fraction: f64,
    pub raw_histogram: Histogram,
    pub normalized_histogram: Histogram,
    /// |decoded - normalised| on the adaptive grid (normalised units).
    pub adaptive_error_mean: f64,
    pub adaptive_error_max: f64,
    /// The same for 256 uniform bins.
    pub linear256_error_mean: f64,
    pub linear256_error_max: f64,
    /// Histograms of |decoded - normalised| for both schemes, on [0, ROUND_TRIP_HIST_MAX].
    pub adaptive_error_histogram: Histogram,
    pub linear256_error_histogram: Histogram,
}

/// Upper end of the round-trip error histograms (normalised units; larger errors land in the
/// last bin).
pub const ROUND_TRIP_HIST_MAX: f64 = 0.3;

/// Use of one grid axis.
#[derive(Debug, Clone, Serialize)]
pub struct AxisOccupancy {
    pub axis: &'static str,
    pub counts: Vec<u64>,
    /// Count per bin if the equal-probability promise held.
    pub expected_per_bin: f64,
    pub empty_bins: usize,
    /// Bins with more than twice the expected count.
    pub overfull_bins: usize,
    pub entropy_bits: f64,
    /// log2(bins): the entropy of a perfectly even use.
    pub max_entropy_bits: f64,
}

/// The grid a new robot's data would get (spec 3.2-3.3, 4): Gaussians fitted to this
/// dataset's normalised theta/phi/r/roll/pitch/yaw (sample mean and standard deviation),
/// equal-probability edges with the pre-training sigma floor, beside the grid in use.
#[derive(Debug, Clone, Serialize)]
pub struct GridRefit {
    pub min_sigma: f64,
    pub axes: Vec<AxisRefit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AxisRefit {
    pub axis: &'static str,
    pub mu: f64,
    pub sigma: f64,
    pub current_edges: Vec<f64>,
    pub refit_edges: Vec<f64>,
    /// Largest |refit - current| over the edges.
    pub max_edge_shift: f64,
}

/// The sigma floor the SpatialVLA pre-training script used.
pub const PRETRAINING_MIN_SIGMA: f64 = 0.5;

/// Fits a Gaussian per grid axis to normalised actions (clipped to [-1, 1]).
pub fn fit_gaussians(normalized: &[[f64; 7]]) -> Vec<(Axis, super::Gaussian)> {
    let mut cols: [Vec<f64>; 6] = Default::default();
    for a in normalized {
        let c = a.map(|v| v.clamp(-1.0, 1.0));
        let s = super::spherical::spherical_from_cartesian([c[0], c[1], c[2]]);
        for (i, v) in [s.theta_rad, s.phi_rad, s.r, c[3], c[4], c[5]]
            .into_iter()
            .enumerate()
        {
            cols[i].push(v);
        }
    }
    Axis::ALL
        .into_iter()
        .zip(cols)
        .map(|(axis, v)| {
            let n = v.len().max(1) as f64;
            let mu = v.iter().sum::<f64>() / n;
            let sigma = (v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / n).sqrt();
            (axis, super::Gaussian { mu, sigma })
        })
        .collect()
}

/// Idle steps of one episode.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeIdle {
    pub episode: String,
    pub steps: usize,
    /// Steps whose translation and rotation are all below the threshold.
    pub idle_steps: Vec<usize>,
}

/// Everything the distribution panel and `stats` report.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub actions: usize,
    pub episodes: usize,
    /// Which statistics normalised the data.
    pub statistics: String,
    pub dimensions: Vec<DimensionSummary>,
    pub occupancy: Vec<AxisOccupancy>,
    pub translation_tokens_used: usize,
    pub translation_tokens_total: usize,
    pub rotation_tokens_used: usize,
    pub rotation_tokens_total: usize,
    pub gripper_open_fraction: f64,
    /// Angle between normalised translation and its decoded value, degrees.
    pub direction_error_deg: Histogram,
    pub direction_error_deg_mean: f64,
    /// Decoded radius minus true radius (normalised units).
    pub magnitude_error: Histogram,
    pub magnitude_error_abs_mean: f64,
    pub noop_threshold: f64,
    pub idle: Vec<EpisodeIdle>,
    pub idle_total: usize,
    /// The grid this dataset would get, against the grid in use (None without actions).
    pub refit: Option<GridRefit>,
}

/// Names of the 7 dimensions.
pub const DIMENSION_NAMES: [&str; 7] = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"];

/// Accumulates episodes, then computes the [`Distribution`].
pub struct DistributionBuilder {
    actions: Vec<[f64; 7]>,
    idle: Vec<EpisodeIdle>,
    noop_threshold: f64,
}

/// Number of histogram bins for raw and normalised values.
const HIST_BINS: usize = 60;

impl DistributionBuilder {
    /// `noop_threshold`: a step is idle when |dx..dyaw| (raw units) are all below it.
    pub fn new(noop_threshold: f64) -> Self {
        Self {
            actions: Vec::new(),
            idle: Vec::new(),
            noop_threshold,
        }
    }

    pub fn add_episode(&mut self, name: &str, actions: &[[f64; 7]]) {
        let idle_steps = actions
            .iter()
            .enumerate()
            .filter(|(_, a)| a[..6].iter().all(|v| v.abs() < self.noop_threshold))
            .map(|(i, _)| i)
            .collect();
        self.idle.push(EpisodeIdle {
            episode: name.to_owned(),
            steps: actions.len(),
            idle_steps,
        });
        self.actions
            .extend(actions.iter().filter(|a| a.iter().all(|v| v.is_finite())));
    }

    /// All actions collected so far (for computing a dataset's own statistics).
    pub fn actions(&self) -> &[[f64; 7]] {
        &self.actions
    }

    pub fn finish(
        self,
        grid: &ActionGrid,
        layout: &TokenLayout,
        stats: &ActionStatistics,
        stats_label: &str,
    ) -> Result<Distribution> {
        let n = self.actions.len();
        let linear = LinearBins::openvla();
        let bins = grid.bin_counts();
        let mut axis_counts: Vec<Vec<u64>> =
            Axis::ALL.iter().map(|&a| vec![0; bins.of(a)]).collect();
        let mut t_used = vec![false; bins.translation_tokens()];
        let mut r_used = vec![false; bins.rotation_tokens()];
        let mut normalized_hist: Vec<Histogram> = (0..7)
            .map(|_| Histogram::new(-1.0, 1.0, HIST_BINS))
            .collect();
        let mut clipped = [0usize; 7];
        let mut ad_hist: Vec<Histogram> = (0..7)
            .map(|_| Histogram::new(0.0, ROUND_TRIP_HIST_MAX, HIST_BINS))
            .collect();
        let mut li_hist = ad_hist.clone();
        let (mut ad_sum, mut ad_max, mut li_sum, mut li_max) =
            ([0.0f64; 7], [0.0f64; 7], [0.0f64; 7], [0.0f64; 7]);
        let mut dir_hist = Histogram::new(0.0, 90.0, HIST_BINS);
        let mut mag_hist = Histogram::new(-0.5, 0.5, HIST_BINS);
        let (mut dir_sum, mut dir_n, mut mag_sum) = (0.0, 0usize, 0.0);
        let mut open = 0usize;
        let mut normalized_all = Vec::with_capacity(n);
        for a in &self.actions {
            let r = read_action(grid, layout, stats, a)?;
            normalized_all.push(r.normalized);
            for (i, axis) in Axis::ALL.into_iter().enumerate() {
                axis_counts[i][r.bins.of(axis)] += 1;
            }
            let local = layout.local_indices(&r.bins);
            t_used[local[0] as usize] = true;
            r_used[(local[1] as usize) - bins.translation_tokens()] = true;
            open += r.bins.gripper;
            let lin = linear.round_trip(&r.normalized);
            for d in 0..7 {
                normalized_hist[d].add(r.normalized[d]);
                if r.clipped[d] {
                    clipped[d] += 1;
                }
                let (ea, el) = (
                    (r.decoded_normalized[d] - r.normalized[d]).abs(),
                    (lin[d] - r.normalized[d]).abs(),
                );
                ad_hist[d].add(ea);
                li_hist[d].add(el);
                ad_sum[d] += ea;
                ad_max[d] = ad_max[d].max(ea);
                li_sum[d] += el;
                li_max[d] = li_max[d].max(el);
            }
            if r.direction_error_rad.is_finite() {
                let deg = r.direction_error_rad.to_degrees();
                dir_hist.add(deg);
                dir_sum += deg;
                dir_n += 1;
            }
            mag_hist.add(r.magnitude_error);
            mag_sum += r.magnitude_error.abs();
        }
        let nf = n.max(1) as f64;
        let dimensions = (0..7)
            .map(|d| {
                let mut v: Vec<f64> = self.actions.iter().map(|a| a[d]).collect();
                v.sort_by(f64::total_cmp);
                let (min, max) = (
                    v.first().copied().unwrap_or(0.0),
                    v.last().copied().unwrap_or(0.0),
                );
                let mean = v.iter().sum::<f64>() / nf;
                let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / nf).sqrt();
                let mut raw_histogram = Histogram::new(min, max, HIST_BINS);
                v.iter().for_each(|&x| raw_histogram.add(x));
                DimensionSummary {
                    name: DIMENSION_NAMES[d],
                    min,
                    max,
                    mean,
                    std,
                    q01: if v.is_empty() {
                        0.0
                    } else {
                        percentile_sorted(&v, 1.0)
                    },
                    q99: if v.is_empty() {
                        0.0
                    } else {
                        percentile_sorted(&v, 99.0)
                    },
                    norm_q01: stats.q01[d],
                    norm_q99: stats.q99[d],
                    zero_variance: min == max,
                    clipped_fraction: clipped[d] as f64 / nf,
                    raw_histogram,
                    normalized_histogram: normalized_hist[d].clone(),
                    adaptive_error_mean: ad_sum[d] / nf,
                    adaptive_error_max: ad_max[d],
                    linear256_error_mean: li_sum[d] / nf,
                    linear256_error_max: li_max[d],
                    adaptive_error_histogram: ad_hist[d].clone(),
                    linear256_error_histogram: li_hist[d].clone(),
                }
            })
            .collect();
        let occupancy = Axis::ALL
            .into_iter()
            .zip(axis_counts)
            .map(|(axis, counts)| {
                let m = counts.len() as f64;
                let expected = n as f64 / m;
                let entropy = counts
                    .iter()
                    .filter(|&&c| c > 0)
                    .map(|&c| {
                        let p = c as f64 / nf;
                        -p * p.log2()
                    })
                    .sum();
                AxisOccupancy {
                    axis: axis.name(),
                    empty_bins: counts.iter().filter(|&&c| c == 0).count(),
                    overfull_bins: counts
                        .iter()
                        .filter(|&&c| c as f64 > 2.0 * expected)
                        .count(),
                    expected_per_bin: expected,
                    entropy_bits: entropy,
                    max_entropy_bits: m.log2(),
                    counts,
                }
            })
            .collect();
        let refit = if n == 0 {
            None
        } else {
            let fitted = fit_gaussians(&normalized_all);
            let lookup = |axis: Axis| fitted.iter().find(|(a, _)| *a == axis).map(|(_, g)| *g);
            let new_grid =
                ActionGrid::from_gaussians(grid.bin_counts(), lookup, PRETRAINING_MIN_SIGMA)?;
            Some(GridRefit {
                min_sigma: PRETRAINING_MIN_SIGMA,
                axes: fitted
                    .iter()
                    .map(|(axis, g)| {
                        let (cur, new) = (grid.edges(*axis), new_grid.edges(*axis));
                        AxisRefit {
                            axis: axis.name(),
                            mu: g.mu,
                            sigma: g.sigma,
                            current_edges: cur.to_vec(),
                            refit_edges: new.to_vec(),
                            max_edge_shift: cur
                                .iter()
                                .zip(new)
                                .map(|(a, b)| (a - b).abs())
                                .fold(0.0, f64::max),
                        }
                    })
                    .collect(),
            })
        };
        Ok(Distribution {
            refit,
            actions: n,
            episodes: self.idle.len(),
            statistics: stats_label.to_owned(),
            dimensions,
            occupancy,
            translation_tokens_used: t_used.iter().filter(|&&u| u).count(),
            translation_tokens_total: t_used.len(),
            rotation_tokens_used: r_used.iter().filter(|&&u| u).count(),
            rotation_tokens_total: r_used.len(),
            gripper_open_fraction: open as f64 / nf,
            direction_error_deg: dir_hist,
            direction_error_deg_mean: if dir_n > 0 {
                dir_sum / dir_n as f64
            } else {
                f64::NAN
            },
            magnitude_error: mag_hist,
            magnitude_error_abs_mean: mag_sum / nf,
            noop_threshold: self.noop_threshold,
            idle_total: self.idle.iter().map(|e| e.idle_steps.len()).sum(),
            idle: self.idle,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action_grid::BinCounts;

    #[test]
    fn histogram_bins_and_clamps() {
        let mut h = Histogram::new(0.0, 1.0, 4);
        for v in [-1.0, 0.1, 0.3, 0.99, 5.0, f64::NAN] {
            h.add(v);
        }
        assert_eq!(h.counts, [2, 1, 0, 2]);
        assert!((h.centre(0) - 0.125).abs() < 1e-12);
    }

    #[test]
    fn uniform_data_on_a_uniform_grid_fills_every_bin_evenly() {
        let grid = ActionGrid::uniform(BinCounts::RELEASED);
        let layout = TokenLayout::RELEASED;
        // Rotation values spread evenly over [-1, 1]; translation fixed.
        let acts: Vec<[f64; 7]> = (0..1600)
            .map(|i| {
                let v = -1.0 + (f64::from(i) + 0.5) / 800.0;
                [0.1, 0.1, 0.1, v, v, v, f64::from(i % 2)]
            })
            .collect();
        let stats = ActionStatistics {
            q01: [-1.0; 7],
            q99: [1.0; 7],
            min: None,
            max: None,
            mean: None,
            std: None,
            mask: Some([true, true, true, true, true, true, false]),
        };
        let mut b = DistributionBuilder::new(1e-3);
        b.add_episode("e", &acts);
        let d = b.finish(&grid, &layout, &stats, "test").expect("finish");
        let roll = d.occupancy.iter().find(|o| o.axis == "roll").expect("roll");
        assert_eq!(roll.empty_bins, 0);
        assert_eq!(roll.overfull_bins, 0);
        assert!(
            (roll.entropy_bits - 4.0).abs() < 1e-3,
            "{}",
            roll.entropy_bits
        );
        let theta = d
            .occupancy
            .iter()
            .find(|o| o.axis == "theta")
            .expect("theta");
        assert_eq!(
            theta.empty_bins, 15,
            "a fixed translation uses one theta bin"
        );
        assert_eq!(d.translation_tokens_used, 1);
        assert!(d.dimensions[0].zero_variance && !d.dimensions[3].zero_variance);
        assert!((d.gripper_open_fraction - 0.5).abs() < 1e-12);
        assert_eq!(d.idle_total, 0);
    }
}

#[cfg(test)]
mod refit_tests {
    use super::*;

    #[test]
    fn fitted_gaussians_follow_the_data() {
        // Data concentrated around roll = 0.5 pulls the refit roll edges towards 0.5.
        let acts: Vec<[f64; 7]> = (0..500)
            .map(|i| {
                let t = f64::from(i) / 500.0 - 0.5;
                [0.3, 0.1, -0.2, 0.5 + 0.2 * t, 0.0, 0.0, 1.0]
            })
            .collect();
        let g = fit_gaussians(&acts);
        let roll = g.iter().find(|(a, _)| *a == Axis::Roll).expect("roll").1;
        assert!((roll.mu - 0.5).abs() < 1e-3 && roll.sigma < 0.1);
        let theta = g.iter().find(|(a, _)| *a == Axis::Theta).expect("theta").1;
        assert!(theta.sigma < 1e-12, "constant translation: {}", theta.sigma);
    }
}
