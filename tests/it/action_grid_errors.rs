//! Bad input to the action grid: non-finite or wrong-width actions, malformed generations,
//! broken processor configs and unknown unnorm keys get clear errors or flags, never a panic.

use std::path::PathBuf;

use spatialscope::action_grid::{
    ActionGrid, BinCounts, ChunkIssue, GridError, LinearBins, ProcessorConfig, Slot, TokenLayout,
    decode_chunk,
};

fn checkpoint_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/real_checkpoint_meta")
}

fn cfg() -> ProcessorConfig {
    ProcessorConfig::load(&checkpoint_dir()).expect("config")
}

#[test]
fn non_finite_and_wrong_width_actions_are_errors() {
    let c = cfg();
    let err = c
        .grid
        .encode(&[0.0, f64::NAN, 0.0, 0.0, 0.0, 0.0, 1.0])
        .expect_err("NaN");
    assert!(
        matches!(err, GridError::NonFiniteAction { dim: 1, .. }),
        "{err}"
    );
    let err = c
        .grid
        .encode(&[0.0, 0.0, f64::INFINITY, 0.0, 0.0, 0.0, 1.0])
        .expect_err("inf");
    assert!(
        matches!(err, GridError::NonFiniteAction { dim: 2, .. }),
        "{err}"
    );
    let err = c.grid.encode(&[0.0; 6]).expect_err("width");
    assert!(matches!(err, GridError::WrongWidth { got: 6 }), "{err}");
    let stats = c.stats("bridge_orig/1.0.0").expect("bridge");
    assert!(stats.normalize(&[0.0; 8]).is_err());
    assert!(
        stats
            .normalize(&[f64::NEG_INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
            .is_err()
    );
}

#[test]
fn unknown_unnorm_keys_list_the_known_ones() {
    let err = cfg().stats("bridge").expect_err("unknown");
    let msg = err.to_string();
    assert!(
        msg.contains("`bridge`")
            && msg.contains("bridge_orig/1.0.0")
            && msg.contains("fractal20220817_data/0.1.0"),
        "{msg}"
    );
}

fn ids(c: &ProcessorConfig, actions: &[[f64; 7]]) -> Vec<i64> {
    actions
        .iter()
        .flat_map(|a| c.layout.ids(&c.grid.encode(a).expect("encode")))
        .collect()
}

#[test]
fn malformed_generations_are_decoded_like_the_reference_and_flagged() {
    let c = cfg();
    let stats = c.stats("bridge_orig/1.0.0").ok();
    let good = ids(&c, &[[0.1, 0.2, -0.3, 0.0, 0.1, -0.1, 1.0]; 4]);

    // A well-formed chunk with a closing <eos>: no issues.
    let mut g = good.clone();
    g.push(1);
    assert!(
        decode_chunk(&g, &c.grid, &c.layout, stats, 4)
            .expect("decode")
            .issues
            .is_empty()
    );

    // Early <eos> at position 7 (a rotation slot) and padding after it.
    let mut g = good[..7].to_vec();
    g.push(1);
    let d = decode_chunk(&g, &c.grid, &c.layout, stats, 4).expect("decode");
    assert!(
        d.issues
            .contains(&ChunkIssue::EndOfSequence { position: 7 }),
        "{:?}",
        d.issues
    );
    assert!(
        d.issues
            .contains(&ChunkIssue::TooFew { got: 8, needed: 12 }),
        "{:?}",
        d.issues
    );
    // The reference clamps <eos> (id 1) to the first rotation id: roll, pitch, yaw bin 0.
    assert_eq!((d.bins[2].roll, d.bins[2].pitch, d.bins[2].yaw), (0, 0, 0));

    // A rotation token in a translation slot, and a text token in a gripper slot.
    let mut g = good.clone();
    g[3] = good[4];
    g[5] = 108; // "\n"
    let d = decode_chunk(&g, &c.grid, &c.layout, stats, 4).expect("decode");
    assert!(
        d.issues.contains(&ChunkIssue::WrongSlot {
            position: 3,
            expected: Slot::Translation,
            found: Slot::Rotation
        }),
        "{:?}",
        d.issues
    );
    assert!(
        d.issues.contains(&ChunkIssue::NotAnActionToken {
            position: 5,
            id: 108
        }),
        "{:?}",
        d.issues
    );
    // Reference clamping: a rotation id in the translation slot becomes local index 4095.
    assert_eq!(c.layout.local_indices(&d.bins[1])[0], 4095);
    assert_eq!(
        d.bins[1].gripper, 0,
        "a text id clamps to the first gripper id"
    );

    // Extra tokens after the chunk are ignored but reported.
    let mut g = good.clone();
    g.extend([good[0], good[1]]);
    let d = decode_chunk(&g, &c.grid, &c.layout, stats, 4).expect("decode");
    assert_eq!(d.issues, [ChunkIssue::Trailing { count: 2 }]);

    // Nothing generated: an error, as in the reference.
    assert!(decode_chunk(&[], &c.grid, &c.layout, stats, 4).is_err());
    // Ids far outside every range never panic.
    let wild = [
        i64::MIN,
        i64::MAX,
        -5,
        0,
        300_000,
        265_346,
        1,
        2,
        3,
        4,
        5,
        6,
    ];
    let d = decode_chunk(&wild, &c.grid, &c.layout, stats, 4).expect("decode");
    assert!(
        d.actions
            .expect("actions")
            .iter()
            .flatten()
            .all(|v| v.is_finite())
    );
}

fn broken_config(edit: impl FnOnce(&mut serde_json::Value)) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let text =
        std::fs::read_to_string(checkpoint_dir().join("processor_config.json")).expect("read");
    let text = spatialscope::util::json::non_finite_tokens_to_null(&text);
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    edit(&mut v);
    let p = tmp.path().join("processor_config.json");
    std::fs::write(&p, serde_json::to_string(&v).expect("ser")).expect("write");
    (tmp, p)
}

#[test]
fn broken_processor_configs_name_the_problem() {
    let (_t, p) = broken_config(|v| {
        v.as_object_mut().expect("obj").remove("bin_policy");
    });
    let err = ProcessorConfig::load(&p).expect_err("missing");
    assert!(err.to_string().contains("bin_policy"), "{err}");

    let (_t, p) = broken_config(|v| {
        v["bin_policy"]["translation"]["phi_bins"]
            .as_array_mut()
            .expect("edges")
            .pop();
    });
    let err = ProcessorConfig::load(&p).expect_err("mismatch");
    let msg = err.to_string();
    assert!(msg.contains("phi_bins") && msg.contains("32"), "{msg}");

    let (_t, p) = broken_config(|v| {
        v["bin_policy"]["rotation"]["yaw_bins"][3] = serde_json::json!(5.0);
    });
    let err = ProcessorConfig::load(&p).expect_err("decreasing");
    assert!(
        err.to_string().contains("yaw") && err.to_string().contains("decrease"),
        "{err}"
    );

    let (_t, p) = broken_config(|v| {
        v["statistics"]["bridge_orig/1.0.0"]["action"]["q01"] = serde_json::json!([0.0, 1.0]);
    });
    let err = ProcessorConfig::load(&p).expect_err("short q01");
    assert!(
        err.to_string()
            .contains("statistics.bridge_orig/1.0.0.action"),
        "{err}"
    );

    let err = ProcessorConfig::load(&PathBuf::from("/nonexistent/spatialscope")).expect_err("io");
    assert!(
        err.to_string().contains("/nonexistent/spatialscope"),
        "{err}"
    );
}

#[test]
fn linear_256_and_adaptive_round_trips_stay_within_their_bins() {
    // Properties, not goldens: each scheme's round-trip error is bounded by its bin sizes.
    let c = cfg();
    let lin = LinearBins::openvla();
    let a = [0.05, -0.02, 0.1, 0.01, -0.02, 0.015, 1.0];
    let adaptive = c.grid.decode(&c.grid.encode(&a).expect("encode"));
    let linear = lin.round_trip(&a);
    // 256 bins of width 2/256: error at most half a bin in every continuous dimension.
    for i in 0..6 {
        assert!((linear[i] - a[i]).abs() <= 1.0 / 256.0 + 1e-12);
    }
    // The adaptive grid spends 3 tokens per step instead of 7: coarser, but bounded by its bins.
    let err = (0..3)
        .map(|i| (adaptive[i] - a[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(err < 0.2, "translation round-trip error {err}");
    assert_eq!(
        c.layout,
        TokenLayout {
            begin_id: 257_153,
            bins: BinCounts::RELEASED
        }
    );
    assert_eq!(
        ActionGrid::uniform(BinCounts::RELEASED).bin_counts(),
        BinCounts::RELEASED
    );
}
