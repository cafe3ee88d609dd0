//! What each subcommand does, on top of the library.

use super::progress::Reporter;
use super::{Cli, Export, SweepArgs};
use clap::{ArgMatches, CommandFactory};
use escapade::options::{CheckArgs, Engines, Plan, PlotFormat, RunArgs, SWITCHES, experiment_toml, objective};
use escapade::report::files::SavedRun;
use escapade::report::{plots, render_plots};
use escapade::outcome::Final;
use escapade::stats::{SurvivalSummary, SurvivalTables, TimeTable};
use escapade::objective::catalogue;
use escapade::{Devices, Error, Objective, Report};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors carry their own exit status ([`Error::exit_code`]).
type CmdResult<T = ()> = Result<T, Error>;


/// The process's stop flag, raised by SIGINT/SIGTERM (the handler is installed once, on first use:
/// a sweep's runs share it).
fn stop_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    static STOP: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> = std::sync::OnceLock::new();
    STOP.get_or_init(|| {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        // Without a handler (another one is installed) Ctrl-C just ends the process as before.
        let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
        stop
    })
    .clone()
}

/// `escapade run`: returns the report.
pub fn run(a: &RunArgs, matches: &ArgMatches, engines: &mut Engines) -> CmdResult<Report> {
    // SIGINT/SIGTERM: the next dispatch (GPU) or slice of steps (CPU) saves a checkpoint and the
    // run stops with exit status 130.
    let stop = (a.checkpoint_every != "off").then(stop_flag);
    let plan = Plan::new(a, Some(&a.out), engines, stop)?;
    let mut reporter = Reporter::new(a.progress, a.quiet);
    if let Some(note) = plan.fallback.as_ref().filter(|_| !a.quiet) {
        eprintln!("warning: {note}");
    }
    let mut warned = a.quiet;
    let mut observe = |p: &escapade::advanced::Progress| {
        if p.violations > 0 && !warned {
            warned = true;
            let then = if a.on_violation == escapade::options::OnViolation::Stop { "the run stops at this read-back" } else { "--on-violation stop would end the run here" };
            reporter.note(&format!("warning: the monitor found a violation of the bounds the chains step under ({} so far); violations.csv will locate them; {then}", p.violations));
        }
        reporter.update(p)
    };
    let report = plan.run(&mut observe)?;
    reporter.finish();
    // experiment.toml: every option of this run as `run` parsed it.
    let plotted = escapade::options::save(&report, Some(&experiment_toml(matches, &report.experiment)), &a.out, a.plots, a.save_points)?;
    // The results are safe: the checkpoint is no longer needed.
    plan.clear_checkpoint();
    if !a.quiet {
        println!("{}", report.human_summary());
        let d = a.out.display();
        println!("wrote {d}/summary.json, events.csv, chains.csv, experiment.toml{}", if plotted.is_empty() { "" } else { " and plots/" });
        if let Some(why) = &report.raw.stopped {
            println!("stopped at {why} (--on-violation stop; exit status 3)");
        }
    }
    Ok(report)
}

fn survival_line(s: &SurvivalSummary) -> String {
    let ends = format!("converged {}, precision-limited {}, diverged {}, censored {}", s.converged, s.precision_limited, s.diverged, s.censored);
    if s.saddle_stalls == 0 {
        return ends;
    }
    format!(
        "{} saddle stalls: median {} | p10 {} | p90 {} | success {:.1}% | ERT {} | escape incidence {:.3} | {ends}",
        s.saddle_stalls,
        s.median,
        s.p10,
        s.p90,
        100.0 * s.success_rate,
        s.expected_running_time.map_or("-".into(), |v| format!("{v:.1}")),
        s.escape_cif
    )
}

/// The 2-D objective a saved run used, when it can be rebuilt from its summary (for trajectory
/// plots): an objective without data, whose `params` name its flags' values (one with data is
/// not rebuilt: its data is not in the summary).
fn objective_from_summary(summary: &serde_json::Value) -> Option<Arc<dyn Objective>> {
    let o = &summary["objective"];
    let dim = o["dim"].as_u64()? as usize;
    let entry = catalogue::entry(o["name"].as_str()?).ok()?;
    if dim != 2 || !entry.data.is_empty() {
        return None;
    }
    entry.spec(&entry.given_from_params(dim, &o["params"])).ok()?.build().ok()
}

/// The running time of a group's saddle stalls in COCO's and IOHprofiler's terms: the success
/// probability, the mean times of the stalls that escaped and of those that did not, and
/// ERT = E[RT_s] + (1 - p_s) / p_s E[RT_us] ("inf" where none escaped).
fn running_time_line(t: &TimeTable) -> String {
    let [p, s, u, ert] = running_time_cells(&t.running_time());
    format!("running time: p_s {p} | E[RT escaped] {s} | E[RT not escaped] {u} | ERT {ert}")
}

/// p_s, E[RT_s], E[RT_us] and ERT as printed: "-" where a part is undefined, ERT "inf" where
/// stalls ran and none escaped.
fn running_time_cells(r: &escapade::stats::RunningTime) -> [String; 4] {
    let steps = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let ert = match r.ert {
        Some(v) => format!("{v:.1}"),
        None if r.runs > 0 => "inf".into(),
        None => "-".into(),
    };
    [r.success_probability.map_or("-".into(), |p| format!("{p:.3}")), steps(r.mean_success), steps(r.mean_failure), ert]
}

/// The longest saddle stall among `episodes`, where the ECDF plot's curves end.
fn longest_stall(episodes: &[escapade::stats::Episode]) -> u32 {
    episodes.iter().filter(|e| e.outcome.is_saddle_stall()).map(|e| e.time).max().unwrap_or(1)
}

/// `escapade report DIR`.
pub fn report(dir: &Path, plots: PlotFormat, export: Option<Export>) -> CmdResult {
    let ext = plots.ext();
    let run = SavedRun::load(dir)?;
    let episodes = run.episodes();
    let tables = SurvivalTables::from_episodes(&episodes);
    println!("{}: {} chains, {} escape events", run.name(), run.chains.len(), run.events.len());
    let overall = tables.overall();
    println!("  all labels: {}", survival_line(&overall.summary()));
    println!("    {}", running_time_line(&overall));
    for (label, t) in &tables.by_label {
        println!("  label {label}: {}", survival_line(&t.summary()));
        println!("    {}", running_time_line(t));
    }
    if let Some(ext) = ext {
        let obj = objective_from_summary(&run.summary);
        let written = render_plots(&run, obj.as_deref(), &dir.join("plots"), ext)?;
        for p in written {
            println!("wrote {}", p.display());
        }
        // The runtime ECDF, all labels and each label: IOHprofiler's and COCO's picture.
        let mut curves = vec![("all labels".to_string(), overall.ecdf())];
        curves.extend(tables.by_label.iter().map(|(l, t)| (format!("label {l}"), t.ecdf())));
        let path = dir.join("plots").join(format!("ecdf.{ext}"));
        plots::ecdf(&path, &format!("Saddle stalls escaped by t (ECDF): {}", run.name()), &curves, longest_stall(&episodes))?;
        println!("wrote {}", path.display());
    }
    if export == Some(Export::Ioh) {
        let files = escapade::report::ioh::write_algorithm(&run, &run.name(), &dir.join("ioh"))?;
        print_export(&[files]);
    }
    Ok(())
}

/// One line per exported algorithm: where, how many functions and runs.
fn print_export(algorithms: &[escapade::report::ioh::AlgorithmFiles]) {
    for a in algorithms {
        let runs: usize = a.functions.iter().map(|f| f.runs).sum();
        println!("wrote {} (IOHprofiler: algId \"{}\", {} functions, {runs} runs)", a.dir.display(), a.alg_id, a.functions.len());
    }
}

/// `escapade merge DIR... --out DIR`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> CmdResult {
    if out.join("summary.json").exists() {
        return Err(Error::invalid("out", "a directory without a run", out.display()));
    }
    let m = escapade::report::merge::merge(dirs, out)?;
    println!("merged {} shards: {} chains, {} escape events into {}", m.shards, m.chains, m.events, out.display());
    Ok(())
}

/// `escapade compare DIR1 DIR2 ...`.
pub fn compare(dirs: &[PathBuf], out: &Path, plots: PlotFormat, export: Option<Export>) -> CmdResult {
    let ext = plots.ext();
    let runs: Vec<SavedRun> = dirs.iter().map(|d| SavedRun::load(d)).collect::<Result<_, _>>()?;
    let names: Vec<String> = runs.iter().zip(dirs).map(|(r, d)| format!("{} ({})", r.name(), d.display())).collect();
    // Each run's episodes and tables once: every row and plot below reads them.
    let episodes: Vec<Vec<escapade::stats::Episode>> = runs.iter().map(SavedRun::episodes).collect();
    let tables: Vec<SurvivalTables> = episodes.iter().map(|e| SurvivalTables::from_episodes(e)).collect();
    let overall: Vec<TimeTable> = tables.iter().map(SurvivalTables::overall).collect();
    let summaries: Vec<SurvivalSummary> = overall.iter().map(TimeTable::summary).collect();
    let width = names.iter().map(String::len).max().unwrap_or(10).max(12);
    let row = |label: &str, f: &dyn Fn(usize) -> String| {
        let cells: Vec<String> = (0..runs.len()).map(|i| format!("{:>w$}", f(i), w = width)).collect();
        println!("{label:<22} {}", cells.join("  "));
    };
    row("run", &|i| names[i].clone());
    row("chains", &|i| runs[i].chains.len().to_string());
    row("escape events", &|i| runs[i].events.len().to_string());
    for f in [Final::Converged, Final::PrecisionLimited, Final::Censored, Final::Diverged] {
        row(&format!("chains {}", f.name().replace('_', "-")), &|i| runs[i].finals.iter().filter(|&&x| x == f).count().to_string());
    }
    row("median escape (KM)", &|i| summaries[i].median.to_string());
    row("p10 / p90", &|i| format!("{} / {}", summaries[i].p10, summaries[i].p90));
    row("success rate", &|i| format!("{:.1}%", 100.0 * summaries[i].success_rate));
    row("expected running time", &|i| summaries[i].expected_running_time.map_or("-".into(), |v| format!("{v:.1}")));
    // The same ERT in COCO's parts (p_s, the mean times of escaped and other stalls).
    let cells: Vec<[String; 4]> = overall.iter().map(|t| running_time_cells(&t.running_time())).collect();
    for (k, name) in ["p_s", "E[RT escaped]", "E[RT not escaped]", "ERT (COCO)"].iter().enumerate() {
        row(name, &|i| cells[i][k].clone());
    }
    let labels: std::collections::BTreeSet<u32> = tables.iter().flat_map(|t| t.by_label.keys().copied()).collect();
    for l in labels {
        // The cause-specific median with the share of stalls that escape at all (precision or
        // divergence may end most of them first).
        row(&format!("label {l}: median (inc.)"), &|i| {
            tables[i].by_label.get(&l).map_or("-".into(), |t| {
                let k = t.summary();
                format!("{} ({:.3})", k.median, k.escape_cif)
            })
        });
    }
    // Two-sample Kolmogorov-Smirnov tests of each run against the first: the same experiment on
    // two backends, or two methods, differ in distribution where p is small.
    let ks = |i: usize, sample: &dyn Fn(&SavedRun) -> Vec<f64>| {
        let (a, b) = (sample(&runs[0]), sample(&runs[i]));
        if i == 0 || a.is_empty() || b.is_empty() {
            return "-".to_string();
        }
        let (d, p) = escapade::stats::ks_two_sample(&a, &b);
        format!("D {d:.3} (p {p:.2})")
    };
    row("escape times: KS vs 1st", &|i| ks(i, &|r: &SavedRun| r.events.iter().map(|e| f64::from(e.escape_steps)).collect()));
    // Rows only for scores some run has (a network's; held-out ones with --holdout).
    for (name, pick) in [("training", 0usize), ("held-out", 1)] {
        let values = |r: &SavedRun| -> Vec<f64> { r.accuracy.iter().filter_map(|a| if pick == 0 { a.0 } else { a.1 }).collect() };
        if runs.iter().all(|r| values(r).is_empty()) {
            continue;
        }
        row(&format!("{name} acc. median"), &|i| {
            escapade::stats::Summary::of(&values(&runs[i])).median.map_or("-".into(), |m| format!("{m:.4}"))
        });
        row(&format!("{name} acc.: KS vs 1st"), &|i| ks(i, &values));
    }
    if let Some(ext) = ext {
        std::fs::create_dir_all(out).map_err(Error::io(out))?;
        let curves: Vec<(String, _)> = runs.iter().zip(&episodes).map(|(r, e)| (r.name(), escapade::stats::clustered_kaplan_meier(e))).collect();
        let path = out.join(format!("survival.{ext}"));
        plots::survival(&path, "Escape-time survival", &curves)?;
        println!("wrote {}", path.display());
        let curves: Vec<(String, Vec<(u32, f64)>)> = runs.iter().zip(&overall).map(|(r, t)| (r.name(), t.ecdf())).collect();
        let t_end = episodes.iter().map(|e| longest_stall(e)).max().unwrap_or(1);
        let path = out.join(format!("ecdf.{ext}"));
        plots::ecdf(&path, "Saddle stalls escaped by t (ECDF)", &curves, t_end)?;
        println!("wrote {}", path.display());
    }
    if export == Some(Export::Ioh) {
        let refs: Vec<&SavedRun> = runs.iter().collect();
        let names: Vec<String> = runs.iter().map(SavedRun::name).collect();
        print_export(&escapade::report::ioh::write_algorithms(&refs, &names, &out.join("ioh"))?);
    }
    Ok(())
}

/// A quantile in sweep.csv: its steps, or an empty cell where the curve does not reach it (as
/// the CSV files leave a missing number empty; never a word in a numeric column).
fn quantile_cell(q: escapade::stats::Quantile) -> String {
    match q {
        escapade::stats::Quantile::Steps(t) => t.to_string(),
        escapade::stats::Quantile::NotReached => String::new(),
    }
}

/// A sweep table's row: the point's values, then its run's counts and escape-time statistics.
fn sweep_row(point: &[(String, String)], run: &SavedRun) -> Vec<String> {
    let (s, c) = (&run.summary, &run.summary["counts"]);
    let survival = run.survival();
    let km = survival.overall().summary();
    let mut row: Vec<String> = point.iter().map(|(_, v)| v.clone()).collect();
    row.push(s["chains"].to_string());
    row.extend(["escape_events", "chains_escaped", "converged", "precision_limited", "censored", "diverged"].map(|k| c[k].to_string()));
    row.extend([
        quantile_cell(km.median),
        quantile_cell(km.p90),
        format!("{:.4}", km.success_rate),
        km.expected_running_time.map_or(String::new(), |v| format!("{v:.2}")),
        format!("{:.4e}", s["chain_steps_per_second"].as_f64().unwrap_or(f64::NAN)),
        survival.by_label.iter().map(|(l, t)| format!("{l}:{}", quantile_cell(t.summary().median))).collect::<Vec<_>>().join(" "),
        survival.by_label.iter().map(|(l, t)| format!("{l}:{:.3}", t.summary().escape_cif)).collect::<Vec<_>>().join(" "),
    ]);
    row
}

/// `escapade sweep EXPERIMENT.toml --grid KEY=V1,V2 ...`.
pub fn sweep(s: &SweepArgs) -> CmdResult {
    let cmd = Cli::command();
    let run_cmd = cmd.find_subcommand("run").cloned().unwrap_or_default();
    let known = escapade::options::flag_names(&run_cmd);
    let base = escapade::options::file_to_flags(&s.experiment, &known, &SWITCHES)?;
    let points = super::grid::points(&s.grid, &run_cmd)?;
    for (key, _) in points.first().into_iter().flatten() {
        if !known.contains(key) || key == "out" {
            return Err(Error::invalid("grid", format!("a run flag name other than out, one of: {}", known.join(", ")), key));
        }
    }
    let keys: Vec<String> = points.first().map(|p| p.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    let common = s.batch.common(&base, "grid");
    // Every point is parsed and checked before the first one runs: a bad value late in the grid
    // must not cost the runs before it.
    let planned = points.iter().map(|point| super::points::plan(&common, point, &[], &s.out.join(super::grid::dir_name(point)), &super::grid::tag(point))).collect::<CmdResult<Vec<_>>>()?;
    let mut rows = Vec::new();
    let mut engines = Engines::default();
    for (point, p) in points.iter().zip(planned) {
        let (run, how) = super::points::execute(p, &mut engines)?;
        rows.push(sweep_row(point, &run));
        if !s.batch.quiet {
            eprintln!("{how} {}", super::grid::tag(point));
        }
    }
    let mut header = keys.clone();
    header.extend(
        ["chains", "escape_events", "chains_escaped", "converged", "precision_limited", "censored", "diverged", "median", "p90", "success_rate", "expected_running_time", "chain_steps_per_second", "label_medians", "label_escape_incidence"]
            .map(String::from),
    );
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let line = |r: &[String]| r.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect::<Vec<_>>().join("  ");
    println!("{}", line(&header));
    for r in &rows {
        println!("{}", line(r));
    }
    let csv = s.out.join("sweep.csv");
    // Quoted where a value holds a comma (a list value such as eigenvalues=[-1,2]).
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in std::iter::once(&header).chain(&rows) {
        w.write_record(r).map_err(|e| Error::invalid("sweep.csv", "a table", e))?;
    }
    let text = w.into_inner().map_err(|e| Error::invalid("sweep.csv", "a table", e))?;
    std::fs::create_dir_all(&s.out).and_then(|_| std::fs::write(&csv, text)).map_err(Error::io(&csv))?;
    println!("wrote {}", csv.display());
    Ok(())
}

/// `escapade info`.
pub fn info() -> CmdResult {
    let engine = escapade::GpuEngine::new()?;
    let ctx = engine.context();
    if let Some(a) = &ctx.adapter {
        println!("adapter: {}\nbackend: {}\ndevice type: {}\ndriver: {}", a.name, a.backend, a.device_type, a.driver);
        // What the default backend does with it: a software adapter is --backend gpu's only.
        let auto = match (a.is_software(), Devices::adapters().iter().any(|x| !x.is_software())) {
            (false, _) => "this adapter",
            (true, true) => "the first hardware adapter listed below",
            (true, false) => "the CPU backend (a software adapter runs under --backend gpu)",
        };
        println!("--backend auto runs on: {auto}");
    }
    let all = Devices::All.resolve()?;
    println!("adapters (--devices I,J,... counts from 0; all: {}):", all.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    for (i, a) in Devices::adapters().iter().enumerate() {
        println!("  {i}: {} ({}, {})", a.name, a.backend, a.device_type);
    }
    let l = ctx.device.limits();
    println!("max storage binding: {} MiB", l.max_storage_buffer_binding_size >> 20);
    println!("max buffer size: {} MiB", l.max_buffer_size >> 20);
    println!("max workgroups per dimension: {}", l.max_compute_workgroups_per_dimension);
    println!("max invocations per workgroup: {}", l.max_compute_invocations_per_workgroup);
    println!("max workgroup storage: {} KiB", l.max_compute_workgroup_storage_size >> 10);
    println!("shader-f16: {}", ctx.device.features().contains(wgpu::Features::SHADER_F16));
    println!("shader-f64: {}", ctx.device.features().contains(wgpu::Features::SHADER_F64));
    println!("kernel families: per-invocation (d <= 256), cooperative (d > 256: a workgroup per chain), streamed (--kernel-family streamed)");
    let (record, event) = (std::mem::size_of::<escapade::advanced::ChainState>(), std::mem::size_of::<escapade::advanced::EscapeEvent>());
    println!(
        "device memory per chain (f32 state, x and x~): per-invocation 8 d + {record} bytes, cooperative and streamed 24 d + {record} (x, g, v, x~ in storage), plus {event} per pending event per dispatch in flight; a run's total is summary.json's device_memory_estimate"
    );
    Ok(())
}

/// Visited points as the check's descents give them: (f, unused here: 0), x.
type Visited = Vec<(f64, Vec<f64>)>;

/// What `check --from-run` takes from a saved run: the points it visited (its trace), and the
/// monitor's rho1 bins as (F, curvature) samples of rho1, each at its bin's lower edge f* + lo
/// (the curvature was met at some F in the bin, and rho1 does not decrease, so the lower edge
/// is the cautious place). The run is read as strictly as `report` reads it, and must be of
/// the objective being checked, in its dimension, with a trace or a monitor block.
fn from_run(dir: &std::path::Path, obj: &dyn escapade::objective::Objective) -> Result<(Visited, Vec<(f64, f64)>), Error> {
    let run = escapade::report::files::SavedRun::load(dir)?;
    let o = &run.summary["objective"];
    let (name, dim) = (o["name"].as_str().unwrap_or("?"), o["dim"].as_u64().unwrap_or(0));
    if name != obj.name() || dim != obj.dim() as u64 {
        return Err(Error::invalid("from-run", format!("a run of {} with d = {} (the objective checked)", obj.name(), obj.dim()), format!("{}: a run of {name} with d = {dim}", dir.display())));
    }
    let est = &run.summary["monitor"]["rho1_estimate"];
    let f_star = est["f_star"].as_f64().unwrap_or(0.0);
    let bins: Vec<(f64, f64)> = est["bins"].as_array().into_iter().flatten().filter_map(|b| Some((f_star + b["df_lo"].as_f64()?, b["curvature_max"].as_f64()?))).collect();
    if run.trace.is_empty() && bins.is_empty() {
        return Err(Error::invalid("from-run", "a run that traced chains (--trace-chains N) or ran the monitor (--monitor on)", format!("{}: neither trace.csv nor the monitor's bins", dir.display())));
    }
    Ok((run.trace.into_iter().map(|t| (0.0, t.x)).collect(), bins))
}

/// `escapade check`: the self-bounding verdict for an objective.
pub fn check(a: &CheckArgs) -> CmdResult {
    use escapade::check::envelope::{descent_points, samples, verdict};
    let (from_run, starts, steps) = (a.from_run.as_deref(), a.starts, a.descent_steps);
    let ext = a.plots.ext();
    let obj = objective(&a.obj)?;
    if !obj.cpu_twin() {
        return Err(Error::NoCpuTwin(obj.name().into()));
    }
    // Bounded: 4294967295 descents ran without end.
    if !(1..=10_000).contains(&starts) {
        return Err(Error::invalid("starts", "an integer from 1 to 10000", starts));
    }
    if !(1..=1_000_000).contains(&steps) {
        return Err(Error::invalid("descent-steps", "an integer from 1 to 1000000", steps));
    }
    // SIGINT/SIGTERM: the descents and the spectra stop within a step or a batch of products,
    // exit status 130, nothing written.
    let stop = stop_flag();
    let mut points = descent_points(obj.as_ref(), starts, steps, a.seed, Some(&stop))?;
    let mut bins = Vec::new();
    if let Some(dir) = from_run {
        let (visited, b) = self::from_run(dir, obj.as_ref())?;
        points.extend(visited);
        bins = b;
    }
    if !(a.coverage > 0.0 && a.coverage <= 1.0) {
        return Err(Error::invalid("coverage", "a fraction in (0, 1]", a.coverage));
    }
    let s = samples(obj.as_ref(), &points, a.seed, Some(&stop))?;
    let declared = obj.rho();
    let mut v = verdict(&s, obj.f_min(), declared.as_ref().map(|r| &r.0));
    // Self-bounding only: elsewhere the Hessian grows on a bounded sublevel set, and no form
    // of F bounds it.
    let fits = if v.self_bounding {
        let fmin = obj.f_min().unwrap_or_else(|| s.iter().map(|p| p.f).fold(f64::INFINITY, f64::min));
        escapade::check::fits::fit_both(obj.as_ref(), &s, &bins, fmin, a.coverage, a.seed, Some(&stop))?
    } else {
        None
    };
    // The verdict's fitted rho1 is the covering fit, so one rho1 is reported.
    if let Some(f) = &fits {
        v.fitted = Some(f.rho1.rho);
    }
    println!("{} (d = {}): {} points from descents at scales 0.1 .. 1000{}", obj.name(), obj.dim(), v.samples, if from_run.is_some() { format!(" and the run's visited points, with its monitor's {} rho1 bins", bins.len()) } else { String::new() });
    println!("max ||Hess f|| on the sublevel set f <= {:.4e}, by descent start scale:", v.level);
    for (scale, m) in &v.growth {
        println!("  scale {scale:>7}: {m:.4e}");
    }
    if v.self_bounding {
        println!("verdict: SELF-BOUNDING");
        for (name, f) in fits.iter().flat_map(|f| [("rho1", &f.rho1), ("rho2", &f.rho2)]) {
            let r = f.rho;
            println!(
                "fitted {name}(F) = {:.4e} + {:.4e} max(F - {:.4e}, 0)^{}: covers {:.4} of {} held-out points (target {}, inflation {:.4}), F in [{:.4e}, {:.4e}]",
                r.a, r.b, r.fmin, r.p, f.coverage, f.held_out, f.target, f.inflation, f.f_range[0], f.f_range[1]
            );
        }
    } else {
        println!("verdict: NOT SELF-BOUNDING: the Hessian grows while f stays below {:.4e}; evidence (f, ||Hess||, ||x||):", v.level);
        for e in &v.evidence {
            println!("  f = {:.4e}  ||Hess|| = {:.4e}  ||x|| = {:.4e}", e.f, e.hess, e.norm);
        }
    }
    match (declared, v.declared_worst_ratio) {
        (Some(r), Some(w)) => println!(
            "declared rho1(F) = {:.4e} + {:.4e} max(F - {:.4e}, 0)^{}: {} (largest ||Hess|| / rho1 = {w:.4})",
            r.0.a,
            r.0.b,
            r.0.fmin,
            r.0.p,
            if w <= 1.0 + 1e-6 { "holds at every sample" } else { "VIOLATED" }
        ),
        _ => println!("no rho1 declared for {}", obj.name()),
    }
    std::fs::create_dir_all(&a.out).map_err(Error::io(&a.out))?;
    let mut json = escapade::check::fits::identity(obj.as_ref());
    json["schema_version"] = escapade::check::fits::CHECK_SCHEMA_VERSION.into();
    json["verdict"] = serde_json::to_value(&v).unwrap_or_default();
    json["fits"] = serde_json::to_value(&fits).unwrap_or_default();
    if let Some(dir) = from_run {
        json["from_run"] = serde_json::json!({ "dir": dir.display().to_string(), "monitor_bins": bins.len() });
    }
    let path = a.out.join("check.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap_or_default()).map_err(Error::io(&path))?;
    println!("wrote {}", path.display());
    if let Some(ext) = ext {
        let fmin = obj.f_min().unwrap_or_else(|| s.iter().map(|p| p.f).fold(f64::MAX, f64::min));
        let mut curves = Vec::new();
        if let Some(r) = v.fitted {
            curves.push(("fitted rho1".to_string(), r));
        }
        if let Some(r) = declared {
            curves.push(("declared rho1".to_string(), r.0));
        }
        let pts: Vec<(f64, f64)> = s.iter().map(|p| (p.f, p.hess)).collect();
        let path = a.out.join("plots").join(format!("envelope.{ext}"));
        std::fs::create_dir_all(a.out.join("plots")).map_err(Error::io(&path))?;
        plots::envelope(&path, &format!("Self-bounding envelope: {}", obj.name()), &pts, fmin, &curves)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
