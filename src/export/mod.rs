//! Exports: pictures for slides (PNG charts of dataset statistics). Rerun recordings and
//! 3-D renders join here with their issues.

pub mod charts;
