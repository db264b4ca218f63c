//! Hostile or broken HDF5 files (robomimic / LIBERO layout): truncated and foreign files,
//! bad shapes and NaN actions are typed errors naming the file and demo; LIBERO's upside-down
//! frames are flipped and the user can override the orientation.

use crate::bad_datasets::{cache, read_all};
use crate::common;

use std::path::Path;

use spatialscope::episode::{self, Dataset, DatasetFormat, EpisodeError};

fn write_demo_file(path: &Path, build: impl FnOnce(&hdf5::Group)) {
    let f = hdf5::File::create(path).unwrap();
    let data = f.create_group("data").unwrap();
    build(&data);
}

fn rgb_stack(n: usize, h: usize, w: usize) -> ndarray::Array4<u8> {
    // Top half red, bottom half blue, in file order.
    ndarray::Array4::from_shape_fn((n, h, w, 3), |(_, y, _, c)| match (y < h / 2, c) {
        (true, 0) | (false, 2) => 255,
        _ => 0,
    })
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
    let empty = tmp.path().join("empty.h5");
    hdf5::File::create(&empty).unwrap();
    let err = Dataset::open(&empty, DatasetFormat::Hdf5).unwrap_err();
    assert!(err.to_string().contains("no `data` group"), "{err}");
}

#[test]
fn hdf5_bad_shapes_and_nan_actions_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.hdf5");
    write_demo_file(&p, |data| {
        let d0 = data.create_group("demo_0").unwrap();
        let mut a = ndarray::Array2::<f64>::zeros((4, 7));
        a[[2, 5]] = f64::NAN;
        d0.new_dataset_builder()
            .with_data(&a)
            .create("actions")
            .unwrap();
        let obs = d0.create_group("obs").unwrap();
        obs.new_dataset_builder()
            .with_data(&rgb_stack(4, 8, 8))
            .create("front_image")
            .unwrap();
        let d1 = data.create_group("demo_1").unwrap();
        d1.new_dataset_builder()
            .with_data(&ndarray::Array2::<f64>::zeros((4, 7)))
            .create("actions")
            .unwrap();
        let obs = d1.create_group("obs").unwrap();
        // Four channels: not an RGB stack.
        obs.new_dataset_builder()
            .with_data(&ndarray::Array4::<u8>::zeros((4, 8, 8, 4)))
            .create("front_image")
            .unwrap();
    });
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
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("pick_up_the_bowl_demo.hdf5");
    write_demo_file(&p, |data| {
        data.new_attr::<hdf5::types::VarLenUnicode>()
            .shape(())
            .create("problem_info")
            .unwrap()
            .write_scalar(&r#"{"problem_name": "libero_tabletop_manipulation", "language_instruction": "pick up the black bowl"}"#.parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
        data.new_attr::<hdf5::types::VarLenUnicode>()
            .shape(())
            .create("bddl_file_name")
            .unwrap()
            .write_scalar(
                &"libero/bddl_files/pick_up_the_bowl.bddl"
                    .parse::<hdf5::types::VarLenUnicode>()
                    .unwrap(),
            )
            .unwrap();
        let d0 = data.create_group("demo_0").unwrap();
        d0.new_dataset_builder()
            .with_data(&ndarray::Array2::<f64>::zeros((3, 7)))
            .create("actions")
            .unwrap();
        let obs = d0.create_group("obs").unwrap();
        obs.new_dataset_builder()
            .with_data(&rgb_stack(3, 8, 6))
            .create("agentview_rgb")
            .unwrap();
        obs.new_dataset_builder()
            .with_data(&ndarray::Array2::<f64>::zeros((3, 3)))
            .create("ee_pos")
            .unwrap();
    });
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
