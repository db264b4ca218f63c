//! Exports: pictures for slides (PNG charts of dataset statistics) and Rerun recordings
//! (`.rrd` files, live streaming).

pub mod charts;
pub mod doctor_report;
#[cfg(feature = "export")]
pub mod rerun_export;
pub mod rerun_paths;
#[cfg(feature = "export")]
pub mod rerun_video;
