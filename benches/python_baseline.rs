//! Runs `benches/numpy_baselines.py` (numpy, Pillow: what a user would otherwise run) with
//! the given arguments and prints its lines beside criterion's figures; says so when no
//! Python with those packages is at hand (`SPATIALSCOPE_PYTHON`, else `python3`).

pub fn print(args: &[&str]) {
    let python = std::env::var("SPATIALSCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    run(&python, args);
}

/// The same with the given Python.
pub fn run(python: &str, args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/numpy_baselines.py");
    match std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
    {
        Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
        _ => println!(
            "{}: not measured (no Python with numpy and Pillow)",
            args.join(" ")
        ),
    }
}
