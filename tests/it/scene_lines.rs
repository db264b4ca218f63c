//! The 3-D overlay geometry on a simulated episode: the trajectory follows the recorded
//! end-effector, the action arrow starts there, and the action-grid wedge of the step's
//! action (drawn in metres through q01/q99) contains the action's own translation.

use crate::common;

use std::sync::Arc;

use spatialscope::action_grid::ProcessorConfig;
use spatialscope::episode::{FrameCache, open_path};
use spatialscope::scene::lines::{TrajectorySource, end_effector_track, step_wedge};

#[test]
fn the_grid_wedge_holds_the_action() {
    let c = open_path(&common::native_dir()).unwrap();
    let ep = c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .unwrap();
    let (track, source) = end_effector_track(&ep).unwrap();
    assert_eq!(source, TrajectorySource::Proprio);
    assert_eq!(track.len(), ep.num_steps());
    let cfg = ProcessorConfig::load(&spatialscope::util::assets::default_grid_path()).unwrap();
    let mut checked = 0;
    #[expect(clippy::needless_range_loop, reason = "steps index several arrays")]
    for step in 0..ep.num_steps() {
        let Some(w) = step_wedge(&ep, step, &cfg) else {
            continue;
        };
        let a = ep.actions.values[step];
        let target: Vec<f32> = (0..3).map(|i| track[step][i] + a[i]).collect();
        let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for s in &w.segments {
            for p in [s.a, s.b] {
                for i in 0..3 {
                    lo[i] = lo[i].min(p[i]);
                    hi[i] = hi[i].max(p[i]);
                }
            }
        }
        // q01/q99 clipping can move a clipped action outside its bin's raw extent; only
        // unclipped actions are held to it.
        let acts: Vec<[f64; 7]> = ep.actions.values.iter().map(|a| a.map(f64::from)).collect();
        let stats = spatialscope::action_grid::ActionStatistics::from_actions(&acts).unwrap();
        let n = stats.normalize_unclipped(&a.map(f64::from));
        if n[..3].iter().any(|v| v.abs() > 1.0) {
            continue;
        }
        for i in 0..3 {
            assert!(
                target[i] >= lo[i] - 1e-4 && target[i] <= hi[i] + 1e-4,
                "step {step} axis {i}: {} outside [{}, {}]",
                target[i],
                lo[i],
                hi[i]
            );
        }
        checked += 1;
    }
    assert!(checked > 10, "{checked} unclipped steps checked");
}

/// The live prediction's and each store's chunk are drawn as worms from the end-effector,
/// each in its colour, ending where the chunk's summed translations end.
#[test]
fn predicted_and_stored_chunks_are_worms_in_their_colours() {
    use spatialscope::render::LineSet;
    use spatialscope::render::palette::{PREDICTION, STORED};
    use spatialscope::scene::step::lines_with_prediction;
    let c = open_path(&common::native_dir()).unwrap();
    let ep = c.datasets[0]
        .open_episode(0, &Arc::new(FrameCache::default()))
        .unwrap();
    let (track, _) = end_effector_track(&ep).unwrap();
    let base = Arc::new(LineSet::default());
    let a = [[0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]; 4];
    let b = [[0.0, 0.0, -0.02, 0.0, 0.0, 0.0, 0.0]; 2];
    let chunks: [(_, &[[f64; 7]]); 2] = [(STORED[1], &b), (PREDICTION, &a)];
    let lines = lines_with_prediction(&ep, 3, &base, true, &chunks);
    let rgba = |c: [u8; 3]| u32::from_le_bytes([c[0], c[1], c[2], 255]);
    for (color, chunk) in chunks {
        let segs: Vec<_> = lines
            .segments
            .iter()
            .filter(|s| s.rgba == rgba(color))
            .collect();
        assert!(!segs.is_empty(), "a worm in {color:?}");
        // The polyline starts at the end-effector and reaches the summed translations.
        let start = track[3];
        let end: Vec<f32> = (0..3)
            .map(|i| start[i] + chunk.iter().map(|a| a[i] as f32).sum::<f32>())
            .collect();
        assert!(segs.iter().any(|s| s.a == start));
        assert!(
            segs.iter()
                .any(|s| (0..3).all(|i| (s.b[i] - end[i]).abs() < 1e-6))
        );
    }
    // Not in the world frame: nothing is added.
    assert!(
        lines_with_prediction(&ep, 3, &base, false, &chunks)
            .segments
            .is_empty()
    );
}
