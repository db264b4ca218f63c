//! A LeRobot episode table (parquet) of the v2.1 sample.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("sample_episodes/sim_lerobot_v21");
    std::fs::write(dir.join("data/chunk-000/episode_000000.parquet"), data).unwrap();
    common::open_like_a_user(dir);
});
