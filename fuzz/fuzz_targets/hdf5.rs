//! An HDF5 file in the robomimic/LIBERO layout: open (demo listing, attributes), episodes
//! (actions, proprio, poses), frames (chunked, filtered image and depth stacks).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("fuzz/seeds/empty");
    let path = dir.join("demo.hdf5");
    std::fs::write(&path, data).unwrap();
    common::read_like_a_user(&path);
});
