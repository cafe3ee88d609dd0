//! Nothing computed is lost or silently corrupted: a damaged or foreign checkpoint is refused
//! with a clear error (exit status 2) naming the file, never resumed into wrong results; a run
//! never overwrites another.

mod common;

use escapade::{CheckpointSpec, Engine, Error, Experiment, Init, MethodKind, ObjectiveSpec, Runner};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn exp() -> Experiment {
    Experiment::builder(ObjectiveSpec::from_name("octopus", 4).unwrap().build().unwrap())
        .method(MethodKind::Pgd)
        // Two CPU blocks at d = 4 (65536 chains each).
        .chains(70_000)
        .steps(60)
        .seed(21)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-integrity-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A checkpoint of `e` on `engine` holding escape events, chains in flight and (CPU) finished
/// chains:
/// the first save with all three (a CPU run saves after each slice of steps; how many slices a
/// block takes depends on their measured time).
fn checkpoint(e: &Experiment, engine: Engine, dir: &Path) -> CheckpointSpec {
    for saves in 1.. {
        let spec = CheckpointSpec { interrupt_after: Some(saves), ..CheckpointSpec::new(dir, Duration::ZERO) };
        match Runner::new(engine).checkpoint(spec, false).run(e) {
            Err(Error::Interrupted(_)) => {}
            other => panic!("no checkpoint with finished chains, events and chains in flight: {:?}", other.map(|r| r.counts)),
        }
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        let finished = matches!(engine, Engine::Gpu(_)) || meta["done"].as_u64() > Some(0);
        if finished && meta["current"]["t_end"].as_u64() > Some(0) && meta["parts"]["events.bin"]["bytes"].as_u64() > Some(0) {
            break;
        }
    }
    CheckpointSpec::new(dir, Duration::ZERO)
}

fn refused(e: &Experiment, spec: &CheckpointSpec, what: &str) -> String {
    match Runner::cpu().checkpoint(spec.clone(), true).run(e) {
        Ok(r) => panic!("{what}: resumed into results ({} escape events)", r.counts.escape_events),
        Err(err) => {
            assert_eq!(err.exit_code(), 2, "{what}: {err}");
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "{what}: {msg}");
            msg
        }
    }
}

#[test]
fn every_damage_to_a_checkpoint_is_refused_by_name() {
    let e = exp();
    let base = tmp("cpu");
    let pristine = base.join("pristine");
    checkpoint(&e, Engine::Cpu, &pristine);
    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Damage)> = vec![
        ("done edited in meta.json", Box::new(|d| edit_meta(d, |m| m["done"] = 4096.into()))),
        ("done beyond the ensemble", Box::new(|d| edit_meta(d, |m| m["done"] = 80_000.into()))),
        ("a part's checksum edited", Box::new(|d| edit_meta(d, |m| m["parts"]["x.bin"]["crc32"] = 1.into()))),
        ("format from the future", Box::new(|d| edit_meta(d, |m| m["format"] = 99.into()))),
        ("meta.json not JSON", Box::new(|d| std::fs::write(d.join("meta.json"), "{ not json").unwrap())),
        ("events.bin zeroed", Box::new(|d| zero(&d.join("events.bin")))),
        ("states.bin one byte flipped", Box::new(|d| flip(&d.join("states.bin")))),
        ("x.bin truncated", Box::new(|d| truncate(&d.join("x.bin")))),
        ("events.bin truncated", Box::new(|d| truncate(&d.join("events.bin")))),
        ("trace.bin missing", Box::new(|d| std::fs::remove_file(d.join("trace.bin")).unwrap())),
        ("current_x.bin truncated", Box::new(|d| truncate(&d.join("current_x.bin")))),
        ("current_states.bin one byte flipped", Box::new(|d| flip(&d.join("current_states.bin")))),
        ("t_end of the chains in flight edited", Box::new(|d| edit_meta(d, |m| m["current"]["t_end"] = 7.into()))),
        ("written by another engine", Box::new(|d| edit_meta(d, |m| m["engine"] = "gpu elsewhere".into()))),
        ("another experiment's", Box::new(|d| edit_meta(d, |m| m["fingerprint"] = "{}".into()))),
    ];
    let mut messages = Vec::new();
    for (what, damage) in &cases {
        let dir = base.join(what.replace(' ', "-"));
        copy_dir(&pristine, &dir);
        damage(&dir);
        let msg = refused(&e, &CheckpointSpec::new(&dir, Duration::ZERO), what);
        println!("{what}: {msg}");
        messages.push(msg);
    }
    // The pristine copy resumes, and exactly into the uninterrupted run.
    let whole = Runner::cpu().run(&e).unwrap();
    let resumed = Runner::cpu().checkpoint(CheckpointSpec::new(&pristine, Duration::ZERO), true).run(&e).unwrap();
    assert!(whole.raw.states == resumed.raw.states && whole.raw.events == resumed.raw.events);
    // Another engine's checkpoint resumes only when asked, and the report says so.
    let other = base.join("other-engine");
    copy_dir(&pristine, &other);
    edit_meta(&other, |m| m["engine"] = "gpu elsewhere".into());
    let spec = CheckpointSpec { resume_anyway: true, ..CheckpointSpec::new(&other, Duration::ZERO) };
    let mixed = Runner::cpu().checkpoint(spec, true).run(&e).unwrap();
    assert!(mixed.check_notes.iter().any(|n| n.contains("--resume-anyway")), "{:?}", mixed.check_notes);
    std::fs::remove_dir_all(&base).ok();
}

/// A save cut between its two renames leaves the previous checkpoint as DIR.old: it is found.
#[test]
fn a_save_cut_between_renames_keeps_the_previous_checkpoint() {
    let e = exp();
    let base = tmp("old");
    let dir = base.join("checkpoint");
    checkpoint(&e, Engine::Cpu, &dir);
    std::fs::rename(&dir, dir.with_extension("old")).unwrap();
    let whole = Runner::cpu().run(&e).unwrap();
    let resumed = Runner::cpu().checkpoint(CheckpointSpec::new(&dir, Duration::ZERO), true).run(&e).unwrap();
    assert!(whole.raw.states == resumed.raw.states && whole.raw.events == resumed.raw.events);
    std::fs::remove_dir_all(&base).ok();
}

/// A GPU shard in flight with a truncated part is refused; an intact one resumes exactly.
#[test]
fn a_damaged_gpu_shard_in_flight_is_refused() {
    let Some(engine) = common::gpu() else { return };
    let engine = engine.tuned(escapade::GpuSettings { steps_per_dispatch: Some(10), ..Default::default() }).unwrap();
    let e = exp();
    let base = tmp("gpu");
    let dir = base.join("checkpoint");
    checkpoint(&e, Engine::Gpu(&engine), &dir);
    assert!(dir.join("current_states.bin").exists(), "no shard in flight was saved");
    let damaged = base.join("damaged");
    copy_dir(&dir, &damaged);
    truncate(&damaged.join("current_states.bin"));
    let err = Runner::gpu(&engine).checkpoint(CheckpointSpec::new(&damaged, Duration::ZERO), true).run(&e).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("current_states.bin"), "{err}");
    let whole = Runner::gpu(&engine).run(&e).unwrap();
    let resumed = Runner::gpu(&engine).checkpoint(CheckpointSpec::new(&dir, Duration::ZERO), true).run(&e).unwrap();
    assert!(whole.raw.states == resumed.raw.states && whole.raw.events == resumed.raw.events);
    std::fs::remove_dir_all(&base).ok();
}

fn edit_meta(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join("meta.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(p, m.to_string()).unwrap();
}

fn zero(p: &Path) {
    let n = std::fs::metadata(p).unwrap().len() as usize;
    std::fs::write(p, vec![0u8; n]).unwrap();
}

fn flip(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x40;
    std::fs::write(p, b).unwrap();
}

fn truncate(p: &Path) {
    let b = std::fs::read(p).unwrap();
    std::fs::write(p, &b[..b.len() / 2]).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// SIGINT writes a checkpoint at the next dispatch (GPU) or slice of steps (CPU, in the middle
/// of a chain block) and exits with 130, naming --resume; the checkpoint it leaves is intact.
#[cfg(unix)]
fn sigint_checkpoints_and_exits_130(backend: &str, chains: &str) {
    let out = tmp(&format!("sigint-{backend}"));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_escapade"))
        .args(["run", "--objective", "octopus", "--dim", "5", "--chains", chains, "--steps", "4000000", "--steps-per-dispatch", "64"])
        .args(["--backend", backend, "--progress", "none", "--plots", "none", "--checkpoint-every", "3600", "--out", out.to_str().unwrap()])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let result = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["format"], 3);
    // Saved mid-way through the chains in flight, not only at a block boundary.
    assert!(meta["current"]["t_end"].as_u64().is_some_and(|t| t > 0), "{meta}");
    assert!(!out.join("summary.json").exists(), "an interrupted run wrote results");
    std::fs::remove_dir_all(&out).ok();
}

#[cfg(unix)]
#[test]
fn sigint_on_the_gpu_path_checkpoints_and_exits_130() {
    if common::gpu().is_some() {
        sigint_checkpoints_and_exits_130("gpu", "256");
    }
}

/// The case: 4096 chains x millions of steps, one block, no checkpoint before.
#[cfg(unix)]
#[test]
fn sigint_on_the_cpu_checkpoints_within_a_block_and_exits_130() {
    sigint_checkpoints_and_exits_130("cpu", "4096");
}
