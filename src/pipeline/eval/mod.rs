//! Open-loop evaluation of a checkpoint over whole datasets, kept in an evaluation store.
//!
//! - [`row`]: one evaluated step ([`row::EvalRow`]: token ids, probabilities and entropies,
//!   the decoded and ground-truth chunks, metrics, flags, timing), built from a
//!   [`crate::pipeline::predict::StepPrediction`];
//! - [`store`]: the store folder (`store.json`, `steps.parquet` written in parts as rows
//!   come, merged at the end), resumable and refusing another checkpoint's or settings' rows;
//! - [`summary`]: `summary.json`, aggregates and the worst steps;
//! - [`loaded`]: a store read whole and indexed by episode and step, for the app;
//! - [`registry`]: which stores exist for which dataset (`stores.json` in the user's data
//!   folder), so the app can offer them;
//! - [`compare`]: two stores of the same dataset, step by step (B's regressions first).
//!
//! The command line (`spatialscope eval`) drives the loop: it picks the steps, skips those
//! already stored, runs [`crate::pipeline::predict_step`] on each and pushes rows.

pub mod compare;
pub mod loaded;
pub mod registry;
pub mod row;
pub mod store;
pub mod summary;

pub use loaded::LoadedStore;
pub use row::EvalRow;
pub use store::{EvalSettings, Manifest, StoreWriter, read_store};

/// Parses an episode list: `0,2,5-7` (indices in the listing, ranges inclusive).
pub fn parse_episode_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{x}` in --episodes is not an episode index"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse(a)?, parse(b)?);
                if b < a || b - a > 1_000_000 {
                    return Err(format!(
                        "range `{part}` in --episodes is not increasing or too long"
                    ));
                }
                out.extend(a..=b);
            }
            None => out.push(parse(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err("--episodes names no episode".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_lists() {
        assert_eq!(parse_episode_list("0,2,5-7").unwrap(), [0, 2, 5, 6, 7]);
        assert_eq!(parse_episode_list(" 3 , 1-1,3").unwrap(), [1, 3]);
        assert!(parse_episode_list("2-1").is_err());
        assert!(parse_episode_list("a").is_err());
        assert!(parse_episode_list("").is_err());
    }
}
