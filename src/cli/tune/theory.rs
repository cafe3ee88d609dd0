//! The theory's choice of the tuned options, run beside the winner at the last rung's size with
//! every other option as the experiment has it (so the stall and escape thresholds, which define
//! the statistic, stay the experiment's unless they are tuned).
//!
//! The values are Jin et al.'s formulas: with the experiment's l, rho and eps when it gives
//! them ("jin"), else per chain from rho1 and rho2 at its start ("self-bounding": declared by
//! the objective, given, or fitted with --rho-from), then the median over chains. A probe of
//! one step under the rule reads them from the chains' states, the values a run of the rule
//! itself uses. The theory is planned before the search, so that a bad --rho-from or a rule the
//! experiment refuses stops the tune before anything runs.

use super::super::points::{Common, execute, plan};
use super::TuneArgs;
use escapade::Error;
use escapade::advanced::ChainState;
use escapade::options::{Engines, SWITCHES, table_to_flags};
use escapade::report::files::SavedRun;
use escapade::tune::Axis;
use std::path::PathBuf;

/// Reads one tuned option's value from a chain's state.
type Pick = fn(&ChainState) -> f64;

/// The theory's experiment, planned: its name, flags and how to read each tuned option's value.
pub struct Theory {
    name: &'static str,
    flags: Vec<String>,
    picks: Vec<Pick>,
}

/// The theory's choice, run: its name, directory, run and the tuned options' values.
pub struct TheoryRun {
    /// `jin` or `self-bounding`.
    pub name: String,
    /// Its run's directory.
    pub dir: PathBuf,
    /// The run.
    pub run: SavedRun,
    /// The tuned options' values, in the axes' order.
    pub values: Vec<String>,
}

/// Plans the theory for tuned `keys` over the experiment file's `table` (`known`: run's flag
/// names; `checking`: a planner that touches no directory). None, with a line saying why, when
/// the theory gives no value for a tuned option (clip, noise, batch, margin) or knows no
/// constants; an error for a `--rho-from` it cannot use or a rule the experiment refuses.
pub fn plan_theory(t: &TuneArgs, table: &toml::Table, keys: &[String], known: &[String], checking: &Common, declared: bool) -> Result<Option<Theory>, Error> {
    let say = |line: &str| if !t.batch.quiet { eprintln!("theory: {line}") };
    let unused = |why: &str| Error::invalid("rho-from", format!("a check's fits only where the theory uses them ({why})"), t.rho_from.as_ref().map_or(String::new(), |p| p.display().to_string()));
    if t.no_theory {
        return if t.rho_from.is_some() { Err(unused("not with --no-theory")) } else { Ok(None) };
    }
    let picks: Option<Vec<Pick>> = keys
        .iter()
        .map(|k| -> Option<Pick> {
            match k.as_str() {
                "radius" => Some(|c| f64::from(c.radius)),
                "eta" => Some(|c| f64::from(c.eta)),
                "t-thres" => Some(|c| f64::from(c.t_thres)),
                "g-thres" => Some(|c| f64::from(c.g_thres)),
                "f-thres" => Some(|c| f64::from(c.f_thres)),
                _ => None,
            }
        })
        .collect();
    let Some(picks) = picks else {
        if t.rho_from.is_some() {
            return Err(unused("Jin et al.'s formulas give radius, eta, t-thres, g-thres and f-thres, not every tuned option"));
        }
        say("Jin et al.'s formulas give radius, eta, t-thres, g-thres and f-thres, not every tuned option: nothing to compare");
        return Ok(None);
    };
    let has = |k: &str| table.contains_key(k) || table.contains_key(&k.replace('-', "_"));
    let mut rule = table.clone();
    rule.retain(|k, _| !keys.contains(&k.replace('_', "-")) && k != "out");
    let name = if has("l") && has("rho") && has("eps") {
        if t.rho_from.is_some() {
            return Err(unused("the experiment gives l, rho and eps, Jin's constants"));
        }
        "jin"
    } else {
        rule.retain(|k, _| k != "eta" && k.replace('_', "-") != "step-rule");
        rule.insert("step-rule".into(), toml::Value::String("self-bounding".into()));
        if let Some(path) = &t.rho_from {
            rule.retain(|k, _| !["rho1", "rho2", "rho-from", "rho_from"].contains(&k));
            rule.insert("rho-from".into(), toml::Value::String(path.display().to_string()));
        } else if !declared && !has("rho1") && !has("rho-from") {
            say("the experiment gives no l/rho/eps and the objective declares no rho1/rho2 (--rho-from a check fits them): nothing to compare");
            return Ok(None);
        }
        "self-bounding"
    };
    let flags = table_to_flags(&rule, "the theory's experiment", known, &SWITCHES)?;
    match plan(&Common { base: &flags, ..*checking }, &[], &[], &t.out.join("check"), &format!("the theory ({name})")) {
        Ok(_) => Ok(Some(Theory { name, flags, picks })),
        // Asked for (--rho-from), its failure is the user's to see; else the search goes on.
        Err(e) if t.rho_from.is_none() => {
            say(&format!("the {name} rule refuses this experiment ({e}): nothing to compare"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Theory {
    /// Runs the probe and the theory's choice at `size` (chains, steps); `common` is the
    /// tune's planner (its resume and force).
    pub fn run(&self, t: &TuneArgs, axes: &[Axis], common: &Common, size: (u32, u32), engines: &mut Engines) -> Result<TheoryRun, Error> {
        let name = self.name;
        // Always afresh (one step): chains.csv keeps no radius or thresholds, so a probe read
        // back by --resume would lose the values it is run for.
        let probe_dir = t.out.join(format!("theory-{name}-probe"));
        let probe_size = [format!("--chains={}", size.0), "--steps=1".to_string(), "--plots=none".to_string(), "--certify-eps=off".to_string()];
        let fresh = Common { base: &self.flags, resume: false, force: true, ..*common };
        let (probe, _) = execute(plan(&fresh, &[], &probe_size, &probe_dir, &format!("the theory ({name})"))?, engines)?;
        let mut point = Vec::new();
        for (axis, pick) in axes.iter().zip(&self.picks) {
            let values: Vec<f64> = probe.chains.iter().map(pick).collect();
            let m = escapade::stats::Summary::of(&values).median.ok_or_else(|| Error::invalid("theory", "a probe with chains", "none"))?;
            // An integer option (t-thres) takes the median rounded, and at least 1.
            let m = if axis.key.integer { m.round().max(1.0) } else { m };
            point.push((axis.key.name.to_string(), axis.text(m)));
        }
        let dir = t.out.join(format!("theory-{name}"));
        let extra = [format!("--chains={}", size.0), format!("--steps={}", size.1), "--plots=none".to_string()];
        let (run, _) = execute(plan(common, &point, &extra, &dir, &format!("the theory ({name})"))?, engines)?;
        Ok(TheoryRun { name: name.to_string(), dir, run, values: point.into_iter().map(|(_, v)| v).collect() })
    }
}
