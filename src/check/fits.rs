//! rho1 and rho2 fitted from visited points with a stated coverage, written into check.json and
//! read back by `escapade run --rho-from` (docs/theory.md, "Fitted forms").
//!
//! Each form is the tightest a + b max(F - fmin, 0)^p above the upper envelope of a random
//! training share of the samples, then scaled up until a stated fraction of the held-out samples
//! lies under it; the fraction reached is reported. rho1's samples are ||Hess f(x)|| at the
//! visited points; rho2's are directional Hessian-Lipschitz quotients
//! ||Hess f(x + delta u) - Hess f(x)|| / delta along random unit directions u.

use super::envelope::{Sample, envelope, fit, stopped};
use super::hessian::{CpuProducts, Interruptible, Products};
use crate::method::Rho;
use crate::objective::Objective;
use crate::{Error, rng};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// check.json's schema version. 1 (no `schema_version` key) had the verdict only; 2 adds the
/// `fits` block and the objective's digests, which `--rho-from` needs.
pub const CHECK_SCHEMA_VERSION: u64 = 2;

/// The default fraction of held-out samples a fit must cover.
pub const DEFAULT_COVERAGE: f64 = 0.99;

/// One sample in this many is held out of the envelope and used to measure coverage.
pub const HOLD_OUT_EVERY: usize = 5;

/// The offset of rho2's pairs relative to the point's scale: delta = DELTA (1 + ||x||). Small
/// enough that the quotient is the local (directional third-derivative) constant, large enough
/// that the products' rounding (relative ~1e-10 for central differences) stays far below it.
pub const DELTA: f64 = 1e-3;

/// Random unit directions per point for rho2's quotients.
pub const DIRECTIONS: u32 = 2;

/// The smallest constant term a fit gets: a form that is 0 everywhere (a quadratic's rho2)
/// would make the step rule's sqrt(rho eps) vanish.
const A_FLOOR: f64 = 1e-9;

/// How a form was fitted, for check.json's readers.
pub const METHOD: &str = "upper envelope of a random 4/5 training share of the samples (the tightest a + b max(F - fmin, 0)^p above the running maximum, a = its value at the lowest F, b the smallest that covers, p in {0.25, 0.5, 0.75, 1, 1.5, 2} by the least mean log gap), then a and b scaled by the smallest factor >= 1 under which the target fraction of the held-out 1/5 lies at or below the form";

/// rho1's estimator, in words.
pub const RHO1_ESTIMATOR: &str = "||Hess f(x)||_op by Lanczos over f64 Hessian-vector products at each visited point, at F = f(x)";

/// rho2's estimator, in words.
pub const RHO2_ESTIMATOR: &str = "||Hess f(x + delta u) - Hess f(x)||_op / delta by Lanczos over the difference of f64 Hessian-vector products, delta = 1e-3 (1 + ||x||), 2 random unit directions u per visited point, at F = max(f(x), f(x + delta u))";

/// A fitted form with its coverage.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fit {
    /// The form, coverage inflation included.
    pub rho: Rho,
    /// The estimator of the samples, in words.
    pub estimator: String,
    /// The fitting method, in words.
    pub method: String,
    /// The fraction of held-out samples the form was required to cover.
    pub target: f64,
    /// The fraction of held-out samples it covers (>= `target`).
    pub coverage: f64,
    /// Held-out samples.
    pub held_out: usize,
    /// Training samples (the envelope's).
    pub training: usize,
    /// The factor the training fit's a and b were scaled by (1: it covered already).
    pub inflation: f64,
    /// The range of F the samples span: the form is measured there only.
    pub f_range: [f64; 2],
}

/// Both fitted forms.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fits {
    /// ||Hess f|| <= rho1(f).
    pub rho1: Fit,
    /// The local Hessian-Lipschitz constant <= rho2(f).
    pub rho2: Fit,
}

/// Fits a + b max(F - fmin, 0)^p to samples (F, y) so that at least `target` of a held-out
/// fifth of them (chosen by `seed`) lies at or below it. None with fewer than two samples or
/// none finite.
pub fn fit_covering(samples: &[(f64, f64)], fmin: f64, target: f64, seed: u64) -> Option<Fit> {
    let samples: Vec<(f64, f64)> = samples.iter().copied().filter(|(f, y)| f.is_finite() && y.is_finite()).collect();
    if samples.len() < 2 {
        return None;
    }
    let (order, held) = (permutation(samples.len(), seed), held_out_count(samples.len()));
    let pick = |idx: &[usize]| -> Vec<(f64, f64)> { idx.iter().map(|&i| samples[i]).collect() };
    let (held_out, training) = (pick(&order[..held]), pick(&order[held..]));
    let as_samples = |s: &[(f64, f64)]| -> Vec<Sample> { s.iter().map(|&(f, hess)| Sample { f, hess, norm: 0.0, scale: 0.0, x: Vec::new() }).collect() };
    let mut rho = fit(&envelope(&as_samples(&training)), fmin)?;
    rho.a = rho.a.max(A_FLOOR);
    // The factor each held-out sample needs, the `target` quantile of them, and a relative
    // 1e-9 more so that rounding in a + b t never puts the deciding sample back outside.
    let mut need: Vec<f64> = held_out.iter().map(|&(f, y)| y / rho.eval(f)).collect();
    need.sort_by(f64::total_cmp);
    let k = ((target * need.len() as f64).ceil() as usize).clamp(1, need.len());
    let inflation = if need[k - 1] > 1.0 { need[k - 1] * (1.0 + 1e-9) } else { 1.0 };
    rho.a *= inflation;
    rho.b *= inflation;
    let covered = held_out.iter().filter(|&&(f, y)| y <= rho.eval(f)).count();
    let (lo, hi) = samples.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (f, _)| (lo.min(*f), hi.max(*f)));
    Some(Fit {
        rho,
        estimator: String::new(),
        method: METHOD.into(),
        target,
        coverage: covered as f64 / held_out.len() as f64,
        held_out: held_out.len(),
        training: training.len(),
        inflation,
        f_range: [lo, hi],
    })
}

/// A permutation of 0..n drawn from `seed`: its first [`held_out_count`] indices are the
/// held-out samples of [`fit_covering`].
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let keys = rng::data_normals(seed ^ 0xf175, 0, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| keys[i].total_cmp(&keys[j]));
    order
}

/// Held-out samples of n: one in [`HOLD_OUT_EVERY`], at least one, and at least one left to fit.
pub fn held_out_count(n: usize) -> usize {
    n.div_ceil(HOLD_OUT_EVERY).min(n.saturating_sub(1))
}

/// ||G(a_i) - G(b_i)|| for pairs of points (both m x d, row-major).
pub type PairNorms<'a> = dyn FnMut(&[f64], &[f64]) -> Result<Vec<f64>, Error> + 'a;

/// One directional quotient: the point's index, the offset point x + delta u, and
/// ||G(x + delta u) - G(x)|| / delta.
pub type Quotient = (usize, Vec<f64>, f64);

/// Directional Lipschitz quotients of a map G at `points` (n x d, row-major): for each point x
/// and [`DIRECTIONS`] random unit directions u (drawn from `seed`), the pair (x, x + delta u)
/// with delta = [`DELTA`] (1 + ||x||). `diff` returns ||G(a_i) - G(b_i)|| for the pairs (both
/// m x d); the result is, per pair, (the point's index, x + delta u, the quotient over delta).
/// rho2 uses G = Hess f; the known-answer test uses G = f.
pub fn directional_quotients(points: &[f64], d: usize, seed: u64, diff: &mut PairNorms<'_>) -> Result<Vec<Quotient>, Error> {
    let n = points.len() / d.max(1);
    let (mut a, mut b, mut meta) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let x = &points[i * d..(i + 1) * d];
        let delta = DELTA * (1.0 + x.iter().map(|v| v * v).sum::<f64>().sqrt());
        for k in 0..DIRECTIONS {
            let u = rng::data_normals(seed ^ 0x2d1f, i as u32 * DIRECTIONS + k, d);
            let un = u.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
            let y: Vec<f64> = x.iter().zip(&u).map(|(p, q)| p + delta * q / un).collect();
            a.extend_from_slice(x);
            b.extend_from_slice(&y);
            meta.push((i, y, delta));
        }
    }
    if meta.is_empty() {
        return Ok(Vec::new());
    }
    let norms = diff(&a, &b)?;
    Ok(meta.into_iter().zip(norms).map(|((i, y, delta), n)| (i, y, n / delta)).collect())
}

/// rho2's samples (F, quotient) at the points of `samples` (duplicates once), from f64 products;
/// raising `stop` ends it with [`Error::Stopped`] within a batch of products.
pub fn lipschitz_samples(obj: &dyn Objective, samples: &[Sample], seed: u64, stop: Option<&AtomicBool>) -> Result<Vec<(f64, f64)>, Error> {
    let d = obj.dim();
    let distinct = distinct(samples);
    let points: Vec<f64> = distinct.iter().flat_map(|s| s.x.iter().copied()).collect();
    let products = Interruptible { inner: &CpuProducts(obj), stop };
    let quotients = directional_quotients(&points, d, seed, &mut |a, b| products.difference_norms(a, b, seed ^ 0x5eed))
        .map_err(|e| if matches!(e, Error::Interrupted(_)) { stopped() } else { e })?;
    let mut g = vec![0.0; d];
    Ok(quotients
        .into_iter()
        .map(|(i, y, q)| {
            let e = obj.eval_f64(&y, &mut g);
            let f = if e.in_domain { e.value } else { f64::NAN };
            (distinct[i].f.max(f), q)
        })
        .filter(|(f, q)| f.is_finite() && q.is_finite())
        .collect())
}

/// The samples at distinct points (a descent that stopped moving records its point again).
pub fn distinct(samples: &[Sample]) -> Vec<&Sample> {
    let mut seen = std::collections::HashSet::new();
    samples.iter().filter(|s| seen.insert(s.x.iter().map(|v| v.to_bits()).collect::<Vec<u64>>())).collect()
}

/// Fits rho1 and rho2 from the samples (at distinct points) with the stated coverage.
/// `more_rho1`: further (F, curvature) samples of rho1 alone, e.g. a run's monitor bins.
pub fn fit_both(obj: &dyn Objective, samples: &[Sample], more_rho1: &[(f64, f64)], fmin: f64, target: f64, seed: u64, stop: Option<&AtomicBool>) -> Result<Option<Fits>, Error> {
    if !(target > 0.0 && target <= 1.0) {
        return Err(Error::invalid("coverage", "a fraction in (0, 1]", target));
    }
    let mut hess: Vec<(f64, f64)> = distinct(samples).iter().map(|s| (s.f, s.hess)).collect();
    hess.extend_from_slice(more_rho1);
    let lip = lipschitz_samples(obj, samples, seed, stop)?;
    let with = |fit: Option<Fit>, estimator: &str| fit.map(|f| Fit { estimator: estimator.into(), ..f });
    Ok(with(fit_covering(&hess, fmin, target, seed), RHO1_ESTIMATOR).zip(with(fit_covering(&lip, fmin, target, seed ^ 1), RHO2_ESTIMATOR)).map(|(rho1, rho2)| Fits { rho1, rho2 }))
}

/// What identifies the objective in check.json: name, dimension, parameters and the SHA-256 of
/// its WGSL source and data (so a check of other data, e.g. another --data-seed, is refused).
pub fn identity(obj: &dyn Objective) -> serde_json::Value {
    serde_json::json!({
        "objective": obj.name(),
        "dim": obj.dim(),
        "params": obj.params(),
        "source_sha256": crate::checkpoint::sha256(obj.device().wgsl().as_bytes()),
        "data_sha256": crate::checkpoint::sha256(bytemuck::cast_slice(&obj.device().data())),
    })
}

/// rho1 and rho2 read from a check.json for `obj`, with where they came from in words.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedRho {
    /// rho1.
    pub rho1: Rho,
    /// rho2.
    pub rho2: Rho,
    /// "fitted: PATH (rho1 coverage C on N held-out points, rho2 coverage ...)".
    pub source: String,
}

/// Reads the fits of `path` (a check.json) for `obj`, refusing, in one line naming the file, a
/// missing or unreadable file, another schema, another objective (name, dimension, parameters,
/// source or data), no fits, and fitted parameters that are not finite or not a valid form.
pub fn load(path: &Path, obj: &dyn Objective) -> Result<FittedRho, Error> {
    let shown = path.display();
    let bad = |what: String| Error::invalid("rho-from", "a check.json written by `escapade check` (schema 2) for the run's objective", format!("{shown}: {what}"));
    let bytes = crate::error::read_regular(path).map_err(|e| match e {
        Error::Io { source, .. } => bad(format!("cannot be read ({source})")),
        Error::InvalidInput { got, .. } => bad(format!("not a regular file ({got})")),
        other => other,
    })?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    match json.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(CHECK_SCHEMA_VERSION) => {}
        Some(v) => return Err(bad(format!("schema_version {v}, this escapade reads {CHECK_SCHEMA_VERSION} (rerun escapade check)"))),
        None => return Err(bad("an older schema without fits (rerun escapade check)".into())),
    }
    let ours = identity(obj);
    let theirs = format!("a check of {} with d = {}", json["objective"].as_str().unwrap_or("?"), json["dim"]);
    if !same(&json["objective"], &ours["objective"]) || !same(&json["dim"], &ours["dim"]) {
        return Err(bad(format!("{theirs}, not of the run's {} with d = {}", obj.name(), obj.dim())));
    }
    if !same(&json["params"], &ours["params"]) {
        return Err(bad(format!("{theirs} and parameters {}, not the run's {}", json["params"], ours["params"])));
    }
    for (key, what) in [("source_sha256", "source"), ("data_sha256", "data")] {
        if !same(&json[key], &ours[key]) {
            return Err(bad(format!("{theirs} on other {what} than the run's ({key} differs)")));
        }
    }
    let fits = &json["fits"];
    if fits.is_null() {
        return Err(bad("no fits (its verdict is not self-bounding)".into()));
    }
    let form = |name: &str| -> Result<(Rho, String), Error> {
        let r = &fits[name]["rho"];
        let mut v = [0.0; 4];
        for (slot, key) in v.iter_mut().zip(["a", "b", "p", "fmin"]) {
            *slot = r[key].as_f64().filter(|x| x.is_finite()).ok_or_else(|| bad(format!("fits.{name}.rho.{key} is {}, not a finite number", r[key])))?;
        }
        let rho = Rho { a: v[0], b: v[1], p: v[2], fmin: v[3] };
        rho.validate(name).map_err(|e| bad(format!("fits.{name}: {e}")))?;
        let (c, n) = (fits[name]["coverage"].as_f64().unwrap_or(f64::NAN), fits[name]["held_out"].as_u64().unwrap_or(0));
        Ok((rho, format!("{name} coverage {c:.4} on {n} held-out points")))
    };
    let ((rho1, c1), (rho2, c2)) = (form("rho1")?, form("rho2")?);
    Ok(FittedRho { rho1, rho2, source: format!("fitted: {shown} ({c1}, {c2})") })
}

/// JSON values equal, numbers to a relative 1e-12 (a float read back may differ in its last bit).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer: f(x) = x - x^3/3 on [-1, 1] has Lipschitz constant max |f'| = |f'(0)| = 1;
    /// the quotients of f's differences must recover it to 1e-3.
    #[test]
    fn quotients_recover_a_known_lipschitz_constant() {
        let f = |x: f64| x - x * x * x / 3.0;
        let points: Vec<f64> = (0..=2000).map(|k| -1.0 + f64::from(k) * 1e-3).collect();
        let q = directional_quotients(&points, 1, 7, &mut |a, b| Ok(a.iter().zip(b).map(|(x, y)| (f(*x) - f(*y)).abs()).collect())).unwrap();
        assert_eq!(q.len(), 2001 * DIRECTIONS as usize);
        let top = q.iter().map(|t| t.2).fold(0.0, f64::max);
        assert!((top - 1.0).abs() < 1e-3, "{top}");
        // Every quotient is a lower bound of the constant, up to the pair leaving [-1, 1].
        assert!(q.iter().all(|t| t.2 <= 1.0 + 1e-12 || t.1[0].abs() > 1.0));
        // The envelope's top over the same samples is that constant.
        let env = envelope(&q.iter().map(|t| Sample { f: points[t.0], hess: t.2, norm: 0.0, scale: 0.0, x: Vec::new() }).collect::<Vec<_>>());
        assert!((env.last().unwrap().1 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn coverage_is_met_on_the_held_out_samples() {
        // Noisy samples under 1 + 3 sqrt(F) with growing spikes above it: the training envelope
        // alone misses some held-out points; the inflated form covers the target fraction.
        let s: Vec<(f64, f64)> = (0..500)
            .map(|k| {
                let f = f64::from(k) * 0.01;
                let u = rng::data_normals(3, k, 1)[0].abs().min(3.0) / 3.0;
                // Every 25th sample a spike, higher the farther out.
                let spike = if k % 25 == 0 { 2.0 + f64::from(k) / 50.0 } else { 1.0 };
                (f, (1.0 + 3.0 * f.sqrt()) * (0.5 + 0.5 * u) * spike)
            })
            .collect();
        for target in [0.9, 0.99, 1.0] {
            let fit = fit_covering(&s, 0.0, target, 11).unwrap();
            assert_eq!(fit.held_out, 100);
            assert_eq!(fit.training, 400);
            assert!(fit.coverage >= target, "{fit:?}");
            // Recomputed from the held-out samples themselves.
            let order = permutation(s.len(), 11);
            let covered = order[..100].iter().filter(|&&i| s[i].1 <= fit.rho.eval(s[i].0)).count();
            assert_eq!(covered as f64 / 100.0, fit.coverage);
            assert!(fit.inflation >= 1.0 && fit.rho.validate("rho1").is_ok());
        }
        // The training envelope alone misses held-out points here: the inflation is exercised.
        assert!(fit_covering(&s, 0.0, 1.0, 11).unwrap().inflation > 1.0);
        // A stricter target never gives a lower form.
        let (lo, hi) = (fit_covering(&s, 0.0, 0.5, 11).unwrap(), fit_covering(&s, 0.0, 1.0, 11).unwrap());
        assert!(hi.rho.eval(2.0) >= lo.rho.eval(2.0));
    }

    #[test]
    fn too_few_samples_give_no_fit() {
        assert!(fit_covering(&[(1.0, 1.0)], 0.0, 0.99, 0).is_none());
        assert!(fit_covering(&[(1.0, f64::NAN), (2.0, 1.0)], 0.0, 0.99, 0).is_none());
    }
}
