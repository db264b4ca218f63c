//! spatialscope: inspect robot episodes and what a spatial vision-language-action model
//! (SpatialVLA) makes of them.
//!
//! Layers (see `README.md`): `episode` (pure data), `worker` (background threads, messages),
//! `ui` + `app` (egui panels), `cli` (command line). Data flows one way, from files to the UI.

pub mod action_grid;
pub mod analysis;
pub mod cli;
pub mod colormap;
pub mod episode;
pub mod export;
pub mod export_jobs;
pub mod geometry;
pub mod inbox;
pub mod inference;
pub mod inspect;
pub mod model;
pub mod model_worker;
pub mod python_json;
pub mod render;
pub mod scene;
pub mod scene_lines;
pub mod ui;
pub mod worker;

pub use app::SpatialscopeApp;
pub mod app;
