//! Checks over the whole dataset, after every episode has been read: outliers beyond k
//! standard deviations, dimensions frozen or saturated at a bound dataset-wide,
//! near-duplicate episodes, task imbalance, normalisation clipping and grid use against the
//! checkpoint's statistics, and a declared `stats.json` that disagrees with the data.

use std::collections::HashMap;

use crate::action_grid::distribution::{DIMENSION_NAMES, Distribution};
use crate::episode::DeclaredStats;

use super::{Accumulators, DoctorOptions, EpisodeFacts, Finding, Severity};

/// Share of steps exactly at a bound that makes it a saturation worth knowing (and at least
/// [`SATURATION_MIN_STEPS`]); from [`SATURATION_WARNING`] on it distorts the distribution
/// enough to be a warning (a controller clipping at its limit most of the time).
const SATURATION_FRACTION: f64 = 0.01;
const SATURATION_WARNING: f64 = 0.25;
const SATURATION_MIN_STEPS: u64 = 3;
/// Share of a dimension clipped by the key's q01/q99 worth a warning. By construction about
/// 2 % are clipped on the data the statistics came from, and a small sample of it can show
/// several times that; a wrong key or wrong units clip far more.
const CLIPPED_FRACTION: f64 = 0.10;
/// Grid occupancy is only judged where each bin expects this many actions (fewer, and empty
/// bins are sampling noise).
const MIN_EXPECTED_PER_BIN: f64 = 20.0;
/// Near duplicates: every fingerprint value within this many standard deviations.
const DUPLICATE_SIGMA: f64 = 0.01;
/// Task imbalance: the most common task this many times the least common.
const IMBALANCE_RATIO: usize = 10;
/// A declared mean more than this many standard deviations from the data's.
const STATS_MEAN_SIGMA: f64 = 0.1;

pub fn check(
    facts: &[EpisodeFacts],
    acc: &Accumulators,
    dist: Option<&Distribution>,
    have_key: bool,
    declared: Option<&DeclaredStats>,
    opts: &DoctorOptions,
    out: &mut Vec<Finding>,
) {
    outliers(facts, acc, opts, out);
    state_jumps(facts, acc, opts, out);
    frozen_and_saturated(acc, out);
    duplicates(facts, acc, out);
    action_state(facts, out);
    tasks(facts, out);
    if let Some(d) = dist {
        grid(d, have_key, out);
        if let Some(s) = declared {
            declared_stats(d, s, out);
        }
    }
}

fn outliers(
    facts: &[EpisodeFacts],
    acc: &Accumulators,
    opts: &DoctorOptions,
    out: &mut Vec<Finding>,
) {
    // The gripper is two-valued; its "outliers" are its states.
    for f in facts.iter().filter(|f| f.readable) {
        let mut dims = Vec::new();
        let mut worst: Option<(f64, usize)> = None;
        for (d, name) in DIMENSION_NAMES.iter().enumerate().take(6) {
            for (v, s) in [f.action_min[d], f.action_max[d]] {
                let z = acc.action[d].z_without(v);
                if v.is_finite() && z > opts.sigma_k {
                    if !dims.iter().any(|x| x == name) {
                        dims.push((*name).to_owned());
                    }
                    if worst.is_none_or(|(wz, _)| z > wz) {
                        worst = Some((z, s));
                    }
                }
            }
        }
        if let Some((z, s)) = worst {
            out.push(
                Finding::new(
                    "values.outlier",
                    Severity::Warning,
                    format!(
                        "{} reach{} {z:.1} standard deviations from the dataset's mean (step {s})",
                        dims.join(", "),
                        if dims.len() == 1 { "es" } else { "" }
                    ),
                )
                .episode(f.index)
                .steps(s, s)
                .dims(dims),
            );
        }
    }
}

fn state_jumps(
    facts: &[EpisodeFacts],
    acc: &Accumulators,
    opts: &DoctorOptions,
    out: &mut Vec<Finding>,
) {
    for f in facts.iter().filter(|f| f.readable) {
        let mut worst: Option<(f64, usize, usize)> = None;
        for (d, &(jump, s)) in f.state_jump_max.iter().enumerate() {
            let Some(m) = acc.state_delta.get(d) else {
                continue;
            };
            // The largest |change| is one of the changes added (its sign is lost, so
            // measure both and keep the smaller: never more alarming than the truth).
            let z = m.z_without(jump).min(m.z_without(-jump));
            if z > opts.sigma_k && worst.is_none_or(|(wz, _, _)| z > wz) {
                worst = Some((z, s, d));
            }
        }
        if let Some((z, s, d)) = worst {
            let name = acc
                .state_names
                .get(d)
                .cloned()
                .unwrap_or_else(|| format!("state[{d}]"));
            out.push(
                Finding::new(
                    "values.state_jump",
                    Severity::Warning,
                    format!(
                        "state `{name}` jumps {z:.1} standard deviations of its step changes between steps {s} and {}",
                        s + 1
                    ),
                )
                .episode(f.index)
                .steps(s, s + 1)
                .dims(vec![name]),
            );
        }
    }
}

fn frozen_and_saturated(acc: &Accumulators, out: &mut Vec<Finding>) {
    for (d, name) in DIMENSION_NAMES.iter().enumerate() {
        let m = &acc.action[d];
        if m.n < 2 {
            continue;
        }
        let name = (*name).to_owned();
        if m.std() == 0.0 {
            out.push(
                Finding::new(
                    "values.frozen",
                    Severity::Warning,
                    format!(
                        "{name} is {} in every step of the dataset (zero variance: the model learns nothing from it)",
                        m.mean
                    ),
                )
                .dims(vec![name]),
            );
            continue;
        }
        if d == 6 {
            continue;
        }
        let limit = SATURATION_MIN_STEPS.max((SATURATION_FRACTION * m.n as f64).ceil() as u64);
        for (which, (bound, count), eps) in [
            ("largest", acc.at_max[d], &acc.at_max_episodes[d]),
            ("smallest", acc.at_min[d], &acc.at_min_episodes[d]),
        ] {
            if count >= limit {
                let share = count as f64 / m.n as f64;
                out.push(
                    Finding::new(
                        "values.saturated",
                        if share >= SATURATION_WARNING {
                            Severity::Warning
                        } else {
                            Severity::Info
                        },
                        format!(
                            "{name}: {count} steps ({:.1} %) sit exactly at its {which} value {}: clipped or saturated at a bound",
                            100.0 * share,
                            bound as f32
                        ),
                    )
                    .episodes(eps.clone())
                    .dims(vec![name.clone()]),
                );
            }
        }
    }
}

fn duplicates(facts: &[EpisodeFacts], acc: &Accumulators, out: &mut Vec<Finding>) {
    let sd: Vec<f64> = (0..7).map(|d| acc.action[d].std().max(1e-9)).collect();
    let key = |f: &EpisodeFacts| -> (usize, Vec<i64>) {
        let means = (0..7).map(|d| {
            let mean = f.fingerprint.iter().map(|r| f64::from(r[d])).sum::<f64>()
                / f.fingerprint.len().max(1) as f64;
            (mean / (5.0 * DUPLICATE_SIGMA * sd[d])).round() as i64
        });
        (f.steps, means.collect())
    };
    let mut buckets: HashMap<(usize, Vec<i64>), Vec<&EpisodeFacts>> = HashMap::new();
    for f in facts.iter().filter(|f| f.readable && f.steps > 1) {
        buckets.entry(key(f)).or_default().push(f);
    }
    let mut pairs = Vec::new();
    for group in buckets.values().filter(|g| g.len() > 1) {
        for (k, a) in group.iter().enumerate() {
            for b in &group[k + 1..] {
                let close = a.fingerprint.iter().zip(&b.fingerprint).all(|(x, y)| {
                    (0..7).all(|d| f64::from((x[d] - y[d]).abs()) <= DUPLICATE_SIGMA * sd[d])
                });
                if close {
                    pairs.push((a.index.min(b.index), a.index.max(b.index)));
                }
            }
        }
    }
    pairs.sort_unstable();
    for (a, b) in pairs {
        out.push(
            Finding::new(
                "episodes.near_duplicate",
                Severity::Warning,
                format!(
                    "episode {b} repeats episode {a}: same length, actions within {DUPLICATE_SIGMA} standard deviations at every sampled step"
                ),
            )
            .episodes(vec![b]),
        );
    }
}

fn tasks(facts: &[EpisodeFacts], out: &mut Vec<Finding>) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for f in facts.iter().filter(|f| !f.instruction.trim().is_empty()) {
        *counts.entry(f.instruction.trim()).or_default() += 1;
    }
    if counts.len() < 2 {
        return;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let (top, bottom) = (v[0], v[v.len() - 1]);
    if top.1 >= IMBALANCE_RATIO * bottom.1 {
        out.push(Finding::new(
            "episodes.task_imbalance",
            Severity::Info,
            format!(
                "{} tasks; \"{}\" has {} episodes, \"{}\" only {}",
                v.len(),
                top.0,
                top.1,
                bottom.0,
                bottom.1
            ),
        ));
    }
}

fn grid(d: &Distribution, have_key: bool, out: &mut Vec<Finding>) {
    if have_key {
        for dim in &d.dimensions {
            if dim.clipped_fraction > CLIPPED_FRACTION {
                out.push(
                    Finding::new(
                        "normalisation.clipped",
                        Severity::Warning,
                        format!(
                            "{:.1} % of {} values fall outside {}'s q01..q99 ({:+.4}..{:+.4}) and are clipped before tokenising",
                            100.0 * dim.clipped_fraction,
                            dim.name,
                            d.statistics,
                            dim.norm_q01,
                            dim.norm_q99
                        ),
                    )
                    .dims(vec![dim.name.to_owned()]),
                );
            }
        }
    }
    for o in &d.occupancy {
        let bins = o.counts.len();
        if o.expected_per_bin >= MIN_EXPECTED_PER_BIN && (o.empty_bins > 0 || o.overfull_bins > 0) {
            out.push(
                Finding::new(
                    "grid.occupancy",
                    Severity::Info,
                    format!(
                        "{} axis: {} of {bins} bins unused, {} overfull (over twice the equal-probability count), entropy {:.2} of {:.2} bit",
                        o.axis, o.empty_bins, o.overfull_bins, o.entropy_bits, o.max_entropy_bits
                    ),
                )
                .dims(vec![o.axis.to_owned()]),
            );
        }
    }
}

fn declared_stats(d: &Distribution, s: &DeclaredStats, out: &mut Vec<Finding>) {
    if s.mean.len() != 7 || s.min.len() != 7 || s.max.len() != 7 {
        return;
    }
    let mut dims = Vec::new();
    for (k, dim) in d.dimensions.iter().enumerate() {
        let range = (dim.max - dim.min).max(1e-9);
        let mean_off = (s.mean[k] - dim.mean).abs() > STATS_MEAN_SIGMA * dim.std.max(1e-9);
        let bounds_off =
            (s.min[k] - dim.min).abs() > 0.01 * range || (s.max[k] - dim.max).abs() > 0.01 * range;
        if mean_off || bounds_off {
            dims.push(format!(
                "{} (declared mean {:+.4}, min {:+.4}, max {:+.4}; data {:+.4}, {:+.4}, {:+.4})",
                dim.name, s.mean[k], s.min[k], s.max[k], dim.mean, dim.min, dim.max
            ));
        }
    }
    if !dims.is_empty() {
        out.push(
            Finding::new(
                "stats.declared_mismatch",
                Severity::Warning,
                format!(
                    "{} disagrees with the actions: {}",
                    s.source.display(),
                    dims.join("; ")
                ),
            )
            .dims(
                d.dimensions
                    .iter()
                    .map(|x| x.name.to_owned())
                    .filter(|n| dims.iter().any(|t| t.starts_with(n.as_str())))
                    .collect(),
            ),
        );
    }
}

/// The dataset's typical agreement between a translation action and the next position change
/// must be clear (median correlation above [`AGREE_MEDIAN`]) before an episode is judged
/// against it; an episode whose correlation is below [`DISAGREE`] then moves against its
/// actions (a flipped sign, a different frame, a misaligned recording).
const AGREE_MEDIAN: f64 = 0.5;
const DISAGREE: f64 = -0.2;
/// Below this median on every translation axis, the actions as a whole do not show up in the
/// state.
const NO_AGREEMENT: f64 = 0.1;

fn action_state(facts: &[EpisodeFacts], out: &mut Vec<Finding>) {
    let corr: Vec<(usize, [f64; 3])> = facts
        .iter()
        .filter_map(|f| f.action_state_corr.map(|c| (f.index, c)))
        .collect();
    if corr.len() < 2 {
        return;
    }
    let median = |axis: usize| {
        let mut v: Vec<f64> = corr.iter().map(|(_, c)| c[axis]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians = [median(0), median(1), median(2)];
    if medians.iter().all(|m| *m < NO_AGREEMENT) {
        out.push(
            Finding::new(
                "values.action_state_disagree",
                Severity::Warning,
                format!(
                    "the translation actions do not show up in the next end-effector positions (median correlation x {:.2}, y {:.2}, z {:.2}): another frame or unit, absolute targets, or misaligned columns",
                    medians[0], medians[1], medians[2]
                ),
            )
            .dims(DIMENSION_NAMES[..3].iter().map(|d| (*d).to_owned()).collect()),
        );
        return;
    }
    for (i, c) in &corr {
        let dims: Vec<String> = (0..3)
            .filter(|&k| medians[k] > AGREE_MEDIAN && c[k] < DISAGREE)
            .map(|k| DIMENSION_NAMES[k].to_owned())
            .collect();
        if !dims.is_empty() {
            let detail: Vec<String> = (0..3)
                .filter(|&k| medians[k] > AGREE_MEDIAN && c[k] < DISAGREE)
                .map(|k| {
                    format!(
                        "{} {:.2} (dataset median {:.2})",
                        DIMENSION_NAMES[k], c[k], medians[k]
                    )
                })
                .collect();
            out.push(
                Finding::new(
                    "values.action_state_disagree",
                    Severity::Warning,
                    format!(
                        "the end effector moves against the actions: correlation {}",
                        detail.join(", ")
                    ),
                )
                .episode(*i)
                .dims(dims),
            );
        }
    }
}
