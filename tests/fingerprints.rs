//! Resume and merge check everything that defines a run: the objective's source (a custom WGSL
//! file edited between an interrupt and --resume), its data (two rows of A swapped), every
//! option that changes results (the certification rule), and say which of them differ.

mod common;

use escapade::objective::{DataSource, WgslObjective};
use escapade::{CheckpointSpec, Error, Experiment, Init, MethodKind, Objective, ObjectiveSpec, Runner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-fingerprints-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn experiment(obj: Arc<dyn Objective>) -> Experiment {
    Experiment::builder(obj).method(MethodKind::Pgd).chains(256).steps(400).seed(5).init(Init::Normal(0.5)).build().unwrap()
}

/// Leaves a checkpoint of `exp` on `runner` in `dir` (interrupted after its first save).
fn interrupted(runner: Runner, exp: &Experiment, dir: &Path) -> CheckpointSpec {
    let spec = CheckpointSpec { interrupt_after: Some(1), ..CheckpointSpec::new(dir, Duration::ZERO) };
    match runner.checkpoint(spec, false).run(exp) {
        Err(Error::Interrupted(_)) => CheckpointSpec::new(dir, Duration::ZERO),
        other => panic!("no checkpoint: {:?}", other.map(|r| r.counts)),
    }
}

/// The one-line refusal of resuming `exp` from `spec`, which must name `what`.
fn refused(runner: Runner, exp: &Experiment, spec: &CheckpointSpec, what: &str) {
    match runner.checkpoint(spec.clone(), true).run(exp) {
        Ok(_) => panic!("{what}: resumed"),
        Err(e) => {
            let msg = e.to_string();
            assert_eq!(e.exit_code(), 2, "{msg}");
            assert!(msg.contains(&format!("whose {what} differ")) && !msg.contains('\n'), "{msg}");
        }
    }
}

fn write_csv(path: &Path, rows: &[Vec<f64>]) {
    let text: String = rows.iter().map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n").collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn resume_refuses_data_with_two_rows_swapped() {
    let dir = tmp("data");
    let (d, m) = (4, 40);
    // Rows 64 floats apart collided under the old rotate-xor digest; any two rows must differ.
    let rows: Vec<Vec<f64>> = (0..m).map(|i| (0..d).map(|j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4).collect()).collect();
    let y: Vec<Vec<f64>> = rows.iter().map(|r| vec![r.iter().map(|v| v * 0.5).sum::<f64>().powi(2)]).collect();
    let (a, yp) = (dir.join("A.csv"), dir.join("y.csv"));
    write_csv(&a, &rows);
    write_csv(&yp, &y);
    let build = || experiment(ObjectiveSpec::PhaseRetrieval { dim: d, m, data: DataSource::Files(vec![a.clone(), yp.clone()]) }.build().unwrap());
    let spec = interrupted(Runner::cpu(), &build(), &dir.join("ck"));
    let mut swapped = rows.clone();
    swapped.swap(3, 19);
    write_csv(&a, &swapped);
    refused(Runner::cpu(), &build(), &spec, "data");
    // Put back, it resumes.
    write_csv(&a, &rows);
    assert!(Runner::cpu().checkpoint(spec, true).run(&build()).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn resume_refuses_another_certification_rule() {
    let dir = tmp("checks");
    let exp = experiment(common::objective("toy-saddle", 2));
    let spec = interrupted(Runner::cpu(), &exp, &dir.join("ck"));
    let mut other = exp.clone();
    other.checks.certify_eps = Some(1e-2);
    refused(Runner::cpu(), &other, &spec, "checks");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn resume_refuses_an_edited_wgsl_objective() {
    let Some(engine) = common::gpu() else { return };
    // Several dispatches, so that one checkpoint is saved before the end.
    let engine = engine.tuned(escapade::GpuSettings { steps_per_dispatch: Some(50), ..Default::default() }).unwrap();
    let dir = tmp("wgsl");
    let source = |k: &str| {
        format!("fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {{\n    (*g)[0] = {k} * (*x)[0];\n    (*g)[1] = -(*x)[1];\n    return Eval(0.5 * {k} * (*x)[0] * (*x)[0] - 0.5 * (*x)[1] * (*x)[1], 0u, 1u);\n}}\n")
    };
    let path = dir.join("f.wgsl");
    let build = |k: &str| experiment(Arc::new(WgslObjective::from_source(&path, source(k), 2, None).unwrap()));
    let spec = interrupted(Runner::gpu(&engine), &build("1.0"), &dir.join("ck"));
    refused(Runner::gpu(&engine), &build("2.0"), &spec, "objective_source");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn merge_refuses_shards_of_another_certification_rule_naming_it() {
    let dir = tmp("merge");
    let shard = |i: &str, eps: &str| {
        let out = dir.join(format!("s{i}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_escapade"))
            .args(["run", "--objective", "toy-saddle", "--method", "pgd", "--chains", "64", "--steps", "100", "--backend", "cpu", "--plots", "none", "--quiet"])
            .args(["--shard", &format!("{i}/2"), "--certify-eps", eps, "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (a, b) = (shard("0", "1e-3"), shard("1", "1e-2"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_escapade")).args(["merge", a.to_str().unwrap(), b.to_str().unwrap(), "--out"]).arg(dir.join("m")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("checks differ") && err.trim().lines().count() == 1, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
