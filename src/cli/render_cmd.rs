//! `spatialscope render`: the 3-D view of one step rendered offscreen to a PNG (no window,
//! no X server): the fused cloud of every camera with depth, camera frustums, the ground
//! grid, the end-effector trajectory and the step's action arrow, framed as the app frames it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::episode::FrameCache;
use crate::render::offscreen::Offscreen;
use crate::render::{ColorMode, OrbitCamera, PointUniforms};
use crate::scene::{CloudLift, SceneOptions, StepScene};

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
    /// Output folder (created if needed; never inside a dataset), or a `.mp4` file: the
    /// frames go to `<name>_frames/` beside it and ffmpeg encodes them when installed.
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
    /// A scripted orbit around the step's cloud (--frames frames, 30 fps in a video).
    #[arg(long)]
    pub orbit: bool,
    /// Frames of the orbit.
    #[arg(long, default_value_t = 72)]
    pub frames: usize,
    /// Every step from --step to the end (the episode at its fps in a video).
    #[arg(long)]
    pub all_steps: bool,
    /// Show each step with the N - 1 steps before it, each in its cameras' pose then (needs
    /// poses): a moving wrist camera maps the scene.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub accumulate: u16,
    /// Lift depth on the CPU instead of the GPU (the same picture; for comparison).
    #[arg(long)]
    pub cpu_lift: bool,
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

fn color_mode(s: &str) -> anyhow::Result<ColorMode> {
    ColorMode::from_cli_name(s)
        .with_context(|| format!("--color {s}: expected rgb, depth, height or camera"))
}

/// The cloud and lines of one step, as the app builds them (every camera shown).
fn step_scene(
    ep: &crate::episode::Episode,
    step: usize,
    a: &RenderArgs,
    grid: Option<&crate::action_grid::ProcessorConfig>,
) -> anyhow::Result<StepScene> {
    let options = SceneOptions {
        model_view: a.model_view,
        lift: if a.cpu_lift {
            CloudLift::Cpu
        } else {
            CloudLift::Gpu
        },
        window_steps: usize::from(a.accumulate),
        ..SceneOptions::default()
    };
    StepScene::build(ep, step, &options, grid).with_context(|| {
        format!(
            "{}: no camera with depth and intrinsics, so there is no 3-D view to render (RGB-only datasets get one from estimated depth in the app, after a model run)",
            ep.name
        )
    })
}

/// Renders; returns the written still, the video, or the frame folder.
pub fn run(a: &RenderArgs) -> anyhow::Result<PathBuf> {
    let size = parse_size(&a.size)?;
    let mode = color_mode(&a.color)?;
    let collection = crate::episode::open_path(&a.path)
        .with_context(|| format!("cannot open {}", a.path.display()))?;
    collection.ensure_outside(&a.out)?;
    let cache = Arc::new(FrameCache::new(64 << 20));
    let ep = super::open_nth_episode(&collection, a.episode, &cache)?;
    if a.step >= ep.num_steps() {
        bail!(
            "step {} does not exist ({} has {} steps)",
            a.step,
            ep.name,
            ep.num_steps()
        );
    }
    let safe = crate::export::rerun_paths::segment(&ep.name);
    let video = a
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
    let sequence = a.orbit || a.all_steps || video;
    if a.frames == 0 || a.frames > 10_000 {
        bail!("--frames must be 1..10000");
    }
    // The plan: (step, camera) per frame. The camera is framed on the first step's cloud and
    // kept, so a sequence over steps does not jump.
    // The bundled released grid, read once, for the action's grid wedge.
    let grid =
        crate::action_grid::ProcessorConfig::load(&crate::util::assets::default_grid_path()).ok();
    let first = step_scene(&ep, a.step, a, grid.as_ref())?;
    let track = if first.cloud.world_frame {
        crate::scene::lines::end_effector_track(&ep)
            .map(|(t, _)| t)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let base = OrbitCamera::initial_view(first.cloud.median, first.cloud.spread_m, &track);
    let plan: Vec<(usize, OrbitCamera)> = if a.orbit {
        (0..a.frames)
            .map(|i| {
                let mut c = base;
                c.yaw_rad += std::f32::consts::TAU * i as f32 / a.frames as f32;
                (a.step, c)
            })
            .collect()
    } else if sequence {
        (a.step..ep.num_steps()).map(|s| (s, base)).collect()
    } else {
        vec![(a.step, base)]
    };
    let mut gpu = Offscreen::new().map_err(anyhow::Error::msg)?;
    let frames_dir = if video {
        let stem = a
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "render".into());
        a.out.with_file_name(format!("{stem}_frames"))
    } else {
        a.out.clone()
    };
    std::fs::create_dir_all(&frames_dir)
        .with_context(|| format!("cannot create {}", frames_dir.display()))?;
    let mut scene: Option<(usize, StepScene)> = None;
    let mut last = PathBuf::new();
    for (i, (step, camera)) in plan.iter().enumerate() {
        if scene.as_ref().is_none_or(|(s, _)| s != step) {
            scene = Some((*step, step_scene(&ep, *step, a, grid.as_ref())?));
        }
        let Some((_, StepScene { cloud, lines })) = scene.as_ref() else {
            bail!("internal: no scene for step {step}");
        };
        let uniforms = PointUniforms::for_view(camera, cloud, size, a.point_size, mode);
        let img = gpu
            .render(cloud, lines, None, &uniforms, size)
            .map_err(anyhow::Error::msg)?;
        let file = if sequence {
            frames_dir.join(format!("frame_{i:05}.png"))
        } else {
            frames_dir.join(format!("{safe}_step{:04}.png", step))
        };
        crate::util::fs::write_png_atomically(&img, &file)?;
        last = file;
    }
    eprintln!("rendered {} frame(s) on {}", plan.len(), gpu.adapter);
    if !sequence {
        return Ok(last);
    }
    if !video {
        return Ok(frames_dir);
    }
    let fps = if a.orbit {
        30.0
    } else {
        ep.fps.unwrap_or(10.0)
    };
    encode_mp4(&frames_dir, &a.out, fps)
}

/// Encodes `dir/frame_%05d.png` into `out` with ffmpeg (H.264, yuv420p), atomically.
fn encode_mp4(dir: &Path, out: &Path, fps: f64) -> anyhow::Result<PathBuf> {
    let partial = out.with_extension("partial.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-framerate",
            &format!("{fps}"),
            "-i",
        ])
        .arg(dir.join("frame_%05d.png"))
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        ])
        .arg(&partial)
        .status();
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "ffmpeg is not installed, so no MP4 was made; the PNG frames are in {} (install ffmpeg, e.g. apt-get install ffmpeg, and run again)",
            dir.display()
        ),
        Err(e) => bail!(
            "cannot run ffmpeg: {e}; the PNG frames are in {}",
            dir.display()
        ),
        Ok(s) if !s.success() => {
            let _ = std::fs::remove_file(&partial);
            bail!(
                "ffmpeg failed ({s}); the PNG frames are in {}",
                dir.display()
            )
        }
        Ok(_) => {
            std::fs::rename(&partial, out)
                .with_context(|| format!("cannot move the video to {}", out.display()))?;
            Ok(out.to_path_buf())
        }
    }
}
