//! The output directory is the run's alone and is replaced only with everything checked: a
//! second run into it is refused while the first holds it, --force removes exactly the files
//! escapade wrote (never a user's), a run that cannot start leaves the run there as it was, and
//! results move in whole.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn escapade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

/// A small CPU run into `out` with `seed`, plus `extra` flags.
fn run(out: &Path, seed: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--objective", "toy-saddle", "--method", "pgd", "--chains", "64", "--steps", "200", "--seed", seed];
    args.extend(["--backend", "cpu", "--plots", "svg", "--progress", "none", "--quiet", "--out", out.to_str().unwrap()]);
    args.extend(extra);
    escapade(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn summary_seed(out: &Path) -> serde_json::Value {
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    s["seed"].clone()
}

#[test]
fn a_second_run_into_a_held_directory_is_refused_naming_the_holder() {
    let out = tmp("concurrent");
    // The first run: long enough to be running when the second starts.
    let first = Command::new(env!("CARGO_BIN_EXE_escapade"))
        .args(["run", "--objective", "quartic", "--dim", "8", "--chains", "4096", "--steps", "200000", "--seed", "1", "--backend", "cpu"])
        .args(["--progress", "none", "--plots", "none", "--quiet", "--checkpoint-every", "off", "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.join(".lock").exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let second = run(&out, "2", &[]);
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("held by escapade process {}", first.id())) && err.trim().lines().count() == 1, "{err}");
    // --force does not take a held directory either.
    let forced = run(&out, "2", &["--force"]);
    assert_eq!(forced.status.code(), Some(2), "{}", stderr(&forced));
    let mut first = first;
    let _ = first.kill();
    let _ = first.wait();
    // The holder is gone (however it ended): the directory is free again.
    let third = run(&out, "3", &[]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert_eq!(summary_seed(&out), 3);
    let toml = std::fs::read_to_string(out.join("experiment.toml")).unwrap();
    assert!(toml.contains("seed = 3"), "{toml}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn force_removes_exactly_the_files_escapade_wrote() {
    let out = tmp("force");
    assert!(run(&out, "1", &[]).status.success());
    let manifest = std::fs::read_to_string(out.join(".manifest")).unwrap();
    assert!(manifest.lines().any(|l| l == "plots/survival.svg") && manifest.lines().last() == Some("summary.json"), "{manifest}");
    std::fs::write(out.join("plots").join("my-figure.svg"), "mine").unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let again = run(&out, "2", &["--force", "--plots", "none"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(summary_seed(&out), 2);
    assert!(!out.join("plots").join("survival.svg").exists(), "the old run's plot stayed");
    assert_eq!(std::fs::read_to_string(out.join("plots").join("my-figure.svg")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_replacement_that_cannot_start_leaves_the_run_as_it_was() {
    let out = tmp("refused");
    assert!(run(&out, "1", &[]).status.success());
    let before = std::fs::read(out.join("events.csv")).unwrap();
    // A WGSL-only objective cannot run on the CPU backend: refused before anything is removed.
    let wgsl = out.with_extension("wgsl");
    std::fs::write(&wgsl, "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    (*g)[0] = 2.0 * (*x)[0];\n    (*g)[1] = 0.0;\n    return Eval((*x)[0] * (*x)[0], 0u, 1u);\n}\n").unwrap();
    let o = escapade(&["run", "--wgsl", wgsl.to_str().unwrap(), "--dim", "2", "--backend", "cpu", "--force", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(summary_seed(&out), 1);
    assert_eq!(std::fs::read(out.join("events.csv")).unwrap(), before);
    assert!(out.join("plots").join("survival.svg").exists());
    std::fs::remove_file(&wgsl).ok();
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_any_step() {
    let base = tmp("unwritable");
    std::fs::create_dir_all(&base).unwrap();
    let file = base.join("f");
    std::fs::write(&file, "a file").unwrap();
    let dangling = base.join("dangling");
    #[cfg(unix)]
    std::os::unix::fs::symlink(base.join("nowhere"), &dangling).unwrap();
    let blocked = base.join("blocked");
    std::fs::create_dir_all(blocked.join("events.csv")).unwrap();
    for (out, says) in [(file.join("sub"), "can be created"), (file.clone(), "this is a file"), (dangling, "symbolic link to nothing"), (blocked, "events.csv")] {
        // A budget that would take minutes: the refusal must come first.
        let start = Instant::now();
        let o = escapade(&["run", "--objective", "quartic", "--dim", "8", "--chains", "4096", "--steps", "10000000", "--backend", "cpu", "--out", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", out.display());
        assert!(err.contains(says) && err.trim().lines().count() == 1, "{}: {err}", out.display());
        assert!(start.elapsed() < Duration::from_secs(30), "{}: refused only after stepping", out.display());
    }
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn where_to_write_is_never_recorded_or_read_from_a_file() {
    let out = tmp("recorded");
    assert!(run(&out, "1", &["--force"]).status.success());
    let toml = std::fs::read_to_string(out.join("experiment.toml")).unwrap();
    for key in ["force", "resume", "out "] {
        assert!(!toml.lines().any(|l| l.starts_with(key)), "{key} recorded: {toml}");
    }
    // Rerunning the recorded experiment never replaces the run it came from (it goes to --out's
    // default, or where it is told).
    let again = out.join("again");
    let o = escapade(&["run", out.join("experiment.toml").to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("events.csv")).unwrap(), std::fs::read(again.join("events.csv")).unwrap());
    // A file may not say force or resume.
    for key in ["force = true", "resume = true", "resume_anyway = true"] {
        let file = out.join("bad.toml");
        std::fs::write(&file, format!("objective = \"toy-saddle\"\n{key}\n")).unwrap();
        let o = escapade(&["run", file.to_str().unwrap(), "--out", out.join("x").to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{key}: {err}");
        assert!(err.contains("on the command line") && err.trim().lines().count() == 1, "{key}: {err}");
    }
    std::fs::remove_dir_all(&out).ok();
}

/// A file-size limit (as a full disk) ends the run in one line naming the file, exit 1: no
/// half-written results, no stage left behind, and the last checkpoint intact, from which
/// --resume gives the uninterrupted run's results.
#[cfg(unix)]
#[test]
fn a_file_size_limit_ends_the_run_in_one_line_and_keeps_the_checkpoint() {
    let out = tmp("xfsz");
    let whole = tmp("xfsz-whole");
    let flags = |dir: &Path| {
        format!(
            "run --objective toy-saddle --method pgd --chains 2048 --steps 2000 --seed 4 --backend cpu --progress none --plots none --quiet --trace-chains 16 --trace-every 1 --checkpoint-every 0 --out {}",
            dir.display()
        )
    };
    // trace.csv (2.2 MB) is past 1000 KiB; every checkpoint file (at most 260 KB) is not.
    let o = Command::new("bash").arg("-c").arg(format!("ulimit -f 1000; exec {} {}", env!("CARGO_BIN_EXE_escapade"), flags(&out))).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("trace.csv") && err.contains("File too large") && err.trim().lines().count() == 1, "{err}");
    assert!(!out.join("summary.json").exists() && !out.join(".writing").exists(), "half results left behind");
    assert!(out.join("checkpoint").join("meta.json").exists(), "the checkpoint was lost");
    let resumed = escapade(&flags(&out).split(' ').chain(["--resume"]).collect::<Vec<_>>());
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(escapade(&flags(&whole).split(' ').collect::<Vec<_>>()).status.success());
    for f in ["events.csv", "chains.csv", "trace.csv"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(whole.join(f)).unwrap(), "{f}");
    }
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&whole).ok();
}
