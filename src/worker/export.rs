//! Long exports started from the app, each on its own thread so neither the UI nor the frame
//! worker waits: an episode as a Rerun recording (file or live viewer) and a PNG of the 3-D
//! view rendered offscreen at a chosen size. Progress and results come back as
//! [`WorkerMessage`]s; a shared flag cancels an export between steps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;

use super::{UserError, Wake, WorkerMessage};
use crate::episode::Episode;
use crate::pipeline::StepPrediction;
use crate::render::{LineSet, PointCloud, PointUniforms};

/// Where a recording goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordingTarget {
    File(PathBuf),
    /// `rerun+http://HOST:PORT/proxy`.
    Viewer(String),
}

/// A still of the 3-D view.
#[derive(Clone)]
pub struct PngRequest {
    pub cloud: Arc<PointCloud>,
    pub lines: Arc<LineSet>,
    pub attention: Option<Arc<Vec<f32>>>,
    pub uniforms: PointUniforms,
    pub size: [u32; 2],
    pub path: PathBuf,
}

impl std::fmt::Debug for PngRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PngRequest")
            .field("size", &self.size)
            .field("path", &self.path)
            .finish()
    }
}

fn send(tx: &Sender<WorkerMessage>, wake: &Wake, m: WorkerMessage) {
    super::send_and_wake(tx, wake, m);
}

/// Exports `ep` (with the predictions computed so far) on a new thread.
pub fn spawn_recording(
    ep: Arc<Episode>,
    predictions: BTreeMap<usize, Arc<StepPrediction>>,
    target: RecordingTarget,
    jpeg_quality: Option<u8>,
    cancel: Arc<AtomicBool>,
    tx: Sender<WorkerMessage>,
    wake: Wake,
) {
    let thread = std::thread::Builder::new()
        .name("rerun-export".into())
        .spawn(move || {
            let result = run_recording(
                &ep,
                &predictions,
                &target,
                jpeg_quality,
                &cancel,
                &tx,
                &wake,
            );
            let message = match result {
                Ok(text) => WorkerMessage::Exported(text),
                Err(e) => WorkerMessage::Error(UserError {
                    file: match &target {
                        RecordingTarget::File(p) => Some(p.clone()),
                        RecordingTarget::Viewer(_) => None,
                    },
                    message: format!("Rerun export of {}: {e:#}", ep.name),
                }),
            };
            send(&tx, &wake, message);
            send(&tx, &wake, WorkerMessage::Idle);
        });
    if let Err(e) = thread {
        log::error!("cannot start the export thread: {e}");
    }
}

#[cfg(feature = "export")]
fn run_recording(
    ep: &Episode,
    predictions: &BTreeMap<usize, Arc<StepPrediction>>,
    target: &RecordingTarget,
    jpeg_quality: Option<u8>,
    cancel: &AtomicBool,
    tx: &Sender<WorkerMessage>,
    wake: &Wake,
) -> anyhow::Result<String> {
    use crate::export::rerun_export::{
        ExportOptions, Predictions, export_to_file, export_to_viewer,
    };
    let opts = ExportOptions {
        raw_images: false,
        ego3d: true,
        predictions: if predictions.is_empty() {
            Predictions::None
        } else {
            Predictions::Computed(predictions)
        },
        steps: None,
        jpeg_quality,
    };
    let task = format!("exporting {} to Rerun", ep.name);
    let mut progress = |done: usize, total: usize| {
        send(
            tx,
            wake,
            WorkerMessage::Progress {
                task: task.clone(),
                done,
                total,
            },
        );
    };
    let report = match target {
        RecordingTarget::File(path) => export_to_file(path, ep, &opts, &mut progress, cancel)?,
        RecordingTarget::Viewer(url) => export_to_viewer(
            url,
            ep,
            &opts,
            &mut progress,
            cancel,
            std::time::Duration::from_secs(10),
        )?,
    };
    let where_ = match target {
        RecordingTarget::File(p) => p.display().to_string(),
        RecordingTarget::Viewer(u) => u.clone(),
    };
    Ok(format!(
        "exported {} to {where_}: {} steps, {} images, {} depth maps, {} predictions{}",
        ep.name,
        report.steps,
        report.images,
        report.depth_images,
        report.predictions,
        if report.warnings.is_empty() {
            String::new()
        } else {
            format!(", {} warnings", report.warnings.len())
        }
    ))
}

#[cfg(not(feature = "export"))]
fn run_recording(
    _: &Episode,
    _: &BTreeMap<usize, Arc<StepPrediction>>,
    _: &RecordingTarget,
    _: Option<u8>,
    _: &AtomicBool,
    _: &Sender<WorkerMessage>,
    _: &Wake,
) -> anyhow::Result<String> {
    anyhow::bail!("this build has no Rerun export (the `export` feature is off)")
}

/// Renders the view offscreen and writes the PNG, on a new thread.
pub fn spawn_png(req: PngRequest, tx: Sender<WorkerMessage>, wake: Wake) {
    let thread = std::thread::Builder::new()
        .name("png-export".into())
        .spawn(move || {
            let result = (|| -> anyhow::Result<()> {
                let mut gpu =
                    crate::render::offscreen::Offscreen::new().map_err(anyhow::Error::msg)?;
                let img = gpu
                    .render(
                        &req.cloud,
                        &req.lines,
                        req.attention.as_deref().map(Vec::as_slice),
                        &req.uniforms,
                        req.size,
                    )
                    .map_err(anyhow::Error::msg)?;
                crate::util::fs::write_png_atomically(&img, &req.path)
            })();
            let message = match result {
                Ok(()) => WorkerMessage::Exported(format!(
                    "saved the 3-D view ({}x{}) to {}",
                    req.size[0],
                    req.size[1],
                    req.path.display()
                )),
                Err(e) => WorkerMessage::Error(UserError {
                    file: Some(req.path.clone()),
                    message: format!("saving the 3-D view: {e:#}"),
                }),
            };
            send(&tx, &wake, message);
        });
    if let Err(e) = thread {
        log::error!("cannot start the PNG thread: {e}");
    }
}

/// The bookmarked steps as Rerun recordings: one `bookmarks_rrd/<episode>.rrd` per
/// bookmarked episode of the open datasets, holding only its bookmarked steps (frames,
/// actions, cameras), each step at its own index on the `step` timeline. Returns how many
/// recordings were written; bookmarks of datasets that are not open are skipped.
#[cfg(feature = "export")]
pub fn bookmark_recordings(
    collection: &crate::episode::Collection,
    cache: &Arc<crate::episode::FrameCache>,
    list: &[crate::util::bookmarks::Bookmark],
    dir: &std::path::Path,
) -> anyhow::Result<usize> {
    use std::collections::BTreeSet;

    use crate::export::rerun_export::{ExportOptions, Predictions, export_to_file};
    let mut by_episode: BTreeMap<(&str, usize), BTreeSet<usize>> = BTreeMap::new();
    for b in list {
        by_episode
            .entry((b.dataset.as_str(), b.episode_index))
            .or_default()
            .insert(b.step);
    }
    let mut written = 0;
    for ((dataset, episode), steps) in by_episode {
        let Some(d) = collection.datasets.iter().find(|d| d.name == dataset) else {
            continue;
        };
        if episode >= d.len() {
            continue;
        }
        let ep = d.open_episode(episode, cache)?;
        let steps: BTreeSet<usize> = steps.into_iter().filter(|&s| s < ep.num_steps()).collect();
        if steps.is_empty() {
            continue;
        }
        let opts = ExportOptions {
            raw_images: false,
            ego3d: true,
            predictions: Predictions::None,
            steps: Some(&steps),
            jpeg_quality: None,
        };
        let file = dir.join("bookmarks_rrd").join(format!(
            "{}.rrd",
            crate::export::rerun_paths::segment(&format!("{dataset}_{}", ep.name))
        ));
        export_to_file(&file, &ep, &opts, &mut |_, _| {}, &AtomicBool::new(false))?;
        written += 1;
    }
    Ok(written)
}

/// Without the `export` feature no recording is written.
#[cfg(not(feature = "export"))]
pub fn bookmark_recordings(
    _collection: &crate::episode::Collection,
    _cache: &Arc<crate::episode::FrameCache>,
    _list: &[crate::util::bookmarks::Bookmark],
    _dir: &std::path::Path,
) -> anyhow::Result<usize> {
    Ok(0)
}
