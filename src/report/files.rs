//! Results on disk: events.csv, chains.csv, trace.csv and summary.json, written by a run and
//! read back by `escapade report` and `escapade compare` (so statistics and plots can be redone
//! from saved results without rerunning).

use crate::Error;
use crate::escape::{ChainState, EscapeEvent, NEVER, Status};
use crate::outcome::{Final, episodes};
use crate::stats::{Episode, SurvivalTables};
use super::columns::{Table, columns};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Header of events.csv: the fields of [`EscapeEvent`].
pub const EVENTS_HEADER: &str = <EscapeEvent as Table>::HEADER;
/// Header of chains.csv: the fields of [`ChainRecord`].
pub const CHAINS_HEADER: &str = <ChainRecord as Table>::HEADER;

// events.csv's columns: every field of the record the kernels write.
columns!(impl EscapeEvent { chain, label, t_stall, escape_steps, f_stall, f_escape });

/// Writes `rows` under `header` to `path`; returns the SHA-256 of the bytes written (summary.json
/// records it, and [`SavedRun::load`] refuses a file that no longer matches).
pub(crate) fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> Result<String, Error> {
    use sha2::Digest;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(Error::io(path))?);
    let mut hash = sha2::Sha256::new();
    for line in std::iter::once(header.to_string()).chain(rows) {
        hash.update(line.as_bytes());
        hash.update(b"\n");
        w.write_all(line.as_bytes()).and_then(|_| w.write_all(b"\n")).map_err(Error::io(path))?;
    }
    w.flush().map_err(Error::io(path))?;
    Ok(crate::checkpoint::hex(&hash.finalize()))
}

columns! {
/// One chain of a run, as chains.csv holds it.
///
/// `outcome` is how the chain ended; f, gnorm and label are at the point where the chain stopped
/// (x~ for a chain certified by Jin's rule; f and gnorm NaN and label empty for a chain that
/// diverged at its start, which never had a finite value); lambda_min (with its Lanczos residual) and sosp are
/// at its resting point, empty where it was not examined; t_limited is the step at which the
/// chain's hold began (its stored state unchanged since), empty when its last step moved it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
pub struct ChainRecord {
    /// Global chain index.
    pub chain: u32,
    /// How stepping ended.
    pub status: Status,
    /// How the chain ended, judged at its resting point.
    pub outcome: Final,
    /// 1 while in a stall episode.
    pub stalled: u32,
    /// Step at which the last stall began.
    pub t_stall: u32,
    /// Label at that stall.
    pub stall_label: u32,
    /// Steps taken.
    pub steps: u32,
    /// Escapes.
    pub escapes: u32,
    /// Label at the last point (empty for a chain that never had one: diverged at its start).
    pub label: Option<u32>,
    /// Step at which it entered that label.
    pub label_since: u32,
    /// f at the last point.
    pub f: f32,
    /// ||grad f|| there.
    pub gnorm: f32,
    /// The chain's step size.
    pub eta: f32,
    /// Step from which the chain's stored state has not changed (None: its last step moved it).
    pub t_limited: Option<u32>,
    /// lambda_min of the Hessian at the resting point.
    pub lambda_min: Option<f64>,
    /// The Lanczos residual of lambda_min.
    pub lambda_residual: Option<f64>,
    /// Whether the resting point is second-order stationary.
    pub sosp: Option<bool>,
    /// Network objectives: the mean training loss at the resting point (the data term of f).
    #[serde(default)]
    pub train_loss: Option<f64>,
    /// Network objectives: the fraction of training rows classified right there.
    #[serde(default)]
    pub train_accuracy: Option<f64>,
    /// Network objectives with --holdout: the mean loss on the held-out rows.
    #[serde(default)]
    pub holdout_loss: Option<f64>,
    /// Network objectives with --holdout: the accuracy on the held-out rows.
    #[serde(default)]
    pub holdout_accuracy: Option<f64>,
}
}

impl ChainRecord {
    /// The record of chain `chain` with state `s`, outcome and (lambda_min, residual, sosp),
    /// lambda_min NaN where the resting point was not examined.
    pub fn new(chain: usize, s: &ChainState, outcome: Final, cert: (f64, f64, bool)) -> Self {
        let examined = cert.0.is_finite();
        // A chain that diverged at its start never had a finite value: its f and gradient norm
        // are NaN, not the 0.0 a fresh state holds (which would read as a minimum).
        let valued = s.label != NEVER;
        let (f, gnorm) = if valued { (s.f, s.gnorm) } else { (f32::NAN, f32::NAN) };
        ChainRecord {
            chain: chain as u32,
            status: s.state(),
            outcome,
            stalled: s.stalled,
            t_stall: s.t_stall,
            stall_label: s.stall_label,
            steps: s.t,
            escapes: s.escapes,
            label: (s.label != NEVER).then_some(s.label),
            label_since: s.label_since,
            f,
            gnorm,
            eta: s.eta,
            t_limited: s.limited().then_some(s.t_limited),
            lambda_min: examined.then_some(cert.0),
            lambda_residual: examined.then_some(cert.1),
            sosp: examined.then_some(cert.2),
            train_loss: None,
            train_accuracy: None,
            holdout_loss: None,
            holdout_accuracy: None,
        }
    }

    /// The record with a classifier's scores at the resting point.
    pub fn scored(self, s: &crate::objective::Scores) -> Self {
        ChainRecord {
            train_loss: Some(s.train_loss),
            train_accuracy: Some(s.train_accuracy),
            holdout_loss: s.holdout_loss,
            holdout_accuracy: s.holdout_accuracy,
            ..self
        }
    }

    /// The chain state it records (fields chains.csv does not carry are those of a fresh chain).
    pub fn state(&self) -> ChainState {
        let mut s = ChainState::fresh();
        s.status = self.status.code();
        s.stalled = self.stalled;
        s.t_stall = self.t_stall;
        s.stall_label = self.stall_label;
        s.t = self.steps;
        s.escapes = self.escapes;
        s.label = self.label.unwrap_or(NEVER);
        s.label_since = self.label_since;
        s.f = self.f;
        s.gnorm = self.gnorm;
        s.eta = self.eta;
        s.t_limited = self.t_limited.unwrap_or(NEVER);
        s
    }
}

/// The text of a file read as bytes (a bad encoding names the file).
fn text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, Error> {
    std::str::from_utf8(bytes).map_err(|e| Error::Io { path: path.display().to_string(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) })
}

/// A CSV text with the expected header as rows of fields.
fn csv_rows(path: &Path, text: &str, header: &str) -> Result<Vec<Vec<String>>, Error> {
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
    parse_events(path, &crate::error::read_regular(path)?)
}

fn parse_events(path: &Path, bytes: &[u8]) -> Result<Vec<EscapeEvent>, Error> {
    csv_rows(path, text(path, bytes)?, EVENTS_HEADER)?
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

/// Reads chains.csv back into its records; a wrong header or a bad field names the file and line.
pub fn read_chains(path: &Path) -> Result<Vec<ChainRecord>, Error> {
    parse_chains(path, &crate::error::read_regular(path)?)
}

fn parse_chains(path: &Path, bytes: &[u8]) -> Result<Vec<ChainRecord>, Error> {
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().map(|h| h.iter().collect::<Vec<_>>().join(",")).unwrap_or_default();
    if header != CHAINS_HEADER {
        return Err(Error::invalid(path.display().to_string(), format!("a CSV file starting with the header {CHAINS_HEADER}"), "another header"));
    }
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| Error::invalid(format!("{} line {}", path.display(), i + 2), "a chains.csv row", e)))
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
    parse_trace(path, &crate::error::read_regular(path)?)
}

fn parse_trace(path: &Path, bytes: &[u8]) -> Result<Vec<TracePoint>, Error> {
    let mut out = Vec::new();
    for (i, line) in text(path, bytes)?.lines().enumerate().skip(1).filter(|(_, l)| !l.is_empty()) {
        let r: Vec<&str> = line.split(',').collect();
        if r.len() < 4 {
            return Err(Error::invalid(format!("{} line {}", path.display(), i + 1), "chain,step,f,x0,...", line));
        }
        if let Some(first) = out.first().map(|t: &TracePoint| t.x.len()).filter(|&n| n != r.len() - 3) {
            return Err(Error::invalid(format!("{} line {}", path.display(), i + 1), format!("{first} coordinates, as on line 2"), r.len() - 3));
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
    /// chains.csv, as chain states (for the statistics).
    pub chains: Vec<ChainState>,
    /// How each chain ended (chains.csv's outcome).
    pub finals: Vec<Final>,
    /// Global index of the first chain (a shard's runs from its first chain on).
    pub first_chain: u32,
    /// trace.csv, when the run traced chains.
    pub trace: Vec<TracePoint>,
    /// Each chain's final (training, held-out) accuracy from chains.csv: a network's, else None.
    pub accuracy: Vec<(Option<f64>, Option<f64>)>,
}

impl SavedRun {
    /// Reads DIR/summary.json, events.csv, chains.csv and (if present) trace.csv, and checks
    /// the digest of violations.csv (if present).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let sp = dir.join("summary.json");
        let text = crate::error::read_regular_text(&sp)?;
        let summary: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::invalid(sp.display().to_string(), "escapade's summary.json", e))?;
        if summary["schema_version"].as_u64() != Some(u64::from(super::SCHEMA_VERSION)) {
            return Err(Error::invalid(
                sp.display().to_string(),
                format!("schema_version {} (written by this escapade)", super::SCHEMA_VERSION),
                &summary["schema_version"],
            ));
        }
        let mut files = Vec::new();
        for name in ["chains.csv", "events.csv", "trace.csv", "violations.csv"] {
            let path = dir.join(name);
            // trace.csv only when the run traced chains, violations.csv when it ran the monitor.
            if matches!(name, "chains.csv" | "events.csv") || path.symlink_metadata().is_ok() {
                files.push((name, crate::error::read_regular(&path)?));
            }
        }
        let records = parse_chains(&dir.join("chains.csv"), &files[0].1)?;
        let events = parse_events(&dir.join("events.csv"), &files[1].1)?;
        let trace = match files.iter().find(|(n, _)| *n == "trace.csv") {
            Some((_, bytes)) => parse_trace(&dir.join("trace.csv"), bytes)?,
            None => Vec::new(),
        };
        let tables = super::validate::Tables { dir, summary: &summary, records: &records, events: &events, trace: &trace, files: &files };
        let first_chain = tables.check()?;
        let accuracy = records.iter().map(|r| (r.train_accuracy, r.holdout_accuracy)).collect();
        let (chains, finals) = records.into_iter().map(|r| (r.state(), r.outcome)).unzip();
        Ok(SavedRun { dir: dir.to_path_buf(), summary, events, chains, finals, first_chain, trace, accuracy })
    }

    /// Refuses a saved run that is not `exp`'s results: its summary's fingerprint (every option
    /// that changes a trajectory or a verdict, the objective's source and data) differs, named.
    pub fn check_is(&self, exp: &crate::Experiment) -> Result<(), Error> {
        let ours = crate::checkpoint::fingerprint(&crate::Experiment { shard: None, ..exp.clone() });
        let theirs = self.summary["experiment"].as_str().unwrap_or_default();
        if theirs != ours {
            let differ = crate::checkpoint::differences(theirs, &ours);
            return Err(Error::invalid(self.dir.display().to_string(), "a run of this experiment", format!("a run whose {differ} differ")));
        }
        Ok(())
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
        episodes(&self.events, &self.chains, &self.finals, self.first_chain)
    }

    /// Survival tables rebuilt from the saved events and chains.
    pub fn survival(&self) -> SurvivalTables {
        SurvivalTables::from_episodes(&self.episodes())
    }
}

/// Writes a rows x cols matrix of f64 as a .npy file (format 1.0, little-endian, C order), which
/// numpy.load and `--init file:` read back.
pub fn write_npy(path: &Path, rows: usize, cols: usize, values: &[f64]) -> Result<(), Error> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // The header, with its 10-byte preamble and closing newline, fills a multiple of 64 bytes.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 8 * values.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    values.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
    std::fs::write(path, bytes).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// chains.csv's header is the record's field list, and a record survives the round trip.
    #[test]
    fn chain_records_round_trip_under_the_documented_header() {
        let dir = std::env::temp_dir().join(format!("escapade-chains-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chains.csv");
        let mut st = ChainState::fresh();
        (st.t, st.stalled, st.t_stall, st.stall_label, st.label, st.f, st.t_limited) = (700, 1, 650, 5, 5, -3.5, 660);
        let records = vec![ChainRecord::new(0, &st, Final::PrecisionLimited, (-2.0, 1e-12, false)), ChainRecord::new(1, &ChainState::fresh(), Final::Moving, (f64::NAN, f64::NAN, false))];
        crate::report::columns::write_table(&path, records.clone().into_iter()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(CHAINS_HEADER));
        assert!(text.contains("precision_limited") && text.contains(",660,"), "{text}");
        let back = read_chains(&path).unwrap();
        // The fresh chain never had a value: its f and gnorm are NaN (written "NaN", read back
        // as NaN), which == cannot compare.
        assert_eq!(back[0], records[0]);
        assert!(text.contains(",NaN,NaN,") && back[1].f.is_nan() && back[1].gnorm.is_nan(), "{text}");
        assert_eq!(ChainRecord { f: 0.0, gnorm: 0.0, ..back[1] }, ChainRecord { f: 0.0, gnorm: 0.0, ..records[1] });
        assert_eq!(back[0].state().t_limited, 660);
        assert_eq!(back[1].lambda_min, None);
        std::fs::write(&path, text.replace("chain,status", "chain,state")).unwrap();
        assert!(read_chains(&path).unwrap_err().to_string().contains("header"));
        std::fs::remove_dir_all(&dir).ok();
    }
}

