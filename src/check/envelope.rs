//! The empirical self-bounding envelope rho1_hat(F) = max ||Hess f(x)|| over sampled points with
//! f(x) <= F, a closed-form fit a + b max(F - fmin, 0)^p, and a verdict.
//!
//! Points come from descents (gradient descent with Armijo backtracking, stable whatever the
//! local smoothness) started at several scales, plus any visited points the caller adds (e.g. a
//! run's trace). Self-bounding means the Hessian is bounded on every sublevel set; the verdict
//! looks at a low sublevel set {f <= F0} and asks whether max ||Hess|| there keeps growing as the
//! descents start farther out. Where it does (degenerate valleys, rescaling symmetries), the
//! Hessian grows while f stays bounded: not self-bounding, and the points are the evidence.

use super::hessian::{CpuProducts, Interruptible, Products};
use crate::method::Rho;
use crate::objective::Objective;
use crate::{Error, rng};
use std::sync::atomic::{AtomicBool, Ordering};

/// A sampled point.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sample {
    /// f(x).
    pub f: f64,
    /// ||Hess f(x)||.
    pub hess: f64,
    /// ||x||.
    pub norm: f64,
    /// Scale the descent started from (0 for points the caller added).
    pub scale: f64,
    /// The point.
    pub x: Vec<f64>,
}

/// Descent start scales: ||x0|| = 0.1, 0.3, 1, ..., 1000.
pub const SCALES: [f64; 9] = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0];

/// Points along Armijo-backtracking descents from `starts` random directions at each scale
/// (recorded at steps 0, 1, 2, 4, 8, ... and at the end of `steps`). Raising `stop` (SIGINT)
/// ends it with [`Error::Stopped`] within one descent step.
pub fn descent_points(obj: &dyn Objective, starts: u32, steps: u32, seed: u64, stop: Option<&AtomicBool>) -> Result<Vec<(f64, Vec<f64>)>, Error> {
    let d = obj.dim();
    let mut out = Vec::new();
    let mut g = vec![0.0; d];
    let mut gt = vec![0.0; d];
    for (si, &scale) in SCALES.iter().enumerate() {
        for k in 0..starts {
            let mut x = rng::data_normals(seed, (si as u32) * 100_000 + k, d);
            let n = x.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
            x.iter_mut().for_each(|v| *v *= scale / n);
            let mut e = obj.eval_f64(&x, &mut g);
            let mut eta = 1.0;
            for t in 0..=steps {
                if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                    return Err(stopped());
                }
                if !e.in_domain || !e.value.is_finite() {
                    break;
                }
                if t.is_power_of_two() || t == 0 || t == steps {
                    out.push((scale, x.clone()));
                }
                let gn2: f64 = g.iter().map(|v| v * v).sum();
                if gn2 == 0.0 || !gn2.is_finite() {
                    break;
                }
                // Armijo: halve until f drops by at least eta ||g||^2 / 2; then try growing.
                eta *= 2.0;
                let mut accepted = false;
                for _ in 0..200 {
                    let trial: Vec<f64> = x.iter().zip(&g).map(|(a, b)| a - eta * b).collect();
                    let et = obj.eval_f64(&trial, &mut gt);
                    if et.in_domain && et.value.is_finite() && et.value <= e.value - 0.5 * eta * gn2 {
                        x = trial;
                        e = et;
                        std::mem::swap(&mut g, &mut gt);
                        accepted = true;
                        break;
                    }
                    eta *= 0.5;
                }
                if !accepted {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The error of a check stopped by SIGINT/SIGTERM.
pub(crate) fn stopped() -> Error {
    Error::Stopped("the self-bounding check stopped before its verdict; nothing was written".into())
}

/// Evaluates f and ||Hess f|| at the points (CPU, f64). Raising `stop` (SIGINT) ends it with
/// [`Error::Stopped`] within one batch of Hessian products.
pub fn samples(obj: &dyn Objective, points: &[(f64, Vec<f64>)], seed: u64, stop: Option<&AtomicBool>) -> Result<Vec<Sample>, Error> {
    let flat: Vec<f64> = points.iter().flat_map(|(_, x)| x.iter().copied()).collect();
    let products = Interruptible { inner: &CpuProducts(obj), stop };
    let spectra = products.spectra(&flat, seed).map_err(|e| if matches!(e, Error::Interrupted(_)) { stopped() } else { e })?;
    let mut g = vec![0.0; obj.dim()];
    Ok(points
        .iter()
        .zip(spectra)
        .map(|((scale, x), s)| Sample {
            f: obj.eval_f64(x, &mut g).value,
            hess: s.norm(),
            norm: x.iter().map(|v| v * v).sum::<f64>().sqrt(),
            scale: *scale,
            x: x.clone(),
        })
        .filter(|s| s.f.is_finite() && s.hess.is_finite())
        .collect())
}

/// The monotone envelope: (F, max ||Hess|| over samples with f <= F), at every sample's F.
pub fn envelope(samples: &[Sample]) -> Vec<(f64, f64)> {
    let mut s: Vec<(f64, f64)> = samples.iter().map(|p| (p.f, p.hess)).collect();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best = 0.0f64;
    s.into_iter()
        .map(|(f, h)| {
            best = best.max(h);
            (f, best)
        })
        .collect()
}

/// The tightest a + b max(F - fmin, 0)^p above the envelope, p from a grid, scored by the mean
/// log gap between fit and envelope.
pub fn fit(env: &[(f64, f64)], fmin: f64) -> Option<Rho> {
    let a = env.first()?.1;
    let mut best: Option<(f64, Rho)> = None;
    for p in [0.25, 0.5, 0.75, 1.0, 1.5, 2.0] {
        let b = env
            .iter()
            .filter(|(f, _)| *f > fmin)
            .map(|(f, h)| (h - a).max(0.0) / (f - fmin).powf(p))
            .fold(0.0f64, f64::max);
        let rho = Rho { a, b, p, fmin };
        let score = env.iter().map(|(f, h)| (rho.eval(*f) / h.max(1e-300)).ln()).sum::<f64>() / env.len() as f64;
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, rho));
        }
    }
    best.map(|(_, r)| r)
}

/// The checker's conclusion.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    /// Self-bounding (with `fitted`) or not (with `evidence`).
    pub self_bounding: bool,
    /// The sublevel set {f <= level} examined for growth.
    pub level: f64,
    /// max ||Hess|| on {f <= level} for descents from each scale (scale, max), scales with points
    /// there only.
    pub growth: Vec<(f64, f64)>,
    /// The fitted rho1 (self-bounding only).
    pub fitted: Option<Rho>,
    /// Largest ||Hess f(x)|| / rho1_declared(f(x)) over the samples, when a rho1 is declared.
    pub declared_worst_ratio: Option<f64>,
    /// Points on {f <= level} with the largest Hessians (not self-bounding only).
    pub evidence: Vec<Sample>,
    /// Samples examined.
    pub samples: usize,
}

/// Whether two samples are one point (to a millionth of its norm).
fn same_point(a: &Sample, b: &Sample) -> bool {
    let dist = a.x.iter().zip(&b.x).map(|(p, q)| (p - q) * (p - q)).sum::<f64>().sqrt();
    dist <= 1e-6 * a.norm.max(b.norm).max(1.0)
}

/// Decides from the samples: on the sublevel set {f <= level}, where level is the lowest value
/// that descents from every start scale reached (so every scale has points there), take the
/// largest Hessian seen from descents of each scale. Not self-bounding when it grows more than
/// tenfold from the smallest scale to a scale >= 30: the Hessian grows while f stays bounded.
pub fn verdict(samples: &[Sample], fmin: Option<f64>, declared: Option<&Rho>) -> Verdict {
    let mut fs: Vec<f64> = samples.iter().map(|s| s.f).collect();
    fs.sort_by(f64::total_cmp);
    let level = SCALES
        .iter()
        .map(|&sc| samples.iter().filter(|s| s.scale == sc).map(|s| s.f).fold(f64::INFINITY, f64::min))
        .filter(|f| f.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let level = if level.is_finite() { level } else { fs.get(fs.len() * 3 / 10).copied().unwrap_or(0.0) };
    let low: Vec<&Sample> = samples.iter().filter(|s| s.f <= level).collect();
    let growth: Vec<(f64, f64)> = SCALES
        .iter()
        .filter_map(|&sc| {
            let m = low.iter().filter(|s| s.scale == sc).map(|s| s.hess).fold(f64::NAN, f64::max);
            m.is_finite().then_some((sc, m))
        })
        .collect();
    let first = growth.first().map_or(0.0, |g| g.1);
    let far = growth.iter().filter(|(s, _)| *s >= 30.0).map(|g| g.1).fold(0.0f64, f64::max);
    let self_bounding = !(first > 0.0 && far > 10.0 * first);
    let env = envelope(samples);
    let fmin = fmin.unwrap_or_else(|| fs.first().copied().unwrap_or(0.0));
    // Distinct points only: descents from several starts, or the recorded steps of one that
    // stopped moving, reach the same point, and it is one piece of evidence however often seen.
    let mut strongest: Vec<&Sample> = low.clone();
    strongest.sort_by(|a, b| b.hess.total_cmp(&a.hess));
    let mut evidence: Vec<Sample> = Vec::new();
    for s in strongest.into_iter().filter(|_| !self_bounding) {
        if evidence.len() == 5 {
            break;
        }
        if !evidence.iter().any(|e| same_point(e, s)) {
            evidence.push(s.clone());
        }
    }
    Verdict {
        self_bounding,
        level,
        growth,
        fitted: if self_bounding { fit(&env, fmin) } else { None },
        declared_worst_ratio: declared.map(|r| samples.iter().map(|s| s.hess / r.eval(s.f).max(1e-300)).fold(0.0, f64::max)),
        evidence,
        samples: samples.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_lies_above_the_envelope() {
        let env: Vec<(f64, f64)> = (0..50).map(|k| (f64::from(k) * 0.5, 1.0 + 6.0 * (f64::from(k) * 0.5).sqrt())).collect();
        let r = fit(&env, 0.0).unwrap();
        assert_eq!(r.p, 0.5);
        assert!((r.a - 1.0).abs() < 1e-12 && (r.b - 6.0).abs() < 1e-9, "{r:?}");
        for (f, h) in env {
            assert!(r.eval(f) >= h - 1e-9);
        }
    }
}
