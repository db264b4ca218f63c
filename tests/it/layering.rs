//! The layering rule of ARCHITECTURE.md, enforced: pure layers import no GUI, GPU or ML
//! crate; `model/` imports no GUI/GPU crate; the UI does not parse files (no format modules).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_owned());
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines of `dir` that mention any of `crates` as a path root (`use x::`, `x::foo`).
fn offending(dir: &str, crates: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut hits = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for c in crates {
                if code.contains(&format!("{c}::")) {
                    hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    hits
}

const GUI_GPU: &[&str] = &["egui", "eframe", "egui_wgpu", "egui_plot", "wgpu", "rfd"];
const ML_EXPORT: &[&str] = &["candle_core", "candle_nn", "candle_transformers", "rerun"];

#[test]
fn pure_layers_import_no_gui_gpu_or_ml_crates() {
    for dir in ["src/episode", "src/geometry", "src/action_grid"] {
        let all: Vec<&str> = GUI_GPU.iter().chain(ML_EXPORT).copied().collect();
        let hits = offending(dir, &all);
        assert!(
            hits.is_empty(),
            "{dir} must stay pure:\n{}",
            hits.join("\n")
        );
    }
}

#[test]
fn the_model_layer_imports_no_gui_or_gpu_crate() {
    let mut hits = offending("src/model", GUI_GPU);
    // Nor episodes, panels or threads: it takes pixels, depth and a prompt.
    hits.extend(offending(
        "src/model",
        &["crate::episode", "crate::ui", "crate::worker", "crate::app"],
    ));
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_ui_never_runs_the_model() {
    let mut hits = Vec::new();
    for dir in ["src/ui", "src/app.rs", "src/app"] {
        hits.extend(offending(
            dir,
            &["candle_core", "candle_nn", "Predictor", "SpatialVla"],
        ));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for needle in ["predict_step(", ".generate(", "image_features("] {
                if text.contains(needle) {
                    hits.push(format!("{} calls {needle}", f.display()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_ui_does_not_parse_files_or_decode_frames() {
    let mut hits = offending("src/ui", &["formats", "open_path", "image"]);
    hits.extend(offending("src/app.rs", &["formats", "open_path"]));
    for needle in [".rgb(", ".depth(", "open_episode("] {
        for dir in ["src/ui", "src/app.rs"] {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            let mut files = Vec::new();
            rust_files(&root, &mut files);
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap_or_default();
                if text.contains(needle) {
                    hits.push(format!("{} calls {needle}", f.display()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_scan_finds_a_planted_violation() {
    // Guards the guard: the scanner must see a real import line.
    let hits = offending("src/app.rs", &["egui"]);
    assert!(!hits.is_empty());
}

#[test]
fn the_renderer_knows_no_panels_formats_or_model() {
    let hits = offending(
        "src/render",
        &[
            "crate::ui",
            "crate::episode",
            "crate::app",
            "candle_core",
            "candle_nn",
            "rerun",
        ],
    );
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}
