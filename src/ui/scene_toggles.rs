//! The 3-D view's scene toggles: the cameras shown, "as the model sees it", and where depth
//! is lifted (GPU or CPU, and how many steps accumulate). Each changes the scene the worker
//! builds, so each returns whether it changed.

use super::view3d::View3dState;
use crate::scene::CloudLift;

/// Point size for the model's 1,024 sparse Ego3D samples (the full cloud's 3 px would
/// leave them hard to see).
pub const MODEL_VIEW_POINT_PX: f32 = 8.0;

/// Checkboxes for the cameras with depth; true when the selection changed.
pub fn camera_toggles_ui(
    ui: &mut egui::Ui,
    state: &mut View3dState,
    cameras: &[(usize, &str)],
) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        if ui
            .checkbox(&mut state.model_view, "as the model sees it")
            .on_hover_text("The 32 x 32 Ego3D samples (2 x 2 per 14-px patch) SpatialVLA lifts from this depth at 224 px, with K scaled as the reference does; first shown camera.")
            .changed()
        {
            changed = true;
            if state.model_view && state.point_size_px < MODEL_VIEW_POINT_PX {
                state.point_size_before_model_view = Some(state.point_size_px);
                state.point_size_px = MODEL_VIEW_POINT_PX;
            } else if !state.model_view {
                // Back to the size it had, unless the user chose another one meanwhile.
                if let Some(before) = state.point_size_before_model_view.take()
                    && state.point_size_px == MODEL_VIEW_POINT_PX
                {
                    state.point_size_px = before;
                }
            }
        }
        if state.model_view
            && ui
                .checkbox(&mut state.model_view_bf16, "bf16 K")
                .on_hover_text("K rounded to bfloat16 before inversion, as predict_action does (spec 5.3)")
                .changed()
        {
            changed = true;
        }
        ui.weak("cameras:");
        for &(i, name) in cameras {
            let mut shown = !state.hidden_cameras.contains(&i);
            if ui.checkbox(&mut shown, name).changed() {
                changed = true;
                if shown {
                    state.hidden_cameras.retain(|&c| c != i);
                } else {
                    state.hidden_cameras.push(i);
                }
            }
        }
        if !state.model_view {
            changed |= lift_ui(ui, state);
        }
    });
    changed
}

/// "lift on GPU" and "accumulate N steps"; true when either changed.
fn lift_ui(ui: &mut egui::Ui, state: &mut View3dState) -> bool {
    let mut gpu = state.lift == CloudLift::Gpu;
    let mut changed = ui
        .checkbox(&mut gpu, "lift on GPU")
        .on_hover_text(
            "depth images go to the GPU as decoded and are lifted there by a compute pass \
             (off: the CPU lifts every point and uploads 32 bytes per point)",
        )
        .changed();
    state.lift = if gpu { CloudLift::Gpu } else { CloudLift::Cpu };
    if gpu {
        let steps = egui::DragValue::new(&mut state.window_steps)
            .range(1..=64)
            .prefix("accumulate steps: ");
        changed |= ui
            .add(steps)
            .on_hover_text(
                "this step and the ones before it, each in its cameras' pose at that step \
                 (needs poses): a moving wrist camera maps the scene",
            )
            .changed();
    }
    changed
}
