//! Entry point: parse the command line, then either print a report or open the window.

use clap::Parser;
use spatialscope::cli::{Cli, CliCommand, run_inspect};
use spatialscope::util::assets::default_sample_path;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,wgpu_core=warn,wgpu_hal=warn,naga=warn"),
    )
    .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(CliCommand::Inspect { path, json }) => {
            run_inspect(&path, json).map(|text| println!("{text}"))
        }
        Some(CliCommand::View { path }) => run_app(path),
        Some(CliCommand::Stats {
            path,
            grid,
            unnorm_key,
            out,
            noop_threshold,
        }) => {
            let grid = grid.unwrap_or_else(spatialscope::util::assets::default_grid_path);
            let args = spatialscope::cli::stats_cmd::StatsArgs {
                path: &path,
                grid: &grid,
                unnorm_key: unnorm_key.as_deref(),
                out: out.as_deref(),
                noop_threshold,
            };
            spatialscope::cli::stats_cmd::run(&args).map(|text| print!("{text}"))
        }
        Some(CliCommand::Grid { op }) => {
            match spatialscope::cli::run_grid(&op, std::io::stdin().lock()) {
                Ok((out, failed)) => {
                    print!("{out}");
                    if failed > 0 {
                        Err(anyhow::anyhow!(
                            "{failed} input line(s) failed (see the lines marked error)"
                        ))
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(e),
            }
        }
        Some(CliCommand::Doctor(args)) => {
            return match spatialscope::cli::doctor_cmd::run(&args) {
                Ok((text, code)) => {
                    print!("{text}");
                    std::process::ExitCode::from(code)
                }
                Err(e) => {
                    eprintln!("spatialscope: {e:#}");
                    std::process::ExitCode::from(2)
                }
            };
        }
        Some(CliCommand::Compare { a, b }) => (|| -> anyhow::Result<()> {
            use spatialscope::pipeline::eval::{compare::compare, read_store};
            let (ma, ra) = read_store(&a)?;
            let (mb, rb) = read_store(&b)?;
            if ma.dataset_path != mb.dataset_path {
                eprintln!(
                    "note: the stores were made on {} and {}; only steps with the same dataset name, episode and step are compared",
                    ma.dataset_path, mb.dataset_path
                );
            }
            let c = compare((&ma, &ra), (&mb, &rb));
            println!("{}", serde_json::to_string_pretty(&c)?);
            Ok(())
        })(),
        Some(CliCommand::Eval(args)) => {
            spatialscope::cli::eval_cmd::run(&args).map(|text| print!("{text}"))
        }
        Some(CliCommand::Predict(args)) => {
            spatialscope::cli::predict_cmd::run(&args).map(|text| print!("{text}"))
        }
        Some(CliCommand::Depth(args)) => {
            spatialscope::cli::depth_cmd::run(&args).map(|text| print!("{text}"))
        }
        Some(CliCommand::Features(args)) => {
            spatialscope::cli::features_cmd::run(&args).map(|text| print!("{text}"))
        }
        Some(CliCommand::Probe(args)) => {
            spatialscope::cli::probe_cmd::run(&args).map(|text| print!("{text}"))
        }
        Some(CliCommand::Render(args)) => {
            spatialscope::cli::render_cmd::run(&args).map(|file| println!("{}", file.display()))
        }
        #[cfg(feature = "export")]
        Some(CliCommand::Export(args)) => {
            spatialscope::cli::export_cmd::run(&args).map(|text| print!("{text}"))
        }
        None => run_app(cli.path),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spatialscope: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_app(path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let path = path.unwrap_or_else(default_sample_path);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("spatialscope")
            .with_inner_size([1500.0, 950.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    eframe::run_native(
        "spatialscope",
        options,
        Box::new(move |cc| {
            Ok(Box::new(
                spatialscope::SpatialscopeApp::from_creation_context(cc, Some(path)),
            ))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not start: {e}"))
}
