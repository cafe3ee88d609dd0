//! Interrupted runs resume to exactly the results of an uninterrupted run.

mod common;

use escapade::CheckpointSpec;
use escapade::{Engine, Error, Experiment, GpuSettings, Init, MethodKind, ObjectiveSpec, Report, Runner};
use std::time::Duration;

fn exp(chains: u32) -> Experiment {
    Experiment::builder(ObjectiveSpec::from_name("octopus", 4).unwrap().build().unwrap())
        .method(MethodKind::Pgd)
        .chains(chains)
        .steps(400)
        .seed(12)
        .init(Init::Uniform(1.0))
        .trace(4, 10)
        .build()
        .unwrap()
}

fn same(a: &Report, b: &Report) {
    assert!(a.raw.states == b.raw.states, "states differ");
    assert!(a.raw.x == b.raw.x, "points differ");
    assert!(a.raw.events == b.raw.events, "events differ");
    assert!(a.raw.trace == b.raw.trace, "traces differ");
    assert!(a.raw.monitor == b.raw.monitor, "the monitor's tallies differ");
}

/// Interrupts after each of `cuts` saves in turn, resuming every time, then finishes.
fn interrupted(e: &Experiment, engine: Engine, tag: &str, cuts: &[u32]) -> Report {
    let dir = std::env::temp_dir().join(format!("escapade-resume-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = |interrupt_after| CheckpointSpec { interrupt_after, ..CheckpointSpec::new(&dir, Duration::ZERO) };
    let mut resume = false;
    for &n in cuts {
        match Runner::new(engine).checkpoint(spec(Some(n)), resume).run(e) {
            Err(Error::Interrupted(_)) => {}
            other => panic!("expected an interruption, got {:?}", other.map(|r| r.counts)),
        }
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        // Every cut here falls inside the chains in flight (a block or shard part-way through).
        assert!(meta["current"]["t_end"].as_u64().is_some_and(|t| t > 0 && t < u64::from(e.steps)), "{meta}");
        resume = true;
    }
    let r = Runner::new(engine).checkpoint(spec(None), true).run(e).unwrap();
    // The throughput counts only the steps taken after the last resume.
    assert!(r.raw.resumed_chain_steps > 0 && r.raw.resumed_chain_steps < r.chain_steps, "{} of {}", r.raw.resumed_chain_steps, r.chain_steps);
    // A checkpoint of another experiment is refused.
    let other = Experiment::builder(ObjectiveSpec::from_name("octopus", 4).unwrap().build().unwrap()).chains(e.chains).seed(99).build().unwrap();
    if dir.join("meta.json").exists() {
        let err = Runner::new(engine).checkpoint(spec(None), true).run(&other).unwrap_err().to_string();
        assert!(err.contains("resume"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
    r
}

#[test]
fn cpu_runs_resume_exactly() {
    // 20000 chains in one block, cut after its first slice of steps and again after the next.
    let e = exp(20_000);
    let whole = Runner::cpu().run(&e).unwrap();
    let resumed = interrupted(&e, Engine::Cpu, "cpu", &[1, 1]);
    assert!(whole.counts.escape_events > 20_000);
    same(&whole, &resumed);
}

#[test]
fn gpu_runs_resume_exactly_even_mid_shard() {
    let Some(engine) = common::gpu() else { return };
    let e = exp(3000);
    let engine = engine.tuned(GpuSettings { steps_per_dispatch: Some(40), max_chains_per_shard: Some(1000), ..Default::default() }).unwrap();
    let whole = Runner::gpu(&engine).run(&e).unwrap();
    // Cut mid-way through shard 0, then twice more (in shards 0 and 1).
    let resumed = interrupted(&e, Engine::Gpu(&engine), "gpu", &[3, 5, 9]);
    same(&whole, &resumed);
}

#[test]
fn the_command_line_resumes_an_interrupted_run() {
    let dir = std::env::temp_dir().join(format!("escapade-resume-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let e = Experiment::builder(ObjectiveSpec::from_name("octopus", 5).unwrap().build().unwrap())
        .method(MethodKind::Pgd)
        .chains(20_000)
        .steps(100)
        .seed(3)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap();
    let spec = CheckpointSpec { interrupt_after: Some(1), ..CheckpointSpec::new(dir.join("run/checkpoint"), Duration::ZERO) };
    assert!(matches!(Runner::cpu().checkpoint(spec, false).run(&e), Err(Error::Interrupted(_))));
    let cli = |out: &str, extra: &[&str]| {
        let mut args = vec!["run", "--objective", "octopus", "--dim", "5", "--chains", "20000", "--steps", "100", "--seed", "3", "--backend", "cpu", "--quiet", "--plots", "none", "--out", out];
        args.extend_from_slice(extra);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_escapade")).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (resumed, fresh) = (dir.join("run"), dir.join("fresh"));
    cli(resumed.to_str().unwrap(), &["--resume"]);
    cli(fresh.to_str().unwrap(), &[]);
    for f in ["events.csv", "chains.csv"] {
        assert_eq!(std::fs::read(resumed.join(f)).unwrap(), std::fs::read(fresh.join(f)).unwrap(), "{f}");
    }
    assert!(!resumed.join("checkpoint").exists(), "the checkpoint outlived the results");
    std::fs::remove_dir_all(&dir).ok();
}
