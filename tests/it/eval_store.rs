//! `spatialscope eval` and its store, on the bundled tiny checkpoint and the Bridge sample:
//! stored token ids and chunks equal what `predict` gives for the same step; metrics
//! recomputed from the stored chunks equal the stored ones; resume skips exactly the stored
//! steps; Ctrl-C keeps what was evaluated; another checkpoint's or settings' store, a corrupt
//! store and forbidden output folders are clear errors.

use std::path::Path;
use std::process::{Command, Output};

use spatialscope::pipeline::eval::read_store;

use crate::common;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spatialscope"))
}

fn eval(out: &Path, extra: &[&str]) -> Output {
    bin()
        .env("SPATIALSCOPE_DATA_DIR", common::test_data_dir())
        .arg("eval")
        .arg(common::bridge_dir())
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol
}

#[test]
fn stored_steps_equal_predict_and_their_metrics_recompute() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    ok(&eval(&store, &["--episodes", "0", "--every", "5"]));
    let (m, rows) = read_store(&store).unwrap();
    assert_eq!(m.settings.every, 5);
    assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), [0, 5]);
    // predict on step 5 of episode 0, as a user would.
    let preds = tmp.path().join("p.jsonl");
    ok(&bin()
        .arg("predict")
        .arg(common::bridge_dir())
        .args(["--episode", "0", "--step", "5", "--out"])
        .arg(&preds)
        .output()
        .unwrap());
    let line: serde_json::Value = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .next()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    let ids: Vec<i64> = line["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .take(12)
        .map(|v| v.as_i64().unwrap())
        .collect();
    let row = &rows[1];
    assert_eq!(row.token_ids, ids);
    let actions = line["actions"].as_array().unwrap();
    for (r, a) in actions.iter().enumerate() {
        for d in 0..7 {
            let want = a[d].as_f64().unwrap() as f32;
            assert!(
                close(row.predicted[r * 7 + d], want, 1e-6),
                "chunk {r} dim {d}"
            );
        }
    }
    // The metrics from the stored chunks alone.
    for r in &rows {
        let m = r.recompute_metrics();
        assert!(close(m.first_translation_l2, r.first_translation_l2, 1e-6));
        assert!(close(m.chunk_translation_l2, r.chunk_translation_l2, 1e-6));
        assert!(close(m.first_direction_deg, r.first_direction_deg, 1e-4));
        assert!(close(m.first_rotation_l2, r.first_rotation_l2, 1e-6));
        assert!(close(m.gripper_agreement, r.gripper_agreement, 1e-6));
        for d in 0..7 {
            assert!(close(m.first_abs_error[d], r.first_abs_error[d], 1e-6));
        }
        assert_eq!(r.token_probabilities.len(), r.token_ids.len());
        assert!(
            r.token_entropy_nats
                .iter()
                .all(|h| h.is_finite() && *h >= 0.0)
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["overall"]["steps"], 2);
    assert_eq!(summary["complete"], true);
    assert_eq!(
        summary["worst"]["first_translation_l2"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_resumed_run_skips_exactly_the_stored_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    ok(&eval(&store, &["--episodes", "0", "--every", "5"]));
    let text = ok(&eval(&store, &["--episodes", "0-1", "--every", "5"]));
    assert!(
        text.contains("2 steps evaluated") && text.contains("2 skipped as already stored"),
        "{text}"
    );
    let (_, rows) = read_store(&store).unwrap();
    let mut keys: Vec<_> = rows.iter().map(|r| r.key()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 4);
    assert_eq!(rows.len(), 4);
}

#[test]
fn ctrl_c_keeps_what_was_evaluated_and_resume_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let mut child = bin()
        .env("SPATIALSCOPE_DATA_DIR", common::test_data_dir())
        .arg("eval")
        .arg(common::bridge_dir())
        .args(["--episodes", "0-2", "--out"])
        .arg(&store)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // After the first episode (10 steps) has been reported, interrupt.
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    for l in lines.by_ref() {
        if l.unwrap().contains("1/3 episodes") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::spawn(move || lines.for_each(drop));
    let out = child.wait_with_output().unwrap();
    let text = ok(&out);
    assert!(text.contains("stopped by Ctrl-C"), "{text}");
    let (_, rows) = read_store(&store).unwrap();
    assert!(rows.len() >= 10 && rows.len() < 30, "{} rows", rows.len());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["complete"], false);
    let stored = rows.len();
    let text = ok(&eval(&store, &["--episodes", "0-2"]));
    assert!(
        text.contains(&format!("{stored} skipped as already stored")),
        "{text}"
    );
    assert_eq!(read_store(&store).unwrap().1.len(), 30);
}

#[test]
fn foreign_corrupt_and_forbidden_stores_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    ok(&eval(&store, &["--episodes", "0", "--every", "5"]));
    // Other settings into the same store.
    let o = eval(&store, &["--episodes", "0", "--every", "3"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("another checkpoint or settings") && e.contains("every"),
        "{e}"
    );
    // A corrupt steps file names itself.
    std::fs::write(store.join("steps.parquet"), b"PAR1 not really").unwrap();
    let e = read_store(&store).unwrap_err().to_string();
    assert!(e.contains("steps.parquet"), "{e}");
    // A folder that is not a store, with files in it.
    let other = tmp.path().join("notes");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("todo.txt"), b"x").unwrap();
    let o = eval(&other, &["--episodes", "0", "--every", "5"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no evaluation store"));
    assert!(
        read_store(&other)
            .unwrap_err()
            .to_string()
            .contains("no store.json")
    );
    // Never inside the dataset.
    let (_t, bridge) = common::bridge_copy();
    let o = bin()
        .env("SPATIALSCOPE_DATA_DIR", common::test_data_dir())
        .arg("eval")
        .arg(&bridge)
        .args(["--episodes", "0", "--every", "5", "--out"])
        .arg(bridge.join("store"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!bridge.join("store").exists());
}

#[test]
fn two_stores_compare_step_by_step() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(&eval(&a, &["--episodes", "0", "--every", "5"]));
    // Another statistics key: the same tokens decode to other actions.
    ok(&eval(
        &b,
        &[
            "--episodes",
            "0-1",
            "--every",
            "5",
            "--unnorm-key",
            "fractal20220817_data/0.1.0",
        ],
    ));
    let run = |x: &Path, y: &Path| -> serde_json::Value {
        let o = bin().arg("compare").arg(x).arg(y).output().unwrap();
        serde_json::from_slice(ok(&o).as_bytes()).unwrap()
    };
    // A store against itself: nothing changes.
    let same = run(&a, &a);
    assert_eq!(same["shared_steps"], 2);
    for m in same["metrics"].as_array().unwrap() {
        assert_eq!(
            (m["b_worse"].as_u64(), m["b_better"].as_u64()),
            (Some(0), Some(0))
        );
    }
    let c = run(&a, &b);
    assert_eq!(
        (c["shared_steps"].as_u64(), c["only_in_b"].as_u64()),
        (Some(2), Some(2))
    );
    let (_, ra) = read_store(&a).unwrap();
    let (_, rb) = read_store(&b).unwrap();
    let m = &c["metrics"][0];
    assert_eq!(m["metric"], "first_translation_l2");
    // The listed deltas are B - A of the stored values, worst first.
    let worse = m["most_worse"].as_array().unwrap();
    for d in worse {
        let key = (
            d["episode_index"].as_u64().unwrap() as u32,
            d["step"].as_u64().unwrap() as u32,
        );
        let x = ra
            .iter()
            .find(|r| (r.episode_index, r.step) == key)
            .unwrap();
        let y = rb
            .iter()
            .find(|r| (r.episode_index, r.step) == key)
            .unwrap();
        let delta = y.first_translation_l2 - x.first_translation_l2;
        assert!((d["worse_by"].as_f64().unwrap() as f32 - delta).abs() < 1e-6);
    }
    assert!(
        worse
            .windows(2)
            .all(|w| w[0]["worse_by"].as_f64() >= w[1]["worse_by"].as_f64())
    );
    // The other key moves every step one way or the other.
    assert_eq!(
        m["b_worse"].as_u64().unwrap() + m["b_better"].as_u64().unwrap(),
        2
    );
}
