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
    // Not a zip: named as such.
    let pth = tmp.path().join("depth_anything_v2_vits.pth");
    std::fs::write(&pth, b"PK\x03\x04").unwrap();
    let e = DepthAnythingV2::load(&pth, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("depth_anything_v2_vits.pth") && e.contains("zip"),
        "{e}"
    );
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

/// The official `.pth` form of the relative checkpoint, rewritten with `edit` applied to its
/// entries (name, bytes) -> Some(new bytes) or None (dropped).
fn rewritten_pth(
    dir: &std::path::Path,
    edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>,
) -> PathBuf {
    use std::io::{Read, Write};
    let src = std::fs::File::open(self::dir().join("depth_anything_v2_tiny_relative.pth")).unwrap();
    let mut zin = zip::ZipArchive::new(src).unwrap();
    let out = dir.join("edited.pth");
    let mut zout = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        if let Some(b) = edit(&name, bytes) {
            zout.start_file(name, opts).unwrap();
            zout.write_all(&b).unwrap();
        }
    }
    zout.finish().unwrap();
    out
}

#[test]
fn official_pth_checkpoints_read_without_python_and_match_safetensors() {
    let pth = dir().join("depth_anything_v2_tiny_relative.pth");
    let st = DepthAnythingV2::load(&dir().join("tiny_relative.safetensors"), None, &Device::Cpu)
        .unwrap();
    // A .pth carries no metadata: the head count is given (the tiny model has 2 of 32).
    let from_pth = DepthAnythingV2::load_with(&pth, None, Some(2), &Device::Cpu).unwrap();
    assert_eq!(from_pth.config, st.config);
    let (rgb, w, h) = frame("wide");
    let a = st.infer(&rgb, w, h, 154).unwrap().values;
    let b = from_pth.infer(&rgb, w, h, 154).unwrap().values;
    assert_eq!(
        a, b,
        "float32 embeddings, a transposed weight and float16 storages"
    );
    // Without it the released 64-wide heads are assumed: 1 head here, another result.
    let one_head = DepthAnythingV2::load(&pth, None, &Device::Cpu).unwrap();
    assert_eq!(one_head.config.num_heads, 1);
    assert_ne!(one_head.infer(&rgb, w, h, 154).unwrap().values, a);

    // Damaged archives: a storage shorter than its tensor, a missing storage, a compressed
    // pickle; each named, nothing panics.
    let tmp = tempfile::tempdir().unwrap();
    let short = rewritten_pth(tmp.path(), |n, b| {
        Some(if n.ends_with("/data/0") {
            b[..16].to_vec()
        } else {
            b
        })
    });
    let e = DepthAnythingV2::load(&short, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("pretrained.cls_token") && e.contains("4-element storage"),
        "{e}"
    );
    let missing = rewritten_pth(tmp.path(), |n, b| (!n.ends_with("/data/1")).then_some(b));
    let e = DepthAnythingV2::load(&missing, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("data/1"), "{e}");
    let garbage = rewritten_pth(tmp.path(), |n, b| {
        Some(if n.ends_with("data.pkl") {
            b[..b.len() / 3].to_vec()
        } else {
            b
        })
    });
    let e = DepthAnythingV2::load(&garbage, None, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("data.pkl") && e.contains("pickle"), "{e}");
}

#[test]
fn mutated_pth_archives_never_panic() {
    // Byte flips over the archive's pickle and zip headers, and truncations: each load ends
    // in a model or an error (no panic, no runaway allocation).
    let bytes = std::fs::read(dir().join("depth_anything_v2_tiny_relative.pth")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.pth");
    let (mut errors, mut loads) = (0, 0);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut m = bytes.clone();
        if i % 10 == 0 {
            m.truncate((state % bytes.len() as u64) as usize);
        } else {
            // The pickle sits in the first ~29 KB; the central directory at the end.
            let at = if i % 3 == 0 {
                bytes.len() - 1 - (state % 2048) as usize
            } else {
                (state % 29_000) as usize
            };
            m[at] ^= 1 << (state >> 60 & 7);
        }
        std::fs::write(&path, &m).unwrap();
        match DepthAnythingV2::load_with(&path, None, Some(2), &Device::Cpu) {
            Ok(_) => loads += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                errors += 1;
            }
        }
    }
    assert!(errors > 50, "{errors} errors, {loads} loads");
}
