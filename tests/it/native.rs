//! The shipped simulated RGB-D episodes in native form: metadata, actions, intrinsics,
//! poses, and a physical cross-check of depth + K + extrinsics (the table top back-projects
//! to the plane z = 0.800 m of the simulator's world).

use crate::common;

use std::sync::Arc;

use spatialscope::episode::{self, CalibrationOrigin, CameraPoses, DatasetFormat, FrameCache};

#[test]
fn the_three_episodes_load_with_their_metadata() {
    let c = episode::open_path(&common::native_dir()).expect("open");
    assert_eq!(c.datasets.len(), 1);
    let d = &c.datasets[0];
    assert_eq!(d.format, DatasetFormat::Native);
    assert_eq!(d.len(), 3);
    let cache = Arc::new(FrameCache::new(64 << 20));
    let lens = [46, 52, 66];
    for (i, want) in lens.iter().enumerate() {
        let ep = d.open_episode(i, &cache).expect("open episode");
        assert_eq!(ep.num_steps(), *want);
        assert_eq!(ep.fps, Some(20.0));
        assert_eq!(ep.cameras.len(), 2);
        assert_eq!(ep.cameras[0].name, "agentview");
        assert_eq!(
            (ep.cameras[0].width_px, ep.cameras[0].height_px),
            (256, 256)
        );
        assert_eq!(
            (ep.cameras[1].width_px, ep.cameras[1].height_px),
            (128, 128)
        );
        assert!(
            ep.cameras
                .iter()
                .all(|c| c.has_depth && c.intrinsics_source == CalibrationOrigin::File)
        );
        assert!(matches!(ep.cameras[0].poses, CameraPoses::Static(_)));
        assert!(matches!(&ep.cameras[1].poses, CameraPoses::PerStep(v) if v.len() == *want));
        assert_eq!(ep.proprio.as_ref().expect("proprio").names.len(), 8);
    }
    let ep = d.open_episode(0, &cache).expect("episode 0");
    assert_eq!(ep.instruction, "pick up the red cube");
    assert_eq!(
        ep.actions.values[0],
        [0.05, 0.04989, -0.05, 0.0, 0.0, 0.5, 1.0]
    );
    let k = ep.cameras[0].intrinsics.expect("K");
    assert!((k.fx_px - 309.019336).abs() < 1e-9 && (k.cx_px - 127.5).abs() < 1e-12);
}

#[test]
fn depth_and_poses_put_the_table_top_at_0_8_m() {
    let d = &episode::open_path(&common::native_dir())
        .expect("open")
        .datasets[0];
    let cache = Arc::new(FrameCache::new(64 << 20));
    let ep = d.open_episode(0, &cache).expect("episode 0");
    let cam = &ep.cameras[0];
    let k = cam.intrinsics.expect("K");
    let pose = *cam.poses.world_from_camera(0).expect("pose");
    let depth = ep.depth(0, 0).expect("decode").expect("has depth");
    assert_eq!((depth.width_px, depth.height_px), (256, 256));
    let (mut on_table, mut valid) = (0usize, 0usize);
    for v in 0..depth.height_px {
        for u in 0..depth.width_px {
            let Some(z) = depth.at(u, v) else { continue };
            valid += 1;
            let z = f64::from(z);
            let p_cam = nalgebra::Vector4::new(
                (f64::from(u) - k.cx_px) * z / k.fx_px,
                (f64::from(v) - k.cy_px) * z / k.fy_px,
                z,
                1.0,
            );
            let p_world = pose * p_cam;
            if (p_world.z - 0.800).abs() < 0.001 {
                on_table += 1;
            }
        }
    }
    assert_eq!(valid, 256 * 256, "simulated depth has no holes");
    // The table fills most of the agentview image (~50k of 65k pixels per the provenance).
    assert!(
        on_table > 40_000,
        "only {on_table} pixels on the plane z = 0.8 m"
    );
    let rgb = ep.rgb(0, 0).expect("rgb");
    assert_eq!(rgb.pixels.len(), 256 * 256 * 3);
}

#[test]
fn a_single_episode_folder_and_its_episode_json_open_too() {
    let dir = common::native_dir().join("episode_001");
    for p in [dir.clone(), dir.join("episode.json")] {
        let c = episode::open_path(&p).expect("open");
        assert_eq!(c.episode_count(), 1);
        let cache = Arc::new(FrameCache::new(8 << 20));
        let ep = c.datasets[0].open_episode(0, &cache).expect("episode");
        assert_eq!(
            ep.instruction,
            "stack the red cube on top of the green cube"
        );
    }
}

#[test]
fn the_sample_folder_opens_every_dataset() {
    let c = episode::open_path(&common::repo().join("sample_episodes")).expect("open");
    let formats: Vec<DatasetFormat> = c.datasets.iter().map(|d| d.format).collect();
    assert_eq!(
        formats,
        [
            DatasetFormat::Rlds,
            DatasetFormat::Hdf5,
            DatasetFormat::LeRobot,
            DatasetFormat::LeRobot,
            DatasetFormat::Native,
            DatasetFormat::RlBench,
            DatasetFormat::RlBench
        ]
    );
    assert_eq!(c.episode_count(), 25 + 4 * 3 + 2);
    assert!(c.problems.is_empty());
}

#[test]
fn a_folder_of_episode_folders_without_an_index_is_one_dataset() {
    let tmp = tempfile::tempdir().expect("tmp");
    for e in ["episode_000", "episode_001"] {
        common::copy_dir(
            &common::native_dir().join(e),
            &tmp.path().join("my_set").join(e),
        );
    }
    let c = episode::open_path(tmp.path()).expect("open");
    assert_eq!(c.datasets.len(), 1, "one dataset, not one per episode");
    assert_eq!(c.datasets[0].name, "my_set");
    assert_eq!(c.datasets[0].len(), 2);
    let s = c.datasets[0]
        .summarize(1)
        .expect("summary from episode.json");
    assert_eq!(s.num_steps, Some(52));
    assert_eq!(s.cameras, ["agentview", "robot0_eye_in_hand"]);
}
