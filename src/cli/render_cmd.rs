//! `spatialscope render`: the 3-D view of one step rendered offscreen to a PNG (no window,
//! no X server): the fused cloud of every camera with depth, camera frustums, the ground
//! grid, the end-effector trajectory and the step's action arrow, framed as the app frames it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::episode::FrameCache;
use crate::render::offscreen::Offscreen;
use crate::render::{OrbitCamera, PointUniforms};

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Dataset file or folder.
    pub path: PathBuf,
    /// Episode index in the listing (across datasets).
    #[arg(long, default_value_t = 0)]
    pub episode: usize,
    /// Step to render.
    #[arg(long, default_value_t = 0)]
    pub step: usize,
    /// Image size, WxH pixels.
    #[arg(long, default_value = "1280x720")]
    pub size: String,
    /// Output folder (created if needed; never inside a dataset).
    #[arg(long)]
    pub out: PathBuf,
    /// Point colour: rgb, depth, height or camera.
    #[arg(long, default_value = "rgb")]
    pub color: String,
    /// Point size in pixels.
    #[arg(long, default_value_t = 3.0)]
    pub point_size: f32,
    /// Draw the model's 1024 Ego3D samples of the first depth camera instead of the full cloud.
    #[arg(long)]
    pub model_view: bool,
}

fn parse_size(s: &str) -> anyhow::Result<[u32; 2]> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .context("--size must look like 1280x720")?;
    let w: u32 = w.trim().parse().context("--size width")?;
    let h: u32 = h.trim().parse().context("--size height")?;
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) {
        bail!("--size {w}x{h}: each side must be 16..8192 pixels");
    }
    Ok([w, h])
}

fn color_mode(s: &str) -> anyhow::Result<u32> {
    Ok(match s {
        "rgb" => 0,
        "depth" => 1,
        "height" => 2,
        "camera" => 3,
        other => bail!("--color {other}: expected rgb, depth, height or camera"),
    })
}

/// Renders; returns the written file's path.
pub fn run(a: &RenderArgs) -> anyhow::Result<PathBuf> {
    let size = parse_size(&a.size)?;
    let mode = color_mode(&a.color)?;
    let collection = crate::episode::open_path(&a.path)
        .with_context(|| format!("cannot open {}", a.path.display()))?;
    super::ensure_outside_datasets(&a.out, &collection)?;
    let cache = Arc::new(FrameCache::new(64 << 20));
    let mut index = 0usize;
    let mut found = None;
    for ds in &collection.datasets {
        if a.episode < index + ds.len() {
            found = Some(ds.open_episode(a.episode - index, &cache)?);
            break;
        }
        index += ds.len();
    }
    let ep = found.with_context(|| {
        format!(
            "episode {} does not exist ({} episodes)",
            a.episode,
            collection.episode_count()
        )
    })?;
    if a.step >= ep.num_steps() {
        bail!(
            "step {} does not exist ({} has {} steps)",
            a.step,
            ep.name,
            ep.num_steps()
        );
    }
    let cloud = if a.model_view {
        let cam = ep.cameras.iter().position(|c| c.has_depth && c.intrinsics.is_some());
        cam.and_then(|c| crate::scene::model_view_cloud(&ep, a.step, c, false))
    } else {
        crate::scene::step_cloud(&ep, a.step, |_| true).ok()
    }
    .filter(|c| !c.points.is_empty())
    .with_context(|| {
        format!(
            "{}: no camera with depth and intrinsics, so there is no 3-D view to render (RGB-only datasets need estimated depth, not available yet)",
            ep.name
        )
    })?;
    let mut lines =
        crate::scene_lines::step_lines(&ep, a.step, &[], cloud.world_frame, Some(&cloud));
    if a.model_view {
        lines = lines.merged(&crate::scene_lines::patch_outlines(&cloud, 2));
    }
    let camera = OrbitCamera::at_distance(cloud.median, cloud.spread_m * 2.5);
    let uniforms = PointUniforms::for_view(&camera, &cloud, size, a.point_size, mode);
    let mut gpu = Offscreen::new().map_err(anyhow::Error::msg)?;
    let img = gpu
        .render(&cloud, &lines, None, &uniforms, size)
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let safe: String = ep
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let file = a.out.join(format!("{safe}_step{:04}.png", a.step));
    write_png_atomically(&img, &file)?;
    eprintln!("rendered on {}", gpu.adapter);
    Ok(file)
}

/// Writes to a temporary name in the same folder, then renames: no half-written PNG is
/// ever left under the final name.
pub fn write_png_atomically(img: &image::RgbaImage, file: &Path) -> anyhow::Result<()> {
    let tmp = file.with_extension("png.partial");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file)
        .with_context(|| format!("cannot move {} into place", file.display()))?;
    Ok(())
}
