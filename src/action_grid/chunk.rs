//! Decoding a generation into an action chunk, as the reference processor's
//! `decode_actions` does (spec 3.6), plus a diagnosis of everything it silently accepts.
//!
//! The reference takes the first `3 * chunk_size` ids, pads with id 0 when fewer, clamps
//! each id into its slot's range and decodes. We reproduce those numbers exactly and list
//! what was wrong: too few tokens, an end-of-sequence inside the chunk, text tokens, tokens
//! of the wrong slot, trailing tokens after the chunk.

use super::grid::{ActionBins, ActionGrid};
use super::normalize::ActionStatistics;
use super::tokens::{Slot, TokenLayout};
use super::{GridError, Result};

/// Gemma's end-of-sequence id.
pub const EOS_ID: i64 = 1;

/// Something about a generation that the reference would decode without a word.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChunkIssue {
    /// Fewer ids than the chunk needs; the rest were padded with id 0 (which clamps to the
    /// first token of each slot).
    TooFew { got: usize, needed: usize },
    /// `<eos>` at `position`, inside the chunk.
    EndOfSequence { position: usize },
    /// A non-action (text) token at `position`.
    NotAnActionToken { position: usize, id: i64 },
    /// An action token of the wrong kind at `position`.
    WrongSlot {
        position: usize,
        expected: Slot,
        found: Slot,
    },
    /// Ids after the chunk other than a single closing `<eos>` (ignored).
    Trailing { count: usize },
}

impl std::fmt::Display for ChunkIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooFew { got, needed } => {
                write!(f, "only {got} of {needed} ids; padded with id 0")
            }
            Self::EndOfSequence { position } => {
                write!(f, "<eos> at position {position}, inside the chunk")
            }
            Self::NotAnActionToken { position, id } => {
                write!(f, "id {id} at position {position} is not an action token")
            }
            Self::WrongSlot {
                position,
                expected,
                found,
            } => {
                write!(
                    f,
                    "position {position} expects a {expected:?} token, found a {found:?} token"
                )
            }
            Self::Trailing { count } => write!(f, "{count} id(s) after the chunk ignored"),
        }
    }
}

/// A decoded chunk.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChunkDecode {
    /// `chunk_size` rows of (translation, rotation, gripper) ids as used, before clamping
    /// (padding included).
    pub action_ids: Vec<[i64; 3]>,
    pub bins: Vec<ActionBins>,
    /// Normalised actions ([-1, 1]).
    pub normalized: Vec<[f64; 7]>,
    /// Un-normalised actions, when statistics were given.
    pub actions: Option<Vec<[f64; 7]>>,
    pub issues: Vec<ChunkIssue>,
}

/// Decodes the ids generated after the prompt.
pub fn decode_chunk(
    generated: &[i64],
    grid: &ActionGrid,
    layout: &TokenLayout,
    stats: Option<&ActionStatistics>,
    chunk_size: usize,
) -> Result<ChunkDecode> {
    if generated.is_empty() {
        return Err(GridError::Config {
            path: "generation".into(),
            what: "no ids were generated (the reference fails here too)".to_owned(),
        });
    }
    let needed = 3 * chunk_size;
    let mut issues = Vec::new();
    let used: Vec<i64> = (0..needed)
        .map(|i| generated.get(i).copied().unwrap_or(0))
        .collect();
    if generated.len() < needed {
        issues.push(ChunkIssue::TooFew {
            got: generated.len(),
            needed,
        });
    }
    for (position, &id) in generated.iter().take(needed).enumerate() {
        let expected = Slot::ORDER[position % 3];
        match layout.slot_of(id) {
            _ if id == EOS_ID => issues.push(ChunkIssue::EndOfSequence { position }),
            None => issues.push(ChunkIssue::NotAnActionToken { position, id }),
            Some(found) if found != expected => issues.push(ChunkIssue::WrongSlot {
                position,
                expected,
                found,
            }),
            Some(_) => {}
        }
    }
    let rest = generated.get(needed..).unwrap_or(&[]);
    let trailing = match rest {
        [] => 0,
        [first, tail @ ..] if *first == EOS_ID => tail.iter().filter(|&&id| id != 0).count(),
        _ => rest.len(),
    };
    if trailing > 0 {
        issues.push(ChunkIssue::Trailing { count: trailing });
    }
    let action_ids: Vec<[i64; 3]> = used.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
    let bins: Vec<ActionBins> = action_ids
        .iter()
        .map(|ids| layout.bins_of_ids(*ids))
        .collect();
    let normalized: Vec<[f64; 7]> = bins.iter().map(|b| grid.decode(b)).collect();
    let actions = stats.map(|s| normalized.iter().map(|n| s.unnormalize(n)).collect());
    Ok(ChunkDecode {
        action_ids,
        bins,
        normalized,
        actions,
        issues,
    })
}
