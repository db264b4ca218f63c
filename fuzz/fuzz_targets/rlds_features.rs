//! TFDS `features.json` (and, by the first byte, `dataset_info.json`), beside an empty shard.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("fuzz/seeds/rlds_meta");
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let name = if which % 4 == 0 { "dataset_info.json" } else { "features.json" };
    let keep = std::fs::read(dir.join(name)).unwrap();
    std::fs::write(dir.join(name), rest).unwrap();
    common::open_like_a_user(dir);
    std::fs::write(dir.join(name), keep).unwrap();
});
