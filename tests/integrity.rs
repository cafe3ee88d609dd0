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

/// A checkpoint of `e` on `engine` holding escape events, chains in flight and, when
/// `finished`, finished chains: the first save with all of them (a CPU run saves after each slice
/// of steps; how many slices a block takes depends on their measured time).
fn checkpoint_with(e: &Experiment, engine: Engine, dir: &Path, finished: bool) -> CheckpointSpec {
    for saves in 1.. {
        let spec = CheckpointSpec { interrupt_after: Some(saves), ..CheckpointSpec::new(dir, Duration::ZERO) };
        match Runner::new(engine).checkpoint(spec, false).run(e) {
            Err(Error::Interrupted(_)) => {}
            other => panic!("no checkpoint with finished chains, events and chains in flight: {:?}", other.map(|r| r.counts)),
        }
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        let done = !finished || meta["done"].as_u64() > Some(0);
        if done && meta["current"]["t_end"].as_u64() > Some(0) && meta["parts"]["events.bin"]["bytes"].as_u64() > Some(0) {
            break;
        }
    }
    CheckpointSpec::new(dir, Duration::ZERO)
}

/// [`checkpoint_with`] finished chains on the CPU (a GPU run's one shard is all in flight).
fn checkpoint(e: &Experiment, engine: Engine, dir: &Path) -> CheckpointSpec {
    checkpoint_with(e, engine, dir, matches!(engine, Engine::Cpu))
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

type Damage = Box<dyn Fn(&Path)>;

/// Each damage with a fragment its refusal must hold (the file it names, or what is wrong).
fn damages() -> Vec<(&'static str, &'static str, Damage)> {
    vec![
        ("done edited in meta.json", "after 4096 finished chains", Box::new(|d| edit_meta(d, |m| m["done"] = 4096.into()))),
        ("done beyond the ensemble", "done = 80000", Box::new(|d| edit_meta(d, |m| m["done"] = 80_000.into()))),
        ("done not a number", "done = \"many\"", Box::new(|d| edit_meta(d, |m| m["done"] = "many".into()))),
        ("a part's checksum edited", "x.bin", Box::new(|d| edit_meta(d, |m| m["parts"]["x.bin"]["crc32"] = 1.into()))),
        ("a part left out of meta.json", "states.bin", Box::new(|d| edit_meta(d, |m| m["parts"].as_object_mut().unwrap().retain(|k, _| k != "states.bin")))),
        ("format from the future", "format 99", Box::new(|d| edit_meta(d, |m| m["format"] = 99.into()))),
        ("meta.json not JSON", "meta.json", Box::new(|d| std::fs::write(d.join("meta.json"), "{ not json").unwrap())),
        ("meta.json empty", "meta.json", Box::new(|d| std::fs::write(d.join("meta.json"), "").unwrap())),
        ("events.bin zeroed", "events.bin", Box::new(|d| zero(&d.join("events.bin")))),
        ("states.bin one byte flipped", "states.bin", Box::new(|d| flip(&d.join("states.bin")))),
        ("x.bin truncated", "x.bin", Box::new(|d| truncate(&d.join("x.bin")))),
        ("x_tilde.bin one byte longer", "x_tilde.bin", Box::new(|d| append(&d.join("x_tilde.bin")))),
        ("events.bin truncated", "events.bin", Box::new(|d| truncate(&d.join("events.bin")))),
        ("trace.bin missing", "trace.bin", Box::new(|d| std::fs::remove_file(d.join("trace.bin")).unwrap())),
        ("written by another engine", "--resume-anyway", Box::new(|d| edit_meta(d, |m| m["engine"] = "gpu elsewhere".into()))),
        ("engine left out", "--resume-anyway", Box::new(|d| edit_meta(d, |m| m["engine"] = serde_json::Value::Null))),
        ("another experiment's", "same experiment", Box::new(|d| edit_meta(d, |m| m["fingerprint"] = "{}".into()))),
        ("fingerprint left out", "same experiment", Box::new(|d| edit_meta(d, |m| m["fingerprint"] = serde_json::Value::Null))),
        // Consistent checksums over inconsistent contents: the parts are checked against each
        // other and the experiment too.
        ("records cut to fewer chains", "chain records", Box::new(|d| rewrite(d, "states.bin", |b| b.truncate(b.len() / 2 / STATE * STATE)))),
        ("an event of a chain not saved", "escape event of chain 70001", Box::new(|d| rewrite_events(d, |e| e[0].chain = 70_001))),
        ("a chain beyond the step budget", "beyond the step budget", Box::new(|d| rewrite_states(d, |s| s[3].t = 61))),
        // Edits that keep every length right: the records must mean something too.
        ("an unknown status code", "status code 9", Box::new(|d| rewrite_states(d, |s| s[3].status = 9))),
        ("an escape time beyond the budget", "beyond the budget or without a label", Box::new(|d| rewrite_events(d, |e| e[0].escape_steps = 1000))),
        ("escape counts that disagree with the events", "escapes counted", Box::new(|d| rewrite_states(d, |s| s[0].escapes += 1))),
        ("a NEVER label after a step", "no label after a step", Box::new(|d| rewrite_states(d, |s| s[2].label = u32::MAX))),
        ("a trace the experiment has none of", "a trace of 1 values", Box::new(|d| rewrite(d, "trace.bin", |b| b.extend(1f32.to_le_bytes())))),
        ("a shard in flight without its files", "current_states.bin", Box::new(|d| std::fs::remove_file(d.join("current_states.bin")).unwrap())),
        ("a shard in flight beyond the budget", "beyond the budget", Box::new(|d| edit_meta(d, |m| m["current"] = in_flight(m, 61)))),
        ("a shard in flight at another chain", "a shard in flight at chain 7", Box::new(|d| edit_meta(d, |m| m["current"] = serde_json::json!({ "offset": 7, "t_end": 10, "chains": 1 })))),
        ("current_states.bin truncated", "current_states.bin", Box::new(|d| truncate(&d.join("current_states.bin")))),
        ("current_x.bin truncated", "current_x.bin", Box::new(|d| truncate(&d.join("current_x.bin")))),
        ("current_states.bin one byte flipped", "current_states.bin", Box::new(|d| flip(&d.join("current_states.bin")))),
        ("t_end of the chains in flight edited", "where the chains in flight reached step 7", Box::new(|d| edit_meta(d, |m| m["current"]["t_end"] = 7.into()))),
    ]
}

#[test]
fn every_damage_to_a_checkpoint_is_refused_by_name() {
    let e = exp();
    let base = tmp("cpu");
    let pristine = base.join("pristine");
    checkpoint(&e, Engine::Cpu, &pristine);
    let cases = damages();
    for (what, says, damage) in &cases {
        let dir = base.join(what.replace(' ', "-"));
        copy_dir(&pristine, &dir);
        damage(&dir);
        let msg = refused(&e, &CheckpointSpec::new(&dir, Duration::ZERO), what);
        assert!(msg.contains(says), "{what}: {msg} lacks {says:?}");
        println!("{what}: {msg}");
    }
    println!("{} damaged checkpoints, each refused by name", cases.len());
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

/// The command line: the same refusals through `run --resume`, one line and exit status 2.
#[test]
fn the_command_line_refuses_damaged_checkpoints() {
    let base = tmp("cli");
    let pristine = base.join("run/checkpoint");
    checkpoint_with(&cli_exp(), Engine::Cpu, &pristine, false);
    let flags = "run --objective octopus --dim 5 --chains 9000 --steps 100 --seed 3 --backend cpu --quiet --plots none --out {d}/run";
    let resume = |name, says: &[&'static str], damage: Damage| {
        let c = common::table::case(name, 2, says, &format!("{flags} --resume"));
        let c = with_checkpoint(c, &pristine, &base.join(name.replace(' ', "-")), damage);
        c.absent("{d}/run/summary.json")
    };
    let cases = vec![
        resume("resume another engine's checkpoint", &["invalid resume", "(gpu elsewhere), or --resume-anyway"], Box::new(|d| edit_meta(d, |m| m["engine"] = "gpu elsewhere".into()))),
        // The matrix products' bits depend on the CPU's vector unit (docs/theory.md, section 6).
        resume("resume a CPU checkpoint of another vector unit", &["invalid resume", "(cpu (riscv64 v)), or --resume-anyway"], Box::new(|d| edit_meta(d, |m| m["engine"] = "cpu (riscv64 v)".into()))),
        resume("resume with meta.json not JSON", &["checkpoint/meta.json"], Box::new(|d| std::fs::write(d.join("meta.json"), "{").unwrap())),
        resume("resume with current_x.bin truncated", &["checkpoint/current_x.bin", "bytes where meta.json says"], Box::new(|d| truncate(&d.join("current_x.bin")))),
        resume("resume with done edited", &["run/checkpoint", "after 4096 finished chains"], Box::new(|d| edit_meta(d, |m| m["done"] = 4096.into()))),
        resume("resume with events.bin zeroed", &["checkpoint/events.bin", "checksum"], Box::new(|d| zero(&d.join("events.bin")))),
        with_checkpoint(
            common::table::case("resume-anyway over damage", 2, &["checkpoint/current_states.bin"], &format!("{flags} --resume --resume-anyway")),
            &pristine,
            &base.join("anyway"),
            Box::new(|d| {
                edit_meta(d, |m| m["engine"] = "gpu elsewhere".into());
                flip(&d.join("current_states.bin"));
            }),
        ),
        with_checkpoint(common::table::case("resume another experiment", 2, &["invalid resume", "same experiment"], &format!("{flags} --seed 4 --resume")), &pristine, &base.join("seed"), Box::new(|_| {})),
        with_checkpoint(common::table::case("run over a checkpoint", 2, &["invalid out", "--resume"], flags), &pristine, &base.join("over"), Box::new(|_| {})),
    ];
    common::table::check(&base.join("cases"), &[], cases);
    std::fs::remove_dir_all(&base).ok();
}

/// A CPU checkpoint resumed on the GPU: another engine's, refused without --resume-anyway.
#[test]
fn a_cpu_checkpoint_is_not_resumed_on_the_gpu_unasked() {
    if common::gpu().is_none() {
        return;
    }
    let base = tmp("cross");
    let pristine = base.join("run/checkpoint");
    checkpoint_with(&cli_exp(), Engine::Cpu, &pristine, false);
    let flags = "run --objective octopus --dim 5 --chains 9000 --steps 100 --seed 3 --backend gpu --quiet --plots none --out {d}/run --resume";
    let c = with_checkpoint(common::table::case("resume across backends", 2, &["invalid resume", "checkpoint (cpu (", "), or --resume-anyway"], flags), &pristine, &base.join("gpu"), Box::new(|_| {}));
    common::table::check(&base.join("cases"), &[], vec![c]);
    std::fs::remove_dir_all(&base).ok();
}

/// The experiment `run --objective octopus --dim 5 --chains 9000 --steps 100 --seed 3` builds.
fn cli_exp() -> Experiment {
    Experiment::builder(ObjectiveSpec::from_name("octopus", 5).unwrap().build().unwrap())
        .method(MethodKind::Pgd)
        .chains(9000)
        .steps(100)
        .seed(3)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap()
}

/// `case` with a copy of the checkpoint `from`, damaged, as its files under run/checkpoint.
fn with_checkpoint(case: common::table::Case, from: &Path, scratch: &Path, damage: Damage) -> common::table::Case {
    copy_dir(from, scratch);
    damage(scratch);
    let mut c = case;
    for e in std::fs::read_dir(scratch).unwrap() {
        let e = e.unwrap();
        let name: &'static str = Box::leak(format!("run/checkpoint/{}", e.file_name().to_string_lossy()).into_boxed_str());
        c = c.with(name, std::fs::read(e.path()).unwrap());
    }
    c
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

/// Bytes of one chain record in states.bin.
const STATE: usize = std::mem::size_of::<escapade::advanced::ChainState>();

/// Rewrites part `name` with `f` and its length and checksum in meta.json to match.
fn rewrite(dir: &Path, name: &str, f: impl Fn(&mut Vec<u8>)) {
    let p = dir.join(name);
    let mut b = std::fs::read(&p).unwrap();
    f(&mut b);
    std::fs::write(&p, &b).unwrap();
    edit_meta(dir, |m| m["parts"][name] = serde_json::json!({ "bytes": b.len(), "crc32": crc32fast::hash(&b) }));
}

fn rewrite_states(dir: &Path, f: impl Fn(&mut Vec<escapade::advanced::ChainState>)) {
    rewrite(dir, "states.bin", |b| {
        let mut s: Vec<escapade::advanced::ChainState> = bytemuck::pod_collect_to_vec(b);
        f(&mut s);
        *b = bytemuck::cast_slice(&s).to_vec();
    });
}

fn rewrite_events(dir: &Path, f: impl Fn(&mut Vec<escapade::advanced::EscapeEvent>)) {
    rewrite(dir, "events.bin", |b| {
        let mut e: Vec<escapade::advanced::EscapeEvent> = bytemuck::pod_collect_to_vec(b);
        f(&mut e);
        *b = bytemuck::cast_slice(&e).to_vec();
    });
}

/// meta.json's record of a one-chain shard in flight after the finished chains, at step `t_end`.
fn in_flight(m: &serde_json::Value, t_end: u32) -> serde_json::Value {
    serde_json::json!({ "offset": m["done"], "t_end": t_end, "chains": 1 })
}

fn append(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    b.push(0);
    std::fs::write(p, b).unwrap();
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
    assert_eq!(meta["format"], 5);
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
