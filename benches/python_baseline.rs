//! Runs `benches/numpy_baselines.py` (numpy, Pillow: what a user would otherwise run) with
//! the given arguments and prints its lines beside criterion's figures; says so when no
//! Python with those packages is at hand (`SPATIALSCOPE_PYTHON`, else `python3`).

pub fn print(args: &[&str]) {
    let python = std::env::var("SPATIALSCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    run(&python, args);
}

/// The same with the given Python.
pub fn run(python: &str, args: &[&str]) {
    run_with(python, "numpy_baselines.py", args);
}

/// Runs another script of `benches/` with `SPATIALSCOPE_PYTHON` (else `python3`).
pub fn run_script(script: &str, args: &[&str]) {
    let python = std::env::var("SPATIALSCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    run_with(&python, script, args);
}

fn run_with(python: &str, script: &str, args: &[&str]) {
    let path = format!("{}/benches/{script}", env!("CARGO_MANIFEST_DIR"));
    match std::process::Command::new(python)
        .arg(path)
        .args(args)
        .output()
    {
        Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
        _ => println!(
            "{}: not measured (no Python with the packages {script} needs)",
            args.join(" ")
        ),
    }
}
