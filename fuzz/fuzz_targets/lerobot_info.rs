//! LeRobot `meta/info.json` (features, path templates, fps) of the v2.1 sample; by the first
//! byte, `meta/episodes.jsonl` or `meta/tasks.jsonl` instead.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("sample_episodes/sim_lerobot_v21");
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let name = match which % 4 {
        0 => "meta/episodes.jsonl",
        1 => "meta/tasks.jsonl",
        _ => "meta/info.json",
    };
    let keep = std::fs::read(dir.join(name)).unwrap();
    std::fs::write(dir.join(name), rest).unwrap();
    common::open_like_a_user(dir);
    std::fs::write(dir.join(name), keep).unwrap();
});
