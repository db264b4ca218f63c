//! A Python pickle reader that never runs code: pickles become plain data.
//!
//! RLBench stores each demonstration's low-dimensional observations as a pickled
//! `rlbench.demo.Demo` of `Observation` objects holding numpy arrays. Python's unpickler
//! would import those classes and call them; this reader instead runs the pickle machine
//! (protocols 0-5) over a value arena and maps what it finds to [`Value`]:
//!
//! - built-in types to their plain forms (ints, floats, strings, bytes, lists, tuples, dicts,
//!   sets);
//! - the few callables pickles of numpy data use, to data: numpy arrays (`_reconstruct` +
//!   state, `_frombuffer`), numpy scalars, `numpy.dtype`, `_codecs.encode` (bytes pickled
//!   by Python 3 under protocol 2), `OrderedDict`, `set`/`frozenset`, `bytearray`,
//!   `copyreg._reconstructor`;
//! - every other class or callable to an [`Object`] naming it, with its arguments and state,
//!   so `Demo` and `Observation` read as their attribute dictionaries. Nothing is imported,
//!   nothing is called.
//!
//! Hostile input: every length is checked against the bytes that remain before anything is
//! allocated; persistent ids (unless asked for: PyTorch checkpoints), extension codes and
//! out-of-band buffers are refused with the offset; nesting deeper than [`MAX_DEPTH`] (including a value that contains itself) and
//! expansions of shared values beyond a budget are errors, never a stack overflow or an
//! exhausted memory.

mod machine;
mod numpy;
mod text;
mod value;

pub use numpy::{DType, NdArray};
pub use value::{Object, Value};

/// Deepest nesting of containers accepted.
pub const MAX_DEPTH: usize = 100;

/// Why a pickle could not be read: what, and at which byte of the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{reason}", offset.map_or_else(|| "pickle: ".to_owned(), |o| format!("pickle byte {o}: ")))]
pub struct PickleError {
    /// The opcode's position; `None` for problems found after the machine ran (nesting,
    /// expansion, a numpy array whose parts disagree).
    pub offset: Option<usize>,
    pub reason: String,
}

impl PickleError {
    pub(crate) fn at(offset: usize, reason: impl Into<String>) -> Self {
        Self {
            offset: Some(offset),
            reason: reason.into(),
        }
    }

    pub(crate) fn content(reason: impl Into<String>) -> Self {
        Self {
            offset: None,
            reason: reason.into(),
        }
    }
}

/// Reads one pickle (everything up to its STOP opcode) as plain data.
pub fn parse(bytes: &[u8]) -> Result<Value, PickleError> {
    let (arena, root) = machine::run(bytes, false)?;
    value::materialize(&arena, root, bytes.len())
}

/// [`parse`], keeping persistent ids as [`Value::Persistent`] (a PyTorch checkpoint's
/// `data.pkl` names each tensor's storage that way); still nothing is imported or called.
pub fn parse_with_persistent_ids(bytes: &[u8]) -> Result<Value, PickleError> {
    let (arena, root) = machine::run(bytes, true)?;
    value::materialize(&arena, root, bytes.len())
}

#[cfg(test)]
mod tests;
