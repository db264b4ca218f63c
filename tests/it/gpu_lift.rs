//! Depth lifted on the GPU (`render::lift`, `shaders/lift.wgsl`) against the CPU lift
//! (`scene::cloud::step_cloud`), through the real offscreen renderer:
//! - the two draw the same picture for every sample dataset with depth, in every colour mode
//!   (RGB, depth, height, camera id, Ego3D channel, attention, patch colours), framed alike
//!   (both take their statistics from the same pixel sample);
//! - invalid depth (0, negative, NaN, infinite) draws nothing, in u16 and in f32, and images
//!   whose byte size is not a multiple of 4 upload whole;
//! - a step change uploads only the images (5 bytes per pixel for millimetre PNG depth,
//!   against 32 per point), and a sliding window uploads only its newest step.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;

use spatialscope::episode::{Episode, FrameCache, open_path};
use spatialscope::render::lift::{IDENTITY, LiftDepth, LiftFrames, LiftImage, SharedBytes};
use spatialscope::render::offscreen::Offscreen;
use spatialscope::render::{ColorMode, LineSet, OrbitCamera, PointCloud, PointUniforms};
use spatialscope::scene::{CloudLift, SceneOptions, StepScene};

fn open_episode(dir: PathBuf) -> Episode {
    let c = open_path(&dir).expect("opens");
    c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .expect("episode")
}

fn scene(ep: &Episode, step: usize, lift: CloudLift, window_steps: usize) -> Arc<PointCloud> {
    let options = SceneOptions {
        lift,
        window_steps,
        ..Default::default()
    };
    StepScene::build(ep, step, &options, None)
        .expect("a scene")
        .cloud
}

/// Pixels whose colour differs by more than 24 levels in some channel.
fn differing(a: &image::RgbaImage, b: &image::RgbaImage) -> usize {
    a.pixels()
        .zip(b.pixels())
        .filter(|(p, q)| (0..3).any(|c| p[c].abs_diff(q[c]) > 24))
        .count()
}

fn drawn(img: &image::RgbaImage) -> usize {
    img.pixels()
        .filter(|p| p[0] > 20 || p[1] > 20 || p[2] > 22)
        .count()
}

#[test]
fn gpu_and_cpu_lifted_clouds_draw_the_same_picture() {
    let Some(mut gpu) =
        common::offscreen_or_skip("gpu_and_cpu_lifted_clouds_draw_the_same_picture")
    else {
        return;
    };
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_episodes");
    let mut checked = 0;
    for name in ["sim_native", "sim_hdf5", "sim_lerobot_v21", "sim_rlbench"] {
        let ep = open_episode(samples.join(name));
        let step = 2.min(ep.num_steps() - 1);
        let cpu = scene(&ep, step, CloudLift::Cpu, 1);
        let lifted = scene(&ep, step, CloudLift::Gpu, 1);
        let lift = lifted.lift.as_ref().expect("GPU lift");
        assert_eq!(lifted.point_count(), cpu.points.len(), "{name}");
        assert_eq!(
            lifted.depth_range_m, cpu.depth_range_m,
            "{name}: exact depth range"
        );
        assert_eq!(lifted.world_frame, cpu.world_frame, "{name}");
        // Both take their framing from the same pixel sample: the same view, the same ranges.
        assert_eq!(
            (lifted.bounds, lifted.median, lifted.spread_m),
            (cpu.bounds, cpu.median, cpu.spread_m),
            "{name}"
        );
        let kinds: Vec<&str> = lift
            .images
            .iter()
            .map(|i| match i.depth {
                LiftDepth::U16 { .. } => "u16",
                LiftDepth::F32(_) => "f32",
            })
            .collect();
        let camera = OrbitCamera::initial_view(cpu.median, cpu.spread_m, &[]);
        let size = [320, 240];
        let mut u = PointUniforms::for_view(&camera, &lifted, size, 2.0, ColorMode::Rgb);
        assert_eq!(
            u,
            PointUniforms::for_view(&camera, &cpu, size, 2.0, ColorMode::Rgb)
        );
        let patches: Vec<f32> = (0..256).map(|i| ((i * 37) % 256) as f32 / 255.0).collect();
        let colours: Vec<f32> = (0..256u32)
            .map(|i| f32::from_bits(0xFF00_0000 | (i * 0x0001_0305) & 0x00FF_FFFF))
            .collect();
        for (mode, values) in [
            (ColorMode::Rgb, None),
            (ColorMode::Depth, None),
            (ColorMode::Height, None),
            (ColorMode::Camera, None),
            (ColorMode::Ego3dChannel, None),
            (ColorMode::Attention, Some(&patches)),
            (ColorMode::PatchColours, Some(&colours)),
        ] {
            u.color_mode = mode.shader_index();
            u.ego3d_channel = 2 * 17 + 3;
            let values = values.map(|v| v.as_slice());
            let a = gpu
                .render(&cpu, &LineSet::default(), values, &u, size)
                .unwrap();
            let b = gpu
                .render(&lifted, &LineSet::default(), values, &u, size)
                .unwrap();
            let (n, d) = (drawn(&a), differing(&a, &b));
            eprintln!("{name} ({kinds:?}) {mode:?}: {n} px drawn, {d} differ");
            assert!(n > 2_000, "{name} {mode:?}: the cloud is in view ({n} px)");
            assert!(
                d * 200 < n,
                "{name} {mode:?}: GPU and CPU lifts agree ({d} of {n} px differ)"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
}

/// A `w` x `h` image lifted in its own frame (K = identity scaled to 1 px per 1 m at 1 m).
/// `key` names the content: the renderer keeps images by key, so each test image has its own.
fn synthetic(key: u64, depth: LiftDepth, w: u32, h: u32, valid_px: usize) -> PointCloud {
    let image = LiftImage {
        key,
        width_px: w,
        height_px: h,
        depth,
        rgb: Some(Arc::new(vec![230u8; (w * h * 3) as usize]) as SharedBytes),
        fallback_rgb: 0,
        // Pixel (u, v) at depth d -> ((u - cx) d, (v - cy) d, d) with 0.05 m per pixel.
        k_inv: [
            [0.05, 0.0, -0.05 * (w / 2) as f32],
            [0.0, 0.05, -0.05 * (h / 2) as f32],
            [0.0, 0.0, 1.0],
        ],
        world_from_camera: IDENTITY,
        camera: 0,
        patches_per_side: 0,
        valid_px,
    };
    let sample = vec![spatialscope::render::PointGpu {
        position: [0.0, 0.0, 1.0],
        rgb: 0,
        depth_m: 1.0,
        camera: 0,
        cam_xy: [0.0; 2],
    }];
    PointCloud::gpu_lifted(
        sample,
        false,
        LiftFrames {
            images: vec![image],
        },
        (1.0, 1.0),
    )
}

fn render_one(gpu: &mut Offscreen, cloud: &PointCloud) -> usize {
    let camera = OrbitCamera::at_distance([0.0, 0.0, 1.0], 1.5);
    let u = PointUniforms::for_view(&camera, cloud, [96, 96], 5.0, ColorMode::Rgb);
    let img = gpu
        .render(cloud, &LineSet::default(), None, &u, [96, 96])
        .unwrap();
    img.pixels().filter(|p| p[0] > 200).count()
}

#[test]
fn invalid_depth_draws_nothing_and_odd_sized_images_upload_whole() {
    let Some(mut gpu) =
        common::offscreen_or_skip("invalid_depth_draws_nothing_and_odd_sized_images_upload_whole")
    else {
        return;
    };
    // 3 x 3 (9 pixels: neither 2-byte nor 3-byte rows fill whole words), only the centre valid.
    let bad = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -1.0,
        1.0,
        0.0,
        -0.0,
        f32::MIN_POSITIVE * 0.0,
        -f32::NAN,
    ];
    let f32_bytes = Arc::new(bytemuck::cast_slice::<f32, u8>(&bad).to_vec()) as SharedBytes;
    let one = render_one(&mut gpu, &synthetic(1, LiftDepth::F32(f32_bytes), 3, 3, 1));
    assert!(one > 10, "the one valid f32 pixel is a disc ({one} px)");
    let all_bad = [f32::NAN, 0.0, -2.0, f32::INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0];
    let none = Arc::new(bytemuck::cast_slice::<f32, u8>(&all_bad).to_vec()) as SharedBytes;
    assert_eq!(
        render_one(&mut gpu, &synthetic(2, LiftDepth::F32(none), 3, 3, 0)),
        0,
        "no valid pixel, nothing drawn (not a point at the camera centre)"
    );
    let mm = vec![0u16, 0, 0, 0, 1000, 0, 0, 0, 0];
    let u16_one = render_one(
        &mut gpu,
        &synthetic(
            3,
            LiftDepth::U16 {
                values: Arc::new(mm),
                scale_m: 0.001,
            },
            3,
            3,
            1,
        ),
    );
    assert_eq!(
        u16_one, one,
        "u16 millimetres and f32 metres: the same disc"
    );
}

#[test]
fn a_step_change_uploads_only_the_images_and_a_window_only_its_newest_step() {
    let Some(mut gpu) = common::offscreen_or_skip(
        "a_step_change_uploads_only_the_images_and_a_window_only_its_newest_step",
    ) else {
        return;
    };
    let ep = open_episode(common::native_dir());
    let px = 256 * 256 + 128 * 128;
    let camera = OrbitCamera::at_distance([0.0, 0.0, 0.8], 1.5);
    let mut draw = |cloud: &PointCloud| {
        let u = PointUniforms::for_view(&camera, cloud, [64, 64], 2.0, ColorMode::Rgb);
        gpu.render(cloud, &LineSet::default(), None, &u, [64, 64])
            .unwrap();
        let r = gpu.renderer();
        (
            r.uploaded_bytes,
            r.uploaded_image_bytes(),
            r.lifted_images(),
        )
    };
    let (p0, i0, _) = draw(&scene(&ep, 3, CloudLift::Gpu, 1));
    let (p1, i1, n) = draw(&scene(&ep, 4, CloudLift::Gpu, 1));
    assert_eq!(n, 2);
    assert_eq!(p1, p0, "no points uploaded");
    assert_eq!(i1 - i0, 5 * px as u64, "u16 depth + RGB: 5 bytes per pixel");
    let (c0, _, _) = draw(&scene(&ep, 4, CloudLift::Cpu, 1));
    let (c1, _, _) = draw(&scene(&ep, 5, CloudLift::Cpu, 1));
    assert_eq!(c1 - c0, 32 * px as u64, "CPU lift: 32 bytes per point");
    // A 3-step window at step 6 after one at step 5: only step 6's images go up.
    let (_, w0, _) = draw(&scene(&ep, 5, CloudLift::Gpu, 3));
    let window = scene(&ep, 6, CloudLift::Gpu, 3);
    assert_eq!(window.point_count(), 3 * px);
    let (_, w1, n) = draw(&window);
    assert_eq!(n, 6, "3 steps x 2 cameras");
    assert_eq!(w1 - w0, 5 * px as u64, "only the newest step uploads");
    // A window over the pixel budget keeps its newest steps and says so.
    let capped =
        spatialscope::scene::lift::step_cloud_gpu_within(&ep, 10, |_| true, 8, 3 * px + 1).unwrap();
    assert_eq!(capped.point_count(), 3 * px);
    assert!(
        capped
            .warnings
            .iter()
            .any(|w| w.contains("accumulating 8 steps") && w.contains("newest 3")),
        "{:?}",
        capped.warnings
    );
}
