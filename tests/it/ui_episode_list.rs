//! The episode list on the real Bridge summaries: search by instruction, collapse a dataset,
//! select an episode, and a failed episode shown with its reason.

use crate::common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use spatialscope::episode;
use spatialscope::ui::Intent;
use spatialscope::ui::episode_list::{EpisodeListState, episode_list_ui};
use spatialscope::worker::{DatasetInfo, UserError};

struct State {
    datasets: Vec<DatasetInfo>,
    list: EpisodeListState,
    intents: Vec<Intent>,
}

fn bridge_info() -> DatasetInfo {
    let c = episode::open_path(&common::bridge_dir()).expect("open");
    let d = &c.datasets[0];
    DatasetInfo {
        summaries: (0..d.len())
            .map(|i| d.summarize(i).expect("summary"))
            .collect(),
        ..DatasetInfo::of(d)
    }
}

fn harness(datasets: Vec<DatasetInfo>) -> Harness<'static, State> {
    Harness::builder()
        .with_size([320.0, 2400.0])
        .build_ui_state(
            |ui, s: &mut State| {
                if let Some(i) = episode_list_ui(ui, &s.datasets, None, &mut s.list, None) {
                    s.intents.push(i);
                }
            },
            State {
                datasets,
                list: EpisodeListState::default(),
                intents: Vec::new(),
            },
        )
}

#[test]
fn search_filters_by_instruction_and_clicking_selects() {
    let info = bridge_info();
    let carrots = info
        .summaries
        .iter()
        .filter(|s| s.instruction.as_deref() == Some("put carrot on plate"))
        .count();
    assert!(carrots > 0 && carrots < 25);
    let mut h = harness(vec![info]);
    h.run();
    assert_eq!(h.query_all_by_label_contains("10 steps").count(), 25);
    h.state_mut().list.filter = "CARROT".to_owned();
    h.run();
    assert_eq!(h.query_all_by_label_contains("10 steps").count(), carrots);
    assert_eq!(
        h.query_all_by_label_contains("put carrot on plate").count(),
        carrots
    );
    h.query_all_by_label_contains("put carrot on plate")
        .next()
        .expect("row")
        .click();
    h.run();
    assert!(matches!(
        h.state().intents[..],
        [Intent::SelectEpisode { dataset: 0, .. }]
    ));
}

#[test]
fn a_dataset_collapses_and_failures_show_their_reason() {
    let mut info = bridge_info();
    info.failures[4] = Some(UserError {
        file: None,
        message: "record 4: data CRC mismatch".to_owned(),
    });
    let mut h = harness(vec![info]);
    h.run();
    assert_eq!(h.query_all_by_label_contains("cannot open").count(), 1);
    h.get_by_label_contains("bridge_dataset 1.0.0").click();
    h.run();
    assert_eq!(
        h.query_all_by_label_contains("10 steps").count(),
        0,
        "collapsed"
    );
    h.get_by_label_contains("bridge_dataset 1.0.0").click();
    h.run();
    assert_eq!(
        h.query_all_by_label_contains("10 steps").count(),
        25,
        "open again"
    );
}
