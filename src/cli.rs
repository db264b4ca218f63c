//! Command line: `spatialscope [PATH]` opens the app (default `sample_episodes/`),
//! `spatialscope inspect PATH [--json]` prints what a dataset holds.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "spatialscope",
    version,
    about = "Inspect robot episodes and what SpatialVLA makes of them"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// File or folder to open in the app (default: the bundled sample_episodes/).
    pub path: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Open the desktop app (the default).
    View {
        /// File or folder to open.
        path: Option<PathBuf>,
    },
    /// Print episodes, steps, cameras, depth, intrinsics source and action statistics.
    Inspect {
        /// File or folder to inspect.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The bundled samples: `./sample_episodes` when run from the repository, else the copy
/// next to the crate's manifest (for `cargo run` from elsewhere).
pub fn default_sample_path() -> PathBuf {
    let local = Path::new("sample_episodes");
    if local.is_dir() {
        return local.to_owned();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_episodes")
}

/// Runs `inspect`; returns the text to print.
pub fn run_inspect(path: &Path, json: bool) -> anyhow::Result<String> {
    use anyhow::Context;
    let report = crate::inspect::inspect(path)
        .with_context(|| format!("cannot inspect {}", path.display()))?;
    if json {
        Ok(serde_json::to_string_pretty(&report)?)
    } else {
        Ok(report.to_text())
    }
}
