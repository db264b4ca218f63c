//! What a step change costs the 3-D view for 1 and 4 RGB-D cameras at 640 x 480, with the
//! depth lifted on the GPU (`scene::lift`: one read-only pass per depth image, the images
//! shared with the frame cache) against lifted on the CPU (`scene::cloud::step_cloud`: every
//! valid pixel lifted, moved to the world and packed as a 32-byte point), in the same run.
//!
//! The episode is written once into a temporary folder in the native format: the sample
//! episode's two cameras upscaled (nearest) to 640 x 480 with K scaled to match, repeated to
//! make 4 cameras, millimetre depth PNGs. Frames are decoded before timing (the frame cache
//! holds them), so the figures are the scene's own cost per step, not the decoder's, which
//! both paths share. After the group, the bytes each path uploads per step are printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::episode::{Episode, FrameCache, open_path};
use spatialscope::scene::{CloudLift, SceneOptions, StepScene};

const W: u32 = 640;
const H: u32 = 480;
const STEPS: usize = 3;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes/sim_native/episode_000")
}

/// Writes a native episode of `cams` cameras at 640 x 480 under `root`; returns its folder.
fn write_episode(root: &Path, cams: usize) -> PathBuf {
    let dir = root.join(format!("cams{cams}"));
    let ep_dir = dir.join("episode_000");
    let src: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample().join("episode.json")).unwrap()).unwrap();
    let mut v = src.clone();
    let names = ["agentview", "robot0_eye_in_hand"];
    let mut cameras = serde_json::Map::new();
    for c in 0..cams {
        let from = names[c % 2];
        let name = format!("cam{c}");
        let mut cam = src["cameras"][from].clone();
        let (w0, h0) = (
            cam["width"].as_f64().unwrap(),
            cam["height"].as_f64().unwrap(),
        );
        let (sx, sy) = (f64::from(W) / w0, f64::from(H) / h0);
        let k = &cam["K"];
        let kf = |r: usize, c: usize| k[r][c].as_f64().unwrap();
        cam["K"] = serde_json::json!([
            [kf(0, 0) * sx, 0.0, (kf(0, 2) + 0.5) * sx - 0.5],
            [0.0, kf(1, 1) * sy, (kf(1, 2) + 0.5) * sy - 0.5],
            [0.0, 0.0, 1.0]
        ]);
        cam["width"] = W.into();
        cam["height"] = H.into();
        cam["rgb_path"] = format!("rgb/{name}/{{frame:06d}}.png").into();
        cam["depth_path"] = format!("depth/{name}/{{frame:06d}}.png").into();
        cameras.insert(name.clone(), cam);
        for f in 0..STEPS {
            let rgb = image::open(sample().join(format!("rgb/{from}/{f:06}.png"))).unwrap();
            let depth = image::open(sample().join(format!("depth/{from}/{f:06}.png"))).unwrap();
            let nearest = image::imageops::FilterType::Nearest;
            for (kind, img) in [
                ("rgb", rgb.resize_exact(W, H, nearest)),
                ("depth", depth.resize_exact(W, H, nearest)),
            ] {
                let p = ep_dir.join(format!("{kind}/{name}/{f:06}.png"));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                img.save(&p).unwrap();
            }
        }
    }
    v["cameras"] = cameras.into();
    let frames: Vec<serde_json::Value> = src["frames"].as_array().unwrap()[..STEPS]
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let ex = f["camera_extrinsics"].clone();
            f["camera_extrinsics"] = (0..cams)
                .map(|c| (format!("cam{c}"), ex[names[c % 2]].clone()))
                .collect::<serde_json::Map<_, _>>()
                .into();
            f
        })
        .collect();
    v["frames"] = frames.into();
    v["num_frames"] = STEPS.into();
    std::fs::write(ep_dir.join("episode.json"), v.to_string()).unwrap();
    dir
}

fn open(dir: &Path) -> Episode {
    let c = open_path(dir).expect("the generated episode opens");
    c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::new(1 << 30)))
        .expect("episode")
}

fn options(lift: CloudLift) -> SceneOptions {
    SceneOptions {
        lift,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("step_change");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    let mut summary = Vec::new();
    for cams in [1, 4] {
        let ep = open(&write_episode(tmp.path(), cams));
        // Decode every frame once (the cache keeps them): the timing is the scene's own.
        for s in 0..STEPS {
            StepScene::build(&ep, s, &options(CloudLift::Cpu), None).expect("a scene");
        }
        for (label, lift) in [("cpu_lift", CloudLift::Cpu), ("gpu_lift", CloudLift::Gpu)] {
            let mut step = 0;
            g.bench_function(format!("{label}/{cams}x640x480"), |b| {
                b.iter(|| {
                    step = (step + 1) % STEPS;
                    StepScene::build(&ep, step, &options(lift), None)
                })
            });
        }
        let cpu = StepScene::build(&ep, 1, &options(CloudLift::Cpu), None).unwrap();
        let gpu = StepScene::build(&ep, 1, &options(CloudLift::Gpu), None).unwrap();
        let cpu_bytes = 32 * cpu.cloud.points.len() as u64;
        let lift = gpu.cloud.lift.as_ref().expect("GPU lift");
        let gpu_bytes: u64 = lift.images.iter().map(|i| i.upload_bytes()).sum();
        summary.push(format!(
            "{cams} camera(s) at 640x480: {} points; bytes uploaded per step: CPU lift {:.2} MB, \
             GPU lift {:.2} MB ({:.1}x fewer)",
            cpu.cloud.points.len(),
            cpu_bytes as f64 / 1e6,
            gpu_bytes as f64 / 1e6,
            cpu_bytes as f64 / gpu_bytes as f64
        ));
    }
    g.finish();
    for line in summary {
        println!("step_change: {line}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
