//! What the self-bounding monitor found (`crate::monitor`), as summary.json's `monitor` block
//! and violations.csv: counts of checks and violations per condition, overall and per final
//! label, the worst ratio, the first violations located, the safeguard's halvings, and the run's
//! own rho1 estimate (the largest secant curvature per bin of F - f*). Every count comes from
//! the chains' records, so it is the same for every split of the run (dispatches, shards,
//! devices, resume).

use super::columns::{Cell, Values, columns};
use super::Report;
use crate::escape::{ChainState, NEVER};
use crate::monitor::{BINS, bin_range, condition, flags};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// How many first violations summary.json lists (violations.csv has every violating chain).
pub const FIRST: usize = 10;

/// Counts per condition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PerCondition {
    /// The descent condition.
    pub descent: u64,
    /// The curvature condition.
    pub curvature: u64,
    /// The sublevel invariant.
    pub sublevel: u64,
}

impl PerCondition {
    /// The sum over the conditions.
    pub fn total(&self) -> u64 {
        self.descent + self.curvature + self.sublevel
    }
}

/// Checks and violations of a set of chains.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tallied {
    /// Checks made, per condition.
    pub checks: PerCondition,
    /// Violations found (each condition at each step once).
    pub violations: PerCondition,
    /// Chains with at least one violation.
    pub chains_with_violations: u64,
    /// The largest ratio of a checked quantity to its bound (above 1: a violation); None
    /// without checks.
    pub worst_ratio: Option<f64>,
}

impl Tallied {
    /// Adds chain `st`'s records (`fl`: the monitor's flags).
    fn add(&mut self, st: &ChainState, fl: u32) {
        let n = u64::from(st.n_checked);
        self.checks.curvature += if fl & flags::RHO1 != 0 { n } else { 0 };
        self.checks.sublevel += if fl & flags::SUBLEVEL != 0 { n } else { 0 };
        self.checks.descent += u64::from(st.n_desc);
        self.violations.descent += u64::from(st.v_desc);
        self.violations.curvature += u64::from(st.v_curv);
        self.violations.sublevel += u64::from(st.v_sub);
        self.chains_with_violations += u64::from(st.v_t != NEVER);
        if n > 0 {
            self.worst_ratio = Some(self.worst_ratio.unwrap_or(0.0).max(f64::from(st.worst)));
        }
    }
}

/// A chain's first violation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct First {
    /// The chain.
    pub chain: u32,
    /// The step that violated (from x_step to x_step+1).
    pub step: u32,
    /// The chain's final label.
    pub label: Option<u32>,
    /// The value it reached.
    pub f: f32,
    /// Its largest ratio.
    pub ratio: f32,
    /// The conditions it violated.
    pub conditions: Vec<&'static str>,
}

/// One bin of the run's rho1 estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EstimateBin {
    /// Lower edge of F - f* (0 for the first bin).
    pub df_lo: f64,
    /// Upper edge (None: unbounded, the last bin).
    pub df_hi: Option<f64>,
    /// The largest secant curvature estimate of the steps whose larger value fell in it.
    pub curvature_max: f32,
}

/// The run's own rho1 estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The f* the bins are offset by (0 where the objective declares none).
    pub f_star: f32,
    /// The bins with data, in order of F.
    pub bins: Vec<EstimateBin>,
}

/// summary.json's `monitor` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorBlock {
    /// The rho1 the checks used, in words ("none": curvature and descent were not checked).
    pub rho1: String,
    /// Every chain's checks and violations.
    #[serde(flatten)]
    pub all: Tallied,
    /// Step-size halvings by the safeguard.
    pub halvings: u64,
    /// The first violations by step, then chain (at most [`FIRST`]; violations.csv has them all).
    pub first: Vec<First>,
    /// Per final label.
    pub by_label: BTreeMap<String, Tallied>,
    /// The run's own rho1 estimate from the secant curvatures.
    pub rho1_estimate: Estimate,
    /// The run stopped at its first violation (`--on-violation stop`): the step every chain had
    /// reached by then, in words; None otherwise.
    pub stopped: Option<String>,
}

/// The condition names of a violation mask, joined by `+`.
fn names(mask: u32) -> Vec<&'static str> {
    condition::NAMES.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, n)| *n).collect()
}

/// A violation mask as violations.csv writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conditions(pub u32);

impl Conditions {
    /// Its text: every combination of the three names, joined by `+`.
    fn text(self) -> &'static str {
        const TEXT: [&str; 8] = ["", "descent", "curvature", "descent+curvature", "sublevel", "descent+sublevel", "curvature+sublevel", "descent+curvature+sublevel"];
        TEXT[(self.0 & 7) as usize]
    }
}

impl Cell for Conditions {
    fn csv(self, out: &mut String) {
        out.push_str(self.text());
    }
    fn gather(cells: Vec<Self>) -> Values {
        Values::Text(cells.into_iter().map(Self::text).collect())
    }
}

columns! {
/// One chain with a violation, as violations.csv holds it: its first violation (the step from
/// x_step to x_step+1, the value reached, the largest ratio, the conditions) and its counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViolationRecord {
    /// Global chain index.
    pub chain: u32,
    /// Its final label (empty: none).
    pub label: Option<u32>,
    /// The first violating step.
    pub first_step: u32,
    /// The value that step reached.
    pub f: f32,
    /// The step's largest ratio.
    pub ratio: f32,
    /// The conditions it violated.
    pub conditions: Conditions,
    /// The chain's descent violations.
    pub descent: u32,
    /// Its curvature violations.
    pub curvature: u32,
    /// Its sublevel violations.
    pub sublevel: u32,
    /// Its safeguard halvings.
    pub halvings: u32,
}
}

/// A chain's label as the reports give it (None: never had one).
fn label(st: &ChainState) -> Option<u32> {
    (st.label != NEVER).then_some(st.label)
}

impl Report {
    /// The monitor's block (None with the monitor off).
    pub fn monitor(&self) -> Option<MonitorBlock> {
        let e = &self.experiment;
        let fl = crate::monitor::flags_of(e);
        if fl & flags::ON == 0 {
            return None;
        }
        let mut all = Tallied::default();
        let mut by_label: BTreeMap<String, Tallied> = BTreeMap::new();
        for st in &self.raw.states {
            all.add(st, fl);
            let key = label(st).map_or_else(|| "none".to_string(), |l| l.to_string());
            by_label.entry(key).or_default().add(st, fl);
        }
        let mut first: Vec<First> = self.violation_records().map(|r| First { chain: r.chain, step: r.first_step, label: r.label, f: r.f, ratio: r.ratio, conditions: names(r.conditions.0) }).collect();
        first.sort_by_key(|v| (v.step, v.chain));
        first.truncate(FIRST);
        let rho1 = match e.declared_rho() {
            Some((r, _)) if fl & flags::RHO1 != 0 => {
                let given = matches!(&e.method.step_rule, crate::method::StepRule::SelfBounding(sb) if sb.rho1.is_some());
                let source = e.rho_source.clone().unwrap_or_else(|| if given { "flags" } else { "declared" }.into());
                format!("{} + {} max(F - {}, 0)^{} ({source})", r.a, r.b, r.fmin, r.p)
            }
            _ => "none (no rho1 form: the curvature and descent conditions were not checked)".into(),
        };
        let bins = (0..BINS)
            .filter(|&k| self.raw.monitor.bins[k] > 0.0)
            .map(|k| {
                let (lo, hi) = bin_range(k);
                EstimateBin { df_lo: lo, df_hi: hi.is_finite().then_some(hi), curvature_max: self.raw.monitor.bins[k] }
            })
            .collect();
        Some(MonitorBlock {
            rho1,
            all,
            halvings: self.raw.states.iter().map(|s| u64::from(s.halvings)).sum(),
            first,
            by_label,
            rho1_estimate: Estimate { f_star: e.objective.f_min().unwrap_or(0.0) as f32, bins },
            stopped: self.raw.stopped.clone(),
        })
    }

    /// violations.csv's rows: every chain with a violation, in chain order.
    pub fn violation_records(&self) -> impl Iterator<Item = ViolationRecord> + '_ {
        let offset = self.experiment.chain_range().start;
        self.raw.states.iter().enumerate().filter(|(_, st)| st.v_t != NEVER).map(move |(i, st)| ViolationRecord {
            chain: offset + i as u32,
            label: label(st),
            first_step: st.v_t,
            f: st.v_f,
            ratio: st.v_ratio,
            conditions: Conditions(st.v_kind),
            descent: st.v_desc,
            curvature: st.v_curv,
            sublevel: st.v_sub,
            halvings: st.halvings,
        })
    }
}

/// Adds the counts of a [`Tallied`] as JSON (`from`) into `into`: sums, and the larger worst ratio.
fn add_tallied(into: &mut Value, from: &Value) {
    for group in ["checks", "violations"] {
        for c in condition::NAMES {
            into[group][c] = (into[group][c].as_u64().unwrap_or(0) + from[group][c].as_u64().unwrap_or(0)).into();
        }
    }
    into["chains_with_violations"] = (into["chains_with_violations"].as_u64().unwrap_or(0) + from["chains_with_violations"].as_u64().unwrap_or(0)).into();
    let worst = [&into["worst_ratio"], &from["worst_ratio"]].iter().filter_map(|v| v.as_f64()).reduce(f64::max);
    into["worst_ratio"] = worst.map_or(Value::Null, Value::from);
}

/// The monitor block of a run merged from its shards' blocks (`escapade merge`): counts summed
/// (overall and per label), the worst ratio and every rho1 bin the largest, the first violations
/// the earliest of all shards' (each shard lists its own earliest, so none is missed), a stop
/// if any shard stopped. None when the shards ran without the monitor.
pub fn merge_blocks(blocks: &[&Value]) -> Option<Value> {
    let (first, rest) = blocks.split_first()?;
    if !first.is_object() {
        return None;
    }
    let mut out = (*first).clone();
    for b in rest {
        add_tallied(&mut out, b);
        out["halvings"] = (out["halvings"].as_u64().unwrap_or(0) + b["halvings"].as_u64().unwrap_or(0)).into();
        for (label, t) in b["by_label"].as_object().into_iter().flatten() {
            match out["by_label"].get_mut(label) {
                Some(into) => add_tallied(into, t),
                None => out["by_label"][label] = t.clone(),
            }
        }
        if out["stopped"].is_null() {
            out["stopped"] = b["stopped"].clone();
        }
    }
    let key = |v: &Value| (v["step"].as_u64().unwrap_or(u64::MAX), v["chain"].as_u64().unwrap_or(u64::MAX));
    let mut firsts: Vec<Value> = blocks.iter().flat_map(|b| b["first"].as_array().cloned().unwrap_or_default()).collect();
    firsts.sort_by_key(key);
    firsts.truncate(FIRST);
    out["first"] = Value::Array(firsts);
    // Bins by their lower edge, each the largest curvature any shard saw there.
    let mut bins: BTreeMap<u64, Value> = BTreeMap::new();
    for bin in blocks.iter().flat_map(|b| b["rho1_estimate"]["bins"].as_array().cloned().unwrap_or_default()) {
        let lo = bin["df_lo"].as_f64().unwrap_or(0.0).to_bits();
        let c = bin["curvature_max"].as_f64().unwrap_or(0.0);
        let keep = bins.get(&lo).is_none_or(|b| b["curvature_max"].as_f64().unwrap_or(0.0) < c);
        if keep {
            bins.insert(lo, bin);
        }
    }
    // Lower edges are non-negative, so their bit patterns sort as the values do.
    out["rho1_estimate"]["bins"] = Value::Array(bins.into_values().collect());
    Some(out)
}
