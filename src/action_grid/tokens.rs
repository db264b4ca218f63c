//! Token ids of the released vocabulary (spec 3.4 step 5-6, 3.5 step 1-2).
//!
//! Local indices (0-based within the action tokens): translation
//! `theta * (phi_bins * r_bins) + phi * r_bins + r`, rotation
//! `T + roll * (pitch_bins * yaw_bins) + pitch * yaw_bins + yaw`, gripper `T + R + bin`.
//! Ids are `action_token_begin_idx + local`; strings are `<ACTION%05d>`.

use super::grid::{ActionBins, BinCounts};

/// The first action-token id of the released SpatialVLA vocabulary.
pub const RELEASED_ACTION_TOKEN_BEGIN_ID: i64 = 257_153;

/// Which slot of a step a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Translation,
    Rotation,
    Gripper,
}

impl Slot {
    pub const ORDER: [Slot; 3] = [Slot::Translation, Slot::Rotation, Slot::Gripper];
}

/// The id layout of the action tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLayout {
    pub begin_id: i64,
    pub bins: BinCounts,
}

impl TokenLayout {
    pub const RELEASED: TokenLayout = TokenLayout {
        begin_id: RELEASED_ACTION_TOKEN_BEGIN_ID,
        bins: BinCounts::RELEASED,
    };

    /// Inclusive id range of a slot.
    pub fn id_range(&self, slot: Slot) -> (i64, i64) {
        let t = self.bins.translation_tokens() as i64;
        let r = self.bins.rotation_tokens() as i64;
        let b = self.begin_id;
        match slot {
            Slot::Translation => (b, b + t - 1),
            Slot::Rotation => (b + t, b + t + r - 1),
            Slot::Gripper => (b + t + r, b + t + r + 1),
        }
    }

    /// The slot an id belongs to, if it is an action token at all.
    pub fn slot_of(&self, id: i64) -> Option<Slot> {
        Slot::ORDER.into_iter().find(|&s| {
            let (lo, hi) = self.id_range(s);
            (lo..=hi).contains(&id)
        })
    }

    /// Local indices (translation, rotation, gripper) of a set of bins.
    pub fn local_indices(&self, b: &ActionBins) -> [i64; 3] {
        let n = &self.bins;
        let t = (b.theta * n.phi * n.r + b.phi * n.r + b.r) as i64;
        let q =
            (n.translation_tokens() + b.roll * n.pitch * n.yaw + b.pitch * n.yaw + b.yaw) as i64;
        let g = (n.translation_tokens() + n.rotation_tokens() + b.gripper.min(1)) as i64;
        [t, q, g]
    }

    /// Token ids of a set of bins.
    pub fn ids(&self, b: &ActionBins) -> [i64; 3] {
        self.local_indices(b).map(|l| l + self.begin_id)
    }

    /// `<ACTION%05d>` strings of a set of bins.
    pub fn strings(&self, b: &ActionBins) -> [String; 3] {
        self.local_indices(b).map(|l| format!("<ACTION{l:05}>"))
    }

    /// Bins of three ids, each clamped into its own slot's range first (the reference does
    /// no check that the right kind of token is in each slot).
    pub fn bins_of_ids(&self, ids: [i64; 3]) -> ActionBins {
        let n = &self.bins;
        let clamp = |id: i64, slot| {
            let (lo, hi) = self.id_range(slot);
            (id.clamp(lo, hi) - lo) as usize
        };
        let t = clamp(ids[0], Slot::Translation);
        let q = clamp(ids[1], Slot::Rotation);
        let g = clamp(ids[2], Slot::Gripper);
        ActionBins {
            theta: t / (n.phi * n.r),
            phi: (t / n.r) % n.phi,
            r: t % n.r,
            roll: q / (n.pitch * n.yaw),
            pitch: (q / n.yaw) % n.pitch,
            yaw: q % n.yaw,
            gripper: g,
        }
    }
}
