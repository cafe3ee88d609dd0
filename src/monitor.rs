//! The self-bounding monitor: every step of every chain checks cheap consequences of the bounds
//! it steps under, with values the step already computes (docs/theory.md, "The monitor").
//!
//! A step from x_t (value f_t, gradient g_t) to x_{t+1} = x_t + Δx is checked when the next step
//! has evaluated f_{t+1}, through its secant curvature
//!
//! ```text
//! q = f_{t+1} - f_t - g_t·Δx            (= ½ Δxᵀ H Δx at a point of the segment)
//! c = 2 (|q| - τ) / |Δx|² if |q| > 4τ, else 0   (a lower estimate of |Δxᵀ H Δx| / |Δx|²)
//! τ = TOL_REL (|f_t| + |f_{t+1}| + |g_t·Δx| + √(max(|f_t|, |f_{t+1}|) |F|))   (16 f32 ulps, [`tolerance`])
//! ```
//!
//! against three conditions:
//! - **curvature** (every method): c <= rho1(max(f_t, f_{t+1})), the local bound at the larger
//!   of the two values (the segment's own values can exceed both; the tolerance covers the usual
//!   case, a violation located here is then to be read with that in mind);
//! - **descent** (exact gradient, no Gaussian perturbation: the step is -η(t)·s·g): the
//!   quadratic upper bound f_{t+1} <= f_t + g_t·Δx + ℓ/2 |Δx|², which for Δx = -ηg is
//!   f_t - η(1 - ηℓ/2)|g|², with ℓ the chain's assumed smoothness ([`ChainState::ell`]: rho1 at
//!   the anchor value of the self-bounding rule, rho1(f(x0)) under a fixed step);
//! - **sublevel** (self-bounding rule): f_{t+1} <= F, the anchor value F = f(x0) + margin the
//!   bounds were taken at; the margin is the kick's allowance.
//!
//! The ratio of a condition is the checked quantity over its bound (> 1: violated). The
//! kernel (`monitor_check` in shaders/monitor.wgsl) and the CPU twin ([`check`]) run the same
//! f32 arithmetic, so their counts agree exactly where the two paths step the same bits
//! (docs/theory.md says where they do not).
//!
//! The curvatures c also estimate rho1 along the run: their maximum per bin of
//! Df = max(max(f_t, f_{t+1}) - f*, 0), [`BINS`] bins a factor 2 wide ([`bin`]), kept per
//! dispatch on the device and merged by the host (a maximum: the same for every split).

use crate::escape::{ChainState, NEVER};

/// Curvature bins of the run's own rho1 estimate.
pub const BINS: usize = 32;

/// Bin k (0 < k < BINS - 1) holds Df in [2^(k - BIN_SHIFT), 2^(k + 1 - BIN_SHIFT)); bin 0 every
/// Df below 2^(1 - BIN_SHIFT) (0 included), bin BINS - 1 every Df from 2^(BINS - 1 - BIN_SHIFT).
pub const BIN_SHIFT: i32 = 16;

/// A secant q counts only when |q| > RESOLVED τ (a power of two: the product is exact).
pub const RESOLVED: f32 = 4.0;

/// The most halvings a chain takes in all (`--safeguard halve`): past 2^-64 a step moves
/// nothing in f32, and a bounded loop costs the same on the device.
pub const MAX_HALVINGS: u32 = 64;

/// Relative float tolerance τ of the checks (16 f32 ulps of the values involved).
pub const TOL_REL: f32 = 1.0 / 1_048_576.0;

/// The conditions, as bits of a violation mask (`v_kind`).
pub mod condition {
    /// The quadratic upper bound of an exact-gradient step.
    pub const DESCENT: u32 = 1;
    /// The secant curvature against rho1.
    pub const CURVATURE: u32 = 2;
    /// The sublevel invariant of the self-bounding rule.
    pub const SUBLEVEL: u32 = 4;
    /// Names, in bit order.
    pub const NAMES: [&str; 3] = ["descent", "curvature", "sublevel"];
}

/// Bits of `KernelParams::monitor`.
pub mod flags {
    /// The monitor is on.
    pub const ON: u32 = 1;
    /// `--safeguard halve`: a violated step too long for its curvature halves the step size.
    pub const HALVE: u32 = 2;
    /// A rho1 form is known (declared, fitted or given): curvature and descent are checked.
    pub const RHO1: u32 = 4;
    /// The self-bounding rule: the sublevel invariant is checked.
    pub const SUBLEVEL: u32 = 8;
}

/// What the last step left for its check (`m_kind`).
pub mod pending {
    /// Nothing (no step yet, the check done, or the step did not move the stored state).
    pub const NONE: u32 = 0;
    /// A step: curvature (and sublevel) are checked.
    pub const STEP: u32 = 1;
    /// An exact-gradient step without Gaussian perturbation: descent is checked too.
    pub const DESCENT: u32 = 2;
}

pub use crate::method::Safeguard;

/// The kernel's monitor flags ([`flags`]) for an experiment.
pub fn flags_of(exp: &crate::Experiment) -> u32 {
    if !exp.monitor {
        return 0;
    }
    let mut f = flags::ON;
    if exp.method.safeguard == Safeguard::Halve {
        f |= flags::HALVE;
    }
    if exp.declared_rho().is_some() {
        f |= flags::RHO1;
    }
    if matches!(exp.method.step_rule, crate::method::StepRule::SelfBounding(_)) {
        f |= flags::SUBLEVEL;
    }
    f
}

/// The float tolerance τ of a check (`anchor`: the chain's F, the scale its terms started at).
/// The rounding of f_t, f_{t+1} and g·Δx themselves (relative), and the evaluation noise of an
/// objective whose value is a sum of terms at the scale of F that cancel towards its minimum
/// (least squares: an error of ε √(f F), far above ε f as f → 0; without it a chain resting
/// near f = 0 reports f32 noise as curvature).
#[inline]
pub fn tolerance(f0: f32, f1: f32, gdx: f32, anchor: f32) -> f32 {
    // One root of the product. Past 3.4e38 it is infinite, and so is τ: a check at values
    // beyond 1.8e19 resolves nothing (IEEE on both paths, NaN included).
    TOL_REL * (f0.abs() + f1.abs() + gdx.abs() + (f0.abs().max(f1.abs()) * anchor.abs()).sqrt())
}

/// A step size after `k` safeguard halvings (exact in f32: a power of two).
pub fn halved(eta: f32, k: u32) -> f32 {
    eta * (-(k.min(149) as f32)).exp2()
}

/// The halvings that bring a product p = c eta to at most 1: the least k with p 2^-k <= 1,
/// from p's exponent bits (0 for p <= 1 or NaN). A closed form, not a loop, so that the
/// kernel's step loop holds no inner loop (lavapipe counts every loop iteration against its
/// limit); halving eta k times multiplies the product by 2^-k exactly while it is normal.
#[inline]
pub fn halvings_needed(p: f32) -> u32 {
    // NaN is not above 1: no halving.
    if p.partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) {
        return 0;
    }
    let bits = p.to_bits();
    ((bits >> 23) & 0xff) - 127 + u32::from(bits & 0x7f_ffff != 0)
}

/// The curvature bin of Df (a non-negative f32; NaN goes to bin 0), from its exponent bits so
/// that the kernel and the CPU agree at every power of two.
#[inline]
pub fn bin(df: f32) -> usize {
    // Branch-free, so that a pack's lanes compute it side by side.
    let k = ((((df.to_bits() >> 23) & 0xff) as i32 - 127 + BIN_SHIFT).clamp(0, BINS as i32 - 1)) as usize;
    if df > 0.0 { k } else { 0 }
}

/// The Df range [lo, hi) of bin k (lo = 0 for the first, hi = inf for the last).
pub fn bin_range(k: usize) -> (f64, f64) {
    let e = |k: usize| 2f64.powi(k as i32 - BIN_SHIFT);
    let lo = if k == 0 { 0.0 } else { e(k) };
    let hi = if k + 1 >= BINS { f64::INFINITY } else { e(k + 1) };
    (lo, hi)
}

/// The monitor's findings over the steps one stepper (or kernel dispatch) took: merged by the
/// host into the run's, by sum and maximum, so they do not depend on how the work was split.
#[derive(Clone, Debug, PartialEq)]
pub struct Tally {
    /// The largest curvature estimate per bin of Df (`crate::monitor::bin`).
    pub bins: [f32; BINS],
    /// Violations (each condition at each step once).
    pub violations: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally { bins: [0.0; BINS], violations: 0 }
    }
}

impl Tally {
    /// Adds what one check found.
    pub fn add(&mut self, c: &Checked) {
        let b = &mut self.bins[c.bin];
        *b = b.max(c.curvature);
        self.violations += u64::from(c.violated.count_ones());
    }

    /// Merges another tally into this one.
    pub fn merge(&mut self, other: &Tally) {
        merge_bins(&mut self.bins, &other.bins);
        self.violations += other.violations;
    }
}

/// What the check of one step found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Checked {
    /// Its curvature estimate c (>= 0).
    pub curvature: f32,
    /// Its bin.
    pub bin: usize,
    /// The conditions it violated ([`condition`] bits; 0: none).
    pub violated: u32,
}

/// The secant of a step from value `f0` to `f1` with g·Δx = `gdx`, |Δx|² = `dx2` (chain
/// anchor `anchor`): q, the tolerance τ and the curvature estimate c (module docs).
#[inline]
pub fn secant(f0: f32, f1: f32, gdx: f32, dx2: f32, anchor: f32) -> (f32, f32, f32) {
    let q = f1 - f0 - gdx;
    let tol = tolerance(f0, f1, gdx, anchor);
    // A secant within a few tolerances of 0 is not resolved: it says nothing about curvature
    // (rounding a little above τ, over a tiny step, would read as a huge one).
    (q, tol, if q.abs() > RESOLVED * tol { 2.0 * (q.abs() - tol) / dx2 } else { 0.0 })
}

/// The descent ratio of a step (q, τ, its curvature estimate c from [`secant`]) under assumed
/// smoothness `ell`: 2 (q - τ) / |Δx|² / ℓ where q > RESOLVED τ, else 0. Where q > 0 that
/// numerator is c to the bit, so the ratio is c / ℓ (a division fewer on both paths).
#[inline]
pub fn descent_ratio(q: f32, tol: f32, curvature: f32, ell: f32) -> f32 {
    if q > RESOLVED * tol { curvature / ell } else { 0.0 }
}

/// The sublevel ratio of a value `f1` against the anchor: (f1 - f*) / (F - f*).
#[inline]
pub fn sublevel_ratio(f1: f32, anchor: f32, f_star: f32) -> f32 {
    (f1 - f_star) / (anchor - f_star).max(f32::MIN_POSITIVE)
}

/// Whether `f1` leaves the sublevel set of the anchor, beyond the tolerance.
#[inline]
pub fn leaves_sublevel(f1: f32, anchor: f32) -> bool {
    f1 > anchor + TOL_REL * (anchor.abs() + f1.abs())
}

/// Checks the step that ended at the value now in `st.f` (its data left in `st` by the update
/// that took it, [`pending`]); t: the step being taken now (the checked one is t - 1).
/// `rho1`: the chain's rho1 form; `f_star`: f* of the bins and the sublevel ratio. None when
/// there was nothing to check. Updates the chain's counts, its first violation and its worst
/// ratio, and applies the safeguard. Twin of `monitor_check` in shaders/monitor.wgsl.
pub fn check(st: &mut ChainState, t: u32, flags: u32, rho1: impl Fn(f32) -> f32, f_star: f32) -> Option<Checked> {
    let kind = st.m_kind;
    if kind == pending::NONE {
        return None;
    }
    st.m_kind = pending::NONE;
    let (f0, f1) = (st.m_f, st.f);
    let (q, tol, curvature) = secant(f0, f1, st.m_gdx, st.m_dx2, st.f_anchor);
    let top = f0.max(f1);
    let bin = bin((top - f_star).max(0.0));
    st.n_checked += 1;
    let mut violated = 0;
    let mut worst: f32 = 0.0;
    if flags & flags::RHO1 != 0 {
        let ratio = curvature / rho1(top);
        worst = worst.max(ratio);
        if ratio > 1.0 {
            violated |= condition::CURVATURE;
            st.v_curv += 1;
        }
        if kind == pending::DESCENT && st.ell > 0.0 {
            st.n_desc += 1;
            let ratio = descent_ratio(q, tol, curvature, st.ell);
            worst = worst.max(ratio);
            if ratio > 1.0 {
                violated |= condition::DESCENT;
                st.v_desc += 1;
            }
        }
    }
    if flags & flags::SUBLEVEL != 0 {
        worst = worst.max(sublevel_ratio(f1, st.f_anchor, f_star));
        if leaves_sublevel(f1, st.f_anchor) {
            violated |= condition::SUBLEVEL;
            st.v_sub += 1;
        }
    }
    st.worst = st.worst.max(worst);
    if violated != 0 {
        if st.v_t == NEVER {
            (st.v_t, st.v_kind, st.v_f, st.v_ratio) = (t - 1, violated, f1, worst);
        }
        // The step was too long for the curvature it crossed when eta c > 1: it halves until
        // eta c <= 1, where the descent lemma gives f_{t+1} <= f_t - eta/2 |g|^2 whatever rho1
        // says. At or below it the violation is the bound's, not the step's, and the step stays
        // (halving then would only stall the chain). Halvings are exact in f32 (a power of two).
        if flags & flags::HALVE != 0 {
            let k = halvings_needed(curvature * st.eta).min(MAX_HALVINGS - st.halvings);
            st.eta = halved(st.eta, k);
            st.halvings += k;
        }
    }
    Some(Checked { curvature, bin, violated })
}

/// How a run stopped at a violation (`--on-violation stop`), in words, for both backends: the
/// read-back after step `t_end` of chains `lo..hi`, of the run's chains up to `end`.
pub fn stop_note(t_end: u32, lo: u32, hi: u32, end: u32) -> String {
    let later = if hi < end { format!("; chains {hi}..{end} not started") } else { String::new() };
    format!("the read-back after step {t_end} of chains {lo}..{hi}, the first after a violation{later}")
}

/// Violations of a chain so far (each condition violated at a step counts once).
pub fn violations(st: &ChainState) -> u64 {
    u64::from(st.v_desc) + u64::from(st.v_curv) + u64::from(st.v_sub)
}

/// The per-bin maxima of curvature a run collected, merged by maximum.
pub fn merge_bins(into: &mut [f32], from: &[f32]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.max(*b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_the_exponent_and_cover_every_value() {
        assert_eq!(bin(0.0), 0);
        assert_eq!(bin(f32::NAN), 0);
        assert_eq!(bin(1.0), BIN_SHIFT as usize);
        assert_eq!(bin(1.999), BIN_SHIFT as usize);
        assert_eq!(bin(2.0), BIN_SHIFT as usize + 1);
        assert_eq!(bin(0.5), BIN_SHIFT as usize - 1);
        assert_eq!(bin(1e30), BINS - 1);
        assert_eq!(bin(1e-30), 0);
        for k in 1..BINS - 1 {
            let (lo, hi) = bin_range(k);
            assert_eq!(bin(lo as f32), k);
            assert_eq!(bin((hi as f32).next_down()), k);
        }
    }

    fn stepped(f0: f32, f1: f32, gdx: f32, dx2: f32, kind: u32) -> ChainState {
        let mut st = ChainState::fresh();
        (st.m_f, st.f, st.m_gdx, st.m_dx2, st.m_kind) = (f0, f1, gdx, dx2, kind);
        st
    }

    #[test]
    fn a_quadratic_step_has_its_curvature_and_violates_only_below_it() {
        // f = x^2 (curvature 2): from x = 1 by dx = -0.25: f1 = 0.5625, g dx = -0.5, q = 0.0625.
        let mut st = stepped(1.0, 0.5625, -0.5, 0.0625, pending::DESCENT);
        st.ell = 2.5;
        let c = check(&mut st, 5, flags::ON | flags::RHO1, |_| 2.5, 0.0).unwrap();
        assert!((c.curvature - 2.0).abs() < 1e-4, "{}", c.curvature);
        assert_eq!((c.violated, st.n_checked, st.n_desc, st.v_t), (0, 1, 1, NEVER));
        assert!(check(&mut st, 6, flags::ON | flags::RHO1, |_| 2.5, 0.0).is_none(), "checked once");
        let mut st = stepped(1.0, 0.5625, -0.5, 0.0625, pending::DESCENT);
        (st.ell, st.eta) = (1.0, 1.0);
        let c = check(&mut st, 5, flags::ON | flags::RHO1 | flags::HALVE, |_| 1.5, 0.0).unwrap();
        assert_eq!(c.violated, condition::CURVATURE | condition::DESCENT);
        assert_eq!((st.v_t, st.v_curv, st.v_desc, st.halvings, st.eta), (4, 1, 1, 1, 0.5));
        // c = 2 against eta = 4: three halvings bring eta c down to 1.
        let mut st = stepped(1.0, 0.5625, -0.5, 0.0625, pending::DESCENT);
        (st.ell, st.eta) = (1.0, 4.0);
        check(&mut st, 5, flags::ON | flags::RHO1 | flags::HALVE, |_| 1.5, 0.0).unwrap();
        assert_eq!((st.halvings, st.eta), (3, 0.5));
        assert!((st.worst - 2.0).abs() < 1e-3);
        for (p, k) in [(1.0, 0), (f32::NAN, 0), (1.5, 1), (2.0, 1), (2.5, 2), (8.0, 3), (f32::INFINITY, 128)] {
            assert_eq!(halvings_needed(p), k, "{p}");
        }
        // A step short enough for the curvature it crossed (eta c <= 1) keeps its size.
        let mut st = stepped(1.0, 0.5625, -0.5, 0.0625, pending::DESCENT);
        (st.ell, st.eta) = (1.0, 0.5);
        let c = check(&mut st, 5, flags::ON | flags::RHO1 | flags::HALVE, |_| 1.5, 0.0).unwrap();
        assert_eq!((c.violated, st.halvings, st.eta), (condition::CURVATURE | condition::DESCENT, 0, 0.5));
    }

    #[test]
    fn rounding_noise_is_not_curvature_and_the_sublevel_set_holds_its_anchor() {
        // q within the tolerance: no curvature at all, however small the step.
        let mut st = stepped(1000.0, 1000.0, 0.0, 1e-12, pending::STEP);
        st.f_anchor = 1000.0;
        let c = check(&mut st, 1, flags::ON | flags::RHO1 | flags::SUBLEVEL, |_| 1.0, 0.0).unwrap();
        assert_eq!((c.curvature, c.violated), (0.0, 0));
        let mut st = stepped(1.0, 1.5, 0.0, 1.0, pending::STEP);
        st.f_anchor = 1.25;
        let c = check(&mut st, 1, flags::ON | flags::SUBLEVEL, |_| 1.0, 0.0).unwrap();
        assert_eq!(c.violated, condition::SUBLEVEL);
        assert_eq!(st.n_desc, 0);
    }
}
