//! A PyTorch `.pth` checkpoint (zip + pickled state dict + raw storages) loaded as Depth
//! Anything V2 weights: the zip reader, the code-free pickle with persistent ids, the tensor
//! rebuild with its bounds checks, then the config inference.
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = common::scratch("tests/golden/depth_anything_v2");
    let path = dir.join("depth_anything_v2_fuzz.pth");
    std::fs::write(&path, data).unwrap();
    let _ = spatialscope::model::depth_anything::DepthAnythingV2::load(
        &path,
        None,
        &candle_core::Device::Cpu,
    );
});
