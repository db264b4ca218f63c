//! TFRecord framing (lengths, masked CRC32C) and `tf.train.Example` records, as a Bridge
//! RLDS shard beside the real `dataset_info.json` and `features.json`.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("sample_episodes/bridge_rlds/bridge_dataset/1.0.0");
    std::fs::write(dir.join("bridge_dataset-train.tfrecord-00000-of-00001"), data).unwrap();
    common::read_like_a_user(dir);
});
