//! Checkpoints, so interrupted runs resume instead of starting over. A checkpoint holds the
//! finished chains (records, final points, events), the trace so far and, on the GPU path, the
//! shard in flight (its chains' states and points at a step boundary). Counter-based randomness
//! makes a resumed run's results identical to an uninterrupted one (tested).

use crate::Error;
use crate::escape::{ChainState, EscapeEvent};
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
}

/// Writes checkpoints for one run.
pub struct Checkpointer {
    spec: CheckpointSpec,
    fingerprint: String,
    last: Instant,
    saves: u32,
}


/// What identifies an experiment's results: everything that changes a chain's trajectory.
pub fn fingerprint(exp: &Experiment) -> String {
    serde_json::json!({
        "version": crate::rng::STREAM_VERSION,
        // Layout of the files: 2 = f64 points, x~ points, ChainState with f_tilde/t_limited.
        "format": 2,
        "objective": exp.objective.name(),
        "dim": exp.objective.dim(),
        "params": exp.objective.params(),
        "data": exp.objective.data().iter().fold(0u64, |h, v| h.rotate_left(5) ^ u64::from(v.to_bits())),
        "method": exp.method,
        "chains": exp.chains,
        "seed": exp.seed,
        "init": exp.init.spec(),
        "steps": exp.steps,
        "precision": exp.precision,
        "trace": exp.trace,
    })
    .to_string()
}

impl Checkpointer {
    /// A checkpointer for `exp`.
    pub fn new(spec: CheckpointSpec, exp: &Experiment) -> Self {
        Checkpointer { spec, fingerprint: fingerprint(exp), last: Instant::now(), saves: 0 }
    }

    /// Whether a save is due.
    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.spec.every
    }

    /// Saves `ck` (to a temporary directory, then renamed over the previous checkpoint).
    pub fn save(&mut self, ck: &Checkpoint) -> Result<(), Error> {
        let dir = &self.spec.dir;
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
        let write = |name: &str, bytes: &[u8]| std::fs::write(tmp.join(name), bytes).map_err(Error::io(&tmp));
        let meta = serde_json::json!({
            "fingerprint": self.fingerprint,
            "done": ck.done,
            "current": ck.current.as_ref().map(|c| serde_json::json!({ "offset": c.offset, "t_end": c.t_end, "chains": c.states.len() })),
        });
        write("meta.json", meta.to_string().as_bytes())?;
        write("states.bin", bytemuck::cast_slice(&ck.states))?;
        write("x.bin", bytemuck::cast_slice(&ck.x))?;
        write("x_tilde.bin", bytemuck::cast_slice(&ck.x_tilde))?;
        write("events.bin", bytemuck::cast_slice(&ck.events))?;
        write("trace.bin", bytemuck::cast_slice(&ck.trace))?;
        if let Some(c) = &ck.current {
            write("current_states.bin", bytemuck::cast_slice(&c.states))?;
            write("current_x.bin", bytemuck::cast_slice(&c.x))?;
            write("current_x_tilde.bin", bytemuck::cast_slice(&c.x_tilde))?;
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&tmp, dir).map_err(Error::io(dir))?;
        self.last = Instant::now();
        self.saves += 1;
        if self.spec.interrupt_after.is_some_and(|n| self.saves >= n) {
            return Err(Error::Interrupted(dir.display().to_string()));
        }
        Ok(())
    }

    /// Removes the checkpoint once the run's results are safely written.
    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.spec.dir);
    }
}

fn read<T: bytemuck::Pod>(dir: &Path, name: &str) -> Result<Vec<T>, Error> {
    let p = dir.join(name);
    let bytes = std::fs::read(&p).map_err(Error::io(&p))?;
    if bytes.len() % std::mem::size_of::<T>() != 0 {
        return Err(Error::invalid(p.display().to_string(), "an escapade checkpoint file", "a truncated file"));
    }
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

/// Loads the checkpoint in `dir` for `exp`: None when there is none; an error when it belongs to
/// another experiment.
pub fn load(dir: &Path, exp: &Experiment) -> Result<Option<Checkpoint>, Error> {
    let meta_path = dir.join("meta.json");
    if !meta_path.exists() {
        return Ok(None);
    }
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&meta_path).map_err(Error::io(&meta_path))?)
        .map_err(|e| Error::invalid(meta_path.display().to_string(), "an escapade checkpoint", e))?;
    if meta["fingerprint"].as_str() != Some(fingerprint(exp).as_str()) {
        return Err(Error::invalid(
            "resume",
            "a checkpoint of the same experiment (objective, method, chains, seed, init, steps)",
            dir.display(),
        ));
    }
    let current = match meta["current"].as_object() {
        Some(c) => Some(InFlightShard {
            offset: c["offset"].as_u64().unwrap_or(0) as u32,
            t_end: c["t_end"].as_u64().unwrap_or(0) as u32,
            states: read(dir, "current_states.bin")?,
            x: read(dir, "current_x.bin")?,
            x_tilde: read(dir, "current_x_tilde.bin")?,
        }),
        None => None,
    };
    Ok(Some(Checkpoint {
        done: meta["done"].as_u64().unwrap_or(0) as u32,
        states: read(dir, "states.bin")?,
        x: read(dir, "x.bin")?,
        x_tilde: read(dir, "x_tilde.bin")?,
        events: read(dir, "events.bin")?,
        trace: read(dir, "trace.bin")?,
        current,
    }))
}
