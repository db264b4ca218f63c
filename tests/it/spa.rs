//! SPA's ViT against SPA's own code (`tests/golden/spa/`, made by its `make_golden.py` from
//! `ViTEncoder`): the bilinear resize of the frame, the patch feature map and the class
//! token of a tiny random-weight checkpoint in the released file's names; opt-in, the same
//! at real size (`SPATIALSCOPE_SPA_REAL=DIR`, DIR from `make_golden.py --size base|large`).

use std::path::PathBuf;

use candle_core::{Device, IndexOp};
use spatialscope::model::spa::SpaVit;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/spa")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn features_match_spas_own_code() {
    let m = check_against_golden(&dir(), "tiny_spa.safetensors");
    assert_eq!(
        (m.config.width, m.config.blocks, m.config.grid),
        (64, 4, 14)
    );
}

#[test]
fn real_size_features_match_spas_own_code() {
    let Some(real) = std::env::var_os("SPATIALSCOPE_SPA_REAL").map(PathBuf::from) else {
        eprintln!(
            "spa: real size skipped (set SPATIALSCOPE_SPA_REAL to a make_golden.py --size base|large folder)"
        );
        return;
    };
    let m = check_against_golden(&real, "spa.safetensors");
    eprintln!(
        "spa: real size {} wide, {} blocks, {} heads: matches",
        m.config.width, m.config.blocks, m.config.heads
    );
    assert!(m.config.width >= 768);
}

/// Checks `file` in `dir` against `dir/golden.safetensors`; returns the model.
fn check_against_golden(dir: &std::path::Path, file: &str) -> SpaVit {
    let g = candle_core::safetensors::load(dir.join("golden.safetensors"), &Device::Cpu).unwrap();
    let m = SpaVit::load(&dir.join(file), &Device::Cpu).unwrap();
    assert_eq!(m.config.prefix, "model.img_backbone.");
    // The network on the golden's own input.
    let f = m.forward(&g["image"]).unwrap();
    // (1, C, 14, 14) -> patches x C, raster order.
    let want = g["feature_map"]
        .i(0)
        .unwrap()
        .flatten_from(1)
        .unwrap()
        .t()
        .unwrap();
    let want: Vec<f32> = want
        .contiguous()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = max_diff(&f.patches, &want);
    eprintln!("spa {file}: feature map max |diff| {d:.2e} (values up to {scale:.2})");
    assert!(
        d < 1e-4 * scale.max(1.0),
        "feature map differs by {d} (values up to {scale})"
    );
    let cls: Vec<f32> = g["cls"].flatten_all().unwrap().to_vec1().unwrap();
    assert!(max_diff(&f.cls, &cls) < 1e-4 * scale.max(1.0));

    // From the PNG through our resize: the same input as SPA's script made.
    let img = image::open(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("sample_episodes/sim_rlbench/lift/variation0/episodes/episode0/front_rgb/0.png"),
    )
    .unwrap()
    .to_rgb8();
    let (w, h) = img.dimensions();
    let f2 = m.features(img.as_raw(), w as usize, h as usize).unwrap();
    let d = max_diff(&f2.patches, &f.patches);
    assert!(d < 1e-3 * scale.max(1.0), "through the resize: {d}");
    m
}

#[test]
fn foreign_checkpoints_are_refused_by_name() {
    let e = SpaVit::load(
        &dir().join("../depth_anything_v2/tiny_relative.safetensors"),
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("cls_token") && e.contains("SPA"), "{e}");
}
