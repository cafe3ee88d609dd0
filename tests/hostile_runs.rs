//! Hostile saved runs: `report`, `compare` and `merge` on damaged, foreign or mismatched run
//! directories, each refused in one line naming the file (exit status 2), never read into wrong
//! statistics; and a run never overwrites another.

mod common;

use common::table::{Case, case, check, escapade, tmp};
use std::path::{Path, PathBuf};

/// A tiny CPU run of toy-saddle into `out` (every chain escapes the saddle at 0 once).
fn run(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--objective", "toy-saddle", "--chains", "16", "--steps", "300", "--init", "zero", "--backend", "cpu", "--plots", "none", "--quiet"];
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    escapade(&args)
}

fn ok(out: std::process::Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The three files of run `dir`, with `file` passed through `damage` (None: left out), as a
/// case's files under `into/`.
fn damaged(case: Case, dir: &Path, into: &'static str, file: &str, damage: &dyn Fn(&str) -> Option<String>) -> Case {
    // violations.csv where the run has one (it ran the monitor).
    ["summary.json", "events.csv", "chains.csv", "violations.csv"].into_iter().filter(|f| dir.join(f).exists()).fold(case, |c, f| {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let name: &'static str = Box::leak(format!("{into}/{f}").into_boxed_str());
        match if f == file { damage(&text) } else { Some(text) } {
            Some(t) => c.with(name, t),
            None => c,
        }
    })
}

fn lines(text: &str, f: impl Fn(&mut Vec<String>)) -> String {
    let mut l: Vec<String> = text.lines().map(String::from).collect();
    f(&mut l);
    l.join("\n") + "\n"
}

/// Replaces field `col` of line `row` (0: the header) of a CSV text.
fn set(text: &str, row: usize, col: usize, v: &str) -> String {
    lines(text, |l| {
        let mut f: Vec<String> = l[row].split(',').map(String::from).collect();
        f[col] = v.into();
        l[row] = f.join(",");
    })
}

#[test]
fn damaged_runs_are_refused_by_name() {
    let base = tmp("hostile-runs");
    let whole = base.join("whole");
    ok(run(&whole, &[]));
    ok(escapade(&["report", whole.to_str().unwrap(), "--plots", "none"]));
    let report = |name, says: &[&'static str], file: &str, damage: &dyn Fn(&str) -> String| {
        damaged(case(name, 2, says, "report {d}/run --plots none"), &whole, "run", file, &|s| Some(damage(s)))
    };
    let cases = vec![
        case("report a missing directory", 2, &["{d}/nope/summary.json", "No such file"], "report {d}/nope --plots none"),
        case("report a file", 2, &["Not a directory"], "report {whole}/chains.csv --plots none"),
        damaged(case("summary.json missing", 2, &["summary.json", "No such file"], "report {d}/run --plots none"), &whole, "run", "summary.json", &|_| None),
        damaged(case("violations.csv missing", 2, &["violations.csv", "summary.json records its digest"], "report {d}/run --plots none"), &whole, "run", "violations.csv", &|_| None),
        report("violations.csv with a row added", &["violations.csv", "edited or replaced since"], "violations.csv", &|s| format!("{s}3,1,5,0.1,2,curvature,0,1,0,0\n")),
        report("summary.json not JSON", &["summary.json", "escapade's summary.json"], "summary.json", &|s| s[..s.len() / 2].to_string()),
        report("schema_version 99", &["summary.json", "schema_version 6"], "summary.json", &|s| s.replace("\"schema_version\": 6", "\"schema_version\": 99")),
        report("schema_version a string", &["schema_version"], "summary.json", &|s| s.replace("\"schema_version\": 6", "\"schema_version\": \"6\"")),
        report("summary counts other chains", &["chains.csv", "17 rows"], "summary.json", &|s| s.replacen("\"chains\": 16", "\"chains\": 17", 1)),
        report("events.csv duplicated row", &["events.csv line 18", "one event per stall"], "events.csv", &|s| lines(s, |l| l.push(l[1].clone()))),
        report("event of a chain beyond the run", &["events.csv line 2", "chains 0..16"], "events.csv", &|s| set(s, 1, 0, "99")),
        report("event escaping beyond the budget", &["events.csv line 2", "budget of 300 steps"], "events.csv", &|s| set(s, 1, 3, "4294967295")),
        report("events.csv another header", &["events.csv", "header chain,label"], "events.csv", &|s| s.replacen("chain", "chian", 1)),
        report("events.csv empty", &["events.csv", "header"], "events.csv", &|_| String::new()),
        report("events.csv non-numeric field", &["events.csv line 2", "a number"], "events.csv", &|s| set(s, 1, 1, "x")),
        report("events.csv short row", &["events.csv line 18", "6 fields"], "events.csv", &|s| lines(s, |l| l.push("1,2,3".into()))),
        report("chains.csv rows swapped", &["chains.csv line 2", "chain 0"], "chains.csv", &|s| lines(s, |l| l.swap(1, 2))),
        report("chains.csv unknown outcome", &["chains.csv line 2", "a chains.csv row"], "chains.csv", &|s| s.replacen("converged", "cooked", 1)),
        report("chains.csv truncated", &["chains.csv", "16 rows"], "chains.csv", &|s| lines(s, |l| l.truncate(5))),
        report("chains.csv empty", &["chains.csv", "header"], "chains.csv", &|_| String::new()),
        report("chains.csv stall after the last step", &["chains.csv line 2", "t_stall 400"], "chains.csv", &|s| set(s, 1, 4, "400")),
        report("chains.csv steps beyond the budget", &["chains.csv line 2", "the budget 300"], "chains.csv", &|s| set(s, 1, 6, "4294967295")),
        report("chains.csv sentinel after the last step", &["chains.csv line 2", "t_limited Some(4000)"], "chains.csv", &|s| set(s, 1, 13, "4000")),
        report("chains.csv negative field", &["chains.csv line 2"], "chains.csv", &|s| set(s, 1, 4, "-5")),
        report("trace.csv ragged", &["trace.csv line 3", "2 coordinates"], "chains.csv", &|s| s.to_string())
            .with("run/trace.csv", "chain,step,f,x0,x1\n0,0,0.5,1,2\n0,1,0.4,1\n"),
        report("trace.csv of another dimension", &["trace.csv", "2 coordinates per point"], "chains.csv", &|s| s.to_string())
            .with("run/trace.csv", "chain,step,f,x0,x1,x2\n0,0,0.5,1,2,3\n"),
        report("trace.csv non-numeric", &["trace.csv line 3", "a number"], "chains.csv", &|s| s.to_string()).with("run/trace.csv", "chain,step,f,x0,x1\n0,0,0.5,1,2\n0,1,x,1,2\n"),
        // Checked as strictly as a checkpoint: values, counts against events, digests.
        report("chains.csv NaN f", &["chains.csv line 2", "finite f and gnorm", "f NaN"], "chains.csv", &|s| set(s, 1, 10, "NaN")),
        report("chains.csv with no rows", &["chains.csv", "at least one chain row"], "chains.csv", &|s| lines(s, |l| l.truncate(1))),
        report("chains.csv escapes edited", &["chains.csv line 2", "escapes equal to the chain's events in events.csv (1)", "got 5"], "chains.csv", &|s| set(s, 1, 7, "5")),
        report("chains.csv diverged status, converged outcome", &["chains.csv line 2", "outcome diverged exactly when"], "chains.csv", &|s| set(s, 1, 1, "diverged-domain")),
        report("chains.csv eta zero", &["chains.csv line 2", "eta finite and > 0"], "chains.csv", &|s| set(s, 1, 12, "0")),
        report("chains.csv f edited to another finite value", &["chains.csv", "edited or replaced since"], "chains.csv", &|s| set(s, 1, 10, "-0.125")),
        report("events.csv an event removed", &["chains.csv line 2", "escapes equal to the chain's events in events.csv (0)"], "events.csv", &|s| lines(s, |l| {
            l.remove(1);
        })),
        report("events.csv escape raising f", &["events.csv line 2", "f_escape <= f_stall"], "events.csv", &|s| set(s, 1, 5, "1e30")),
        // Chain 0 escapes after 27 steps; here it stopped after 26.
        report("events.csv escape after its chain's last step", &["events.csv line 2", "its chain's steps"], "chains.csv", &|s| set(&set(&set(s, 1, 4, "10"), 1, 9, "10"), 1, 6, "26")),
        report("summary counts other events", &["summary.json", "counts.escape_events equal to the rows of events.csv (16)", "got 15"], "summary.json", &|s| {
            s.replacen("\"escape_events\": 16", "\"escape_events\": 15", 1)
        }),
        report("summary without digests", &["summary.json", "digests of its table files"], "summary.json", &|s| s.replacen("\"digests\"", "\"digest\"", 1)),
        report("trace.csv of a chain beyond the ensemble", &["trace.csv line 2", "chains 0..16", "chain 99"], "chains.csv", &|s| s.to_string())
            .with("run/trace.csv", "chain,step,f,x0,x1\n99,0,0.5,1,2\n"),
        report("trace.csv beyond the budget", &["trace.csv line 3", "the budget 300", "step 301"], "chains.csv", &|s| s.to_string())
            .with("run/trace.csv", "chain,step,f,x0,x1\n0,0,0.5,1,2\n0,301,0.5,1,2\n"),
        report("trace.csv the run did not write", &["trace.csv", "a file the run did not write"], "chains.csv", &|s| s.to_string())
            .with("run/trace.csv", "chain,step,f,x0,x1\n0,0,0.5,1,2\n"),
        damaged(case("compare with a damaged run", 2, &["events.csv line 2"], "compare {whole} {d}/run --plots none --out {d}/cmp"), &whole, "run", "events.csv", &|s| {
            Some(set(s, 1, 0, "99"))
        }),
        case("compare one run", 2, &["2 values required"], "compare {whole} --out {d}/cmp"),
    ];
    check(&base.join("cases"), &[("whole", &whole)], cases);
    std::fs::remove_dir_all(&base).ok();
}

/// A file's new contents from its old (None: the file is left out).
type Edit = fn(&str) -> Option<String>;

#[test]
fn shards_that_do_not_make_one_ensemble_are_not_merged() {
    let base = tmp("hostile-merge");
    let whole = base.join("whole");
    ok(run(&whole, &[]));
    let parts: Vec<PathBuf> = (0..3).map(|i| base.join(format!("p{i}"))).collect();
    for (i, p) in parts.iter().enumerate() {
        ok(run(p, &["--shard", &format!("{i}/3")]));
    }
    let other_seed = base.join("q0");
    ok(run(&other_seed, &["--shard", "0/3", "--seed", "5"]));
    let halves = base.join("h0");
    ok(run(&halves, &["--shard", "0/2"]));
    let m = |name, says: &[&'static str], dirs: &str| case(name, 2, says, &format!("merge {dirs} --out {{d}}/m")).absent("{d}/m");
    let cases = vec![
        m("a shard missing", &["{p2}", "shard 1 of 3"], "{p0} {p2}"),
        m("a shard twice", &["{p1}", "each shard once"], "{p0} {p1} {p1} {p2}"),
        m("one shard of three", &["all 3 shards", "16-chain"], "{p0}"),
        m("a whole run among shards", &["{whole}", "a shard's output"], "{p0} {p1} {p2} {whole}"),
        m("shards of another seed", &["another experiment's"], "{q0} {p1} {p2}"),
        m("shards of another split", &["another experiment's"], "{h0} {p1} {p2}"),
        m("a damaged shard", &["{d}/pd/events.csv line 2"], "{p0} {d}/pd {p2}"),
        m("a shard with its chain count edited", &["{d}/pd/chains.csv", "500 rows"], "{p0} {d}/pd {p2}"),
        m("a shard with its first chain edited", &["{d}/pd/chains.csv line 2", "chain 6"], "{p0} {d}/pd {p2}"),
        m("a shard with its index edited", &["shard 1 of 3"], "{p0} {d}/pd {p2}"),
        m("a shard without events.csv", &["{d}/pd/events.csv", "No such file"], "{p0} {d}/pd {p2}"),
        m("a shard's rows renumbered", &["{d}/pd/chains.csv", "edited or replaced since"], "{p0} {d}/pd {p2}"),
        case("merge into a run", 2, &["invalid out", "without a run"], "merge {p0} {p1} {p2} --out {whole}"),
        case("merge into a file", 2, &["this is a file"], "merge {p0} {p1} {p2} --out {whole}/chains.csv"),
        case("merge nothing", 2, &["required arguments", "<DIRS>"], "merge --out {d}/m"),
    ];
    // Rows that merge a damaged copy of shard 1 get it as {d}/pd.
    let p1 = parts[1].clone();
    let cases: Vec<Case> = cases
        .into_iter()
        .map(|c| {
            let damage: Option<(&str, Edit)> = match c.name {
                "a damaged shard" => Some(("events.csv", |s| Some(set(s, 1, 0, "99")))),
                "a shard with its chain count edited" => Some(("summary.json", |s| Some(s.replace("\"chains\": 5\n", "\"chains\": 500\n")))),
                "a shard with its first chain edited" => Some(("summary.json", |s| Some(s.replace("\"first_chain\": 5", "\"first_chain\": 6")))),
                "a shard with its index edited" => Some(("summary.json", |s| Some(s.replace("\"index\": 1", "\"index\": 7")))),
                "a shard without events.csv" => Some(("events.csv", |_| None)),
                // Two chains' rows exchanged, each renumbered as the other: every count still agrees.
                "a shard's rows renumbered" => Some(("chains.csv", |s| {
                    Some(lines(s, |l| {
                        let (a, b) = (l[1].split_once(',').unwrap(), l[2].split_once(',').unwrap());
                        (l[1], l[2]) = (format!("{},{}", a.0, b.1), format!("{},{}", b.0, a.1));
                    }))
                })),
                _ => None,
            };
            match damage {
                Some((file, f)) => damaged(c, &p1, "pd", file, &f),
                None => c,
            }
        })
        .collect();
    let fixtures: Vec<(&str, &Path)> = vec![("whole", &whole), ("p0", &parts[0]), ("p1", &parts[1]), ("p2", &parts[2]), ("q0", &other_seed), ("h0", &halves)];
    check(&base.join("cases"), &fixtures, cases);
    // The refusals wrote nothing; the shards still merge into the whole run.
    let merged = base.join("merged");
    let p: Vec<&str> = parts.iter().map(|p| p.to_str().unwrap()).collect();
    ok(escapade(&["merge", p[2], p[0], p[1], "--out", merged.to_str().unwrap()]));
    for f in ["chains.csv", "events.csv"] {
        assert_eq!(std::fs::read(whole.join(f)).unwrap(), std::fs::read(merged.join(f)).unwrap(), "{f}");
    }
    std::fs::remove_dir_all(&base).ok();
}

/// `check --from-run` reads the run as `report` does, and only a traced run of the objective
/// being checked, in its dimension (a run of another dimension dropped every point, yet said
/// it used them).
#[test]
fn check_from_run_takes_only_a_matching_traced_run() {
    let base = tmp("hostile-from-run");
    let (traced, plain) = (base.join("traced"), base.join("plain"));
    ok(run(&traced, &["--trace-chains", "2", "--trace-every", "10"]));
    ok(run(&plain, &["--monitor", "off"]));
    let chk = "check --starts 2 --descent-steps 50 --plots none --out {d}/c";
    let cases = vec![
        case("from a run of another dimension", 2, &["invalid from-run", "a run of octopus with d = 3", "a run of toy-saddle with d = 2"], &format!("{chk} --objective octopus --dim 3 --from-run {{traced}}")),
        case("from a run of another objective", 2, &["invalid from-run", "a run of octopus with d = 2"], &format!("{chk} --objective octopus --dim 2 --from-run {{traced}}")),
        case("from a run without a trace or the monitor", 2, &["invalid from-run", "--trace-chains", "--monitor on"], &format!("{chk} --objective toy-saddle --from-run {{plain}}")),
        case("from a damaged run", 2, &["{d}/bad/trace.csv", "edited or replaced since"], &format!("{chk} --objective toy-saddle --from-run {{d}}/bad"))
            .with("bad/summary.json", std::fs::read(traced.join("summary.json")).unwrap())
            .with("bad/chains.csv", std::fs::read(traced.join("chains.csv")).unwrap())
            .with("bad/events.csv", std::fs::read(traced.join("events.csv")).unwrap())
            .with("bad/trace.csv", String::from_utf8(std::fs::read(traced.join("trace.csv")).unwrap()).unwrap().replacen(",0,", ",10,", 1)),
    ];
    check(&base.join("cases"), &[("traced", &traced), ("plain", &plain)], cases);
    let out = base.join("c").display().to_string();
    let good = escapade(&["check", "--starts", "2", "--descent-steps", "50", "--plots", "none", "--out", &out, "--objective", "toy-saddle", "--from-run", traced.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success() && text.contains("and the run's visited points") && text.contains("verdict:"), "{text}");
    std::fs::remove_dir_all(&base).ok();
}

#[test]
fn a_run_never_overwrites_another() {
    let d = tmp("hostile-out");
    ok(run(&d, &["--trace-chains", "2", "--trace-every", "10"]));
    let before = std::fs::read(d.join("chains.csv")).unwrap();
    let cases = vec![
        case("out over a run", 2, &["invalid out", "--force", "--resume"], "run --objective toy-saddle --chains 16 --steps 300 --seed 5 --backend cpu --quiet --out {run}"),
        case("out over a run from a file", 2, &["invalid out", "--force"], "run {d}/exp.toml --out {run}").with("exp.toml", "seed = 7\nbackend = \"cpu\"\nchains = 4\nsteps = 5\n"),
    ];
    check(&tmp("hostile-out-cases"), &[("run", &d)], cases);
    assert_eq!(std::fs::read(d.join("chains.csv")).unwrap(), before, "a refused run touched the old one");
    std::fs::create_dir_all(d.join("plots")).unwrap();
    std::fs::write(d.join("plots").join("mine.txt"), "a user's").unwrap();
    assert!(d.join("trace.csv").exists());
    ok(run(&d, &["--seed", "5", "--force"]));
    assert_ne!(std::fs::read(d.join("chains.csv")).unwrap(), before);
    assert!(!d.join("trace.csv").exists() && !d.join(".writing").exists(), "--force left the old run's files");
    assert!(d.join("plots").join("mine.txt").exists(), "--force removed a user's file");
    std::fs::remove_dir_all(&d).ok();
}
