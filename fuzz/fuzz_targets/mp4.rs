//! MP4 container and the H.264 / AV1 decoders behind it: open, then frames by timestamp
//! forwards, backwards and past the end.
#![no_main]
#[path = "common.rs"]
mod common;

use spatialscope::episode::formats::video::VideoCursor;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("fuzz/seeds/empty");
    let path = dir.join("video.mp4");
    std::fs::write(&path, data).unwrap();
    if let Ok(mut v) = VideoCursor::open(&path) {
        for t in [0.0, 0.05, 0.1, 0.0, 0.3, 1e9] {
            let _ = v.frame_at(t);
        }
    }
});
