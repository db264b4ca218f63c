//! Bad geometry reaches the 3-D view as warnings, never a panic: invalid depth pixels are
//! skipped and counted, singular intrinsics skip the camera, a pose whose rotation is not
//! orthonormal is flagged, and the rest of the scene still builds.

use crate::common;

use std::sync::Arc;

use spatialscope::episode::{FrameCache, open_path};

fn cloud_of(dir: &std::path::Path, step: usize) -> spatialscope::render::PointCloud {
    let c = open_path(dir).expect("opens");
    let ep = c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .expect("episode");
    spatialscope::scene::cloud::step_cloud(&ep, step, |_| true).expect("cloud")
}

fn edit_json(dir: &std::path::Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join("episode.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, v.to_string()).unwrap();
}

#[test]
fn zero_depth_pixels_are_skipped_and_reported() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    let png = dir.join("depth/agentview/000000.png");
    let mut d = image::open(&png).unwrap().to_luma16();
    for x in 0..256 {
        for y in 0..10 {
            d.put_pixel(x, y, image::Luma([0]));
        }
    }
    d.save(&png).unwrap();
    let cloud = cloud_of(&dir, 0);
    assert_eq!(cloud.points.len(), 256 * 256 - 2560 + 128 * 128);
    // The GPU lift counts the same pixels and says the same.
    let c = open_path(&dir).unwrap();
    let ep = c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .unwrap();
    let gpu = spatialscope::scene::lift::step_cloud_gpu(&ep, 0, |_| true, 1).unwrap();
    assert_eq!(gpu.point_count(), cloud.points.len());
    assert_eq!(gpu.warnings, cloud.warnings);
    assert!(
        cloud
            .warnings
            .iter()
            .any(|w| w.contains("agentview") && w.contains("2560 of 65536")),
        "{:?}",
        cloud.warnings
    );
}

#[test]
fn a_non_rigid_pose_is_flagged() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    edit_json(&dir, |v| {
        for f in v["frames"].as_array_mut().unwrap() {
            f["camera_extrinsics"]["agentview"]["world_from_camera_opencv"][0][0] = 0.5.into();
        }
        v["cameras"]["agentview"]["world_from_camera_opencv"][0][0] = 0.5.into();
    });
    let cloud = cloud_of(&dir, 0);
    assert!(
        cloud
            .warnings
            .iter()
            .any(|w| w.contains("agentview") && w.contains("not orthonormal")),
        "{:?}",
        cloud.warnings
    );
    assert!(!cloud.points.is_empty());
}

#[test]
fn singular_intrinsics_are_refused_by_name_at_load() {
    let (_tmp, dir) = common::native_episode_copy("episode_000");
    edit_json(&dir, |v| {
        v["cameras"]["robot0_eye_in_hand"]["K"][1][1] = 0.0.into();
    });
    // The native loader checks K; the episode is refused with the field named (the other
    // episodes of a dataset stay usable, tested in corrupt_inputs.rs).
    let c = open_path(&dir).expect("the folder opens");
    let e = c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .expect_err("singular K");
    assert!(
        e.to_string().contains("cameras.robot0_eye_in_hand.K"),
        "{e}"
    );
}

#[test]
fn singular_intrinsics_from_the_geometry_layer_are_skipped() {
    // Formats that cannot validate K (or K that degenerates after scaling) reach the
    // geometry layer, which refuses to invert it.
    let k = [[0.0f32, 0.0, 10.0], [0.0, 5.0, 10.0], [0.0, 0.0, 1.0]];
    assert!(spatialscope::geometry::inverse_pinhole(&k).is_none());
}
