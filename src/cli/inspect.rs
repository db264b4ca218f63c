//! `spatialscope inspect`: a report of what a path holds (episodes, steps, cameras and
//! resolutions, depth, intrinsics source, per-dimension action statistics), as text or JSON.
//!
//! Opening each episode reads its metadata and probes a few frames (placeholder check); it
//! never decodes every frame. Episodes that fail to open appear with their error and the
//! report goes on.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::episode::{self, DimStats, Episode, FrameCache};

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub datasets: Vec<DatasetReport>,
    /// Datasets below the path that could not be opened.
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DatasetReport {
    pub name: String,
    pub format: episode::DatasetFormat,
    pub root: String,
    pub episodes: Vec<EpisodeReport>,
    pub problems: Vec<String>,
    /// The action statistics the dataset ships with (LeRobot `meta/stats.json`).
    pub declared_stats: Option<episode::DeclaredStats>,
    /// HDF5: which way up the images are shown, and why.
    pub orientation: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EpisodeReport {
    pub name: String,
    pub instruction: Option<String>,
    pub steps: Option<usize>,
    pub fps: Option<f64>,
    pub cameras: Vec<CameraReport>,
    pub depth_present: bool,
    pub action_convention: Option<String>,
    pub action_stats: Vec<DimReport>,
    pub notes: Vec<String>,
    /// Set when the episode could not be opened.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CameraReport {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub depth: bool,
    pub placeholder: bool,
    /// "file", "dataset_table" or "none".
    pub intrinsics_source: &'static str,
    /// The table entry used, for `dataset_table`.
    pub intrinsics_key: Option<String>,
    /// [fx, fy, cx, cy] in pixels at this resolution.
    pub intrinsics: Option<[f64; 4]>,
    pub extrinsics: &'static str,
}

#[derive(Debug, Serialize)]
pub struct DimReport {
    pub name: String,
    #[serde(flatten)]
    pub stats: Option<DimStats>,
}

fn episode_report(ep: &Episode) -> EpisodeReport {
    let labels = ep.actions.convention.dimension_labels();
    EpisodeReport {
        name: ep.name.clone(),
        instruction: Some(ep.instruction.clone()),
        steps: Some(ep.num_steps()),
        fps: ep.fps,
        cameras: ep
            .cameras
            .iter()
            .map(|c| CameraReport {
                name: c.name.clone(),
                width: c.width_px,
                height: c.height_px,
                depth: c.has_depth,
                placeholder: c.placeholder,
                intrinsics_source: c.intrinsics_source.kind(),
                intrinsics_key: match &c.intrinsics_source {
                    episode::CalibrationOrigin::DatasetTable { key } => Some(key.clone()),
                    _ => None,
                },
                intrinsics: c.intrinsics.map(|k| [k.fx_px, k.fy_px, k.cx_px, k.cy_px]),
                extrinsics: match c.poses {
                    episode::CameraPoses::Unknown => "none",
                    episode::CameraPoses::Static(_) => "static",
                    episode::CameraPoses::PerStep(_) => "per_step",
                },
            })
            .collect(),
        depth_present: ep.cameras.iter().any(|c| c.has_depth),
        action_convention: Some(ep.actions.convention.describe()),
        action_stats: ep
            .actions
            .stats()
            .into_iter()
            .zip(labels)
            .map(|(stats, name)| DimReport { name, stats })
            .collect(),
        notes: ep.notes.clone(),
        error: None,
    }
}

/// Builds the report for `path`. Fails only when the path itself cannot be opened.
pub fn inspect(path: &Path) -> episode::Result<InspectReport> {
    let collection = episode::open_path(path)?;
    // Only a few probe frames are decoded per episode; a small cache is plenty.
    let cache = Arc::new(FrameCache::new(64 << 20));
    let datasets = collection
        .datasets
        .iter()
        .map(|d| DatasetReport {
            name: d.name.clone(),
            format: d.format,
            root: d.root.display().to_string(),
            episodes: (0..d.len())
                .map(|i| match d.open_episode(i, &cache) {
                    Ok(ep) => episode_report(&ep),
                    Err(e) => {
                        let s = d.quick_summary(i);
                        EpisodeReport {
                            name: s.name,
                            instruction: s.instruction,
                            steps: s.num_steps,
                            fps: None,
                            cameras: Vec::new(),
                            depth_present: false,
                            action_convention: None,
                            action_stats: Vec::new(),
                            notes: Vec::new(),
                            error: Some(e.to_string()),
                        }
                    }
                })
                .collect(),
            problems: d.problems.iter().map(ToString::to_string).collect(),
            declared_stats: d.declared_stats().cloned(),
            orientation: d.orientation_note().map(str::to_owned),
        })
        .collect();
    Ok(InspectReport {
        path: path.display().to_string(),
        datasets,
        problems: collection
            .problems
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

impl InspectReport {
    /// Human-readable text.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.path);
        for p in &self.problems {
            let _ = writeln!(s, "  ! {p}");
        }
        for d in &self.datasets {
            let _ = writeln!(
                s,
                "\ndataset {} ({}, {} episodes) at {}",
                d.name,
                d.format_label(),
                d.episodes.len(),
                d.root
            );
            for p in &d.problems {
                let _ = writeln!(s, "  ! {p}");
            }
            if let Some(o) = &d.orientation {
                let _ = writeln!(s, "  images: {o}");
            }
            if let Some(st) = &d.declared_stats {
                let _ = writeln!(
                    s,
                    "  dataset statistics: {} ({} dimensions{})",
                    st.source.display(),
                    st.mean.len(),
                    if st.q01.is_some() {
                        ", with q01/q99"
                    } else {
                        ""
                    }
                );
            }
            for e in &d.episodes {
                let _ = writeln!(
                    s,
                    "  episode {}: {} steps{}, \"{}\"",
                    e.name,
                    e.steps.map_or("?".to_owned(), |n| n.to_string()),
                    e.fps.map_or(String::new(), |f| format!(" @ {f} fps")),
                    e.instruction.as_deref().unwrap_or("?")
                );
                if let Some(err) = &e.error {
                    let _ = writeln!(s, "    ! {err}");
                    continue;
                }
                for c in &e.cameras {
                    let _ = writeln!(
                        s,
                        "    camera {:<22} {:>4}x{:<4} depth: {:<3} intrinsics: {}{}{} extrinsics: {}",
                        c.name,
                        c.width,
                        c.height,
                        if c.depth { "yes" } else { "no" },
                        c.intrinsics_source,
                        c.intrinsics_key
                            .as_ref()
                            .map_or(String::new(), |k| format!(" (nominal: {k})")),
                        if c.placeholder {
                            " [all-black placeholder]"
                        } else {
                            ""
                        },
                        c.extrinsics
                    );
                }
                if let Some(conv) = &e.action_convention {
                    let _ = writeln!(s, "    actions: {conv}");
                }
                for d in &e.action_stats {
                    if let Some(st) = d.stats {
                        let _ = writeln!(
                            s,
                            "      {:<22} min {:>+11.5} max {:>+11.5} mean {:>+11.5} std {:>10.5}",
                            d.name, st.min, st.max, st.mean, st.std
                        );
                    }
                }
                for n in &e.notes {
                    let _ = writeln!(s, "    note: {n}");
                }
            }
        }
        s
    }
}

impl DatasetReport {
    fn format_label(&self) -> &'static str {
        self.format.label()
    }
}
