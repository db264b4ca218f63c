//! The background worker on real data: opening, progressive summaries, latest-wins frame
//! requests, and errors reported as messages (never a dead worker).

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use spatialscope::worker::{Command, WorkerHandle, WorkerMessage};

fn wait_for(
    w: &WorkerHandle,
    timeout: Duration,
    mut pick: impl FnMut(&WorkerMessage) -> bool,
) -> Vec<WorkerMessage> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < timeout {
        if let Some(m) = w.recv_timeout(Duration::from_millis(50)) {
            let done = pick(&m);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
    panic!("timed out; saw {} messages", seen.len());
}

fn open_first_episode(path: std::path::PathBuf) -> (WorkerHandle, u64, usize) {
    let w = spatialscope::worker::frames::spawn(Arc::new(|| {}));
    w.send(Command::Open(path));
    wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::CollectionOpened { .. })
    });
    w.send(Command::OpenEpisode {
        dataset: 0,
        episode: 0,
    });
    let msgs = wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::EpisodeOpened { .. })
    });
    let Some(WorkerMessage::EpisodeOpened { data, .. }) = msgs.last() else {
        unreachable!()
    };
    (w, data.uid, data.num_steps())
}

#[test]
fn frame_requests_are_latest_wins() {
    let (w, uid, n) = open_first_episode(common::native_dir());
    assert_eq!(n, 46);
    for step in 0..n {
        w.send(Command::ShowStep {
            episode_uid: uid,
            step,
            scene: Default::default(),
        });
    }
    let msgs = wait_for(
        &w,
        Duration::from_secs(60),
        |m| matches!(m, WorkerMessage::Frame(f) if f.step == n - 1),
    );
    let frames: Vec<usize> = msgs
        .iter()
        .filter_map(|m| match m {
            WorkerMessage::Frame(f) => Some(f.step),
            _ => None,
        })
        .collect();
    assert!(
        frames.len() < n / 2,
        "a burst of {n} requests decoded {} steps: {frames:?}",
        frames.len()
    );
    assert_eq!(frames.last(), Some(&(n - 1)));
}

#[test]
fn summaries_fill_in_progressively_for_rlds() {
    let w = spatialscope::worker::frames::spawn(Arc::new(|| {}));
    w.send(Command::Open(common::bridge_dir()));
    let msgs = wait_for(&w, Duration::from_secs(60), |m| {
        matches!(m, WorkerMessage::Idle)
    });
    let opened = msgs.iter().find_map(|m| match m {
        WorkerMessage::CollectionOpened { datasets, .. } => Some(datasets.clone()),
        _ => None,
    });
    let datasets = opened.expect("collection");
    assert!(
        datasets[0]
            .summaries
            .iter()
            .all(|s| s.instruction.is_none()),
        "the open itself parses no record"
    );
    let updates = msgs
        .iter()
        .filter(|m| matches!(m, WorkerMessage::SummaryUpdated { .. }))
        .count();
    assert_eq!(updates, 25);
    assert!(
        msgs.iter()
            .any(|m| matches!(m, WorkerMessage::Progress { total: 25, .. }))
    );
}

#[test]
fn a_broken_episode_is_reported_and_the_worker_keeps_serving() {
    let (_tmp, dir) = common::bridge_copy();
    let shard = dir.join("bridge_dataset-train.tfrecord-00000-of-00001");
    let idx = spatialscope::episode::formats::rlds::tfrecord::index_records(&shard).expect("index");
    let span = idx.records[1];
    let mut bytes = std::fs::read(&shard).expect("read");
    bytes[(span.offset + 40) as usize] ^= 0xff;
    std::fs::write(&shard, bytes).expect("write");

    let (w, _, _) = open_first_episode(dir);
    w.send(Command::OpenEpisode {
        dataset: 0,
        episode: 1,
    });
    let msgs = wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::Error(_))
    });
    let failed = msgs
        .iter()
        .any(|m| matches!(m, WorkerMessage::EpisodeFailed { episode: 1, .. }));
    assert!(failed);
    let Some(WorkerMessage::Error(e)) = msgs.last() else {
        unreachable!()
    };
    assert!(
        e.message.contains("CRC") && e.message.contains("record 1"),
        "{}",
        e.message
    );
    assert!(
        e.file
            .as_ref()
            .is_some_and(|f| f.ends_with("bridge_dataset-train.tfrecord-00000-of-00001"))
    );
    w.send(Command::OpenEpisode {
        dataset: 0,
        episode: 2,
    });
    wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::EpisodeOpened { episode: 2, .. })
    });
}

/// Waits for the frame bundle of `step`.
fn next_frame(w: &WorkerHandle, step: usize) -> Arc<spatialscope::worker::FrameBundle> {
    let msgs = wait_for(
        w,
        Duration::from_secs(30),
        |m| matches!(m, WorkerMessage::Frame(f) if f.step == step),
    );
    match msgs.last() {
        Some(WorkerMessage::Frame(f)) => f.clone(),
        _ => unreachable!("wait_for returns on the matching message"),
    }
}

#[test]
fn the_3d_cloud_fuses_both_cameras_and_a_hidden_camera_leaves_it() {
    let (w, uid, _) = open_first_episode(common::native_dir());
    w.send(Command::ShowStep {
        episode_uid: uid,
        step: 3,
        scene: Default::default(),
    });
    let f = next_frame(&w, 3);
    let cloud = &f.scene.as_ref().expect("scene").cloud;
    assert!(cloud.world_frame);
    // By default the GPU lifts: the scene carries both cameras' images, not points.
    let lift = cloud.lift.as_ref().expect("GPU-lifted by default");
    assert_eq!(
        cloud.point_count(),
        256 * 256 + 128 * 128,
        "simulated depth has no holes"
    );
    let cams: Vec<u32> = lift.images.iter().map(|i| i.camera).collect();
    assert_eq!(cams, [0, 1]);
    assert!(
        lift.images
            .iter()
            .all(|i| matches!(i.depth, spatialscope::render::LiftDepth::U16 { .. })),
        "millimetre PNG depth goes up as u16"
    );

    w.send(Command::ShowStep {
        episode_uid: uid,
        step: 3,
        scene: spatialscope::scene::SceneOptions {
            hidden_cameras: vec![1],
            lift: spatialscope::scene::CloudLift::Cpu,
            ..Default::default()
        },
    });
    let f = next_frame(&w, 3);
    let cloud = &f.scene.as_ref().expect("scene").cloud;
    assert!(cloud.lift.is_none());
    assert_eq!(cloud.points.len(), 256 * 256);
    assert!(cloud.points.iter().all(|p| p.camera & 0xFFFF == 0));
}

#[test]
fn the_model_view_shows_the_1024_ego3d_samples_on_the_table() {
    let (w, uid, _) = open_first_episode(common::native_dir());
    w.send(Command::ShowStep {
        episode_uid: uid,
        step: 0,
        scene: spatialscope::scene::SceneOptions {
            hidden_cameras: vec![],
            model_view: true,
            ..Default::default()
        },
    });
    let f = next_frame(&w, 0);
    let cloud = &f.scene.as_ref().expect("scene").cloud;
    assert_eq!(cloud.points.len(), 1024, "16 x 16 patches x 2 x 2 samples");
    assert!(
        cloud.world_frame && cloud.points.iter().all(|p| p.camera & 0xFFFF == 0),
        "the first depth camera (agentview)"
    );
    // Resize to 224, K scaled to 224, 7 x 7 pooling, lift, pose: most samples sit on the table.
    let on_table = cloud
        .points
        .iter()
        .filter(|p| (p.position[2] - 0.8).abs() < 0.01)
        .count();
    assert!(
        on_table > 500,
        "{on_table} of 1024 samples within 1 cm of the table plane"
    );
    // Each sample knows its patch (4 per patch, in packing order), and the patch grid is drawn.
    for (i, p) in cloud.points.iter().enumerate() {
        assert_eq!(p.camera >> 16, (i / 4 + 1) as u32);
    }
    let lines = &f.scene.as_ref().expect("scene").lines;
    let patch_segments = lines
        .segments
        .iter()
        .filter(|s| s.rgba == spatialscope::render::pack_rgb(120, 200, 255))
        .count();
    assert_eq!(patch_segments, 256 * 4, "one quad outline per patch");
    // bf16 K (fx 218.26 -> 218, fy 291.0 -> 292 at 224 px for this camera's K) moves the
    // samples slightly but not the table they sit on.
    w.send(Command::ShowStep {
        episode_uid: uid,
        step: 0,
        scene: spatialscope::scene::SceneOptions {
            hidden_cameras: vec![],
            model_view: true,
            model_view_bf16: true,
            ..Default::default()
        },
    });
    let g = next_frame(&w, 0);
    let bf = &g.scene.as_ref().expect("scene").cloud;
    let moved = cloud
        .points
        .iter()
        .zip(&bf.points)
        .map(|(a, b)| {
            (0..3)
                .map(|k| (a.position[k] - b.position[k]).abs())
                .fold(0f32, f32::max)
        })
        .fold(0f32, f32::max);
    assert!(
        moved > 1e-5 && moved < 0.05,
        "bf16 K moves samples by {moved} m"
    );
}

#[test]
fn hdf5_orientation_can_be_changed_and_lerobot_stats_reach_the_ui() {
    use spatialscope::episode::ImageOrientation as Orientation;
    let hdf5 = common::repo().join("sample_episodes/sim_hdf5");
    let (w, uid, _) = open_first_episode(hdf5);
    w.send(Command::ShowStep {
        episode_uid: uid,
        step: 0,
        scene: Default::default(),
    });
    let upright = next_frame(&w, 0);
    let upright = upright.cameras[0].rgb.as_ref().expect("rgb").clone();
    w.send(Command::SetOrientation {
        dataset: 0,
        orientation: Orientation::Flipped,
    });
    let msgs = wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::DatasetReplaced { .. })
    });
    let Some(WorkerMessage::DatasetReplaced { info, .. }) = msgs.last() else {
        unreachable!()
    };
    let (o, why) = info
        .orientation
        .clone()
        .expect("hdf5 reports its orientation");
    assert_eq!(o, Orientation::Flipped);
    assert!(why.contains("chosen by the user"), "{why}");
    w.send(Command::OpenEpisode {
        dataset: 0,
        episode: 0,
    });
    let msgs = wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::EpisodeOpened { .. })
    });
    let Some(WorkerMessage::EpisodeOpened { data, .. }) = msgs.last() else {
        unreachable!()
    };
    w.send(Command::ShowStep {
        episode_uid: data.uid,
        step: 0,
        scene: Default::default(),
    });
    let flipped = next_frame(&w, 0);
    let flipped = flipped.cameras[0].rgb.as_ref().expect("rgb");
    let row = upright.width_px as usize * 3;
    let h = upright.height_px as usize;
    assert_eq!(&flipped.pixels[..row], &upright.pixels[(h - 1) * row..]);
    assert_ne!(flipped.pixels, upright.pixels);

    let w = spatialscope::worker::frames::spawn(Arc::new(|| {}));
    w.send(Command::Open(
        common::repo().join("sample_episodes/sim_lerobot_v21"),
    ));
    let msgs = wait_for(&w, Duration::from_secs(30), |m| {
        matches!(m, WorkerMessage::CollectionOpened { .. })
    });
    let Some(WorkerMessage::CollectionOpened { datasets, .. }) = msgs.last() else {
        unreachable!()
    };
    let s = datasets[0].declared_stats.as_ref().expect("stats.json");
    assert!(s.source.ends_with("meta/stats.json"));
    assert!(datasets[0].orientation.is_none());
}
