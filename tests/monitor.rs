//! The self-bounding monitor (`escapade::monitor`) on the CPU path, through the command line:
//! silent where the declared bounds hold, violations found and located where rho1 is declared
//! too small (against an independent f64 recomputation from the traced points), the stop at a
//! violation (exit status 3, results kept), the halving safeguard, and a switch that changes
//! nothing but the report. The GPU twin's exact agreement is tests/monitor_gpu.rs.

mod common;

use common::table::{escapade, tmp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs `escapade run` on the CPU backend into `dir` with `args`; returns the exit status.
fn run(dir: &Path, args: &str) -> i32 {
    let mut argv: Vec<String> = ["run", "--backend", "cpu", "--plots", "none", "--quiet", "--out"].iter().map(|s| s.to_string()).collect();
    argv.push(dir.to_str().unwrap().into());
    argv.extend(args.split_whitespace().map(String::from));
    let out = escapade(&argv);
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 3, "{args}: {}", String::from_utf8_lossy(&out.stderr));
    code
}

/// violations.csv as rows of column -> text.
fn violations(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("violations.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| head.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

/// The quartic 1/2 sum l_i x_i^2 + 1/4 sum x_i^4, l = (-1, 1, ..., 1), and its gradient, in f64.
fn quartic(x: &[f64]) -> (f64, Vec<f64>) {
    let l = |i: usize| if i == 0 { -1.0 } else { 1.0 };
    let f = x.iter().enumerate().map(|(i, v)| 0.5 * l(i) * v * v + 0.25 * v.powi(4)).sum();
    (f, x.iter().enumerate().map(|(i, v)| l(i) * v + v.powi(3)).collect())
}

/// Its declared rho1, 4 + 6 sqrt(F - f*) (f* = -1/4), times `scale`.
fn rho1(f: f64, scale: f64) -> f64 {
    scale * (4.0 + 6.0 * (f + 0.25).max(0.0).sqrt())
}

#[test]
fn declared_bounds_hold_on_the_quartic() {
    let dir = tmp("monitor-declared");
    // Other dimensions, seeds, methods and both step rules: no violation, every step checked.
    for (k, args) in [
        "--dim 4 --seed 1 --method gd --step-rule self-bounding --init uniform:1",
        "--dim 8 --seed 2 --method pgd --step-rule self-bounding --init uniform:0.01",
        "--dim 6 --seed 3 --method pgd --eta 0.05 --init uniform:1",
        "--dim 16 --seed 4 --method pgd --step-rule self-bounding --margin 0 --init uniform:2",
    ]
    .iter()
    .enumerate()
    {
        let out = dir.join(k.to_string());
        assert_eq!(run(&out, &format!("--objective quartic --chains 256 --steps 400 {args}")), 0);
        let m = &read(&out.join("summary.json"))["monitor"];
        assert!(m["rho1"].as_str().unwrap().contains("(declared)"), "{m}");
        assert!(m["checks"]["curvature"].as_u64().unwrap() > 256 * 50, "{args}: {m}");
        let total: u64 = ["descent", "curvature", "sublevel"].iter().map(|c| m["violations"][c].as_u64().unwrap()).sum();
        assert_eq!((total, m["chains_with_violations"].as_u64()), (0, Some(0)), "{args}: {m}");
        let worst = m["worst_ratio"].as_f64().unwrap();
        assert!(worst > 0.05 && worst <= 1.0, "{args}: worst ratio {worst}");
        assert!(violations(&out).is_empty());
        // The run's own rho1 estimate stays under the declared form at each bin's upper edge.
        for b in m["rho1_estimate"]["bins"].as_array().unwrap() {
            let hi = b["df_hi"].as_f64().unwrap_or(f64::INFINITY);
            assert!(b["curvature_max"].as_f64().unwrap() <= rho1(hi - 0.25, 1.0) * 1.0001, "{args}: {b}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// With rho1 declared 4x too small, the monitor finds violations, and where it says: every
/// chain's first violation is a step whose f64 secant curvature (or descent) really exceeds the
/// bound, no clear violation goes unflagged, and the counts match the clear ones.
#[test]
fn a_quarter_of_rho1_is_found_where_it_fails() {
    let dir = tmp("monitor-quarter");
    let (chains, traced) = (96, 24);
    let args = format!(
        "--objective quartic --dim 5 --seed 7 --method gd --step-rule self-bounding --margin 0 \
         --rho1 1,1.5,0.5,-0.25 --rho2 6,8.485,0.25,-0.25 --init uniform:1 --chains {chains} --steps 150 \
         --trace-chains {traced} --trace-every 1"
    );
    assert_eq!(run(&dir, &args), 0);
    let m = &read(&dir.join("summary.json"))["monitor"];
    assert!(m["rho1"].as_str().unwrap().contains("(flags)"), "{m}");
    let rows = violations(&dir);
    assert!(rows.len() > chains / 4, "{} chains with violations: {m}", rows.len());
    let by_chain: BTreeMap<u32, &BTreeMap<String, String>> = rows.iter().map(|r| (r["chain"].parse().unwrap(), r)).collect();
    let trace = escapade::report::files::read_trace(&dir.join("trace.csv")).unwrap();
    let (mut located, mut clear_steps) = (0, 0);
    for c in 0..traced as u32 {
        let pts: Vec<_> = trace.iter().filter(|p| p.chain == c).collect();
        assert!(pts.windows(2).all(|w| w[1].step == w[0].step + 1), "chain {c}: every step traced");
        // --margin 0: the anchor F is f(x0), and the assumed smoothness rho1(F).
        let anchor = quartic(&pts[0].x).0;
        let ell = rho1(anchor, 0.25);
        // Per step: the largest f64 ratio, and whether it is clear of the float tolerance.
        let mut clear = Vec::new();
        let mut possible = Vec::new();
        for w in pts.windows(2) {
            let ((f0, g), (f1, _)) = (quartic(&w[0].x), quartic(&w[1].x));
            let dx: Vec<f64> = w[1].x.iter().zip(&w[0].x).map(|(b, a)| b - a).collect();
            let dx2: f64 = dx.iter().map(|v| v * v).sum();
            if dx2 == 0.0 {
                continue;
            }
            let gdx: f64 = g.iter().zip(&dx).map(|(a, b)| a * b).sum();
            let q = f1 - f0 - gdx;
            // The monitor works in f32 and takes the tolerance tau off the secant
            // (escapade::monitor::tolerance): the step's ratio with k tau taken off, for a band
            // around 1.
            let tau = (f0.abs() + f1.abs() + gdx.abs() + (f0.abs().max(f1.abs()) * anchor.abs()).sqrt()) / 1_048_576.0;
            let ratio = |k: f64| {
                let curvature = 2.0 * (q.abs() - k * tau).max(0.0) / dx2 / rho1(f0.max(f1), 0.25);
                curvature.max(2.0 * (q - k * tau).max(0.0) / dx2 / ell)
            };
            // The monitor counts a secant only where |q| > 4 tau (RESOLVED).
            if ratio(2.0) > 1.01 && q.abs() > 5.0 * tau {
                clear.push(w[0].step);
            }
            if ratio(0.5) > 0.99 {
                possible.push(w[0].step);
            }
        }
        clear_steps += clear.len();
        match by_chain.get(&c) {
            None => assert!(clear.is_empty(), "chain {c}: clear violations at steps {clear:?} not reported"),
            Some(r) => {
                let first: u32 = r["first_step"].parse().unwrap();
                assert!(possible.contains(&first), "chain {c}: first violation reported at step {first}, f64 ratios say {possible:?}");
                assert!(clear.first().is_none_or(|&s| first <= s), "chain {c}: first reported {first}, clear from {clear:?}");
                let (curv, desc): (usize, usize) = (r["curvature"].parse().unwrap(), r["descent"].parse().unwrap());
                assert!(curv.max(desc) >= clear.len() && curv.max(desc) <= possible.len(), "chain {c}: {curv}/{desc} vs {} clear, {} possible", clear.len(), possible.len());
                located += 1;
            }
        }
    }
    assert!(located > traced / 4 && clear_steps > traced, "{located} traced chains with violations, {clear_steps} clear steps");
    // summary.json's first violations are the earliest of violations.csv.
    let first_step = m["first"][0]["step"].as_u64().unwrap();
    assert_eq!(first_step, rows.iter().map(|r| r["first_step"].parse::<u64>().unwrap()).min().unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

/// `--on-violation stop` ends the run at the read-back after the first violation: exit status
/// 3, every file written, the monitor block saying so, fewer steps than asked.
#[test]
fn a_violation_stops_the_run_with_status_3() {
    let dir = tmp("monitor-stop");
    let base = "--objective quartic --dim 3 --seed 11 --method pgd --step-rule self-bounding \
                --rho1 1,1.5,0.5,-0.25 --rho2 6,8.485,0.25,-0.25 --init uniform:1 --chains 64";
    assert_eq!(run(&dir.join("warn"), &format!("{base} --steps 200000")), 0);
    let warned = read(&dir.join("warn/summary.json"));
    assert_eq!(run(&dir.join("stop"), &format!("{base} --steps 200000 --on-violation stop")), 3);
    let s = read(&dir.join("stop/summary.json"));
    let m = &s["monitor"];
    assert!(m["stopped"].as_str().is_some_and(|t| t.contains("step")), "{m}");
    assert!(m["chains_with_violations"].as_u64().unwrap() > 0);
    assert!(warned["monitor"]["stopped"].is_null());
    let steps = |v: &Value| v["chain_steps"].as_u64().unwrap();
    assert!(steps(&s) < steps(&warned), "stopped after {} chain-steps, the whole run took {}", steps(&s), steps(&warned));
    for f in ["events.csv", "chains.csv", "violations.csv", "experiment.toml"] {
        assert!(dir.join("stop").join(f).exists(), "{f}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `--safeguard halve` halves a chain's step at a violated step until it fits the curvature the
/// step crossed: with rho1 declared 32x too small every chain diverges without it and none with
/// it, after a few halvings each, recorded per chain.
#[test]
fn halving_repairs_an_underestimated_rho1() {
    let dir = tmp("monitor-halve");
    let base = "--objective quartic --dim 6 --seed 5 --method gd --step-rule self-bounding --margin 0 \
                --rho1 0.125,0.19,0.5,-0.25 --rho2 6,8.485,0.25,-0.25 --init uniform:1.5 --chains 128 --steps 300";
    assert_eq!(run(&dir.join("off"), base), 0);
    assert_eq!(run(&dir.join("halve"), &format!("{base} --safeguard halve")), 0);
    let (off, on) = (read(&dir.join("off/summary.json")), read(&dir.join("halve/summary.json")));
    let n = |s: &Value, k: &str| s["counts"][k].as_u64().unwrap();
    assert!(n(&off, "diverged") > 100 && off["monitor"]["halvings"] == 0, "{}", off["counts"]);
    assert!(n(&on, "diverged") == 0 && n(&on, "converged") > 100, "{}", on["counts"]);
    let halvings = on["monitor"]["halvings"].as_u64().unwrap();
    assert!((128..=128 * 8).contains(&halvings), "{halvings} halvings");
    let rows = violations(&dir.join("halve"));
    assert_eq!(rows.iter().map(|r| r["halvings"].parse::<u64>().unwrap()).sum::<u64>(), halvings);
    std::fs::remove_dir_all(&dir).ok();
}

/// The monitor watches and changes nothing: with it off the chains end bit for bit where they
/// end with it on, and the summary has no monitor block and no violations.csv.
#[test]
fn switching_the_monitor_off_changes_nothing_but_the_report() {
    let dir = tmp("monitor-off");
    for (k, obj) in ["--objective toy-saddle --method pgd", "--objective phase-retrieval --dim 8 --method pgd --step-rule self-bounding"].iter().enumerate() {
        let args = format!("{obj} --seed {k} --chains 200 --steps 300 --init uniform:0.1");
        let (on, off) = (dir.join(format!("on{k}")), dir.join(format!("off{k}")));
        assert_eq!(run(&on, &args), 0);
        assert_eq!(run(&off, &format!("{args} --monitor off")), 0);
        for f in ["chains.csv", "events.csv"] {
            assert!(std::fs::read(on.join(f)).unwrap() == std::fs::read(off.join(f)).unwrap(), "{obj}: {f} differs");
        }
        assert!(read(&off.join("summary.json"))["monitor"].is_null());
        assert!(read(&on.join("summary.json"))["monitor"]["checks"]["curvature"].as_u64().unwrap() > 0);
        assert!(!off.join("violations.csv").exists() && on.join("violations.csv").exists());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Shards merge into the whole run's monitor: the same counts, first violations, rho1 bins and
/// violations.csv, byte for byte.
#[test]
fn shards_merge_into_the_whole_runs_monitor() {
    let dir = tmp("monitor-shards");
    let args = "--objective quartic --dim 4 --seed 21 --method pgd --step-rule self-bounding \
                --rho1 1,1.5,0.5,-0.25 --rho2 6,8.485,0.25,-0.25 --init uniform:1 --chains 300 --steps 250";
    assert_eq!(run(&dir.join("whole"), args), 0);
    for i in 0..3 {
        assert_eq!(run(&dir.join(format!("s{i}")), &format!("{args} --shard {i}/3")), 0);
    }
    let mut argv = vec!["merge".to_string()];
    argv.extend((0..3).map(|i| dir.join(format!("s{i}")).display().to_string()));
    argv.extend(["--out".to_string(), dir.join("merged").display().to_string()]);
    let out = escapade(&argv);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (whole, merged) = (read(&dir.join("whole/summary.json")), read(&dir.join("merged/summary.json")));
    assert!(whole["monitor"]["chains_with_violations"].as_u64().unwrap() > 10, "{}", whole["monitor"]);
    assert_eq!(whole["monitor"], merged["monitor"]);
    assert_eq!(std::fs::read(dir.join("whole/violations.csv")).unwrap(), std::fs::read(dir.join("merged/violations.csv")).unwrap());
    assert_eq!(whole["digests"]["violations.csv"], merged["digests"]["violations.csv"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// `check --from-run` takes a run's monitor bins as rho1 samples, with no trace: check.json says
/// how many; a run with neither a trace nor the monitor is refused in one line, status 2.
#[test]
fn check_fits_rho1_from_a_runs_monitor_without_a_trace() {
    let dir = tmp("monitor-check");
    let args = "--objective quartic --dim 3 --seed 2 --method pgd --init uniform:2 --chains 256 --steps 300";
    assert_eq!(run(&dir.join("run"), args), 0);
    assert!(!dir.join("run/trace.csv").exists());
    let bins = read(&dir.join("run/summary.json"))["monitor"]["rho1_estimate"]["bins"].as_array().unwrap().len();
    assert!(bins >= 4, "{bins} bins");
    let check = |from: &str| escapade(&["check", "--objective", "quartic", "--dim", "3", "--plots", "none", "--starts", "8", "--out", dir.join("check").to_str().unwrap(), "--from-run", dir.join(from).to_str().unwrap()]);
    let out = check("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("its monitor's {bins} rho1 bins")));
    let json = read(&dir.join("check/check.json"));
    assert_eq!(json["from_run"]["monitor_bins"].as_u64(), Some(bins as u64));
    assert!(json["fits"]["rho1"]["rho"]["a"].as_f64().unwrap() > 0.0);
    assert_eq!(run(&dir.join("off"), &format!("{args} --monitor off")), 0);
    let out = check("off");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.lines().count() == 1 && err.contains("from-run") && err.contains("--monitor on"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A least-squares objective resting near f = 0: its f32 value carries noise of order
/// eps sqrt(f F), far above eps f, and the tolerance covers it (with a purely relative one this
/// run reported some 50000 "violations" at f ~ 1e-9, ratios up to 5e4: noise, not curvature).
#[test]
fn chains_resting_near_zero_report_no_float_noise() {
    let dir = tmp("monitor-noise");
    for (k, (dim, seed)) in [(16, 4), (8, 9)].into_iter().enumerate() {
        let out = dir.join(k.to_string());
        let args = format!(
            "--objective phase-retrieval --dim {dim} --seed {seed} --method gd --step-rule self-bounding \
             --rho1 8,35,0.5,0 --rho2 8.7,337,0.25,0 --init uniform:0.00001 --chains 128 --steps 4000"
        );
        assert_eq!(run(&out, &args), 0);
        let s = read(&out.join("summary.json"));
        let m = &s["monitor"];
        assert_eq!(s["counts"]["converged"], 128, "{}", s["counts"]);
        assert!(m["checks"]["curvature"].as_u64().unwrap() > 128 * 500, "{m}");
        assert_eq!(m["chains_with_violations"], 0, "{m}");
        let fs = std::fs::read_to_string(out.join("chains.csv")).unwrap();
        let f_col = fs.lines().next().unwrap().split(',').position(|c| c == "f").unwrap();
        let f_max = fs.lines().skip(1).map(|l| l.split(',').nth(f_col).unwrap().parse::<f64>().unwrap()).fold(0.0, f64::max);
        assert!(f_max < 1e-8, "the chains rest near 0: f up to {f_max}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
