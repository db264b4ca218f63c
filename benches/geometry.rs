//! Ego3D geometry and the 3-D view's CPU cost, each against a same-run baseline:
//!
//! - `backproject/640x480`, `backproject/256x256`: every valid pixel of a metric depth image
//!   lifted to camera-frame points (10 % invalid pixels). Baseline `touch/*`: one pass summing
//!   the same depth values (the memory traffic floor). After the group, numpy doing the
//!   same (`benches/numpy_baselines.py`, valid pixels lifted with their indices) is timed on
//!   the same inputs and printed; so is PyTorch doing the patch path
//!   (`SPATIALSCOPE_TORCH_PYTHON`, a Python with torch).
//! - `patch_points/224`: the model's patch-level path (7 x 7 pooling, 1024 lifted samples,
//!   256 x 12 packing) on a 224 x 224 depth. Baseline: `touch/224x224`.
//! - `view3d_frame/*`: the UI thread's cost of one egui frame of the 3-D view holding a
//!   static cloud of 1 M or 10 M points (the cloud lives on the GPU; the frame only builds
//!   uniforms and a paint callback), so it should not grow with the point count. Baseline
//!   `view3d_frame/100`: the same frame with 100 points.

#[path = "python_baseline.rs"]
pub mod python_baseline;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spatialscope::geometry::{PatchSampling, backproject_depth, inverse_pinhole, patch_points};
use spatialscope::render::{LineSet, PointCloud, PointGpu, pack_rgb};
use spatialscope::ui::view3d::{View3dInput, View3dState, view3d_ui};

fn depth(w: usize, h: usize) -> Vec<f32> {
    (0..w * h)
        .map(|i| {
            if i % 10 == 3 {
                0.0
            } else {
                0.5 + (i % 97) as f32 * 0.01
            }
        })
        .collect()
}

fn k_inv(w: usize, h: usize) -> [[f32; 3]; 3] {
    let f = w as f32 * 0.9;
    inverse_pinhole(&[
        [f, 0.0, w as f32 / 2.0],
        [0.0, f, h as f32 / 2.0],
        [0.0, 0.0, 1.0],
    ])
    .unwrap()
}

fn cloud(n: usize) -> Arc<PointCloud> {
    let pts = (0..n)
        .map(|i| PointGpu {
            position: [
                (i % 1000) as f32 * 1e-3,
                (i / 1000 % 1000) as f32 * 1e-3,
                (i / 1_000_000) as f32 * 1e-2,
            ],
            rgb: pack_rgb(200, 200, 200),
            depth_m: 1.0,
            camera: 0,
            cam_xy: [0.0; 2],
        })
        .collect();
    Arc::new(PointCloud::new(pts, true))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("geometry");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for (w, h) in [(640usize, 480usize), (256, 256), (224, 224)] {
        let d = depth(w, h);
        let k = k_inv(w, h);
        g.throughput(Throughput::Elements((w * h) as u64));
        g.bench_function(format!("touch/{w}x{h}"), |b| {
            b.iter(|| d.iter().sum::<f32>())
        });
        if w != 224 {
            g.bench_function(format!("backproject/{w}x{h}"), |b| {
                b.iter(|| backproject_depth(&d, w as u32, h as u32, &k))
            });
        } else {
            g.bench_function("patch_points/224", |b| {
                b.iter(|| patch_points(&PatchSampling::RELEASED, &d, &k).unwrap())
            });
        }
    }
    g.finish();
    // numpy doing the same back-projection on the same inputs.
    for (w, h) in [("640", "480"), ("256", "256")] {
        python_baseline::print(&["backproject", w, h]);
    }
    // PyTorch doing the model's patch path as the reference does.
    match std::env::var("SPATIALSCOPE_TORCH_PYTHON") {
        Ok(python) => python_baseline::run(&python, &["ego3d_torch"]),
        Err(_) => python_baseline::print(&["ego3d_torch"]),
    }

    let mut g = c.benchmark_group("view3d_frame");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for n in [100usize, 1_000_000, 10_000_000] {
        let cl = cloud(n);
        let lines = Arc::new(LineSet::default());
        let ctx = egui::Context::default();
        let mut state = View3dState {
            gpu_available: true,
            ..Default::default()
        };
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                let mut out = ctx.run_ui(Default::default(), |ui| {
                    egui::CentralPanel::default().show(ui, |ui| {
                        view3d_ui(
                            ui,
                            &mut state,
                            View3dInput {
                                cloud: &cl,
                                lines: &lines,
                                attention: None,
                                cameras: &[],
                                focus: &[],
                            },
                            300.0,
                        );
                    });
                });
                // No renderer here: the font atlas upload is dropped on purpose.
                out.textures_delta.clear();
                out.shapes.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
