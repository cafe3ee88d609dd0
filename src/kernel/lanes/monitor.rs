//! The monitor's check ([`Stepper::monitor`]) for a pack's lanes. Most checks change nothing
//! but counts and the curvature bins: a step whose ratios cannot exceed the chain's worst so far
//! (nor 1) violates nothing and leaves the worst ratio as it is. Those quiet lanes are counted
//! here side by side, without evaluating rho1 (a power) or moving the lane's record out of the
//! pack; the others, and a fixed step's anchor at t = 0, take the scalar check on the lane's
//! record. Both give the same bits (tested against the scalar path in `backend::cpu::tests`).
//!
//! Why quiet is safe: rho1(F) = a + b max(F - fmin, 0)^p >= a in f32, so the curvature ratio
//! c / rho1(top) is at most c / a; a lane is quiet when c <= a min(worst, 1) (less 2^-20, for
//! the rounding of the product), and its descent and sublevel ratios are at most min(worst, 1)
//! (compared as products with the same margin) with the value inside the sublevel set.

use super::{States, Stepper, Tally, WORDS};
use crate::kernel::{KernelParams, Real};
use crate::monitor::{bin, flags, leaves_sublevel, pending, secant};
use crate::objective::LANES;

/// The curvature bins of a pack's quiet checks, per lane: `bins[k][l]`, folded into a
/// [`Tally`] by [`fold`].
pub type LaneBins = [[f32; LANES]; crate::monitor::BINS];

/// Folds a pack's lane bins into `tally` (and clears them).
pub fn fold(bins: &mut LaneBins, tally: &mut Tally) {
    for (t, row) in tally.bins.iter_mut().zip(bins.iter_mut()) {
        *t = row.iter().fold(*t, |m, &c| m.max(c));
        *row = [0.0; LANES];
    }
}

/// The margin under which a curvature counts as quiet against a min(worst, 1).
const QUIET: f32 = 1.0 - 1.0 / 1_048_576.0;

/// The smallest product a quiet comparison trusts (2^-100: far inside the normal range).
const NORMAL: f32 = 7.888_609e-31;

impl<T: Real> Stepper<'_, T> {
    /// The monitor's check for the lanes in `mask` whose last step left one, or at t = 0 under
    /// a fixed step, right after their evaluation was recorded.
    pub(crate) fn monitor_lanes(&self, mask: &[bool; LANES], s: &mut States, bins: &mut LaneBins, tally: &mut Tally) {
        let p = self.p;
        if p.monitor & flags::ON == 0 {
            return;
        }
        let fixed = self.rule.is_none();
        let loud = quiet_lanes(p, mask, &mut s.w, bins);
        if !fixed && !loud.contains(&true) {
            return;
        }
        let start: [bool; LANES] = std::array::from_fn(|l| fixed && s.w[word!(t)][l] == 0);
        for l in (0..LANES).filter(|&l| mask[l] && (loud[l] || start[l])) {
            let mut st = s.get(l);
            let t = st.t;
            Self::monitor(p, fixed, &mut st, t, tally);
            s.set(l, &st);
        }
    }
}

/// Word k of lane l as an f32.
fn f(w: &[[u32; LANES]; WORDS], k: usize, l: usize) -> f32 {
    f32::from_bits(w[k][l])
}

/// Counts the quiet checks of the lanes in `mask` (module docs) into their records and `bins`;
/// returns the lanes with a check that is not quiet.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn quiet_lanes(p: &KernelParams, mask: &[bool; LANES], w: &mut [[u32; LANES]; WORDS], bins: &mut LaneBins) -> [bool; LANES] {
    let (rho1, sub) = (p.monitor & flags::RHO1 != 0, p.monitor & flags::SUBLEVEL != 0);
    let (a, f_star) = (p.rho1[0], p.f_star);
    let mut loud = [false; LANES];
    let mut quiet = [false; LANES];
    let mut curvature = [0.0f32; LANES];
    // Branch-free across lanes (every ratio computed, then masked), so that it vectorises. The
    // descent and sublevel ratios are compared as products, not quotients (two divisions fewer
    // per lane): m / (dx2 ell) <= bound follows from m <= bound QUIET dx2 ell with the product a
    // normal f32 (the margin 2^-20 covers the rounding of either side; below 2^-100 the product
    // loses its relative precision, and the lane goes to the scalar check).
    for l in 0..LANES {
        let kind = w[word!(m_kind)][l];
        let (f0, f1, dx2, ell, anchor) = (f(w, word!(m_f), l), f(w, word!(f), l), f(w, word!(m_dx2), l), f(w, word!(ell), l), f(w, word!(f_anchor), l));
        let (q, tol, c) = secant(f0, f1, f(w, word!(m_gdx), l), dx2, anchor);
        let bound = f(w, word!(worst), l).min(1.0) * QUIET;
        let descent = rho1 & (kind == pending::DESCENT) & (ell > 0.0);
        // descent_ratio(q, tol, dx2, ell) = 2 max(q - tol, 0) / dx2 / ell.
        let (excess, room) = (2.0 * (q - tol).max(0.0), bound * dx2 * ell);
        let descent_calm = (excess == 0.0) | ((excess <= room) & (room >= NORMAL));
        // sublevel_ratio(f1, anchor, f_star) = (f1 - f_star) / max(anchor - f_star, MIN_POSITIVE).
        let (above, span) = (f1 - f_star, (anchor - f_star).max(f32::MIN_POSITIVE));
        let (room, sub_room) = (bound * span, span >= NORMAL);
        let sublevel_calm = (above <= 0.0) | ((above <= room) & sub_room & (room >= NORMAL));
        let calm = (!rho1 | (c <= a * bound)) & (!descent | descent_calm) & (!sub | (sublevel_calm & !leaves_sublevel(f1, anchor)));
        let active = mask[l] & (kind != pending::NONE);
        quiet[l] = active & calm;
        loud[l] = active & !calm;
        curvature[l] = c;
        let n = u32::from(quiet[l]);
        w[word!(n_checked)][l] += n;
        w[word!(n_desc)][l] += n & u32::from(descent);
        w[word!(m_kind)][l] = if quiet[l] { pending::NONE } else { kind };
    }
    // The bins, per lane (a store per lane into one shared bin would wait on the one before).
    for l in 0..LANES {
        let at = bin((f(w, word!(m_f), l).max(f(w, word!(f), l)) - f_star).max(0.0));
        let b = &mut bins[at][l];
        *b = if quiet[l] { b.max(curvature[l]) } else { *b };
    }
    loud
}
