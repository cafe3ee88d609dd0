//! The report of a run: how chains ended, escape-time statistics over saddle stalls (competing
//! outcomes, censoring) and metadata, written as summary.json, events.csv, chains.csv and
//! trace.csv, plus plots and a short human summary.

pub mod columns;
pub mod files;
pub mod ioh;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod memory;
pub mod merge;
pub mod monitor;
pub mod network;
pub mod output;
pub mod plots;
pub mod summary;
mod validate;

use crate::backend::{EngineInfo, RawRun};
use crate::escape::{ChainState, EscapeEvent, status};
use crate::experiment::Experiment;
use crate::outcome::{Final, Judgement, episodes};
use crate::stats::{Episode, Outcome, Summary, SurvivalTables, clustered_kaplan_meier};
use crate::Error;
use columns::write_table;
use files::{ChainRecord, SavedRun, TracePoint, write_csv};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of summary.json's layout; bumped when a field changes meaning or moves.
/// 3: outcomes (converged, precision-limited) and statistics over saddle stalls.
/// 4: precision-limited means held by the format for good, `t_limited` the start of the hold
/// and `counts.precision_flagged` the chains held at their last step; `host_memory_estimate`.
/// 5: `digests`, the SHA-256 of each table file, checked when the run is read back.
/// 6: an unreached Kaplan-Meier quantile (`median`, `p10`, `p90`) is null, never the string
/// "not reached", with `reached: {median, p10, p90}` saying which were reached.
pub const SCHEMA_VERSION: u32 = 6;


/// Chain counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Escape events over all chains.
    pub escape_events: usize,
    /// Chains with at least one escape.
    pub chains_escaped: u32,
    /// Chains resting at a second-order stationary point (a minimum, not a saddle).
    pub converged: u32,
    /// Chains stalled at a non-stationary point whose stored state the float format holds for
    /// good (unchanged over the hold window up to the end; try `--state f64`).
    pub precision_limited: u32,
    /// Chains stalled at a non-stationary point when the budget ended (escape time censored).
    pub censored: u32,
    /// Chains stopped by the certification rule (whatever the Hessian then says).
    pub certified: u32,
    /// Chains whose stored state was held (unchanged) by their last step, stalled or not (a
    /// superset of precision_limited).
    pub precision_flagged: u32,
    /// Chains whose value or gradient became non-finite or that left the domain.
    pub diverged: u32,
    /// Of the diverged: non-finite.
    pub diverged_nonfinite: u32,
    /// Of the diverged: out of the objective's domain.
    pub diverged_out_of_domain: u32,
    /// Chains running and not stalled when the budget ended.
    pub moving: u32,
}

impl Counts {
    /// The counts of chains with these states and outcomes, and `escape_events` events.
    pub fn tally(states: &[ChainState], finals: &[Final], escape_events: usize) -> Self {
        let count = |f: Final| finals.iter().filter(|&&x| x == f).count() as u32;
        let mut counts = Counts {
            escape_events,
            converged: count(Final::Converged),
            precision_limited: count(Final::PrecisionLimited),
            censored: count(Final::Censored),
            moving: count(Final::Moving),
            ..Default::default()
        };
        for st in states {
            match st.status {
                status::CERTIFIED => counts.certified += 1,
                status::DIVERGED_NONFINITE => counts.diverged_nonfinite += 1,
                status::DIVERGED_DOMAIN => counts.diverged_out_of_domain += 1,
                _ => {}
            }
            counts.precision_flagged += u32::from(st.limited());
            counts.chains_escaped += u32::from(st.escapes > 0);
        }
        counts.diverged = counts.diverged_nonfinite + counts.diverged_out_of_domain;
        counts
    }
}

/// Chains per final label (diverged chains have none).
pub(crate) fn final_labels(states: &[ChainState]) -> BTreeMap<u32, u32> {
    let mut labels = BTreeMap::new();
    for st in states.iter().filter(|s| !s.diverged()) {
        *labels.entry(st.label).or_insert(0) += 1;
    }
    labels
}

/// Observed escape times, overall and per stall label.
pub(crate) fn escape_times(events: &[EscapeEvent]) -> (Summary, BTreeMap<u32, Summary>) {
    let times: Vec<f64> = events.iter().map(|e| f64::from(e.escape_steps)).collect();
    let mut by_label: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for e in events {
        by_label.entry(e.label).or_default().push(f64::from(e.escape_steps));
    }
    (Summary::of(&times), by_label.into_iter().map(|(l, v)| (l, Summary::of(&v))).collect())
}

/// The distribution of the chains' step sizes.
pub(crate) fn step_sizes(states: &[ChainState]) -> Summary {
    Summary::of(&states.iter().filter(|s| s.eta > 0.0).map(|s| f64::from(s.eta)).collect::<Vec<_>>())
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Report {
    /// The experiment that ran.
    pub experiment: Experiment,
    /// The engine that ran it.
    pub engine: EngineInfo,
    /// Per-chain records, final points, events, trace.
    pub raw: RawRun,
    /// Chain counts.
    pub counts: Counts,
    /// Escape times (steps) over all observed escapes.
    pub escape_time: Summary,
    /// Escape times split by the label at the stall.
    pub escape_time_by_label: BTreeMap<u32, Summary>,
    /// Chains per final label.
    pub final_labels: BTreeMap<u32, u32>,
    /// Distribution of the chains' final step sizes (per chain under the self-bounding rule).
    pub step_size: Summary,
    /// Every stall episode with its outcome.
    pub episodes: Vec<Episode>,
    /// Survival tables of the stall episodes, per label.
    pub survival: SurvivalTables,
    /// How every chain ended, judged at its resting point.
    pub judgement: Judgement,
    /// Self-bounding conditions checked at the traced points.
    pub self_bounding: Option<crate::check::run_checks::SelfBoundingChecks>,
    /// Why a check was skipped.
    pub check_notes: Vec<String>,
    /// The traced points with their values, evaluated once (see [`Report::trace_points`]).
    pub trace: Vec<TracePoint>,
    /// Network objectives: each chain's loss and accuracy at its resting point
    /// ([`network::scores`]); empty for other objectives.
    pub scores: Vec<crate::objective::Scores>,
    /// Steps taken, summed over chains.
    pub chain_steps: u64,
    /// Wall-clock seconds of the run (including kernel compilation and read-back).
    pub wall_seconds: f64,
}

impl Report {
    /// Builds the report of `raw` with every chain judged (`crate::outcome::judge`).
    pub fn new(exp: &Experiment, raw: RawRun, judgement: Judgement, engine: EngineInfo, wall_seconds: f64) -> Self {
        let mut r = Self::counted(exp, raw, judgement, engine, wall_seconds);
        r.trace = r.trace_points();
        r.scores = network::scores(exp.objective.as_ref(), &r.raw);
        r
    }

    fn counted(exp: &Experiment, raw: RawRun, judgement: Judgement, engine: EngineInfo, wall_seconds: f64) -> Self {
        let counts = Counts::tally(&raw.states, &judgement.finals, raw.events.len());
        let final_labels = final_labels(&raw.states);
        let (escape_time, escape_time_by_label) = escape_times(&raw.events);
        let episodes = episodes(&raw.events, &raw.states, &judgement.finals, exp.chain_range().start);
        Report {
            experiment: exp.clone(),
            engine,
            chain_steps: raw.states.iter().map(|s| u64::from(s.t)).sum(),
            counts,
            escape_time,
            escape_time_by_label,
            survival: SurvivalTables::from_episodes(&episodes),
            episodes,
            judgement,
            self_bounding: None,
            check_notes: Vec::new(),
            trace: Vec::new(),
            scores: Vec::new(),
            step_size: step_sizes(&raw.states),
            final_labels,
            raw,
            wall_seconds,
        }
    }

    /// Every chain as a typed record (what chains.csv holds).
    pub fn chain_records(&self) -> impl Iterator<Item = ChainRecord> + '_ {
        let j = &self.judgement;
        let k = &j.certification;
        self.raw.states.iter().enumerate().map(move |(c, s)| {
            let global = self.experiment.chain_range().start as usize + c;
            let record = ChainRecord::new(global, s, j.finals[c], (k.per_chain_lambda_min[c], k.per_chain_residual[c], k.per_chain_sosp[c]));
            match self.scores.get(c) {
                Some(scores) => record.scored(scores),
                None => record,
            }
        })
    }

    /// Network objectives: the scores' distributions over the chains (summary.json's `network`).
    pub fn network(&self) -> Option<network::NetworkBlock> {
        (!self.scores.is_empty()).then(|| network::NetworkBlock::of(&self.chain_records().collect::<Vec<_>>())).flatten()
    }

    /// The classifier against the objective's declared minimum labels: (converged chains resting
    /// outside them, stalled chains inside them judged not converged); None when the objective
    /// declares none.
    pub fn label_cross_check(&self) -> Option<(u32, u32)> {
        let minima = self.experiment.objective.minimum_labels();
        (!minima.is_empty()).then(|| {
            let mut outside = 0;
            let mut inside_not = 0;
            for (st, f) in self.raw.states.iter().zip(&self.judgement.finals) {
                let in_min = minima.contains(&st.label);
                outside += u32::from(*f == Final::Converged && !in_min);
                inside_not += u32::from(in_min && st.stalled == 1 && *f != Final::Converged && *f != Final::Diverged);
            }
            (outside, inside_not)
        })
    }

        /// What the storage precision did to the run, in words (None when nothing to say).
    pub fn precision_note(&self) -> Option<String> {
        let n = self.counts.precision_limited;
        (n > 0).then(|| {
            let hint = if self.experiment.precision == crate::Precision::F64 { "" } else { "; rerun with --state f64 to see whether they escape" };
            format!(
                "{n} chain(s) stalled at non-stationary points are held by the {} format: their stored state has not changed over their hold window (at least {} steps) up to the end, so no budget ends these stalls in this format{hint}",
                self.experiment.precision.name(),
                crate::outcome::HOLD_STEPS
            )
        })
    }

    /// Chain-steps per wall-clock second, counting the steps of this process only (a resumed
    /// run's checkpoint had taken the others).
    pub fn chain_steps_per_second(&self) -> f64 {
        self.chain_steps.saturating_sub(self.raw.resumed_chain_steps) as f64 / self.wall_seconds.max(1e-9)
    }

    /// The summary as JSON (the records of [`Report::summary`]).
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::to_value(self.summary()).unwrap_or_default()
    }

    /// Writes DIR/summary.json, events.csv, chains.csv, (when traced) trace.csv and, with the
    /// `parquet` feature, events.parquet and chains.parquet, creating DIR. Everything is written
    /// to DIR/.writing first and moved in whole once complete ([`output::commit`]): a failed
    /// write (a full disk) leaves no half results next to whole ones, and a directory where a
    /// result goes is refused before anything moves.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let stage = output::stage(dir)?;
        self.stage(&stage)?;
        output::commit(dir).map(|_| ())
    }

    /// Writes the files of [`Report::write`] into `stage` (removed again when a write fails).
    pub fn stage(&self, stage: &Path) -> Result<(), Error> {
        self.write_files(stage).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(stage);
        })
    }

    fn write_files(&self, dir: &Path) -> Result<(), Error> {
        // The tables first: summary.json records their digests.
        let mut digests = BTreeMap::new();
        digests.insert("events.csv", write_table(&dir.join("events.csv"), self.raw.events.iter().copied())?);
        digests.insert("chains.csv", write_table(&dir.join("chains.csv"), self.chain_records())?);
        if self.monitor().is_some() {
            digests.insert("violations.csv", write_table(&dir.join("violations.csv"), self.violation_records())?);
        }
        #[cfg(feature = "parquet")]
        parquet::write_tables(dir, &self.raw.events, &self.chain_records().collect::<Vec<_>>())?;
        let trace = &self.trace;
        if !trace.is_empty() {
            let d = self.experiment.objective.dim();
            let header = format!("chain,step,f,{}", (0..d).map(|i| format!("x{i}")).collect::<Vec<_>>().join(","));
            let rows = trace.iter().map(|p| {
                let xs: Vec<String> = p.x.iter().map(|v| v.to_string()).collect();
                format!("{},{},{},{}", p.chain, p.step, p.f, xs.join(","))
            });
            digests.insert("trace.csv", write_csv(&dir.join("trace.csv"), &header, rows)?);
        }
        let summary = dir.join("summary.json");
        let text = serde_json::to_string_pretty(&summary::Summary { digests, ..self.summary() }).unwrap_or_default();
        std::fs::write(&summary, text + "\n").map_err(Error::io(&summary))
    }

    /// Each chain's resting point ([`crate::backend::RawRun::resting_point`]) as a chains x d
    /// array of f64 in .npy form at `path` (f64 holds every storage precision exactly).
    pub fn write_points(&self, path: &Path) -> Result<(), Error> {
        let values = self.resting_points();
        files::write_npy(path, self.raw.states.len(), self.experiment.objective.dim(), &values)
    }

    /// Each chain's resting point, row-major (chains x d), as [`Report::write_points`] writes.
    pub fn resting_points(&self) -> Vec<f64> {
        let d = self.experiment.objective.dim();
        (0..self.raw.states.len()).flat_map(|c| self.raw.resting_point(c, d).iter().copied()).collect()
    }

    /// The traced points with their values (evaluated on the host; NaN without a Rust twin).
    /// Computed once into [`Report::trace`] when the report is built.
    pub fn trace_points(&self) -> Vec<TracePoint> {
        let Some(spec) = self.experiment.trace else { return Vec::new() };
        let obj = &self.experiment.objective;
        let d = obj.dim();
        let mut g = vec![0.0; d];
        let mut out = Vec::new();
        for chain in 0..spec.chains {
            for slot in 0..spec.slots(self.experiment.steps) {
                let step = slot as u32 * spec.every;
                // A chain that stopped early (certified, diverged) has no later points.
                if step > self.raw.states[chain as usize].t {
                    break;
                }
                let Some(x) = self.raw.trace_point(&self.experiment, chain, slot) else { break };
                let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let f = if obj.cpu_twin() { obj.eval_f64(&x, &mut g).value } else { f64::NAN };
                out.push(TracePoint { chain, step, f, x });
            }
        }
        out
    }

    /// The report as a saved run (what `escapade report DIR` reads back).
    pub fn as_saved(&self, dir: &Path) -> SavedRun {
        SavedRun {
            dir: dir.to_path_buf(),
            summary: self.summary_json(),
            events: self.raw.events.clone(),
            chains: self.raw.states.clone(),
            finals: self.judgement.finals.clone(),
            first_chain: self.experiment.chain_range().start,
            trace: self.trace.clone(),
            accuracy: self.chain_records().map(|r| (r.train_accuracy, r.holdout_accuracy)).collect(),
        }
    }

    /// A few lines for people.
    pub fn human_summary(&self) -> String {
        let e = &self.experiment;
        let c = &self.counts;
        let mut adapter = self.engine.adapter.as_ref().map_or(String::new(), |a| format!(" ({}, {})", a.name, a.backend));
        if self.engine.devices.len() > 1 {
            adapter += &format!(" on {} devices", self.engine.devices.len());
        }
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let mut s = format!(
            "{} d={} | {} | {} chains x {} steps | backend {}{}\n",
            e.objective.name(),
            e.objective.dim(),
            e.method.kind.name(),
            e.chains,
            e.steps,
            self.engine.backend,
            adapter
        );
        s += &format!(
            "chains: converged {} | precision-limited {} | censored {} | diverged {} | moving {} (stopped by the certification rule: {})\n",
            c.converged, c.precision_limited, c.censored, c.diverged, c.moving, c.certified
        );
        let all = self.survival.overall();
        let km = all.summary();
        let episodes: Vec<String> = Outcome::ALL.iter().map(|&o| format!("{} {}", o.name().replace('_', "-"), all.count(o))).collect();
        s += &format!("stall episodes: {}\n", episodes.join(" | "));
        if km.saddle_stalls == 0 {
            s += "saddle stalls: none (no stall that did not end at a second-order stationary point)\n";
        } else {
            s += &format!(
                "saddle stalls {}: success {:.1}% | escape time median {} p10 {} p90 {} (Kaplan-Meier) | expected running time {} | escape incidence {:.3}\n",
                km.saddle_stalls,
                100.0 * km.success_rate,
                km.median,
                km.p10,
                km.p90,
                km.expected_running_time.map_or("-".to_string(), |v| format!("{v:.1}")),
                km.escape_cif
            );
        }
        if self.survival.by_label.len() > 1 {
            for (label, t) in &self.survival.by_label {
                let k = t.summary();
                s += &format!("  label {label}: ");
                if k.saddle_stalls > 0 {
                    // The median alone reads as "the median stall escapes by then"; where
                    // precision or divergence ends stalls first, it is the cause-specific one,
                    // so the share that escapes at all stands next to it.
                    s += &format!(
                        "{} saddle stalls, {} escaped, median {} p90 {} (cause-specific Kaplan-Meier), escape incidence {:.3} | ",
                        k.saddle_stalls, k.escapes, k.median, k.p90, k.escape_cif
                    );
                }
                s += &format!("converged {}, precision-limited {}, censored {}\n", k.converged, k.precision_limited, k.censored);
            }
        }
        if let Some((outside, inside)) = self.label_cross_check().filter(|&(a, b)| a + b > 0) {
            s += &format!(
                "cross-check: {outside} converged chain(s) rest outside the objective's minimum labels, {inside} stalled chain(s) inside them are not judged converged\n"
            );
        }
        if let Some(note) = self.precision_note() {
            s += &format!("warning: {note}\n");
        }
        let k = &self.judgement.certification;
        s += &format!(
            "second-order stationary ({}): {} of {} resting points; lambda_min median {} (Lanczos residual <= {:.1e})\n",
            k.rule,
            k.sosp,
            k.checked,
            fmt(k.lambda_min.median),
            k.lambda_min_residual_max
        );
        if let Some(sb) = &self.self_bounding {
            s += &format!(
                "self-bounding checks: ||Hess|| <= rho1(f) violated at {} of {} points (worst ratio {:.3}); Hessian-Lipschitz <= rho2(f) violated at {} of {} (worst {:.3})\n",
                sb.hessian.violations, sb.hessian.checks, sb.hessian.worst_ratio, sb.lipschitz.violations, sb.lipschitz.checks, sb.lipschitz.worst_ratio
            );
        }
        for note in &self.check_notes {
            s += &format!("note: {note}\n");
        }
        let labels: Vec<String> = self.final_labels.iter().map(|(l, n)| format!("{l}: {n}")).collect();
        s += &format!("final labels: {}\n", labels.join(", "));
        for line in self.network().map(|n| n.lines()).unwrap_or_default() {
            s += &format!("{line}\n");
        }
        s += &format!(
            "{:.3e} chain-steps/s over {:.2} s ({} dispatches, {} shard(s))",
            self.chain_steps_per_second(),
            self.wall_seconds,
            self.raw.dispatches,
            self.raw.shards
        );
        s
    }
}

/// Plot files for one run in `dir` with extension `ext` (svg or png): survival per label and
/// overall, the escape-time histogram, value traces and, for 2-D objectives, trajectories.
pub fn render_plots(run: &SavedRun, objective: Option<&dyn crate::Objective>, dir: &Path, ext: &str) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let name = run.name();
    // The stall episodes once, for the per-label tables and the pooled (chain-clustered) curve.
    let episodes = run.episodes();
    let tables = SurvivalTables::from_episodes(&episodes);
    let mut curves = vec![("all saddle stalls".to_string(), clustered_kaplan_meier(&episodes))];
    if tables.by_label.len() > 1 {
        curves.extend(tables.by_label.iter().map(|(l, t)| (format!("label {l}"), t.kaplan_meier())));
    }
    let mut written = Vec::new();
    let p = dir.join(format!("survival.{ext}"));
    plots::survival(&p, &format!("Escape-time survival (Kaplan-Meier): {name}"), &curves)?;
    written.push(p);
    // 1 - cumulative incidence of escape: where precision limits or divergence end stalls, the
    // Kaplan-Meier curve answers "had they not", this one "what happened".
    let remaining: Vec<(String, crate::stats::Curve)> = tables
        .by_label
        .iter()
        .filter(|(_, t)| t.saddle_stalls() > 0)
        .map(|(l, t)| (format!("label {l}"), t.cumulative_incidence(Outcome::Escaped).remaining()))
        .collect();
    let p = dir.join(format!("incidence.{ext}"));
    plots::survival(&p, &format!("Saddle stalls not yet escaped (1 - cumulative incidence): {name}"), &remaining)?;
    written.push(p);
    let p = dir.join(format!("histogram.{ext}"));
    plots::histogram(&p, &format!("Escape times: {name}"), &tables.overall().log_histogram())?;
    written.push(p);
    // Network objectives: where the seeds end, from summary.json's histograms.
    let net = &run.summary["network"];
    let series: Vec<(String, Vec<crate::stats::survival::Bin>)> = [("training", "train_accuracy"), ("held out", "holdout_accuracy")]
        .iter()
        .filter_map(|(name, key)| Some((name.to_string(), serde_json::from_value(net[key]["histogram"].clone()).ok()?)))
        .collect();
    if !series.is_empty() {
        let p = dir.join(format!("accuracy.{ext}"));
        plots::accuracy(&p, &format!("Final accuracy over seeds: {name}"), &series)?;
        written.push(p);
    }
    if !run.trace.is_empty() {
        let mut by_chain: BTreeMap<u32, Vec<&TracePoint>> = BTreeMap::new();
        for tp in &run.trace {
            by_chain.entry(tp.chain).or_default().push(tp);
        }
        let sample: Vec<_> = by_chain.iter().take(6).collect();
        if run.trace.iter().any(|t| t.f.is_finite()) {
            let traces: Vec<(u32, Vec<(u32, f64)>)> = sample.iter().map(|(c, v)| (**c, v.iter().map(|t| (t.step, t.f)).collect())).collect();
            let p = dir.join(format!("traces.{ext}"));
            plots::value_traces(&p, &format!("f along chains: {name}"), &traces)?;
            written.push(p);
        }
        if let Some(obj) = objective.filter(|o| o.dim() == 2 && o.cpu_twin()) {
            let paths: Vec<(u32, Vec<[f64; 2]>)> = sample.iter().map(|(c, v)| (**c, v.iter().map(|t| [t.x[0], t.x[1]]).collect())).collect();
            let p = dir.join(format!("trajectories.{ext}"));
            plots::trajectories(&p, &format!("Trajectories: {name}"), obj, &paths)?;
            written.push(p);
        }
    }
    Ok(written)
}
