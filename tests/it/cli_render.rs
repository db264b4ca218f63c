//! `spatialscope render` through the real binary, with no X server: the 3-D view of a
//! simulated RGB-D step is rendered offscreen (lavapipe where there is no GPU) to a PNG of
//! the requested size showing the cloud, the yellow camera frustum and the white
//! trajectory; RGB-only data and an output inside the dataset are refused with a clear
//! message. Skipped, saying so, where no wgpu adapter exists at all.

use crate::common;

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spatialscope"));
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    c
}

fn no_adapter(stderr: &str) -> bool {
    stderr.contains("no GPU adapter")
}

#[test]
fn renders_a_step_offscreen() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "render",
            "--episode",
            "1",
            "--step",
            "10",
            "--size",
            "640x360",
            "--out",
        ])
        .arg(tmp.path())
        .arg(common::native_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if no_adapter(&stderr) {
        common::skip_without_gpu("renders_a_step_offscreen", &stderr);
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(file.ends_with("episode_001_step0010.png"), "{file}");
    let img = image::open(&file).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (640, 360));
    let count = |f: &dyn Fn(&image::Rgba<u8>) -> bool| img.pixels().filter(|p| f(p)).count();
    let background = count(&|p| p[0] < 25 && p[1] < 25 && p[2] < 30);
    let bright = count(&|p| p[0] > 200 && p[1] > 200 && p[2] > 200);
    let frustum = count(&|p| p[0] > 200 && (170..230).contains(&p[1]) && p[2] < 120);
    let red_cube = count(&|p| p[0] > 150 && p[1] < 80 && p[2] < 80);
    assert!(background > 10_000, "background visible ({background})");
    assert!(bright > 5_000, "table points ({bright})");
    assert!(frustum > 50, "a camera frustum ({frustum})");
    assert!(red_cube > 20, "the red cube ({red_cube})");
    assert!(!tmp.path().join("episode_001_step0010.png.partial").exists());
}

#[test]
fn refuses_rgb_only_data_and_the_dataset_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["render", "--out"])
        .arg(tmp.path())
        .arg(common::bridge_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no camera with depth"), "{stderr}");

    let inside = common::native_dir().join("renders");
    let out = bin()
        .args(["render", "--out"])
        .arg(&inside)
        .arg(common::native_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never writes into datasets"));
    assert!(!inside.exists());

    let out = bin()
        .args(["render", "--size", "10x10000", "--out"])
        .arg(tmp.path())
        .arg(common::native_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size"));
}

#[test]
fn orbit_frames_are_deterministic_and_videos_are_encoded_or_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let render = |out: &std::path::Path, extra: &[&str]| {
        bin()
            .args(["render", "--size", "160x90", "--out"])
            .arg(out)
            .args(extra)
            .arg(common::native_dir())
            .output()
            .unwrap()
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let run = render(&a, &["--orbit", "--frames", "4"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    if no_adapter(&stderr) {
        common::skip_without_gpu("cli render --orbit", &stderr);
        return;
    }
    assert!(run.status.success(), "{stderr}");
    assert!(render(&b, &["--orbit", "--frames", "4"]).status.success());
    let read =
        |d: &std::path::Path, i: usize| std::fs::read(d.join(format!("frame_{i:05}.png"))).unwrap();
    for i in 0..4 {
        assert_eq!(
            read(&a, i),
            read(&b, i),
            "frame {i} is the same on every run"
        );
    }
    assert_ne!(read(&a, 0), read(&a, 1), "the orbit moves");
    // A video: encoded when ffmpeg is installed, else the frames are kept and it says so.
    let mp4 = tmp.path().join("clip.mp4");
    let run = render(&mp4, &["--orbit", "--frames", "3"]);
    let have_ffmpeg = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_ffmpeg {
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let bytes = std::fs::read(&mp4).unwrap();
        assert!(
            bytes.len() > 1000 && &bytes[4..8] == b"ftyp",
            "an MP4 container"
        );
    } else {
        assert!(!run.status.success());
        assert!(String::from_utf8_lossy(&run.stderr).contains("ffmpeg is not installed"));
        assert!(!mp4.exists());
    }
    assert!(tmp.path().join("clip_frames/frame_00002.png").exists());
}

/// `--cpu-lift` draws the picture the default GPU lift draws; `--accumulate 12` adds the
/// eleven steps before (the arm in its earlier poses), so more of the frame is covered.
#[test]
fn cpu_lift_draws_the_same_and_accumulating_adds_earlier_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let render = |name: &str, extra: &[&str]| -> Option<image::RgbaImage> {
        let dir = tmp.path().join(name);
        let out = bin()
            .args(["render", "--step", "20", "--size", "320x180", "--out"])
            .arg(&dir)
            .args(extra)
            .arg(common::native_dir())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if no_adapter(&stderr) {
            common::skip_without_gpu("cli render --accumulate", &stderr);
            return None;
        }
        assert!(out.status.success(), "{stderr}");
        let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Some(image::open(file).unwrap().to_rgba8())
    };
    let Some(gpu) = render("gpu", &[]) else {
        return;
    };
    let cpu = render("cpu", &["--cpu-lift"]).unwrap();
    let window = render("window", &["--accumulate", "12"]).unwrap();
    let drawn = |img: &image::RgbaImage| {
        img.pixels()
            .filter(|p| p[0] > 25 || p[1] > 25 || p[2] > 30)
            .count()
    };
    let differ = gpu
        .pixels()
        .zip(cpu.pixels())
        .filter(|(a, b)| (0..3).any(|c| a[c].abs_diff(b[c]) > 24))
        .count();
    assert!(
        differ * 200 < drawn(&gpu),
        "{differ} of {} px differ",
        drawn(&gpu)
    );
    assert!(
        drawn(&window) > drawn(&gpu) + 200,
        "12 steps cover more ({} vs {} px)",
        drawn(&window),
        drawn(&gpu)
    );
    let bad = bin()
        .args(["render", "--accumulate", "0", "--out"])
        .arg(tmp.path().join("bad"))
        .arg(common::native_dir())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
