//! The CPU backend: the same per-step semantics as the kernel (src/kernel.rs) in plain Rust f32
//! (or f64 for f64 state), parallel across chains with rayon. The reference for tests and the
//! fallback without a GPU.

use super::{Progress, RawRun};
use crate::experiment::Experiment;
use crate::checkpoint::{Checkpoint, Checkpointer};
use crate::experiment::Precision;
use crate::kernel::{Real, Step, Stepper};
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
    let p = crate::kernel::KernelParams::new(exp, exp.chains, 0, exp.steps, u32::MAX);
    let trace_chains = exp.trace.map_or(0, |t| t.chains);
    let mut out = RawRun::new(exp, exp.steps);
    // The chains of this run by global index (a shard's, or all); draws are addressed by them.
    let range = exp.chain_range();
    out.x.reserve(range.len() * d);
    out.trace = vec![0.0; exp.trace.map_or(0, |t| t.len(exp.steps, d))];
    let mut start = range.start;
    if let Some(r) = resume {
        start = r.done;
        (out.states, out.x, out.x_tilde, out.events) = (r.states, r.x, r.x_tilde, r.events);
        // Chains from `start` on run again from their beginning: events a GPU shard in flight
        // had saved for them would be counted twice.
        out.events.retain(|e| e.chain < start);
        if r.trace.len() == out.trace.len() {
            out.trace = r.trace;
        }
    }
    while start < range.end {
        let end = (start + BATCH).min(range.end);
        let chains: Vec<Chain> = match exp.precision {
            Precision::F64 => (start..end).into_par_iter().map(|c| run_chain::<f64>(exp, &p, c)).collect(),
            _ => (start..end).into_par_iter().map(|c| run_chain::<f32>(exp, &p, c)).collect(),
        };
        for (chain, Chain { st, x, x_tilde, events, trace }) in (start..).zip(chains) {
            out.states.push(st);
            out.x.extend_from_slice(&x);
            if exp.keeps_tilde() {
                out.x_tilde.extend_from_slice(&x_tilde);
            }
            out.events.extend(events);
            for (slot, point) in trace {
                let base = (slot as usize * trace_chains as usize + chain as usize) * d;
                if let Some(dst) = out.trace.get_mut(base..base + d) {
                    dst.iter_mut().zip(&point).for_each(|(t, &v)| *t = v as f32);
                }
            }
        }
        let running = out.states.iter().filter(|s| s.running()).count() as u32;
        progress(&Progress {
            t_end: exp.steps,
            steps: exp.steps,
            chains: range.len() as u32,
            chains_done: end - range.start,
            shard_chains: 0,
            running,
            certified: out.states.iter().filter(|s| s.status == crate::escape::status::CERTIFIED).count() as u32,
            diverged: out.states.iter().filter(|s| s.diverged()).count() as u32,
            events: out.events.len(),
        });
        start = end;
        if let Some(ck) = ck.as_deref_mut().filter(|ck| ck.due() && end < range.end) {
            ck.save(&Checkpoint {
                done: end,
                states: out.states.clone(),
                x: out.x.clone(),
                x_tilde: out.x_tilde.clone(),
                events: out.events.clone(),
                trace: out.trace.clone(),
                current: None,
            })?;
        }
    }
    out.finish();
    Ok(out)
}

/// One chain's results, positions widened to f64.
struct Chain {
    st: crate::escape::ChainState,
    x: Vec<f64>,
    x_tilde: Vec<f64>,
    events: Vec<crate::escape::EscapeEvent>,
    trace: Vec<(u32, Vec<f64>)>,
}

/// Runs global chain `chain` to its end in arithmetic `T`.
fn run_chain<T: Real>(exp: &Experiment, p: &crate::kernel::KernelParams, chain: u32) -> Chain {
    let d = exp.objective.dim();
    let (trace_every, trace_chains) = exp.trace.map_or((0, 0), |t| (t.every, t.chains));
    let mut x0 = vec![0.0f32; d];
    exp.init.sample(exp.seed, chain, &mut x0);
    let mut x: Vec<T> = x0.into_iter().map(T::of).collect();
    let mut g = vec![T::zero(); d];
    let mut trace = Vec::new();
    let mut events = Vec::new();
    let mut stepper = Stepper::<T>::new(exp.objective.as_ref(), exp.method.selectors(), *p, exp.precision);
    stepper.store(&mut x);
    let mut st = stepper.init(&x, &mut g);
    let mut emit = |e| {
        events.push(e);
        true
    };
    let wide = |v: &[T]| v.iter().map(|a| a.to_f64().unwrap_or(f64::NAN)).collect::<Vec<f64>>();
    while st.running() && st.t < exp.steps {
        if chain < trace_chains && st.t.is_multiple_of(trace_every) {
            trace.push((st.t / trace_every, wide(&x)));
        }
        if stepper.step(chain, &mut x, &mut g, &mut st, &mut emit) != Step::Continue {
            break;
        }
    }
    Chain { st, x: wide(&x), x_tilde: wide(stepper.tilde()), events, trace }
}
