//! Reports and the command-line experience: plots that parse, mergeable statistics, TOML round
//! trips, report / compare / sweep, JSON progress.

use escapade::report::plots;
use escapade::stats::{Episode, SurvivalTables};
use escapade::{Runner, Experiment, Init, MethodKind, ObjectiveSpec};
use std::path::{Path, PathBuf};
use std::process::Command;

fn escapade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-reports-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "status {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Number of line series in a plotters SVG (each is one polyline).
fn svg_polylines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"), "not an SVG: {}", path.display());
    text.matches("<polyline").count()
}

fn octopus_report(chains: u32) -> escapade::Report {
    Runner::cpu().run(&Experiment::builder(ObjectiveSpec::from_name("octopus", 4).unwrap().build().unwrap())
        .method(MethodKind::Gd)
        .chains(chains)
        .steps(1500)
        .seed(3)
        .init(Init::Uniform(1.0))
        .trace(3, 10)
        .build()
        .unwrap())
        .unwrap()
}

#[test]
fn statistics_of_disjoint_chain_sets_merge_exactly() {
    let r = octopus_report(600);
    let whole = SurvivalTables::from_episodes(&r.episodes);
    assert!(whole.overall().events() > 600, "too few escapes to test anything");
    let split = |keep: &dyn Fn(u32) -> bool| {
        let episodes: Vec<Episode> = r.episodes.iter().filter(|e| keep(e.chain)).copied().collect();
        SurvivalTables::from_episodes(&episodes)
    };
    let mut merged = split(&|c| c % 3 == 0);
    merged.merge(&split(&|c| c % 3 != 0));
    assert_eq!(merged, whole);
    for (label, t) in &whole.by_label {
        assert_eq!(merged.by_label[label].kaplan_meier(), t.kaplan_meier());
        assert_eq!(merged.by_label[label].summary(), t.summary());
    }
}

#[test]
fn every_plot_renders_and_parses() {
    let dir = tmp("plots");
    let r = octopus_report(300);
    let saved = r.as_saved(&dir);
    let written = escapade::report::render_plots(&saved, Some(r.experiment.objective.as_ref()), &dir, "svg").unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["survival.svg", "incidence.svg", "histogram.svg", "traces.svg"]);
    // Survival: overall + one per label (4 saddles seen), each with its two dashed bands.
    let labels = saved.survival().by_label.len();
    assert!(labels >= 3);
    let series = 1 + labels;
    assert!(svg_polylines(&dir.join("survival.svg")) >= series, "survival series");
    assert!(std::fs::read_to_string(dir.join("survival.svg")).unwrap().contains("label 2"));
    assert!(svg_polylines(&dir.join("incidence.svg")) >= labels - 1, "incidence series");
    assert!(svg_polylines(&dir.join("traces.svg")) >= 3);
    // A 2-D objective also gets trajectories over the value map; PNG on request.
    let toy = Runner::cpu().run(&Experiment::builder(ObjectiveSpec::ToySaddle.build().unwrap())
        .chains(64)
        .steps(200)
        .init(Init::Ball(1e-3))
        .trace(2, 5)
        .build()
        .unwrap())
        .unwrap();
    let written = escapade::report::render_plots(&toy.as_saved(&dir), Some(toy.experiment.objective.as_ref()), &dir.join("png"), "png").unwrap();
    assert_eq!(written.len(), 5);
    for p in &written {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (900, 600), "{}", p.display());
    }
    // Overlay of several runs: one solid series per run.
    let curves = vec![("a".to_string(), saved.survival().overall().kaplan_meier()), ("b".to_string(), toy.survival.overall().kaplan_meier())];
    plots::survival(&dir.join("overlay.svg"), "overlay", &curves).unwrap();
    let text = std::fs::read_to_string(dir.join("overlay.svg")).unwrap();
    assert!(text.matches("stroke-width=\"2\"").count() >= 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn toml_round_trip_reproduces_the_run() {
    let dir = tmp("toml");
    let first = dir.join("first");
    ok(&escapade(&[
        "run", "--objective", "octopus", "--dim", "3", "--method", "pgd", "--chains", "200", "--steps", "300", "--seed", "9",
        "--backend", "cpu", "--init", "uniform:1", "--out", first.to_str().unwrap(), "--quiet", "--plots", "none",
    ]));
    let toml = first.join("experiment.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("objective = \"octopus\"") && text.contains("seed = 9"), "{text}");
    // The method parameters the objective supplied are stated too: the file says what ran.
    let defaults = ObjectiveSpec::from_name("octopus", 3).unwrap().build().unwrap().default_params();
    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["eta"].as_float(), Some(defaults.eta), "{text}");
    assert_eq!(table["g-thres"].as_float(), Some(defaults.g_thres), "{text}");
    assert_eq!(table["radius"].as_float(), Some(defaults.radius), "{text}");
    assert_eq!(table["t-thres"].as_integer(), Some(i64::from(defaults.t_thres)), "{text}");
    let second = dir.join("second");
    ok(&escapade(&["run", toml.to_str().unwrap(), "--out", second.to_str().unwrap()]));
    for f in ["events.csv", "chains.csv"] {
        assert_eq!(std::fs::read(first.join(f)).unwrap(), std::fs::read(second.join(f)).unwrap(), "{f} differs");
    }
    // Flags typed after the file override it.
    let third = dir.join("third");
    ok(&escapade(&["run", toml.to_str().unwrap(), "--chains", "50", "--out", third.to_str().unwrap()]));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(third.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["chains"], 50);
    // Unknown keys name the key; exit status 2.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "objective = \"octopus\"\nchians = 5\n").unwrap();
    let out = escapade(&["run", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("chians"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn report_compare_sweep_list_and_json_progress() {
    let dir = tmp("cmds");
    let (gd, pgd) = (dir.join("gd"), dir.join("pgd"));
    for (m, d) in [("gd", &gd), ("pgd", &pgd)] {
        let out = escapade(&[
            "run", "--objective", "octopus", "--dim", "3", "--method", m, "--chains", "128", "--steps", "2000", "--backend", "cpu",
            "--out", d.to_str().unwrap(), "--progress", "json", "--plots", "none",
        ]);
        ok(&out);
        let progress = String::from_utf8_lossy(&out.stderr);
        let last = progress.lines().rfind(|l| l.starts_with('{')).expect("no JSON progress line");
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["fraction"], 1.0, "{last}");
    }
    let text = ok(&escapade(&["report", gd.to_str().unwrap()]));
    assert!(text.contains("label 3") && text.contains("median"), "{text}");
    assert!(gd.join("plots/survival.svg").exists());
    let text = ok(&escapade(&["compare", gd.to_str().unwrap(), pgd.to_str().unwrap(), "--out", dir.join("cmp").to_str().unwrap()]));
    assert!(text.contains("median escape (KM)") && text.contains("octopus gd") && text.contains("octopus pgd"), "{text}");
    assert!(svg_polylines(&dir.join("cmp/survival.svg")) >= 2);
    let exp = dir.join("sweep.toml");
    std::fs::write(&exp, "objective = \"octopus\"\nchains = 64\nsteps = 500\nbackend = \"cpu\"\nplots = \"none\"\n").unwrap();
    let text = ok(&escapade(&["sweep", exp.to_str().unwrap(), "--grid", "dim=2,3", "--grid", "method=gd,pgd", "--out", dir.join("sw").to_str().unwrap()]));
    let csv = std::fs::read_to_string(dir.join("sw/sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("dim,method,chains,"), "{csv}");
    assert!(text.contains("median"));
    let out = escapade(&["sweep", exp.to_str().unwrap(), "--grid", "dimension=2"]);
    assert_eq!(out.status.code(), Some(2));
    let text = ok(&escapade(&["list"]));
    assert!(text.contains("phase-retrieval") && text.contains("perturbed-precond-gd"));
    let out = escapade(&["report", dir.join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// Quantiles the Kaplan-Meier curve does not reach are null in summary.json, with `reached`
/// false, never a word in a numeric field; reached ones are numbers flagged true.
#[test]
fn unreached_quantiles_are_null_and_flagged() {
    let dir = tmp("quantiles");
    // GD on the octopus with too few steps for its later saddles: some quantiles are not reached.
    ok(&escapade(&["run", "--objective", "octopus", "--dim", "5", "--method", "gd", "--chains", "64", "--steps", "120", "--backend", "cpu", "--out", dir.to_str().unwrap(), "--quiet", "--plots", "none"]));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let s = &summary["survival"];
    let groups: Vec<&serde_json::Value> = std::iter::once(&s["overall"]).chain(s["by_label"].as_object().unwrap().values()).collect();
    let (mut nulls, mut numbers) = (0, 0);
    for g in groups {
        for q in ["median", "p10", "p90"] {
            let reached = g["reached"][q].as_bool().unwrap_or_else(|| panic!("no reached.{q} in {g}"));
            match (&g[q], reached) {
                (serde_json::Value::Null, false) => nulls += 1,
                (v, true) if v.is_u64() => numbers += 1,
                (v, r) => panic!("{q} = {v} with reached {r} in {g}"),
            }
        }
    }
    assert!(nulls > 0 && numbers > 0, "{nulls} unreached, {numbers} reached: {s}");
    // The report reads the run back.
    ok(&escapade(&["report", dir.to_str().unwrap(), "--plots", "none"]));
    // sweep.csv: a number or an empty cell, as the other CSV files leave a missing number.
    let sweep = tmp("quantiles-sweep");
    let exp = sweep.join("exp.toml");
    std::fs::write(&exp, "objective = \"octopus\"\ndim = 5\nmethod = \"gd\"\nchains = 64\nsteps = 120\nbackend = \"cpu\"\nplots = \"none\"\n").unwrap();
    ok(&escapade(&["sweep", exp.to_str().unwrap(), "--grid", "seed=0", "--quiet", "--out", sweep.join("sw").to_str().unwrap()]));
    let mut csv = csv::Reader::from_path(sweep.join("sw/sweep.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let row = csv.records().next().unwrap().unwrap();
    let cell = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    for (q, json) in [("median", &s["overall"]["median"]), ("p90", &s["overall"]["p90"])] {
        assert_eq!(cell(q), json.as_u64().map_or(String::new(), |v| v.to_string()), "{q}");
    }
    let medians = cell("label_medians");
    assert!(!medians.contains("not") && medians.split(' ').all(|p| p.split_once(':').is_some_and(|(_, m)| m.is_empty() || m.parse::<u32>().is_ok())), "{medians}");
    std::fs::remove_dir_all(&sweep).ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn example_experiment_files_run() {
    let dir = tmp("examples");
    for (file, label) in [("examples/octopus_comparison/experiment.toml", "octopus"), ("examples/phase_retrieval_self_bounding/experiment.toml", "phase-retrieval"), ("examples/wine_plateaus/experiment.toml", "mlp")] {
        let out = dir.join(label);
        ok(&escapade(&["run", file, "--chains", "64", "--steps", "300", "--backend", "cpu", "--out", out.to_str().unwrap(), "--quiet"]));
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["objective"]["name"], label);
        assert_eq!(summary["chains"], 64);
        assert_eq!(summary["schema_version"], 6);
        assert!(out.join("plots/survival.svg").exists());
    }
    std::fs::remove_dir_all(&dir).ok();
}
