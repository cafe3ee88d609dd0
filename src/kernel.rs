//! One chain's init and steps: the Rust twin of `shaders/kernel.wgsl`, operation for operation in
//! f32. Both backends run exactly this semantics; the GPU version is tested against it.

pub use crate::monitor::Tally;
use crate::escape::{ChainState, EscapeEvent, NEVER, status};
use crate::method::{Oracle, Perturbation, Rho, Schedule, SelfBounding, Selectors, Transform};
use crate::objective::{Batch, Eval, LANES, Objective};
use crate::rng::{self, Purpose};
use crate::layout::shared_struct;
use crate::experiment::Experiment;
use crate::method::StepRule;

pub(crate) mod lanes;

shared_struct! {
    /// Parameters of a dispatch, laid out as the kernel's uniform block (192 bytes).
    pub struct KernelParams {
        /// Chains in this shard (the ensemble may hold more; see `chain_offset`).
        pub shard_chains: u32,
        /// Global index of the shard's first chain (random streams are addressed by global index).
        pub chain_offset: u32,
        /// Chains step while t < t_end.
        pub t_end: u32,
        /// Capacity of the event buffer.
        pub event_capacity: u32,
        /// Seed, low word.
        pub seed_lo: u32,
        /// Seed, high word.
        pub seed_hi: u32,
        /// Minimum steps between perturbations (fixed rule).
        pub t_thres: u32,
        /// Certification window (fixed rule; 0 = off). Under the self-bounding rule any non-zero
        /// value turns certification on with each chain's own t_thres as window.
        pub certify: u32,
        /// Step size (fixed rule).
        pub eta: f32,
        /// Perturbation radius (fixed rule).
        pub radius: f32,
        /// Stall threshold (fixed rule).
        pub g_thres: f32,
        /// Escape threshold (fixed rule).
        pub f_thres: f32,
        /// Init kind code (see [`crate::Init::code`]).
        pub init_kind: u32,
        /// Init scale.
        pub init_scale: f32,
        /// Chains (global indices 0..trace_chains) whose positions are traced.
        pub trace_chains: u32,
        /// Trace interval in steps (positions at t = 0, every, 2 every, ...); 0 = no trace.
        pub trace_every: u32,
        /// Always 2: trip count of the kernel's loop-limit probe (see `step_chains` in kernel.wgsl).
        pub loop_probe: u32,
        /// Minibatch size.
        pub batch: u32,
        /// Gradient-noise scale.
        pub sigma: f32,
        /// Clipping level.
        pub gamma: f32,
        /// Preconditioning scale.
        pub lambda: f32,
        /// Number of terms m of a finite-sum objective (0 if none).
        pub terms: u32,
        /// f* for the self-bounding rule's Df.
        pub f_star: f32,
        /// Self-bounding eps.
        pub sb_eps: f32,
        /// Self-bounding c.
        pub sb_c: f32,
        /// Self-bounding delta.
        pub sb_delta: f32,
        /// Self-bounding Df (0: F0 - f*).
        pub sb_df: f32,
        /// Self-bounding margin (negative: the default, f_thres at f(x0)).
        pub sb_margin: f32,
        /// rho1 = a + b max(F - fmin, 0)^p as (a, b, p, fmin).
        pub rho1: [f32; 4],
        /// rho2 as (a, b, p, fmin).
        pub rho2: [f32; 4],
        /// Piecewise schedule steps (u32::MAX: unused).
        pub piece_t: [u32; 4],
        /// Piecewise schedule factors.
        pub piece_f: [f32; 4],
        /// Self-bounding rule: re-anchor every this many steps (0 = only at x0).
        pub sb_rebase: u32,
        /// The monitor's `crate::monitor::flags`.
        pub monitor: u32,
        /// Padding.
        pub pad1: u32,
        /// Padding.
        pub pad2: u32,
    }
}

impl KernelParams {
    /// The kernel's uniform block for experiment `exp`, a shard of `chains` chains starting at
    /// global `offset`, stepping while t < `t_end`, with room for `capacity` events.
    pub fn new(exp: &Experiment, chains: u32, offset: u32, t_end: u32, capacity: u32) -> Self {
        let m = &exp.method;
        let p = &m.params;
        let key = rng::seed_key(exp.seed);
        let (init_kind, init_scale) = exp.init.code();
        let (piece_t, piece_f) = m.schedule.pieces();
        let (batch, sigma) = match m.oracle {
            Oracle::Exact => (0, 0.0),
            Oracle::Noise { sigma } => (0, sigma as f32),
            Oracle::Minibatch { batch } => (batch, 0.0),
        };
        let (gamma, lambda) = match m.transform {
            Transform::ClipHard { gamma } | Transform::ClipSmooth { gamma } => (gamma as f32, 0.0),
            Transform::Precondition { lambda, .. } => (0.0, lambda as f32),
            Transform::Identity => (0.0, 0.0),
        };
        let rho4 = |r: Option<Rho>| r.map_or([0.0; 4], |r| [r.a as f32, r.b as f32, r.p as f32, r.fmin as f32]);
        let (sb, rho1, rho2) = match &m.step_rule {
            StepRule::SelfBounding(sb) => {
                let declared = exp.declared_rho();
                (Some(sb), rho4(declared.map(|r| r.0)), rho4(declared.map(|r| r.1)))
            }
            // The monitor checks a fixed step against the declared forms too.
            StepRule::Fixed => (None, rho4(exp.objective.rho().map(|r| r.0)), rho4(exp.objective.rho().map(|r| r.1))),
        };
        KernelParams {
            shard_chains: chains,
            chain_offset: offset,
            t_end,
            event_capacity: capacity,
            seed_lo: key[0],
            seed_hi: key[1],
            t_thres: p.t_thres,
            certify: p.certify,
            eta: p.eta as f32,
            radius: p.radius as f32,
            g_thres: p.g_thres as f32,
            f_thres: p.f_thres as f32,
            init_kind,
            init_scale,
            trace_chains: exp.trace.map_or(0, |t| t.chains),
            trace_every: exp.trace.map_or(0, |t| t.every),
            loop_probe: 2,
            batch,
            sigma,
            gamma,
            lambda,
            terms: exp.objective.terms().unwrap_or(0),
            f_star: exp.objective.f_min().unwrap_or(0.0) as f32,
            sb_eps: sb.map_or(0.0, |s| s.eps as f32),
            sb_c: sb.map_or(0.0, |s| s.c as f32),
            sb_delta: sb.map_or(0.0, |s| s.delta as f32),
            sb_df: sb.and_then(|s| s.df).map_or(0.0, |v| v as f32),
            // Negative: the default margin (f_thres at f(x0)), as SelfBounding::chain_params.
            sb_margin: sb.map_or(0.0, |s| s.margin.map_or(-1.0, |m| m as f32)),
            rho1,
            rho2,
            piece_t,
            piece_f,
            sb_rebase: sb.map_or(0, |s| s.rebase_every),
            monitor: crate::monitor::flags_of(exp),
            pad1: 0,
            pad2: 0,
        }
    }

    /// The 64-bit seed.
    pub fn seed(&self) -> u64 {
        u64::from(self.seed_lo) | (u64::from(self.seed_hi) << 32)
    }

    fn rho(v: [f32; 4]) -> Rho {
        Rho { a: f64::from(v[0]), b: f64::from(v[1]), p: f64::from(v[2]), fmin: f64::from(v[3]) }
    }

    /// The self-bounding rule as the kernel sees it (every field round-trips through f32
    /// exactly, as `KernelParams::new` stored it); rho1/rho2 are passed separately.
    fn self_bounding(&self) -> SelfBounding {
        SelfBounding {
            eps: f64::from(self.sb_eps),
            c: f64::from(self.sb_c),
            delta: f64::from(self.sb_delta),
            df: (self.sb_df > 0.0).then_some(f64::from(self.sb_df)),
            margin: (self.sb_margin >= 0.0).then_some(f64::from(self.sb_margin)),
            rho1: None,
            rho2: None,
            rebase_every: self.sb_rebase,
        }
    }
}

/// What a step asks of the loop around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep stepping.
    Continue,
    /// The chain is finished (certified or diverged).
    Done,
    /// An event did not fit the event buffer: the step was not taken and must be redone.
    Paused,
}

/// The arithmetic of a chain's position: f32 (f32 and f16 storage) or f64 (f64 storage). Chain
/// bookkeeping (values, thresholds, step sizes) and random draws stay f32 on every precision, as
/// in the kernel, where f64 transcendentals are not available on every device.
pub trait Real: num_traits::Float + Send + Sync + std::fmt::Debug + Default + 'static {
    /// Widens or rounds an f32.
    fn of(v: f32) -> Self;
    /// Rounds to f32.
    fn f32(self) -> f32;
    /// The objective at x in this arithmetic.
    fn eval(obj: &dyn Objective, x: &[Self], g: &mut [Self]) -> crate::objective::Eval<Self>;
    /// The mean gradient of the terms `terms` into `out` in this arithmetic (zero where the
    /// objective is not a finite sum).
    fn batch_grad(obj: &dyn Objective, x: &[Self], terms: &[u32], out: &mut [Self]);
    /// The objective at [`LANES`] lane-interleaved points in this arithmetic.
    fn eval_lanes(obj: &dyn Objective, x: &[[Self; LANES]], g: &mut [[Self; LANES]]) -> [Eval<Self>; LANES];
    /// The objective at n points (n x d, row-major) in one call, in this arithmetic.
    fn eval_batch(b: &dyn Batch, x: &[Self], g: &mut [Self], out: &mut [Eval<Self>]) -> Result<(), crate::Error>;
}

impl Real for f32 {
    fn of(v: f32) -> Self {
        v
    }
    fn f32(self) -> f32 {
        self
    }
    fn eval(obj: &dyn Objective, x: &[f32], g: &mut [f32]) -> crate::objective::Eval<f32> {
        obj.eval_f32(x, g)
    }
    fn batch_grad(obj: &dyn Objective, x: &[f32], terms: &[u32], out: &mut [f32]) {
        match obj.finite_sum() {
            Some(sum) => sum.batch_grad_f32(x, terms, out),
            None => out.fill(0.0),
        }
    }
    fn eval_lanes(obj: &dyn Objective, x: &[[f32; LANES]], g: &mut [[f32; LANES]]) -> [Eval<f32>; LANES] {
        obj.eval_pack_f32(x, g)
    }
    fn eval_batch(b: &dyn Batch, x: &[f32], g: &mut [f32], out: &mut [Eval<f32>]) -> Result<(), crate::Error> {
        b.eval_batch_f32(x, g, out)
    }
}

impl Real for f64 {
    fn of(v: f32) -> Self {
        f64::from(v)
    }
    fn f32(self) -> f32 {
        self as f32
    }
    fn eval(obj: &dyn Objective, x: &[f64], g: &mut [f64]) -> crate::objective::Eval<f64> {
        obj.eval_f64(x, g)
    }
    fn batch_grad(obj: &dyn Objective, x: &[f64], terms: &[u32], out: &mut [f64]) {
        match obj.finite_sum() {
            Some(sum) => sum.batch_grad_f64(x, terms, out),
            None => out.fill(0.0),
        }
    }
    fn eval_lanes(obj: &dyn Objective, x: &[[f64; LANES]], g: &mut [[f64; LANES]]) -> [Eval<f64>; LANES] {
        obj.eval_pack_f64(x, g)
    }
    fn eval_batch(b: &dyn Batch, x: &[f64], g: &mut [f64], out: &mut [Eval<f64>]) -> Result<(), crate::Error> {
        b.eval_batch_f64(x, g, out)
    }
}

/// Steps chains of one experiment, positions in `T`. It is given exactly what the kernel is: the
/// objective, the piece selectors and the parameter record (and the storage precision).
pub struct Stepper<'a, T: Real> {
    precision: crate::precision::Precision,
    obj: &'a dyn Objective,
    oracle: Oracle,
    perturbation: Perturbation,
    transform: Transform,
    schedule: Schedule,
    /// The self-bounding rule (None: the fixed rule).
    rule: Option<SelfBounding>,
    /// Shared by the chains of a run: one copy stays in cache however many chains step.
    p: &'a KernelParams,
    v: Vec<T>,
    scratch: Vec<f32>,
    /// x~: the point before the last perturbation (ball perturbation only).
    tilde: Vec<T>,
    /// The terms a minibatch step drew.
    rows: Vec<u32>,
    /// What the monitor found in the steps this stepper took (`crate::monitor`).
    pub tally: Tally,
}

impl<'a, T: Real> Stepper<'a, T> {
    /// A stepper for `obj` with the kernel's selectors `sel` and parameters `p`, storing
    /// positions at `precision`.
    pub fn new(obj: &'a dyn Objective, sel: Selectors, p: &'a KernelParams, precision: crate::precision::Precision) -> Self {
        let d = obj.dim();
        let (oracle, perturbation, transform, schedule) = sel.pieces(p.sigma, p.batch, p.gamma, p.lambda);
        let rule = (sel.step_rule == 1).then(|| p.self_bounding());
        Stepper {
            precision,
            obj,
            oracle,
            perturbation,
            transform,
            schedule,
            rule,
            p,
            v: vec![T::zero(); d],
            scratch: vec![0.0; d],
            tilde: vec![T::zero(); d],
            rows: Vec::with_capacity(p.batch as usize),
            tally: Tally::default(),
        }
    }

    /// Rounds a starting point to the storage precision (as `init_chains` stores it).
    pub fn store(&self, x: &mut [T]) {
        x.iter_mut().for_each(|v| *v = self.round(*v));
    }

    /// x~, the point before the last perturbation (zeros before any).
    pub fn tilde(&self) -> &[T] {
        &self.tilde
    }

    /// x~ to be written (a lockstep kick, `lanes::kick`).
    pub fn tilde_mut(&mut self) -> &mut [T] {
        &mut self.tilde
    }

    /// Restores x~ of a chain resumed mid-run.
    pub fn set_tilde(&mut self, tilde: &[T]) {
        self.tilde.copy_from_slice(tilde);
    }

    fn round(&self, v: T) -> T {
        // Only f16 storage rounds (its arithmetic is f32); f32 and f64 store what they compute.
        match self.precision {
            crate::precision::Precision::F16 => T::of(self.precision.round(v.f32())),
            _ => v,
        }
    }

    /// Evaluates at x: value, gradient norm and label into `st`, or marks the chain diverged.
    fn evaluate(&self, x: &[T], g: &mut [T], st: &mut ChainState, t: u32) -> bool {
        let e = T::eval(self.obj, x, g);
        Self::record(e, g, st, t)
    }

    /// Records an evaluation (value `e`, gradient `g`) in `st`, or marks the chain diverged.
    fn record(e: Eval<T>, g: &[T], st: &mut ChainState, t: u32) -> bool {
        if !e.in_domain {
            st.status = status::DIVERGED_DOMAIN;
            return false;
        }
        let gn2 = sum_sq(g);
        if !e.value.is_finite() || !gn2.is_finite() {
            st.status = status::DIVERGED_NONFINITE;
            return false;
        }
        st.f = e.value.f32();
        st.gnorm = gn2.sqrt().f32();
        if e.label != st.label {
            st.label = e.label;
            st.label_since = t;
        }
        true
    }

    /// A fresh chain's state with its own parameters (the self-bounding rule evaluates f(x0)).
    pub fn init(&self, x: &[T], g: &mut [T]) -> ChainState {
        let p = self.p;
        let mut st = ChainState::fresh();
        (st.eta, st.radius, st.g_thres, st.f_thres, st.t_thres, st.certify) =
            (p.eta, p.radius, p.g_thres, p.f_thres, p.t_thres, p.certify);
        if self.rule.is_some() {
            if !self.evaluate(x, g, &mut st, 0) {
                return st;
            }
            self.chain_params(&mut st);
        }
        if self.perturbation == Perturbation::None {
            st.radius = 0.0;
        }
        st
    }

    /// The self-bounding rule at the value in `st.f` (twin of `chain_params` in kernel.wgsl).
    fn chain_params(&self, st: &mut ChainState) {
        let p = self.p;
        if let Some(rule) = &self.rule {
            let cp = rule.chain_params(st.f, self.obj.dim(), &KernelParams::rho(p.rho1), &KernelParams::rho(p.rho2), p.f_star);
            (st.eta, st.g_thres, st.f_thres, st.t_thres) = (cp.eta, cp.g_thres, cp.f_thres, cp.t_thres);
            // The monitor's anchor and assumed smoothness (eta = c / l, so l = rho1(F)); a
            // re-anchored step keeps the safeguard's halvings.
            (st.f_anchor, st.ell) = (cp.f_anchor, cp.ell);
            st.eta = crate::monitor::halved(st.eta, st.halvings);
            st.radius = if self.perturbation == Perturbation::None { 0.0 } else { cp.radius };
            st.certify = if p.certify > 0 { cp.t_thres } else { 0 };
        }
    }

    /// Step `st.t` of global chain `chain`, the objective already evaluated at x (value `e`,
    /// gradient in `g`; the CPU backend evaluates packs of chains at once, see
    /// [`Objective::lanes`]): detector, stopping rule, perturbation, oracle, transform, update
    /// and the hold ([`hold`]). `emit` stores an event and returns false when there is no
    /// room for it. It is [`Stepper::begin`] and, where that asks for one, the evaluation of the
    /// new point and [`Stepper::finish`].
    pub fn step(
        &mut self,
        e: Eval<T>,
        chain: u32,
        x: &mut [T],
        g: &mut [T],
        st: &mut ChainState,
        emit: &mut dyn FnMut(EscapeEvent) -> bool,
    ) -> Step {
        match self.begin(e, chain, x, g, st, emit) {
            Begun::Ended(s) => s,
            Begun::Evaluate(pending) => {
                let e = T::eval(self.obj, x, g);
                self.finish(pending, e, chain, x, g, st)
            }
        }
    }

    /// The first part of [`Stepper::step`]: up to the end of the step, or to the point where it
    /// needs the objective at a new point (a ball kick's, or x~ at a certification), which it
    /// leaves in `x` for the caller to evaluate (into `g`) and hand to [`Stepper::finish`]. The
    /// batched path evaluates the new points of a block's chains in one call this way.
    pub fn begin(&mut self, e: Eval<T>, chain: u32, x: &mut [T], g: &mut [T], st: &mut ChainState, emit: &mut dyn FnMut(EscapeEvent) -> bool) -> Begun {
        let t = st.t;
        let seed = self.p.seed();
        let ball = self.perturbation == Perturbation::Ball;
        if !Self::record(e, g, st, t) {
            return Begun::Ended(Step::Done);
        }
        Self::monitor(self.p, self.rule.is_none(), st, t, &mut self.tally);
        if self.p.sb_rebase > 0 && t > 0 && t.is_multiple_of(self.p.sb_rebase) {
            // Re-anchor the self-bounding rule at the current (lower) value: f stays below it
            // from here on, so rho1/rho2 there bound the smoothness of the rest of the run.
            self.chain_params(st);
        }
        if st.stalled == 1 && st.f <= st.f_stall - st.f_thres {
            let ev = EscapeEvent {
                chain,
                label: st.stall_label,
                t_stall: st.t_stall,
                escape_steps: t - st.t_stall,
                f_stall: st.f_stall,
                f_escape: st.f,
            };
            if !emit(ev) {
                return Begun::Ended(Step::Paused);
            }
            st.stalled = 0;
            st.escapes += 1;
        }
        if st.certify > 0 {
            if ball {
                // Jin et al.'s stopping rule: `certify` steps after the last kick, a value that
                // has not dropped by f_thres below f(x~) means x~ was a second-order stationary
                // point (w.h.p.); the chain returns x~.
                if st.t_noise != NEVER && t - st.t_noise == st.certify && st.f - st.f_tilde > -st.f_thres {
                    x.copy_from_slice(&self.tilde);
                    return Begun::Evaluate(Pending::Certify);
                }
            } else if st.stalled == 1 && t - st.t_stall >= st.certify {
                st.status = status::CERTIFIED;
                return Begun::Ended(Step::Done);
            }
        }
        if st.gnorm <= st.g_thres {
            if st.stalled == 0 {
                st.stalled = 1;
                st.t_stall = t;
                st.f_stall = st.f;
                st.stall_label = st.label;
            }
            if ball && (st.t_noise == NEVER || t - st.t_noise > st.t_thres) {
                st.t_noise = t;
                st.f_tilde = st.f;
                self.tilde.copy_from_slice(x);
                rng::ball(seed, chain, t, Purpose::Perturb, st.radius, &mut self.scratch);
                for (xi, ki) in x.iter_mut().zip(&self.scratch) {
                    *xi = *xi + T::of(*ki);
                }
                return Begun::Evaluate(Pending::Kick);
            }
        }
        Begun::Ended(self.update(false, chain, x, g, st))
    }

    /// The rest of a step [`Stepper::begin`] left at `pending`, the objective evaluated at the
    /// new point in `x` (value `e`, gradient in `g`).
    pub fn finish(&mut self, pending: Pending, e: Eval<T>, chain: u32, x: &mut [T], g: &mut [T], st: &mut ChainState) -> Step {
        let recorded = Self::record(e, g, st, st.t);
        match pending {
            Pending::Certify => {
                if recorded {
                    st.status = status::CERTIFIED;
                }
                Step::Done
            }
            Pending::Kick if !recorded => Step::Done,
            Pending::Kick => self.update(true, chain, x, g, st),
        }
    }

    /// The end of a step: oracle, transform, update and the hold. `kicked`: this step kicked x,
    /// so the stored state it started from is x~.
    fn update(&mut self, kicked: bool, chain: u32, x: &mut [T], g: &[T], st: &mut ChainState) -> Step {
        let t = st.t;
        let seed = self.p.seed();
        // The step's direction: oracle, then the Gaussian perturbation, then the transform.
        let d = x.len();
        match self.oracle {
            Oracle::Exact => self.v.copy_from_slice(g),
            Oracle::Noise { .. } => {
                rng::normals(seed, chain, t, Purpose::Noise, &mut self.scratch);
                for ((v, gi), n) in self.v.iter_mut().zip(g.iter()).zip(&self.scratch) {
                    *v = *gi + T::of(self.p.sigma) * T::of(*n);
                }
            }
            Oracle::Minibatch { .. } => {
                self.rows.clear();
                for k in 0..self.p.batch {
                    let w = rng::draw(seed, chain, t, Purpose::Minibatch, k / 4)[(k % 4) as usize];
                    self.rows.push(((u64::from(w) * u64::from(self.p.terms)) >> 32) as u32);
                }
                T::batch_grad(self.obj, x, &self.rows, &mut self.v);
            }
        }
        if self.perturbation == Perturbation::Gaussian {
            rng::normals(seed, chain, t, Purpose::Perturb, &mut self.scratch);
            let s = st.radius / (d as f32).sqrt();
            for i in 0..d {
                self.v[i] = self.v[i] + T::of(s) * T::of(self.scratch[i]);
            }
        }
        // The norm only matters to clipping and preconditioning (the kernel skips it too).
        let scale = match self.transform {
            Transform::Identity => 1.0,
            t => t.scale(sum_sq(&self.v).sqrt().f32()),
        };
        let pieces = (self.p.piece_t, self.p.piece_f);
        let eta_t = self.schedule.eta(st.eta, t, &pieces);
        let step = T::of(eta_t * scale);
        // Whether the stored state changed in this step (from x~ when it kicked), bit for bit.
        let mut moved = false;
        let (mut gdx, mut dx2) = (T::zero(), T::zero());
        for (i, (xi, vi)) in x.iter_mut().zip(&self.v).enumerate() {
            let next = self.round(*xi - step * *vi);
            let before = if kicked { self.tilde[i] } else { *xi };
            moved |= next != before;
            let dx = next - *xi;
            gdx = gdx + g[i] * dx;
            dx2 = dx2 + dx * dx;
            *xi = next;
        }
        let kind = self.pending_kind();
        leave(self.p, kind, st, gdx.f32(), dx2.f32());
        // The hold: the step from which the stored state has not changed (docs/theory.md,
        // "Precision"); a chain held over its hold window at a non-stationary stall is
        // precision-limited (`crate::outcome`).
        st.t_limited = hold(moved, st.t_limited, t);
        st.t = t + 1;
        Step::Continue
    }
}

impl<T: Real> Stepper<'_, T> {
    /// The monitor's check of the step that ended at the value just recorded in `st`
    /// (`crate::monitor`), into `tally`; at t = 0 under a fixed step (`fixed`), the anchor f(x0)
    /// and rho1 there.
    pub(crate) fn monitor(p: &KernelParams, fixed: bool, st: &mut ChainState, t: u32, tally: &mut Tally) {
        use crate::monitor::flags;
        if p.monitor & flags::ON == 0 {
            return;
        }
        let rho1 = KernelParams::rho(p.rho1);
        if t == 0 && fixed {
            st.f_anchor = st.f;
            if p.monitor & flags::RHO1 != 0 {
                st.ell = rho1.eval_f32(st.f);
            }
        }
        if let Some(c) = crate::monitor::check(st, t, p.monitor, |f| rho1.eval_f32(f), p.f_star) {
            tally.add(&c);
        }
    }

    /// What kind of check a step of this method leaves (`crate::monitor::pending`): descent
    /// applies where the direction is the exact gradient without a Gaussian perturbation.
    pub(crate) fn pending_kind(&self) -> u32 {
        use crate::monitor::pending;
        if self.oracle == Oracle::Exact && self.perturbation != Perturbation::Gaussian { pending::DESCENT } else { pending::STEP }
    }
}

/// What the step just taken leaves for its check: g·Δx and |Δx|² and the check's `kind` (none
/// when the stored state did not move, or the monitor is off).
pub(crate) fn leave(p: &KernelParams, kind: u32, st: &mut ChainState, gdx: f32, dx2: f32) {
    if p.monitor & crate::monitor::flags::ON == 0 {
        return;
    }
    st.m_kind = if dx2 > 0.0 { kind } else { crate::monitor::pending::NONE };
    (st.m_f, st.m_gdx, st.m_dx2) = (st.f, gdx, dx2);
}

/// What [`Stepper::begin`] asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begun {
    /// The step is over.
    Ended(Step),
    /// The step needs the objective at the point now in x: evaluate it and call
    /// [`Stepper::finish`].
    Evaluate(Pending),
}

/// Where a step waits for the evaluation of a new point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// A ball kick moved x: the step goes on from the kicked point.
    Kick,
    /// The stopping rule certified x~, now in x: its value and gradient end the chain.
    Certify,
}

/// The hold after a step at `t` (twin of the update in kernel.wgsl): [`NEVER`] when the step
/// moved the stored state, else the step from which it has been held (`held`, or `t` when the
/// hold starts now).
pub fn hold(moved: bool, held: u32, t: u32) -> u32 {
    if moved {
        NEVER
    } else if held == NEVER {
        t
    } else {
        held
    }
}

/// Sum of squares, accumulated in order (as the kernel does).
fn sum_sq<T: Real>(v: &[T]) -> T {
    let mut s = T::zero();
    for &x in v {
        s = s + x * x;
    }
    s
}
