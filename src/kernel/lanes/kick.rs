//! The lockstep stall start and ball kick: the lanes of a pack whose step is common but for the
//! stall bookkeeping and/or PGD's ball kick (see [`Stepper::common`]).
//!
//! Why: a chain resting at a minimum is kicked every t_thres + 1 steps; on the toy saddle
//! (t_thres = 20) the kicks took ~42% of a run when each went through the scalar step (gather,
//! step, scatter, one Philox block after another). Here the kicked lanes draw their ball points
//! together ([`rng::ball_lanes`]: the Philox rounds across lanes, the transcendentals the very
//! scalar calls of [`rng::ball`]), are re-evaluated, and then take the common tail of the step
//! (direction, step size, update) with the other common lanes in [`Stepper::step_lanes`].
//! Measured, that pays only where several lanes of a pack kick in the same step (PGD on the
//! octopus, t_thres = 1): a lone kick costs the latency of its draw on either path, so the CPU
//! backend sends steps with fewer kicks to the scalar step (BENCHMARKS.md, "Lockstep kicks").
//!
//! How it stays [`Stepper::step`] bit for bit: the same operations in the same order per lane:
//! the record of the evaluation, the stall bookkeeping, x~ and f~, the kick x + k without the
//! storage rounding, the re-evaluation with the scalar step's divergence checks (a lane that
//! diverges there stops exactly as in the scalar step, kicked, its step count not advanced),
//! and the record of the re-evaluation (done by `step_lanes`, as the scalar `evaluate`).

use super::{PackScratch, Real, States, Stepper, Tally, record_lanes};
use crate::escape::{NEVER, status};
use crate::method::Perturbation;
use crate::objective::{Eval, LANES};
use crate::rng::{self, Purpose};

/// Kicked lanes from which on the re-evaluation evaluates the whole pack at once (a lane
/// objective, [`crate::Objective::lanes`]); below it, kicked lanes are evaluated one by one.
/// Either is the same bits; on the octopus (t_thres = 1) 1, 2, 4 and 8 measured alike
/// (BENCHMARKS.md), so the pack only when it holds several kicks.
const PACK_REEVAL: usize = 4;

/// Kicked lanes from which on their ball points are drawn across the pack at once
/// ([`rng::ball_lanes`]); below it each lane draws its own ([`rng::ball`], the same bits): a
/// vector Philox block has the latency of several scalar ones, and with t_thres = 20 a pack
/// rarely kicks more than one or two lanes in a step.
const DENSE_KICKS: usize = 4;

/// What [`Stepper::kick_lanes`] did.
pub struct Kicks {
    /// The lanes kicked (their x~: [`PackScratch::tilde_lane`]).
    pub kicked: [bool; LANES],
    /// The lanes whose step goes on with the common tail (all but those that diverged).
    pub tail: [bool; LANES],
}

impl<T: Real> PackScratch<T> {
    /// Copies x~ of lane l, after [`Stepper::kick_lanes`] kicked it, into `tilde`.
    pub fn tilde_lane(&self, l: usize, tilde: &mut [T]) {
        tilde.iter_mut().zip(&self.tilde).for_each(|(t, row)| *t = row[l]);
    }
}

impl<T: Real> Stepper<'_, T> {
    /// The first part of the step of the lanes in `mask` (the second output of
    /// [`Stepper::common`]), global chains `chains`: the record of the evaluation (`e`, `gn2`),
    /// the stall start, and where due the ball kick and the re-evaluation at the kicked point,
    /// which replaces the lane's `e`, gradient `g` and `gn2`. The lanes of `tail` then take
    /// [`Stepper::step_lanes`] (with the common lanes); the caller stores the x~ of the kicked
    /// lanes in their steppers.
    #[allow(clippy::too_many_arguments)]
    pub fn kick_lanes(
        &self,
        mask: [bool; LANES],
        chains: &[u32; LANES],
        x: &mut [[T; LANES]],
        g: &mut [[T; LANES]],
        e: &mut [Eval<T>; LANES],
        gn2: &mut [T; LANES],
        s: &mut States,
        scratch: &mut PackScratch<T>,
        tally: &mut Tally,
    ) -> Kicks {
        let ball = self.perturbation == Perturbation::Ball;
        let value: [T; LANES] = std::array::from_fn(|l| e[l].value);
        let label: [u32; LANES] = std::array::from_fn(|l| e[l].label);
        record_lanes(&mask, &value, &label, gn2, &mut s.w);
        // The monitor's check, where the scalar step makes it: right after the first record.
        self.monitor_lanes(&mask, s, &mut scratch.bins, tally);
        let w = &mut s.w;
        let mut kicked = [false; LANES];
        for l in (0..LANES).filter(|&l| mask[l]) {
            let t = w[word!(t)][l];
            if w[word!(stalled)][l] == 0 {
                w[word!(stalled)][l] = 1;
                w[word!(t_stall)][l] = t;
                w[word!(f_stall)][l] = w[word!(f)][l];
                w[word!(stall_label)][l] = w[word!(label)][l];
            }
            let t_noise = w[word!(t_noise)][l];
            if ball && (t_noise == NEVER || t.wrapping_sub(t_noise) > w[word!(t_thres)][l]) {
                w[word!(t_noise)][l] = t;
                w[word!(f_tilde)][l] = w[word!(f)][l];
                kicked[l] = true;
            }
        }
        if !kicked.contains(&true) {
            return Kicks { kicked, tail: mask };
        }
        let (t, radius) = (s.w[word!(t)], s.f32s(word!(radius)));
        let count = kicked.iter().filter(|&&k| k).count();
        if count >= DENSE_KICKS {
            scratch.tilde.copy_from_slice(x);
            rng::ball_lanes(self.p.seed(), chains, &t, Purpose::Perturb, &radius, &kicked, &mut scratch.kick);
            for (xr, kr) in x.iter_mut().zip(&scratch.kick) {
                for l in 0..LANES {
                    xr[l] = if kicked[l] { xr[l] + T::of(kr[l]) } else { xr[l] };
                }
            }
        } else {
            // Few lanes: each its own draw, as the scalar step makes it.
            let draws = &mut scratch.draws;
            for l in (0..LANES).filter(|&l| kicked[l]) {
                rng::ball(self.p.seed(), chains[l], t[l], Purpose::Perturb, radius[l], draws);
                for ((xr, tr), k) in x.iter_mut().zip(scratch.tilde.iter_mut()).zip(draws.iter()) {
                    tr[l] = xr[l];
                    xr[l] = xr[l] + T::of(*k);
                }
            }
        }
        self.reevaluate(&kicked, count, x, g, e, scratch);
        for l in (0..LANES).filter(|&l| kicked[l]) {
            // As `sum_sq`: in coordinate order.
            gn2[l] = g.iter().fold(T::zero(), |acc, row| acc + row[l] * row[l]);
        }
        let mut tail = mask;
        for l in (0..LANES).filter(|&l| kicked[l]) {
            // `Stepper::record`'s checks, in its order.
            let diverged = if !e[l].in_domain {
                Some(status::DIVERGED_DOMAIN)
            } else if !e[l].value.is_finite() || !gn2[l].is_finite() {
                Some(status::DIVERGED_NONFINITE)
            } else {
                None
            };
            if let Some(code) = diverged {
                s.w[word!(status)][l] = code;
                tail[l] = false;
            }
        }
        Kicks { kicked, tail }
    }

    /// The objective at the kicked lanes' points into their `e` and gradient rows: the whole pack
    /// at once for a lane objective with at least [`PACK_REEVAL`] kicked lanes, else lane by lane.
    fn reevaluate(&self, kicked: &[bool; LANES], count: usize, x: &[[T; LANES]], g: &mut [[T; LANES]], e: &mut [Eval<T>; LANES], scratch: &mut PackScratch<T>) {
        let lanes = (0..LANES).filter(|&l| kicked[l]);
        if self.obj.lanes().is_some() && count >= PACK_REEVAL {
            let ek = T::eval_lanes(self.obj, x, &mut scratch.gk);
            for l in lanes {
                e[l] = ek[l];
                g.iter_mut().zip(&scratch.gk).for_each(|(row, gk)| row[l] = gk[l]);
            }
        } else {
            let (xl, gl) = (&mut scratch.xl, &mut scratch.gl);
            for l in lanes {
                xl.iter_mut().zip(x).for_each(|(xi, row)| *xi = row[l]);
                e[l] = T::eval(self.obj, xl, gl);
                g.iter_mut().zip(gl.iter()).for_each(|(row, gi)| row[l] = *gi);
            }
        }
    }
}
