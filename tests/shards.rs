//! Past one machine: the shards of an ensemble (`run --shard I/N`) merge into exactly the whole
//! run (`escapade merge`): chains.csv and events.csv byte for byte, the statistics equal.

use std::path::{Path, PathBuf};
use std::process::Command;

fn escapade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

fn ok(args: &[&str]) {
    let o = escapade(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn run(out: &Path, backend: &str, shard: Option<&str>) {
    let mut args = vec![
        "run", "--objective", "octopus", "--dim", "5", "--method", "pgd", "--chains", "3001", "--steps", "300", "--seed", "9",
        "--init", "uniform:1", "--backend", backend, "--plots", "none", "--quiet", "--out", out.to_str().unwrap(),
    ];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    ok(&args);
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn shards_merge_into_the_whole_run(backend: &str) {
    let Some(_) = (backend == "cpu").then_some(()).or_else(|| common_gpu().then_some(())) else { return };
    let base = std::env::temp_dir().join(format!("escapade-shards-{}-{backend}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let whole = base.join("whole");
    run(&whole, backend, None);
    let parts: Vec<PathBuf> = (0..3).map(|i| base.join(format!("part{i}"))).collect();
    for (i, p) in parts.iter().enumerate() {
        run(p, backend, Some(&format!("{i}/3")));
    }
    let merged = base.join("merged");
    // A missing shard and a repeated one are refused.
    let strs = |v: &[&PathBuf]| v.iter().map(|p| p.to_str().unwrap().to_string()).collect::<Vec<_>>();
    for dirs in [strs(&[&parts[0], &parts[2]]), strs(&[&parts[0], &parts[1], &parts[1]])] {
        let mut args = vec!["merge".to_string()];
        args.extend(dirs);
        args.extend(["--out".into(), merged.to_str().unwrap().into()]);
        let o = escapade(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut args = vec!["merge"];
    let p: Vec<String> = strs(&[&parts[2], &parts[0], &parts[1]]);
    args.extend(p.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    ok(&args);
    for f in ["chains.csv", "events.csv"] {
        assert!(std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap(), "{backend}: merged {f} differs from the whole run's");
    }
    let (w, m) = (summary(&whole), summary(&merged));
    for key in ["counts", "survival", "escape_time", "escape_time_by_label", "escape_time_histogram", "final_labels", "step_size", "label_cross_check", "sosp_rule", "check_notes"] {
        assert_eq!(w[key], m[key], "{backend}: {key}");
    }
    for key in ["checked", "sosp", "lambda_min"] {
        assert_eq!(w["certification"][key], m["certification"][key], "{backend}: certification.{key}");
    }
    assert!(w["counts"]["escape_events"].as_u64().unwrap() > 3000);
    // The merged run reads back like any run.
    ok(&["report", merged.to_str().unwrap(), "--plots", "none"]);
    std::fs::remove_dir_all(&base).ok();
}

fn common_gpu() -> bool {
    let o = escapade(&["info"]);
    let found = o.status.success();
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no GPU adapter: {}", String::from_utf8_lossy(&o.stderr));
    }
    found
}

#[test]
fn cpu_shards_merge_into_the_whole_run() {
    shards_merge_into_the_whole_run("cpu");
}

#[test]
fn gpu_shards_merge_into_the_whole_run() {
    shards_merge_into_the_whole_run("gpu");
}

#[test]
fn shards_of_the_cpu_and_the_gpu_merge_saying_so() {
    if !common_gpu() {
        return;
    }
    let base = std::env::temp_dir().join(format!("escapade-shards-mixed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (cpu, gpu, merged) = (base.join("cpu"), base.join("gpu"), base.join("merged"));
    run(&cpu, "cpu", Some("0/2"));
    run(&gpu, "gpu", Some("1/2"));
    ok(&["merge", cpu.to_str().unwrap(), gpu.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    let m = summary(&merged);
    assert_eq!(m["merged_engines"].as_array().map(Vec::len), Some(2), "{}", m["merged_engines"]);
    let notes = m["check_notes"].to_string();
    assert!(notes.contains("different engines") && notes.contains("cpu"), "{notes}");
    std::fs::remove_dir_all(&base).ok();
}
