//! Interrupts are honoured in every long phase, and inputs that could block or never end are
//! refused before they are opened.

#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-signals-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A run whose stepping takes a moment and whose certification (16384 resting points at d = 64,
/// Lanczos on f64 Hessian products) takes seconds.
fn certifying(out: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_escapade"));
    c.args(["run", "--objective", "quartic", "--dim", "64", "--chains", "16384", "--steps", "20", "--seed", "3", "--backend", "cpu"])
        .args(["--plots", "none", "--progress", "none", "--quiet", "--out", out.to_str().unwrap()]);
    c
}

/// Starts `cmd`, sends SIGINT after `ms` milliseconds and checks that it ends with status 130
/// within 3 s; its stderr.
fn interrupted(cmd: &mut Command, ms: u64) -> String {
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let sent = Instant::now();
    let result = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(result.status.code(), Some(130), "{err}");
    assert!(sent.elapsed() < Duration::from_secs(3), "the interrupt took {:?}", sent.elapsed());
    err
}

#[test]
fn sigint_during_certification_saves_the_stepped_run_and_exits_130() {
    let (out, whole) = (tmp("certify"), tmp("certify-whole"));
    // Stepping 20 steps takes well under a second; certification several.
    let err = interrupted(certifying(&out).stderr(Stdio::piped()), 1500);
    assert!(err.contains("--resume") && !out.join("summary.json").exists(), "{err}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["done"], 16384, "the stepped chains were not saved: {meta}");
    // The resume only judges, and gives the uninterrupted run's verdicts.
    let resumed = certifying(&out).arg("--resume").output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(certifying(&whole).output().unwrap().status.success());
    for f in ["events.csv", "chains.csv"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(whole.join(f)).unwrap(), "{f}");
    }
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&whole).ok();
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_before_opening() {
    let d = tmp("fifo");
    std::fs::create_dir_all(&d).unwrap();
    let fifo = d.join("A.npy");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let toml = d.join("exp.toml");
    assert!(Command::new("mkfifo").arg(&toml).status().unwrap().success());
    let out = d.join("out");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["run".into(), "--objective".into(), "phase-retrieval".into(), "--data".into(), format!("{},/dev/zero", fifo.display())], "a FIFO"),
        (vec!["run".into(), "--objective".into(), "phase-retrieval".into(), "--data".into(), "/dev/zero,/dev/zero".into()], "a device"),
        (vec!["run".into(), toml.display().to_string()], "a FIFO"),
        (vec!["run".into(), "--wgsl".into(), "/dev/zero".into(), "--dim".into(), "2".into()], "a device"),
    ];
    for (args, says) in cases {
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_escapade"))
            .args(&args)
            .args(["--backend", "cpu", "--out", out.to_str().unwrap()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a blocked open would hang here.
        while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            panic!("{args:?}: still running after 20 s");
        }
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says) && err.trim().lines().count() == 1, "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn sigint_during_check_descents_exits_130_and_writes_nothing() {
    let out = tmp("check");
    // 9 scales x 400 starts of up to 100000 Armijo steps at d = 64: minutes without the interrupt.
    let mut check = Command::new(env!("CARGO_BIN_EXE_escapade"));
    check.args(["check", "--objective", "quartic", "--dim", "64", "--starts", "400", "--descent-steps", "100000", "--plots", "none"]);
    let err = interrupted(check.args(["--out", out.to_str().unwrap()]).stderr(Stdio::piped()).stdout(Stdio::piped()), 1000);
    assert!(err.contains("interrupted") && err.trim().lines().count() == 1 && !out.join("check.json").exists(), "{err}");
    std::fs::remove_dir_all(&out).ok();
}
