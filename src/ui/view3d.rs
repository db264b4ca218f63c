//! The 3-D view: the step's fused point cloud drawn by the wgpu point renderer through an
//! egui paint callback. Drag to orbit, right- or shift-drag to pan, scroll to zoom, Reset
//! to frame the cloud. Colour modes switch on the GPU without rebuilding the cloud.

use std::sync::Arc;

use super::Intent;
use super::panel::Panel;
use super::session::Session;
use crate::episode::Episode;
use crate::render::{
    ColorMode, LineSet, OrbitCamera, PointCloud, PointCloudCallback, PointUniforms,
};
use crate::scene::{CloudLift, SceneOptions};

/// What the merged lines were built for: (lines version, step, the live prediction's
/// address, each store's row address).
type LinesKey = (u64, usize, usize, [usize; 2]);

/// The 3-D view as a dock panel: its view state and the step's lines with the predicted
/// worm (rebuilt only when the lines, the step or the prediction change).
#[derive(Default)]
pub struct View3dPanel {
    pub state: View3dState,
    lines_cache: Option<(LinesKey, Arc<LineSet>)>,
    /// The open episode's end-effector path (by episode uid), what the first view frames.
    track: Option<(u64, Vec<[f32; 3]>)>,
}

impl View3dPanel {
    /// The view's options that shape the scene the worker builds (the view holds them; every
    /// step request carries them).
    pub fn scene_options(&self) -> SceneOptions {
        SceneOptions {
            hidden_cameras: self.state.hidden_cameras.clone(),
            model_view: self.state.model_view,
            model_view_bf16: self.state.model_view_bf16,
            lift: self.state.lift,
            window_steps: self.state.window_steps,
        }
    }

    /// A new episode: every camera shown, the full cloud, framed anew.
    pub fn reset(&mut self) {
        self.state.camera = None;
        self.state.look_through = None;
        self.state.hidden_cameras.clear();
        self.state.model_view = false;
        self.lines_cache = None;
    }

    /// The end-effector's path of `ep` (world frame), computed once per episode.
    /// (A function of the cache field alone, so the view state can be borrowed beside it.)
    fn focus<'a>(track: &'a mut Option<(u64, Vec<[f32; 3]>)>, ep: &Episode) -> &'a [[f32; 3]] {
        if track.as_ref().is_none_or(|(uid, _)| *uid != ep.uid) {
            let t = crate::scene::lines::end_effector_track(ep)
                .map(|(t, _)| t)
                .unwrap_or_default();
            *track = Some((ep.uid, t));
        }
        &track.as_ref().expect("set above").1
    }

    /// The step's lines plus, when the step has a prediction, its chunk as a worm from the
    /// end-effector (world frame only).
    pub fn lines(&mut self, session: &Session) -> Arc<LineSet> {
        let scene = session.frame.as_ref().and_then(|f| f.scene.as_ref());
        let base = scene.map_or_else(|| Arc::new(LineSet::default()), |s| s.lines.clone());
        let world = scene.is_some_and(|s| s.cloud.world_frame);
        let step = session.step();
        let pred = session.prediction().cloned();
        let stored = session.stored_rows_at(step);
        let key = (
            base.version,
            step,
            pred.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize),
            {
                let mut rows = [0usize; 2];
                for (slot, r) in &stored {
                    rows[*slot] = std::ptr::from_ref(*r) as usize;
                }
                rows
            },
        );
        if let Some((k, lines)) = &self.lines_cache
            && *k == key
        {
            return lines.clone();
        }
        let stored_chunks: Vec<(usize, Vec<[f64; 7]>)> = stored
            .iter()
            .map(|(slot, r)| (*slot, r.predicted_actions()))
            .collect();
        let mut chunks: Vec<(crate::render::palette::Rgb, &[[f64; 7]])> = stored_chunks
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(slot, c)| (crate::render::palette::STORED[*slot], c.as_slice()))
            .collect();
        if let Some(a) = pred
            .as_ref()
            .and_then(|p| p.prediction.chunk.actions.as_deref())
        {
            chunks.push((crate::render::palette::PREDICTION, a));
        }
        let merged = match &session.episode {
            Some(ep) => crate::scene::step::lines_with_prediction(ep, step, &base, world, &chunks),
            None => base,
        };
        self.lines_cache = Some((key, merged.clone()));
        merged
    }
}

impl Panel for View3dPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        let mut out = Vec::new();
        let Some(ep) = session.episode.clone() else {
            ui.weak("no episode open");
            return out;
        };
        let depth_cams: Vec<(usize, &str)> = ep
            .cameras
            .iter()
            .enumerate()
            .filter(|(_, c)| c.has_depth && c.intrinsics.is_some())
            .map(|(i, c)| (i, c.name.as_str()))
            .collect();
        if !depth_cams.is_empty() && camera_toggles_ui(ui, &mut self.state, &depth_cams) {
            out.push(Intent::SceneChanged);
        }
        let Some(cloud) = session.shown_cloud() else {
            ui.weak(if depth_cams.is_empty() {
                "no 3-D view yet: no camera has depth and intrinsics; run the model on this step to lift ZoeDepth's estimate"
            } else {
                "no 3-D view at this step (no valid depth in the shown cameras)"
            });
            return out;
        };
        let lines = self.lines(session);
        let attention = session.patch_values(self.state.color_mode);
        let cameras = view_cameras(&ep, session.step(), &self.state.hidden_cameras);
        let height = ui.available_height();
        let focus: &[[f32; 3]] = if cloud.world_frame {
            Self::focus(&mut self.track, &ep)
        } else {
            &[]
        };
        view3d_ui(
            ui,
            &mut self.state,
            View3dInput {
                cloud: &cloud,
                lines: &lines,
                attention,
                cameras: &cameras,
                focus,
            },
            height,
        );
        if let Some(uniforms) = self.state.png_request.take() {
            out.push(Intent::SavePng {
                uniforms,
                size: self.state.png_size,
            });
        }
        out
    }
}

/// The cameras the 3-D view can look through at `step`: shown, with intrinsics and a pose.
pub fn view_cameras(ep: &Episode, step: usize, hidden: &[usize]) -> Vec<ViewCamera> {
    ep.cameras
        .iter()
        .enumerate()
        .filter(|(i, c)| !hidden.contains(i) && !c.placeholder)
        .filter_map(|(index, c)| {
            let k = c.intrinsics?;
            let pose = c.poses.world_from_camera(step)?;
            Some(ViewCamera {
                index,
                name: c.name.clone(),
                world_from_camera: *pose,
                fx: k.fx_px,
                fy: k.fy_px,
                cx: k.cx_px,
                cy: k.cy_px,
                width: f64::from(k.width_px),
                height: f64::from(k.height_px),
            })
        })
        .collect()
}

/// View state of the 3-D panel.
#[derive(Debug, Clone)]
pub struct View3dState {
    /// `None` until the first cloud arrives (then framed on it).
    pub camera: Option<OrbitCamera>,
    pub color_mode: ColorMode,
    pub point_size_px: f32,
    /// Whether the renderer was registered (false without a wgpu render state).
    pub gpu_available: bool,
    /// Camera indices left out of the cloud (the worker rebuilds it when this changes).
    pub hidden_cameras: Vec<usize>,
    /// Show the 1024 Ego3D samples the model computes instead of the full cloud.
    pub model_view: bool,
    /// In that mode, K rounded to bfloat16 as the reference's inference path does.
    pub model_view_bf16: bool,
    /// The point size before "as the model sees it" enlarged it, restored when it is turned
    /// off (unless the user changed the size meanwhile).
    pub point_size_before_model_view: Option<f32>,
    /// Ego3D feature per axis: `axis * 17 + j` (j 0 = centred value, 1..=8 sin, 9..=16 cos).
    pub ego3d_channel: u32,
    /// Look through this episode camera (index) instead of orbiting.
    pub look_through: Option<usize>,
    /// Point diameter in metres (`None`: `point_size_px` pixels).
    pub point_size_m: Option<f32>,
    /// Where depth is lifted to points (GPU unless the user asks for the CPU).
    pub lift: CloudLift,
    /// Steps accumulated in the cloud (GPU lift, needs poses; 1: this step).
    pub window_steps: usize,
    /// Size of a saved PNG, pixels.
    pub png_size: [u32; 2],
    /// Set when "Save PNG" is clicked: the uniforms for `png_size` (the app asks where).
    pub png_request: Option<PointUniforms>,
}

/// An episode camera the view can look through, at the current step.
#[derive(Debug, Clone)]
pub struct ViewCamera {
    pub index: usize,
    pub name: String,
    pub world_from_camera: nalgebra::Matrix4<f64>,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub width: f64,
    pub height: f64,
}

/// What the view draws this frame.
pub struct View3dInput<'a> {
    pub cloud: &'a Arc<PointCloud>,
    pub lines: &'a Arc<LineSet>,
    /// The colour mode's per-patch buffer (`Session::patch_values`): attention weights, or
    /// the Features panel's packed colours.
    pub attention: Option<Arc<Vec<f32>>>,
    /// Cameras with intrinsics and a pose at this step.
    pub cameras: &'a [ViewCamera],
    /// Points the first view keeps in frame (the end-effector's path, world frame).
    pub focus: &'a [[f32; 3]],
}

/// Name of an Ego3D feature (`axis * 17 + j`).
pub fn ego3d_channel_label(c: u32) -> String {
    let axis = ["x", "y", "z"][(c / 17).min(2) as usize];
    match c % 17 {
        0 => format!("{axis}' = ({axis} - c) / 2"),
        j @ 1..=8 => format!("sin(2^{} {axis}')", j - 1),
        j => format!("cos(2^{} {axis}')", j - 9),
    }
}

impl Default for View3dState {
    fn default() -> Self {
        Self {
            camera: None,
            color_mode: ColorMode::Rgb,
            point_size_px: 3.0,
            gpu_available: false,
            hidden_cameras: Vec::new(),
            model_view: false,
            model_view_bf16: false,
            point_size_before_model_view: None,
            ego3d_channel: 2 * 17,
            look_through: None,
            point_size_m: None,
            lift: CloudLift::Gpu,
            window_steps: 1,
            png_size: [1920, 1080],
            png_request: None,
        }
    }
}

pub use super::scene_toggles::{MODEL_VIEW_POINT_PX, camera_toggles_ui};

/// Draws the view (`height` points tall).
pub fn view3d_ui(ui: &mut egui::Ui, state: &mut View3dState, input: View3dInput<'_>, height: f32) {
    let View3dInput {
        cloud,
        lines,
        attention,
        cameras,
        focus,
    } = input;
    let first_view = || OrbitCamera::initial_view(cloud.median, cloud.spread_m, focus);
    // Wraps rather than running under the next panel when the column is narrow.
    ui.horizontal_wrapped(|ui| {
        ui.strong("3-D");
        ui.weak(format!(
            "{} points{}, {}",
            cloud.point_count(),
            if cloud.lift.is_some() { " (GPU-lifted)" } else { "" },
            match (state.model_view, cloud.world_frame) {
                (true, true) => "the model's Ego3D samples (224 px, 2 x 2 per patch), world frame",
                (true, false) =>
                    "the model's Ego3D samples (224 px, 2 x 2 per patch), camera frame",
                (false, true) => "world frame (shown cameras fused)",
                (false, false) => "camera frame (no poses)",
            }
        ));
        egui::ComboBox::from_label("colour")
            .selected_text(state.color_mode.label())
            .show_ui(ui, |ui| {
                for m in ColorMode::ALL {
                    ui.selectable_value(&mut state.color_mode, m, m.label());
                }
            });
        if state.color_mode == ColorMode::Ego3dChannel {
            ui.add(
                egui::DragValue::new(&mut state.ego3d_channel)
                    .range(0..=50)
                    .prefix("channel "),
            )
            .on_hover_text("a feature of one sample's 51 (x, y, z x [v', 8 sin, 8 cos]); a patch's 204 are its 4 samples' 51");
            ui.weak(ego3d_channel_label(state.ego3d_channel));
        }
        if state.color_mode == ColorMode::Attention && attention.is_none() {
            ui.weak("(run the model on this step to see attention)");
        }
        if state.color_mode == ColorMode::PatchColours && attention.is_none() {
            ui.weak("(compute features on this step in the Features panel)");
        }
        ui.label("point size");
        match &mut state.point_size_m {
            None => {
                ui.add(egui::Slider::new(&mut state.point_size_px, 1.0..=12.0).text("px"));
            }
            Some(m) => {
                let mut mm = *m * 1000.0;
                ui.add(egui::Slider::new(&mut mm, 0.5..=30.0).logarithmic(true).text("mm"));
                *m = mm / 1000.0;
            }
        }
        let mut metric = state.point_size_m.is_some();
        if ui
            .checkbox(&mut metric, "metric size")
            .on_hover_text("points as discs of a size in millimetres (near points look bigger)")
            .changed()
        {
            state.point_size_m = metric.then_some(0.004);
        }
        if ui.button("Reset view").clicked() {
            state.camera = None;
            state.look_through = None;
        }
        ui.menu_button("Save PNG…", |ui| {
            for (label, size) in [("1280 x 720", [1280, 720]), ("1920 x 1080", [1920, 1080]), ("3840 x 2160", [3840, 2160])] {
                if ui.button(label).clicked() {
                    state.png_size = size;
                    state.png_request = Some(PointUniforms::for_view(
                        &first_view(),
                        cloud,
                        size,
                        0.0,
                        ColorMode::Rgb,
                    ));
                    ui.close();
                }
            }
        });
    });
    if !cameras.is_empty() {
        ui.horizontal(|ui| {
            ui.weak("view:");
            ui.selectable_value(&mut state.look_through, None, "orbit");
            for c in cameras {
                ui.selectable_value(&mut state.look_through, Some(c.index), format!("through {}", c.name))
                    .on_hover_text("the episode camera's pose and intrinsics at this step; drag to go back to orbiting");
            }
        });
    }
    let through = state
        .look_through
        .and_then(|i| cameras.iter().find(|c| c.index == i))
        .and_then(|c| {
            crate::render::camera::pinhole_view_proj(
                &c.world_from_camera,
                c.fx,
                c.fy,
                c.cx,
                c.cy,
                c.width,
                c.height,
                0.01,
                100.0,
            )
            .map(|vp| (vp, c.height / c.width))
        });
    for w in &cloud.warnings {
        ui.colored_label(super::theme::WARN_TEXT, w);
    }
    if !state.gpu_available {
        ui.weak("(no GPU renderer in this window)");
        return;
    }
    let camera = state.camera.get_or_insert_with(first_view);
    let size = match through {
        // The camera's own aspect, so its image is not stretched.
        Some((_, aspect)) => {
            let h = height.min(ui.available_height()).max(120.0);
            let w = ui.available_width().min(h / aspect as f32);
            egui::vec2(w, w * aspect as f32)
        }
        None => egui::vec2(
            ui.available_width(),
            height.min(ui.available_height()).max(120.0),
        ),
    };
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click_and_drag());
    let d = response.drag_delta();
    let pan =
        response.dragged_by(egui::PointerButton::Secondary) || ui.input(|i| i.modifiers.shift);
    if response.dragged() {
        state.look_through = None;
        if pan {
            camera.pan(d.x, d.y)
        } else {
            camera.orbit(d.x, d.y)
        }
    }
    if response.hovered() {
        // The wheel over the view zooms it and nothing else: the delta is consumed so no
        // scroll area around the view scrolls too.
        let scroll = ui.input_mut(|i| {
            let y = i.smooth_scroll_delta.y;
            i.smooth_scroll_delta = egui::Vec2::ZERO;
            y
        });
        if scroll != 0.0 {
            camera.zoom(scroll);
        }
    }
    let ppp = ui.ctx().pixels_per_point();
    let size_px = [
        (rect.width() * ppp).round().max(1.0) as u32,
        (rect.height() * ppp).round().max(1.0) as u32,
    ];
    let mut uniforms = PointUniforms::for_view(
        camera,
        cloud,
        size_px,
        state.point_size_px * ppp,
        state.color_mode,
    );
    uniforms.ego3d_channel = state.ego3d_channel;
    if let Some(m) = state.point_size_m {
        uniforms.point_size_m = m;
    }
    if let Some(((vp, focal_rel), _)) = through {
        uniforms.view_proj = vp;
        uniforms.focal_px = focal_rel * size_px[1] as f32;
    }
    if state.color_mode == ColorMode::Attention {
        uniforms.attention_scale = attention_scale(attention.as_deref().map(Vec::as_slice));
    }
    // A pending "Save PNG": the same view (camera, colours, sizes) at the chosen resolution,
    // with pixel sizes scaled so the picture looks like the panel. Built after every
    // uniform of the panel is final (the attention scale included).
    if state.png_request.is_some() {
        state.png_request = Some(png_uniforms(
            &uniforms,
            camera,
            cloud,
            state.color_mode,
            size_px,
            state.png_size,
            through.map(|(t, _)| t),
        ));
    }
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        rect,
        PointCloudCallback {
            cloud: cloud.clone(),
            lines: lines.clone(),
            attention,
            uniforms,
            size_px,
        },
    ));
}

/// The colour scale of the attention mode: 1 / the largest patch weight, so the hottest
/// patch is the top of the colour map (1 when there is no attention).
pub fn attention_scale(attention: Option<&[f32]>) -> f32 {
    attention
        .map(|a| a.iter().copied().fold(0f32, f32::max))
        .filter(|m| *m > 0.0)
        .map_or(1.0, |m| 1.0 / m)
}

/// The uniforms of a saved PNG of the panel's view: the panel's final `panel` uniforms
/// (colour mode, Ego3D channel, attention scale, metric size) at `png_size` pixels, with the
/// pixel point size scaled by the height ratio and, when looking through a camera, its
/// projection with the focal length at the new height.
pub fn png_uniforms(
    panel: &PointUniforms,
    camera: &OrbitCamera,
    cloud: &PointCloud,
    mode: ColorMode,
    panel_size_px: [u32; 2],
    png_size: [u32; 2],
    through: Option<([[f32; 4]; 4], f32)>,
) -> PointUniforms {
    let [w, h] = png_size;
    let mut u = PointUniforms::for_view(
        camera,
        cloud,
        [w, h],
        panel.point_size_px * h as f32 / panel_size_px[1].max(1) as f32,
        mode,
    );
    u.ego3d_channel = panel.ego3d_channel;
    u.attention_scale = panel.attention_scale;
    u.point_size_m = panel.point_size_m;
    if let Some((vp, focal_rel)) = through {
        u.view_proj = vp;
        u.focal_px = focal_rel * h as f32;
    }
    u
}
