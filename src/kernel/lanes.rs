//! The lockstep step: [`Stepper::step`] for a pack of [`LANES`] chains at once, positions held
//! lane-interleaved (structure of arrays, `x[i][l]` = coordinate i of lane l).
//!
//! Why: most steps of most chains take none of the step's rare branches (an escape record, a
//! certification, a stall start or a ball kick, a rebase of the self-bounding rule, a trace
//! point). For those the step is the same short sequence of float operations on every lane, and
//! run across lanes side by side it vectorises; the per-chain scalar step (a `dyn Objective` call
//! and loops over a handful of coordinates per chain) leaves the vector unit idle.
//!
//! How it stays the scalar step bit for bit: [`Stepper::common`] decides, per lane and per step,
//! from exactly the values the scalar step would branch on, whether the step takes only the common
//! branches; only those lanes are stepped here, with the scalar step's operations in its order
//! (each lane's arithmetic is its own; Rust never contracts a multiply and an add into an FMA,
//! whatever vector unit the code is built for). Lanes whose step is common but for a stall
//! start or a ball kick can take [`Stepper::kick_lanes`] first (`kick`), then the common step.
//! A lane that needs a rarer branch is stepped by [`Stepper::step`] itself for that step (the
//! CPU backend gathers it, steps it, scatters it back). Minibatch oracles are not lockstep ([`Stepper::lockstep`] is false): those packs step
//! chain by chain. Tested against the scalar path in `backend::cpu::tests`.

use super::{Real, Stepper, Tally};
use crate::escape::{ChainState, NEVER};
use crate::method::{Oracle, Perturbation, Schedule, Transform};
use crate::objective::{Eval, LANES};
use crate::rng::{self, Purpose};
use num_traits::Float;

/// Lanes of a pack, lane-interleaved: `x[i][l]` is coordinate i of lane l.
pub type Rows<T> = Vec<[T; LANES]>;

/// Per-pack scratch of the lockstep step.
pub struct PackScratch<T> {
    /// The step's direction, lane-interleaved.
    v: Rows<T>,
    /// One lane's random draws.
    draws: Vec<f32>,
    /// The ball points of a lockstep kick, lane-interleaved.
    kick: Rows<f32>,
    /// The points before a lockstep kick (x~), lane-interleaved.
    tilde: Rows<T>,
    /// The gradients of a lockstep re-evaluation, lane-interleaved.
    gk: Rows<T>,
    /// One lane's point and gradient (a re-evaluation lane by lane).
    xl: Vec<T>,
    gl: Vec<T>,
    /// The monitor's curvature bins of quiet checks, per lane (`monitor::fold` empties them).
    pub bins: monitor::LaneBins,
}

impl<T: Real> PackScratch<T> {
    /// Scratch for dimension `d`.
    pub fn new(d: usize) -> Self {
        let rows = || vec![[T::zero(); LANES]; d];
        let (kick, xl, gl) = (vec![[0.0; LANES]; d], vec![T::zero(); d], vec![T::zero(); d]);
        PackScratch { v: rows(), draws: vec![0.0; d], kick, tilde: rows(), gk: rows(), xl, gl, bins: Default::default() }
    }
}

/// 32-bit words of a [`ChainState`] (every field is a u32 or an f32).
const WORDS: usize = std::mem::size_of::<ChainState>() / 4;

/// Word index of a [`ChainState`] field.
macro_rules! word {
    ($field:ident) => {
        std::mem::offset_of!($crate::escape::ChainState, $field) / 4
    };
}

mod kick;
pub mod monitor;

/// The records of a pack's lanes field by field (structure of arrays): word k of lane l's
/// [`ChainState`] at `w[k][l]`, so the common step reads and writes each field for every lane
/// side by side.
pub struct States {
    w: [[u32; LANES]; WORDS],
}

impl States {
    /// The records `st(l)` of lanes 0..LANES.
    pub fn new(st: impl Fn(usize) -> ChainState) -> Self {
        let mut s = States { w: [[0; LANES]; WORDS] };
        (0..LANES).for_each(|l| s.set(l, &st(l)));
        s
    }

    /// Lane l's record.
    pub fn get(&self, l: usize) -> ChainState {
        bytemuck::cast::<[u32; WORDS], ChainState>(std::array::from_fn(|k| self.w[k][l]))
    }

    /// Sets lane l's record.
    pub fn set(&mut self, l: usize, st: &ChainState) {
        let words: [u32; WORDS] = bytemuck::cast(*st);
        (0..WORDS).for_each(|k| self.w[k][l] = words[k]);
    }

    /// The lanes among the first `n` that still step before step `target`.
    pub fn stepping(&self, n: usize, target: u32) -> [bool; LANES] {
        let (status, t) = (self.w[word!(status)], self.w[word!(t)]);
        std::array::from_fn(|l| (l < n) & (status[l] == crate::escape::status::RUNNING) & (t[l] < target))
    }

    fn f32s(&self, k: usize) -> [f32; LANES] {
        self.w[k].map(f32::from_bits)
    }
}

impl<T: Real> Stepper<'_, T> {
    /// Whether this configuration has a lockstep step (every oracle but minibatches, which draw
    /// the terms of each lane's gradient).
    pub fn lockstep(&self) -> bool {
        !matches!(self.oracle, Oracle::Minibatch { .. })
    }

    /// The lanes among `active` whose step, the objective evaluated as `e` with squared gradient
    /// norms `gn2` (summed in order, as the scalar step does), takes only the common branches of
    /// [`Stepper::step`]: a finite evaluation in the domain, no rebase of the self-bounding rule,
    /// no escape record, no certification check that could stop the chain, no stall start, no
    /// ball kick and no trace point (`trace`: every, chains). Conservative where cheap (a due
    /// certification check is never common). Branch-free across lanes.
    ///
    /// Second, the lanes whose step is common but for a stall start and/or a ball kick: those
    /// [`Stepper::kick_lanes`] steps in lockstep too.
    pub fn common(&self, active: [bool; LANES], s: &States, e: &[Eval<T>; LANES], gn2: &[T; LANES], chains: &[u32; LANES], trace: (u32, u32)) -> ([bool; LANES], [bool; LANES]) {
        let ball = self.perturbation == Perturbation::Ball;
        let value: [T; LANES] = std::array::from_fn(|l| e[l].value);
        let ok: [bool; LANES] = std::array::from_fn(|l| active[l] & e[l].in_domain);
        let (mut common, mut kick) = common_lanes(ball, &ok, &value, gn2, &s.w);
        let t = &s.w[word!(t)];
        // Rebases and trace points: integer divisions, only where they can happen (the chains of
        // a pack are consecutive, the first lane's is the smallest).
        let rebase = self.p.sb_rebase;
        let (every, traced) = trace;
        if rebase > 0 || chains[0] < traced {
            for l in 0..LANES {
                let rebase_due = rebase > 0 && t[l] > 0 && t[l].is_multiple_of(rebase);
                let trace_due = chains[l] < traced && t[l].is_multiple_of(every);
                common[l] &= !(rebase_due || trace_due);
                kick[l] &= !(rebase_due || trace_due);
            }
        }
        (common, kick)
    }

    /// One common step (see [`Stepper::common`]) of the lanes in `mask`, global chains `chains`:
    /// the record of the evaluation (`e`, `gn2`), the direction (oracle, Gaussian perturbation,
    /// transform), the scheduled step size, the update with the storage rounding and the
    /// hold, operation for operation as [`Stepper::step`]. Lanes in `kicked` were kicked by
    /// [`Stepper::kick_lanes`] in this step (their x~ in the scratch). Other lanes are left as
    /// they are.
    #[allow(clippy::too_many_arguments)]
    pub fn step_lanes(
        &self,
        mask: [bool; LANES],
        kicked: &[bool; LANES],
        chains: &[u32; LANES],
        x: &mut [[T; LANES]],
        g: &[[T; LANES]],
        e: &[Eval<T>; LANES],
        gn2: &[T; LANES],
        s: &mut States,
        scratch: &mut PackScratch<T>,
        tally: &mut Tally,
    ) {
        let seed = self.p.seed();
        let d = x.len();
        let t = s.w[word!(t)];
        let value: [T; LANES] = std::array::from_fn(|l| e[l].value);
        let label: [u32; LANES] = std::array::from_fn(|l| e[l].label);
        record_lanes(&mask, &value, &label, gn2, &mut s.w);
        // Kicked lanes were checked before their kick (`kick_lanes`), as the scalar step does;
        // their record here is the kicked point's.
        let unkicked: [bool; LANES] = std::array::from_fn(|l| mask[l] & !kicked[l]);
        self.monitor_lanes(&unkicked, s, &mut scratch.bins, tally);
        let noise = matches!(self.oracle, Oracle::Noise { .. });
        let gaussian = self.perturbation == Perturbation::Gaussian;
        // The exact gradient is the direction as it is, unless noise is added to it.
        let v: &[[T; LANES]] = if noise || gaussian {
            scratch.v.copy_from_slice(g);
            let (draws, radius) = (&mut scratch.draws, s.f32s(word!(radius)));
            for l in (0..LANES).filter(|&l| mask[l]) {
                if noise {
                    rng::normals(seed, chains[l], t[l], Purpose::Noise, draws);
                    for (v, n) in scratch.v.iter_mut().zip(draws.iter()) {
                        v[l] = v[l] + T::of(self.p.sigma) * T::of(*n);
                    }
                }
                if gaussian {
                    rng::normals(seed, chains[l], t[l], Purpose::Perturb, draws);
                    let sd = radius[l] / (d as f32).sqrt();
                    for (v, n) in scratch.v.iter_mut().zip(draws.iter()) {
                        v[l] = v[l] + T::of(sd) * T::of(*n);
                    }
                }
            }
            &scratch.v
        } else {
            g
        };
        let scale: [f32; LANES] = match self.transform {
            Transform::Identity => [1.0; LANES],
            tr => sum_sq_lanes(v).map(|n2| tr.scale(n2.sqrt().f32())),
        };
        let eta = s.f32s(word!(eta));
        let eta_t: [f32; LANES] = match self.schedule {
            Schedule::Constant => eta,
            ref schedule => {
                let pieces = (self.p.piece_t, self.p.piece_f);
                std::array::from_fn(|l| schedule.eta(eta[l], t[l], &pieces))
            }
        };
        let step: [T; LANES] = std::array::from_fn(|l| T::of(eta_t[l] * scale[l]));
        let f16 = self.precision == crate::precision::Precision::F16;
        let pending = if self.p.monitor & crate::monitor::flags::ON != 0 { self.pending_kind() } else { crate::monitor::pending::NONE };
        update_lanes(x, v, g, &step, &mask, kicked, &scratch.tilde, f16, pending, &mut s.w);
    }

}

/// The branch-free part of [`Stepper::common`] for lanes `ok` (active, in the domain): the
/// common lanes, and those common but for a stall start or a kick.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn common_lanes<T: Real>(ball: bool, ok: &[bool; LANES], value: &[T; LANES], gn2: &[T; LANES], w: &[[u32; LANES]; WORDS]) -> ([bool; LANES], [bool; LANES]) {
    let (t, stalled, certify) = (&w[word!(t)], &w[word!(stalled)], &w[word!(certify)]);
    let (t_noise, t_stall, t_thres) = (&w[word!(t_noise)], &w[word!(t_stall)], &w[word!(t_thres)]);
    let (f_stall, f_thres, g_thres) = (&w[word!(f_stall)], &w[word!(f_thres)], &w[word!(g_thres)]);
    let (mut common, mut kick) = ([false; LANES], [false; LANES]);
    for l in 0..LANES {
        let (f, gnorm) = (value[l].f32(), gn2[l].sqrt().f32());
        let finite = value[l].is_finite() & gn2[l].is_finite();
        let escape = (stalled[l] == 1) & (f <= f32::from_bits(f_stall[l]) - f32::from_bits(f_thres[l]));
        let since_noise = t[l].wrapping_sub(t_noise[l]);
        let due = if ball { (t_noise[l] != NEVER) & (since_noise == certify[l]) } else { (stalled[l] == 1) & (t[l].wrapping_sub(t_stall[l]) >= certify[l]) };
        let kick_due = ball & ((t_noise[l] == NEVER) | (since_noise > t_thres[l]));
        let stall = (gnorm <= f32::from_bits(g_thres[l])) & ((stalled[l] == 0) | kick_due);
        let plain = ok[l] & finite & !escape & !((certify[l] > 0) & due);
        common[l] = plain & !stall;
        kick[l] = plain & stall;
    }
    (common, kick)
}

/// The record of an evaluation (value, gradient norm, label) for the lanes in `mask`, as
/// `Stepper::record` once it found the evaluation finite.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn record_lanes<T: Real>(mask: &[bool; LANES], value: &[T; LANES], label: &[u32; LANES], gn2: &[T; LANES], w: &mut [[u32; LANES]; WORDS]) {
    for l in 0..LANES {
        let (old, t) = (w[word!(label)][l], w[word!(t)][l]);
        let moved = mask[l] & (label[l] != old);
        let (f, gnorm) = (w[word!(f)][l], w[word!(gnorm)][l]);
        w[word!(f)][l] = if mask[l] { value[l].f32().to_bits() } else { f };
        w[word!(gnorm)][l] = if mask[l] { gn2[l].sqrt().f32().to_bits() } else { gnorm };
        w[word!(label)][l] = if moved { label[l] } else { old };
        w[word!(label_since)][l] = if moved { t } else { w[word!(label_since)][l] };
    }
}

/// Sums of squares per lane, each accumulated over the coordinates in order (as `sum_sq`).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
pub fn sum_sq_lanes<T: Float>(v: &[[T; LANES]]) -> [T; LANES] {
    let mut s = [T::zero(); LANES];
    for row in v {
        for l in 0..LANES {
            s[l] = s[l] + row[l] * row[l];
        }
    }
    s
}

/// x <- round(x - step v) on the lanes in `mask` (round: to f16 when `f16`, else none), then
/// the hold and the step count in the records `w`, as the scalar update. The lanes in `kicked`
/// started this step from x~ (`tilde`), the point before their kick. With a `pending` check
/// kind (`crate::monitor::pending`; NONE: the monitor is off), what the step leaves for its
/// check, as `kernel::leave`: g·Δx and |Δx|² summed over the coordinates in order.
#[allow(clippy::too_many_arguments)]
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn update_lanes<T: Real>(x: &mut [[T; LANES]], v: &[[T; LANES]], g: &[[T; LANES]], step: &[T; LANES], mask: &[bool; LANES], kicked: &[bool; LANES], tilde: &[[T; LANES]], f16: bool, pending: u32, w: &mut [[u32; LANES]; WORDS]) {
    // Whether each lane's stored state changed: against x, and against x~ for the lanes that
    // kicked in this step (their state at the start of the step). Both in the one loop, as
    // bytes: with the kicked lanes in a second pass, or bool accumulators, LLVM lowered the
    // masked row stores lane by lane, 1.3x slower on the quartic d = 16 (measured; this form
    // matches the update without the comparison).
    let (mut moved, mut from_tilde) = ([0u8; LANES], [0u8; LANES]);
    let monitor = pending != crate::monitor::pending::NONE;
    let (mut gdx, mut dx2) = ([T::zero(); LANES], [T::zero(); LANES]);
    for (((xr, vr), tr), gr) in x.iter_mut().zip(v).zip(tilde).zip(g) {
        let mut next: [T; LANES] = std::array::from_fn(|l| xr[l] - step[l] * vr[l]);
        if f16 {
            next = next.map(|a| T::of(crate::precision::Precision::F16.round(a.f32())));
        }
        if monitor {
            for l in 0..LANES {
                let dx = next[l] - xr[l];
                gdx[l] = gdx[l] + gr[l] * dx;
                dx2[l] = dx2[l] + dx * dx;
            }
        }
        for l in 0..LANES {
            moved[l] |= u8::from(next[l] != xr[l]);
            from_tilde[l] |= u8::from(next[l] != tr[l]);
            xr[l] = if mask[l] { next[l] } else { xr[l] };
        }
    }
    if monitor {
        // Branch-free across lanes, as the rest of the update.
        for l in 0..LANES {
            let (gdx, dx2, m) = (gdx[l].f32(), dx2[l].f32(), mask[l]);
            let kind = if dx2 > 0.0 { pending } else { crate::monitor::pending::NONE };
            w[word!(m_kind)][l] = if m { kind } else { w[word!(m_kind)][l] };
            w[word!(m_f)][l] = if m { w[word!(f)][l] } else { w[word!(m_f)][l] };
            w[word!(m_gdx)][l] = if m { gdx.to_bits() } else { w[word!(m_gdx)][l] };
            w[word!(m_dx2)][l] = if m { dx2.to_bits() } else { w[word!(m_dx2)][l] };
        }
    }
    let moved: [bool; LANES] = std::array::from_fn(|l| (if kicked[l] { from_tilde[l] } else { moved[l] }) != 0);
    for l in 0..LANES {
        // `super::hold` without branches: a hold never starts after the step, so min(held, t)
        // is held, or t when there is none (NEVER = u32::MAX); all ones where moved; the old
        // word where masked.
        let (t, held) = (w[word!(t)][l], w[word!(t_limited)][l]);
        let next = held.min(t) | 0u32.wrapping_sub(u32::from(moved[l]));
        w[word!(t_limited)][l] = held ^ ((held ^ next) & 0u32.wrapping_sub(u32::from(mask[l])));
        w[word!(t)][l] = t + u32::from(mask[l]);
    }
}
