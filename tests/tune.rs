//! `escapade tune` against what it claims: its choice is as good as an exhaustive grid's best
//! (within the grid-best's interval) for a third of the grid's compute, common random numbers
//! make identical candidates identical, a constraint drops a diverging radius, an interrupted
//! tune resumes to the uninterrupted one's table, and bad input is one line with status 2.

mod common;

use common::table::{case, check, escapade, tmp};
use escapade::report::files::SavedRun;
use escapade::tune::{Bootstrap, Sample, Scored, Statistic};
use std::path::Path;

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "status {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `escapade tune EXP ARGS... --plots none --quiet --out OUT`.
fn tune(exp: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["tune", exp.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend(["--plots", "none", "--quiet", "--out", out.to_str().unwrap()]);
    escapade(&all)
}

/// tune.csv as (header, rows of cells).
fn table(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(dir.join("tune.csv")).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    (header, r.records().map(|x| x.unwrap().iter().map(String::from).collect()).collect())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs every radius of `radii` at the experiment's full size (the exhaustive grid), tunes the
/// same radii, and checks the choice: its grid ERT lies within the grid-best's bootstrap
/// interval, the tune's own estimate of it is the grid's (the same chains: the same run), and
/// the tune spent at most a third of the grid's chain-steps.
fn tune_against_the_grid(name: &str, experiment: &str, radii: &[&str], (chains, steps, seed): (u32, u32, u64)) {
    let d = tmp(&format!("tune-grid-{name}"));
    let exp = d.join("exp.toml");
    std::fs::write(&exp, format!("{experiment}\nchains = {chains}\nsteps = {steps}\nseed = {seed}\nbackend = \"cpu\"\n")).unwrap();
    let boot = Bootstrap { resamples: 200, confidence: 0.95, seed };
    let mut grid = Vec::new();
    for r in radii {
        let out = d.join(format!("grid-{r}"));
        ok(&escapade(&["run", exp.to_str().unwrap(), &format!("--radius={r}"), "--plots", "none", "--quiet", "--out", out.to_str().unwrap()]));
        let sample = Sample::of(&SavedRun::load(&out).unwrap());
        let feasible = sample.failure_fractions().0 <= 0.01;
        grid.push((r.to_string(), Scored::of(&sample, Statistic::Ert, &boot, 0), feasible));
    }
    let best = grid.iter().filter(|g| g.2).min_by(|a, b| a.1.value.total_cmp(&b.1.value)).expect("a feasible radius");
    let tuned = d.join("tune");
    let spec = format!("radius={}", radii.join(","));
    let said = ok(&tune(&exp, &tuned, &["--tune", &spec]));
    let j = json(&tuned.join("tune.json"));
    let chosen = j["best"]["values"]["radius"].as_str().unwrap().to_string();
    let at = grid.iter().find(|g| g.0 == chosen).unwrap_or_else(|| panic!("{name}: chose {chosen}, not a grid value"));
    assert!(
        at.1.value >= best.1.lower && at.1.value <= best.1.upper,
        "{name}: tune chose radius {chosen} (grid ERT {}), outside the grid-best radius {}'s interval [{}, {}]",
        at.1.value,
        best.0,
        best.1.lower,
        best.1.upper
    );
    // The last rung is the experiment itself with the experiment's seed: the grid's run, exactly.
    assert_eq!(j["best"]["value"].as_f64().unwrap(), at.1.value, "{name}: the tune's estimate is not the grid run's");
    let (used, whole) = (j["compute"]["chain_steps"].as_u64().unwrap(), j["compute"]["grid_chain_steps"].as_u64().unwrap());
    assert_eq!(whole, radii.len() as u64 * u64::from(chains) * u64::from(steps));
    assert!(3 * used <= whole, "{name}: {used} chain-steps of the grid's {whole}");
    assert!(said.contains(&format!("best: radius={chosen}")) && said.contains("of the full grid's"), "{said}");
    // best.toml runs as an experiment file, with the chosen radius.
    let best_toml = std::fs::read_to_string(tuned.join("best.toml")).unwrap();
    assert!(best_toml.contains(&format!("radius = {}", chosen.parse::<f64>().unwrap())), "{best_toml}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn toy_saddle_tune_is_as_good_as_the_grid_for_a_third_of_it() {
    tune_against_the_grid("toy", "objective = \"toy-saddle\"\nmethod = \"pgd\"\ninit = \"zero\"", &["0.003", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"], (1536, 500, 11));
}

#[test]
fn octopus_tune_is_as_good_as_the_grid_for_a_third_of_it() {
    tune_against_the_grid(
        "octopus",
        "objective = \"octopus\"\ndim = 8\nmethod = \"pgd\"\ninit = \"uniform:1\"\nstate = \"f64\"",
        &["0.003", "0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30"],
        (1024, 1500, 5),
    );
}

#[test]
fn identical_candidates_give_identical_statistics() {
    // Hard clipping at 1e20 or 1e30 clips nothing the toy saddle's gradients reach: the two
    // candidates are the same method, and common random numbers make them the same chains.
    let d = tmp("tune-crn");
    let exp = d.join("exp.toml");
    std::fs::write(&exp, "objective = \"toy-saddle\"\nmethod = \"pgd\"\ninit = \"normal:0.01\"\nchains = 600\nsteps = 400\nseed = 21\nbackend = \"cpu\"\n").unwrap();
    ok(&tune(&exp, &d.join("t"), &["--tune", "clip=1e20,1e30"]));
    let (h, rows) = table(&d.join("t"));
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let rungs: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert!(rungs.len() >= 2, "{rows:?}");
    for rung in rungs {
        let at: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == rung).collect();
        // Neither is worse with any confidence: both go on to every rung.
        assert_eq!(at.len(), 2, "rung {rung}: {at:?}");
        for c in ["value", "lower", "upper", "escapes", "diverged_fraction"] {
            assert_eq!(at[0][col(c)], at[1][col(c)], "rung {rung}, {c}");
        }
        assert!(at[0][col("escapes")].parse::<u64>().unwrap() > 0);
    }
    // And the runs themselves are the same chains, event for event.
    let runs: Vec<_> = std::fs::read_dir(d.join("t/rung-0")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let events = |dir: &Path| std::fs::read(dir.join("events.csv")).unwrap();
    assert_eq!(events(&runs[0]), events(&runs[1]));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_constraint_drops_a_diverging_radius() {
    let d = tmp("tune-diverge");
    let exp = d.join("exp.toml");
    std::fs::write(&exp, "objective = \"toy-saddle\"\nmethod = \"pgd\"\ninit = \"zero\"\nchains = 300\nsteps = 300\nseed = 4\nbackend = \"cpu\"\n").unwrap();
    let run = |out: &str, extra: &[&str]| {
        let o = d.join(out);
        ok(&tune(&exp, &o, &[&["--tune", "radius=0.5,20", "--rungs", "1"], extra].concat()));
        table(&o)
    };
    let (h, rows) = run("t", &[]);
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let big = rows.iter().find(|r| r[col("radius")] == "20").unwrap();
    assert!(big[col("diverged_fraction")].parse::<f64>().unwrap() > 0.01, "{big:?}");
    assert_eq!(big[col("verdict")], "dropped");
    assert!(big[col("why")].contains("--max-diverged"), "{big:?}");
    // When every candidate breaks the constraint: status 1, one line, the table written.
    let all = d.join("all");
    let out = tune(&exp, &all, &["--tune", "radius=20,40", "--rungs", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: no feasible candidate") && err.trim_end().lines().count() == 1, "{err}");
    assert_eq!(table(&all).1.len(), 2);
    assert!(!all.join("best.toml").exists());
    // Allowed to diverge, it is ranked by its statistic instead of dropped by the constraint.
    let (_, rows) = run("loose", &["--max-diverged", "1"]);
    let big = rows.iter().find(|r| r[col("radius")] == "20").unwrap();
    assert!(!big[col("why")].contains("--max-diverged"), "{big:?}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_constraint_only_a_wide_rung_sees_re_admits_what_was_ranked_out() {
    // PGD on the octopus (d = 10, f64, seed 2): radius 3.16 escapes fastest and loses none of
    // the 456 chains of rung 0, but 0.15% of rung 1's 1366 leave the domain. With
    // --max-diverged 0 both radius-3.16 candidates go at rung 1, after radius 1 was ranked out
    // at rung 0: it comes back, runs at rung 1's size and wins.
    let d = tmp("tune-readmit");
    let exp = d.join("exp.toml");
    std::fs::write(&exp, "objective = \"octopus\"\ndim = 10\nmethod = \"pgd\"\nchains = 4096\nsteps = 3000\nseed = 2\ninit = \"uniform:1\"\nstate = \"f64\"\nbackend = \"cpu\"\n").unwrap();
    let run = |out: &str, extra: &[&str]| {
        let o = d.join(out);
        ok(&tune(&exp, &o, &[&["--tune", "radius=0.3,1,3.16", "--tune", "t-thres=1,4", "--no-theory"], extra].concat()));
        (table(&o), json(&o.join("tune.json")))
    };
    let ((h, rows), j) = run("strict", &["--max-diverged", "0"]);
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let rung1: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "1").collect();
    assert!(rung1.iter().filter(|r| r[col("radius")] == "3.16").all(|r| r[col("why")].contains("--max-diverged")), "{rung1:?}");
    assert!(rung1.iter().any(|r| r[col("radius")] == "1" && r[col("why")].starts_with("re-admitted")), "{rung1:?}");
    assert_eq!(j["best"]["values"]["radius"], "1");
    let best = rows.iter().find(|r| r[col("verdict")] == "best").unwrap();
    assert_eq!(best[col("diverged_fraction")].parse::<f64>().unwrap(), 0.0);
    // Within the default 1% the faster radius wins.
    let (_, j) = run("default", &[]);
    assert_eq!(j["best"]["values"]["radius"], "3.16");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_budget_stops_the_search_at_the_last_rung_it_covers() {
    let d = tmp("tune-budget");
    let exp = d.join("exp.toml");
    std::fs::write(&exp, "objective = \"toy-saddle\"\nmethod = \"pgd\"\ninit = \"zero\"\nchains = 600\nsteps = 400\nseed = 9\nbackend = \"cpu\"\n").unwrap();
    // Rungs of 67 x 45, 200 x 134 and 600 x 400: the first costs 4 x 67 x 45 = 12060 chain-steps,
    // the next at least 200 x 134 = 26800 more.
    let o = d.join("t");
    let said = ok(&tune(&exp, &o, &["--tune", "radius=0.1,0.3,1,3", "--budget", "20000"]));
    // Rung 0 keeps one candidate, which skips rung 1 (nothing to compare it with) for rung 2.
    assert!(said.contains("note: the budget stopped the search before rung 2 (240000 more"), "{said}");
    let j = json(&o.join("tune.json"));
    assert_eq!(j["compute"]["chain_steps"], 12060);
    assert_eq!(j["best"]["rung"], 0);
    assert_eq!(j["rungs"][0], serde_json::json!([67, 45]));
    // The choice is rung 0's best by its estimate.
    let (h, rows) = table(&o);
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let candidates: Vec<&Vec<String>> = rows.iter().filter(|r| r[col("candidate")].starts_with('c')).collect();
    assert!(candidates.iter().all(|r| r[0] == "0"), "{rows:?}");
    let least = candidates.iter().min_by(|a, b| a[col("value")].parse::<f64>().unwrap().total_cmp(&b[col("value")].parse::<f64>().unwrap())).unwrap();
    assert_eq!(least[col("verdict")], "best");
    assert_eq!(j["best"]["values"]["radius"].as_str().unwrap(), least[col("radius")]);
    std::fs::remove_dir_all(&d).ok();
}

#[cfg(unix)]
#[test]
fn an_interrupted_tune_resumes_to_the_same_table() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let d = tmp("tune-resume");
    let exp = d.join("exp.toml");
    // Rung 1 and 2 take seconds on the CPU; the interrupt comes as rung 1 starts.
    std::fs::write(&exp, "objective = \"quartic\"\ndim = 24\nmethod = \"pgd\"\ninit = \"normal:0.01\"\nchains = 6000\nsteps = 3000\nseed = 8\nbackend = \"cpu\"\ncertify-eps = \"off\"\n").unwrap();
    let tune_command = |out: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_escapade"));
        c.args(["tune", exp.to_str().unwrap(), "--tune", "radius=log:0.001:1:9", "--plots", "none", "--quiet", "--out", d.join(out).to_str().unwrap()]);
        c
    };
    ok(&tune_command("whole").output().unwrap());
    let child = tune_command("cut").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !d.join("cut/rung-1").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "rung 1 never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let cut = child.wait_with_output().unwrap();
    assert_eq!(cut.status.code(), Some(130), "the tune was not interrupted (it ended first?): {}", String::from_utf8_lossy(&cut.stderr));
    assert!(String::from_utf8_lossy(&cut.stderr).contains("--resume"));
    ok(&tune_command("cut").arg("--resume").output().unwrap());
    let read = |dir: &str, f: &str| std::fs::read_to_string(d.join(dir).join(f)).unwrap();
    for f in ["tune.csv", "best.toml"] {
        assert_eq!(read("cut", f), read("whole", f), "{f}");
    }
    // The quartic declares rho1 and rho2: the theory's row is there, and a finished tune resumed
    // reads every run back, the theory's too, to the same table.
    assert!(read("whole", "tune.csv").contains("theory:self-bounding"));
    ok(&tune_command("whole").arg("--resume").output().unwrap());
    assert_eq!(read("whole", "tune.csv"), read("cut", "tune.csv"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_tune_input_is_one_line_with_status_2() {
    const EXP: &str = "objective = \"toy-saddle\"\nmethod = \"pgd\"\nchains = 64\nsteps = 90\nbackend = \"cpu\"\n";
    let t = |name, says: &[&'static str], args: &str| case(name, 2, says, &format!("tune {{d}}/exp.toml {args} --out {{d}}/t")).with("exp.toml", EXP).absent("{d}/t");
    let cases = vec![
        t("unknown key", &["invalid tune", "got steps", "radius, clip, eta"], "--tune steps=1,2"),
        t("non-numeric key", &["invalid tune", "got objective"], "--tune objective=1,2"),
        t("non-numeric value", &["invalid tune radius", "numbers"], "--tune radius=a,b"),
        t("one value", &["invalid tune radius", "at least 2 distinct values"], "--tune radius=0.1"),
        t("range of one", &["invalid tune radius", "2 to 1000"], "--tune radius=log:0.1:1:1"),
        t("log from zero", &["invalid tune radius", "0 < LO < HI"], "--tune radius=log:0:1:5"),
        t("log from negative", &["invalid tune radius", "0 < LO < HI"], "--tune radius=log:-1:1:5"),
        t("accuracy without network", &["invalid statistic", "accuracy needs a network"], "--tune radius=0.1,1 --statistic accuracy"),
        t("unknown statistic", &["invalid statistic", "quantile:P"], "--tune radius=0.1,1 --statistic median"),
        t("budget below a rung", &["invalid budget", "at least", "one rung"], "--tune radius=0.1,1,10 --budget 100"),
        t("too many rungs", &["invalid rungs"], "--tune radius=0.1,1,10 --rungs 5"),
        t("reduction 1", &["invalid reduction"], "--tune radius=0.1,1 --reduction 1"),
        t("confidence 1", &["invalid confidence"], "--tune radius=0.1,1 --confidence 1"),
        t("max-diverged above 1", &["invalid max-diverged"], "--tune radius=0.1,1 --max-diverged 2"),
        t("value a run refuses", &["invalid", "eta"], "--tune eta=0.1,1e40"),
        t("key twice", &["invalid tune", "each key once"], "--tune radius=0.1,1 --tune radius=2,3"),
        t("rho-from missing", &["nope.json"], "--tune radius=0.1,1 --rho-from {d}/nope.json"),
        t("rho-from unused", &["invalid rho-from", "--no-theory"], "--tune radius=0.1,1 --rho-from {d}/exp.toml --no-theory"),
        t("rho-from for clip", &["invalid rho-from", "not every tuned option"], "--tune clip=1,2 --rho-from {d}/exp.toml"),
        t("powers past u64", &["invalid rungs"], "--tune radius=0.1,1 --reduction 16 --rungs 17"),
        t("grid too large", &["invalid tune", "at most 10000 candidates"], "--tune radius=lin:1:2:1000 --tune eta=lin:0.1:0.2:11"),
    ];
    check(&tmp("hostile-tune"), &[], cases);
}

#[test]
fn tune_runs_on_the_gpu_path_with_its_constraints_and_common_random_numbers() {
    if common::gpu().is_none() {
        return;
    }
    // On the device: the diverging radius dropped by its constraint, identical candidates (a clip
    // that never acts) identical, and the choice a radius the CPU also finds feasible.
    let d = tmp("tune-gpu");
    let exp = d.join("exp.toml");
    std::fs::write(&exp, "objective = \"toy-saddle\"\nmethod = \"pgd\"\ninit = \"zero\"\nchains = 512\nsteps = 300\nseed = 13\n").unwrap();
    let o = d.join("t");
    ok(&tune(&exp, &o, &["--tune", "radius=0.1,1,20", "--tune", "clip=1e20,1e30", "--backend", "gpu"]));
    let (h, rows) = table(&o);
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let rung0: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "0").collect();
    assert_eq!(rung0.len(), 6);
    // Each radius-20 candidate's last row: dropped by the constraint.
    for c in ["c4", "c5"] {
        let last = rows.iter().rfind(|r| r[col("candidate")] == c).unwrap();
        assert!(last[col("radius")] == "20" && last[col("why")].contains("--max-diverged"), "{last:?}");
    }
    for radius in ["0.1", "1"] {
        let pair: Vec<&&Vec<String>> = rung0.iter().filter(|r| r[col("radius")] == radius).collect();
        assert_eq!(pair[0][col("value")], pair[1][col("value")], "radius {radius}");
        assert_eq!(pair[0][col("escapes")], pair[1][col("escapes")], "radius {radius}");
        assert!(pair[0][col("escapes")].parse::<u64>().unwrap() > 10, "radius {radius}: {pair:?}");
    }
    let j = json(&o.join("tune.json"));
    assert_ne!(j["best"]["values"]["radius"], "20");
    std::fs::remove_dir_all(&d).ok();
}
