//! The CPU backend: the same per-step semantics as the kernel (src/kernel.rs) in plain Rust f32,
//! parallel across chains with rayon. The reference for tests and the fallback without a GPU.

use super::{Progress, RawRun};
use crate::experiment::Experiment;
use crate::checkpoint::{Checkpoint, Checkpointer};
use crate::kernel::{Step, Stepper};
use rayon::prelude::*;

/// Chains per batch between two progress reports.
const BATCH: u32 = 8192;

/// Runs an experiment on the CPU, continuing from `resume` (finished batches) when given and
/// writing checkpoints through `ck` after batches of chains.
pub fn run_resumable(
    exp: &Experiment,
    progress: &mut dyn FnMut(&Progress),
    mut ck: Option<&mut Checkpointer>,
    resume: Option<Checkpoint>,
) -> Result<RawRun, crate::Error> {
    let d = exp.objective.dim();
    let p = exp.kernel_params(exp.chains, 0, exp.steps, u32::MAX);
    let trace_every = exp.trace.map_or(0, |t| t.every);
    let trace_chains = exp.trace.map_or(0, |t| t.chains);
    let mut out = RawRun::new(exp, exp.steps);
    out.x.reserve(exp.chains as usize * d);
    out.trace = vec![0.0; exp.trace.map_or(0, |t| t.len(exp.steps, d))];
    let mut start = 0;
    if let Some(r) = resume {
        start = r.done;
        (out.states, out.x, out.events) = (r.states, r.x, r.events);
        if r.trace.len() == out.trace.len() {
            out.trace = r.trace;
        }
    }
    while start < exp.chains {
        let end = (start + BATCH).min(exp.chains);
        let chains: Vec<_> = (start..end)
            .into_par_iter()
            .map(|chain| {
                let mut x = vec![0.0f32; d];
                let mut g = vec![0.0f32; d];
                let mut trace = Vec::new();
                let mut events = Vec::new();
                exp.init.sample(exp.seed, chain, &mut x);
                let mut stepper = Stepper::new(exp.objective.as_ref(), &exp.method, p, exp.precision);
                stepper.store(&mut x);
                let mut st = stepper.init(&x, &mut g);
                let mut emit = |e| {
                    events.push(e);
                    true
                };
                while st.running() && st.t < exp.steps {
                    if chain < trace_chains && st.t % trace_every == 0 {
                        trace.push((st.t / trace_every, x.clone()));
                    }
                    if stepper.step(chain, &mut x, &mut g, &mut st, &mut emit) != Step::Continue {
                        break;
                    }
                }
                (st, x, events, trace)
            })
            .collect();
        for (chain, (st, x, events, trace)) in (start..).zip(chains) {
            out.states.push(st);
            out.x.extend_from_slice(&x);
            out.events.extend(events);
            for (slot, point) in trace {
                let base = (slot as usize * trace_chains as usize + chain as usize) * d;
                if let Some(dst) = out.trace.get_mut(base..base + d) {
                    dst.copy_from_slice(&point);
                }
            }
        }
        let running = out.states.iter().filter(|s| s.running()).count() as u32;
        progress(&Progress {
            t_end: exp.steps,
            steps: exp.steps,
            chains: exp.chains,
            chains_done: end,
            shard_chains: 0,
            running,
            certified: out.states.iter().filter(|s| s.status == crate::escape::status::CERTIFIED).count() as u32,
            diverged: out.states.iter().filter(|s| s.diverged()).count() as u32,
            events: out.events.len(),
        });
        start = end;
        if let Some(ck) = ck.as_deref_mut().filter(|ck| ck.due() && end < exp.chains) {
            ck.save(&Checkpoint {
                done: end,
                states: out.states.clone(),
                x: out.x.clone(),
                events: out.events.clone(),
                trace: out.trace.clone(),
                current: None,
            })?;
        }
    }
    out.finish();
    Ok(out)
}
