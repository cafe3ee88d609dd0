//! Hostile input: each bad or conflicting input gets one line naming what is wrong and exit
//! status 2 (the brief's contract), never a silent reinterpretation; runs never overwrite runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn escapade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Exit status 2 with one line on stderr containing every fragment.
fn bad(args: &[&str], fragments: &[&str]) {
    let out = escapade(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    for f in fragments {
        assert!(err.contains(f), "{args:?}: {err} lacks {f:?}");
    }
}

fn ok(args: &[&str]) -> String {
    let out = escapade(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const TINY: [&str; 8] = ["--chains", "16", "--steps", "20", "--backend", "cpu", "--plots", "none"];

fn run_into(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--objective", "toy-saddle", "--quiet", "--out", dir.to_str().unwrap()];
    args.extend(TINY);
    args.extend(extra);
    escapade(&args)
}

#[test]
fn conflicting_and_out_of_range_flags_are_refused() {
    let d = tmp("flags");
    let a = d.join("A.csv");
    let y = d.join("y.csv");
    std::fs::write(&a, (0..50).map(|i| format!("{},{},{},{},{}\n", i % 3, 1, -1, 0.5, i % 2)).collect::<String>()).unwrap();
    std::fs::write(&y, (0..50).map(|i| format!("{}\n", i % 3)).collect::<String>()).unwrap();
    let data = format!("{},{}", a.display(), y.display());
    let pr = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["run", "--objective", "phase-retrieval", "--data", data.as_str()].map(String::from).to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    for (extra, fragments) in [
        (&["--dim", "7"][..], &["dim", "7", "5"][..]),
        (&["--m", "20"], &["m", "--data"]),
        (&["--method", "sgd", "--batch", "1000"], &["batch", "50"]),
    ] {
        let args = pr(extra);
        bad(&args.iter().map(String::as_str).collect::<Vec<_>>(), fragments);
    }
    bad(&["run", "--eta", "1e39"], &["eta", "f32"]);
    bad(&["run", "--radius", "1e300"], &["radius", "f32"]);
    bad(&["run", "--resume-anyway"], &["resume"]);
    // Beyond the GPU kernel's dimension: refused on --backend gpu, run on the CPU by auto.
    let wide = tmp("wide");
    bad(&["run", "--objective", "quartic", "--dim", "300", "--steps", "2", "--chains", "2", "--backend", "gpu", "--out", wide.to_str().unwrap()], &["256", "--backend cpu"]);
    let o = escapade(&["run", "--objective", "quartic", "--dim", "300", "--steps", "2", "--chains", "2", "--plots", "none", "--out", wide.to_str().unwrap()]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stderr).contains("ran on the CPU backend"), "{}", String::from_utf8_lossy(&o.stderr));
    // Runs the host cannot hold are refused before anything is allocated (they used to abort).
    let out = tmp("huge");
    bad(&["run", "--chains", "4000000000", "--backend", "cpu", "--out", out.to_str().unwrap()], &["memory", "GB"]);
    bad(&["run", "--trace-chains", "4096", "--trace-every", "1", "--steps", "1000000", "--backend", "cpu", "--out", out.to_str().unwrap()], &["memory"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn experiment_files_are_read_wherever_they_are_or_refused() {
    let d = tmp("files");
    let exp = d.join("Exp.TOML");
    std::fs::write(&exp, "objective = \"quartic\"\ndim = 3\nchains = 8\nsteps = 10\nbackend = \"cpu\"\nplots = \"none\"\n").unwrap();
    for (tag, args) in [("late", vec!["run", "--quiet", exp.to_str().unwrap()]), ("config", vec!["run", "--quiet", "--config", exp.to_str().unwrap()])] {
        let out = d.join(tag);
        let mut a = args.clone();
        a.extend(["--out", out.to_str().unwrap()]);
        ok(&a);
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["objective"]["name"], "quartic", "{tag}: the file was not read");
    }
    let txt = d.join("exp.txt");
    std::fs::write(&txt, "objective = \"quartic\"\n").unwrap();
    bad(&["run", txt.to_str().unwrap()], &["experiment"]);
    let twice = d.join("twice.toml");
    std::fs::write(&twice, "g-thres = 0.1\ng_thres = 0.2\n").unwrap();
    bad(&["run", twice.to_str().unwrap()], &["g_thres", "once"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_run_never_overwrites_another() {
    let d = tmp("out");
    assert!(run_into(&d, &[]).status.success());
    let before = std::fs::read(d.join("chains.csv")).unwrap();
    let out = run_into(&d, &["--seed", "5"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read(d.join("chains.csv")).unwrap(), before, "the refused run touched the old one");
    std::fs::create_dir_all(d.join("plots")).unwrap();
    std::fs::write(d.join("trace.csv"), "stale").unwrap();
    assert!(run_into(&d, &["--seed", "5", "--force"]).status.success());
    assert_ne!(std::fs::read(d.join("chains.csv")).unwrap(), before);
    assert!(!d.join("trace.csv").exists() && !d.join(".writing").exists(), "--force left the old run's files");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn sweeps_check_every_point_before_running_any() {
    let d = tmp("sweep");
    let exp = d.join("exp.toml");
    std::fs::write(&exp, "objective = \"toy-saddle\"\nchains = 8\nsteps = 10\nbackend = \"cpu\"\nplots = \"none\"\n").unwrap();
    let out = d.join("grid");
    bad(&["sweep", exp.to_str().unwrap(), "--grid", "method=gd,adam", "--out", out.to_str().unwrap()], &["method", "adam"]);
    assert!(!out.join("method=gd").exists(), "a point ran before the bad one was found");
    bad(&["sweep", exp.to_str().unwrap(), "--grid", "seed=1,2", "--grid", "seed=3", "--out", out.to_str().unwrap()], &["grid", "once"]);
    bad(&["sweep", exp.to_str().unwrap(), "--grid", "eta=0.1,1e39", "--out", out.to_str().unwrap()], &["grid", "eta"]);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn saved_runs_are_checked_before_they_are_reported() {
    let d = tmp("report");
    assert!(run_into(&d, &["--init", "zero", "--steps", "300"]).status.success());
    ok(&["report", d.to_str().unwrap(), "--plots", "none"]);
    let damage = |name: &str, f: &dyn Fn(&str) -> String, fragments: &[&str]| {
        let copy = tmp(&format!("report-{name}"));
        for f in ["summary.json", "events.csv", "chains.csv"] {
            std::fs::copy(d.join(f), copy.join(f)).unwrap();
        }
        let p = copy.join(name);
        std::fs::write(&p, f(&std::fs::read_to_string(&p).unwrap())).unwrap();
        bad(&["report", copy.to_str().unwrap(), "--plots", "none"], fragments);
        std::fs::remove_dir_all(&copy).ok();
    };
    damage("summary.json", &|s| s.replace("\"schema_version\": 3", "\"schema_version\": 99"), &["schema_version"]);
    damage("events.csv", &|s| {
        let row = s.lines().nth(1).unwrap().to_string();
        format!("{s}{row}\n")
    }, &["events.csv", "one event per stall"]);
    damage("chains.csv", &|s| {
        let mut lines: Vec<&str> = s.lines().collect();
        lines.swap(1, 2);
        lines.join("\n") + "\n"
    }, &["chains.csv", "chain"]);
    damage("chains.csv", &|s| s.replace("converged", "cooked"), &["chains.csv"]);
    std::fs::remove_dir_all(&d).ok();
}
