//! One view per camera: the RGB frame, and the depth frame coloured with turbo with the
//! metric depth under the cursor. Labels say the resolution, where the intrinsics came from
//! (file / nominal dataset table / none) and flag placeholder cameras.

use egui::{Color32, TextureHandle, TextureOptions};

use super::panel::Panel;
use super::session::Session;
use super::{Intent, theme};
use crate::episode::{CalibrationOrigin, Camera, DepthImage, Episode};
use crate::worker::{CameraFrame, FrameBundle};

/// Height of the text lines around one image (name, intrinsics, depth readout), points.
const LABEL_LINES_PT: f32 = 66.0;

/// Where depth goes and how large each image may be, for one camera's share of the pane
/// (`cell`: its width, the pane's height): under the RGB (two rows) or beside it (one row,
/// half the width each), whichever gives the larger images; clamped to the theme's limits.
fn camera_layout(cell: egui::Vec2, spacing: f32, with_depth: bool) -> (DepthPlacement, egui::Vec2) {
    let clamp = |h: f32| h.clamp(theme::MIN_IMAGE_HEIGHT, theme::MAX_IMAGE_HEIGHT);
    if !with_depth {
        return (
            DepthPlacement::Hidden,
            egui::vec2(cell.x, clamp(cell.y - LABEL_LINES_PT)),
        );
    }
    let below = egui::vec2(cell.x, (cell.y - 2.0 * LABEL_LINES_PT) / 2.0);
    let beside = egui::vec2((cell.x - spacing) / 2.0, cell.y - LABEL_LINES_PT);
    if beside.min_elem() > below.min_elem() {
        (
            DepthPlacement::Beside,
            egui::vec2(beside.x.max(48.0), clamp(beside.y)),
        )
    } else {
        (DepthPlacement::Below, egui::vec2(below.x, clamp(below.y)))
    }
}

/// Every camera of the open episode side by side, as a dock panel; holds their textures.
#[derive(Default)]
pub struct CamerasPanel {
    textures: Vec<CameraTextures>,
}

impl CamerasPanel {
    /// Fresh (empty) textures for an episode's cameras.
    pub fn reset(&mut self, cameras: usize) {
        self.textures = (0..cameras).map(|_| CameraTextures::default()).collect();
    }

    /// Uploads a decoded step's frames (the app calls this when a frame arrives).
    pub fn update(&mut self, ctx: &egui::Context, ep: &Episode, bundle: &FrameBundle) {
        for ((cam, f), t) in ep
            .cameras
            .iter()
            .zip(&bundle.cameras)
            .zip(self.textures.iter_mut())
        {
            t.update(ctx, &cam.name, f);
        }
    }
}

impl Panel for CamerasPanel {
    fn ui(&mut self, ui: &mut egui::Ui, session: &Session) -> Vec<Intent> {
        let Some(ep) = &session.episode else {
            ui.weak("no episode open");
            return Vec::new();
        };
        let attention = session
            .attention_values()
            .filter(|_| session.attention.show);
        egui::ScrollArea::both()
            .id_salt("cameras_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                // Every camera side by side, each image as large as the pane allows: the width
                // shared between the cameras, the height between RGB and depth, less the
                // label lines of each.
                let n = ep.cameras.len().max(1);
                let spacing = ui.spacing().item_spacing.x;
                let width =
                    ((ui.available_width() - spacing * (n as f32 - 1.0)) / n as f32).max(96.0);
                let with_depth =
                    session.settings.show_depth && ep.cameras.iter().any(|c| c.has_depth);
                let (placement, max) = camera_layout(
                    egui::vec2(width, ui.available_height()),
                    spacing,
                    with_depth,
                );
                ui.horizontal_top(|ui| {
                    for (ci, cam) in ep.cameras.iter().enumerate() {
                        let frame = session.frame.as_ref().and_then(|f| f.cameras.get(ci));
                        let overlay = attention
                            .as_ref()
                            .filter(|a| a.0 == ci)
                            .map(|a| (a.1.as_slice(), a.2, session.attention.opacity));
                        if let Some(t) = self.textures.get(ci) {
                            camera_ui(ui, cam, frame, t, max, placement, overlay);
                        }
                    }
                });
                // One line always reserved for this, so the panels below never jump when
                // it comes and goes during playback.
                let lagging = session
                    .frame
                    .as_ref()
                    .filter(|f| f.step != session.step())
                    .map(|f| {
                        format!(
                            "showing step {} while step {} decodes…",
                            f.step,
                            session.step()
                        )
                    });
                ui.weak(lagging.unwrap_or_else(|| " ".to_owned()));
            });
        Vec::new()
    }
}

/// GPU textures of one camera, updated in place when a new frame arrives.
#[derive(Default)]
pub struct CameraTextures {
    pub rgb: Option<TextureHandle>,
    pub depth: Option<TextureHandle>,
}

impl CameraTextures {
    /// Uploads the frame's images (shared `Arc`s, no pixel copy on this thread).
    pub fn update(&mut self, ctx: &egui::Context, name: &str, frame: &CameraFrame) {
        let opts = TextureOptions::NEAREST;
        if let Some(img) = &frame.rgb_image {
            match &mut self.rgb {
                Some(t) => t.set(egui::ImageData::Color(img.clone()), opts),
                None => {
                    self.rgb = Some(ctx.load_texture(
                        format!("rgb/{name}"),
                        egui::ImageData::Color(img.clone()),
                        opts,
                    ))
                }
            }
        }
        if let Some(img) = &frame.depth_image {
            match &mut self.depth {
                Some(t) => t.set(egui::ImageData::Color(img.clone()), opts),
                None => {
                    self.depth = Some(ctx.load_texture(
                        format!("depth/{name}"),
                        egui::ImageData::Color(img.clone()),
                        opts,
                    ));
                }
            }
        }
    }
}

/// Size to draw a `w` x `h` image into at most `max.x` wide and `max.y` tall.
fn fit(w: u32, h: u32, max: egui::Vec2) -> egui::Vec2 {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    let scale = (max.x / w).min(max.y / h);
    egui::vec2(w * scale, h * scale)
}

/// (short label, details on hover, colour) for a camera's intrinsics.
fn intrinsics_label(c: &Camera) -> (String, String, Color32) {
    let numbers = |k: &crate::episode::Intrinsics| {
        format!(
            "fx {:.2} fy {:.2} cx {:.2} cy {:.2} px at {}x{}",
            k.fx_px, k.fy_px, k.cx_px, k.cy_px, k.width_px, k.height_px
        )
    };
    match (&c.intrinsics, &c.intrinsics_source) {
        (Some(k), CalibrationOrigin::DatasetTable { key }) => (
            format!("K nominal ({key})"),
            format!(
                "{}\nNominal: from the per-dataset table, scaled to this image; the dataset ships no calibration.",
                numbers(k)
            ),
            theme::WARN_TEXT,
        ),
        (Some(k), _) => ("K from file".to_owned(), numbers(k), Color32::GRAY),
        (None, _) => (
            "no intrinsics".to_owned(),
            "The dataset has no intrinsics for this camera.".to_owned(),
            Color32::GRAY,
        ),
    }
}

/// How a camera's depth sits relative to its RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepthPlacement {
    /// Not shown.
    Hidden,
    /// Under the RGB image.
    Below,
    /// Beside the RGB image (wide, short panes).
    Beside,
}

/// Draws one camera's RGB (and its depth as `depth` places it), each image at most `max`
/// points.
pub fn camera_ui(
    ui: &mut egui::Ui,
    camera: &Camera,
    frame: Option<&CameraFrame>,
    textures: &CameraTextures,
    max: egui::Vec2,
    depth: DepthPlacement,
    attention: Option<(&[f32], usize, f32)>,
) {
    let depth = if camera.has_depth {
        depth
    } else {
        DepthPlacement::Hidden
    };
    ui.vertical(|ui| {
        let spacing = ui.spacing().item_spacing.x;
        ui.set_max_width(match depth {
            DepthPlacement::Beside => 2.0 * max.x + spacing,
            _ => max.x,
        });
        ui.horizontal(|ui| {
            ui.strong(&camera.name);
            ui.weak(format!("{}x{}", camera.width_px, camera.height_px));
            if camera.placeholder {
                ui.colored_label(theme::WARN_TEXT, "all-black placeholder")
                    .on_hover_text("Every probed frame is black: the dataset stores this camera, but the robot had none.");
            }
        });
        let (k_short, k_detail, k_color) = intrinsics_label(camera);
        ui.colored_label(k_color, k_short).on_hover_text(k_detail);
        let size = fit(camera.width_px, camera.height_px, max);
        let rgb = |ui: &mut egui::Ui| {
            match (frame.map(|f| &f.rgb), &textures.rgb) {
                (Some(Err(e)), _) => {
                    ui.colored_label(theme::ERROR_TEXT, &e.message);
                }
                (Some(Ok(_)), Some(tex)) => {
                    let r = ui.add(egui::Image::new((tex.id(), size)));
                    if let Some((values, side, opacity)) = attention {
                        paint_attention(ui.painter(), r.rect, values, side, opacity);
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new("model attention (token chosen in the model panel)")
                                    .weak(),
                            )
                            .wrap(),
                        );
                    }
                }
                _ => {
                    ui.allocate_ui(size, |ui| ui.spinner());
                }
            }
        };
        match depth {
            DepthPlacement::Hidden => rgb(ui),
            DepthPlacement::Below => {
                rgb(ui);
                depth_ui(ui, frame, textures, size);
            }
            DepthPlacement::Beside => {
                ui.horizontal_top(|ui| {
                    ui.vertical(|ui| {
                        ui.set_max_width(size.x);
                        rgb(ui)
                    });
                    ui.vertical(|ui| {
                        ui.set_max_width(size.x);
                        depth_ui(ui, frame, textures, size)
                    });
                });
            }
        }
    });
}

fn depth_ui(
    ui: &mut egui::Ui,
    frame: Option<&CameraFrame>,
    textures: &CameraTextures,
    size: egui::Vec2,
) {
    let Some(frame) = frame else { return };
    match (&frame.depth, &textures.depth) {
        (Some(Err(e)), _) => {
            ui.colored_label(theme::ERROR_TEXT, &e.message);
        }
        (Some(Ok(depth)), Some(tex)) => {
            let r = ui.add(egui::Image::new((tex.id(), size)).sense(egui::Sense::hover()));
            let range = frame.depth_range_m.map_or(String::new(), |(lo, hi)| {
                format!("turbo {lo:.3} m (blue) … {hi:.3} m (red), 2-98 %")
            });
            let hover = r.hover_pos().and_then(|p| depth_under(depth, r.rect, p));
            match hover {
                Some((u, v, Some(d))) => ui.monospace(format!("({u}, {v}): {d:.4} m   {range}")),
                Some((u, v, None)) => ui.monospace(format!("({u}, {v}): invalid   {range}")),
                None => ui.weak(format!("depth: {range}")),
            };
        }
        _ => {}
    }
}

/// Pixel (u, v) under `pos` inside `rect` and its depth in metres (None where invalid).
pub fn depth_under(
    depth: &DepthImage,
    rect: egui::Rect,
    pos: egui::Pos2,
) -> Option<(u32, u32, Option<f32>)> {
    if !rect.contains(pos)
        || rect.width() <= 0.0
        || rect.height() <= 0.0
        || depth.width_px == 0
        || depth.height_px == 0
    {
        return None;
    }
    let u = (((pos.x - rect.min.x) / rect.width()) * depth.width_px as f32) as u32;
    let v = (((pos.y - rect.min.y) / rect.height()) * depth.height_px as f32) as u32;
    let (u, v) = (u.min(depth.width_px - 1), v.min(depth.height_px - 1));
    Some((u, v, depth.at(u, v)))
}

/// Attention over the model's patch grid, drawn over the (squashed-to-square at the model
/// input) image: each patch cell tinted by its share, scaled so the strongest patch is fully
/// opaque at `opacity`.
fn paint_attention(
    painter: &egui::Painter,
    rect: egui::Rect,
    values: &[f32],
    side: usize,
    opacity: f32,
) {
    if side == 0 || values.len() != side * side {
        return;
    }
    let max = values.iter().copied().fold(0f32, f32::max);
    if max <= 0.0 {
        return;
    }
    let cell = egui::vec2(rect.width() / side as f32, rect.height() / side as f32);
    for (i, v) in values.iter().enumerate() {
        let t = (v / max).clamp(0.0, 1.0);
        let [r, g, b] = crate::render::colormap::turbo(t);
        let alpha = (opacity * (0.15 + 0.85 * t) * 255.0) as u8;
        let min = rect.min + egui::vec2((i % side) as f32 * cell.x, (i / side) as f32 * cell.y);
        painter.rect_filled(
            egui::Rect::from_min_size(min, cell),
            0.0,
            Color32::from_rgba_unmultiplied(r, g, b, alpha),
        );
    }
}
