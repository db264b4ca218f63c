//! PNG/JPEG frame decoding through the entry points every reader uses: the first byte picks
//! the RGB decoder (any format) or the 16-bit millimetre depth PNG decoder; the rest is the
//! file. Called directly, not through a dataset, so each run costs one decode.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::init();
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    let _ = spatialscope::episode::formats::fuzz_decode_frame(rest, which % 2 == 1);
});
