//! The per-dataset nominal intrinsics table (SpatialVLA's `scripts/intrinsics.json`, shipped
//! in `assets/intrinsics/`), for datasets that ship no intrinsics.
//!
//! SpatialVLA keys the table by `dataset/version` and uses the `default` entry for every
//! dataset it does not list; we do the same and report which key was used.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::Intrinsics;

const TABLE_JSON: &str = include_str!("../../assets/intrinsics/spatialvla_intrinsics.json");

#[derive(serde::Deserialize)]
struct Entry {
    intrinsic: [[f64; 3]; 3],
    width: u32,
    height: u32,
}

fn table() -> &'static BTreeMap<String, Intrinsics> {
    static TABLE: OnceLock<BTreeMap<String, Intrinsics>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The table is compiled in and checked by a unit test; a parse failure here would be
        // a build defect, so an empty table (every lookup then says "none") is the fallback.
        let raw: BTreeMap<String, Entry> = serde_json::from_str(TABLE_JSON).unwrap_or_default();
        raw.into_iter()
            .map(|(k, e)| (k, Intrinsics::from_k(&e.intrinsic, e.width, e.height)))
            .collect()
    })
}

/// The `name/version` key SpatialVLA (and OpenVLA) use for an RLDS dataset, e.g.
/// `bridge_orig/1.0.0`: the key of its statistics and of its intrinsics entry.
pub fn canonical_key(name: &str, version: &str) -> String {
    match name {
        // Octo/TFDS builds of Bridge are called `bridge_dataset`; SpatialVLA calls it
        // `bridge_orig`.
        "bridge_dataset" | "bridge" | "bridge_orig" => "bridge_orig/1.0.0".to_owned(),
        _ => format!("{name}/{version}"),
    }
}

/// The SpatialVLA key of a LeRobot conversion of an Open X-Embodiment dataset, from its folder
/// name (`bridge_orig_lerobot` -> `bridge_orig/1.0.0`, as the IPEC-COMMUNITY conversions are
/// named); `None` when the name says nothing.
pub fn lerobot_key(folder: &str) -> Option<String> {
    let base = folder.strip_suffix("_lerobot").unwrap_or(folder);
    match base {
        "bridge_orig" | "bridge" | "bridge_dataset" => Some("bridge_orig/1.0.0".to_owned()),
        "fractal20220817_data" => Some("fractal20220817_data/0.1.0".to_owned()),
        _ => None,
    }
}

/// The table entry for a dataset key: the key itself when listed, else `default`.
pub fn entry_for(key: Option<&str>) -> String {
    match key {
        Some(k) if table().contains_key(k) => k.to_owned(),
        _ => "default".to_owned(),
    }
}

/// The table key SpatialVLA would use for an RLDS dataset called `name` at `version`.
pub fn key_for(name: &str, version: &str) -> String {
    let canonical = canonical_key(name, version);
    if table().contains_key(&canonical) {
        canonical
    } else {
        "default".to_owned()
    }
}

/// Nominal intrinsics for `key`, scaled to an image of `width_px` x `height_px`.
pub fn lookup(key: &str, width_px: u32, height_px: u32) -> Option<Intrinsics> {
    table().get(key).map(|k| k.scaled_to(width_px, height_px))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_maps_to_the_bridge_entry_and_scales_per_axis() {
        assert_eq!(key_for("bridge_dataset", "1.0.0"), "bridge_orig/1.0.0");
        assert_eq!(key_for("some_new_set", "0.1.0"), "default");
        let k = lookup("bridge_orig/1.0.0", 64, 64).expect("entry");
        assert!((k.fx_px - 623.588 * 64.0 / 640.0).abs() < 1e-9);
        assert!((k.fy_px - 623.588 * 64.0 / 480.0).abs() < 1e-9);
        assert!((k.cx_px - 319.501 * 0.1).abs() < 1e-9);
        assert!((k.cy_px - 239.545 * 64.0 / 480.0).abs() < 1e-9);
    }
}
