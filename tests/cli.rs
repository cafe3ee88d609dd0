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
        (&["--objective", "phase-retrieval", "--method", "sgd", "--batch", "0"], "batch"),
        (&["--objective", "quartic", "--method", "sgd", "--batch", "4"], "batch"),
        (&["--method", "sgd", "--noise", "-1"], "noise"),
        (&["--clip", "hard:-1"], "clip"),
        (&["--clip", "soft:1"], "clip"),
        (&["--precond", "tanh"], "precond"),
        (&["--schedule", "linear"], "schedule"),
        (&["--perturb", "uniform"], "perturb"),
        (&["--step-rule", "adaptive"], "step-rule"),
        (&["--step-rule", "self-bounding", "--rho1", "1,2"], "rho1"),
        (&["--step-rule", "self-bounding"], "rho1"),
        (&["--rho1", "1,1,0.5"], "step-rule"),
        (&["--state", "f80"], "state"),
        (&["--objective", "matrix-factorization", "--dim", "3", "--rank", "5"], "rank"),
        (&["--objective", "linear-network", "--kappa", "-1"], "kappa"),
        (&["--objective", "linear-network", "--depth", "1"], "depth"),
        (&["--objective", "linear-network", "--depth", "x"], "depth"),
        (&["--objective", "quartic", "--depth", "3"], "depth"),
        (&["--objective", "phase-retrieval", "--data", "/nonexistent/A.csv,/nonexistent/y.csv"], "/nonexistent/A.csv"),
        (&["--objective", "phase-retrieval", "--data", "only-one.csv"], "data files"),
        (&["--objective", "quartic", "--m", "10"], "m"),
        (&["--objective", "custom"], "wgsl"),
        (&["--init", "point:1,2"], "init"),
    ];
    for (extra, field) in cases {
        let mut args = vec!["run", "--backend", "cpu", "--steps", "10", "--chains", "4", "--out", "/nonexistent/never"];
        args.extend_from_slice(extra);
        let out = escapade(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(field), "{extra:?} should name {field}: {err}");
        assert!(err.contains("allowed") || err.contains("I/O error"), "{extra:?} should say what is allowed: {err}");
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
    for key in ["escape_events", "chains_escaped", "certified", "converged", "precision_limited", "censored", "diverged"] {
        assert!(summary["counts"].get(key).is_some(), "counts lack {key}");
    }
    // Every chain escapes the saddle at 0 and rests at a minimum (0, +-1): converged, and its
    // stall there is not a censored saddle stall.
    assert_eq!(summary["counts"]["converged"], 256, "{}", summary["counts"]);
    assert_eq!(summary["survival"]["overall"]["converged"], 256);
    assert_eq!(summary["survival"]["overall"]["censored"], 0);
    assert!(summary["sosp_rule"].as_str().is_some_and(|r| r.contains("rho2")), "{}", summary["sosp_rule"]);
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

#[test]
fn custom_wgsl_errors_point_at_the_file_and_cpu_runs_are_refused() {
    let dir = std::env::temp_dir().join(format!("escapade-cli-wgsl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.wgsl");
    std::fs::write(&bad, "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    return Eval(1.0 +, 0u, 1u);\n}\n").unwrap();
    let out = escapade(&["run", "--objective", "custom", "--wgsl", bad.to_str().unwrap(), "--dim", "2", "--backend", "cpu"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:2:", bad.display())), "{err}");
    // A valid WGSL-only objective on the CPU backend: refused clearly, status 2.
    let out = escapade(&[
        "run", "--objective", "custom", "--wgsl", "examples/custom_objective/objective.wgsl", "--dim", "3",
        "--backend", "cpu", "--steps", "5", "--chains", "2", "--out", dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no CPU twin"), "{err}");
    // Written in f32, it cannot run with f64 state: one line naming the field, status 2.
    let out = escapade(&[
        "run", "--objective", "custom", "--wgsl", "examples/custom_objective/objective.wgsl", "--dim", "3",
        "--state", "f64", "--backend", "gpu", "--steps", "5", "--chains", "2", "--out", dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("state") && err.contains("real") && err.trim().lines().count() == 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn data_files_drive_phase_retrieval() {
    let dir = std::env::temp_dir().join(format!("escapade-cli-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // x* = (1, 0); rows of A and y = (a.x*)^2.
    let a = [[1.0, 0.5], [-0.3, 1.2], [0.8, -0.9], [0.1, 0.4], [-1.1, -0.2], [0.6, 0.7]];
    let a_csv: String = a.iter().map(|r| format!("{},{}\n", r[0], r[1])).collect();
    let y_csv: String = a.iter().map(|r| format!("{}\n", r[0] * r[0])).collect();
    // A comma in a file's name keeps the name whole.
    std::fs::write(dir.join("my,A.csv"), a_csv).unwrap();
    std::fs::write(dir.join("y.csv"), y_csv).unwrap();
    let files = format!("{},{}", dir.join("my,A.csv").display(), dir.join("y.csv").display());
    let out_dir = dir.join("out");
    let out = escapade(&[
        "run", "--objective", "phase-retrieval", "--data", &files, "--method", "pgd", "--chains", "64", "--steps", "3000",
        "--eta", "0.05", "--backend", "cpu", "--init", "normal:0.5", "--out", out_dir.to_str().unwrap(), "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["objective"]["dim"], 2);
    assert_eq!(summary["objective"]["params"]["m"], 6);
    assert_eq!(summary["counts"]["diverged"], 0);
    std::fs::write(dir.join("y.csv"), "1\nnan\n1\n1\n1\n1\n").unwrap();
    let out = escapade(&["run", "--objective", "phase-retrieval", "--data", &files, "--backend", "cpu"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("y") && err.contains("(1, 0)"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn negative_number_lists_parse_as_the_readme_writes_them() {
    let dir = std::env::temp_dir().join(format!("escapade-cli-neg-{}", std::process::id()));
    let out = escapade(&[
        "run", "--objective", "quartic", "--eigenvalues", "-1,1,1", "--init", "point:-0.5,0.25,1", "--chains", "4",
        "--steps", "10", "--backend", "cpu", "--out", dir.to_str().unwrap(), "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["objective"]["params"]["eigenvalues"], serde_json::json!([-1.0, 1.0, 1.0]));
    // The recorded experiment reruns as it was written.
    let toml = dir.join("experiment.toml");
    let again = dir.join("again");
    let out = escapade(&["run", toml.to_str().unwrap(), "--out", again.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A spectrum with a negative entry reaches the library, which names the field.
    let out = escapade(&["run", "--objective", "matrix-factorization", "--dim", "3", "--spectrum", "-1,2,3", "--backend", "cpu", "--chains", "2", "--steps", "2", "--out", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
    // rho1 with a leading minus is the library's to judge too.
    let out = escapade(&["run", "--step-rule", "self-bounding", "--rho1", "-1,1,1", "--backend", "cpu", "--chains", "2", "--steps", "2", "--out", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fixed_choices_are_checked_by_the_parser_in_one_line() {
    for (flag, bad, allowed) in [
        ("--backend", "tpu", "auto, gpu, cpu"),
        ("--state", "f80", "f16, f32, f64"),
        ("--plots", "gif", "svg, png, none"),
        ("--progress", "loud", "bar, json, none"),
        ("--step-rule", "adaptive", "fixed, self-bounding"),
        ("--perturb", "uniform", "none, ball, gaussian"),
        ("--method", "adam", "clipped-gd"),
        ("--objective", "banana", "custom"),
    ] {
        let out = escapade(&["run", flag, bad, "--out", "/nonexistent/never"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{flag}: {err}");
        assert!(err.contains(&format!("invalid {}: got {bad}", &flag[2..])) && err.contains(allowed), "{flag}: {err}");
    }
    // The values are the strings they always were: a run with every one of them spelled out.
    let dir = std::env::temp_dir().join(format!("escapade-cli-choices-{}", std::process::id()));
    let out = escapade(&[
        "run", "--objective", "toy-saddle", "--method", "clipped-gd", "--step-rule", "fixed", "--perturb", "ball",
        "--backend", "cpu", "--state", "f64", "--plots", "none", "--progress", "json", "--chains", "4", "--steps", "20",
        "--out", dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let toml = std::fs::read_to_string(dir.join("experiment.toml")).unwrap();
    for line in ["method = \"clipped-gd\"", "step-rule = \"fixed\"", "perturb = \"ball\"", "backend = \"cpu\"", "state = \"f64\"", "plots = \"none\"", "progress = \"json\""] {
        assert!(toml.contains(line), "{line} in {toml}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_takes_objective_flags_but_not_run_flags() {
    let out = escapade(&["check", "--objective", "quartic", "--chains", "4"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--chains"), "{err}");
    let out = escapade(&["check", "--objective", "quartic", "--eigenvalues", "-1,1", "--starts", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("starts"), "{err}");
}

#[test]
fn exit_status_is_2_for_missing_inputs() {
    let out = escapade(&["report", "/nonexistent/run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: ") && err.contains("/nonexistent/run"), "{err}");
    let out = escapade(&["run", "/nonexistent/exp.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_gpu_run_without_xdg_runtime_dir_prints_nothing_on_stderr() {
    let dir = std::env::temp_dir().join(format!("escapade-cli-quiet-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_escapade"))
        .args(["run", "--objective", "toy-saddle", "--chains", "64", "--steps", "10", "--backend", "gpu", "--quiet", "--out"])
        .arg(&dir)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(1) && err.contains("no GPU adapter") {
        eprintln!("no GPU adapter here; skipped");
        return;
    }
    assert!(out.status.success(), "{err}");
    assert!(err.is_empty(), "stderr of a quiet GPU run: {err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sweep_points_are_one_directory_each_and_force_and_resume_work_per_point() {
    let dir = std::env::temp_dir().join(format!("escapade-cli-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, "objective = \"quartic\"\nchains = 16\nsteps = 40\nbackend = \"cpu\"\nplots = \"none\"\n").unwrap();
    let out = dir.join("grid");
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", exp.to_str().unwrap(), "--grid", "eigenvalues=[-1,2],'-2,1'", "--grid", "shard=0/2,1/2", "--out", out.to_str().unwrap()];
        args.extend(extra);
        escapade(&args)
    };
    // The table without its speed column (measured anew by each run).
    let table = || -> Vec<Vec<String>> {
        let mut r = csv::Reader::from_path(out.join("sweep.csv")).unwrap();
        let speed = r.headers().unwrap().iter().position(|h| h == "chain_steps_per_second").unwrap();
        r.records().map(|row| row.unwrap().iter().enumerate().filter(|(i, _)| *i != speed).map(|(_, c)| c.to_string()).collect()).collect()
    };
    let first = sweep(&[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let names: std::collections::BTreeSet<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.contains("eigenvalues=-1,2_shard=0%2F2") && names.contains("eigenvalues=-2,1_shard=1%2F2"), "{names:?}");
    assert_eq!(names.len(), 5, "four points and sweep.csv: {names:?}");
    let whole = table();
    assert_eq!(whole[0][..3], ["-1,2", "0/2", "16"], "{:?}", whole[0]);
    // Again without a flag: refused, naming both ways on.
    let again = sweep(&[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("--force") && err.contains("--resume"), "{err}");
    // --resume: finished points are read back, a missing one runs; the table is the same.
    std::fs::remove_dir_all(out.join("eigenvalues=-2,1_shard=0%2F2")).unwrap();
    let resumed = sweep(&["--resume"]);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{err}");
    assert_eq!(err.matches("read back").count(), 3, "{err}");
    assert_eq!(err.matches("done").count(), 1, "{err}");
    assert_eq!(table(), whole);
    // --force replaces each point's run and nothing else in its directory.
    let note = out.join("eigenvalues=-1,2_shard=1%2F2").join("notes.txt");
    std::fs::write(&note, "mine").unwrap();
    let forced = sweep(&["--force", "--quiet"]);
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "mine");
    assert_eq!(table(), whole);
    // A finished point of another experiment is refused before anything runs.
    std::fs::write(&exp, "objective = \"quartic\"\nchains = 16\nsteps = 50\nbackend = \"cpu\"\nplots = \"none\"\n").unwrap();
    let other = sweep(&["--resume"]);
    let err = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{err}");
    assert!(err.contains("steps differ") && err.trim().lines().count() == 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--backend auto` (the default) takes a hardware GPU, else the CPU backend, and a software
/// adapter (lavapipe) only under `--backend gpu`; the summary says which ran and on what.
#[test]
fn auto_leaves_a_software_adapter_to_backend_gpu() {
    let adapters = escapade::Devices::adapters();
    if adapters.is_empty() || adapters.iter().any(|a| !a.is_software()) {
        eprintln!("needs software adapters only (lavapipe, as in CI); skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("escapade-cli-auto-{}", std::process::id()));
    let summary = |backend: &[&str]| {
        let out = dir.join(backend.len().to_string());
        let o = escapade(&[&["run", "--objective", "toy-saddle", "--chains", "16", "--steps", "10", "--plots", "none", "--out", out.to_str().unwrap()][..], backend].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        (s, String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (auto, err) = summary(&[]);
    assert_eq!(auto["backend"], "cpu");
    assert!(auto["adapter"].is_null(), "{}", auto["adapter"]);
    assert!(err.contains("software adapter") && err.contains(&adapters[0].name) && err.contains("ran on the CPU backend"), "{err}");
    let (gpu, _) = summary(&["--backend", "gpu"]);
    assert_eq!(gpu["backend"], "gpu");
    assert_eq!(gpu["adapter"]["name"].as_str(), Some(adapters[0].name.as_str()));
    let info = String::from_utf8_lossy(&escapade(&["info"]).stdout).to_string();
    assert!(info.contains("--backend auto runs on: the CPU backend"), "{info}");
    std::fs::remove_dir_all(&dir).ok();
}
