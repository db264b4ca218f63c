//! Hostile or broken HDF5 files (robomimic / LIBERO layout): truncated and foreign files,
//! bad shapes and NaN actions are typed errors naming the file and demo; LIBERO's upside-down
//! frames are flipped and the user can override the orientation.

use crate::bad_datasets::{cache, read_all};
use crate::common;

use spatialscope::episode::{self, Dataset, DatasetFormat, EpisodeError};

/// A copy of one of the h5py-written files in `tests/fixtures/hdf5` (see its `make.py`).
pub(crate) fn h5_fixture(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    std::fs::copy(common::repo().join("tests/fixtures/hdf5").join(name), &dst).unwrap();
    (tmp, dst)
}

#[test]
fn truncated_and_foreign_hdf5_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = common::repo().join("sample_episodes/sim_hdf5/sim_episodes.hdf5");
    let bytes = std::fs::read(&src).unwrap();
    let cut = tmp.path().join("cut.hdf5");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    match Dataset::open(&cut, DatasetFormat::Hdf5) {
        Err(e) => assert!(e.to_string().contains("cut.hdf5"), "{e}"),
        // The superblock and index may survive a cut; then reading the frames must fail.
        Ok(d) => {
            let failed = (0..d.len()).any(|i| read_all(&d, i).is_err());
            assert!(failed, "half a file cannot hold every frame");
        }
    }
    let fake = tmp.path().join("fake.hdf5");
    std::fs::write(&fake, b"not hdf5 at all").unwrap();
    let err = episode::open_path(&fake).unwrap_err();
    assert!(matches!(err, EpisodeError::UnknownFormat { .. }), "{err}");
    let (_t, empty) = h5_fixture("empty.h5");
    let err = Dataset::open(&empty, DatasetFormat::Hdf5).unwrap_err();
    assert!(err.to_string().contains("no `data` group"), "{err}");
}

#[test]
fn hdf5_bad_shapes_and_nan_actions_are_named() {
    // demo_0: a NaN action at step 2, dimension 5; demo_1: a four-channel "RGB" stack.
    let (_t, p) = h5_fixture("bad.hdf5");
    let d = Dataset::open(&p, DatasetFormat::Hdf5).unwrap();
    let err = d.open_episode(0, &cache()).unwrap_err();
    assert!(
        matches!(
            err,
            EpisodeError::NonFiniteAction {
                step: 2,
                dim: 5,
                ..
            }
        ),
        "{err}"
    );
    let err = d.open_episode(1, &cache()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad.hdf5") && msg.contains("episode 1") && msg.contains("obs/front_image"),
        "{msg}"
    );
}

#[test]
fn libero_files_are_flipped_and_the_user_can_override() {
    // LIBERO's attributes; frames top half red, bottom half blue in file order.
    let (_t, p) = h5_fixture("libero_flip.hdf5");
    let d = Dataset::open(&p, DatasetFormat::Hdf5).unwrap();
    let ep = d.open_episode(0, &cache()).unwrap();
    assert_eq!(ep.instruction, "pick up the black bowl");
    assert_eq!(ep.cameras[0].name, "agentview");
    assert_eq!((ep.cameras[0].width_px, ep.cameras[0].height_px), (6, 8));
    assert!(
        ep.notes.iter().any(|n| n.contains("LIBERO")),
        "{:?}",
        ep.notes
    );
    assert!(d.orientation_note().unwrap().contains("flipped"));
    let img = ep.rgb(0, 0).unwrap();
    assert_eq!(
        &img.pixels[..3],
        &[0, 0, 255],
        "row 0 shows the file's last row (blue)"
    );
    assert_eq!(ep.proprio.as_ref().unwrap().names.len(), 3);
    assert_eq!(ep.actions.convention, episode::ActionConvention::unknown());

    let d = Dataset::open_hdf5(&p, episode::ImageOrientation::AsStored).unwrap();
    let img = d.open_episode(0, &cache()).unwrap().rgb(0, 0).unwrap();
    assert_eq!(&img.pixels[..3], &[255, 0, 0], "as stored: red on top");
}

// ---- whole datasets ----
