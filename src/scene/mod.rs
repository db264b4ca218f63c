//! What the 3-D view shows at one step, assembled in one place for every consumer: the app's
//! frame worker, `spatialscope render`, the Rerun export and the 3-D view's "Save PNG".
//!
//! - [`step`]: [`StepScene::build`], the cloud and the line overlay of a step under the
//!   view's options (hidden cameras, the model's view, bf16 K, the action grid's wedge).
//! - [`cloud`]: back-projection and fusion of the cameras' depth, the Ego3D samples.
//! - [`lift`]: the same cameras handed to the GPU to lift (images as decoded, no points).
//! - [`lines`]: frustums, axes, ground grid, trajectory, action arrow, grid wedge, the
//!   predicted chunk's worm and the model view's patch outlines.
//! - [`depth_view`]: the estimated vs sensor depth of a prediction, as images and clouds.
//!
//! Joins the pure layers (`episode`, `geometry`, `action_grid`) and the model's output types
//! with `render`'s GPU-ready types; it never runs the model and knows no panels.

pub mod cloud;
pub mod depth_view;
pub mod expert_view;
pub mod lift;
pub mod lines;
pub mod step;

pub use depth_view::DepthView;
pub use step::{CloudDepth, CloudLift, SceneOptions, StepScene};
