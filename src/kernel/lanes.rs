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
//! whatever vector unit the code is built for). A lane that needs a rare branch is stepped by
//! [`Stepper::step`] itself for that step (the CPU backend gathers it, steps it, scatters it
//! back). Minibatch oracles are not lockstep ([`Stepper::lockstep`] is false): those packs step
//! chain by chain. Tested against the scalar path in `backend::cpu::tests`.

use super::{Real, Stepper};
use crate::escape::{ChainState, NEVER};
use crate::method::{Oracle, Perturbation, Transform};
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
}

impl<T: Real> PackScratch<T> {
    /// Scratch for dimension `d`.
    pub fn new(d: usize) -> Self {
        PackScratch { v: vec![[T::zero(); LANES]; d], draws: vec![0.0; d] }
    }
}

impl<T: Real> Stepper<'_, T> {
    /// Whether this configuration has a lockstep step (every oracle but minibatches, which draw
    /// the terms of each lane's gradient).
    pub fn lockstep(&self) -> bool {
        !matches!(self.oracle, Oracle::Minibatch { .. })
    }

    /// Whether step `st.t` of a chain, its objective evaluated as `e` with squared gradient norm
    /// `gn2` (summed in order, as the scalar step does), takes only the common branches of
    /// [`Stepper::step`]: a finite evaluation in the domain, no rebase of the self-bounding rule,
    /// no escape record, no certification check that could stop the chain, no stall start and
    /// no ball kick. Conservative where cheap (a due certification check is never common).
    pub fn common(&self, st: &ChainState, e: &Eval<T>, gn2: T) -> bool {
        if !(e.in_domain && e.value.is_finite() && gn2.is_finite()) {
            return false;
        }
        let t = st.t;
        let (f, gnorm) = (e.value.f32(), gn2.sqrt().f32());
        let ball = self.perturbation == Perturbation::Ball;
        let rebase = self.p.sb_rebase > 0 && t > 0 && t.is_multiple_of(self.p.sb_rebase);
        let escape = st.stalled == 1 && f <= st.f_stall - st.f_thres;
        let certify = st.certify > 0
            && if ball { st.t_noise != NEVER && t - st.t_noise == st.certify } else { st.stalled == 1 && t - st.t_stall >= st.certify };
        let kick_due = ball && (st.t_noise == NEVER || t - st.t_noise > st.t_thres);
        let stall = gnorm <= st.g_thres && (st.stalled == 0 || kick_due);
        !(rebase || escape || certify || stall)
    }

    /// One common step (see [`Stepper::common`]) of the lanes in `mask`, global chains `chains`:
    /// the record of the evaluation (`e`, `gn2`), the direction (oracle, Gaussian perturbation,
    /// transform), the scheduled step size, the update with the storage rounding and the
    /// precision sentinel, operation for operation as [`Stepper::step`]. Other lanes are left
    /// as they are.
    #[allow(clippy::too_many_arguments)]
    pub fn step_lanes(
        &self,
        mask: [bool; LANES],
        chains: &[u32; LANES],
        x: &mut [[T; LANES]],
        g: &[[T; LANES]],
        e: &[Eval<T>; LANES],
        gn2: &[T; LANES],
        sts: &mut [ChainState; LANES],
        scratch: &mut PackScratch<T>,
    ) {
        let seed = self.p.seed();
        let d = x.len();
        for l in (0..LANES).filter(|&l| mask[l]) {
            let st = &mut sts[l];
            st.f = e[l].value.f32();
            st.gnorm = gn2[l].sqrt().f32();
            if e[l].label != st.label {
                st.label = e[l].label;
                st.label_since = st.t;
            }
        }
        let noise = matches!(self.oracle, Oracle::Noise { .. });
        let gaussian = self.perturbation == Perturbation::Gaussian;
        // The exact gradient is the direction as it is, unless noise is added to it.
        let v: &[[T; LANES]] = if noise || gaussian {
            scratch.v.copy_from_slice(g);
            let draws = &mut scratch.draws;
            for l in (0..LANES).filter(|&l| mask[l]) {
                let (chain, t) = (chains[l], sts[l].t);
                if noise {
                    rng::normals(seed, chain, t, Purpose::Noise, draws);
                    for (v, n) in scratch.v.iter_mut().zip(draws.iter()) {
                        v[l] = v[l] + T::of(self.p.sigma) * T::of(*n);
                    }
                }
                if gaussian {
                    rng::normals(seed, chain, t, Purpose::Perturb, draws);
                    let s = sts[l].radius / (d as f32).sqrt();
                    for (v, n) in scratch.v.iter_mut().zip(draws.iter()) {
                        v[l] = v[l] + T::of(s) * T::of(*n);
                    }
                }
            }
            &scratch.v
        } else {
            g
        };
        let vn2 = match self.transform {
            Transform::Identity => [T::zero(); LANES],
            _ => sum_sq_lanes(v),
        };
        let pieces = (self.p.piece_t, self.p.piece_f);
        let step: [T; LANES] = std::array::from_fn(|l| {
            let scale = match self.transform {
                Transform::Identity => 1.0,
                t => t.scale(vn2[l].sqrt().f32()),
            };
            T::of(self.schedule.eta(sts[l].eta, sts[l].t, &pieces) * scale)
        });
        let tiny = T::from(self.precision.min_normal()).unwrap_or_else(T::zero);
        let f16 = self.precision == crate::precision::Precision::F16;
        let flags = update_lanes(x, v, &step, &mask, tiny, f16);
        for l in (0..LANES).filter(|&l| mask[l]) {
            let st = &mut sts[l];
            let [moved, pushed, underflow] = flags[l];
            if st.stalled == 1 && st.t_limited == NEVER && ((pushed && !moved) || underflow) {
                st.t_limited = st.t;
            }
            st.t += 1;
        }
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

/// x <- round(x - step v) on the lanes in `mask` (round: to f16 when `f16`, else none), and per
/// lane the precision sentinel's flags (moved, pushed, underflow), as the scalar update.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn update_lanes<T: Real>(x: &mut [[T; LANES]], v: &[[T; LANES]], step: &[T; LANES], mask: &[bool; LANES], tiny: T, f16: bool) -> [[bool; 3]; LANES] {
    let (mut moved, mut pushed, mut underflow) = ([false; LANES], [false; LANES], [false; LANES]);
    for (xr, vr) in x.iter_mut().zip(v) {
        let mut next: [T; LANES] = std::array::from_fn(|l| xr[l] - step[l] * vr[l]);
        if f16 {
            next = next.map(|a| T::of(crate::precision::Precision::F16.round(a.f32())));
        }
        for l in 0..LANES {
            moved[l] |= next[l] != xr[l];
            pushed[l] |= vr[l] != T::zero();
            underflow[l] |= xr[l] != T::zero() && next[l].abs() < tiny;
            xr[l] = if mask[l] { next[l] } else { xr[l] };
        }
    }
    std::array::from_fn(|l| [moved[l], pushed[l], underflow[l]])
}
