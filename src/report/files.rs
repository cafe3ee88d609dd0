//! Results on disk: events.csv, chains.csv, trace.csv and summary.json, written by a run and
//! read back by `escapade report` and `escapade compare` (so statistics and plots can be redone
//! from saved results without rerunning).

use crate::Error;
use crate::escape::{ChainState, EscapeEvent, NEVER, status};
use crate::outcome::{Final, episodes};
use crate::stats::{Episode, SurvivalTables};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Header of events.csv.
pub const EVENTS_HEADER: &str = "chain,label,t_stall,escape_steps,f_stall,f_escape";
/// Header of chains.csv.
/// `outcome` is how the chain ended (converged, precision_limited, censored, diverged, moving);
/// f, gnorm and label are at the point where the chain stopped (x~ for a chain certified by Jin's
/// rule); lambda_min (with its Lanczos residual) and sosp are at its resting point, empty where
/// it was not examined; t_limited is the step of the precision sentinel, empty if it never fired.
pub const CHAINS_HEADER: &str =
    "chain,status,outcome,stalled,t_stall,stall_label,steps,escapes,label,label_since,f,gnorm,eta,t_limited,lambda_min,lambda_residual,sosp";

/// The status names chains.csv uses.
pub(crate) fn status_name(code: u32) -> &'static str {
    match code {
        status::RUNNING => "running",
        status::CERTIFIED => "certified",
        status::DIVERGED_NONFINITE => "diverged-nonfinite",
        _ => "diverged-domain",
    }
}

fn status_code(name: &str) -> Option<u32> {
    [status::RUNNING, status::CERTIFIED, status::DIVERGED_NONFINITE, status::DIVERGED_DOMAIN].into_iter().find(|&c| status_name(c) == name)
}


/// Writes `rows` under `header` to `path`.
pub(crate) fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> Result<(), Error> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(Error::io(path))?);
    writeln!(w, "{header}").map_err(Error::io(path))?;
    for row in rows {
        writeln!(w, "{row}").map_err(Error::io(path))?;
    }
    w.flush().map_err(Error::io(path))
}

/// One row of events.csv.
pub(crate) fn event_row(e: &EscapeEvent) -> String {
    format!("{},{},{},{},{},{}", e.chain, e.label, e.t_stall, e.escape_steps, e.f_stall, e.f_escape)
}

/// One row of chains.csv; `cert` is (lambda_min, its residual, second-order stationary), with a
/// NaN lambda_min where the resting point was not examined.
pub(crate) fn chain_row(chain: usize, s: &ChainState, outcome: Final, cert: (f64, f64, bool)) -> String {
    let (lam, res, sosp) = match cert {
        (l, r, ok) if l.is_finite() => (l.to_string(), r.to_string(), u8::from(ok).to_string()),
        _ => (String::new(), String::new(), String::new()),
    };
    let limited = if s.limited() { s.t_limited.to_string() } else { String::new() };
    format!(
        "{chain},{},{},{},{},{},{},{},{},{},{},{},{},{limited},{lam},{res},{sosp}",
        status_name(s.status),
        outcome.name(),
        s.stalled,
        s.t_stall,
        s.stall_label,
        s.t,
        s.escapes,
        s.label,
        s.label_since,
        s.f,
        s.gnorm,
        s.eta
    )
}

/// Reads a CSV with the expected header into rows of fields.
fn read_csv(path: &Path, header: &str) -> Result<Vec<Vec<String>>, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(Error::invalid(path.display().to_string(), format!("a CSV file starting with the header {header}"), "another header"));
    }
    Ok(lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_string).collect()).collect())
}

fn field<T: std::str::FromStr>(path: &Path, row: usize, v: &str) -> Result<T, Error> {
    v.parse().map_err(|_| Error::invalid(format!("{} line {}", path.display(), row + 2), "a number", v))
}

/// Reads events.csv.
pub fn read_events(path: &Path) -> Result<Vec<EscapeEvent>, Error> {
    read_csv(path, EVENTS_HEADER)?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.len() != 6 {
                return Err(Error::invalid(format!("{} line {}", path.display(), i + 2), "6 fields", r.len()));
            }
            Ok(EscapeEvent {
                chain: field(path, i, &r[0])?,
                label: field(path, i, &r[1])?,
                t_stall: field(path, i, &r[2])?,
                escape_steps: field(path, i, &r[3])?,
                f_stall: field(path, i, &r[4])?,
                f_escape: field(path, i, &r[5])?,
            })
        })
        .collect()
}

/// Reads chains.csv back into chain records and outcomes (fields it does not carry are zero).
pub fn read_chains(path: &Path) -> Result<Vec<(ChainState, Final)>, Error> {
    read_csv(path, CHAINS_HEADER)?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = || format!("{} line {}", path.display(), i + 2);
            if r.len() != 17 {
                return Err(Error::invalid(at(), "17 fields", r.len()));
            }
            let mut s = ChainState::fresh();
            s.status = status_code(&r[1]).ok_or_else(|| Error::invalid(at(), "a chain status", &r[1]))?;
            let outcome = Final::from_name(&r[2]).ok_or_else(|| Error::invalid(at(), "a chain outcome", &r[2]))?;
            s.stalled = field(path, i, &r[3])?;
            s.t_stall = field(path, i, &r[4])?;
            s.stall_label = field(path, i, &r[5])?;
            s.t = field(path, i, &r[6])?;
            s.escapes = field(path, i, &r[7])?;
            s.label = field(path, i, &r[8])?;
            s.label_since = field(path, i, &r[9])?;
            s.f = field(path, i, &r[10])?;
            s.gnorm = field(path, i, &r[11])?;
            s.eta = field(path, i, &r[12])?;
            s.t_limited = if r[13].is_empty() { NEVER } else { field(path, i, &r[13])? };
            Ok((s, outcome))
        })
        .collect()
}

/// A traced point: chain, step, value (NaN when the objective has no host evaluation), position.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePoint {
    /// Chain.
    pub chain: u32,
    /// Step.
    pub step: u32,
    /// f at the point.
    pub f: f64,
    /// Coordinates.
    pub x: Vec<f64>,
}

/// Reads trace.csv (`chain,step,f,x0,...`).
pub fn read_trace(path: &Path) -> Result<Vec<TracePoint>, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.is_empty()) {
        let r: Vec<&str> = line.split(',').collect();
        if r.len() < 4 {
            return Err(Error::invalid(format!("{} line {}", path.display(), i + 1), "chain,step,f,x0,...", line));
        }
        out.push(TracePoint {
            chain: field(path, i - 1, r[0])?,
            step: field(path, i - 1, r[1])?,
            f: field(path, i - 1, r[2])?,
            x: r[3..].iter().map(|v| field(path, i - 1, v)).collect::<Result<_, _>>()?,
        });
    }
    Ok(out)
}

/// A run read back from its directory.
#[derive(Clone, Debug)]
pub struct SavedRun {
    /// The directory.
    pub dir: PathBuf,
    /// summary.json.
    pub summary: serde_json::Value,
    /// events.csv.
    pub events: Vec<EscapeEvent>,
    /// chains.csv.
    pub chains: Vec<ChainState>,
    /// How each chain ended (chains.csv's outcome).
    pub finals: Vec<Final>,
    /// trace.csv, when the run traced chains.
    pub trace: Vec<TracePoint>,
}

impl SavedRun {
    /// Reads DIR/summary.json, events.csv, chains.csv and (if present) trace.csv.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let sp = dir.join("summary.json");
        let text = std::fs::read_to_string(&sp).map_err(Error::io(&sp))?;
        let summary: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::invalid(sp.display().to_string(), "escapade's summary.json", e))?;
        let tp = dir.join("trace.csv");
        let (chains, finals) = read_chains(&dir.join("chains.csv"))?.into_iter().unzip();
        Ok(SavedRun {
            dir: dir.to_path_buf(),
            summary,
            events: read_events(&dir.join("events.csv"))?,
            chains,
            finals,
            trace: if tp.exists() { read_trace(&tp)? } else { Vec::new() },
        })
    }

    /// A short name for legends: "objective method" from the summary, else the directory name.
    pub fn name(&self) -> String {
        let s = &self.summary;
        match (s["objective"]["name"].as_str(), s["method"]["name"].as_str()) {
            (Some(o), Some(m)) => format!("{o} {m} d={}", s["objective"]["dim"]),
            _ => self.dir.file_name().map_or("run".into(), |n| n.to_string_lossy().into_owned()),
        }
    }

    /// The stall episodes, rebuilt from the saved events and chains.
    pub fn episodes(&self) -> Vec<Episode> {
        episodes(&self.events, &self.chains, &self.finals)
    }

    /// Survival tables rebuilt from the saved events and chains.
    pub fn survival(&self) -> SurvivalTables {
        SurvivalTables::from_episodes(&self.episodes())
    }
}
