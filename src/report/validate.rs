//! A saved run checked as strictly as a checkpoint before `report`, `compare`, `merge` or
//! `check --from-run` reads statistics from it: every row in range and consistent with the
//! summary, the escape counts equal to the events, and each table file the one the run wrote
//! (its SHA-256 as summary.json records it). A damaged or edited file is refused in one line
//! naming the file and line, never read into wrong statistics.

use super::files::{ChainRecord, TracePoint};
use crate::Error;
use crate::escape::EscapeEvent;
use crate::outcome::Final;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What a run directory holds, read but not yet trusted.
pub(super) struct Tables<'a> {
    /// The directory.
    pub dir: &'a Path,
    /// summary.json.
    pub summary: &'a Value,
    /// chains.csv.
    pub records: &'a [ChainRecord],
    /// events.csv.
    pub events: &'a [EscapeEvent],
    /// trace.csv (empty when absent).
    pub trace: &'a [TracePoint],
    /// The bytes of each table file present, for the digests.
    pub files: &'a [(&'static str, Vec<u8>)],
}

fn at(path: &Path, row: usize) -> String {
    format!("{} line {}", path.display(), row + 2)
}

impl Tables<'_> {
    /// The global index of the run's first chain, once every check has passed.
    pub fn check(&self) -> Result<u32, Error> {
        let first = self.chains()?;
        self.events()?;
        self.trace()?;
        self.digests()?;
        Ok(first)
    }

    fn budget(&self) -> u64 {
        self.summary["steps"].as_u64().unwrap_or(u64::from(u32::MAX))
    }

    fn first_chain(&self) -> u32 {
        self.summary["shard"]["first_chain"].as_u64().unwrap_or(0) as u32
    }

    /// chains.csv: rows are consecutive chains in order, once each (a whole run's from 0, a
    /// shard's from its first chain), as many as the summary counts, each within the step budget
    /// (the statistics subtract these steps from each other), with finite values unless the
    /// chain diverged, and a status that agrees with its outcome.
    fn chains(&self) -> Result<u32, Error> {
        let cp = self.dir.join("chains.csv");
        let records = self.records;
        let first = self.first_chain();
        if records.is_empty() {
            return Err(Error::invalid(cp.display().to_string(), "at least one chain row (a run has at least one chain)", "no rows"));
        }
        if let Some((i, r)) = records.iter().enumerate().find(|(i, r)| r.chain as usize != first as usize + i) {
            return Err(Error::invalid(at(&cp, i), format!("chain {} (rows in chain order, once each)", first as usize + i), r.chain));
        }
        if let Some(n) = self.summary["shard"]["chains"].as_u64().or(self.summary["chains"].as_u64()).filter(|&n| n != records.len() as u64) {
            return Err(Error::invalid(cp.display().to_string(), format!("{n} rows, one per chain (as summary.json counts them)"), records.len()));
        }
        let budget = self.budget();
        for (i, r) in records.iter().enumerate() {
            if u64::from(r.steps) > budget || r.t_stall > r.steps || r.label_since > r.steps || r.t_limited.is_some_and(|t| t > r.steps) {
                return Err(Error::invalid(
                    at(&cp, i),
                    format!("steps <= the budget {budget}, and t_stall, label_since, t_limited <= steps"),
                    format!("steps {}, t_stall {}, label_since {}, t_limited {:?}", r.steps, r.t_stall, r.label_since, r.t_limited),
                ));
            }
            let diverged = r.outcome == Final::Diverged;
            if diverged != r.status.name().starts_with("diverged") {
                return Err(Error::invalid(at(&cp, i), "outcome diverged exactly when status is diverged-*", format!("status {}, outcome {}", r.status.name(), r.outcome.name())));
            }
            if !(diverged || r.f.is_finite() && r.gnorm.is_finite()) {
                return Err(Error::invalid(at(&cp, i), "finite f and gnorm (only a diverged chain may hold a non-finite value)", format!("f {}, gnorm {}", r.f, r.gnorm)));
            }
            if !(r.eta.is_finite() && r.eta > 0.0) || r.stalled > 1 || r.lambda_residual.is_some_and(|x| x.is_nan() || x < 0.0) {
                return Err(Error::invalid(
                    at(&cp, i),
                    "eta finite and > 0, stalled 0 or 1, lambda_residual >= 0",
                    format!("eta {}, stalled {}, lambda_residual {:?}", r.eta, r.stalled, r.lambda_residual),
                ));
            }
        }
        Ok(first)
    }

    /// events.csv: events name this run's chains, once per stall, escaping within the budget
    /// and within their chain's steps to a lower value; each chain's escape count is its events.
    fn events(&self) -> Result<(), Error> {
        let ep = self.dir.join("events.csv");
        let first = self.first_chain() as usize;
        let ids = first..first + self.records.len();
        let budget = self.budget();
        let mut seen = std::collections::BTreeSet::new();
        let mut per_chain: BTreeMap<u32, u32> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            let end = u64::from(e.t_stall) + u64::from(e.escape_steps);
            let in_run = ids.contains(&(e.chain as usize));
            let within = in_run && end <= budget && end <= u64::from(self.records[e.chain as usize - first].steps);
            if !within || !seen.insert((e.chain, e.t_stall)) {
                return Err(Error::invalid(
                    at(&ep, i),
                    format!("one event per stall of chains {}..{}, escaped within the budget of {budget} steps and its chain's steps", ids.start, ids.end),
                    format!("chain {} stalled at {} escaping after {}", e.chain, e.t_stall, e.escape_steps),
                ));
            }
            if !(e.f_stall.is_finite() && e.f_escape.is_finite() && e.f_escape <= e.f_stall) {
                return Err(Error::invalid(at(&ep, i), "finite f_stall and f_escape, f_escape <= f_stall (an escape lowers f)", format!("f_stall {}, f_escape {}", e.f_stall, e.f_escape)));
            }
            *per_chain.entry(e.chain).or_default() += 1;
        }
        let cp = self.dir.join("chains.csv");
        if let Some((i, r)) = self.records.iter().enumerate().find(|(_, r)| per_chain.get(&r.chain).copied().unwrap_or(0) != r.escapes) {
            return Err(Error::invalid(
                at(&cp, i),
                format!("escapes equal to the chain's events in events.csv ({})", per_chain.get(&r.chain).copied().unwrap_or(0)),
                r.escapes,
            ));
        }
        let sp = self.dir.join("summary.json");
        if let Some(n) = self.summary["counts"]["escape_events"].as_u64().filter(|&n| n != self.events.len() as u64) {
            return Err(Error::invalid(sp.display().to_string(), format!("counts.escape_events equal to the rows of events.csv ({})", self.events.len()), n));
        }
        Ok(())
    }

    /// trace.csv: points of the ensemble's chains within the budget, in the objective's
    /// dimension.
    fn trace(&self) -> Result<(), Error> {
        let tp = self.dir.join("trace.csv");
        if let (Some(t), Some(d)) = (self.trace.first(), self.summary["objective"]["dim"].as_u64()) {
            if t.x.len() as u64 != d {
                return Err(Error::invalid(tp.display().to_string(), format!("{d} coordinates per point (the objective's dimension)"), t.x.len()));
            }
        }
        let chains = self.summary["chains"].as_u64().unwrap_or(u64::from(u32::MAX));
        let budget = self.budget();
        if let Some((i, t)) = self.trace.iter().enumerate().find(|(_, t)| u64::from(t.chain) >= chains || u64::from(t.step) > budget) {
            return Err(Error::invalid(at(&tp, i), format!("points of chains 0..{chains} at steps <= the budget {budget}"), format!("chain {}, step {}", t.chain, t.step)));
        }
        Ok(())
    }

    /// Each table file as the run wrote it: the SHA-256 summary.json records for it, and no
    /// table file the run did not write.
    fn digests(&self) -> Result<(), Error> {
        let sp = self.dir.join("summary.json");
        let Some(recorded) = self.summary["digests"].as_object() else {
            return Err(Error::invalid(sp.display().to_string(), "a summary.json with the digests of its table files", "none"));
        };
        for (name, bytes) in self.files {
            let path = self.dir.join(name);
            match recorded.get(*name).and_then(Value::as_str) {
                Some(d) if d == crate::checkpoint::sha256(bytes) => {}
                Some(_) => {
                    return Err(Error::invalid(path.display().to_string(), "the file as the run wrote it (its SHA-256 in summary.json)", "contents edited or replaced since"));
                }
                None => return Err(Error::invalid(path.display().to_string(), "only the table files the run wrote (summary.json lists their digests)", "a file the run did not write")),
            }
        }
        if let Some(name) = recorded.keys().find(|k| !self.files.iter().any(|(n, _)| n == k)) {
            return Err(Error::invalid(self.dir.join(name).display().to_string(), "present (summary.json records its digest)", "missing"));
        }
        Ok(())
    }
}
