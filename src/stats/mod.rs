//! Statistics over escape times: plain sample summaries, the two-sample KS test, and survival
//! analysis of stall episodes with competing outcomes.
//!
//! A chain stalls (gradient norm below the threshold) and the stall episode ends in one
//! [`Outcome`]: escaped (the event of interest), converged (a second-order stationary point, so
//! not a saddle stall: counted but out of the risk set), diverged or precision limited (competing
//! causes that end the episode without an escape) or censored (still stalled at a non-SOSP point
//! when the budget ended). [`survival`] keeps per-label tables of outcomes by time and reads the
//! Kaplan-Meier curve of escape off them, the competing causes treated as censorings there;
//! [`competing`] gives the Aalen-Johansen cumulative incidence of escape and of each competing
//! cause, which, unlike 1 - KM, is a probability of the outcome in the presence of the others, and
//! a pooled Kaplan-Meier band clustered by chain, since one chain contributes several dependent
//! episodes. [`runtime`] reads the same tables in the benchmarking community's terms (COCO,
//! IOHprofiler): the success probability, ERT in its parts and the runtime ECDF.

pub mod competing;
pub mod runtime;
pub mod survival;

pub use competing::{Episode, Incidence, IncidencePoint, Outcome, clustered_kaplan_meier};
pub use runtime::{RunningTime, ecdf};
pub use survival::{Counts, Curve, Quantile, Reached, SurvivalSummary, SurvivalTables, TimeTable};

/// Summary of a sample of escape times (all None when the sample is empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Sample size.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median (linear interpolation between order statistics).
    pub median: Option<f64>,
    /// 10th percentile.
    pub p10: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
}

impl Summary {
    /// Summarizes `sample` (any order).
    pub fn of(sample: &[f64]) -> Self {
        let mut s: Vec<f64> = sample.iter().copied().filter(|v| v.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        Summary {
            n: s.len(),
            mean: (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64),
            median: quantile(&s, 0.5),
            p10: quantile(&s, 0.1),
            p90: quantile(&s, 0.9),
        }
    }
}

/// The p-quantile of an ascending sample, interpolating linearly between order statistics
/// (Hyndman and Fan type 7, the default of R and numpy). None for an empty sample.
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Two-sample Kolmogorov-Smirnov test: the statistic D = sup |F_a - F_b| and its asymptotic
/// p-value (Kolmogorov distribution with the Stephens small-sample correction).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 1.0);
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let v = a[i].min(b[j]);
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    let en = (na * nb / (na + nb)).sqrt();
    (d, kolmogorov_q((en + 0.12 + 0.11 / en) * d))
}

/// Q(lambda) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2): the Kolmogorov tail probability.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let term = (-2.0 * f64::from(j * j) * lambda * lambda).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&s, 0.5), Some(3.0));
        assert_eq!(quantile(&s, 0.1), Some(1.4));
        assert_eq!(quantile(&[], 0.5), None);
        let sum = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((sum.n, sum.mean, sum.median), (4, Some(2.5), Some(2.5)));
    }

    #[test]
    fn ks_separates_shifted_samples_and_accepts_equal_ones() {
        let a: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let shifted: Vec<f64> = a.iter().map(|v| v + 0.2).collect();
        let interleaved: Vec<f64> = a.iter().map(|v| v + 0.0005).collect();
        let (d, p) = ks_two_sample(&a, &shifted);
        // Float grid: the shift by 0.2 lands within one grid step of a point, so D is 0.2 or 0.201.
        assert!((0.2..=0.2011).contains(&d) && p < 1e-6, "D {d} p {p}");
        let (d, p) = ks_two_sample(&a, &interleaved);
        assert!(d <= 0.002 && p > 0.99, "D {d} p {p}");
        // Scipy's ks_2samp([1,2,3,4,5], [3,4,5,6,7,8]) gives D = 0.5.
        let (d, _) = ks_two_sample(&[1., 2., 3., 4., 5.], &[3., 4., 5., 6., 7., 8.]);
        assert!((d - 0.5).abs() < 1e-12);
    }
}
