//! LeRobot depth cameras as lerobot 0.6 writes them (12-bit grey HEVC, log or linear
//! quantisation; `tests/fixtures/lerobot_depth/make.py`, the real `LeRobotDataset` writer).
//! Checked: pairing with the RGB camera; metres against what lerobot's own reader decodes
//! and against the depth handed to the writer (within half a quantisation step); every frame
//! of every episode in order and at random. Without the `ffmpeg` feature, the depth camera is
//! named with what to install and everything else still reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spatialscope::episode::formats::video::FFMPEG_BUILT_IN;
use spatialscope::episode::{Episode, FrameCache, open_path};

use crate::common;

fn fixture(name: &str) -> PathBuf {
    common::repo()
        .join("tests/fixtures/lerobot_depth")
        .join(name)
}

fn f32s(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

fn episodes(name: &str) -> Vec<Episode> {
    let c = open_path(&fixture(name)).unwrap();
    let d = &c.datasets[0];
    let cache = Arc::new(FrameCache::new(0));
    (0..d.len())
        .map(|i| d.open_episode(i, &cache).unwrap())
        .collect()
}

fn camera_names(ep: &Episode) -> Vec<(String, bool)> {
    ep.cameras
        .iter()
        .map(|c| (c.name.clone(), c.has_depth))
        .collect()
}

#[test]
fn depth_features_pair_with_their_camera_or_stand_alone() {
    let m = episodes("m_log");
    assert_eq!(camera_names(&m[0]), [("agentview".to_owned(), true)]);
    assert!(
        m[0].notes
            .iter()
            .any(|n| n.contains("paired with camera `agentview`")),
        "{:?}",
        m[0].notes
    );
    assert!(
        m[0].notes
            .iter()
            .any(|n| n.contains("log quantisation of 0.01..10 m (shift 3.5 m)")),
        "{:?}",
        m[0].notes
    );
    // Two RGB cameras and a depth feature named only `depth`: no partner can be told.
    let mm = episodes("mm_linear");
    assert_eq!(
        camera_names(&mm[0]),
        [
            ("front".to_owned(), false),
            ("wrist".to_owned(), false),
            ("depth".to_owned(), true)
        ]
    );
    assert!(
        mm[0]
            .notes
            .iter()
            .any(|n| n.contains("linear quantisation of 0.2..4 m")),
        "{:?}",
        mm[0].notes
    );
    // The RGB cameras read in every build (AV1, rav1d).
    m[0].rgb(0, 0).unwrap();
    mm[1].rgb(3, 1).unwrap();
}

#[test]
fn without_ffmpeg_the_depth_video_says_what_it_needs() {
    if FFMPEG_BUILT_IN {
        return;
    }
    let m = episodes("m_log");
    assert!(
        m[0].notes.iter().any(
            |n| n.contains("its depth `observation.images.agentview_depth`")
                && n.contains("--features ffmpeg")
        ),
        "{:?}",
        m[0].notes
    );
    let e = m[0].depth(0, 0).unwrap_err().to_string();
    assert!(
        e.contains("--features ffmpeg") && e.contains("file-000.mp4") && e.contains("agentview"),
        "{e}"
    );
}

/// Half a quantisation step at `d` metres (plus float slack).
fn half_step_m(q: &serde_json::Value, d: f64) -> f64 {
    let (lo, hi) = (
        q["video.depth_min"].as_f64().unwrap(),
        q["video.depth_max"].as_f64().unwrap(),
    );
    let shift = q["video.shift"].as_f64().unwrap();
    let step = if q["video.use_log"].as_bool().unwrap() {
        (d.clamp(lo, hi) + shift) * ((hi + shift).ln() - (lo + shift).ln()) / 4095.0
    } else {
        (hi - lo) / 4095.0
    };
    step / 2.0 + 1e-5
}

/// Every frame's metres against lerobot's reader and the writer's input.
fn check_metres(name: &str, camera: usize, source_rounding_m: f64) {
    let exp = &expected()[name];
    let q = &exp["depth_info"];
    let (lo, hi) = (
        q["video.depth_min"].as_f64().unwrap(),
        q["video.depth_max"].as_f64().unwrap(),
    );
    let px = (exp["height"].as_u64().unwrap() * exp["width"].as_u64().unwrap()) as usize;
    let lerobot = f32s(&fixture(&format!("{name}.lerobot_m.f32")));
    let source = f32s(&fixture(&format!("{name}.source_m.f32")));
    let eps = episodes(name);
    let mut frames = Vec::new();
    for (e, ep) in eps.iter().enumerate() {
        for s in 0..ep.num_steps() {
            frames.push((e, s));
        }
    }
    assert_eq!(frames.len(), exp["frames"].as_u64().unwrap() as usize);
    // In order, then in a scrambled order (backward jumps re-seek).
    let mut order: Vec<usize> = (0..frames.len()).collect();
    order.extend((0..frames.len()).map(|i| (i * 7 + 3) % frames.len()).rev());
    let (mut worst_lerobot, mut worst_source) = (0f64, 0f64);
    for &k in &order {
        let (e, s) = frames[k];
        let d = eps[e].depth(s, camera).unwrap().expect("a depth camera");
        assert_eq!(d.depth_m.len(), px);
        for (i, &m) in d.depth_m.iter().enumerate() {
            let (m, l, src) = (
                f64::from(m),
                f64::from(lerobot[k * px + i]),
                f64::from(source[k * px + i]),
            );
            worst_lerobot = worst_lerobot.max((m - l).abs());
            let err = (m - src.clamp(lo, hi)).abs();
            worst_source = worst_source.max(err);
            assert!(
                err <= half_step_m(q, src) + source_rounding_m,
                "{name} frame {k} px {i}: {m} m decoded, {src} m written"
            );
        }
    }
    assert!(
        worst_lerobot < 2e-6,
        "{name}: {worst_lerobot} m from lerobot's own decode"
    );
    eprintln!(
        "{name}: worst {worst_lerobot:.2e} m from lerobot, {worst_source:.2e} m from the source"
    );
}

#[test]
fn lerobot_depth_video_decodes_to_lerobots_metres() {
    if !FFMPEG_BUILT_IN {
        eprintln!("SKIPPED: depth videos are HEVC; build with --features ffmpeg (CI does)");
        return;
    }
    check_metres("m_log", 0, 0.0);
    // Millimetre input: lerobot rounded it to whole millimetres before quantising.
    check_metres("mm_linear", 2, 0.0005);
}

#[test]
fn lerobot_depth_video_without_partner_is_a_grey_picture() {
    if !FFMPEG_BUILT_IN {
        return;
    }
    let mm = episodes("mm_linear");
    let img = mm[0].rgb(0, 2).unwrap();
    let d = mm[0].depth(0, 2).unwrap().unwrap();
    assert!(img.pixels.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    // Nearer is brighter.
    let (near, far) = (0..d.depth_m.len()).fold((0, 0), |(n, f), i| {
        (
            if d.depth_m[i] < d.depth_m[n] { i } else { n },
            if d.depth_m[i] > d.depth_m[f] { i } else { f },
        )
    });
    assert!(img.pixels[near * 3] > img.pixels[far * 3]);
}
