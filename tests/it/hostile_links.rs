//! Nothing is read from outside a dataset folder, whatever its links point to: a frame that
//! is a link to a file elsewhere, a shard or metadata file that is one, and a linked folder
//! met while searching an opened folder are refused with an error naming the file (the rest
//! of the dataset stays usable), and an export of such an episode carries none of the
//! outside bytes.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use crate::common;
use spatialscope::episode::{self, EpisodeError, FrameCache};

/// A file outside any dataset, holding bytes that must never be read.
fn secret(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("secret.png");
    // A valid PNG of the right size from another episode, so only the confinement (not a
    // decode error) can stop it, and its bytes are in no frame of the exported episode.
    let src = common::native_dir().join("episode_002/rgb/agentview/000040.png");
    std::fs::copy(src, &p).unwrap();
    p
}

fn replace_with_link(file: &Path, target: &Path) {
    std::fs::remove_file(file).unwrap();
    symlink(target, file).unwrap();
}

#[test]
fn a_frame_linked_out_of_the_dataset_is_refused_by_name() {
    let outside = tempfile::tempdir().unwrap();
    let target = secret(outside.path());
    let (_t, ep_dir) = common::native_episode_copy("episode_000");
    let frame = ep_dir.join("rgb/agentview/000000.png");
    replace_with_link(&frame, &target);

    let collection = episode::open_path(&ep_dir).unwrap();
    let ep = collection.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .unwrap();
    for err in [
        ep.rgb(0, 0).map(|_| ()).unwrap_err(),
        ep.encoded_rgb(0, 0).map(|_| ()).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(err, EpisodeError::OutsideDataset { .. }), "{msg}");
        assert!(
            msg.contains("000000.png") && msg.contains("outside the dataset"),
            "{msg}"
        );
    }
    // The other steps are untouched.
    ep.rgb(1, 0).expect("step 1 reads");

    // A link that stays inside the dataset is fine.
    let inside = ep_dir.join("rgb/agentview/000002.png");
    replace_with_link(&inside, &ep_dir.join("rgb/agentview/000003.png"));
    ep.rgb(2, 0).expect("a link inside the dataset reads");
}

#[test]
fn an_export_carries_no_outside_bytes_and_warns() {
    let outside = tempfile::tempdir().unwrap();
    let target = secret(outside.path());
    let (_t, ep_dir) = common::native_episode_copy("episode_000");
    replace_with_link(&ep_dir.join("rgb/agentview/000000.png"), &target);
    let out = tempfile::tempdir().unwrap();
    let rrd = out.path().join("ep.rrd");
    let run = common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_spatialscope"))
            .args(["export", "--no-ego3d", "--rrd"])
            .arg(&rrd)
            .arg(&ep_dir),
    );
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        report.contains("outside the dataset"),
        "the refused frame is a warning of the export: {report}"
    );
    let secret_bytes = std::fs::read(&target).unwrap();
    let recording = std::fs::read(&rrd).unwrap();
    let needle = &secret_bytes[secret_bytes.len() / 2..secret_bytes.len() / 2 + 64];
    assert!(
        !recording.windows(needle.len()).any(|w| w == needle),
        "the outside file's bytes are not in the recording"
    );
}

#[test]
fn linked_shards_metadata_and_folders_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    // RLDS: a shard that is a link out is left out, and said so.
    let (_t, bridge) = common::bridge_copy();
    let shard = std::fs::read_dir(&bridge)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains(".tfrecord"))
        .unwrap();
    let moved = outside.path().join("shard.tfrecord-00000-of-00001");
    std::fs::rename(&shard, &moved).unwrap();
    symlink(&moved, &shard).unwrap();
    let collection = episode::open_path(&bridge).unwrap();
    let d = &collection.datasets[0];
    assert_eq!(d.len(), 0, "no episode comes from the outside shard");
    assert!(
        d.problems
            .iter()
            .any(|e| matches!(e, EpisodeError::OutsideDataset { .. })),
        "{:?}",
        d.problems
    );

    // LeRobot: meta/info.json linked out: the dataset is not read.
    let tmp = tempfile::tempdir().unwrap();
    let lerobot = tmp.path().join("sim_lerobot_v21");
    common::copy_dir(
        &common::repo().join("sample_episodes/sim_lerobot_v21"),
        &lerobot,
    );
    let info = lerobot.join("meta/info.json");
    let moved = outside.path().join("info.json");
    std::fs::rename(&info, &moved).unwrap();
    symlink(&moved, &info).unwrap();
    let err = episode::Dataset::open(&lerobot, episode::DatasetFormat::LeRobot).unwrap_err();
    assert!(matches!(err, EpisodeError::OutsideDataset { .. }), "{err}");

    // Searching a folder: a linked folder leading out is not followed, and reported.
    let root = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().join("elsewhere");
    common::copy_dir(&common::native_dir(), &elsewhere);
    symlink(&elsewhere, root.path().join("linked")).unwrap();
    common::copy_dir(&common::native_dir(), &root.path().join("real"));
    let c = episode::open_path(root.path()).unwrap();
    assert_eq!(c.datasets.len(), 1, "only the real dataset");
    assert!(
        c.problems
            .iter()
            .any(|e| matches!(e, EpisodeError::OutsideDataset { .. })
                && e.to_string().contains("linked")),
        "{:?}",
        c.problems
    );
}

/// Frames passed through undecoded are checked first: a truncated PNG and one whose header
/// claims another size are warnings of their steps (and left out), the rest is exported.
#[test]
fn an_export_checks_the_frames_it_passes_through() {
    let (_t, ep_dir) = common::native_episode_copy("episode_000");
    let truncated = ep_dir.join("rgb/agentview/000003.png");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    // The wrist camera's 128 x 128 frame where agentview's 256 x 256 belongs.
    std::fs::copy(
        ep_dir.join("rgb/robot0_eye_in_hand/000004.png"),
        ep_dir.join("rgb/agentview/000004.png"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_spatialscope"))
            .args(["export", "--no-ego3d", "--rrd"])
            .arg(out.path().join("ep.rrd"))
            .arg(&ep_dir),
    );
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().next().unwrap()).unwrap();
    let warnings: Vec<String> = line["report"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("step 3 camera agentview") && w.contains("PNG")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("step 4 camera agentview") && w.contains("128x128")),
        "{warnings:?}"
    );
    let steps = line["report"]["steps"].as_u64().unwrap();
    assert_eq!(
        line["report"]["images"].as_u64().unwrap(),
        2 * steps - 2,
        "every other frame of both cameras is exported"
    );
}

/// HDF5's own ways out of a file: an external link to a demo in another file and a dataset
/// whose bytes live in an external raw file. The reader resolves neither: the outside files'
/// bytes never show up, and the demo that needs them is an error naming the file.
#[test]
fn hdf5_external_links_and_external_storage_are_not_followed() {
    let (tmp, path) = crate::bad_hdf5::h5_fixture("links_out.hdf5");
    // What the links point at, with a recognisable pattern.
    std::fs::write(tmp.path().join("outside.raw"), [0xABu8; 96]).unwrap();
    std::fs::copy(
        common::repo().join("tests/fixtures/hdf5/robomimic_earliest.hdf5"),
        tmp.path().join("outside.hdf5"),
    )
    .unwrap();
    let d = episode::Dataset::open(&path, episode::DatasetFormat::Hdf5).unwrap();
    let cache = Arc::new(FrameCache::new(0));
    // demo_1 (the external link) is not a demo of this file.
    assert_eq!(d.len(), 1, "only demo_0 lives in this file");
    match d.open_episode(0, &cache) {
        Err(e) => assert!(e.to_string().contains("links_out.hdf5"), "{e}"),
        Ok(ep) => match ep.rgb(0, 0) {
            Ok(img) => assert!(
                !img.pixels.contains(&0xAB),
                "bytes from outside.raw were read"
            ),
            Err(e) => assert!(e.to_string().contains("links_out.hdf5"), "{e}"),
        },
    }
}
