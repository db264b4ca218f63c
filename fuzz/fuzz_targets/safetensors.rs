//! The safetensors header (and tensor table) of the bundled tiny checkpoint; by the first
//! byte, a `model.safetensors.index.json` routing tensors to it instead.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("fuzz/seeds/checkpoint");
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let index = dir.join("model.safetensors.index.json");
    if which % 4 == 0 {
        std::fs::write(&index, rest).unwrap();
    } else {
        let _ = std::fs::remove_file(&index);
        std::fs::write(dir.join("model.safetensors"), rest).unwrap();
    }
    let _ = spatialscope::model::Checkpoint::open(dir);
});
