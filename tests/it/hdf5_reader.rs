//! The pure-Rust HDF5 reader against files h5py wrote (robomimic layout, gzip + shuffle chunks
//! spanning several frames, float and millimetre depth, per-step poses, every string attribute
//! encoding), once with libver "earliest" and once "v112": every value is compared with what
//! `tests/fixtures/hdf5/make.py` wrote, frames read in order and in a scrambled order.

use crate::bad_datasets::cache;
use crate::bad_hdf5::h5_fixture;
use crate::common;

use spatialscope::episode::{CameraPoses, Dataset, DatasetFormat};

fn expected(name: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(common::repo().join("tests/fixtures/hdf5/expected.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all[name].clone()
}

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn h5py_files_of_every_libver_read_exactly() {
    for name in ["robomimic_earliest.hdf5", "robomimic_v112.hdf5"] {
        let exp = expected(name);
        let (_t, path) = h5_fixture(name);
        let d = Dataset::open(&path, DatasetFormat::Hdf5).unwrap();
        assert_eq!(d.len(), 2, "{name}");
        assert!(
            d.orientation_note().unwrap().contains("opencv"),
            "{name}: the fixed-width bytes attribute macros_image_convention is read"
        );
        for (i, demo) in ["demo_0", "demo_1"].into_iter().enumerate() {
            let e = &exp["demos"][demo];
            let n = e["steps"].as_u64().unwrap() as usize;
            let ep = d.open_episode(i, &cache()).unwrap();
            let what = format!("{name} {demo}");
            assert_eq!(ep.num_steps(), n, "{what}");
            assert_eq!(ep.instruction, e["instruction"].as_str().unwrap(), "{what}");
            assert_eq!(ep.fps, Some(20.0), "{what}: env_args JSON control_freq");
            // Actions (float64, gzip + shuffle) as stored.
            for (t, row) in e["actions"].as_array().unwrap().iter().enumerate() {
                let want = f64s(row);
                for (j, w) in want.iter().enumerate() {
                    assert!(
                        (ep.actions.values[t][j] as f64 - w).abs() < 1e-6,
                        "{what} action {t},{j}"
                    );
                }
            }
            // Proprio (float32).
            let p = ep.proprio.as_ref().expect("robot0_eef_pos");
            for (t, row) in e["eef_pos"].as_array().unwrap().iter().enumerate() {
                // Stored as float32: equal as float32.
                assert_eq!(
                    p.values[t],
                    f64s(row).into_iter().map(|v| v as f32).collect::<Vec<_>>(),
                    "{what} eef {t}"
                );
            }
            let agent = ep.camera_index("agentview").unwrap();
            let wrist = ep.camera_index("wrist").unwrap();
            let cam = &ep.cameras[agent];
            let k = cam.intrinsics.as_ref().expect("camera_params K");
            assert_eq!((k.fx_px, k.cx_px, k.cy_px), (20.0, 6.0, 5.0), "{what}");
            let CameraPoses::PerStep(poses) = &cam.poses else {
                panic!("{what}: per-step poses, got {:?}", cam.poses)
            };
            assert_eq!(
                poses.iter().map(|m| m[(0, 3)]).collect::<Vec<_>>(),
                f64s(&e["pose_x"]),
                "{what}"
            );
            assert!(cam.has_depth && ep.cameras[wrist].has_depth, "{what}");
            // Frames in a scrambled order, then in order: blocks of 3 frames share chunks.
            let order: Vec<usize> = (0..n).rev().chain(0..n).chain([n / 2, 0, n - 1]).collect();
            for t in order {
                let rgb = ep.rgb(t, agent).unwrap();
                assert_eq!((rgb.width_px, rgb.height_px), (12, 10));
                let sum: u64 = rgb.pixels.iter().map(|&v| v as u64).sum();
                assert_eq!(
                    sum,
                    e["agentview_rgb_sum"][t].as_u64().unwrap(),
                    "{what} rgb {t}"
                );
                let px: Vec<u64> = rgb.pixels[..3].iter().map(|&v| v as u64).collect();
                let want: Vec<u64> = e["agentview_rgb_first_px"][t]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                assert_eq!(px, want, "{what} first pixel {t}");
                let depth = ep.depth(t, agent).unwrap().unwrap();
                let sum: f64 = depth.depth_m.iter().map(|&v| v as f64).sum();
                let want = e["agentview_depth_sum"][t].as_f64().unwrap();
                assert!(
                    (sum - want).abs() < 1e-6 * want,
                    "{what} depth {t}: {sum} vs {want}"
                );
                let w = ep.rgb(t, wrist).unwrap();
                let sum: u64 = w.pixels.iter().map(|&v| v as u64).sum();
                assert_eq!(
                    sum,
                    e["wrist_rgb_sum"][t].as_u64().unwrap(),
                    "{what} wrist {t}"
                );
                let wd = ep.depth(t, wrist).unwrap().unwrap();
                let sum: f64 = wd.depth_m.iter().map(|&v| v as f64).sum();
                let want = e["wrist_depth_m_sum"][t].as_f64().unwrap();
                assert!(
                    (sum - want).abs() < 1e-4,
                    "{what} uint16 millimetres become metres {t}: {sum} vs {want}"
                );
            }
            assert!(ep.rgb(n, agent).is_err(), "{what}: past the end");
        }
    }
}

#[test]
fn hdf5_2_layouts_are_refused_with_what_to_do() {
    let (_t, path) = h5_fixture("robomimic_v200.hdf5");
    let msg = match Dataset::open(&path, DatasetFormat::Hdf5) {
        Err(e) => e.to_string(),
        Ok(d) => d.open_episode(0, &cache()).unwrap_err().to_string(),
    };
    assert!(
        msg.contains("robomimic_v200.hdf5") && msg.contains("HDF5 2.0") && msg.contains("re-save"),
        "{msg}"
    );
}
