//! The report of a run: counts, escape-time statistics and metadata, written as summary.json and
//! events.csv, and a short human summary.

use crate::backend::RawRun;
use crate::backend::gpu::{AdapterSummary, GpuEngine};
use crate::escape::status;
use crate::experiment::Experiment;
use crate::stats::Summary;
use crate::Error;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Version of the random-stream addressing; bump when a draw's address or transform changes.
pub const RNG_STREAM_VERSION: u32 = 1;

/// Which engine ran.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EngineInfo {
    /// "gpu" or "cpu".
    pub backend: String,
    /// The adapter (GPU runs on a device escapade opened).
    pub adapter: Option<AdapterSummary>,
}

impl EngineInfo {
    /// The CPU backend.
    pub fn cpu() -> Self {
        EngineInfo { backend: "cpu".into(), adapter: None }
    }
    /// A GPU engine.
    pub fn gpu(engine: &GpuEngine) -> Self {
        EngineInfo { backend: "gpu".into(), adapter: engine.context().adapter.clone() }
    }
}

/// Chain counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Escape events over all chains.
    pub escape_events: usize,
    /// Chains with at least one escape.
    pub chains_escaped: u32,
    /// Chains certified (stalled through the certification window without escaping).
    pub certified: u32,
    /// Chains still stalled when the budget ended (escape time right-censored).
    pub censored: u32,
    /// Chains whose value or gradient became non-finite or that left the domain.
    pub diverged: u32,
    /// Of the diverged: non-finite.
    pub diverged_nonfinite: u32,
    /// Of the diverged: out of the objective's domain.
    pub diverged_out_of_domain: u32,
    /// Chains running and not stalled when the budget ended.
    pub moving: u32,
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
    /// Steps taken, summed over chains.
    pub chain_steps: u64,
    /// Wall-clock seconds of the run (including kernel compilation and read-back).
    pub wall_seconds: f64,
}

impl Report {
    /// Builds the report of `raw`.
    pub fn new(exp: &Experiment, raw: RawRun, engine: EngineInfo, wall_seconds: f64) -> Self {
        let mut counts = Counts { escape_events: raw.events.len(), ..Default::default() };
        let mut final_labels = BTreeMap::new();
        for st in &raw.states {
            match st.status {
                status::CERTIFIED => counts.certified += 1,
                status::DIVERGED_NONFINITE => counts.diverged_nonfinite += 1,
                status::DIVERGED_DOMAIN => counts.diverged_out_of_domain += 1,
                _ if st.stalled == 1 => counts.censored += 1,
                _ => counts.moving += 1,
            }
            counts.chains_escaped += u32::from(st.escapes > 0);
            if !st.diverged() {
                *final_labels.entry(st.label).or_insert(0) += 1;
            }
        }
        counts.diverged = counts.diverged_nonfinite + counts.diverged_out_of_domain;
        let times: Vec<f64> = raw.events.iter().map(|e| f64::from(e.escape_steps)).collect();
        let mut by_label: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for e in &raw.events {
            by_label.entry(e.label).or_default().push(f64::from(e.escape_steps));
        }
        Report {
            experiment: exp.clone(),
            engine,
            chain_steps: raw.states.iter().map(|s| u64::from(s.t)).sum(),
            counts,
            escape_time: Summary::of(&times),
            escape_time_by_label: by_label.into_iter().map(|(l, v)| (l, Summary::of(&v))).collect(),
            step_size: Summary::of(&raw.states.iter().filter(|s| s.eta > 0.0).map(|s| f64::from(s.eta)).collect::<Vec<_>>()),
            final_labels,
            raw,
            wall_seconds,
        }
    }

    /// Chain-steps per wall-clock second.
    pub fn chain_steps_per_second(&self) -> f64 {
        self.chain_steps as f64 / self.wall_seconds.max(1e-9)
    }

    /// The summary as JSON.
    pub fn summary_json(&self) -> serde_json::Value {
        let e = &self.experiment;
        serde_json::json!({
            "chains": e.chains,
            "steps": e.steps,
            "seed": e.seed,
            "backend": self.engine.backend,
            "adapter": self.engine.adapter,
            "objective": { "name": e.objective.name(), "dim": e.objective.dim(), "params": e.objective.params() },
            "method": { "name": e.method.kind.name(), "params": e.method.params, "oracle": e.method.oracle,
                        "perturbation": e.method.perturbation, "transform": e.method.transform,
                        "schedule": e.method.schedule, "step_rule": e.method.step_rule },
            "step_size": self.step_size,
            "init": e.init.spec(),
            "steps_per_dispatch": self.raw.steps_per_dispatch,
            "dispatches": self.raw.dispatches,
            "shards": self.raw.shards,
            "event_overflow_recoveries": self.raw.overflow_recoveries,
            "loop_limit_retries": self.raw.loop_limit_retries,
            "rng": { "generator": "philox4x32-10", "stream_version": RNG_STREAM_VERSION },
            "counts": self.counts,
            "escape_time": self.escape_time,
            "escape_time_by_label": self.escape_time_by_label,
            "final_labels": self.final_labels,
            "chain_steps": self.chain_steps,
            "chain_steps_per_second": self.chain_steps_per_second(),
            "wall_seconds": self.wall_seconds,
        })
    }

    /// Writes DIR/summary.json and DIR/events.csv (creating DIR).
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let io = |path: &Path| {
            let p = path.display().to_string();
            move |source| Error::Io { path: p, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let summary = dir.join("summary.json");
        let text = serde_json::to_string_pretty(&self.summary_json()).unwrap_or_default();
        std::fs::write(&summary, text + "\n").map_err(io(&summary))?;
        let events = dir.join("events.csv");
        let mut w = std::io::BufWriter::new(std::fs::File::create(&events).map_err(io(&events))?);
        writeln!(w, "chain,label,t_stall,escape_steps,f_stall,f_escape").map_err(io(&events))?;
        for ev in &self.raw.events {
            writeln!(w, "{},{},{},{},{},{}", ev.chain, ev.label, ev.t_stall, ev.escape_steps, ev.f_stall, ev.f_escape)
                .map_err(io(&events))?;
        }
        w.flush().map_err(io(&events))
    }

    /// A few lines for people.
    pub fn human_summary(&self) -> String {
        let e = &self.experiment;
        let c = &self.counts;
        let adapter = self.engine.adapter.as_ref().map_or(String::new(), |a| format!(" ({}, {})", a.name, a.backend));
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
            "escape events {} from {} chains | certified {} | censored {} | diverged {} | moving {}\n",
            c.escape_events, c.chains_escaped, c.certified, c.censored, c.diverged, c.moving
        );
        s += &format!(
            "escape time (steps): mean {} median {} p10 {} p90 {}\n",
            fmt(self.escape_time.mean),
            fmt(self.escape_time.median),
            fmt(self.escape_time.p10),
            fmt(self.escape_time.p90)
        );
        if self.escape_time_by_label.len() > 1 {
            let parts: Vec<String> = self
                .escape_time_by_label
                .iter()
                .map(|(l, m)| format!("{l}: {} (n={})", fmt(m.median), m.n))
                .collect();
            s += &format!("median escape time by label: {}\n", parts.join(", "));
        }
        let labels: Vec<String> = self.final_labels.iter().map(|(l, n)| format!("{l}: {n}")).collect();
        s += &format!("final labels: {}\n", labels.join(", "));
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
