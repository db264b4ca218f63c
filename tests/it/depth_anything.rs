//! Depth Anything V2 against the official code on tiny random-weight checkpoints
//! (`tests/golden/depth_anything_v2/`, made by its `make_golden.py`): the network input
//! (cv2's cubic resize and normalisation), the network output and the image-size depth, for a
//! square case (stored position embedding) and a wide one (bicubic resampling with the 0.1
//! offset), relative and metric.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use spatialscope::model::depth_anything::{DepthAnythingV2, ExpertOutput, resize};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/depth_anything_v2")
}

fn golden() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir().join("golden.safetensors"), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Every `step`-th row and column of a (.., h, w) row-major map with `planes` planes.
fn strided(v: &[f32], planes: usize, h: usize, w: usize, step: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for p in 0..planes {
        for y in (0..h).step_by(step) {
            for x in (0..w).step_by(step) {
                out.push(v[(p * h + y) * w + x]);
            }
        }
    }
    out
}

/// max |a - b| / max(1, max |b|).
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "sizes");
    let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn frame(case: &str) -> (Vec<u8>, usize, usize) {
    let path = if case == "square" {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("sample_episodes/sim_rlbench/lift/variation0/episodes/episode0/front_rgb/0.png")
    } else {
        dir().join("wide.png")
    };
    let img = image::open(&path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w as usize, h as usize)
}

fn case_size(case: &str) -> usize {
    if case == "square" { 518 } else { 154 }
}

fn step(case: &str) -> usize {
    if case == "square" { 7 } else { 1 }
}

#[test]
fn preprocessing_matches_cv2_cubic_resize_and_normalisation() {
    let g = golden();
    for case in ["square", "wide"] {
        let (rgb, w, h) = frame(case);
        let (x, (th, tw)) = resize::network_input(&rgb, w, h, case_size(case));
        let want = values(&g[&format!("{case}_input")]);
        let got = strided(&x, 3, th, tw, step(case));
        let err = rel_err(&got, &want);
        // The same float32 weights as cv2; measured 0 (square) and below 1e-6 (wide).
        assert!(err < 1e-6, "{case}: input differs by {err}");
    }
}

#[test]
fn network_and_image_size_depth_match_the_official_code() {
    let g = golden();
    for (kind, want_output) in [
        ("relative", ExpertOutput::RelativeInverseDepth),
        ("metric", ExpertOutput::MetricDepth),
    ] {
        let model = DepthAnythingV2::load(
            &dir().join(format!("tiny_{kind}.safetensors")),
            None,
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(model.output(), want_output, "{kind}: metadata max_depth");
        assert_eq!((model.config.num_heads, model.config.embed_dim), (2, 64));
        for case in ["square", "wide"] {
            let (rgb, w, h) = frame(case);
            let pred = model.infer(&rgb, w, h, case_size(case)).unwrap();
            // The network output at input resolution, from the golden's own input (so this
            // checks the network alone).
            let x = g[&format!("{case}_input")].clone();
            if step(case) == 1 {
                let net = values(&model.forward(&x.unsqueeze(0).unwrap()).unwrap());
                let err = rel_err(&net, &values(&g[&format!("{case}_{kind}")]));
                assert!(err < 1e-4, "{kind}/{case}: network output differs by {err}");
            }
            let (ih, iw) = pred.input_px;
            assert_eq!(
                (ih, iw),
                if case == "square" {
                    (518, 518)
                } else {
                    (154, 224)
                }
            );
            let full = strided(&pred.values, 1, h, w, step(case).min(2));
            let err = rel_err(&full, &values(&g[&format!("{case}_{kind}_full")]));
            assert!(
                err < 1e-4,
                "{kind}/{case}: image-size depth differs by {err}"
            );
        }
    }
}

#[test]
fn square_network_output_matches_on_the_stored_grid() {
    // The square case's network output is stored every 7th pixel: run the whole pipeline and
    // compare those samples (the input itself is checked by the preprocessing test).
    let g = golden();
    let model = DepthAnythingV2::load(&dir().join("tiny_relative.safetensors"), None, &Device::Cpu)
        .unwrap();
    let (rgb, w, h) = frame("square");
    let (x, (th, tw)) = resize::network_input(&rgb, w, h, 518);
    let x = Tensor::from_vec(x, (1, 3, th, tw), &Device::Cpu).unwrap();
    let net = values(&model.forward(&x).unwrap());
    let err = rel_err(&strided(&net, 1, th, tw, 7), &values(&g["square_relative"]));
    assert!(err < 1e-4, "square network output differs by {err}");
}

#[test]
fn damaged_and_foreign_checkpoints_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    // A SpatialVLA checkpoint is not a Depth Anything V2 one.
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny_spatialvla");
    let e = DepthAnythingV2::load(&tiny, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("safetensors") || e.contains("pretrained"), "{e}");
    // Truncated file.
    let bytes = std::fs::read(dir().join("tiny_relative.safetensors")).unwrap();
    let cut = tmp.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = DepthAnythingV2::load(&cut, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cut.safetensors") && e.contains("truncated"),
        "{e}"
    );
    // A .pth is named as such, not parsed.
    let pth = tmp.path().join("depth_anything_v2_vits.pth");
    std::fs::write(&pth, b"PK\x03\x04").unwrap();
    let e = DepthAnythingV2::load(&pth, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("PyTorch pickle"), "{e}");
    // A bad metric override.
    let e = DepthAnythingV2::load(
        &dir().join("tiny_relative.safetensors"),
        Some(-1.0),
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("max_depth"), "{e}");
}
