//! Frame time of the 3-D view at 1 M, 5 M and 20 M points, depth lifted on the GPU against
//! points lifted on the CPU, through the offscreen renderer (the app's renderer without a
//! window; each frame drawn at 1280 x 720 and read back). Synthetic scenes: 1, 5 or 20 depth
//! images of 1000 x 1000 (float metres, 2 % invalid), each in its own pose.
//!
//! The clouds are uploaded before timing, so a frame is the draw alone. Baseline in the same
//! run: `frame/100_points`, the same frame with 100 points (clearing, reading back). The CPU
//! lift is measured at 1 M only: 5 M points are 160 MB of 32-byte points, over the 128 MiB
//! storage binding wgpu's default limits guarantee; the GPU lift binds one image at a time.
//!
//! Runs on whatever adapter wgpu finds: here Mesa's lavapipe (a software rasteriser, so the
//! figures are the CPU's), on a GPU machine the GPU. `SPATIALSCOPE_LIFT_MPX=1,5` picks sizes.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spatialscope::geometry::{backproject_depth, to_world};
use spatialscope::render::lift::{LiftDepth, LiftFrames, LiftImage, SharedBytes};
use spatialscope::render::offscreen::Offscreen;
use spatialscope::render::{
    ColorMode, LineSet, OrbitCamera, PointCloud, PointGpu, PointUniforms, pack_rgb,
};

const SIDE: u32 = 1000;
const SIZE: [u32; 2] = [1280, 720];

fn depth_m() -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let (u, v) = ((i % SIDE) as f32, (i / SIDE) as f32);
            if i % 50 == 7 {
                0.0
            } else {
                1.5 + 0.1 * (u * 0.02).sin() * (v * 0.03).cos()
            }
        })
        .collect()
}

const K_INV: [[f32; 3]; 3] = [
    [1.0 / 800.0, 0.0, -500.0 / 800.0],
    [0.0, 1.0 / 800.0, -500.0 / 800.0],
    [0.0, 0.0, 1.0],
];

/// Image `i`'s pose: side by side along x, 2 m apart.
fn pose(i: usize) -> nalgebra::Matrix4<f64> {
    let mut m = nalgebra::Matrix4::identity();
    m[(0, 3)] = i as f64 * 2.0;
    m
}

fn gpu_cloud(images: usize, depth: &Arc<Vec<f32>>, rgb: &SharedBytes) -> PointCloud {
    struct Bytes(Arc<Vec<f32>>);
    impl AsRef<[u8]> for Bytes {
        fn as_ref(&self) -> &[u8] {
            bytemuck::cast_slice(&self.0)
        }
    }
    let valid = depth.iter().filter(|d| **d > 0.0).count();
    let frames = LiftFrames {
        images: (0..images)
            .map(|i| LiftImage {
                key: i as u64,
                width_px: SIDE,
                height_px: SIDE,
                depth: LiftDepth::F32(Arc::new(Bytes(depth.clone()))),
                rgb: Some(rgb.clone()),
                fallback_rgb: 0,
                k_inv: K_INV,
                world_from_camera: std::array::from_fn(|c| {
                    std::array::from_fn(|r| pose(i)[(r, c)] as f32)
                }),
                camera: i as u32,
                patches_per_side: 0,
                valid_px: valid,
            })
            .collect(),
    };
    let corners = (0..images)
        .flat_map(|i| {
            [
                [i as f32 * 2.0 - 1.0, -1.0, 1.5],
                [i as f32 * 2.0 + 1.0, 1.0, 1.5],
            ]
        })
        .map(|p| PointGpu {
            position: p,
            rgb: 0,
            depth_m: 1.5,
            camera: 0,
            cam_xy: [0.0; 2],
        })
        .collect();
    PointCloud::gpu_lifted(corners, true, frames, (1.4, 1.6))
}

fn cpu_cloud(depth: &[f32], rgb: &[u8]) -> PointCloud {
    let lifted = backproject_depth(depth, SIDE, SIDE, &K_INV);
    let cam: Vec<[f32; 3]> = lifted.iter().map(|(_, p)| *p).collect();
    let world = to_world(&pose(0), &cam);
    let points = lifted
        .iter()
        .zip(world)
        .map(|((px, c), w)| PointGpu {
            position: w,
            rgb: pack_rgb(rgb[px * 3], rgb[px * 3 + 1], rgb[px * 3 + 2]),
            depth_m: c[2],
            camera: 0,
            cam_xy: [c[0], c[1]],
        })
        .collect();
    PointCloud::new(points, true)
}

fn frame(gpu: &mut Offscreen, cloud: &PointCloud) {
    let camera = OrbitCamera::initial_view(cloud.median, cloud.spread_m.max(1.0), &[]);
    let u = PointUniforms::for_view(&camera, cloud, SIZE, 2.0, ColorMode::Depth);
    gpu.render(cloud, &LineSet::default(), None, &u, SIZE)
        .expect("a frame");
}

fn bench(c: &mut Criterion) {
    let mut gpu = match Offscreen::new() {
        Ok(g) => g,
        Err(e) => {
            println!("lift_frames: not measured ({e})");
            return;
        }
    };
    println!("lift_frames: adapter {}", gpu.adapter);
    let sizes: Vec<usize> = std::env::var("SPATIALSCOPE_LIFT_MPX")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 5, 20]);
    let depth = Arc::new(depth_m());
    let rgb_bytes: Vec<u8> = (0..SIDE * SIDE * 3).map(|i| (i % 251) as u8).collect();
    let rgb: SharedBytes = Arc::new(rgb_bytes.clone());
    let mut g = c.benchmark_group("frame");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let small = PointCloud::new(cpu_cloud(&depth, &rgb_bytes).points[..100].to_vec(), true);
    frame(&mut gpu, &small);
    g.bench_function("100_points", |b| b.iter(|| frame(&mut gpu, &small)));
    for &mpx in &sizes {
        let cloud = gpu_cloud(mpx, &depth, &rgb);
        frame(&mut gpu, &cloud); // uploads once
        g.bench_function(format!("gpu_lift/{mpx}M"), |b| {
            b.iter(|| frame(&mut gpu, &cloud))
        });
        if mpx == 1 {
            let cloud = cpu_cloud(&depth, &rgb_bytes);
            frame(&mut gpu, &cloud);
            g.bench_function("cpu_lift/1M", |b| b.iter(|| frame(&mut gpu, &cloud)));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
