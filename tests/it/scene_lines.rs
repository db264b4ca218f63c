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
