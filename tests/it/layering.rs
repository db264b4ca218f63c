//! The layering rule of `src/lib.rs`, enforced on every file under `src/`:
//! - each top-level module may import (`crate::x`) only the modules the table below allows,
//!   all of them lower in the order, so the module graph has no cycle;
//! - pure layers import no GUI, GPU or ML crate; `model/` no GUI/GPU crate; `render/`,
//!   `scene/` and `pipeline/` no GUI; the UI and the app never run the model or parse files;
//!   exports never run the model.
//!
//! The scanner reads code, not comments: `crate::a::b`, `crate::{a, b::c}` and
//! `super::super::x` paths that leave a top-level module are all seen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up. A module may import only modules before it in
/// this order (which rules out cycles), less the exceptions below.
const ORDER: &[&str] = &[
    "util",
    "geometry",
    "action_grid",
    "episode",
    "model",
    "render",
    "scene",
    "pipeline",
    "export",
    "worker",
    "ui",
    "app",
    "cli",
];

/// Lower modules a module may still not import: the pure layers know nothing of each
/// other, the model takes pixels and numbers (no episodes), the renderer knows no files,
/// grids or models, the pipeline no drawing, the UI no exporters (the app starts them), and
/// the command line no GUI.
const EXCEPT: &[(&str, &[&str])] = &[
    ("action_grid", &["geometry"]),
    ("episode", &["geometry", "action_grid"]),
    ("model", &["episode"]),
    ("render", &["action_grid", "episode", "model"]),
    ("pipeline", &["render", "scene"]),
    ("ui", &["export"]),
    ("cli", &["ui", "app"]),
];

/// What `module` may import.
fn allowed(module: &str) -> Option<Vec<&'static str>> {
    let i = ORDER.iter().position(|m| *m == module)?;
    let except = EXCEPT
        .iter()
        .find(|(m, _)| *m == module)
        .map_or(&[][..], |(_, e)| *e);
    Some(
        ORDER[..i]
            .iter()
            .copied()
            .filter(|m| !except.contains(m))
            .collect(),
    )
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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

/// The code of `text`, comments removed (line comments and doc comments; string contents
/// are kept, which can only add hits, never hide one).
fn code_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.split("//").next().unwrap_or("").to_owned()))
        .collect()
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules a line names through `crate::`: `crate::a::..`, and every first
/// segment inside `crate::{a, b::{..}, c}`.
fn crate_roots(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `spatialscope_crate::` or `some_crate::` are not ours.
        let before = rest[..i].chars().last();
        let after = &rest[i + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let (mut depth, mut start) = (0usize, true);
            let mut chars = group.char_indices().peekable();
            while let Some((j, c)) = chars.next() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        let id = ident_at(&group[j..]);
                        if !id.is_empty() {
                            out.push(id.clone());
                            for _ in 1..id.len() {
                                chars.next();
                            }
                        }
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(after);
            if !id.is_empty() {
                out.push(id);
            }
        }
    }
    out
}

/// The top-level module a file belongs to (`src/scene/step.rs` -> `scene`); `None` for
/// `lib.rs` and `main.rs`.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// How deep a file is inside its top-level module (`scene/mod.rs` 0, `scene/step.rs` 0,
/// `episode/formats/rlds/mod.rs` 2): `super::` climbs past the module when repeated more.
fn depth_in_module(file: &Path) -> usize {
    let rel = file.strip_prefix(src()).unwrap_or(file);
    let dirs = rel.components().count().saturating_sub(1);
    let is_mod = rel.file_name().is_some_and(|n| n == "mod.rs");
    // A non-mod file is itself a module one level below its folder.
    if is_mod { dirs.saturating_sub(1) } else { dirs }
}

/// Every import from one top-level module into another that the table does not allow.
fn violations() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let known: BTreeSet<&str> = ORDER.iter().copied().collect();
    let mut hits = Vec::new();
    for f in files {
        let Some(module) = module_of(&f) else {
            continue;
        };
        let Some(allowed) = allowed(&module) else {
            hits.push(format!(
                "{}: module `{module}` is not in the layer table (tests/it/layering.rs)",
                f.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let depth = depth_in_module(&f);
        for (n, code) in code_lines(&text) {
            for root in crate_roots(&code) {
                if root == module || root == "self" {
                    continue;
                }
                if !known.contains(root.as_str()) {
                    hits.push(format!(
                        "{}:{n}: crate::{root} is no module of the layer table",
                        f.display()
                    ));
                } else if !allowed.contains(&root.as_str()) {
                    hits.push(format!(
                        "{}:{n}: `{module}` may not import `{root}`: {}",
                        f.display(),
                        code.trim()
                    ));
                }
            }
            let climbs = code.matches("super::").count();
            if code.contains(&"super::".repeat(depth + 1)) && climbs > depth {
                hits.push(format!(
                    "{}:{n}: `super::` climbs out of `{module}`; name the layer with crate::",
                    f.display()
                ));
            }
        }
    }
    hits
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let hits = violations();
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_exceptions_name_real_lower_modules() {
    for (module, except) in EXCEPT {
        let i = ORDER
            .iter()
            .position(|m| m == module)
            .expect("a module of ORDER");
        for e in *except {
            let j = ORDER.iter().position(|m| m == e);
            assert!(
                j.is_some_and(|j| j < i),
                "`{module}` excepts `{e}`, not below it"
            );
        }
    }
    assert_eq!(allowed("util"), Some(vec![]));
    assert_eq!(
        allowed("model"),
        Some(vec!["util", "geometry", "action_grid"])
    );
    assert!(!allowed("cli").unwrap().contains(&"app"));
}

#[test]
fn every_folder_and_file_of_src_is_in_the_table() {
    let known: BTreeSet<&str> = ORDER.iter().copied().collect();
    let mut stray = Vec::new();
    for e in std::fs::read_dir(src()).unwrap().flatten() {
        let name = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if name != "lib" && name != "main" && !known.contains(name.as_str()) {
            stray.push(name);
        }
    }
    assert!(
        stray.is_empty(),
        "src/ holds modules with no layer: {stray:?}"
    );
}

#[test]
fn the_scanner_sees_every_import_form() {
    assert_eq!(crate_roots("use crate::ui::Intent;"), ["ui"]);
    assert_eq!(
        crate_roots("use crate::{ui::{a, b}, worker::Command, app};"),
        ["ui", "worker", "app"]
    );
    assert_eq!(
        crate_roots("let x = crate::scene::cloud::step_cloud(ep); crate::app::X"),
        ["scene", "app"]
    );
    assert!(crate_roots("use other_crate::ui;").is_empty());
    assert!(code_lines("// use crate::app;")[0].1.trim().is_empty());
    assert_eq!(
        module_of(&src().join("scene/step.rs")).as_deref(),
        Some("scene")
    );
    assert_eq!(module_of(&src().join("lib.rs")), None);
    assert_eq!(depth_in_module(&src().join("scene/step.rs")), 1);
    assert_eq!(depth_in_module(&src().join("scene/mod.rs")), 0);
    assert_eq!(
        depth_in_module(&src().join("episode/formats/rlds/mod.rs")),
        2
    );
}

/// Lines under `dir` that name any of `crates` as a path root (`use x::`, `x::foo`).
fn offending(dir: &str, crates: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut hits = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (n, code) in code_lines(&text) {
            for c in crates {
                let needle = format!("{c}::");
                let found = code.match_indices(&needle).any(|(i, _)| {
                    !code[..i]
                        .chars()
                        .last()
                        .is_some_and(|p| p.is_ascii_alphanumeric() || p == '_')
                });
                if found {
                    hits.push(format!("{}:{n}: {}", f.display(), code.trim()));
                }
            }
        }
    }
    hits
}

/// Files under `dir` whose code contains any of `needles`.
fn calls(dir: &str, needles: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut hits = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (n, code) in code_lines(&text) {
            for needle in needles {
                if code.contains(needle) {
                    hits.push(format!("{}:{n} uses {needle}", f.display()));
                }
            }
        }
    }
    hits
}

const GUI: &[&str] = &[
    "egui",
    "eframe",
    "egui_wgpu",
    "egui_plot",
    "egui_tiles",
    "rfd",
];
const GPU: &[&str] = &["wgpu"];
const ML: &[&str] = &["candle_core", "candle_nn", "candle_transformers"];

#[test]
fn pure_layers_import_no_gui_gpu_or_ml_crates() {
    for dir in ["src/util", "src/episode", "src/geometry", "src/action_grid"] {
        let all: Vec<&str> = GUI
            .iter()
            .chain(GPU)
            .chain(ML)
            .chain(&["rerun"])
            .copied()
            .collect();
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
    let all: Vec<&str> = GUI.iter().chain(GPU).chain(&["rerun"]).copied().collect();
    let hits = offending("src/model", &all);
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn render_scene_and_pipeline_know_no_panels_and_run_no_model() {
    // The renderer draws inside egui through egui_wgpu's paint callback, and nothing more of
    // the GUI; the scene and the pipeline know no GUI crate at all.
    let panels = ["eframe", "egui_plot", "egui_tiles", "rfd", "rerun"];
    let mut hits = offending("src/render", &panels);
    hits.extend(offending("src/render", ML));
    for dir in ["src/scene", "src/pipeline"] {
        let crates: Vec<&str> = GUI.iter().chain(GPU).chain(&["rerun"]).copied().collect();
        hits.extend(offending(dir, &crates));
    }
    hits.extend(offending("src/scene", ML));
    hits.extend(calls(
        "src/scene",
        &["Predictor", "predict_step", ".predict("],
    ));
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn exports_are_sinks_that_never_run_the_model() {
    let mut hits = offending("src/export", &["egui", "candle_core", "candle_nn"]);
    hits.extend(calls(
        "src/export",
        &[
            "Predictor",
            "predict_step",
            ".predict(",
            ".predict_batch(",
            ".generate(",
        ],
    ));
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_ui_never_runs_the_model() {
    let mut hits = Vec::new();
    for dir in ["src/ui", "src/app"] {
        hits.extend(offending(dir, ML));
        hits.extend(calls(
            dir,
            &[
                "Predictor",
                "SpatialVla",
                "predict_step",
                ".predict_batch(",
                ".generate(",
                ".generate_batch(",
                "image_features",
            ],
        ));
    }
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_ui_does_not_parse_files_or_decode_frames() {
    let mut hits = Vec::new();
    for dir in ["src/ui", "src/app"] {
        hits.extend(offending(dir, &["formats", "image", "std::fs"]));
        hits.extend(calls(
            dir,
            &[
                ".rgb(",
                ".depth(",
                "open_episode(",
                "open_path(",
                "File::open",
                "read_to_string(",
            ],
        ));
    }
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_scans_find_planted_violations() {
    // Guards the guards: each scanner must see a real line.
    assert!(!offending("src/app/mod.rs", &["egui"]).is_empty());
    assert!(!calls("src/worker/model.rs", &["predict_step("]).is_empty());
    assert!(
        offending("src/app/mod.rs", &["gui"]).is_empty(),
        "`egui::` is not `gui::`"
    );
}
