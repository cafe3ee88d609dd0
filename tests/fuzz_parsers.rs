//! Property tests on random input: the experiment-file parser (through the binary, where it
//! lives), the objective data loader, the checkpoint reader and the saved-run readers. Each one
//! returns a value or a typed error with exit status 2, never panics; a mutated checkpoint is
//! refused or, if it still loads, resumes into exactly the uninterrupted run. Case counts are
//! bounded so the file runs in seconds.

mod common;

use escapade::objective::data::load_matrix;
use escapade::report::files::{SavedRun, read_chains, read_events, read_trace};
use escapade::{CheckpointSpec, Experiment, Init, MethodKind, ObjectiveSpec, Report, Runner};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A fresh scratch directory per case.
fn scratch(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!("escapade-fuzz-{}-{tag}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An error from the library is bad input (status 2), in one line.
fn typed(e: &escapade::Error) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.exit_code(), 2, "{}", e);
    prop_assert!(!e.to_string().contains('\n'), "{}", e);
    Ok(())
}

/// A byte-level mutation of a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR the byte at this fraction of the length with a non-zero mask.
    Flip(f64, u8),
    /// Cut the file at this fraction of its length.
    Truncate(f64),
    /// Insert bytes at this fraction of the length.
    Insert(f64, Vec<u8>),
    /// Replace the whole file.
    Replace(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0, 1u8..=255).prop_map(|(at, m)| Mutation::Flip(at, m)),
        (0.0..1.0).prop_map(Mutation::Truncate),
        (0.0..1.0, proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        proptest::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Replace),
    ]
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let at = |f: f64| ((bytes.len() as f64 * f) as usize).min(bytes.len());
    let mut b = bytes.to_vec();
    match m {
        Mutation::Flip(f, mask) if !b.is_empty() => {
            let i = at(*f).min(b.len() - 1);
            b[i] ^= mask;
        }
        Mutation::Flip(..) => {}
        Mutation::Truncate(f) => b.truncate(at(*f)),
        Mutation::Insert(f, ins) => {
            let i = at(*f);
            b.splice(i..i, ins.iter().copied());
        }
        Mutation::Replace(r) => b = r.clone(),
    }
    b
}

// ---------------------------------------------------------------- experiment files (TOML)

/// `escapade run FILE` with --resume into a directory without a checkpoint: whatever the file
/// says, nothing runs, and the answer is one line with status 2.
fn run_toml(bytes: &[u8]) -> Result<(), TestCaseError> {
    let d = scratch("toml");
    let file = d.join("exp.toml");
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_escapade"))
        .args(["run", file.to_str().unwrap(), "--backend", "cpu", "--plots", "none", "--quiet", "--resume", "--out"])
        .arg(d.join("out"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    prop_assert_eq!(out.status.code(), Some(2), "{:?}: {}", String::from_utf8_lossy(bytes), err);
    prop_assert!(!err.contains("panicked") && err.trim().lines().count() == 1, "{:?}: {}", String::from_utf8_lossy(bytes), err);
    let _ = std::fs::remove_dir_all(&d);
    Ok(())
}

/// A TOML value of any type, small enough that building the experiment stays cheap.
fn toml_value() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("octopus".to_string()),
        Just("phase-retrieval".to_string()),
        Just("linear-network".to_string()),
        Just("quartic".to_string()),
        Just("custom".to_string()),
        Just("pgd".into()),
        Just("sgd".into()),
        Just("self-bounding".into()),
        Just("normal:0.5".into()),
        Just("point:1,2".into()),
        Just("1/2".into()),
        Just("-inf".into()),
        Just("hard:1".into()),
        "[a-z:,/0-9.-]{0,12}",
    ];
    prop_oneof![
        (-3i64..300).prop_map(|i| i.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        prop_oneof![Just("nan".to_string()), Just("inf".into()), Just("-inf".into()), Just("1e39".into()), Just("-0.0".into()), Just("0.5".into())],
        word.prop_map(|w| format!("{w:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        proptest::collection::vec(-3i64..10, 0..4).prop_map(|v| format!("{v:?}")),
        Just("{ a = 1 }".to_string()),
        Just("1979-05-27".to_string()),
    ]
}

fn toml_key() -> impl Strategy<Value = String> {
    let keys = [
        "objective", "dim", "eigenvalues", "m", "rank", "p", "kappa", "data", "data-seed", "wgsl", "method", "eta", "radius", "g-thres", "g_thres",
        "t-thres", "noise", "batch", "perturb", "clip", "precond", "schedule", "step-rule", "rho1", "chains", "steps", "seed", "init", "backend", "state",
        "shard", "out", "quiet", "resume", "resume-anyway", "force", "trace-chains", "trace-every", "certify-eps", "checkpoint-every", "bogus", "config",
    ];
    proptest::sample::select(keys.to_vec()).prop_map(String::from)
}

// ---------------------------------------------------------------- checkpoints

fn ck_exp() -> Experiment {
    Experiment::builder(ObjectiveSpec::from_name("octopus", 2).unwrap().build().unwrap())
        .method(MethodKind::Pgd)
        .chains(8300)
        .steps(20)
        .seed(11)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap()
}

/// A pristine checkpoint (saved after the first 8192 chains) and the uninterrupted run.
fn pristine() -> &'static (PathBuf, Report) {
    static P: OnceLock<(PathBuf, Report)> = OnceLock::new();
    P.get_or_init(|| {
        let dir = scratch("pristine").join("checkpoint");
        let spec = CheckpointSpec { interrupt_after: Some(1), ..CheckpointSpec::new(&dir, Duration::ZERO) };
        assert!(matches!(Runner::cpu().checkpoint(spec, false).run(&ck_exp()), Err(escapade::Error::Interrupted(_))));
        (dir, Runner::cpu().run(&ck_exp()).unwrap())
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

const PARTS: [&str; 6] = ["meta.json", "states.bin", "x.bin", "x_tilde.bin", "events.bin", "trace.bin"];

// ---------------------------------------------------------------- saved runs

/// A small saved run (with a trace), written once.
fn saved_run() -> &'static PathBuf {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let e = Experiment::builder(ObjectiveSpec::from_name("toy-saddle", 2).unwrap().build().unwrap())
            .chains(24)
            .steps(200)
            .init(Init::Zero)
            .trace(3, 20)
            .build()
            .unwrap();
        let dir = scratch("run");
        Runner::cpu().run(&e).unwrap().write(&dir).unwrap();
        assert!(dir.join("trace.csv").exists());
        SavedRun::load(&dir).unwrap();
        dir
    })
}

const RUN_FILES: [&str; 4] = ["summary.json", "events.csv", "chains.csv", "trace.csv"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn toml_files_of_random_bytes_are_refused_in_one_line(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        run_toml(&bytes)?;
    }

    #[test]
    fn toml_files_of_random_keys_and_values_are_refused_in_one_line(
        entries in proptest::collection::vec((toml_key(), toml_value()), 0..6),
        tail in "[ =\"\\[\\]a-z0-9\n#.,{}]{0,12}",
    ) {
        let text: String = entries.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>() + &tail;
        run_toml(text.as_bytes())?;
    }

    #[test]
    fn checkpoints_are_refused_or_resume_exactly(part in 0..PARTS.len(), m in mutation()) {
        let (dir, whole) = pristine();
        let copy = scratch("ck").join("checkpoint");
        copy_dir(dir, &copy);
        let p = copy.join(PARTS[part]);
        let before = std::fs::read(&p).unwrap();
        let after = apply(&before, &m);
        std::fs::write(&p, &after).unwrap();
        match Runner::cpu().checkpoint(CheckpointSpec::new(&copy, Duration::ZERO), true).run(&ck_exp()) {
            Err(e) => {
                typed(&e)?;
                prop_assert!(after != before, "the intact checkpoint was refused: {}", e);
            }
            // Whatever loads resumes into exactly the uninterrupted run: nothing silently corrupted.
            Ok(r) => prop_assert!(r.raw.states == whole.raw.states && r.raw.events == whole.raw.events && r.raw.x == whole.raw.x, "{:?} of {} resumed into other results", m, PARTS[part]),
        }
        let _ = std::fs::remove_dir_all(copy.parent().unwrap());
    }

    #[test]
    fn saved_runs_read_back_or_are_refused(file in 0..RUN_FILES.len(), m in mutation()) {
        let src = saved_run();
        let copy = scratch("saved");
        copy_dir(src, &copy);
        let p = copy.join(RUN_FILES[file]);
        std::fs::write(&p, apply(&std::fs::read(&p).unwrap(), &m)).unwrap();
        match SavedRun::load(&copy) {
            Err(e) => typed(&e)?,
            Ok(run) => {
                // The statistics and the plots of whatever reads back.
                let _ = run.survival().overall().summary();
                if let Err(e) = escapade::report::render_plots(&run, None, &copy.join("plots"), "svg") {
                    prop_assert!(e.exit_code() == 2 || matches!(e, escapade::Error::Io { .. }), "{}", e);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&copy);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn data_files_of_random_bytes_load_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300), npy in any::<bool>()) {
        let d = scratch("data");
        let p = d.join(if npy { "A.npy" } else { "A.csv" });
        std::fs::write(&p, &bytes).unwrap();
        check_matrix(&p)?;
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn csv_text_loads_or_is_refused(text in "[0-9eE.,+\\- \n\tnaif]{0,120}") {
        let d = scratch("csv");
        let p = d.join("A.csv");
        std::fs::write(&p, &text).unwrap();
        check_matrix(&p)?;
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn mutated_npy_files_load_or_are_refused(m in mutation(), f32s in any::<bool>()) {
        let d = scratch("npy");
        let p = d.join("A.npy");
        std::fs::write(&p, apply(&npy(f32s), &m)).unwrap();
        check_matrix(&p)?;
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn run_files_of_random_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300), header in 0..4usize) {
        let d = scratch("rows");
        let headers = [escapade::report::files::EVENTS_HEADER, escapade::report::files::CHAINS_HEADER, "chain,step,f,x0,x1", ""];
        let mut text = format!("{}\n", headers[header]).into_bytes();
        text.extend(&bytes);
        let p = d.join("f.csv");
        std::fs::write(&p, &text).unwrap();
        for r in [read_events(&p).err(), read_chains(&p).err(), read_trace(&p).err()].into_iter().flatten() {
            typed(&r)?;
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// A 3 x 2 float64 (or float32) .npy file.
fn npy(f32s: bool) -> Vec<u8> {
    let values = [1.0f64, -2.0, 3.5, 0.25, 1e3, -7.0];
    let payload: Vec<u8> = if f32s { values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect() } else { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
    common::npy(if f32s { "<f4" } else { "<f8" }, "(3, 2)", false, &payload)
}

/// A loaded matrix is whole and finite; a refusal is typed.
fn check_matrix(p: &Path) -> Result<(), TestCaseError> {
    match load_matrix(p, "A") {
        Ok(m) => {
            prop_assert_eq!(m.rows * m.cols, m.data.len());
            prop_assert!(!m.data.is_empty() && m.data.iter().all(|v| v.is_finite()));
        }
        Err(e) => typed(&e)?,
    }
    Ok(())
}
