//! Checkpoints, so interrupted runs resume instead of starting over. A checkpoint holds the
//! finished chains (records, final points, events), the trace so far and, on the GPU path, the
//! shard in flight (its chains' states and points at a step boundary). Counter-based randomness
//! makes a resumed run's results identical to an uninterrupted one (tested). A run split over
//! several devices keeps one checkpoint per part, in DIR/part-K-of-D.

use crate::Error;
use crate::escape::{ChainState, EscapeEvent, NEVER};
use crate::experiment::Experiment;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shard in flight when the checkpoint was taken (GPU runs: its chains' states mid-way).
#[derive(Clone, Debug, PartialEq)]
pub struct InFlightShard {
    /// Global index of its first chain.
    pub offset: u32,
    /// Step every running chain of the shard has reached.
    pub t_end: u32,
    /// Its chains' records.
    pub states: Vec<ChainState>,
    /// Its chains' points, row-major (f64 holds every storage precision exactly).
    pub x: Vec<f64>,
    /// Its chains' x~ points (ball perturbation only; else empty).
    pub x_tilde: Vec<f64>,
}

/// Everything needed to continue a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Chains 0..done are finished.
    pub done: u32,
    /// Their records.
    pub states: Vec<ChainState>,
    /// Their final points, row-major.
    pub x: Vec<f64>,
    /// Their x~ points (ball perturbation only; else empty).
    pub x_tilde: Vec<f64>,
    /// Events of the finished chains and of the shard in flight so far.
    pub events: Vec<EscapeEvent>,
    /// The trace so far (full length).
    pub trace: Vec<f32>,
    /// The shard in flight.
    pub current: Option<InFlightShard>,
    /// What the monitor found so far (finished chains and the shard in flight).
    pub monitor: crate::kernel::Tally,
}

/// Where and how often checkpoints are written.
#[derive(Clone, Debug)]
pub struct CheckpointSpec {
    /// Directory of the checkpoint (replaced atomically at each save).
    pub dir: PathBuf,
    /// Minimum time between saves.
    pub every: Duration,
    /// Testing aid: fail with [`Error::Interrupted`] right after this many saves.
    pub interrupt_after: Option<u32>,
    /// Resume a checkpoint written by another engine (backend or adapter). Results are then
    /// mixed across engines, which floats do not promise to be the same on; the report says so.
    pub resume_anyway: bool,
    /// Raised (e.g. by a SIGINT handler) to stop the run: the next checkpoint opportunity saves
    /// at once and the run returns [`Error::Interrupted`].
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl CheckpointSpec {
    /// Checkpoints in `dir` at most every `every`.
    pub fn new(dir: impl Into<PathBuf>, every: Duration) -> Self {
        CheckpointSpec { dir: dir.into(), every, interrupt_after: None, resume_anyway: false, stop: None }
    }
}

impl CheckpointSpec {
    /// Where part `k` of `parts` of a run split over several devices keeps its checkpoint: a
    /// directory of its own inside this one (one part keeps it here).
    pub(crate) fn part(&self, k: usize, parts: usize) -> CheckpointSpec {
        let dir = if parts == 1 { self.dir.clone() } else { self.dir.join(format!("part-{k}-of-{parts}")) };
        CheckpointSpec { dir, ..self.clone() }
    }

    /// Into how many parts the run that left a checkpoint in `dir` was split: 1 for a run on one
    /// engine, D for one split over D devices ([`crate::Engine::Gpus`]); None when there is no
    /// checkpoint.
    pub fn saved_parts(dir: &Path) -> Option<usize> {
        if dir.join("meta.json").exists() || dir.with_extension("old").join("meta.json").exists() {
            return Some(1);
        }
        std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (k, parts) = name.split('.').next()?.strip_prefix("part-")?.split_once("-of-")?;
            let (k, parts) = (k.parse::<usize>().ok()?, parts.parse::<usize>().ok()?);
            (k < parts && Self::saved_parts(&entry.path()) == Some(1)).then_some(parts)
        })
    }
}

/// Writes checkpoints for one run.
pub struct Checkpointer {
    spec: CheckpointSpec,
    fingerprint: String,
    engine: String,
    last: Instant,
    saves: u32,
}


/// What identifies an experiment's results: everything that changes a chain's trajectory or its
/// verdict, as a JSON object whose keys [`differences`] can name. The objective's kernel source
/// (a custom WGSL file edited between an interrupt and `--resume` changes it) and its data enter
/// as SHA-256 digests.
pub fn fingerprint(exp: &Experiment) -> String {
    serde_json::json!({
        "version": crate::rng::STREAM_VERSION,
        "objective": exp.objective.name(),
        "dim": exp.objective.dim(),
        "params": exp.objective.params(),
        "objective_source": sha256(exp.objective.device().wgsl().as_bytes()),
        "data": sha256(bytemuck::cast_slice(&exp.objective.device().data())),
        "method": exp.method,
        "chains": exp.chains,
        "seed": exp.seed,
        "init": init_identity(&exp.init),
        "steps": exp.steps,
        "precision": exp.precision,
        "trace": exp.trace,
        "checks": exp.checks,
        "shard": exp.shard,
    })
    .to_string()
}

/// What identifies the starting points in a fingerprint: the spec, but per-chain points by the
/// SHA-256 of their values, so an edited file is caught and a moved one is not.
fn init_identity(init: &crate::Init) -> String {
    match init {
        crate::Init::Points(p) => format!("points:{}x{}:{}", p.rows, p.dim(), sha256(bytemuck::cast_slice(&p.values[..]))),
        other => other.spec(),
    }
}

/// The SHA-256 digest of `bytes`, in hex.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keys in which two fingerprints ([`fingerprint`]) differ, comma separated ("the whole
/// fingerprint" when either is not one).
pub fn differences(a: &str, b: &str) -> String {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (serde_json::from_str(a), serde_json::from_str::<serde_json::Value>(b)) else {
        return "the whole fingerprint".into();
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let differ: Vec<&str> = keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| k.as_str()).collect();
    differ.join(", ")
}

impl Checkpointer {
    /// A checkpointer for `exp` run on `engine` (e.g. "cpu", or the adapter's name).
    pub fn new(spec: CheckpointSpec, exp: &Experiment, engine: &str) -> Self {
        Checkpointer { spec, fingerprint: fingerprint(exp), engine: engine.into(), last: Instant::now(), saves: 0 }
    }

    /// Whether a save is due (its interval passed, or a stop was asked for).
    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.spec.every || self.stopping()
    }

    fn stopping(&self) -> bool {
        self.spec.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Saves `ck`: every part to a new directory with its CRC-32 and length in meta.json, each
    /// file and the directory synced, then swapped in by two renames (the previous checkpoint is
    /// kept as DIR.old until the new one is in place, so a crash at any moment leaves one whole
    /// checkpoint that `load` finds).
    pub fn save(&mut self, ck: &Checkpoint) -> Result<(), Error> {
        let dir = &self.spec.dir;
        let tmp = dir.with_extension("tmp");
        let old = dir.with_extension("old");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
        let mut parts = serde_json::Map::new();
        let mut part = |name: &str, bytes: &[u8]| -> Result<(), Error> {
            write_synced(&tmp.join(name), bytes)?;
            parts.insert(name.into(), serde_json::json!({ "bytes": bytes.len(), "crc32": crc32fast::hash(bytes) }));
            Ok(())
        };
        part("states.bin", bytemuck::cast_slice(&ck.states))?;
        part("x.bin", bytemuck::cast_slice(&ck.x))?;
        part("x_tilde.bin", bytemuck::cast_slice(&ck.x_tilde))?;
        part("events.bin", bytemuck::cast_slice(&ck.events))?;
        part("trace.bin", bytemuck::cast_slice(&ck.trace))?;
        part("monitor_bins.bin", bytemuck::cast_slice(&ck.monitor.bins))?;
        part("monitor_violations.bin", bytemuck::bytes_of(&ck.monitor.violations))?;
        if let Some(c) = &ck.current {
            part("current_states.bin", bytemuck::cast_slice(&c.states))?;
            part("current_x.bin", bytemuck::cast_slice(&c.x))?;
            part("current_x_tilde.bin", bytemuck::cast_slice(&c.x_tilde))?;
        }
        let meta = serde_json::json!({
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "engine": self.engine,
            "done": ck.done,
            "current": ck.current.as_ref().map(|c| serde_json::json!({ "offset": c.offset, "t_end": c.t_end, "chains": c.states.len() })),
            "parts": parts,
        });
        write_synced(&tmp.join("meta.json"), meta.to_string().as_bytes())?;
        sync_dir(&tmp)?;
        let _ = std::fs::remove_dir_all(&old);
        if dir.exists() {
            std::fs::rename(dir, &old).map_err(Error::io(dir))?;
        }
        std::fs::rename(&tmp, dir).map_err(Error::io(dir))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        let _ = std::fs::remove_dir_all(&old);
        self.last = Instant::now();
        self.saves += 1;
        if self.stopping() || self.spec.interrupt_after.is_some_and(|n| self.saves >= n) {
            return Err(Error::Interrupted(dir.display().to_string()));
        }
        Ok(())
    }

    /// Removes the checkpoint once the run's results are safely written.
    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.spec.dir);
        let _ = std::fs::remove_dir_all(self.spec.dir.with_extension("old"));
    }
}

/// Layout of the checkpoint files; 3 = f64 points, x~ points, ChainState with f_tilde and
/// t_limited, a CRC-32 and length per part, the engine that wrote it; 4 = t_limited is the
/// start of the chain's hold (before: a sticky precision flag, which a resume cannot convert).
/// 5 = the monitor's fields in ChainState and its tally (monitor_bins.bin, monitor_violations.bin).
const FORMAT: u32 = 5;

/// Writes `bytes` to `path` and syncs the file to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut f = std::fs::File::create(path).map_err(Error::io(path))?;
    std::io::Write::write_all(&mut f, bytes).map_err(Error::io(path))?;
    f.sync_all().map_err(Error::io(path))
}

/// Syncs a directory's entries to disk (where the platform allows opening directories).
fn sync_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::File::open(dir) {
        Ok(f) => f.sync_all().or_else(|e| if e.kind() == std::io::ErrorKind::InvalidInput { Ok(()) } else { Err(e) }).map_err(Error::io(dir)),
        Err(_) => Ok(()),
    }
}

/// A damaged or foreign checkpoint: one line naming the file and what is wrong (exit 2).
fn damaged(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::invalid(format!("checkpoint {}", path.display()), "an intact checkpoint of this experiment (delete it to start over)", what)
}

/// Reads part `name` of the checkpoint in `dir`, checking its length and CRC-32 against `meta`.
fn read<T: bytemuck::Pod>(dir: &Path, meta: &serde_json::Value, name: &str) -> Result<Vec<T>, Error> {
    let p = dir.join(name);
    let bytes = crate::error::read_regular(&p).map_err(|e| damaged(&p, e))?;
    let part = &meta["parts"][name];
    if part["bytes"].as_u64() != Some(bytes.len() as u64) {
        return Err(damaged(&p, format!("{} bytes where meta.json says {}", bytes.len(), part["bytes"])));
    }
    if part["crc32"].as_u64() != Some(u64::from(crc32fast::hash(&bytes))) {
        return Err(damaged(&p, "contents that do not match their checksum"));
    }
    if bytes.len() % std::mem::size_of::<T>() != 0 {
        return Err(damaged(&p, "a length that is not a whole number of records"));
    }
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

/// The monitor's tally of a checkpoint (bins and violations, each checked as every part is).
fn monitor_tally(dir: &Path, meta: &serde_json::Value) -> Result<crate::kernel::Tally, Error> {
    let bins: Vec<f32> = read(dir, meta, "monitor_bins.bin")?;
    let violations: Vec<u64> = read(dir, meta, "monitor_violations.bin")?;
    let mut tally = crate::kernel::Tally { violations: violations.first().copied().unwrap_or(0), ..Default::default() };
    if bins.len() != tally.bins.len() || violations.len() != 1 {
        return Err(damaged(&dir.join("monitor_bins.bin"), "a monitor record of the wrong length"));
    }
    tally.bins.copy_from_slice(&bins);
    Ok(tally)
}

/// Loads the checkpoint of `spec` for `exp` run on `engine` (see [`load`]); when it was written
/// by another engine (allowed by `resume_anyway`), adds a note saying so to `notes`.
pub fn resume(spec: &CheckpointSpec, exp: &Experiment, engine: &str, notes: &mut Vec<String>) -> Result<Option<Checkpoint>, Error> {
    let by = written_by(spec);
    let state = load(spec, exp, engine)?;
    if let Some(by) = by.filter(|by| state.is_some() && by != engine) {
        notes.push(format!("resumed with --resume-anyway: chains before the checkpoint ran on {by}, the rest on {engine}"));
    }
    Ok(state)
}

/// Loads the checkpoint in `dir` for `exp` run on `engine`: None when there is none (DIR.old
/// stands in when a save was cut between its two renames). Every part is checked against its
/// checksum and the whole against the experiment (chain counts, lengths, shard offsets, event
/// chain ids); any mismatch, another experiment's checkpoint, (without `resume_anyway`)
/// another engine's, or one split over several devices, is an error naming the file.
pub fn load(spec: &CheckpointSpec, exp: &Experiment, engine: &str) -> Result<Option<Checkpoint>, Error> {
    let dir = live_dir(spec);
    let meta_path = dir.join("meta.json");
    if !meta_path.exists() {
        return match CheckpointSpec::saved_parts(&spec.dir) {
            Some(parts) if parts > 1 => Err(split_over(&spec.dir, parts, 1)),
            _ => Ok(None),
        };
    }
    let text = crate::error::read_regular_text(&meta_path).map_err(|e| damaged(&meta_path, e))?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| damaged(&meta_path, e))?;
    if meta["format"].as_u64() != Some(u64::from(FORMAT)) {
        return Err(damaged(&meta_path, format!("format {} (this escapade writes {FORMAT})", meta["format"])));
    }
    let (saved, ours) = (meta["fingerprint"].as_str().unwrap_or(""), fingerprint(exp));
    if saved != ours {
        return Err(Error::invalid(
            "resume",
            "a checkpoint of the same experiment (objective and its source and data, method, chains, seed, init, steps, precision, checks)",
            format!("{}, whose {} differ", dir.display(), differences(saved, &ours)),
        ));
    }
    let written_by = meta["engine"].as_str().unwrap_or("");
    if written_by != engine && !spec.resume_anyway {
        return Err(Error::invalid(
            "resume",
            format!("the engine that wrote the checkpoint ({written_by}), or --resume-anyway to mix engines"),
            engine,
        ));
    }
    let d = exp.objective.dim();
    let range = exp.chain_range();
    let done = meta["done"]
        .as_u64()
        .filter(|&n| (u64::from(range.start)..=u64::from(range.end)).contains(&n))
        .ok_or_else(|| damaged(&meta_path, format!("done = {} for chains {}..{}", meta["done"], range.start, range.end)))? as u32;
    let current = match meta["current"].as_object() {
        Some(c) => {
            let offset = c["offset"].as_u64().unwrap_or(u64::MAX);
            let t_end = c["t_end"].as_u64().filter(|&t| t <= u64::from(exp.steps)).ok_or_else(|| damaged(&meta_path, "a shard step beyond the budget"))?;
            if offset != u64::from(done) {
                return Err(damaged(&meta_path, format!("a shard in flight at chain {offset} after {done} finished chains")));
            }
            Some(InFlightShard {
                offset: done,
                t_end: t_end as u32,
                states: read(&dir, &meta, "current_states.bin")?,
                x: read(&dir, &meta, "current_x.bin")?,
                x_tilde: read(&dir, &meta, "current_x_tilde.bin")?,
            })
        }
        None => None,
    };
    let ck = Checkpoint {
        done,
        states: read(&dir, &meta, "states.bin")?,
        x: read(&dir, &meta, "x.bin")?,
        x_tilde: read(&dir, &meta, "x_tilde.bin")?,
        events: read(&dir, &meta, "events.bin")?,
        trace: read(&dir, &meta, "trace.bin")?,
        current,
        monitor: monitor_tally(&dir, &meta)?,
    };
    consistent(&ck, exp, d).map_err(|what| damaged(&dir, what))?;
    Ok(Some(ck))
}

/// Resuming the checkpoint in `dir`, written by a run split over `parts` devices, on `devices`.
pub(crate) fn split_over(dir: &Path, parts: usize, devices: usize) -> Error {
    Error::invalid("devices", format!("{parts} devices, as many as the run that wrote the checkpoint in {} split over", dir.display()), format!("{devices} device(s)"))
}

/// The directory holding the checkpoint of `spec`: DIR, or DIR.old when a save was cut between
/// its two renames.
fn live_dir(spec: &CheckpointSpec) -> PathBuf {
    if spec.dir.join("meta.json").exists() { spec.dir.clone() } else { spec.dir.with_extension("old") }
}

/// The engine that wrote the checkpoint of `spec`, if there is one.
pub fn written_by(spec: &CheckpointSpec) -> Option<String> {
    let dir = live_dir(spec);
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).ok()?).ok()?;
    meta["engine"].as_str().map(String::from)
}

/// The checkpoint's parts agree with each other and with the experiment.
fn consistent(ck: &Checkpoint, exp: &Experiment, d: usize) -> Result<(), String> {
    let range = exp.chain_range();
    // `done` is the global index of the next chain to run; the records are from range.start on.
    let n = (ck.done - range.start) as usize;
    let tilde_ok = |len: usize, chains: usize| if exp.keeps_tilde() { len == chains * d } else { len == 0 };
    if ck.states.len() != n || ck.x.len() != n * d || !tilde_ok(ck.x_tilde.len(), n) {
        return Err(format!("{} chain records, {} coordinates for {n} finished chains of dimension {d}", ck.states.len(), ck.x.len()));
    }
    let mut limit = ck.done as usize;
    if let Some(c) = &ck.current {
        let m = c.states.len();
        if m == 0 || ck.done as usize + m > range.end as usize || c.x.len() != m * d || !tilde_ok(c.x_tilde.len(), m) {
            return Err(format!("a shard in flight of {m} chains with {} coordinates", c.x.len()));
        }
        limit += m;
        // Chains in flight all stepped to t_end, except those that ended earlier.
        if let Some(s) = c.states.iter().find(|s| s.t > c.t_end || (s.running() && s.t != c.t_end && s.t < exp.steps)) {
            return Err(format!("a chain in flight at step {} where the chains in flight reached step {}", s.t, c.t_end));
        }
    }
    if let Some(e) = ck.events.iter().find(|e| (e.chain as usize) < range.start as usize || e.chain as usize >= limit) {
        return Err(format!("an escape event of chain {}, outside the chains {}..{limit} saved", e.chain, range.start));
    }
    let trace = exp.trace.map_or(0, |t| t.len(exp.steps, d));
    if ck.trace.len() != trace {
        return Err(format!("a trace of {} values where the experiment has {trace}", ck.trace.len()));
    }
    if ck.states.iter().chain(ck.current.iter().flat_map(|c| &c.states)).any(|s| s.t > exp.steps) {
        return Err("a chain beyond the step budget".into());
    }
    semantic(ck, exp)
}

/// The records mean something (a CRC guards against damage, not against an edit that fixed
/// it): known status codes, steps and escape times within the budget, no NEVER where a value
/// must be, and each chain's escape count equal to its events.
fn semantic(ck: &Checkpoint, exp: &Experiment) -> Result<(), String> {
    let first = exp.chain_range().start;
    let states: Vec<&ChainState> = ck.states.iter().chain(ck.current.iter().flat_map(|c| &c.states)).collect();
    for (i, s) in states.iter().enumerate() {
        let chain = first as usize + i;
        let bad = if s.status > crate::escape::status::DIVERGED_DOMAIN {
            Some(format!("status code {}", s.status))
        } else if s.stalled > 1 || (s.stalled == 1 && (s.t_stall > s.t || s.stall_label == NEVER)) {
            Some(format!("a stall record (stalled {}, t_stall {}, label {})", s.stalled, s.t_stall, s.stall_label))
        } else if s.t_limited != NEVER && s.t_limited > s.t {
            Some(format!("a hold from step {} after its step {}", s.t_limited, s.t))
        } else if s.label == NEVER && s.t > 0 {
            Some("no label after a step".to_string())
        } else {
            None
        };
        if let Some(what) = bad {
            return Err(format!("chain {chain}: {what}"));
        }
    }
    let mut counts = vec![0u32; states.len()];
    for e in &ck.events {
        if u64::from(e.t_stall) + u64::from(e.escape_steps) > u64::from(exp.steps) || e.label == NEVER {
            return Err(format!("an escape event of chain {} beyond the budget or without a label", e.chain));
        }
        if let Some(c) = counts.get_mut((e.chain - first) as usize) {
            *c += 1;
        }
    }
    if let Some(i) = (0..states.len()).find(|&i| counts[i] != states[i].escapes) {
        return Err(format!("chain {}: {} escapes counted, {} escape events", first as usize + i, states[i].escapes, counts[i]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::init::{Init, Points};

    /// Per-chain starts enter a run's fingerprint (resume, merge) by their values: a moved file
    /// resumes, an edited one does not.
    #[test]
    fn the_fingerprint_holds_the_starts_values() {
        let obj = crate::ObjectiveSpec::from_name("quartic", 3).unwrap().build().unwrap();
        let fp = |v: Vec<f64>, source: &str| {
            let init = Init::Points(Points::new(source.into(), 2, v).unwrap());
            super::fingerprint(&crate::Experiment::builder(obj.clone()).chains(2).init(init).build().unwrap())
        };
        let v: Vec<f64> = (0..6).map(|k| k as f64 * 0.1).collect();
        assert_eq!(fp(v.clone(), "a.npy"), fp(v.clone(), "moved/a.npy"));
        let mut w = v.clone();
        w[4] += 1e-9;
        assert_ne!(fp(v, "a.npy"), fp(w, "a.npy"));
    }
}
