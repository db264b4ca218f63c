//! The Features panel's computation (`pipeline::probe::view`, `ProbeRun`) on the simulated
//! RGB-D sample with the tiny checkpoint and the tiny SPA (random weights): two encoders on
//! their own grids, episode-wide fits that give one answer from any step, Spatial Forcing's
//! cosine equal to 1 where the "3-D features" are the layer's own projected features (and a
//! note where a step has no dump), and the probe's CKA with a dump equal to 1 for the layer
//! the dump was made of.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use spatialscope::episode::{Episode, FrameCache};
use spatialscope::model::align::{AlignProjector, FeatureDump};
use spatialscope::model::spa::SpaVit;
use spatialscope::model::{DepthChoice, Predictor};
use spatialscope::pipeline::RunSettings;
use spatialscope::pipeline::probe::view::{
    AlignSettings, FeatureRequest, FeatureSource, FeatureState, PcaFit, feature_view,
};
use spatialscope::pipeline::probe::{ProbeRun, frame_features};

fn setup() -> (Predictor, Episode, RunSettings) {
    let p = Predictor::load(
        &spatialscope::util::assets::default_model_path(),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap();
    let ds = spatialscope::episode::open_path(&common::native_dir()).unwrap();
    let ep = ds.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::new(1 << 27)))
        .unwrap();
    let s =
        spatialscope::cli::feature_common::features_settings(&p, &ep, DepthChoice::Sensor).unwrap();
    (p, ep, s)
}

fn request(sources: Vec<FeatureSource>, fit: PcaFit, settings: &RunSettings) -> FeatureRequest {
    FeatureRequest {
        sources,
        fit,
        settings: settings.clone(),
        align: None,
    }
}

#[test]
fn two_encoders_on_their_grids_and_episode_fits_independent_of_the_step() {
    let (p, ep, settings) = setup();
    let mut state = FeatureState::default();
    state.spa = Some(
        SpaVit::load(
            &spatialscope::util::assets::default_spa_path(),
            &Device::Cpu,
        )
        .unwrap(),
    );
    let layer = FeatureSource::Layer("layer 1".into());
    let v = feature_view(
        &p,
        &mut state,
        &ep,
        2,
        &request(
            vec![layer.clone(), FeatureSource::Spa],
            PcaFit::Frame,
            &settings,
        ),
    )
    .unwrap();
    assert_eq!((v.panes[0].side, v.panes[0].colours.len()), (16, 256));
    assert_eq!((v.panes[1].side, v.panes[1].colours.len()), (14, 196));
    assert_eq!(v.panes[1].label, "SPA ViT");
    for pane in &v.panes {
        let e = &pane.explained;
        assert!(
            e.len() == 3 && e[0] >= e[1] && e[1] >= e[2] && e.iter().sum::<f64>() <= 1.0 + 1e-9
        );
        // Colours span their range (1st-99th percentile mapped to 0-255).
        let reds: Vec<u8> = pane.colours.iter().map(|c| c[0]).collect();
        assert!(reds.iter().max().unwrap() - reds.iter().min().unwrap() > 200);
    }
    assert!(v.layers.iter().any(|l| l == "siglip") && !v.layers.iter().any(|l| l == "spa"));

    // The episode-wide fit: fitted once, on every 4th step, whatever step asks first; a
    // fresh state (no cache) gives the same colours for the same step.
    let every = PcaFit::Episode { every: 4 };
    let at = |state: &mut FeatureState, step| {
        feature_view(
            &p,
            state,
            &ep,
            step,
            &request(vec![layer.clone()], every, &settings),
        )
        .unwrap()
        .panes
        .remove(0)
    };
    let a5 = at(&mut state, 5);
    assert_eq!(a5.fit_frames, ep.num_steps().div_ceil(4));
    let mut fresh = FeatureState::default();
    let _ = at(&mut fresh, 9);
    assert_eq!(at(&mut fresh, 5).colours, a5.colours);
    // A frame fit differs from the episode fit (another basis): the choice matters.
    let f5 = feature_view(
        &p,
        &mut state,
        &ep,
        5,
        &request(vec![layer], PcaFit::Frame, &settings),
    )
    .unwrap();
    assert_ne!(f5.panes[0].colours, a5.colours);

    // SPA without weights is refused by name.
    let e = feature_view(
        &p,
        &mut FeatureState::default(),
        &ep,
        0,
        &request(vec![FeatureSource::Spa], PcaFit::Frame, &settings),
    )
    .err()
    .unwrap();
    assert!(format!("{e:#}").contains("SPA"), "{e:#}");
}

fn random_projector(path: &std::path::Path) {
    let dev = Device::Cpu;
    let mut t = HashMap::new();
    t.insert(
        "fc1.weight".to_owned(),
        Tensor::randn(0f32, 0.2, (16, 64), &dev).unwrap(),
    );
    t.insert(
        "fc1.bias".to_owned(),
        Tensor::randn(0f32, 0.1, 16, &dev).unwrap(),
    );
    t.insert(
        "fc2.weight".to_owned(),
        Tensor::randn(0f32, 0.3, (16, 16), &dev).unwrap(),
    );
    t.insert(
        "fc2.bias".to_owned(),
        Tensor::randn(0f32, 0.1, 16, &dev).unwrap(),
    );
    candle_core::safetensors::save(&t, path).unwrap();
}

fn save_dump(path: &std::path::Path, tokens: Tensor) {
    let mut d = HashMap::new();
    d.insert("tokens".to_owned(), tokens);
    d.insert(
        "grid".to_owned(),
        Tensor::new(&[16u32, 16], &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&d, path).unwrap();
}

/// A temporary folder with a random projector and an empty `dumps/` folder.
fn projector_and_dump_folder() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    AlignProjector,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let proj_path = tmp.path().join("projector.safetensors");
    random_projector(&proj_path);
    let proj = AlignProjector::load(&proj_path, &Device::Cpu).unwrap();
    let dumps = tmp.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    (tmp, proj_path, proj, dumps)
}

#[test]
fn alignment_with_own_features_is_one_and_missing_dumps_are_named() {
    let (p, ep, settings) = setup();
    let (_tmp, proj_path, proj, dumps) = projector_and_dump_folder();
    let lf = frame_features(&p, None, &ep, 3, &settings).unwrap();
    let i = lf.names.iter().position(|n| n == "layer 0").unwrap();
    let x = Tensor::from_vec(lf.features[i].clone(), (256, 64), &Device::Cpu).unwrap();
    save_dump(
        &dumps.join("step_000003.safetensors"),
        proj.forward(&x).unwrap(),
    );
    let mut req = request(
        vec![FeatureSource::Layer("siglip".into())],
        PcaFit::Frame,
        &settings,
    );
    req.align = Some(AlignSettings {
        projector: proj_path,
        dumps: dumps.clone(),
        layer: Some("layer 0".into()),
    });
    let mut state = FeatureState::default();
    let v = feature_view(&p, &mut state, &ep, 3, &req).unwrap();
    let a = v.alignment.expect("step 3 has a dump");
    assert_eq!(
        (a.side, a.dump_grid, a.summary.patches),
        (16, [16, 16], 256)
    );
    assert!(a.cosine.iter().all(|c| (c - 1.0).abs() < 1e-5));
    assert_eq!(a.summary.histogram[19], 256);
    // Another layer against the same dump is not aligned: the test can fail.
    req.align.as_mut().unwrap().layer = Some("layer 1".into());
    let b = feature_view(&p, &mut state, &ep, 3, &req)
        .unwrap()
        .alignment
        .unwrap();
    assert!(b.summary.mean < 0.99, "{}", b.summary.mean);
    // A step without a dump: the maps, and a note saying which file is missing.
    let v4 = feature_view(&p, &mut state, &ep, 4, &req).unwrap();
    assert!(v4.alignment.is_none());
    assert!(v4.alignment_note.unwrap().contains("step_4"));
}

#[test]
fn probe_cka_with_a_dump_of_a_layer_is_one_for_that_layer() {
    let (p, ep, settings) = setup();
    let mut run = ProbeRun::default();
    let mut with_dump = 0;
    for step in (0..ep.num_steps()).step_by(3).take(8) {
        let lf = frame_features(&p, None, &ep, step, &settings).unwrap();
        let i = lf.names.iter().position(|n| n == "embeddings").unwrap();
        // Every other frame has a dump: the CKA uses those frames only.
        let dump = (step % 2 == 0).then(|| FeatureDump {
            tokens: Tensor::from_vec(lf.features[i].clone(), (256, lf.widths[i]), &Device::Cpu)
                .unwrap(),
            rows: 16,
            cols: 16,
            valid: None,
        });
        with_dump += usize::from(dump.is_some());
        run.add(&ep.name, step, &lf, dump.as_ref()).unwrap();
    }
    let r = run.finish("tiny", true).unwrap();
    assert_eq!(r.features3d_frames, with_dump);
    let cka = |name: &str| {
        r.layers
            .iter()
            .find(|l| l.layer == name)
            .unwrap()
            .cka_with_features3d
            .unwrap()
    };
    assert!(
        (cka("embeddings") - 1.0).abs() < 1e-9,
        "{}",
        cka("embeddings")
    );
    assert!(cka("siglip") < 0.999, "{}", cka("siglip"));
    assert!(r.layers.iter().all(|l| l.fit.is_some()));
}

#[test]
fn the_cli_saves_frames_for_vggt_and_aligns_every_step_of_a_dump_folder() {
    let (p, ep, settings) = setup();
    let (tmp, proj_path, proj, dumps) = projector_and_dump_folder();
    // Step 0: the last layer's own projected features; step 20: unrelated tokens.
    let lf = frame_features(&p, None, &ep, 0, &settings).unwrap();
    let last = lf
        .names
        .iter()
        .rposition(|n| n.starts_with("layer"))
        .unwrap();
    let x = Tensor::from_vec(lf.features[last].clone(), (256, 64), &Device::Cpu).unwrap();
    save_dump(&dumps.join("step_0.safetensors"), proj.forward(&x).unwrap());
    save_dump(
        &dumps.join("step_00020.safetensors"),
        Tensor::randn(0f32, 1.0, (256, 16), &Device::Cpu).unwrap(),
    );
    // Not a step dump: ignored.
    std::fs::write(dumps.join("notes.txt"), "x").unwrap();
    let out = tmp.path().join("out");
    let o = common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_spatialscope"))
            .args([
                "features",
                "--depth-source",
                "sensor",
                "--layer",
                "siglip",
                "--every",
                "20",
                "--save-frames",
                "--projector",
            ])
            .arg(&proj_path)
            .arg("--features3d")
            .arg(&dumps)
            .arg("--out")
            .arg(&out)
            .arg(common::native_dir()),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2 steps with a dump"), "{text}");
    for s in [0, 20, 40] {
        let f = image::open(out.join(format!("frames/step_{s}.png"))).unwrap();
        assert_eq!((f.width(), f.height()), (256, 256));
    }
    assert!(!out.join("frames/step_1.png").exists());
    let j: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("alignment_per_step.json")).unwrap(),
    )
    .unwrap();
    let steps = j["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (steps[0]["step"].as_u64(), steps[1]["step"].as_u64()),
        (Some(0), Some(20))
    );
    assert!((steps[0]["mean_cosine"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    assert!(steps[1]["mean_cosine"].as_f64().unwrap().abs() < 0.5);
    assert!(out.join("alignment_per_step.png").is_file());
}
