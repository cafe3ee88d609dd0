//! The command line: bad input is one clear line and exit status 2; a run writes its files.

use std::process::Command;

fn escapade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).output().unwrap()
}

#[test]
fn bad_input_names_the_field_and_exits_with_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--chains", "0"], "chains"),
        (&["--dim", "0"], "dim"),
        (&["--eta", "-0.1"], "eta"),
        (&["--eta", "nan"], "eta"),
        (&["--steps", "0"], "steps"),
        (&["--objective", "banana"], "objective"),
        (&["--method", "adam"], "method"),
        (&["--init", "gauss:1"], "init"),
        (&["--init", "normal:-1"], "init"),
        (&["--backend", "tpu"], "backend"),
        (&["--objective", "toy-saddle", "--dim", "3"], "dim"),
        (&["--objective", "quartic", "--dim", "3", "--eigenvalues", "1,2"], "eigenvalues"),
        (&["--tau", "-1"], "tau"),
        (&["--l", "1", "--rho", "1"], "eps"),
        (&["--l", "1", "--rho", "1", "--eps", "0.1", "--c", "3"], "c"),
    ];
    for (extra, field) in cases {
        let mut args = vec!["run", "--backend", "cpu", "--steps", "10", "--chains", "4", "--out", "/nonexistent/never"];
        args.extend_from_slice(extra);
        let out = escapade(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(field) && err.contains("allowed"), "{extra:?} should name {field}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
    // Malformed numbers are caught by the argument parser, also with status 2.
    let out = escapade(&["run", "--chains", "many"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_writes_summary_and_events() {
    let dir = std::env::temp_dir().join(format!("escapade-cli-{}", std::process::id()));
    let out = escapade(&[
        "run", "--objective", "toy-saddle", "--method", "pgd", "--chains", "256", "--steps", "300", "--seed", "4",
        "--backend", "cpu", "--init", "zero", "--out", dir.to_str().unwrap(), "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for key in ["chains", "steps", "seed", "backend", "adapter", "objective", "method", "counts", "escape_time", "chain_steps_per_second", "wall_seconds"] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    for key in ["escape_events", "chains_escaped", "certified", "censored", "diverged"] {
        assert!(summary["counts"].get(key).is_some(), "counts lack {key}");
    }
    for key in ["mean", "median", "p10", "p90"] {
        assert!(summary["escape_time"][key].is_number(), "escape_time.{key} missing");
    }
    assert_eq!(summary["chains"], 256);
    assert_eq!(summary["method"]["params"]["eta"], 0.1);
    let events = std::fs::read_to_string(dir.join("events.csv")).unwrap();
    let mut lines = events.lines();
    assert_eq!(lines.next(), Some("chain,label,t_stall,escape_steps,f_stall,f_escape"));
    let rows = lines.count();
    assert_eq!(rows as u64, summary["counts"]["escape_events"].as_u64().unwrap());
    assert!(rows >= 250, "only {rows} escapes from 256 chains at the saddle");
    std::fs::remove_dir_all(&dir).ok();
}
