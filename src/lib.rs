//! spatialscope: inspect robot episodes and what a spatial vision-language-action model
//! (SpatialVLA) makes of them.
//!
//! Layers, bottom to top; each may import only the layers listed before it (checked by
//! `tests/it/layering.rs`, which scans every file):
//!
//! - [`util`]: JSON with NaN/Infinity, atomic writes, the never-write-into-a-dataset guard,
//!   bundled asset paths. Imports nothing of the crate.
//! - [`episode`], [`geometry`], [`action_grid`]: pure data and maths (file formats and the
//!   typed episode; intrinsics, back-projection, Ego3D; SpatialVLA's action grid). No GUI,
//!   GPU or ML crate.
//! - [`model`]: SpatialVLA and ZoeDepth in candle. Knows `geometry`, `action_grid`.
//! - [`render`]: wgpu point and line renderer, colour modes and maps. Knows no files,
//!   models or panels.
//! - [`scene`]: a step's cloud, lines and depth views, assembled in one place.
//! - [`pipeline`]: a step through the model, dataset-wide analyses; no threads, no GUI.
//! - [`export`]: sinks (Rerun recordings, PNG charts); never runs the model.
//! - [`worker`]: the background threads (frames, model, exports) behind one handle type.
//! - [`ui`]: the panels, each drawing from the app's state and returning intents.
//! - [`app`]: the eframe app: lifecycle, message handling, intents, layout.
//! - [`cli`]: the command line (beside `app`, never imported by it).

pub mod util;

pub mod action_grid;
pub mod episode;
pub mod geometry;

pub mod model;
pub mod render;

pub mod pipeline;
pub mod scene;

pub mod export;
pub mod worker;

pub mod app;
pub mod ui;

pub mod cli;

pub use app::SpatialscopeApp;
