//! summary.json as typed records: what a run reports, field by field (serde writes them in this
//! order). `SCHEMA_VERSION` changes when a field changes meaning or moves.

use super::{Counts, Report, SCHEMA_VERSION};
use crate::backend::gpu::AdapterSummary;
use crate::check::run_checks::{Certification, SelfBoundingChecks};
use crate::method::{Oracle, Perturbation, PgdParams, Schedule, StepRule, Transform};
use crate::stats::survival::Bin;
use crate::stats::{Episode, Summary as SampleSummary, SurvivalSummary, SurvivalTables, clustered_kaplan_meier};
use serde::Serialize;
use std::collections::BTreeMap;

/// The whole of summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Summary<'a> {
    /// Layout version of this file.
    pub schema_version: u32,
    /// Chains in the ensemble.
    pub chains: u32,
    /// The part of the ensemble this run holds, when it is a shard (`escapade merge` combines
    /// shards).
    pub shard: Option<ShardInfo>,
    /// What identifies the experiment's results (the same for every shard of one ensemble).
    pub experiment: String,
    /// Step budget per chain.
    pub steps: u32,
    /// Seed of every random stream.
    pub seed: u64,
    /// "gpu" or "cpu".
    pub backend: &'a str,
    /// The adapter (GPU runs; the first device's when there are several).
    pub adapter: Option<&'a AdapterSummary>,
    /// The adapter of each device the chains were split over, in chain order (GPU runs).
    pub devices: &'a [String],
    /// The objective.
    pub objective: ObjectiveInfo,
    /// The method with every piece and parameter.
    pub method: MethodInfo<'a>,
    /// Storage precision of positions.
    pub state: &'static str,
    /// Starting points.
    pub init: String,
    /// Distribution of the chains' step sizes.
    pub step_size: SampleSummary,
    /// How the engine split the work.
    pub steps_per_dispatch: u32,
    /// Step dispatches issued (GPU).
    pub dispatches: u32,
    /// Shards (GPU).
    pub shards: u32,
    /// The GPU kernel family (`per-invocation`); absent on the CPU.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub kernel_family: &'a str,
    /// Bytes the run allocated on the device, known before allocation (`gpu::memory`); absent on
    /// the CPU.
    #[serde(skip_serializing_if = "is_zero")]
    pub device_memory_estimate: u64,
    /// Dispatches run again for chains with more escapes than one dispatch holds.
    pub event_overflow_recoveries: u32,
    /// Shards rerun with fewer steps per dispatch (software adapters' loop limit).
    pub loop_limit_retries: u32,
    /// The random stream.
    pub rng: RngInfo,
    /// How the chains ended.
    pub counts: Counts,
    /// What the storage precision did, in words.
    pub precision: Option<String>,
    /// The rule that decided "second-order stationary", in words.
    pub sosp_rule: String,
    /// The verdicts against the objective's declared minimum labels.
    pub label_cross_check: Option<CrossCheck>,
    /// Escape-time statistics over the stall episodes.
    pub survival: SurvivalBlock,
    /// Observed escape times (ignoring censoring; the survival block accounts for it).
    pub escape_time: SampleSummary,
    /// The same per stall label.
    pub escape_time_by_label: &'a BTreeMap<u32, SampleSummary>,
    /// Log-binned histogram of observed escape times.
    pub escape_time_histogram: Vec<Bin>,
    /// Second-order stationarity of the resting points examined.
    pub certification: &'a Certification,
    /// Self-bounding conditions at the traced points.
    pub self_bounding: Option<&'a SelfBoundingChecks>,
    /// What the monitor found at every step (None with `--monitor off`).
    pub monitor: Option<super::monitor::MonitorBlock>,
    /// Why a check was skipped, and other notes.
    pub check_notes: &'a [String],
    /// Chains per final label.
    pub final_labels: &'a BTreeMap<u32, u32>,
    /// Network objectives: training (and held-out) loss and accuracy over the chains' resting
    /// points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<super::network::NetworkBlock>,
    /// Steps taken, summed over chains.
    pub chain_steps: u64,
    /// Of `chain_steps`, those a resumed run's checkpoint had already taken.
    pub resumed_chain_steps: u64,
    /// Chain-steps of this process per wall-clock second.
    pub chain_steps_per_second: f64,
    /// Wall-clock seconds of the run.
    pub wall_seconds: f64,
    /// GPU runs: wall-clock seconds of stepping (kernel compilation and the host's analysis
    /// after stepping left out; summed over devices). None on the CPU.
    pub stepping_seconds: Option<f64>,
    /// GPU runs: of `stepping_seconds`, the seconds the host was not blocked waiting for a step
    /// dispatch (submitting, reading back, processing events, progress, checkpoints).
    pub host_seconds: Option<f64>,
    /// GPU runs: `host_seconds / stepping_seconds`, the fraction of stepping spent in read-back
    /// and host work; with dispatches in flight it bounds the device's idle time from above.
    pub host_fraction: Option<f64>,
    /// The host memory the run was estimated to need before it started, in bytes
    /// (`report::memory::host_memory_estimate`: every chain judged, the worst case).
    pub host_memory_estimate: u64,
    /// SHA-256 of each table file as written (chains.csv, events.csv, trace.csv): reading the
    /// run back refuses files edited or swapped since. Empty for a run not yet saved.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<&'static str, String>,
}

/// A shard: part `index` of `count`, chains `first_chain .. first_chain + chains`.
#[derive(Clone, Debug, Serialize)]
pub struct ShardInfo {
    /// Which part.
    pub index: u32,
    /// Of how many.
    pub count: u32,
    /// Its first chain's global index.
    pub first_chain: u32,
    /// Its number of chains.
    pub chains: u32,
}

/// The objective block.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectiveInfo {
    /// Its name.
    pub name: &'static str,
    /// Its dimension.
    pub dim: usize,
    /// Its parameters.
    pub params: serde_json::Value,
}

/// The method block.
#[derive(Clone, Debug, Serialize)]
pub struct MethodInfo<'a> {
    /// The preset the pieces started from.
    pub name: &'static str,
    /// Step size and detector parameters.
    pub params: PgdParams,
    /// Gradient oracle.
    pub oracle: &'a Oracle,
    /// Perturbation.
    pub perturbation: Perturbation,
    /// Direction transform.
    pub transform: &'a Transform,
    /// Step-size schedule.
    pub schedule: &'a Schedule,
    /// Fixed or self-bounding.
    pub step_rule: &'a StepRule,
    /// Self-bounding rule: where rho1 and rho2 came from: "declared" (the objective's closed
    /// forms), "flags" (explicit forms, --rho1/--rho2) or "fitted: PATH (coverage ...)"
    /// (`--rho-from`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho_source: Option<String>,
}

/// The random stream.
#[derive(Clone, Debug, Serialize)]
pub struct RngInfo {
    /// The generator.
    pub generator: &'static str,
    /// Version of the stream addressing.
    pub stream_version: u32,
}

/// The classifier against the objective's declared minimum labels.
#[derive(Clone, Debug, Serialize)]
pub struct CrossCheck {
    /// The labels the objective declares as minimum basins.
    pub minimum_labels: Vec<u32>,
    /// Converged chains resting outside them.
    pub converged_outside_minimum_labels: u32,
    /// Stalled chains inside them not judged converged.
    pub stalled_in_minimum_labels_not_converged: u32,
}

/// The survival block.
#[derive(Clone, Debug, Serialize)]
pub struct SurvivalBlock {
    /// All labels together.
    pub overall: SurvivalSummary,
    /// How the pooled curve's band is computed.
    pub overall_band: &'static str,
    /// Its standard error at the median (None: the median is not reached).
    pub overall_median_se: Option<f64>,
    /// Per stall label.
    pub by_label: BTreeMap<u32, SurvivalSummary>,
    /// How the per-label bands are computed.
    pub by_label_band: &'static str,
}

impl SurvivalBlock {
    /// The block of stall episodes `episodes` tabled as `tables`.
    pub fn of(tables: &SurvivalTables, episodes: &[Episode]) -> Self {
        SurvivalBlock {
            overall: tables.overall().summary(),
            overall_band: "chain-clustered (infinitesimal jackknife): one chain's episodes are not independent",
            overall_median_se: clustered_kaplan_meier(episodes).points.iter().find(|p| p.survival <= 0.5 + 1e-12).map(|p| p.se),
            by_label: tables.by_label.iter().map(|(l, t)| (*l, t.summary())).collect(),
            by_label_band: "Greenwood",
        }
    }
}

impl Report {
    /// summary.json's records.
    pub fn summary(&self) -> Summary<'_> {
        let e = &self.experiment;
        let m = &e.method;
        let overall = self.survival.overall();
        Summary {
            schema_version: SCHEMA_VERSION,
            chains: e.chains,
            shard: e.shard.map(|s| {
                let r = e.chain_range();
                ShardInfo { index: s.index, count: s.count, first_chain: r.start, chains: r.end - r.start }
            }),
            experiment: crate::checkpoint::fingerprint(&crate::Experiment { shard: None, ..e.clone() }),
            steps: e.steps,
            seed: e.seed,
            backend: &self.engine.backend,
            adapter: self.engine.adapter.as_ref(),
            devices: &self.engine.devices,
            objective: ObjectiveInfo { name: e.objective.name(), dim: e.objective.dim(), params: e.objective.params() },
            method: MethodInfo {
                name: m.kind.name(),
                params: m.params,
                oracle: &m.oracle,
                perturbation: m.perturbation,
                transform: &m.transform,
                schedule: &m.schedule,
                step_rule: &m.step_rule,
                rho_source: match &m.step_rule {
                    StepRule::SelfBounding(sb) => Some(e.rho_source.clone().unwrap_or_else(|| if sb.rho1.is_some() { "flags" } else { "declared" }.into())),
                    StepRule::Fixed => None,
                },
            },
            state: e.precision.name(),
            init: e.init.spec(),
            step_size: self.step_size,
            steps_per_dispatch: self.raw.steps_per_dispatch,
            dispatches: self.raw.dispatches,
            shards: self.raw.shards,
            event_overflow_recoveries: self.raw.overflow_recoveries,
            loop_limit_retries: self.raw.loop_limit_retries,
            kernel_family: &self.raw.kernel_family,
            device_memory_estimate: self.raw.device_memory_estimate,
            rng: RngInfo { generator: "philox4x32-10", stream_version: crate::rng::STREAM_VERSION },
            counts: self.counts,
            precision: self.precision_note(),
            sosp_rule: self.judgement.rule.describe(),
            label_cross_check: self.label_cross_check().map(|(outside, inside)| CrossCheck {
                minimum_labels: e.objective.minimum_labels(),
                converged_outside_minimum_labels: outside,
                stalled_in_minimum_labels_not_converged: inside,
            }),
            survival: SurvivalBlock::of(&self.survival, &self.episodes),
            escape_time: self.escape_time,
            escape_time_by_label: &self.escape_time_by_label,
            escape_time_histogram: overall.log_histogram(),
            certification: &self.judgement.certification,
            self_bounding: self.self_bounding.as_ref(),
            monitor: self.monitor(),
            check_notes: &self.check_notes,
            final_labels: &self.final_labels,
            network: self.network(),
            chain_steps: self.chain_steps,
            resumed_chain_steps: self.raw.resumed_chain_steps,
            chain_steps_per_second: self.chain_steps_per_second(),
            wall_seconds: self.wall_seconds,
            stepping_seconds: self.raw.host_fraction().map(|_| self.raw.stepping_seconds),
            host_seconds: self.raw.host_fraction().map(|_| self.raw.host_seconds),
            host_fraction: self.raw.host_fraction(),
            host_memory_estimate: super::memory::host_memory_estimate(e, self.engine.memory_place()),
            digests: BTreeMap::new(),
        }
    }
}

/// For `skip_serializing_if`: a count that does not apply (0).
fn is_zero(v: &u64) -> bool {
    *v == 0
}
