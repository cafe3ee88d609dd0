//! `escapade tune EXPERIMENT.toml --tune KEY=SPEC ...`: successive halving over run options
//! (the arithmetic is `escapade::tune`'s; this file runs the rungs and writes the files).
//!
//! `OUT/rung-K/<candidate>/` holds each candidate's run at rung K (a `run` directory, read back
//! by `--resume`), `OUT/theory-<name>/` the theory's choice at the last rung, and `OUT/tune.csv`
//! (rewritten after every rung), `tune.json`, `best.toml` and `plots/tune-<key>.svg` the outcome.

mod theory;

use super::points::{Common, Planned, execute, plan};
use super::{Cli, grid};
use theory::{TheoryRun, plan_theory};
use clap::{Args, CommandFactory};
use escapade::options::{Engines, PlotFormat, SWITCHES, file_to_flags, flag_names, read_table};
use escapade::report::files::SavedRun;
use escapade::tune::{Axis, Bootstrap, Candidate, Row, Rule, Sample, Schedule, Scored, Statistic, Verdict, halving};
use escapade::Error;
use std::path::PathBuf;

/// Flags of `escapade tune`.
#[derive(Args)]
pub struct TuneArgs {
    /// Experiment file (TOML): every option but the tuned ones; its chains and steps are the
    /// last rung's, and its seed every candidate's (common random numbers).
    #[arg(value_name = "EXPERIMENT.toml")]
    experiment: PathBuf,
    /// KEY=SPEC: an option to tune and its values: a list (0.01,0.1,1), log:LO:HI:N or
    /// lin:LO:HI:N. KEY: radius, clip, eta, t-thres, g-thres, f-thres, noise, batch, margin.
    /// Repeat for more options (the candidates are every combination).
    #[arg(long, required = true, value_name = "KEY=SPEC")]
    tune: Vec<String>,
    /// What to minimize: ert (expected running time over saddle stalls), quantile:P (the P-th
    /// Kaplan-Meier escape-time quantile), sosp:FRACTION (the step by which that fraction of
    /// chains rests at a second-order stationary point), loss (mean final value); or to
    /// maximize: accuracy (networks: held-out, else training).
    #[arg(long, default_value = "ert", help_heading = "Search")]
    statistic: String,
    /// Each rung keeps 1/REDUCTION of the candidates and runs them on REDUCTION times the
    /// chains and steps.
    #[arg(long, default_value_t = 3, help_heading = "Search")]
    reduction: u32,
    /// Number of rungs (default: enough that one candidate reaches the last, as far as the
    /// first keeps 16 chains).
    #[arg(long, help_heading = "Search")]
    rungs: Option<u32>,
    /// Most chain-steps to spend (chains x steps summed over the candidates' runs; the theory's
    /// runs at the end are not counted): no rung starts that would exceed it, and the best of
    /// the last finished rung is chosen.
    #[arg(long, value_name = "CHAIN_STEPS", help_heading = "Search")]
    budget: Option<u64>,
    /// Drop a candidate whose fraction of diverged chains exceeds this.
    #[arg(long, default_value_t = 0.01, help_heading = "Search")]
    max_diverged: f64,
    /// Drop a candidate whose fraction of precision-limited chains exceeds this.
    #[arg(long, default_value_t = 1.0, help_heading = "Search")]
    max_precision_limited: f64,
    /// Chain resamples of the bootstrap intervals.
    #[arg(long, default_value_t = 200, help_heading = "Search")]
    bootstrap: u32,
    /// Confidence of the two-sided bootstrap intervals; a candidate is dropped only when the
    /// paired interval of its difference to the rung's k-th best lies wholly on the worse side
    /// (worse with one-sided confidence (1 + C)/2).
    #[arg(long, default_value_t = 0.95, help_heading = "Search")]
    confidence: f64,
    /// The theory's rho1 and rho2 as `escapade check` fitted them (check.json), for an
    /// objective that declares none; only the theory's choice uses them.
    #[arg(long, value_name = "CHECK.json", help_heading = "Search")]
    rho_from: Option<PathBuf>,
    /// Indifference zone: a candidate ranked below the rung's k-th best is also dropped when
    /// it cannot be better than it by more than this fraction of its value (0: only one worse
    /// with confidence is dropped, so exact ties all go on).
    #[arg(long, default_value_t = 0.0, help_heading = "Search")]
    indifference: f64,
    /// Skip the theory's choices (Jin et al.'s formulas, the self-bounding rule) at the last rung.
    #[arg(long, help_heading = "Search")]
    no_theory: bool,
    /// Output directory.
    #[arg(long, default_value = "tune")]
    out: PathBuf,
    /// Plot format.
    #[arg(long, value_enum, default_value = "svg")]
    plots: PlotFormat,
    #[allow(missing_docs)]
    #[command(flatten)]
    batch: super::points::BatchArgs,
}

/// A candidate's flag values: the clipping threshold keeps the experiment's kind.
fn flag_values(c: &Candidate, clip_kind: &str) -> Vec<(String, String)> {
    c.values.iter().map(|(k, v)| if k == "clip" { (k.clone(), format!("{clip_kind}:{v}")) } else { (k.clone(), v.clone()) }).collect()
}

/// A finished rung: its index, size and each candidate's scoring.
struct Finished {
    rung: usize,
    size: (u32, u32),
    scorings: Vec<(usize, Scoring)>,
}

/// One scored run.
struct Scoring {
    sample: Sample,
    scored: Scored,
    /// Why the constraints drop it, if they do.
    infeasible: Option<String>,
}

/// The most candidates a tune takes: each is planned through the run parser before anything runs.
const MAX_CANDIDATES: usize = 10_000;

/// `escapade tune`.
pub fn tune(t: &TuneArgs) -> Result<(), Error> {
    let run_cmd = Cli::command().find_subcommand("run").cloned().unwrap_or_default();
    let known = flag_names(&run_cmd);
    let base = file_to_flags(&t.experiment, &known, &SWITCHES)?;
    let table = read_table(&t.experiment)?;
    let axes = t.tune.iter().map(|a| Axis::parse(a)).collect::<Result<Vec<_>, _>>()?;
    let candidates = escapade::tune::space::candidates(&axes)?;
    if candidates.len() > MAX_CANDIDATES {
        return Err(Error::invalid("tune", format!("at most {MAX_CANDIDATES} candidates (the product of the axes' value counts)"), candidates.len()));
    }
    let keys: Vec<String> = axes.iter().map(|a| a.key.name.to_string()).collect();
    let stat = Statistic::parse(&t.statistic)?;
    if !(t.indifference >= 0.0 && t.indifference < 1.0) {
        return Err(Error::invalid("indifference", "a fraction from 0 up to 1", t.indifference));
    }
    let rule = Rule { confidence: t.confidence, indifference: t.indifference };
    for (field, v) in [("max-diverged", t.max_diverged), ("max-precision-limited", t.max_precision_limited)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(Error::invalid(field, "a fraction from 0 to 1", v));
        }
    }
    let get = |key: &str| table.get(key).or_else(|| table.get(&key.replace('-', "_")));
    let clip_kind = get("clip").and_then(|v| v.as_str()).and_then(|s| s.split_once(':')).map_or("hard", |(k, _)| k).to_string();
    if keys.iter().any(|k| k == "clip") && get("precond").is_some() {
        return Err(Error::invalid("tune clip", "an experiment without --precond (clipping and preconditioning exclude each other)", "precond in the file"));
    }
    let common = t.batch.common(&base, "tune");
    // Every candidate is checked as the experiment's own size before anything runs.
    let checking = Common { resume: false, force: false, ..common };
    let nowhere = t.out.join("check");
    let whole = plan(&checking, &[], &[], &nowhere, "the experiment")?.experiment;
    for c in &candidates {
        plan(&checking, &flag_values(c, &clip_kind), &[], &nowhere, &grid::tag(&c.values))?;
    }
    let theory = plan_theory(t, &table, &keys, &known, &checking, whole.objective.rho().is_some())?;
    if stat == Statistic::Accuracy && whole.objective.classifier().is_none() {
        return Err(Error::invalid("statistic", format!("ert, quantile:P, sosp:FRACTION or loss for {} (accuracy needs a network objective)", whole.objective.name()), "accuracy"));
    }
    let schedule = Schedule::new(whole.chains, whole.steps, candidates.len(), t.reduction, t.rungs)?;
    let boot = Bootstrap { resamples: t.bootstrap, confidence: t.confidence, seed: whole.seed };
    boot.validate()?;
    let (c0, s0) = schedule.rungs[0];
    let first = candidates.len() as u64 * u64::from(c0) * u64::from(s0);
    if let Some(b) = t.budget.filter(|&b| b < first) {
        return Err(Error::invalid("budget", format!("at least {first} chain-steps (one rung: {} candidates x {c0} chains x {s0} steps)", candidates.len()), b));
    }
    let say = |line: String| if !t.batch.quiet { eprintln!("{line}") };
    let mut engines = Engines::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    let mut used = 0u64;
    // The last finished rung: its index, size, weights and each candidate's scoring.
    let mut finished: Option<Finished> = None;
    let mut note = None;
    let rungs = schedule.rungs.len();
    // Candidates a rung ranked out (the constraints did not drop them), the latest rung's first,
    // each rung's best first: re-admitted, a rung's worth at a time, where every survivor of a
    // later rung breaks a constraint (a rare failure shows only on a wide rung).
    let mut reserve: Vec<usize> = Vec::new();
    'rungs: for (k, &(chains, steps)) in schedule.rungs.iter().enumerate() {
        let last = k + 1 == rungs;
        // A lone survivor has nothing to be compared with before the last rung.
        if alive.len() == 1 && !last {
            continue;
        }
        let keep = schedule.keep(alive.len());
        let extra = [format!("--chains={chains}"), format!("--steps={steps}"), "--plots=none".to_string()];
        let dir = |c: &Candidate| t.out.join(format!("rung-{k}")).join(grid::dir_name(&c.values));
        let (mut batch, mut scorings, mut ranked_out, mut readmitted) = (std::mem::take(&mut alive), Vec::new(), Vec::new(), false);
        while !batch.is_empty() {
            let cost = batch.len() as u64 * u64::from(chains) * u64::from(steps);
            if t.budget.is_some_and(|b| used + cost > b) {
                if readmitted {
                    break;
                }
                note = Some(format!("the budget stopped the search before rung {k} ({cost} more chain-steps)"));
                // The last finished rung's survivors stand.
                alive = batch;
                break 'rungs;
            }
            let what = if readmitted { "re-admitted" } else { "candidates" };
            say(format!("rung {k} (of 0..{}): {} {what} x {chains} chains x {steps} steps", rungs - 1, batch.len()));
            // Every run of the batch is parsed and checked (under --resume, with the run already
            // in its directory) before any of them runs.
            let planned: Vec<Planned> = batch.iter().map(|&i| plan(&common, &flag_values(&candidates[i], &clip_kind), &extra, &dir(&candidates[i]), &grid::tag(&candidates[i].values))).collect::<Result<_, _>>()?;
            let mut scored = Vec::new();
            for (&i, p) in batch.iter().zip(planned) {
                let (run, _) = execute(p, &mut engines)?;
                scored.push((i, score(&run, stat, &boot, k, t)));
            }
            used += cost;
            let verdicts = decide(stat, &scored.iter().collect::<Vec<_>>(), keep.min(scored.len()), rule, last);
            for ((i, s), v) in scored.iter().zip(&verdicts) {
                let c = &candidates[*i];
                let mut row = row(k, format!("c{i}"), c.values.iter().map(|(_, v)| v.clone()).collect(), (chains, steps), s, v, &t.out, &dir(c));
                if readmitted && row.why.is_empty() {
                    row.why = "re-admitted: every survivor of this rung broke a constraint".into();
                }
                say(format!("  c{i} {}: {} {} {}", grid::tag(&c.values), stat.name(), interval_text(&s.scored), row.verdict));
                rows.push(row);
            }
            alive = scored.iter().zip(&verdicts).filter(|(_, v)| matches!(v, Verdict::Promoted | Verdict::Kept | Verdict::Best)).map(|((i, _), _)| *i).collect();
            let mut out: Vec<&(usize, Scoring)> = scored.iter().zip(&verdicts).filter(|((_, s), v)| matches!(v, Verdict::Dropped(_)) && s.infeasible.is_none()).map(|(x, _)| x).collect();
            out.sort_by(|a, b| halving::rank(stat, (a.1.scored.value, a.0), (b.1.scored.value, b.0)));
            ranked_out.extend(out.iter().map(|(i, _)| *i));
            scorings.extend(scored);
            write_table(t, &keys, stat, &rows)?;
            batch = if alive.is_empty() { reserve.drain(..keep.min(reserve.len())).collect() } else { Vec::new() };
            readmitted = true;
        }
        reserve.splice(0..0, ranked_out);
        finished = Some(Finished { rung: k, size: (chains, steps), scorings });
        if alive.is_empty() {
            return Err(Error::Infeasible(format!("no candidate met the constraints at rung {k} (diverged <= {}, precision-limited <= {}), none left to re-admit{}; see {}", t.max_diverged, t.max_precision_limited, if t.budget.is_some() { " within the budget" } else { "" }, t.out.join("tune.csv").display())));
        }
    }
    let Some(Finished { rung: k, size, scorings }) = finished else { unreachable!("the budget covers the first rung") };
    // The best of the last finished rung (the last rung's decision, or the one the budget left).
    let pool: Vec<&(usize, Scoring)> = scorings.iter().filter(|(i, _)| alive.contains(i)).collect();
    let best_at = decide(stat, &pool, 1, rule, true).iter().position(|v| *v == Verdict::Best).unwrap_or(0);
    let Some(&&(best, ref best_scoring)) = pool.get(best_at) else {
        return Err(Error::Infeasible(format!("no candidate left at rung {k}; see {}", t.out.join("tune.csv").display())));
    };
    if !best_scoring.scored.value.is_finite() {
        return Err(Error::Infeasible(format!("no candidate gave a finite {} at rung {k} (for ert: no escape; a quantile or SOSP fraction not reached): longer runs or other values; see {}", stat.name(), t.out.join("tune.csv").display())));
    }
    if let Some(r) = rows.iter_mut().find(|r| r.rung == k && r.candidate == format!("c{best}")) {
        r.verdict = "best";
    }
    let theory = match &theory {
        Some(plan) => Some(plan.run(t, &axes, &common, size, &mut engines)?),
        None => None,
    };
    let theory_cost = if theory.is_some() { u64::from(size.0) * (u64::from(size.1) + 1) } else { 0 };
    let mut theory_lines = Vec::new();
    if let Some(TheoryRun { name, dir, run, values }) = theory {
        let s = score(&run, stat, &boot, k, t);
        let (lo, hi) = halving::paired_difference(stat, &s.scored, &best_scoring.scored, t.confidence);
        let why = format!("worse than the best by {} (paired {:.0}% interval [{}, {}])", num(halving::worse(stat, s.scored.value, best_scoring.scored.value)), 100.0 * t.confidence, num(lo), num(hi));
        let mut r = row(k, format!("theory:{name}"), values, size, &s, &Verdict::Kept, &t.out, &dir);
        r.verdict = "theory";
        theory_lines.push(format!("theory ({name}): {}: {} {}; {why}", grid::tag(&keys.iter().cloned().zip(r.values.iter().cloned()).collect::<Vec<_>>()), stat.name(), interval_text(&s.scored)));
        r.why = why;
        rows.push(r);
    }
    write_table(t, &keys, stat, &rows)?;
    let chosen = &candidates[best];
    let grid_cost = candidates.len() as u64 * u64::from(whole.chains) * u64::from(whole.steps);
    let path = t.out.join("best.toml");
    std::fs::write(&path, best_toml(&table, chosen, &clip_kind, stat, &best_scoring.scored, size)).map_err(Error::io(&path))?;
    let json = serde_json::json!({
        "statistic": stat.name(),
        "maximize": stat.maximize(),
        "confidence": t.confidence,
        "indifference": t.indifference,
        "reduction": schedule.reduction,
        "rungs": schedule.rungs,
        "best": { "candidate": best, "values": chosen.values.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(), "rung": k, "chains": size.0, "steps": size.1, "value": finite(best_scoring.scored.value), "lower": finite(best_scoring.scored.lower), "upper": finite(best_scoring.scored.upper) },
        "theory": rows.iter().filter(|r| r.verdict == "theory").map(|r| serde_json::json!({ "name": r.candidate.trim_start_matches("theory:"), "values": r.values, "value": finite(r.scored.0), "lower": finite(r.scored.1), "upper": finite(r.scored.2), "why": r.why })).collect::<Vec<_>>(),
        "compute": { "chain_steps": used, "grid_chain_steps": grid_cost, "fraction_of_grid": used as f64 / grid_cost as f64, "candidates": candidates.len(), "theory_chain_steps": theory_cost },
        "note": note,
    });
    let path = t.out.join("tune.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap_or_default()).map_err(Error::io(&path))?;
    let plotted = plot(t, &axes, &keys, stat, &rows)?;
    if let Some(n) = &note {
        println!("note: {n}");
    }
    let which = if k + 1 == rungs { "the last".to_string() } else { format!("of 0..{}", rungs - 1) };
    println!("best: {}: {} {} over {} chains x {} steps (rung {k}, {which})", grid::tag(&chosen.values), stat.name(), interval_text(&best_scoring.scored), size.0, size.1);
    println!(
        "compute: {used} chain-steps, {:.3} of the full grid's {grid_cost} ({} candidates x {} chains x {} steps){}",
        used as f64 / grid_cost as f64,
        candidates.len(),
        whole.chains,
        whole.steps,
        if theory_cost > 0 { format!("; the theory's runs {theory_cost} more") } else { String::new() }
    );
    theory_lines.iter().for_each(|l| println!("{l}"));
    println!("wrote {}/tune.csv, tune.json, best.toml{}", t.out.display(), if plotted { " and plots/" } else { "" });
    Ok(())
}

fn num(v: f64) -> String {
    if v.is_finite() { format!("{v:.4e}") } else { format!("{v}") }
}

/// A finite number for JSON, or null.
fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() { v.into() } else { serde_json::Value::Null }
}

fn interval_text(s: &Scored) -> String {
    format!("{} [{}, {}]", num(s.value), num(s.lower), num(s.upper))
}

/// The rung's verdicts on `scored` candidates (see [`halving::decide`]), named `c<index>`.
fn decide(stat: Statistic, scored: &[&(usize, Scoring)], keep: usize, rule: Rule, last: bool) -> Vec<Verdict> {
    let names: Vec<String> = scored.iter().map(|(i, _)| format!("c{i}")).collect();
    halving::decide(stat, &scored.iter().map(|(_, s)| (&s.scored, s.infeasible.clone())).collect::<Vec<_>>(), &names, keep, rule, last)
}

/// Scores a run with rung `rung`'s resamples and checks the constraints.
fn score(run: &SavedRun, stat: Statistic, boot: &Bootstrap, rung: usize, t: &TuneArgs) -> Scoring {
    let sample = Sample::of(run);
    let scored = Scored::of(&sample, stat, boot, rung as u32);
    let (diverged, limited) = sample.failure_fractions();
    let infeasible = if diverged > t.max_diverged {
        Some(format!("diverged {:.2}% > {:.2}% (--max-diverged)", 100.0 * diverged, 100.0 * t.max_diverged))
    } else if limited > t.max_precision_limited {
        Some(format!("precision-limited {:.2}% > {:.2}% (--max-precision-limited)", 100.0 * limited, 100.0 * t.max_precision_limited))
    } else {
        None
    };
    Scoring { sample, scored, infeasible }
}

#[allow(clippy::too_many_arguments)]
fn row(rung: usize, candidate: String, values: Vec<String>, (chains, steps): (u32, u32), s: &Scoring, v: &Verdict, out: &std::path::Path, dir: &std::path::Path) -> Row {
    let (verdict, why) = match v {
        Verdict::Promoted => ("promoted", String::new()),
        Verdict::Kept => ("kept", String::new()),
        Verdict::Best => ("best", String::new()),
        Verdict::Dropped(why) => ("dropped", why.clone()),
    };
    Row {
        rung,
        candidate,
        values,
        chains,
        steps,
        scored: (s.scored.value, s.scored.lower, s.scored.upper),
        failures: s.sample.failure_fractions(),
        escapes: s.sample.escapes(),
        verdict,
        why,
        dir: dir.strip_prefix(out).unwrap_or(dir).display().to_string(),
    }
}

/// Writes OUT/tune.csv.
fn write_table(t: &TuneArgs, keys: &[String], stat: Statistic, rows: &[Row]) -> Result<(), Error> {
    let path = t.out.join("tune.csv");
    let mut w = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| Error::invalid("tune.csv", "a table", e);
    w.write_record(Row::header(keys)).map_err(bad)?;
    for r in rows {
        w.write_record(r.cells(stat)).map_err(bad)?;
    }
    let text = w.into_inner().map_err(|e| Error::invalid("tune.csv", "a table", e))?;
    std::fs::create_dir_all(&t.out).and_then(|_| std::fs::write(&path, text)).map_err(Error::io(&path))
}

/// best.toml: the experiment file with the chosen values (and no `out`).
fn best_toml(table: &toml::Table, c: &Candidate, clip_kind: &str, stat: Statistic, s: &Scored, size: (u32, u32)) -> String {
    let mut best = table.clone();
    let tuned: Vec<&str> = c.values.iter().map(|(k, _)| k.as_str()).collect();
    best.retain(|k, _| !tuned.contains(&k.replace('_', "-").as_str()) && k != "out");
    // The values as the runs took them (the clip with its kind), typed as TOML numbers where
    // they are numbers.
    for (k, v) in flag_values(c, clip_kind) {
        let value = match (v.parse::<i64>(), v.parse::<f64>()) {
            (Ok(i), _) => toml::Value::Integer(i),
            (_, Ok(f)) => toml::Value::Float(f),
            _ => toml::Value::String(v),
        };
        best.insert(k, value);
    }
    format!(
        "# escapade tune's choice: {} ({} {} over {} chains x {} steps).\n# Run it with `escapade run best.toml`.\n{}",
        grid::tag(&c.values),
        stat.name(),
        interval_text(s),
        size.0,
        size.1,
        toml::to_string(&best).unwrap_or_default()
    )
}

/// `plots/tune-<key>`: the statistic against each tuned option, a series per rung (and the
/// theory's choice where its rule gives the option a value). Returns whether it drew.
fn plot(t: &TuneArgs, axes: &[Axis], keys: &[String], stat: Statistic, rows: &[Row]) -> Result<bool, Error> {
    let Some(ext) = t.plots.ext() else { return Ok(false) };
    let dir = t.out.join("plots");
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    let rungs = rows.iter().map(|r| r.rung).max().unwrap_or(0);
    for (a, axis) in axes.iter().enumerate() {
        let mut series: Vec<escapade::report::plots::TunePoints> = Vec::new();
        for k in 0..=rungs {
            let points = rows.iter().filter(|r| r.rung == k && r.verdict != "theory").filter_map(|r| Some((r.values[a].parse().ok()?, r.scored.0, r.scored.1, r.scored.2))).collect();
            series.push((format!("rung {k}"), points));
        }
        for r in rows.iter().filter(|r| r.verdict == "theory") {
            if let Ok(x) = r.values[a].parse() {
                series.push((r.candidate.clone(), vec![(x, r.scored.0, r.scored.1, r.scored.2)]));
            }
        }
        let path = dir.join(format!("tune-{}.{ext}", axis.key.name));
        escapade::report::plots::tune(&path, &format!("{} against {}", stat.name(), keys[a]), (keys[a].as_str(), stat.name().as_str()), &series)?;
    }
    Ok(true)
}
