//! RLBench's `low_dim_obs.pkl`: the input replaces the demo pickle of a scratch copy of the
//! PerAct-layout sample episode, which is then opened like a user would (the code-free pickle
//! reader, the demo's typing, the cameras' K/pose/near/far and the first and last frames).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("sample_episodes/sim_rlbench/stack");
    std::fs::write(dir.join("all_variations/episodes/episode0/low_dim_obs.pkl"), data).unwrap();
    common::open_like_a_user(dir);
});
