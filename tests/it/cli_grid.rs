//! `spatialscope grid encode|decode` through the real binary and stdin, checked against the
//! reference's golden ids and actions.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn run(args: &[&str], stdin: &str) -> (bool, String, String) {
    let grid = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/real_checkpoint_meta"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_spatialscope"))
        .arg("grid")
        .args(args)
        .args(["--grid", grid])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn golden(name: &str) -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/");
    serde_json::from_str(&std::fs::read_to_string(format!("{p}{name}")).expect("read"))
        .expect("json")
}

#[test]
fn encode_normalized_actions_gives_the_reference_ids() {
    let g = golden("action_encode_decode.json");
    let cases = g["cases"].as_array().expect("cases");
    // One JSON array of all 30 actions.
    let input: Vec<&Value> = cases
        .iter()
        .map(|c| &c["input_normalized_action"])
        .collect();
    let (ok, out, err) = run(
        &["encode", "--normalized"],
        &serde_json::to_string(&input).expect("ser"),
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 30);
    for (line, c) in lines.iter().zip(cases) {
        let want: Vec<String> = c["token_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(*line, want.join(" "), "{}", c["id"]);
    }
}

#[test]
fn encode_raw_actions_with_a_key_one_per_line_as_json() {
    let g = golden("action_normalization.json");
    let cases: Vec<&Value> = g["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["unnorm_key"] == "bridge_orig/1.0.0")
        .collect();
    let input: String = cases
        .iter()
        .map(|c| format!("{}\n", c["raw_action"]))
        .collect();
    let (ok, out, err) = run(
        &["encode", "--unnorm-key", "bridge_orig/1.0.0", "--json"],
        &input,
    );
    assert!(ok, "{err}");
    for (line, c) in out.lines().zip(&cases) {
        let v: Value = serde_json::from_str(line).expect("json line");
        assert_eq!(v["token_ids"], c["token_ids"], "{}", c["id"]);
        assert_eq!(v["action"], c["raw_action"]);
    }
}

#[test]
fn decode_matches_the_reference_chunk_and_flags_malformed_lines() {
    let g = golden("action_chunk_decode.json");
    let c = &g["cases"][0];
    let ids: Vec<String> = c["generated_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    let input = format!("{}\n{}\n", ids.join(" "), ids[..7].join(","));
    let (ok, out, err) = run(
        &["decode", "--unnorm-key", "bridge_orig/1.0.0", "--json"],
        &input,
    );
    assert!(ok, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    for (step, want) in c["actions"].as_array().unwrap().iter().enumerate() {
        for d in 0..7 {
            let (g, w) = (
                lines[0]["action"][step][d].as_f64().unwrap(),
                want[d].as_f64().unwrap(),
            );
            assert!((g - w).abs() <= 1e-12, "step {step} dim {d}: {g} vs {w}");
        }
    }
    assert_eq!(lines[0]["issues"].as_array().unwrap().len(), 0);
    let kinds: Vec<&str> = lines[1]["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["too_few"]);

    // Text output names the malformation.
    let (ok, out, _) = run(&["decode", "--normalized"], "260177 1 265345\n");
    assert!(ok);
    assert!(
        out.contains("# line 1: malformed: <eos> at position 1"),
        "{out}"
    );
}

#[test]
fn bad_input_lines_are_reported_and_the_exit_code_says_so() {
    let (ok, out, err) = run(
        &["encode", "--normalized"],
        "[0,0,0,0,0,0,1]\n[0,0,NaN,0,0,0,1]\nnot json\n[1,2,3]\n",
    );
    assert!(!ok);
    assert!(err.contains("3 input line(s) failed"), "{err}");
    assert!(out.contains("257273 263416 265346"), "{out}");
    assert!(
        out.contains("# line 2: error: action dimension 2 is not finite"),
        "{out}"
    );
    assert!(out.contains("# line 3: error:"), "{out}");
    assert!(
        out.contains("# line 4: error: an action has 3 values"),
        "{out}"
    );

    let (ok, _, err) = run(&["encode"], "[0,0,0,0,0,0,1]\n");
    assert!(!ok);
    assert!(
        err.contains("--unnorm-key is required") && err.contains("bridge_orig/1.0.0"),
        "{err}"
    );
    let (ok, _, err) = run(&["decode", "--unnorm-key", "no_such_key"], "1 2 3\n");
    assert!(!ok);
    assert!(
        err.contains("unknown unnorm key `no_such_key`")
            && err.contains("fractal20220817_data/0.1.0"),
        "{err}"
    );
    let (ok, out, _) = run(&["decode", "--normalized"], "12 abc\n");
    assert!(!ok);
    assert!(out.contains("`abc` is not an integer id"), "{out}");
}
