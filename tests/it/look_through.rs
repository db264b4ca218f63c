//! "Look through the episode camera", checked physically: the fused cloud of a simulated
//! RGB-D step (both cameras, world frame) rendered offscreen through the static camera's own
//! pose and intrinsics must reproduce that camera's RGB frame wherever a point lands:
//! back-projection, the extrinsics and the pinhole view-projection agree to about a pixel,
//! whether the CPU or the GPU lifts the depth.

use crate::common;

use std::sync::Arc;

use spatialscope::episode::{FrameCache, open_path};
use spatialscope::render::camera::pinhole_view_proj;
use spatialscope::render::{LineSet, OrbitCamera, PointUniforms};
use spatialscope::scene::{CloudLift, SceneOptions, StepScene};

#[test]
fn the_cloud_seen_through_the_camera_is_its_image() {
    let Some(mut gpu) = common::offscreen_or_skip("the_cloud_seen_through_the_camera_is_its_image")
    else {
        return;
    };
    // Lifted on the CPU, then on the GPU (what the app and `render` draw).
    for lift in [CloudLift::Cpu, CloudLift::Gpu] {
        look_through(&mut gpu, lift);
    }
}

fn look_through(gpu: &mut spatialscope::render::offscreen::Offscreen, lift: CloudLift) {
    let collection = open_path(&common::native_dir()).unwrap();
    let ep = collection.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .unwrap();
    let step = 5;
    let cam = ep.camera_index("agentview").unwrap();
    let c = &ep.cameras[cam];
    let k = c.intrinsics.unwrap();
    let options = SceneOptions {
        lift,
        ..Default::default()
    };
    let cloud = StepScene::build(&ep, step, &options, None).unwrap().cloud;
    assert_eq!(cloud.lift.is_some(), lift == CloudLift::Gpu);
    assert!(cloud.world_frame);
    let (w, h) = (k.width_px, k.height_px);
    let (vp, focal_rel) = pinhole_view_proj(
        c.poses.world_from_camera(step).unwrap(),
        k.fx_px,
        k.fy_px,
        k.cx_px,
        k.cy_px,
        f64::from(w),
        f64::from(h),
        0.01,
        100.0,
    )
    .unwrap();
    let mut u = PointUniforms::for_view(
        &OrbitCamera::at_distance([0.0; 3], 1.0),
        &cloud,
        [w, h],
        2.0,
        spatialscope::render::ColorMode::Rgb,
    );
    u.view_proj = vp;
    u.focal_px = focal_rel * h as f32;
    let img = gpu
        .render(&cloud, &LineSet::default(), None, &u, [w, h])
        .unwrap();
    let rgb = ep.rgb(step, cam).unwrap();
    let (mut n, mut err) = (0usize, 0f64);
    for (x, y, p) in img.enumerate_pixels() {
        if p[0] < 20 && p[1] < 20 && p[2] < 22 {
            continue; // background
        }
        let o = ((y * w + x) * 3) as usize;
        for ch in 0..3 {
            err += (f64::from(p[ch]) - f64::from(rgb.pixels[o + ch])).abs();
        }
        n += 1;
    }
    let covered = n as f64 / f64::from(w * h);
    let mean = err / (3 * n.max(1)) as f64;
    eprintln!("{lift:?}: covered {covered:.2}, mean |diff| {mean:.1} levels");
    assert!(covered > 0.7, "most of the image is covered ({covered})");
    assert!(
        mean < 12.0,
        "the rendered view matches the camera image (mean |diff| {mean})"
    );
}
