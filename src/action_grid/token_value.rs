//! What a single action token means on its own, for the token inspector: its slot, its bin
//! indices and the values it decodes to (normalised and, with statistics, in the dataset's
//! units). A translation token fixes (theta, phi, r) and so x, y, z; a rotation token fixes
//! roll, pitch, yaw; a gripper token the gripper. Non-action ids have no meaning here.

use super::grid::ActionGrid;
use super::normalize::ActionStatistics;
use super::tokens::{Slot, TokenLayout};

/// One token's reading.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenValue {
    pub slot: Slot,
    /// theta/phi/r, roll/pitch/yaw, or the gripper bin alone.
    pub bins: Vec<usize>,
    /// The action dimensions this token sets (0..3, 3..6 or 6..7).
    pub dims: std::ops::Range<usize>,
    pub normalized: Vec<f64>,
    pub raw: Option<Vec<f64>>,
}

/// Reads `id`; `None` when it is not an action token.
pub fn token_value(
    id: i64,
    layout: &TokenLayout,
    grid: &ActionGrid,
    stats: Option<&ActionStatistics>,
) -> Option<TokenValue> {
    let slot = layout.slot_of(id)?;
    let lo = |s| layout.id_range(s).0;
    let ids = match slot {
        Slot::Translation => [id, lo(Slot::Rotation), lo(Slot::Gripper)],
        Slot::Rotation => [lo(Slot::Translation), id, lo(Slot::Gripper)],
        Slot::Gripper => [lo(Slot::Translation), lo(Slot::Rotation), id],
    };
    let b = layout.bins_of_ids(ids);
    let (bins, dims) = match slot {
        Slot::Translation => (vec![b.theta, b.phi, b.r], 0..3),
        Slot::Rotation => (vec![b.roll, b.pitch, b.yaw], 3..6),
        Slot::Gripper => (vec![b.gripper], 6..7),
    };
    let all = grid.decode(&b);
    let raw = stats.map(|s| s.unnormalize(&all)[dims.clone()].to_vec());
    Some(TokenValue {
        slot,
        bins,
        normalized: all[dims.clone()].to_vec(),
        dims,
        raw,
    })
}
