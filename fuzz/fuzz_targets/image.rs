//! PNG/JPEG frame decoding as the native format reads it: by the first byte, the RGB frame
//! or the 16-bit millimetre depth PNG of the first step.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("sample_episodes/sim_native/episode_000");
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let kind = if which % 2 == 0 { "rgb" } else { "depth" };
    let file = dir.join(kind).join("agentview/000000.png");
    let keep = std::fs::read(&file).unwrap();
    std::fs::write(&file, rest).unwrap();
    common::read_like_a_user(dir);
    std::fs::write(&file, keep).unwrap();
});
