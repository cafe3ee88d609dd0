//! The CPU backend: the same per-step semantics as the kernel (src/kernel.rs) in plain Rust f32
//! (or f64 for f64 state), parallel across chains with rayon. The reference for tests and the
//! fallback without a GPU.
//!
//! Like the GPU driver it steps a block of chains in slices of steps: between two slices it
//! reports progress, answers a stop request and writes checkpoints holding the block in flight,
//! so a long run loses at most one slice (about [`SLICE_TARGET`]) of work.
//!
//! Within a slice, rayon steps packs of [`LANES`] consecutive chains in lockstep: a pack's points
//! stay lane-interleaved (structure of arrays) for the whole slice, every step evaluates all its
//! lanes at once and steps the lanes whose step is common together, vectorised across chains
//! (`kernel::lanes`, which says why and how that stays bit for bit the one-chain step); a lane
//! whose step needs a rare branch (an escape record, a certification check, a rebase, a trace
//! point, a divergence) takes the scalar [`Stepper::step`] for that step; stall starts and ball
//! kicks stay in lockstep (`Stepper::kick_lanes`) in a step where several lanes need one.
//! Minibatch oracles step chain by chain, and so does, for the rest of its slice, a pack whose
//! lanes take the scalar step more than one step in four (kicks every other step). The scalar
//! path stays as the reference the tests (`tests.rs`) hold the lockstep path to.
//!
//! An objective evaluated in batches ([`crate::objective::Batch`], an embedder's oracle) takes
//! the batched path instead (`batched.rs`): per step, one call for the block's stepping chains
//! and one for the new points of the step's kicks, when there are.

use super::pace::Pacer;
use super::{Progress, RawRun, steps_taken};
use crate::checkpoint::{Checkpoint, Checkpointer, InFlightShard};
use crate::escape::{ChainState, EscapeEvent, status};
use crate::experiment::{Experiment, Precision};
use crate::kernel::lanes::{PackScratch, Rows, States, sum_sq_lanes};
use crate::kernel::{Begun, KernelParams, Real, Step, Stepper, Tally};
use crate::objective::{Eval, LANES};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Position values held per block (chains x d), bounding the block's memory.
const BLOCK_VALUES: usize = 1 << 21;

/// Steps in the first slice of a block.
const FIRST_SLICE: u32 = 16;

/// The wall time one slice of steps aims at: short enough for a responsive progress line and a
/// prompt checkpoint on Ctrl-C, long enough that the pause between slices is negligible.
pub const SLICE_TARGET: Duration = Duration::from_millis(200);

/// The engine id of the CPU backend in checkpoints: "cpu" and the vector unit the data
/// objectives' matrix products use (their bits depend on it: docs/theory.md, section 6), so a
/// checkpoint resumed on another kind of CPU is refused without --resume-anyway, and noted with it.
pub fn engine_id() -> String {
    format!("cpu ({})", vector_unit())
}

/// The widest vector unit matrixmultiply's kernels pick on this CPU.
fn vector_unit() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "x86_64 avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2") {
            return "x86_64 avx2+fma";
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return "x86_64 avx";
        }
        "x86_64 sse2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "aarch64 neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        std::env::consts::ARCH
    }
}

/// Runs an experiment on the CPU, continuing from `resume` when given and writing checkpoints
/// through `ck` between slices of steps.
pub fn run_resumable(
    exp: &Experiment,
    progress: &mut dyn FnMut(&Progress),
    ck: Option<&mut Checkpointer>,
    resume: Option<Checkpoint>,
) -> Result<RawRun, crate::Error> {
    match exp.precision {
        Precision::F64 => run_in::<f64>(exp, progress, ck, resume, Some(KICK_LANES), None),
        _ => run_in::<f32>(exp, progress, ck, resume, Some(KICK_LANES), None),
    }
}

/// Chains per block for dimension `d`.
fn block_len(d: usize) -> u32 {
    (BLOCK_VALUES / d.max(1)).clamp(256, 65536) as u32
}

fn run_in<T: Real>(
    exp: &Experiment,
    progress: &mut dyn FnMut(&Progress),
    mut ck: Option<&mut Checkpointer>,
    resume: Option<Checkpoint>,
    lockstep: Option<usize>,
    block: Option<u32>,
) -> Result<RawRun, crate::Error> {
    let d = exp.objective.dim();
    let p = KernelParams::new(exp, exp.chains, 0, exp.steps, u32::MAX);
    // Tests cut smaller blocks: results must not depend on the cut.
    let block = block.unwrap_or_else(|| block_len(d));
    let mut out = RawRun::new(exp, 0);
    // The chains of this run by global index (a shard's, or all); draws are addressed by them.
    let range = exp.chain_range();
    out.x.reserve(range.len() * d);
    out.trace = vec![0.0; exp.trace.map_or(0, |t| t.len(exp.steps, d))];
    let mut start = range.start;
    let mut current = None;
    if let Some(r) = resume {
        start = r.done;
        (out.states, out.x, out.x_tilde, out.events, out.monitor) = (r.states, r.x, r.x_tilde, r.events, r.monitor);
        if r.trace.len() == out.trace.len() {
            out.trace = r.trace;
        }
        current = r.current;
        out.resumed_chain_steps = steps_taken(&out.states);
    }
    // Steps per slice, adapted to the measured time of the previous slice.
    let mut pace = Pacer::new(FIRST_SLICE, u32::MAX, Some(SLICE_TARGET));
    while start < range.end {
        let n = block.min(range.end - start);
        // Each block starts with a short slice: a prompt first progress report and checkpoint,
        // whatever its size; the doubling gets back to the measured length within a few slices.
        pace = Pacer::new(pace.steps().min(FIRST_SLICE), u32::MAX, Some(SLICE_TARGET));
        // The block in flight at the checkpoint, when this run cuts blocks the same way.
        let mut t_end = 0;
        let mut live: Vec<Live<T>> = match current.take().filter(|c| c.offset == start && c.states.len() == n as usize) {
            Some(c) => {
                t_end = c.t_end;
                out.resumed_chain_steps += steps_taken(&c.states);
                (0..n as usize).into_par_iter().map(|i| Live::resumed(exp, &p, start + i as u32, &c, i)).collect()
            }
            None => {
                // This block runs from its beginning: drop what a block in flight (cut another
                // way, or on another engine) had saved for its chains.
                out.events.retain(|e| e.chain < start);
                (start..start + n).into_par_iter().map(|c| Live::fresh(exp, &p, c)).collect()
            }
        };
        // A batched objective's one-point evaluations at the starts (the self-bounding rule's
        // f(x0)) may have failed.
        if let Some(e) = exp.objective.batch().and_then(|b| b.take_error()) {
            return Err(e);
        }
        // After a stop at a violation, the later blocks' chains stay at their starts.
        while out.stopped.is_none() {
            let target = exp.steps.min(t_end.saturating_add(pace.steps()));
            let began = Instant::now();
            match exp.objective.batch() {
                Some(batch) => batched::advance(&mut live, exp, batch, target)?,
                None => live.par_chunks_mut(LANES).for_each(|pack| advance(pack, exp, target, lockstep)),
            }
            pace.observed(target - t_end, began.elapsed());
            t_end = target;
            for l in &mut live {
                out.events.append(&mut l.events);
                l.drain_trace(exp, &mut out.trace);
                out.monitor.merge(&std::mem::take(&mut l.stepper.tally));
            }
            let states = || out.states.iter().chain(live.iter().map(|l| &l.st));
            progress(&Progress {
                t_end,
                steps: exp.steps,
                chains: range.len() as u32,
                chains_done: start - range.start,
                shard_chains: n,
                running: states().filter(|s| s.running()).count() as u32,
                certified: states().filter(|s| s.status == status::CERTIFIED).count() as u32,
                diverged: states().filter(|s| s.diverged()).count() as u32,
                events: out.events.len(),
                violations: states().map(crate::monitor::violations).sum(),
            });
            if exp.stop_on_violation && states().any(|s| crate::monitor::violations(s) > 0) {
                out.stopped = Some(crate::monitor::stop_note(t_end, start, start + n, range.end));
            }
            if out.stopped.is_some() || t_end >= exp.steps || !live.iter().any(|l| l.st.running()) {
                break;
            }
            if let Some(ck) = ck.as_deref_mut().filter(|ck| ck.due()) {
                let (states, x, x_tilde) = rows(exp, &live);
                ck.save(&out.checkpoint(start, Some(InFlightShard { offset: start, t_end, states, x, x_tilde })))?;
            }
        }
        let (states, x, x_tilde) = rows(exp, &live);
        out.states.extend(states);
        out.x.extend(x);
        out.x_tilde.extend(x_tilde);
        start += n;
        if let Some(ck) = ck.as_deref_mut().filter(|ck| ck.due() && start < range.end) {
            ck.save(&out.checkpoint(start, None))?;
        }
    }
    out.finish();
    Ok(out)
}

/// The block's records, points and (ball perturbation) x~ points, widened to f64 rows.
fn rows<T: Real>(exp: &Experiment, live: &[Live<T>]) -> (Vec<ChainState>, Vec<f64>, Vec<f64>) {
    let wide = |v: &[T]| v.iter().map(|a| a.to_f64().unwrap_or(f64::NAN)).collect::<Vec<f64>>();
    let states = live.iter().map(|l| l.st).collect();
    let x = live.iter().flat_map(|l| wide(&l.x)).collect();
    let x_tilde = if exp.keeps_tilde() { live.iter().flat_map(|l| wide(l.stepper.tilde())).collect() } else { Vec::new() };
    (states, x, x_tilde)
}

/// Steps a pack of up to [`LANES`] chains until step `target`, their ends, or divergence.
///
/// The lockstep path (`lockstep` = Some(kick lanes, see [`advance_lockstep`]), and a
/// configuration that has one, see
/// [`Stepper::lockstep`]) holds the pack's points lane-interleaved for the whole slice: each step
/// evaluates every lane at once ([`crate::Objective::eval_lanes_f32`]), steps the lanes whose step
/// is common together ([`Stepper::step_lanes`]) and the others one by one with the scalar step.
/// The scalar path steps chain by chain (an objective with [`crate::Objective::lanes`] still
/// evaluated per pack). Both give every chain the same bits: the scalar path is the reference the
/// tests hold the lockstep path to.
fn advance<T: Real>(pack: &mut [Live<T>], exp: &Experiment, target: u32, lockstep: Option<usize>) {
    if let Some(kick_lanes) = lockstep.filter(|_| pack[0].stepper.lockstep()) {
        advance_lockstep(pack, exp, target, kick_lanes);
    } else {
        advance_scalar(pack, exp, target);
    }
}

/// The scalar path of [`advance`].
fn advance_scalar<T: Real>(pack: &mut [Live<T>], exp: &Experiment, target: u32) {
    let obj = exp.objective.as_ref();
    if obj.lanes().is_none() {
        for l in pack {
            while l.stepping(target) {
                let e = T::eval(obj, &l.x, &mut l.g);
                if l.step(exp, e) != Step::Continue {
                    break;
                }
            }
        }
        return;
    }
    let d = obj.dim();
    let (mut xs, mut gs) = (vec![[T::zero(); LANES]; d], vec![[T::zero(); LANES]; d]);
    while pack.iter().any(|l| l.stepping(target)) {
        for (i, row) in xs.iter_mut().enumerate() {
            // Lanes beyond a short pack repeat the first chain; their results are not used.
            *row = std::array::from_fn(|l| pack.get(l).unwrap_or(&pack[0]).x[i]);
        }
        let evals = T::eval_lanes(obj, &xs, &mut gs);
        for (l, live) in pack.iter_mut().enumerate().filter(|(_, live)| live.stepping(target)) {
            live.g.iter_mut().zip(&gs).for_each(|(g, row)| *g = row[l]);
            live.step(exp, evals[l]);
        }
    }
}

/// The lockstep path of [`advance`]. A pack where more than one step in [`SCALAR_SHARE`] needs
/// the scalar step (PGD on the octopus, whose t_thres = 1 kicks a stalled chain every other step)
/// goes on chain by chain for the rest of the slice: there each lockstep step costs more than
/// it saves (BENCHMARKS.md). Both paths give the same bits, so the switch changes no result.
///
/// Stall starts and ball kicks take the lockstep [`Stepper::kick_lanes`] in a step where at least
/// `kick_lanes` lanes of the pack need one, else the scalar step: a lone kick costs about the
/// same either way (its ball draw dominates, the same scalar calls on both paths), while the
/// lockstep kick adds pack-wide work (BENCHMARKS.md).
fn advance_lockstep<T: Real>(pack: &mut [Live<T>], exp: &Experiment, target: u32, kick_lanes: usize) {
    let obj = exp.objective.as_ref();
    let d = obj.dim();
    let n = pack.len();
    let trace = exp.trace.map_or((0, 0), |t| (t.every, t.chains));
    // Lanes beyond a short pack repeat the first chain and never step.
    let lane = |l: usize| pack.get(l).unwrap_or(&pack[0]);
    let mut xs: Rows<T> = (0..d).map(|i| std::array::from_fn(|l| lane(l).x[i])).collect();
    let mut gs: Rows<T> = vec![[T::zero(); LANES]; d];
    let mut states = States::new(|l| lane(l).st);
    let chains: [u32; LANES] = std::array::from_fn(|l| lane(l).chain);
    let mut scratch = PackScratch::new(d);
    let mut tally = Tally::default();
    // Lane-steps taken in this slice, and those of them that took the scalar step.
    let (mut taken, mut scalar) = (0usize, 0usize);
    loop {
        let active = states.stepping(n, target);
        if !active.contains(&true) || (taken >= 8 * LANES && scalar * SCALAR_SHARE > taken) {
            break;
        }
        let mut evals = T::eval_lanes(obj, &xs, &mut gs);
        let mut gn2 = sum_sq_lanes(&gs);
        let stepper = &pack[0].stepper;
        let (common, kick) = stepper.common(active, &states, &evals, &gn2, &chains, trace);
        let mut tail = common;
        let mut kicked = [false; LANES];
        let lockstep_kicks = kick.iter().filter(|&&k| k).count() >= kick_lanes;
        if lockstep_kicks {
            // Stall starts and ball kicks in lockstep; then their lanes go on with the common ones.
            let kicks = stepper.kick_lanes(kick, &chains, &mut xs, &mut gs, &mut evals, &mut gn2, &mut states, &mut scratch, &mut tally);
            for l in (0..n).filter(|&l| kicks.kicked[l]) {
                scratch.tilde_lane(l, pack[l].stepper.tilde_mut());
            }
            (0..LANES).for_each(|l| tail[l] |= kicks.tail[l]);
            kicked = kicks.kicked;
        }
        pack[0].stepper.step_lanes(tail, &kicked, &chains, &mut xs, &gs, &evals, &gn2, &mut states, &mut scratch, &mut tally);
        taken += active.iter().filter(|&&a| a).count();
        for l in (0..n).filter(|&l| active[l] && !common[l] && !(lockstep_kicks && kick[l])) {
            // A rare branch: this lane's step is the scalar step.
            scalar += 1;
            let live = &mut pack[l];
            live.st = states.get(l);
            live.x.iter_mut().zip(&xs).for_each(|(x, row)| *x = row[l]);
            live.g.iter_mut().zip(&gs).for_each(|(g, row)| *g = row[l]);
            live.step(exp, evals[l]);
            xs.iter_mut().zip(&live.x).for_each(|(row, x)| row[l] = *x);
            states.set(l, &live.st);
        }
    }
    for (l, live) in pack.iter_mut().enumerate() {
        live.st = states.get(l);
        live.x.iter_mut().zip(&xs).for_each(|(x, row)| *x = row[l]);
    }
    crate::kernel::lanes::monitor::fold(&mut scratch.bins, &mut tally);
    pack[0].stepper.tally.merge(&tally);
    advance_scalar(pack, exp, target);
}

/// See [`advance_lockstep`]: the lanes of a pack that need a stall start or a kick in a step
/// from which on they take the lockstep kick.
const KICK_LANES: usize = 4;

/// See [`advance_lockstep`]: a pack goes on chain by chain once more than one in this many of
/// its lane-steps took the scalar step.
const SCALAR_SHARE: usize = 4;

/// One chain in flight: its point, record and stepper, and what it produced since the last
/// slice ended.
struct Live<'a, T: Real> {
    chain: u32,
    x: Vec<T>,
    g: Vec<T>,
    st: ChainState,
    stepper: Stepper<'a, T>,
    events: Vec<EscapeEvent>,
    /// Traced points not yet copied into the run's trace: (slot, point).
    trace: Vec<(u32, Vec<T>)>,
}

impl<'a, T: Real> Live<'a, T> {
    /// Global chain `chain` at its start.
    fn fresh(exp: &'a Experiment, p: &'a KernelParams, chain: u32) -> Self {
        let d = exp.objective.dim();
        let mut x0 = vec![0.0f32; d];
        exp.init.sample(exp.seed, chain, &mut x0);
        let mut x: Vec<T> = x0.into_iter().map(T::of).collect();
        let stepper = Stepper::<T>::new(exp.objective.as_ref(), exp.method.selectors(), p, exp.precision);
        stepper.store(&mut x);
        let mut g = vec![T::zero(); d];
        let st = stepper.init(&x, &mut g);
        Live { chain, x, g, st, stepper, events: Vec::new(), trace: Vec::new() }
    }

    /// Global chain `chain`, row `i` of the block saved in flight.
    fn resumed(exp: &'a Experiment, p: &'a KernelParams, chain: u32, c: &InFlightShard, i: usize) -> Self {
        let d = exp.objective.dim();
        let row = |v: &[f64]| v.get(i * d..(i + 1) * d).map(|r| r.iter().map(|&a| T::from(a).unwrap_or_else(T::zero)).collect::<Vec<T>>());
        let mut stepper = Stepper::<T>::new(exp.objective.as_ref(), exp.method.selectors(), p, exp.precision);
        if let Some(t) = row(&c.x_tilde) {
            stepper.set_tilde(&t);
        }
        let x = row(&c.x).unwrap_or_else(|| vec![T::zero(); d]);
        Live { chain, x, g: vec![T::zero(); d], st: c.states[i], stepper, events: Vec::new(), trace: Vec::new() }
    }

    /// Whether the chain still steps before step `target`.
    fn stepping(&self, target: u32) -> bool {
        self.st.running() && self.st.t < target
    }

    /// One step, the objective already evaluated at x (value `e`, gradient in `self.g`).
    fn step(&mut self, exp: &Experiment, e: Eval<T>) -> Step {
        self.trace_point(exp);
        self.stepper.step(e, self.chain, &mut self.x, &mut self.g, &mut self.st, &mut keep(&mut self.events))
    }

    /// The first part of [`Live::step`] ([`Stepper::begin`]), the gradient at x in `g`: the
    /// step, or up to the new point it needs evaluated, left in `self.x` for [`Stepper::finish`].
    fn begin(&mut self, exp: &Experiment, e: Eval<T>, g: &mut [T]) -> Begun {
        self.trace_point(exp);
        self.stepper.begin(e, self.chain, &mut self.x, g, &mut self.st, &mut keep(&mut self.events))
    }

    /// Keeps x when this step is a traced one.
    fn trace_point(&mut self, exp: &Experiment) {
        let (every, traced) = exp.trace.map_or((0, 0), |t| (t.every, t.chains));
        if self.chain < traced && self.st.t.is_multiple_of(every) {
            self.trace.push((self.st.t / every, self.x.clone()));
        }
    }

    /// Moves the traced points into the run's slot-major trace.
    fn drain_trace(&mut self, exp: &Experiment, trace: &mut [f32]) {
        let (d, traced) = (exp.objective.dim(), exp.trace.map_or(0, |t| t.chains as usize));
        for (slot, point) in self.trace.drain(..) {
            let base = (slot as usize * traced + self.chain as usize) * d;
            if let Some(dst) = trace.get_mut(base..base + d) {
                dst.iter_mut().zip(&point).for_each(|(t, v)| *t = v.to_f64().unwrap_or(f64::NAN) as f32);
            }
        }
    }
}

/// An event sink for [`Stepper::step`] that keeps every event in `events`.
fn keep(events: &mut Vec<EscapeEvent>) -> impl FnMut(EscapeEvent) -> bool + '_ {
    |e| {
        events.push(e);
        true
    }
}

mod batched;

#[cfg(test)]
mod tests;
