//! `escapade merge`: the shards of one ensemble (`--shard I/N`, run anywhere: several GPUs, a
//! Slurm array) combined into the whole run's results. Every draw is addressed by the global
//! chain and every verdict depends on the chain alone, so the merged chains.csv and events.csv
//! are byte for byte the whole run's, and the statistics recomputed from them are its statistics.

use super::columns::{Table, write_table};
use super::monitor::ViolationRecord;
use super::files::{ChainRecord, SavedRun, read_chains};
use super::summary::SurvivalBlock;
use super::{Counts, escape_times, final_labels, step_sizes};
use crate::Error;
use crate::stats::{Summary, SurvivalTables};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A serializable value as JSON.
fn json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// What a merge combined.
#[derive(Clone, Debug)]
pub struct Merged {
    /// Chains in the ensemble.
    pub chains: u32,
    /// Shards combined.
    pub shards: u32,
    /// Escape events.
    pub events: usize,
}

/// Merges the shard runs in `dirs` into `out`: refuses shards of different experiments, a
/// missing or duplicated shard, or ranges that do not tile the ensemble (each named).
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, Error> {
    let mut runs: Vec<SavedRun> = dirs.iter().map(|d| SavedRun::load(d)).collect::<Result<_, _>>()?;
    let shard = |r: &SavedRun, key: &str| r.summary["shard"][key].as_u64();
    if let Some(r) = runs.iter().find(|r| shard(r, "index").is_none()) {
        return Err(Error::invalid(r.dir.display().to_string(), "a shard's output (run with --shard I/N)", "a whole run"));
    }
    runs.sort_by_key(|r| shard(r, "index"));
    let first = &runs[0];
    let count = shard(first, "count").unwrap_or(0);
    let chains = first.summary["chains"].as_u64().unwrap_or(0);
    let mut next = 0u64;
    for (i, r) in runs.iter().enumerate() {
        let here = r.dir.display().to_string();
        if r.summary["experiment"] != first.summary["experiment"] || shard(r, "count") != Some(count) {
            let fp = |r: &SavedRun| r.summary["experiment"].as_str().unwrap_or("").to_string();
            let what = if shard(r, "count") != Some(count) { "shard count".to_string() } else { crate::checkpoint::differences(&fp(first), &fp(r)) };
            return Err(Error::invalid(here, format!("a shard of the same experiment as {}", first.dir.display()), format!("another experiment's (its {what} differ)")));
        }
        if shard(r, "index") != Some(i as u64) {
            return Err(Error::invalid(here, format!("shard {i} of {count} (each shard once)"), format!("shard {}", r.summary["shard"]["index"])));
        }
        if shard(r, "first_chain") != Some(next) {
            return Err(Error::invalid(here, format!("chains from {next} on"), format!("chains from {}", r.summary["shard"]["first_chain"])));
        }
        next += shard(r, "chains").unwrap_or(0);
    }
    if runs.len() as u64 != count || next != chains {
        return Err(Error::invalid("merge", format!("all {count} shards of the {chains}-chain ensemble"), format!("{} shards covering {next} chains", runs.len())));
    }
    let records: Vec<ChainRecord> = runs.iter().map(|r| read_chains(&r.dir.join("chains.csv"))).collect::<Result<Vec<_>, _>>()?.concat();
    let events: Vec<_> = runs.iter().flat_map(|r| r.events.iter().copied()).collect();
    let states: Vec<_> = runs.iter().flat_map(|r| r.chains.iter().copied()).collect();
    let finals: Vec<_> = runs.iter().flat_map(|r| r.finals.iter().copied()).collect();
    let episodes = crate::outcome::episodes(&events, &states, &finals, 0);
    let tables = SurvivalTables::from_episodes(&episodes);
    let (escape_time, by_label) = escape_times(&events);
    let sum = |key: &str| runs.iter().map(|r| r.summary[key].as_f64().unwrap_or(0.0)).sum::<f64>();
    let mut summary = first.summary.clone();
    let lambdas: Vec<f64> = records.iter().filter_map(|r| r.lambda_min).collect();
    let set = |s: &mut Value, key: &str, v: Value| s[key] = v;
    set(&mut summary, "shard", Value::Null);
    set(&mut summary, "devices", Value::Array(runs.iter().flat_map(|r| r.summary["devices"].as_array().cloned().unwrap_or_default()).collect()));
    set(&mut summary, "merged_from", json(dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>()));
    set(&mut summary, "counts", json(Counts::tally(&states, &finals, events.len())));
    set(&mut summary, "survival", json(SurvivalBlock::of(&tables, &episodes)));
    set(&mut summary, "escape_time", json(escape_time));
    set(&mut summary, "escape_time_by_label", json(by_label));
    set(&mut summary, "escape_time_histogram", json(tables.overall().log_histogram()));
    set(&mut summary, "final_labels", json(final_labels(&states)));
    if let Some(block) = super::network::NetworkBlock::of(&records) {
        set(&mut summary, "network", json(block));
    }
    set(&mut summary, "step_size", json(step_sizes(&states)));
    let cert = &mut summary["certification"];
    cert["checked"] = lambdas.len().into();
    cert["sosp"] = records.iter().filter(|r| r.sosp == Some(true)).count().into();
    cert["lambda_min"] = json(Summary::of(&lambdas));
    cert["lambda_min_residual_max"] = records.iter().filter_map(|r| r.lambda_residual).fold(0.0, f64::max).into();
    cert["unconverged"] = runs.iter().map(|r| r.summary["certification"]["unconverged"].as_u64().unwrap_or(0)).sum::<u64>().into();
    for key in ["chain_steps", "resumed_chain_steps", "dispatches", "shards", "event_overflow_recoveries", "loop_limit_retries"] {
        summary[key] = (sum(key) as u64).into();
    }
    summary["wall_seconds"] = sum("wall_seconds").into();
    // Host time over stepping time of all shards together (null when no shard stepped on a GPU).
    if runs.iter().all(|r| r.summary["host_fraction"].is_number()) {
        summary["stepping_seconds"] = sum("stepping_seconds").into();
        summary["host_seconds"] = sum("host_seconds").into();
        summary["host_fraction"] = (sum("host_seconds") / sum("stepping_seconds").max(1e-9)).into();
    } else {
        for key in ["stepping_seconds", "host_seconds", "host_fraction"] {
            summary[key] = Value::Null;
        }
    }
    summary["chain_steps_per_second"] = ((sum("chain_steps") - sum("resumed_chain_steps")) / sum("wall_seconds").max(1e-9)).into();
    if summary["label_cross_check"].is_object() {
        for key in ["converged_outside_minimum_labels", "stalled_in_minimum_labels_not_converged"] {
            summary["label_cross_check"][key] = runs.iter().map(|r| r.summary["label_cross_check"][key].as_u64().unwrap_or(0)).sum::<u64>().into();
        }
    }
    // Every shard says the same notes about the experiment: each once, in order.
    let mut notes: Vec<Value> = Vec::new();
    for note in runs.iter().flat_map(|r| r.summary["check_notes"].as_array().cloned().unwrap_or_default()) {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    // Shards of one experiment may run on different engines (a CPU node, GPUs of another model):
    // their integer results agree, their floats to the last bits; the merged run says so.
    let engine = |r: &SavedRun| match r.summary["adapter"]["name"].as_str() {
        Some(name) => format!("{} {name} ({})", r.summary["backend"].as_str().unwrap_or("?"), r.summary["adapter"]["backend"].as_str().unwrap_or("?")),
        None => r.summary["backend"].as_str().unwrap_or("?").to_string(),
    };
    let mut engines: Vec<String> = runs.iter().map(engine).collect();
    engines.sort();
    engines.dedup();
    if engines.len() > 1 {
        notes.push(format!("the shards ran on different engines ({}): floats may differ in their last bits from a run on one", engines.join("; ")).into());
    }
    summary["check_notes"] = Value::Array(notes);
    let blocks: Vec<&Value> = runs.iter().map(|r| &r.summary["monitor"]).collect();
    summary["monitor"] = super::monitor::merge_blocks(&blocks).unwrap_or(Value::Null);
    // violations.csv: every shard's rows, in shard (so chain) order.
    let violations = runs.iter().map(|r| violation_rows(&r.dir)).collect::<Result<Vec<_>, _>>()?;
    summary["merged_engines"] = json(&engines);
    // Each shard ran in its own process: the largest estimate is what one of them needed.
    summary["host_memory_estimate"] = runs.iter().filter_map(|r| r.summary["host_memory_estimate"].as_u64()).max().unwrap_or(0).into();
    if let Some(device) = runs.iter().filter_map(|r| r.summary["device_memory_estimate"].as_u64()).max() {
        summary["device_memory_estimate"] = device.into();
    }
    let _lock = super::output::OutputLock::claim(out)?;
    super::output::write_whole(out, |stage| {
        let chains = write_table(&stage.join("chains.csv"), records.iter().copied())?;
        let events_digest = write_table(&stage.join("events.csv"), events.iter().copied())?;
        summary["digests"] = serde_json::json!({ "chains.csv": chains, "events.csv": events_digest });
        if summary["monitor"].is_object() {
            let path = stage.join("violations.csv");
            summary["digests"]["violations.csv"] = super::files::write_csv(&path, <ViolationRecord as Table>::HEADER, violations.iter().flatten().cloned())?.into();
        }
        #[cfg(feature = "parquet")]
        super::parquet::write_tables(stage, &events, &records)?;
        let path = stage.join("summary.json");
        std::fs::write(&path, serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n").map_err(Error::io(&path))?;
        Ok(Vec::new())
    })?;
    Ok(Merged { chains: chains as u32, shards: count as u32, events: events.len() })
}

/// A shard's violations.csv rows (none when it has no such file: a run without the monitor);
/// refuses a file with another header.
fn violation_rows(dir: &Path) -> Result<Vec<String>, Error> {
    let path = dir.join("violations.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = crate::error::read_regular_text(&path)?;
    let mut lines = text.lines();
    let header = <ViolationRecord as Table>::HEADER;
    if lines.next() != Some(header) {
        return Err(Error::invalid(path.display().to_string(), format!("a violations.csv with the header {header}"), "another header"));
    }
    Ok(lines.filter(|l| !l.is_empty()).map(String::from).collect())
}
