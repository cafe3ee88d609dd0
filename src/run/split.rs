//! Several devices ([`Engine::Gpus`](super::Engine::Gpus)): the run's chain range split into
//! contiguous parts, one per GPU engine ([`Experiment::part`]), each run on a thread of its own
//! and joined in memory into the one run a single engine returns ([`RawRun::join`]); every
//! draw is addressed by the global chain, so states, final points, events, trace and statistics
//! are those of one device (on like adapters: floats are not promised equal across models).
//!
//! Checkpoints: each part keeps its own in DIR/part-K-of-D (one part keeps it in DIR, as a
//! single engine does), saved as the part's engine saves; a resume needs as many devices as
//! the run that wrote them. When a part fails, the parts that finished save their results as
//! their checkpoints, so that a resume reruns only the others.

use super::{Runner, fits_in_memory};
use crate::Error;
use crate::backend::gpu::GpuEngine;
use crate::backend::{EngineInfo, Progress, RawRun};
use crate::checkpoint::{self, Checkpoint, CheckpointSpec, Checkpointer};
use crate::experiment::Experiment;
use crate::report::Report;
use std::time::Instant;

/// One device's share of a run.
struct Part<'e> {
    engine: &'e GpuEngine,
    exp: Experiment,
    ck: Option<Checkpointer>,
    state: Option<Checkpoint>,
}

impl Runner<'_, '_> {
    /// Runs `exp` split over `engines` (see the module's documentation).
    pub(super) fn run_split(&mut self, exp: &Experiment, engines: &[GpuEngine]) -> Result<Report, Error> {
        let devices = engines.len();
        if devices == 0 {
            return Err(Error::invalid("devices", "at least one GPU engine", "none"));
        }
        if let Some((spec, true)) = &self.checkpoint {
            if let Some(saved) = CheckpointSpec::saved_parts(&spec.dir).filter(|&p| p != devices) {
                return Err(checkpoint::split_over(&spec.dir, saved, devices));
            }
        }
        let mut notes = self.notes.clone();
        let mut parts = Vec::new();
        for (k, engine) in engines.iter().enumerate() {
            let exp = exp.part(k as u32, devices as u32)?;
            if exp.chain_range().is_empty() {
                continue;
            }
            let engine_id = engine.context().engine_id();
            let (state, ck) = match &self.checkpoint {
                Some((spec, resume)) => {
                    let spec = spec.part(k, devices);
                    let state = if *resume { checkpoint::resume(&spec, &exp, &engine_id, &mut notes)? } else { None };
                    (state, Some(Checkpointer::new(spec, &exp, &engine_id)))
                }
                None => (None, None),
            };
            parts.push(Part { engine, exp, ck, state });
        }
        fits_in_memory(exp, self.engine.memory_place())?;
        let start = Instant::now();
        let raw = self.run_parts(exp, parts)?;
        let stop = self.checkpoint.as_ref().and_then(|(spec, _)| spec.stop.clone());
        let mut report = self.report(exp, raw, EngineInfo::gpus(engines), start.elapsed().as_secs_f64(), stop.as_deref(), None)?;
        report.check_notes.extend(notes);
        Ok(report)
    }

    /// Runs the parts concurrently, one thread each, showing the observer their progress as one
    /// run's; joins their runs, or returns the first failure (an interruption only when nothing
    /// else failed) once the finished parts have saved their results.
    fn run_parts(&mut self, exp: &Experiment, parts: Vec<Part>) -> Result<RawRun, Error> {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Progress)>();
        let observer = &mut self.observer;
        let ended = std::thread::scope(|scope| {
            let threads: Vec<_> = parts
                .into_iter()
                .enumerate()
                .map(|(i, mut part)| {
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let mut progress = |p: &Progress| {
                            let _ = tx.send((i, *p));
                        };
                        let state = part.state.take();
                        let run = part.engine.run_resumable(&part.exp, &mut progress, part.ck.as_mut(), state);
                        (part, run)
                    })
                })
                .collect();
            drop(tx);
            let mut latest = vec![None; threads.len()];
            for (i, p) in rx {
                latest[i] = Some(p);
                if let Some(observe) = observer.as_deref_mut() {
                    observe(&combined(exp, &latest));
                }
            }
            threads.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect::<Vec<_>>()
        });
        let mut finished = Vec::new();
        let mut errors = Vec::new();
        for (part, run) in ended {
            match run {
                Ok(raw) => finished.push((part, raw)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            return Ok(RawRun::join(exp, finished.into_iter().map(|(part, raw)| (part.exp.chain_range(), raw)).collect()));
        }
        for (mut part, raw) in finished {
            if let Some(ck) = part.ck.as_mut() {
                let done = Checkpoint { done: part.exp.chain_range().end, states: raw.states, x: raw.x, x_tilde: raw.x_tilde, events: raw.events, trace: raw.trace, current: None, monitor: raw.monitor };
                match ck.save(&done) {
                    Ok(()) | Err(Error::Interrupted(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let worst = errors.iter().position(|e| !matches!(e, Error::Interrupted(_))).unwrap_or(0);
        Err(match (errors.swap_remove(worst), &self.checkpoint) {
            // Name the run's checkpoint, not a part's: --resume continues all of them.
            (Error::Interrupted(_), Some((spec, _))) => Error::Interrupted(spec.dir.display().to_string()),
            (e, _) => e,
        })
    }
}

/// The devices' latest progress as one run's: counts summed, `t_end` the chain-weighted mean
/// over the shards in flight, so that [`Progress::work_done`] is the chain-steps done.
fn combined(exp: &Experiment, latest: &[Option<Progress>]) -> Progress {
    let sum = |f: fn(&Progress) -> u32| latest.iter().flatten().map(f).sum::<u32>();
    let shard_chains = sum(|p| p.shard_chains);
    let weighted: u64 = latest.iter().flatten().map(|p| u64::from(p.shard_chains) * u64::from(p.t_end)).sum();
    Progress {
        t_end: if shard_chains == 0 { exp.steps } else { (weighted / u64::from(shard_chains)) as u32 },
        steps: exp.steps,
        chains: exp.chain_range().len() as u32,
        chains_done: sum(|p| p.chains_done),
        shard_chains,
        running: sum(|p| p.running),
        certified: sum(|p| p.certified),
        diverged: sum(|p| p.diverged),
        events: latest.iter().flatten().map(|p| p.events).sum(),
        violations: latest.iter().flatten().map(|p| p.violations).sum(),
    }
}
