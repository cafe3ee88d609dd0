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
use crate::monitor::{RESOLVED, bin, flags, leaves_sublevel, pending, secant};
use crate::objective::LANES;

/// The curvature bins of a pack's quiet checks, per lane (`bins[k][l]`), folded into a
/// [`Tally`] by [`fold`]. A lane's checks mostly fall in the bin of its last one (f moves by
/// little in a step), so each lane keeps a running maximum for that bin (`at`, `max`) and
/// writes it into `bins` only when it moves to another: the common case stays a vector
/// maximum, not a store per lane into a bin chosen lane by lane (measured: that loop was most
/// of the monitor's time on the toy saddle). Maxima in any order give the same bins.
#[derive(Clone, Debug)]
pub struct LaneBins {
    bins: [[f32; LANES]; crate::monitor::BINS],
    at: [u32; LANES],
    max: [f32; LANES],
}

impl Default for LaneBins {
    fn default() -> Self {
        LaneBins { bins: [[0.0; LANES]; crate::monitor::BINS], at: [0; LANES], max: [0.0; LANES] }
    }
}

/// Folds a pack's lane bins into `tally` (and clears them).
pub fn fold(bins: &mut LaneBins, tally: &mut Tally) {
    for l in 0..LANES {
        let b = &mut bins.bins[bins.at[l] as usize][l];
        *b = b.max(bins.max[l]);
    }
    for (t, row) in tally.bins.iter_mut().zip(bins.bins.iter()) {
        *t = row.iter().fold(*t, |m, &c| m.max(c));
    }
    *bins = LaneBins::default();
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
    let mut curvature_at = [0u32; LANES];
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
        // descent_ratio(q, tol, dx2, ell) = 2 (q - tol) / dx2 / ell where q > RESOLVED tol, else 0.
        let (excess, room) = (if q > RESOLVED * tol { 2.0 * (q - tol) } else { 0.0 }, bound * dx2 * ell);
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
    // The bins: a running maximum per lane while its bin stays (`LaneBins`).
    let mut moved = [false; LANES];
    for l in 0..LANES {
        let at = bin((f(w, word!(m_f), l).max(f(w, word!(f), l)) - f_star).max(0.0)) as u32;
        let same = at == bins.at[l];
        bins.max[l] = if quiet[l] & same { bins.max[l].max(curvature[l]) } else { bins.max[l] };
        moved[l] = quiet[l] & !same;
        curvature_at[l] = at;
    }
    for l in (0..LANES).filter(|&l| moved[l]) {
        let b = &mut bins.bins[bins.at[l] as usize][l];
        *b = b.max(bins.max[l]);
        (bins.at[l], bins.max[l]) = (curvature_at[l], curvature[l].max(0.0));
    }
    loud
}
