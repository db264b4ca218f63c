//! Episodes (and predictions) as Rerun recordings: one recording per episode, written to an
//! `.rrd` file or streamed to a running viewer. Paths and timelines: [`super::rerun_paths`].
//!
//! Static data is logged once (instruction, pinholes, fixed camera poses, the trajectory);
//! per step: each camera's RGB as the dataset's own encoded bytes (JPEG/PNG are not inflated
//! to raw pixels; `raw_images` does that, as the naive baseline the benchmark compares with),
//! metric depth under its pinhole (so the viewer can back-project it), the pose of moving
//! cameras, the model's Ego3D samples, the action scalars and arrow, and with a predictor the
//! decoded chunk, tokens and attention. A sink only: predictions are handed in (computed
//! by the app, or by the command line's callback), never computed here.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use rerun::RecordingStream;

use super::rerun_paths as paths;
use crate::episode::{CameraPoses, Episode};
use crate::pipeline::{StepPrediction, attention_over_image};
use crate::scene::StepScene;

/// What to put in a recording.
pub struct ExportOptions<'a> {
    /// Log decoded pixels instead of the encoded bytes (the naive baseline).
    pub raw_images: bool,
    /// The model's Ego3D samples of the first depth camera.
    pub ego3d: bool,
    /// Predictions to log.
    pub predictions: Predictions<'a>,
    /// Only these steps (bookmarked ones); `None`: every step.
    pub steps: Option<&'a std::collections::BTreeSet<usize>>,
    /// Encode frames that are not already JPEG (PNG files, raw HDF5 pixels) as JPEG of this
    /// quality instead of PNG; `None`: lossless. JPEG sources and videos pass through.
    pub jpeg_quality: Option<u8>,
}

/// One RGB frame as the recording stores it: the dataset's own bytes where they are JPEG, or
/// PNG unless `jpeg_quality` asks otherwise; raw pixels (HDF5) encoded once, as PNG or JPEG.
/// Bytes passed through undecoded are checked first: a damaged or mislabelled file is a
/// warning of its step, not a silent hole in the recording.
fn rgb_frame(
    ep: &Episode,
    step: usize,
    ci: usize,
    jpeg_quality: Option<u8>,
) -> Result<(Vec<u8>, &'static str), String> {
    let to_jpeg = |q: u8| -> Result<(Vec<u8>, &'static str), String> {
        let img = ep.rgb(step, ci).map_err(|e| e.to_string())?;
        Ok((img.to_jpeg(q)?, "image/jpeg"))
    };
    if let Some(q) = jpeg_quality
        && ep.rgb_stored_raw()
    {
        return to_jpeg(q);
    }
    let enc = ep.encoded_rgb(step, ci).map_err(|e| e.to_string())?;
    let cam = &ep.cameras[ci];
    enc.check(cam.width_px, cam.height_px)
        .map_err(|why| format!("frame not exported: {why}"))?;
    match (enc.encoding, jpeg_quality) {
        ("png", Some(q)) => to_jpeg(q),
        ("png", None) => Ok((enc.bytes.to_vec(), "image/png")),
        _ => Ok((enc.bytes.to_vec(), "image/jpeg")),
    }
}

/// Where a recording's predictions come from.
pub enum Predictions<'a> {
    None,
    /// Asked for step by step as the export goes (the command line runs the model in this
    /// callback, so only one step's prediction is held at a time); an error becomes a
    /// warning of that step.
    PerStep(&'a dyn Fn(usize) -> anyhow::Result<StepPrediction>),
    /// Those already computed (the app's model panel), by step.
    Computed(&'a std::collections::BTreeMap<usize, std::sync::Arc<StepPrediction>>),
    /// An evaluation store's rows of this episode (dataset name, episode index in it): the
    /// stored chunk and token ids with their probabilities, no model run.
    Stored(&'a crate::pipeline::eval::LoadedStore, &'a str, usize),
}

/// What was written.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ExportReport {
    pub steps: usize,
    pub images: usize,
    pub depth_images: usize,
    pub predictions: usize,
    /// Per-step problems (a frame that failed to decode, a prediction that failed); the
    /// export goes on without them.
    pub warnings: Vec<String>,
}

fn mat3_columns(m: &nalgebra::Matrix4<f64>) -> [[f32; 3]; 3] {
    [0, 1, 2].map(|c| [0, 1, 2].map(|r| m[(r, c)] as f32))
}

fn log_pose(
    rec: &RecordingStream,
    path: &str,
    pose: &nalgebra::Matrix4<f64>,
    is_static: bool,
) -> anyhow::Result<()> {
    let t = [
        pose[(0, 3)] as f32,
        pose[(1, 3)] as f32,
        pose[(2, 3)] as f32,
    ];
    let tf = rerun::Transform3D::from_translation_mat3x3(
        t,
        rerun::datatypes::Mat3x3::from(mat3_columns(pose)),
    );
    if is_static {
        rec.log_static(path, &tf)?;
    } else {
        rec.log(path, &tf)?;
    }
    Ok(())
}

/// What never changes over the episode; returns, per camera, whether its frames are
/// referenced in a logged video asset (see [`super::rerun_video`]).
fn log_static(rec: &RecordingStream, ep: &Episode, o: &ExportOptions) -> anyhow::Result<Vec<bool>> {
    rec.log_static(paths::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())?;
    rec.log_static(
        paths::INSTRUCTION,
        &rerun::TextDocument::new(if ep.instruction.is_empty() {
            "(no instruction)"
        } else {
            &ep.instruction
        }),
    )?;
    for cam in ep.cameras.iter().filter(|c| !c.placeholder) {
        if let Some(k) = cam.intrinsics {
            let pinhole = rerun::Pinhole::new([
                [k.fx_px as f32, 0.0, 0.0],
                [0.0, k.fy_px as f32, 0.0],
                [k.cx_px as f32, k.cy_px as f32, 1.0],
            ])
            .with_resolution([k.width_px as f32, k.height_px as f32])
            .with_camera_xyz(rerun::components::ViewCoordinates::RDF);
            rec.log_static(paths::pinhole(&cam.name), &pinhole)?;
        }
        if let CameraPoses::Static(pose) = &cam.poses {
            log_pose(rec, &paths::camera(&cam.name), pose, true)?;
        }
    }
    if let Some((track, _)) = crate::scene::lines::end_effector_track(ep) {
        let pts: Vec<[f32; 3]> = track
            .into_iter()
            .filter(|p| p.iter().all(|v| v.is_finite()))
            .collect();
        if pts.len() > 1 {
            rec.log_static(paths::TRAJECTORY, &rerun::LineStrips3D::new([pts]))?;
        }
    }
    if o.raw_images {
        Ok(vec![false; ep.cameras.len()])
    } else {
        super::rerun_video::log_video_assets(rec, ep)
    }
}

/// A depth frame for the recording: 16-bit millimetres (half the bytes, `meter` 1000) when
/// every value is exactly what a millimetre PNG decodes to (`mm as f32 * 0.001`, the
/// readers' conversion: the source was millimetres), else float32 metres as decoded.
fn depth_image(d: &crate::episode::DepthImage) -> rerun::DepthImage {
    let size = [d.width_px, d.height_px];
    match millimetres_if_exact(&d.depth_m) {
        Some(mm) => rerun::DepthImage::from_data_type_and_bytes(
            bytemuck::cast_slice::<u16, u8>(&mm).to_vec(),
            size,
            rerun::ChannelDatatype::U16,
        )
        .with_meter(1000.0),
        None => rerun::DepthImage::from_data_type_and_bytes(
            bytemuck::cast_slice::<f32, u8>(&d.depth_m).to_vec(),
            size,
            rerun::ChannelDatatype::F32,
        )
        .with_meter(1.0),
    }
}

/// Shared with the 3-D view's GPU lift (`episode::millimetres_if_exact`).
pub use crate::episode::millimetres_if_exact;

fn set_time(rec: &RecordingStream, ep: &Episode, step: usize) {
    rec.set_time_sequence(paths::TIMELINE_STEP, step as i64);
    if let Some(fps) = ep.fps.filter(|f| *f > 0.0) {
        rec.set_duration_secs(paths::TIMELINE_TIME, step as f64 / fps);
    }
}

fn log_step_frames(
    rec: &RecordingStream,
    ep: &Episode,
    step: usize,
    o: &ExportOptions,
    r: &mut ExportReport,
    videos: &[bool],
) -> anyhow::Result<()> {
    for (ci, cam) in ep.cameras.iter().enumerate() {
        if cam.placeholder {
            continue;
        }
        if let CameraPoses::PerStep(_) = &cam.poses
            && let Some(pose) = cam.poses.world_from_camera(step)
        {
            log_pose(rec, &paths::camera(&cam.name), pose, false)?;
        }
        if videos.get(ci).copied().unwrap_or(false) {
            match super::rerun_video::log_video_frame(rec, ep, step, ci)? {
                Ok(()) => r.images += 1,
                Err(why) => r
                    .warnings
                    .push(format!("step {step} camera {}: {why}", cam.name)),
            }
        } else if o.raw_images {
            match ep.rgb(step, ci) {
                Ok(img) => {
                    rec.log(
                        paths::rgb(&cam.name),
                        &rerun::Image::from_rgb24(
                            img.pixels.clone(),
                            [img.width_px, img.height_px],
                        ),
                    )?;
                    r.images += 1;
                }
                Err(e) => r
                    .warnings
                    .push(format!("step {step} camera {}: {e}", cam.name)),
            }
        } else {
            match rgb_frame(ep, step, ci, o.jpeg_quality) {
                Ok((bytes, media)) => {
                    rec.log(
                        paths::rgb(&cam.name),
                        &rerun::EncodedImage::new(bytes).with_media_type(media),
                    )?;
                    r.images += 1;
                }
                Err(why) => r
                    .warnings
                    .push(format!("step {step} camera {}: {why}", cam.name)),
            }
        }
        if cam.has_depth {
            match ep.depth(step, ci) {
                Ok(Some(d)) => {
                    rec.log(paths::depth(&cam.name), &depth_image(&d))?;
                    r.depth_images += 1;
                }
                Ok(None) => {}
                Err(e) => r
                    .warnings
                    .push(format!("step {step} camera {} depth: {e}", cam.name)),
            }
        }
    }
    if o.ego3d
        && let Some((ci, cloud)) = StepScene::ego3d_samples(ep, step)
    {
        let pos: Vec<[f32; 3]> = cloud.points.iter().map(|p| p.position).collect();
        let col: Vec<rerun::Color> = cloud
            .points
            .iter()
            .map(|p| {
                let [r, g, b, _] = p.rgb.to_le_bytes();
                rerun::Color::from_rgb(r, g, b)
            })
            .collect();
        rec.log(
            paths::ego3d(&ep.cameras[ci].name),
            &rerun::Points3D::new(pos)
                .with_colors(col)
                .with_radii([0.004f32]),
        )?;
    }
    Ok(())
}

fn log_actions(
    rec: &RecordingStream,
    ep: &Episode,
    step: usize,
    track: Option<&[[f32; 3]]>,
) -> anyhow::Result<()> {
    if let Some(a) = ep.actions.values.get(step) {
        for (d, v) in a.iter().enumerate() {
            rec.log(paths::action(d), &rerun::Scalars::single(f64::from(*v)))?;
        }
        if let Some(p) = track
            .and_then(|t| t.get(step))
            .filter(|p| p.iter().all(|v| v.is_finite()))
        {
            rec.log(
                paths::ACTION_ARROW,
                &rerun::Arrows3D::from_vectors([[a[0], a[1], a[2]]]).with_origins([*p]),
            )?;
        }
    }
    Ok(())
}

/// Writes one episode into `rec`. `progress(done, total)` after each step; `cancel` is
/// polled between steps.
pub fn export_episode(
    rec: &RecordingStream,
    ep: &Episode,
    o: &ExportOptions,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> anyhow::Result<ExportReport> {
    let mut report = ExportReport::default();
    let videos = log_static(rec, ep, o)?;
    let track = crate::scene::lines::end_effector_track(ep).map(|(t, _)| t);
    let n = ep.num_steps();
    for step in 0..n {
        if cancel.load(Ordering::Relaxed) {
            bail!("cancelled after {step} of {n} steps");
        }
        if o.steps.is_some_and(|s| !s.contains(&step)) {
            continue;
        }
        set_time(rec, ep, step);
        log_step_frames(rec, ep, step, o, &mut report, &videos)?;
        log_actions(rec, ep, step, track.as_deref())?;
        let predicted = match &o.predictions {
            Predictions::None => None,
            Predictions::PerStep(run) => match run(step) {
                Ok(sp) => Some(std::borrow::Cow::Owned(sp)),
                Err(e) => {
                    report
                        .warnings
                        .push(format!("step {step} prediction: {e:#}"));
                    None
                }
            },
            Predictions::Computed(map) => map
                .get(&step)
                .map(|p| std::borrow::Cow::Borrowed(p.as_ref())),
            Predictions::Stored(store, dataset, episode) => {
                if let Some(r) = store.row_at(dataset, *episode, step) {
                    log_stored(rec, r, step, track.as_deref())?;
                    report.predictions += 1;
                }
                None
            }
        };
        if let Some(sp) = predicted {
            log_prediction(rec, &sp.prediction, step, track.as_deref())?;
            report.predictions += 1;
        }
        report.steps += 1;
        progress(step + 1, n);
    }
    Ok(report)
}

/// A predicted chunk: its first action as scalars, the chunk as arrows from the
/// end-effector.
fn log_chunk(
    rec: &RecordingStream,
    chunk: &[[f64; 7]],
    step: usize,
    track: Option<&[[f32; 3]]>,
) -> anyhow::Result<()> {
    if let Some(first) = chunk.first() {
        for (d, v) in first.iter().enumerate() {
            rec.log(paths::predicted(d), &rerun::Scalars::single(*v))?;
        }
    }
    if let Some(start) = track.and_then(|t| t.get(step))
        && !chunk.is_empty()
    {
        let mut origin = *start;
        let (mut origins, mut vectors) = (Vec::new(), Vec::new());
        for a in chunk {
            let v = [a[0] as f32, a[1] as f32, a[2] as f32];
            origins.push(origin);
            vectors.push(v);
            origin = [origin[0] + v[0], origin[1] + v[1], origin[2] + v[2]];
        }
        rec.log(
            paths::PREDICTED_CHUNK,
            &rerun::Arrows3D::from_vectors(vectors).with_origins(origins),
        )?;
    }
    Ok(())
}

/// A stored prediction (an evaluation store's row): chunk, token ids with probabilities
/// and flags.
fn log_stored(
    rec: &RecordingStream,
    r: &crate::pipeline::eval::EvalRow,
    step: usize,
    track: Option<&[[f32; 3]]>,
) -> anyhow::Result<()> {
    log_chunk(rec, &r.predicted_actions(), step, track)?;
    let mut text = r
        .token_ids
        .iter()
        .zip(&r.token_probabilities)
        .map(|(id, p)| format!("{id} ({p:.2})"))
        .collect::<Vec<_>>()
        .join(" ");
    for (flag, what) in [
        (r.malformed, "malformed"),
        (r.low_confidence, "low confidence"),
    ] {
        if flag {
            text.push_str(&format!(" | {what}"));
        }
    }
    rec.log(paths::TOKENS, &rerun::TextLog::new(text))?;
    Ok(())
}

fn log_prediction(
    rec: &RecordingStream,
    p: &crate::model::Prediction,
    step: usize,
    track: Option<&[[f32; 3]]>,
) -> anyhow::Result<()> {
    if let Some(chunk) = &p.chunk.actions {
        log_chunk(rec, chunk, step, track)?;
    }
    let text = p
        .tokens
        .iter()
        .take(3 * chunk_len(p) + 1)
        .map(|t| format!("{} ({:.2})", t.token, t.probability))
        .collect::<Vec<_>>()
        .join(" ");
    rec.log(
        paths::TOKENS,
        &rerun::TextLog::new(format!("{text} | {}", p.issues.join("; "))),
    )?;
    if let Some(att) = attention_over_image(p, 0, Default::default()) {
        let side = p.patches_per_side as u32;
        rec.log(
            paths::ATTENTION,
            &rerun::Image::from_elements(&att, [side, side], rerun::ColorModel::L),
        )?;
    }
    if let Some(d) = &p.estimated_depth {
        let side = d.size as u32;
        rec.log(
            paths::ESTIMATED_DEPTH,
            &rerun::DepthImage::from_data_type_and_bytes(
                bytemuck::cast_slice::<f32, u8>(&d.depth_m).to_vec(),
                [side, side],
                rerun::ChannelDatatype::F32,
            )
            .with_meter(1.0),
        )?;
    }
    Ok(())
}

fn chunk_len(p: &crate::model::Prediction) -> usize {
    p.chunk.action_ids.len().max(1)
}

/// Exports to `path` (an `.rrd` file) atomically: written as `path.partial`, renamed when
/// complete, removed on failure, so no half-written file ever carries the final name.
pub fn export_to_file(
    path: &Path,
    ep: &Episode,
    o: &ExportOptions,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
) -> anyhow::Result<ExportReport> {
    let file_name = path.file_name().context("the output needs a file name")?;
    let mut partial_name = file_name.to_os_string();
    partial_name.push(".partial");
    let partial = path.with_file_name(partial_name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Probe writability up front for a clear message (the sink itself writes on a thread).
    std::fs::write(&partial, b"").with_context(|| format!("cannot write {}", partial.display()))?;
    let result = (|| {
        let rec = rerun::RecordingStreamBuilder::new("spatialscope")
            .recording_id(format!("{}-{}", ep.name, ep.uid))
            .save(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let report = export_episode(&rec, ep, o, progress, cancel)?;
        rec.flush_blocking()
            .map_err(|e| anyhow::anyhow!("writing {} failed: {e}", partial.display()))?;
        drop(rec);
        Ok(report)
    })();
    match result {
        Ok(report) => {
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot move the recording to {}", path.display()))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Streams to a running viewer (`rerun+http://HOST:PORT/proxy`). Fails clearly when none
/// answers within `timeout`.
pub fn export_to_viewer(
    url: &str,
    ep: &Episode,
    o: &ExportOptions,
    progress: &mut dyn FnMut(usize, usize),
    cancel: &AtomicBool,
    timeout: std::time::Duration,
) -> anyhow::Result<ExportReport> {
    // The gRPC sink retries quietly when nobody listens (and would block on drop), so check
    // that something accepts connections first, for a prompt and clear error.
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("`{url}` is not a rerun+http://HOST:PORT/proxy address"))?;
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()
        .into_iter()
        .flatten()
        .any(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
        });
    if !reachable {
        bail!("no Rerun viewer is listening at {url}; start one with `rerun` (or give --rrd FILE)");
    }
    let rec = rerun::RecordingStreamBuilder::new("spatialscope")
        .recording_id(format!("{}-{}", ep.name, ep.uid))
        .connect_grpc_opts(url.to_owned())
        .with_context(|| format!("cannot connect to a Rerun viewer at {url}"))?;
    let report = export_episode(&rec, ep, o, progress, cancel);
    let flushed = rec.flush_with_timeout(timeout);
    if flushed.is_err() {
        // Dropping a stream whose viewer went away can block; let it go instead.
        std::mem::forget(rec);
    }
    let report = report?;
    flushed
        .map_err(|e| anyhow::anyhow!("the Rerun viewer at {url} did not take the data ({e})"))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::millimetres_if_exact;

    #[test]
    fn only_exact_millimetres_are_stored_as_u16() {
        let mm: Vec<f32> = [0u16, 1, 523, 4095, 65535]
            .iter()
            .map(|&v| f32::from(v) * 0.001)
            .collect();
        assert_eq!(millimetres_if_exact(&mm).unwrap(), [0, 1, 523, 4095, 65535]);
        // Sub-millimetre, negative, too far or not finite: float32 stays.
        for bad in [0.5234f32, -0.001, 65.536, f32::NAN, f32::INFINITY] {
            assert!(millimetres_if_exact(&[0.5, bad]).is_none(), "{bad}");
        }
    }
}
