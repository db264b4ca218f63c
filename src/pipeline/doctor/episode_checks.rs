//! Checks that need one episode's numbers only: non-finite values, frozen dimensions, the
//! gripper, timestamps, length, idle ends, the instruction. Also updates the dataset-wide
//! accumulators and returns the episode's [`EpisodeFacts`].

use crate::action_grid::distribution::DIMENSION_NAMES;
use crate::episode::Episode;

use super::{
    Accumulators, DoctorOptions, EpisodeFacts, FINGERPRINT_STEPS, Finding, Moments, Severity,
};

/// Steps of idle motion at an end worth a trim suggestion.
const MIN_IDLE_END: usize = 3;
/// A gripper that toggles at least this many times with at most [`CHATTER_GAP`] steps
/// between toggles is chattering.
const CHATTER_TOGGLES: usize = 3;
const CHATTER_GAP: usize = 2;
/// A gap between timestamps longer than this many frame periods is a dropped frame.
const DROP_FACTOR: f64 = 1.5;
/// Relative disagreement between the declared fps and the median timestamp step.
const FPS_TOLERANCE: f64 = 0.05;

fn dim_name(d: usize) -> String {
    DIMENSION_NAMES[d].to_owned()
}

/// Runs the per-episode checks on `ep` (index `i`).
pub fn check(
    ep: &Episode,
    i: usize,
    opts: &DoctorOptions,
    acc: &mut Accumulators,
    out: &mut Vec<Finding>,
) -> EpisodeFacts {
    let a = &ep.actions.values;
    let n = a.len();
    acc.steps += n as u64;
    if n == 0 {
        out.push(Finding::new("episodes.empty", Severity::Error, "has no steps").episode(i));
    } else if n < opts.chunk {
        out.push(
            Finding::new(
                "episodes.too_short",
                Severity::Warning,
                format!(
                    "{n} steps, fewer than the model's action chunk of {}",
                    opts.chunk
                ),
            )
            .episode(i),
        );
    }
    non_finite(ep, i, out);
    frozen(a, i, opts, out);
    gripper(a, i, opts, out);
    idle_ends(a, i, opts, out);
    if let Some(ts) = &ep.timestamps_s {
        timing(ts, ep.fps, i, out);
    }
    if ep.instruction.trim().is_empty() {
        out.push(
            Finding::new(
                "episodes.no_instruction",
                Severity::Warning,
                "has no language instruction (the model is prompted with an empty task)",
            )
            .episode(i),
        );
    }
    accumulate(ep, i, acc)
}

/// NaN or infinite actions and state.
fn non_finite(ep: &Episode, i: usize, out: &mut Vec<Finding>) {
    let a = &ep.actions.values;
    let mut dims = Vec::new();
    let (mut first, mut last) = (usize::MAX, 0);
    for d in 0..7 {
        let bad: Vec<usize> = (0..a.len()).filter(|&s| !a[s][d].is_finite()).collect();
        if let (Some(&f), Some(&l)) = (bad.first(), bad.last()) {
            dims.push(dim_name(d));
            first = first.min(f);
            last = last.max(l);
        }
    }
    if !dims.is_empty() {
        out.push(
            Finding::new(
                "values.non_finite",
                Severity::Error,
                format!("actions hold NaN or infinite values in {}", dims.join(", ")),
            )
            .episode(i)
            .steps(first, last)
            .dims(dims),
        );
    }
    if let Some(p) = &ep.proprio {
        let bad: Vec<(usize, usize)> = p
            .values
            .iter()
            .enumerate()
            .flat_map(|(s, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_finite())
                    .map(move |(d, _)| (s, d))
            })
            .collect();
        if let (Some(f), Some(l)) = (bad.first(), bad.last()) {
            let mut dims: Vec<String> = bad
                .iter()
                .map(|(_, d)| {
                    p.names
                        .get(*d)
                        .cloned()
                        .unwrap_or_else(|| format!("state[{d}]"))
                })
                .collect();
            dims.dedup();
            out.push(
                Finding::new(
                    "values.non_finite_state",
                    Severity::Error,
                    format!("state holds NaN or infinite values in {}", dims.join(", ")),
                )
                .episode(i)
                .steps(f.0, l.0)
                .dims(dims),
            );
        }
    }
}

/// Motion dimensions that never change in an episode long enough to move.
fn frozen(a: &[[f32; 7]], i: usize, opts: &DoctorOptions, out: &mut Vec<Finding>) {
    if a.len() < 2 * opts.chunk.max(2) {
        return;
    }
    let dims: Vec<String> = (0..6)
        .filter(|&d| a.iter().all(|s| s[d] == a[0][d]) && a[0][d].is_finite())
        .map(dim_name)
        .collect();
    if !dims.is_empty() {
        out.push(
            Finding::new(
                "values.frozen_in_episode",
                Severity::Info,
                format!(
                    "{} keep{} one value for all {} steps",
                    dims.join(", "),
                    if dims.len() == 1 { "s" } else { "" },
                    a.len()
                ),
            )
            .episode(i)
            .dims(dims),
        );
    }
}

/// The gripper as open/closed: above the midpoint of its convention (0.5 for 0..1, 0 for
/// -1..1).
fn gripper(a: &[[f32; 7]], i: usize, opts: &DoctorOptions, out: &mut Vec<Finding>) {
    let g: Vec<f32> = a.iter().map(|s| s[6]).filter(|v| v.is_finite()).collect();
    if g.len() < opts.chunk.max(2) {
        return;
    }
    let mid = if g.iter().all(|&v| v >= 0.0) {
        0.5
    } else {
        0.0
    };
    let open: Vec<bool> = g.iter().map(|&v| v > mid).collect();
    let toggles: Vec<usize> = (1..open.len())
        .filter(|&s| open[s] != open[s - 1])
        .collect();
    if toggles.is_empty() {
        out.push(
            Finding::new(
                "values.gripper_static",
                Severity::Info,
                format!(
                    "the gripper stays {} for all {} steps",
                    if open[0] { "open" } else { "closed" },
                    g.len()
                ),
            )
            .episode(i)
            .dims(vec![dim_name(6)]),
        );
        return;
    }
    // The longest run of toggles each within CHATTER_GAP steps of the previous one.
    let (mut best, mut run_start) = ((0, 0, 0), 0);
    for k in 1..=toggles.len() {
        let breaks = k == toggles.len() || toggles[k] - toggles[k - 1] > CHATTER_GAP;
        if breaks {
            let len = k - run_start;
            if len > best.0 {
                best = (len, toggles[run_start], toggles[k - 1]);
            }
            run_start = k;
        }
    }
    if best.0 >= CHATTER_TOGGLES {
        out.push(
            Finding::new(
                "values.gripper_chatter",
                Severity::Warning,
                format!(
                    "the gripper toggles {} times within steps {}..{} (at most {CHATTER_GAP} steps apart)",
                    best.0, best.1, best.2
                ),
            )
            .episode(i)
            .steps(best.1 - 1, best.2)
            .dims(vec![dim_name(6)]),
        );
    }
}

/// Idle steps at the start or end: a trim suggestion; an episode that never moves.
fn idle_ends(a: &[[f32; 7]], i: usize, opts: &DoctorOptions, out: &mut Vec<Finding>) {
    let idle = |s: &[f32; 7]| {
        s[..6]
            .iter()
            .all(|v| f64::from(v.abs()) < opts.noop_threshold)
    };
    let n = a.len();
    if n == 0 {
        return;
    }
    let prefix = a.iter().take_while(|s| idle(s)).count();
    if prefix == n {
        out.push(
            Finding::new(
                "episodes.no_motion",
                Severity::Warning,
                format!(
                    "every step is idle (all motion below {} in raw units)",
                    opts.noop_threshold
                ),
            )
            .episode(i)
            .steps(0, n - 1),
        );
        return;
    }
    let suffix = a.iter().rev().take_while(|s| idle(s)).count();
    if prefix >= MIN_IDLE_END || suffix >= MIN_IDLE_END {
        out.push(
            Finding::new(
                "episodes.idle_ends",
                Severity::Info,
                format!(
                    "{prefix} idle steps at the start and {suffix} at the end; trim to steps {}..{}",
                    prefix,
                    n - 1 - suffix
                ),
            )
            .episode(i)
            .steps(prefix, n - 1 - suffix),
        );
    }
}

/// Timestamps: strictly increasing, no gaps, agreeing with the declared rate.
fn timing(ts: &[f64], fps: Option<f64>, i: usize, out: &mut Vec<Finding>) {
    if ts.len() < 2 {
        return;
    }
    if let Some(s) = (1..ts.len()).find(|&s| ts[s] <= ts[s - 1]) {
        out.push(
            Finding::new(
                "time.not_increasing",
                Severity::Error,
                format!(
                    "timestamp of step {s} ({:.4} s) does not come after step {} ({:.4} s)",
                    ts[s],
                    s - 1,
                    ts[s - 1]
                ),
            )
            .episode(i)
            .steps(s - 1, s),
        );
        return;
    }
    let mut dt: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    let Some(period) = fps.filter(|f| *f > 0.0).map(|f| 1.0 / f) else {
        return;
    };
    let gaps: Vec<usize> = (0..dt.len())
        .filter(|&s| dt[s] > DROP_FACTOR * period)
        .collect();
    if let (Some(&f), Some(&l)) = (gaps.first(), gaps.last()) {
        let missing: f64 = gaps.iter().map(|&s| (dt[s] / period).round() - 1.0).sum();
        out.push(
            Finding::new(
                "time.dropped_frames",
                Severity::Warning,
                format!(
                    "{} gap{} longer than {DROP_FACTOR} frame periods (about {missing:.0} frames missing), first after step {f}",
                    gaps.len(),
                    if gaps.len() == 1 { "" } else { "s" }
                ),
            )
            .episode(i)
            .steps(f, l + 1),
        );
    }
    dt.sort_by(f64::total_cmp);
    let median = dt[dt.len() / 2];
    if (median - period).abs() > FPS_TOLERANCE * period {
        out.push(
            Finding::new(
                "time.fps_mismatch",
                Severity::Warning,
                format!(
                    "steps are {:.4} s apart (median), but the dataset declares {:.3} fps ({:.4} s)",
                    median,
                    1.0 / period,
                    period
                ),
            )
            .episode(i),
        );
    }
}

/// Updates the dataset-wide accumulators; returns the episode's facts.
fn accumulate(ep: &Episode, i: usize, acc: &mut Accumulators) -> EpisodeFacts {
    let a = &ep.actions.values;
    let mut action_min = [(f64::INFINITY, 0); 7];
    let mut action_max = [(f64::NEG_INFINITY, 0); 7];
    for (s, row) in a.iter().enumerate() {
        for d in 0..7 {
            let v = f64::from(row[d]);
            if !v.is_finite() {
                continue;
            }
            acc.action[d].add(v);
            if v < action_min[d].0 {
                action_min[d] = (v, s);
            }
            if v > action_max[d].0 {
                action_max[d] = (v, s);
            }
            // Exact hits on the running extremes (saturation at a bound).
            let (lo, lo_n) = &mut acc.at_min[d];
            if acc.action[d].n == 1 || v < *lo {
                *lo = v;
                *lo_n = 1;
                acc.at_min_episodes[d] = vec![i];
            } else if v == *lo {
                *lo_n += 1;
                push_episode(&mut acc.at_min_episodes[d], i);
            }
            let (hi, hi_n) = &mut acc.at_max[d];
            if acc.action[d].n == 1 || v > *hi {
                *hi = v;
                *hi_n = 1;
                acc.at_max_episodes[d] = vec![i];
            } else if v == *hi {
                *hi_n += 1;
                push_episode(&mut acc.at_max_episodes[d], i);
            }
        }
    }
    let mut state_jump_max = Vec::new();
    if let Some(p) = &ep.proprio {
        let width = p.values.first().map_or(0, Vec::len);
        if acc.state_delta.is_empty() {
            acc.state_delta = vec![Moments::default(); width];
            acc.state_names = p.names.clone();
        }
        state_jump_max = vec![(0.0f64, 0usize); width];
        if width == acc.state_delta.len() {
            for (s, w) in p.values.windows(2).enumerate() {
                if w[0].len() != width || w[1].len() != width {
                    continue;
                }
                for d in 0..width {
                    let delta = f64::from(w[1][d] - w[0][d]);
                    if !delta.is_finite() {
                        continue;
                    }
                    acc.state_delta[d].add(delta);
                    if delta.abs() > state_jump_max[d].0 {
                        state_jump_max[d] = (delta.abs(), s);
                    }
                }
            }
        }
    }
    let fingerprint = if a.is_empty() {
        Vec::new()
    } else {
        (0..FINGERPRINT_STEPS)
            .map(|k| a[k * (a.len() - 1) / (FINGERPRINT_STEPS - 1)])
            .collect()
    };
    EpisodeFacts {
        index: i,
        name: ep.name.clone(),
        steps: a.len(),
        instruction: ep.instruction.clone(),
        action_min,
        action_max,
        state_jump_max,
        action_state_corr: action_state_correlation(ep),
        fingerprint,
        readable: !a.is_empty(),
    }
}

/// Most episodes listed per extreme (enough to point at; the count says the rest).
const MAX_LISTED: usize = 1000;

fn push_episode(v: &mut Vec<usize>, i: usize) {
    if v.last() != Some(&i) && v.len() < MAX_LISTED {
        v.push(i);
    }
}

/// Which state dimension holds the end-effector position along `axis` (0 = x), from its
/// name as the readers give it: `eef x (m)`, `eef_x`, `x`, `robot0_eef_pos[0]`, `ee_pos[0]`.
fn position_dim(names: &[String], axis: usize) -> Option<usize> {
    let letter = ["x", "y", "z"][axis];
    names.iter().position(|n| {
        let n = n.to_ascii_lowercase();
        let bare = n.split(" (").next().unwrap_or(&n).trim().to_owned();
        bare == letter
            || bare == format!("eef {letter}")
            || bare == format!("eef_{letter}")
            || bare == format!("ee_{letter}")
            || ["robot0_eef_pos", "eef_pos", "ee_pos"]
                .iter()
                .any(|k| bare == format!("{k}[{axis}]"))
    })
}

fn correlation(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let (mx, my) = (
        x[..n].iter().sum::<f64>() / n as f64,
        y[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for k in 0..n {
        let (dx, dy) = (x[k] - mx, y[k] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// See [`EpisodeFacts::action_state_corr`].
fn action_state_correlation(ep: &Episode) -> Option<[f64; 3]> {
    use crate::episode::TranslationUnit;
    if ep.actions.convention.translation != TranslationUnit::MetresDelta {
        return None;
    }
    let p = ep.proprio.as_ref()?;
    let a = &ep.actions.values;
    let mut out = [0.0; 3];
    for (axis, slot) in out.iter_mut().enumerate() {
        let d = position_dim(&p.names, axis)?;
        let pos: Vec<f64> = p
            .values
            .iter()
            .map(|r| r.get(d).map_or(f64::NAN, |v| f64::from(*v)))
            .collect();
        let best = (1..=2)
            .filter_map(|lag| {
                let n = a.len().min(pos.len()).checked_sub(lag)?;
                let act: Vec<f64> = (0..n).map(|t| f64::from(a[t][axis])).collect();
                let moved: Vec<f64> = (0..n).map(|t| pos[t + lag] - pos[t + lag - 1]).collect();
                if act.iter().chain(&moved).any(|v| !v.is_finite()) {
                    return None;
                }
                correlation(&act, &moved)
            })
            .reduce(f64::max)?;
        *slot = best;
    }
    Some(out)
}
