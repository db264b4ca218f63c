//! All integration tests in one binary (one link of the app instead of one per file:
//! a fraction of the build time and disk). Each module is one former test file; run a
//! subset with `cargo test --test it <module>::` or any name filter.

mod common;

mod action_grid_errors;
mod action_grid_golden;
mod bad_datasets;
mod bad_geometry;
mod bad_hdf5;
mod bridge_rlds;
mod cli;
mod cli_depth;
mod cli_grid;
mod cli_predict;
mod cli_render;
mod corrupt_inputs;
mod cross_format;
mod depth_anything;
mod depth_expert;
mod doctor;
mod eval_store;
mod feature_view;
mod fuzz_regressions;
mod geometry_golden;
mod gpu_lift;
mod hdf5_reader;
mod hostile_links;
mod hostile_sizes;
mod layering;
mod lerobot_depth_video;
mod look_through;
mod model_loading;
mod model_real_size;
mod model_tiny;
mod native;
mod pillow_resize;
mod predict_batch;
mod probe;
mod render3d;
mod rerun_export;
mod rlbench;
mod scene_lines;
mod spa;
mod ui_app;
mod ui_bookmarks;
mod ui_dock;
mod ui_doctor;
mod ui_episode_list;
mod ui_experts;
mod ui_exports;
mod ui_failures;
mod ui_features;
mod ui_model;
mod video_frames;
mod worker;
