//! The checkpoint's `config.json` and `processor_config.json` (intrinsics, statistics, grid).
#![no_main]
#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::init();
    let (which, rest) = data.split_first().unwrap_or((&0, &[]));
    if which % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            let _ = spatialscope::model::SpatialVlaConfig::from_json_str(
                text,
                std::path::Path::new("config.json"),
            );
        }
    } else {
        let dir = common::scratch("fuzz/seeds/checkpoint");
        std::fs::write(dir.join("processor_config.json"), rest).unwrap();
        // The action grid and statistics, then the intrinsics table.
        if let Ok(cfg) = spatialscope::action_grid::ProcessorConfig::load(dir) {
            for key in cfg.statistics.keys() {
                let _ = cfg.stats(key);
            }
        }
        let _ = spatialscope::model::processor::ProcessorIntrinsics::load(dir);
    }
});
