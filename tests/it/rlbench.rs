//! RLBench episodes written by RLBench's own classes and encoder from the native sim
//! episodes (`sample_episodes/sim_rlbench/make.py`): the reader must give back the source's
//! depth (to the 24-bit encoding's precision), PyRep's world points, the instruction, the
//! step count and the gripper trajectory; and the code-free pickle reader must read what
//! CPython's pickler writes under every protocol.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use spatialscope::episode::{self, CameraPoses, DatasetFormat, Episode, FrameCache};
use spatialscope::util::pickle::{self, Value};

fn rlbench_root() -> std::path::PathBuf {
    common::repo().join("sample_episodes/sim_rlbench")
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(rlbench_root().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn open_episode(rel: &str) -> Episode {
    let c = episode::open_path(&rlbench_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.datasets.len(), 1);
    let d = &c.datasets[0];
    assert_eq!(d.format, DatasetFormat::RlBench);
    d.open_episode(0, &Arc::new(FrameCache::new(64 << 20)))
        .unwrap()
}

fn native_episode(i: usize) -> Episode {
    let c = episode::open_path(&common::native_dir()).unwrap();
    c.datasets[0]
        .open_episode(i, &Arc::new(FrameCache::new(64 << 20)))
        .unwrap()
}

#[test]
fn both_layouts_are_found_from_the_samples_root() {
    let c = episode::open_path(&rlbench_root()).unwrap();
    let mut found: Vec<(String, usize, String)> = c
        .datasets
        .iter()
        .map(|d| {
            assert_eq!(d.format, DatasetFormat::RlBench);
            (d.name.clone(), d.len(), d.quick_summary(0).name)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("lift".to_owned(), 1, "variation0/episode0".to_owned()),
            ("stack".to_owned(), 1, "all_variations/episode0".to_owned()),
        ]
    );
    // A single episode folder and its pickle open too.
    let ep = rlbench_root().join("lift/variation0/episodes/episode0");
    for p in [ep.clone(), ep.join("low_dim_obs.pkl")] {
        let c = episode::open_path(&p).unwrap();
        assert_eq!(c.datasets[0].len(), 1, "{}", p.display());
    }
}

#[test]
fn episode_matches_its_source() {
    let exp = expected();
    for (rel, native_index) in [("lift", 0usize), ("stack", 1)] {
        let ep = open_episode(rel);
        let key = if rel == "lift" {
            "lift/variation0/episodes/episode0"
        } else {
            "stack/all_variations/episodes/episode0"
        };
        let e = &exp[key];
        let native = native_episode(native_index);
        assert_eq!(ep.instruction, native.instruction, "{rel}");
        assert_eq!(ep.instruction, e["instruction"].as_str().unwrap());
        assert_eq!(
            ep.num_steps() as u64,
            e["num_steps"].as_u64().unwrap(),
            "{rel}"
        );
        let names: Vec<&str> = ep.cameras.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["front", "wrist"], "{rel}");
        assert!(
            ep.cameras
                .iter()
                .all(|c| c.has_depth && c.intrinsics.is_some())
        );
        assert!(
            matches!(ep.cameras[0].poses, CameraPoses::Static(_)),
            "front is fixed"
        );
        assert!(
            matches!(ep.cameras[1].poses, CameraPoses::PerStep(_)),
            "wrist moves"
        );
        // The trajectory: eef x/y/z equal the source's grip-site positions.
        let (p, n) = (
            ep.proprio.as_ref().unwrap(),
            native.proprio.as_ref().unwrap(),
        );
        assert_eq!(&p.names[..3], &n.names[..3]);
        for s in 0..ep.num_steps() {
            for d in 0..3 {
                assert!(
                    (p.values[s][d] - n.values[s][d]).abs() < 1e-6,
                    "{rel} step {s} dim {d}"
                );
            }
        }
        // Derived actions: step 0's translation is the move to step 1.
        let a = ep.actions.values[0];
        for (d, moved) in a.iter().take(3).enumerate() {
            assert!((moved - (p.values[1][d] - p.values[0][d])).abs() < 1e-6);
        }
        for (ci, src_cam) in [(0usize, "agentview"), (1, "robot0_eye_in_hand")] {
            let sc = native.camera_index(src_cam).unwrap();
            for step in [0, ep.num_steps() - 1] {
                check_depth_and_points(
                    &ep,
                    ci,
                    &native,
                    sc,
                    step,
                    &e["probes"][&ep.cameras[ci].name][step.to_string()],
                );
            }
        }
    }
}

/// Depth equals the source's within the encoding's precision; world points equal PyRep's at
/// the probes (from the generator) and the source's within the half pixel PyRep's K differs
/// by.
fn check_depth_and_points(
    ep: &Episode,
    ci: usize,
    native: &Episode,
    sc: usize,
    step: usize,
    probes: &serde_json::Value,
) {
    let d = ep.depth(step, ci).unwrap().unwrap();
    let nd = native.depth(step, sc).unwrap().unwrap();
    assert_eq!((d.width_px, d.height_px), (nd.width_px, nd.height_px));
    let worst = d
        .depth_m
        .iter()
        .zip(&nd.depth_m)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-6,
        "{} step {step}: depth differs by {worst} m",
        ep.name
    );
    let cam = &ep.cameras[ci];
    let k = cam.intrinsics.unwrap();
    let pose = cam.poses.world_from_camera(step).unwrap();
    let ncam = &native.cameras[sc];
    let nk = ncam.intrinsics.unwrap();
    let npose = ncam.poses.world_from_camera(step).unwrap();
    let world = |k: &episode::Intrinsics, pose: &nalgebra::Matrix4<f64>, u: f64, v: f64, z: f64| {
        let pc = nalgebra::Vector4::new(
            (u - k.cx_px) * z / k.fx_px,
            (v - k.cy_px) * z / k.fy_px,
            z,
            1.0,
        );
        pose * pc
    };
    let pixels = probes["pixels_uv"].as_array().unwrap();
    for (i, uv) in pixels.iter().enumerate() {
        let (u, v) = (uv[0].as_f64().unwrap(), uv[1].as_f64().unwrap());
        let z = f64::from(d.depth_m[v as usize * d.width_px as usize + u as usize]);
        assert!((z - probes["depth_m"][i].as_f64().unwrap()).abs() < 1e-6);
        let ours = world(&k, pose, u, v, z);
        let pyrep = &probes["world_points_m"][i];
        for a in 0..3 {
            let want = pyrep[a].as_f64().unwrap();
            assert!(
                (ours[a] - want).abs() < 1e-5,
                "{} {} step {step} pixel {uv}: axis {a}: {} vs PyRep {want}",
                ep.name,
                cam.name,
                ours[a]
            );
        }
        let source = world(&nk, npose, u, v, z);
        let half_pixel_m = 0.5 * z / k.fx_px.min(k.fy_px) * 1.5 + 1e-5;
        let gap = (ours - source).xyz().norm();
        assert!(
            gap < half_pixel_m,
            "{} step {step} pixel {uv}: {gap} m from the source point",
            ep.name
        );
    }
}

#[test]
fn cpython_pickles_of_every_protocol_read_back() {
    let dir = common::repo().join("tests/fixtures/rlbench");
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let want = &exp["values"];
    let nums = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap_or_else(|| panic!("{}", v.kind()))
            .to_f64()
            .unwrap()
    };
    let json_nums = |k: &str| -> Vec<f64> {
        want[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    for f in exp["files"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        let v = pickle::parse(&std::fs::read(dir.join(f)).unwrap())
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        let g = |k: &str| v.get(k).unwrap_or_else(|| panic!("{f}: no {k}"));
        assert_eq!(g("int").as_i64(), Some(7), "{f}");
        assert_eq!(g("neg").as_i64(), Some(-123456), "{f}");
        assert!(matches!(g("big"), Value::BigInt(_)), "{f}");
        assert_eq!(g("float").as_f64(), want["float"].as_f64(), "{f}");
        assert_eq!(g("text").as_str(), want["text"].as_str(), "{f}");
        assert_eq!(g("bytes"), &Value::Bytes(vec![0, 1, 255]), "{f}");
        assert_eq!(g("list").as_seq().map(<[Value]>::len), Some(5), "{f}");
        assert_eq!(g("set"), &Value::Set(vec![Value::Int(3)]), "{f}");
        assert_eq!(
            g("nested")
                .get("a")
                .and_then(|a| a.get("b"))
                .and_then(Value::as_seq)
                .map(<[Value]>::len),
            Some(2)
        );
        assert_eq!(nums(g("f8")), json_nums("f8"), "{f}");
        assert_eq!(g("f8").as_array().unwrap().shape, [2, 3], "{f}");
        assert_eq!(
            nums(g("f8_fortran")),
            json_nums("f8_fortran"),
            "{f}: column-major to row-major"
        );
        for k in ["f4", "i4_big_endian", "u1", "bool"] {
            assert_eq!(nums(g(k)), json_nums(k), "{f}: {k}");
        }
        assert!(g("empty").as_array().unwrap().is_empty());
        assert_eq!(g("scalar_f8").as_f64(), Some(0.125), "{f}");
        assert_eq!(g("scalar_i4").as_i64(), Some(-9), "{f}");
        assert_eq!(
            g("ordered").get("y").and_then(Value::as_i64),
            Some(2),
            "{f}"
        );
        let obj = g("object");
        assert_eq!(obj.class(), want["object_class"].as_str(), "{f}");
        assert_eq!(
            nums(obj.get("pose").unwrap()),
            json_nums("object_pose"),
            "{f}"
        );
    }
}

#[test]
fn hostile_rlbench_episodes_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = rlbench_root().join("stack/all_variations/episodes/episode0");
    let ep = tmp.path().join("task/all_variations/episodes/episode0");
    common::copy_dir(&src, &ep);
    let open = |p: &Path| -> String {
        let c = episode::open_path(p).unwrap();
        match c.datasets[0].open_episode(0, &Arc::new(FrameCache::new(1 << 20))) {
            Ok(_) => "opened".to_owned(),
            Err(e) => e.to_string(),
        }
    };
    // A truncated pickle: the file and the byte are named.
    let pkl = ep.join("low_dim_obs.pkl");
    let bytes = std::fs::read(&pkl).unwrap();
    std::fs::write(&pkl, &bytes[..bytes.len() / 2]).unwrap();
    let e = open(tmp.path());
    assert!(
        e.contains("low_dim_obs.pkl") && e.contains("pickle byte"),
        "{e}"
    );
    // A pickle that is not a demo.
    std::fs::write(&pkl, b"\x80\x04K\x07.").unwrap();
    let e = open(tmp.path());
    assert!(e.contains("expected an rlbench.demo.Demo"), "{e}");
    // Restored, it opens.
    std::fs::write(&pkl, &bytes).unwrap();
    assert_eq!(open(tmp.path()), "opened");
    // A depth frame that is not 24-bit RGB.
    let ep_open = {
        let c = episode::open_path(tmp.path()).unwrap();
        c.datasets[0]
            .open_episode(0, &Arc::new(FrameCache::new(1 << 20)))
            .unwrap()
    };
    std::fs::copy(ep.join("front_rgb/0.png"), ep.join("front_depth/0.png")).unwrap();
    let bad = image::RgbaImage::new(256, 256);
    bad.save(ep.join("front_depth/1.png")).unwrap();
    let e = ep_open.depth(1, 0).unwrap_err().to_string();
    assert!(
        e.contains("front_depth/1.png") && e.contains("24-bit"),
        "{e}"
    );
    // A frame linked from outside the dataset is refused.
    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.png");
        std::fs::copy(ep.join("front_rgb/2.png"), &secret).unwrap();
        std::fs::remove_file(ep.join("front_rgb/3.png")).unwrap();
        std::os::unix::fs::symlink(&secret, ep.join("front_rgb/3.png")).unwrap();
        let e = ep_open.rgb(3, 0).unwrap_err().to_string();
        assert!(e.contains("outside"), "{e}");
    }
}

/// Mutated copies of a real demo pickle (each byte position changed, and every truncation
/// length on a stride): the reader returns a value or an error, never panics.
#[test]
fn mutated_demo_pickles_never_panic() {
    let path = rlbench_root().join("stack/all_variations/episodes/episode0/low_dim_obs.pkl");
    let bytes = std::fs::read(path).unwrap();
    let mut errors = 0usize;
    for i in (0..bytes.len()).step_by(97) {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut m = bytes.clone();
            m[i] ^= flip;
            errors += usize::from(pickle::parse(&m).is_err());
        }
        errors += usize::from(pickle::parse(&bytes[..i]).is_err());
    }
    assert!(errors > 0, "some mutations must be refused");
}
