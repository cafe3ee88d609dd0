//! Several GPUs in one box: a run split over devices (`--devices`, `Runner::gpus`) gives exactly
//! the results of one device. Two devices opened on the one lavapipe adapter stand in for two
//! GPUs: chains.csv, events.csv and trace.csv byte for byte, statistics equal, checkpoints resumed.

mod common;

use escapade::advanced::Progress;
use escapade::{CheckpointSpec, Devices, Error, Experiment, GpuContext, GpuEngine, GpuSettings, Init, MethodKind, ObjectiveSpec, Report, Runner};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn escapade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("escapade-devices-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `n` devices opened by the test itself on one adapter and injected, as an embedding program
/// would; the engines split the work finely (several shards and dispatches per device).
fn injected(n: usize) -> Option<Vec<GpuEngine>> {
    common::gpu()?;
    let desc = wgpu::InstanceDescriptor { backends: wgpu::Backends::PRIMARY, ..wgpu::InstanceDescriptor::new_without_display_handle_from_env() };
    let instance = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).expect("an adapter");
    let settings = GpuSettings { steps_per_dispatch: Some(40), max_chains_per_shard: Some(700), ..Default::default() };
    let open = |_| {
        let desc = wgpu::DeviceDescriptor { required_limits: adapter.limits(), ..Default::default() };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).expect("a device");
        GpuEngine::with_context(GpuContext::from_device_with_adapter(device, queue, &adapter)).tuned(settings).unwrap()
    };
    Some((0..n).map(open).collect())
}

fn exp(chains: u32, trace: Option<(u32, u32)>, shard: Option<(u32, u32)>) -> Experiment {
    let mut b = Experiment::builder(ObjectiveSpec::from_name("octopus", 5).unwrap().build().unwrap())
        .method(MethodKind::Pgd)
        .chains(chains)
        .steps(300)
        .seed(9)
        .init(Init::Uniform(1.0));
    if let Some((chains, every)) = trace {
        b = b.trace(chains, every);
    }
    if let Some((i, n)) = shard {
        b = b.shard(i, n);
    }
    b.build().unwrap()
}

/// summary.json without what depends on how the work was split (devices, dispatches, time).
fn statistics(r: &Report) -> serde_json::Value {
    let mut s = r.summary_json();
    for key in ["devices", "dispatches", "shards", "steps_per_dispatch", "event_overflow_recoveries", "loop_limit_retries", "wall_seconds", "chain_steps_per_second", "resumed_chain_steps", "stepping_seconds", "host_seconds", "host_fraction", "device_memory_estimate"] {
        s.as_object_mut().unwrap().remove(key);
    }
    s
}

fn same(one: &Report, split: &Report, what: &str) {
    assert!(one.raw.states == split.raw.states, "{what}: states differ");
    assert!(one.raw.x == split.raw.x && one.raw.x_tilde == split.raw.x_tilde, "{what}: final points differ");
    assert!(one.raw.events == split.raw.events, "{what}: events differ");
    assert!(one.raw.trace == split.raw.trace, "{what}: traces differ");
    assert_eq!(statistics(one), statistics(split), "{what}: statistics differ");
}

#[test]
fn two_injected_devices_give_the_results_of_one() {
    let Some(three) = injected(3) else { return };
    let engines = &three[..2];
    // An odd chain count; a trace whose chains span both parts; a shard split further.
    for (e, what) in [(exp(3001, None, None), "3001 chains"), (exp(301, Some((200, 25)), None), "traced"), (exp(3001, None, Some((1, 3))), "shard 1/3")] {
        let one = Runner::gpu(&engines[0]).run(&e).unwrap();
        let mut seen: Vec<Progress> = Vec::new();
        let mut observe = |p: &Progress| seen.push(*p);
        let split = Runner::gpus(engines).observe(&mut observe).run(&e).unwrap();
        same(&one, &split, what);
        assert!(one.counts.escape_events > e.chain_range().len(), "{what}: too few events to mean anything");
        assert_eq!(split.engine.devices.len(), 2);
        assert!(split.raw.shards >= 2, "{what}: each device ran a shard");
        // Progress is the two devices' as one run's.
        let last = seen.last().expect("progress was reported");
        assert!(seen.iter().all(|p| p.chains == e.chain_range().len() as u32 && p.work_done() <= p.work_total()), "{what}: {last:?}");
        assert_eq!(last.events, one.raw.events.len(), "{what}: {last:?}");
    }
    // More devices than chains: the empty parts are skipped.
    let e = exp(2, None, None);
    same(&Runner::gpu(&engines[0]).run(&e).unwrap(), &Runner::gpus(&three).run(&e).unwrap(), "2 chains on 3 devices");
}

#[test]
fn a_split_run_resumes_exactly_and_only_on_as_many_devices() {
    let Some(three) = injected(3) else { return };
    let engines = &three[..2];
    let e = exp(3001, Some((2000, 30)), None);
    let dir = tmp("resume");
    let spec = |interrupt_after| CheckpointSpec { interrupt_after, ..CheckpointSpec::new(&dir, Duration::ZERO) };
    let whole = Runner::gpu(&engines[0]).run(&e).unwrap();
    // Each device saves its own checkpoint (part-K-of-2) and stops; twice, then to the end.
    for resume in [false, true] {
        match Runner::gpus(engines).checkpoint(spec(Some(2)), resume).run(&e) {
            Err(Error::Interrupted(at)) => assert_eq!(at, dir.display().to_string()),
            other => panic!("expected an interruption, got {:?}", other.map(|r| r.counts)),
        }
        assert_eq!(CheckpointSpec::saved_parts(&dir), Some(2));
    }
    for wrong in [&three[..1], &three[..]] {
        let err = Runner::gpus(wrong).checkpoint(spec(None), true).run(&e).unwrap_err();
        assert!(err.to_string().starts_with("invalid devices") && err.exit_code() == 2, "{err}");
    }
    let err = Runner::gpu(&engines[0]).checkpoint(spec(None), true).run(&e).unwrap_err();
    assert!(err.to_string().starts_with("invalid devices"), "{err}");
    let resumed = Runner::gpus(engines).checkpoint(spec(None), true).run(&e).unwrap();
    same(&whole, &resumed, "resumed");
    // One device stops while the other finishes (in one dispatch, before any save): the finished
    // part keeps its results as its checkpoint, and the resume reruns only the other.
    std::fs::remove_dir_all(&dir).ok();
    let at_once = GpuSettings { steps_per_dispatch: Some(300), ..Default::default() };
    let uneven = [three[0].tuned(GpuSettings { steps_per_dispatch: Some(10), ..Default::default() }).unwrap(), three[1].tuned(at_once).unwrap()];
    assert!(matches!(Runner::gpus(&uneven).checkpoint(spec(Some(3)), false).run(&e), Err(Error::Interrupted(_))));
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("part-1-of-2/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["done"], 3001, "the finished part saved its results");
    let resumed = Runner::gpus(&uneven).checkpoint(spec(None), true).run(&e).unwrap();
    same(&whole, &resumed, "resumed after one device finished");
    std::fs::remove_dir_all(&dir).ok();
}

fn cli_run(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run", "--objective", "octopus", "--dim", "5", "--method", "pgd", "--chains", "3001", "--steps", "300", "--seed", "9",
        "--init", "uniform:1", "--plots", "none", "--quiet", "--out", out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    escapade(&args)
}

fn cli_ok(out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = cli_run(out, extra);
    assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn same_files(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} of {} and {} differ", a.display(), b.display());
    }
}

#[test]
fn devices_on_the_command_line_give_the_files_of_one_device() {
    if common::gpu().is_none() {
        return;
    }
    let base = tmp("cli");
    let cases: [(&str, &[&str], &[&str]); 3] = [
        ("traced", &["--trace-chains", "1700", "--trace-every", "20"], &["chains.csv", "events.csv", "trace.csv"]),
        ("shard", &["--shard", "1/3"], &["chains.csv", "events.csv"]),
        ("plain", &["--steps-per-dispatch", "25"], &["chains.csv", "events.csv"]),
    ];
    for (name, extra, files) in cases {
        let (one, two) = (base.join(format!("{name}-one")), base.join(format!("{name}-two")));
        let s1 = cli_ok(&one, &[extra, &["--backend", "gpu"][..]].concat());
        let s2 = cli_ok(&two, &[extra, &["--devices", "0,0"][..]].concat());
        same_files(&one, &two, files);
        for key in ["counts", "survival", "escape_time", "escape_time_by_label", "escape_time_histogram", "final_labels", "step_size", "certification", "shard", "adapter"] {
            assert_eq!(s1[key], s2[key], "{name}: {key}");
        }
        let adapter = &s1["adapter"]["name"];
        assert_eq!(s1["devices"], serde_json::json!([adapter]), "{name}");
        assert_eq!(s2["devices"], serde_json::json!([adapter, adapter]), "{name}");
    }
    // `all` is every GPU once (here lavapipe: one device), and the run reads back like any run.
    let all = base.join("all");
    cli_ok(&all, &["--devices", "all", "--shard", "1/3"]);
    same_files(&base.join("shard-one"), &all, &["chains.csv", "events.csv"]);
    let o = escapade(&["report", all.to_str().unwrap(), "--plots", "none"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A sweep takes --devices for every point.
    let toml = base.join("exp.toml");
    std::fs::write(&toml, "objective = \"octopus\"\ndim = 5\nchains = 501\nsteps = 100\nplots = \"none\"\n").unwrap();
    let sweep = base.join("sweep");
    let o = escapade(&["sweep", toml.to_str().unwrap(), "--grid", "seed=1,2", "--devices", "0,0", "--out", sweep.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sweep.join("seed=2/summary.json")).unwrap()).unwrap();
    assert_eq!(s["devices"].as_array().map(Vec::len), Some(2));
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn the_command_line_resumes_a_split_checkpoint() {
    let Some(_) = common::gpu() else { return };
    let base = tmp("cli-resume");
    let (resumed, fresh) = (base.join("resumed"), base.join("fresh"));
    // The experiment of cli_run, interrupted on two devices after their first saves.
    let engines = Devices::parse("0,0").unwrap().open().unwrap();
    let spec = CheckpointSpec { interrupt_after: Some(1), ..CheckpointSpec::new(resumed.join("checkpoint"), Duration::ZERO) };
    let e = exp(3001, None, None);
    assert!(matches!(Runner::gpus(&engines).checkpoint(spec, false).run(&e), Err(Error::Interrupted(_))));
    // A run over it needs --resume (or --force), and the resume needs the same devices.
    let o = cli_run(&resumed, &["--devices", "0,0"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli_run(&resumed, &["--backend", "gpu", "--resume"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(2) && err.contains("invalid devices") && err.contains("2 devices"), "{err}");
    cli_ok(&resumed, &["--devices", "0,0", "--resume"]);
    cli_ok(&fresh, &["--backend", "gpu"]);
    same_files(&resumed, &fresh, &["chains.csv", "events.csv"]);
    assert!(!resumed.join("checkpoint").exists(), "the checkpoint outlived the results");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn bad_devices_exit_with_2_naming_the_flag() {
    let out = tmp("bad");
    let cases: [(&[&str], &str); 6] = [
        (&["--devices", "99"], "each "),
        (&["--devices", "0,99"], "each "),
        (&["--devices", "x"], "all, or adapter indices"),
        (&["--devices", ""], "all, or adapter indices"),
        (&["--devices", "0,,1"], "all, or adapter indices"),
        (&["--devices", "0", "--backend", "cpu"], "--backend gpu or auto"),
    ];
    for (extra, allowed) in cases {
        // An index beyond the adapters is only known with a GPU.
        if extra[1].contains("99") && common::gpu().is_none() {
            continue;
        }
        let o = cli_run(&out, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.starts_with("error: invalid devices") && err.contains(allowed) && err.lines().count() == 1, "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?} left {}", out.display());
    }
}
