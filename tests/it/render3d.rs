//! The 3-D view's GPU side. Every WGSL file is parsed and validated with naga (no GPU
//! needed). Then a synthetic cloud is drawn through the real paint callback with a wgpu
//! device (lavapipe on machines without a GPU, as `.ci/run` installs): its pixels must
//! show, colour modes must switch on the GPU without re-uploading the cloud, and an empty
//! cloud must draw nothing without failing.

use std::sync::Arc;

use crate::common;
use egui_kittest::Harness;
use spatialscope::render::ColorMode;
use spatialscope::render::{PointCloud, PointGpu, PointRenderer, pack_rgb};
use spatialscope::ui::view3d::{View3dInput, View3dState, view3d_ui};

#[test]
fn every_shader_parses_and_validates() {
    // Each pipeline's source as the device gets it (the point pipeline and the lift compute
    // pipeline share point_struct.wgsl, prepended), and every file in shaders/ used by one.
    let sources = spatialscope::render::renderer::shader_sources();
    for (name, src) in sources {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let entries: &[&str] = if name == "lift" {
            &["cs_main"]
        } else {
            &["vs_main", "fs_main"]
        };
        for entry in entries {
            assert!(
                module.entry_points.iter().any(|ep| ep.name == *entry),
                "{name}: no {entry}"
            );
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for e in std::fs::read_dir(&dir).expect("shaders/").flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "wgsl") {
            let text = std::fs::read_to_string(&p).expect("read");
            assert!(
                sources.iter().any(|(_, src)| src.contains(text.trim())),
                "{} is in no pipeline",
                p.display()
            );
        }
    }
    assert_eq!(sources.len(), 4, "points, lift, lines, composite");
}

/// A 21 x 21 grid of red points on the plane z = 0, 1 cm apart.
fn red_grid() -> PointCloud {
    let pts = (0..21 * 21)
        .map(|i| PointGpu {
            position: [
                (i % 21) as f32 * 0.01 - 0.1,
                (i / 21) as f32 * 0.01 - 0.1,
                0.0,
            ],
            rgb: pack_rgb(230, 20, 20),
            depth_m: 1.0,
            camera: 0,
            cam_xy: [0.0; 2],
        })
        .collect();
    PointCloud::new(pts, true)
}

struct State {
    view: View3dState,
    cloud: Arc<PointCloud>,
    attention: Option<Arc<Vec<f32>>>,
}

/// The view of `State`, 260 points tall.
fn view_ui(ui: &mut egui::Ui, s: &mut State) {
    view3d_ui(
        ui,
        &mut s.view,
        View3dInput {
            cloud: &s.cloud,
            lines: &Default::default(),
            attention: s.attention.clone(),
            cameras: &[],
            focus: &[],
        },
        260.0,
    )
}

fn count(img: &image::RgbaImage, f: impl Fn([u8; 4]) -> bool) -> usize {
    img.pixels().filter(|p| f(p.0)).count()
}

#[test]
fn a_cloud_is_drawn_depth_tested_and_recoloured_on_the_gpu() {
    if common::offscreen_or_skip("a_cloud_is_drawn_depth_tested_and_recoloured_on_the_gpu")
        .is_none()
    {
        return;
    }
    let rs = egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    rs.renderer
        .write()
        .callback_resources
        .insert(PointRenderer::new(&rs.device, rs.target_format));
    let view = View3dState {
        point_size_px: 6.0,
        gpu_available: true,
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size([420.0, 320.0])
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(
            rs.clone(),
        ))
        .build_ui_state(
            view_ui,
            State {
                view,
                cloud: Arc::new(red_grid()),
                attention: None,
            },
        );
    h.run_steps(2);
    let img = h.render().expect("render");
    let red = count(&img, |p| p[0] > 180 && p[1] < 80 && p[2] < 80);
    assert!(red > 1500, "the red grid is visible ({red} red pixels)");
    let uploaded = rs
        .renderer
        .read()
        .callback_resources
        .get::<PointRenderer>()
        .expect("renderer")
        .uploaded_bytes;
    assert_eq!(uploaded, 21 * 21 * 32, "uploaded once");

    // Camera-id colouring: the palette's first colour, no re-upload.
    h.state_mut().view.color_mode = ColorMode::Camera;
    h.run_steps(2);
    let img = h.render().expect("render");
    assert_eq!(
        count(&img, |p| p[0] > 180 && p[1] < 80 && p[2] < 80),
        0,
        "no red left"
    );
    assert!(
        count(&img, |p| p[0] > 200
            && (90..150).contains(&p[1])
            && (60..120).contains(&p[2]))
            > 1500
    );
    let again = rs
        .renderer
        .read()
        .callback_resources
        .get::<PointRenderer>()
        .expect("renderer")
        .uploaded_bytes;
    assert_eq!(again, uploaded, "switching colours uploads nothing");

    // A new cloud (the next step) is uploaded; an empty one draws nothing and does not fail.
    h.state_mut().cloud = Arc::new(PointCloud::new(Vec::new(), true));
    h.run_steps(2);
    let img = h.render().expect("render");
    assert_eq!(
        count(&img, |p| p[0] > 200
            && (90..150).contains(&p[1])
            && (60..120).contains(&p[2])),
        0
    );
}

/// Two 11 x 11 patches of points side by side at z = 1 m from an orbit camera, the left
/// in model patch 0 and the right in patch 1, the right one 1 m deeper in its camera.
fn two_patches() -> PointCloud {
    let pts = (0..2 * 121)
        .map(|i| {
            let side = i / 121;
            let j = i % 121;
            PointGpu {
                position: [
                    side as f32 * 0.3 - 0.15 + (j % 11) as f32 * 0.005,
                    (j / 11) as f32 * 0.005,
                    0.0,
                ],
                rgb: pack_rgb(128, 128, 128),
                depth_m: 1.0 + side as f32,
                camera: spatialscope::render::pack_camera_patch(0, Some(side)),
                cam_xy: [0.0, 0.0],
            }
        })
        .collect();
    PointCloud::new(pts, true)
}

#[test]
fn attention_and_ego3d_colour_modes_offscreen() {
    use spatialscope::render::{LineBuilder, LineSet, OrbitCamera, PointUniforms};
    let Some(mut gpu) = common::offscreen_or_skip("attention_and_ego3d_colour_modes_offscreen")
    else {
        return;
    };
    let cloud = two_patches();
    let camera = OrbitCamera::at_distance(cloud.median, 1.0);
    let size = [200, 120];
    let mut u = PointUniforms::for_view(&camera, &cloud, size, 6.0, ColorMode::Attention);
    // Attention 1 on patch 0 and 0.5 on patch 1: turbo's dark red and its green middle.
    let img = gpu
        .render(&cloud, &LineSet::default(), Some(&[1.0, 0.5]), &u, size)
        .unwrap();
    if let Ok(dir) = std::env::var("SPATIALSCOPE_TEST_IMAGES") {
        img.save(std::path::Path::new(&dir).join("attention.png"))
            .unwrap();
    }
    let hot = count(&img, |p| p[0] > 100 && p[2] < 40);
    let mid = count(&img, |p| p[1] > 150 && p[0] < 200);
    assert!(
        hot > 50 && mid > 50,
        "attention 1 -> dark red ({hot} px), 0.5 -> green ({mid} px)"
    );
    // Patch colours (the Features panel's mode): packed RGBA8 per patch, exact on screen.
    u.color_mode = ColorMode::PatchColours.shader_index();
    let colours = [
        f32::from_bits(pack_rgb(250, 20, 200)),
        f32::from_bits(pack_rgb(10, 200, 240)),
    ];
    let img = gpu
        .render(&cloud, &LineSet::default(), Some(&colours), &u, size)
        .unwrap();
    let magenta = count(&img, |p| p[0] > 230 && p[1] < 40 && p[2] > 180);
    let cyan = count(&img, |p| p[0] < 30 && p[1] > 180 && p[2] > 220);
    assert!(
        magenta > 50 && cyan > 50,
        "each patch takes its own colour ({magenta}, {cyan})"
    );
    // Ego3D channel z' = (z - 2) / 2: -0.5 (left, z = 1) and 0 (right, z = 2), mapped by
    // turbo at 0.25 and 0.5: the left is bluer than the right.
    u.color_mode = 4;
    u.ego3d_channel = 2 * 17;
    let img = gpu
        .render(&cloud, &LineSet::default(), None, &u, size)
        .unwrap();
    // turbo(0.25) is a light blue, turbo(0.5) a green-cyan: both present, no red.
    let blue = count(&img, |p| p[2] > 150 && p[0] < 120);
    let green = count(&img, |p| p[1] > 150 && p[2] < 180 && p[0] < 180);
    assert!(
        blue > 30 && green > 30,
        "z' -0.5 and 0 give two colours ({blue}, {green})"
    );
    // A green line over the middle is drawn, depth-tested with the points.
    let mut b = LineBuilder::default();
    b.segment([-0.4, 0.02, 0.0], [0.4, 0.02, 0.0], [20, 240, 20], 4.0);
    let img = gpu.render(&cloud, &b.build(), None, &u, size).unwrap();
    let green = img
        .pixels()
        .filter(|p| p[1] > 200 && p[0] < 80 && p[2] < 80)
        .count();
    assert!(green > 100, "line pixels: {green}");
}

/// "Save PNG" in attention colours: the saved uniforms carry the panel's attention scale
/// (1 / the hottest patch), computed before the PNG's uniforms are copied from the panel's
/// (it used to be copied first, so a saved PNG used 1.0 and came out too dark).
#[test]
fn a_saved_png_in_attention_colours_uses_the_panels_attention_scale() {
    let view = View3dState {
        gpu_available: true,
        color_mode: ColorMode::Attention,
        point_size_px: 5.0,
        ..Default::default()
    };
    let mut h = Harness::builder().with_size([420.0, 320.0]).build_ui_state(
        view_ui,
        State {
            view,
            cloud: Arc::new(red_grid()),
            attention: Some(Arc::new(vec![0.1, 0.25, 0.05])),
        },
    );
    h.run();
    // As the "Save PNG…" menu does: a request for 1920 x 1080, filled in by the next frame.
    h.state_mut().view.png_size = [1920, 1080];
    h.state_mut().view.png_request = Some(spatialscope::render::PointUniforms::for_view(
        &spatialscope::render::OrbitCamera::at_distance([0.0; 3], 1.0),
        &red_grid(),
        [1920, 1080],
        0.0,
        ColorMode::Rgb,
    ));
    h.run();
    let u = h
        .state()
        .view
        .png_request
        .expect("the request stays for the app");
    assert_eq!(u.color_mode, ColorMode::Attention.shader_index());
    assert!(
        (u.attention_scale - 4.0).abs() < 1e-6,
        "1 / 0.25, got {}",
        u.attention_scale
    );
    assert_eq!(u.viewport_px, [1920.0, 1080.0]);
    assert!(
        u.point_size_px > 5.0,
        "pixel sizes scale with the PNG's height"
    );
    assert_eq!(
        spatialscope::ui::view3d::attention_scale(None),
        1.0,
        "no attention: scale 1"
    );
}
