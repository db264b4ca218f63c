//! The bottom layer: small helpers every other layer may use and that know nothing of
//! episodes, models or the GUI.
//!
//! - [`json`]: reading JSON that Python's `json` module wrote (bare `NaN`, `Infinity`).
//! - [`fs`]: atomic writes (a temporary name in the same folder, then a rename), so no
//!   half-written file ever carries its final name.
//! - [`guard`]: the rule that spatialscope never writes inside a dataset folder.
//! - [`assets`]: where the bundled samples, action grid and tiny checkpoint live.
//! - [`bookmarks`]: bookmarked steps in the user's data folder, and their exports.
//! - [`memory`]: large zeroed buffers on transparent huge pages (checkpoint weights).
//! - [`parallel`]: one scoped thread per item, for a step's few independent jobs.
//! - [`pickle`]: a Python pickle reader that never runs code (RLBench demos, PyTorch
//!   checkpoints' `data.pkl`).

pub mod assets;
pub mod bookmarks;
pub mod fs;
pub mod guard;
pub mod json;
pub mod memory;
pub mod parallel;
pub mod pickle;
