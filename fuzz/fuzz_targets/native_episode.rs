//! The native `episode.json` (with its real PNG frames beside it).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("sample_episodes/sim_native/episode_000");
    std::fs::write(dir.join("episode.json"), data).unwrap();
    common::open_like_a_user(dir);
});
