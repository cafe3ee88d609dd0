//! What a run checks on the host after stepping: second-order certification of the chains'
//! final points, and the self-bounding conditions at the points the sampled chains visited.

use super::hessian::Products;
use crate::Error;
use crate::method::Rho;
use crate::objective::Objective;
use crate::stats::Summary;

/// Second-order stationarity of resting points: ||grad f|| <= eps and lambda_min(Hess f) >=
/// -tolerance, with eps and the tolerance given per chain (see `crate::outcome::SospRule`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Certification {
    /// The rule in words.
    pub rule: String,
    /// Points examined (diverged chains are skipped).
    pub checked: usize,
    /// Points that are second-order stationary.
    pub sosp: usize,
    /// Points where Lanczos did not reach its residual tolerance: lambda_min is not trusted and
    /// the point is not counted as second-order stationary.
    pub unconverged: usize,
    /// Distribution of lambda_min over the examined points.
    pub lambda_min: Summary,
    /// Largest Lanczos residual ||H y - lambda_min y|| over the examined points: lambda_min is
    /// accurate to about this much.
    pub lambda_min_residual_max: f64,
    /// Per chain: lambda_min (NaN when not examined).
    #[serde(skip)]
    pub per_chain_lambda_min: Vec<f64>,
    /// Per chain: the Lanczos residual of lambda_min (NaN when not examined).
    #[serde(skip)]
    pub per_chain_residual: Vec<f64>,
    /// Per chain: whether the point is second-order stationary (false when not examined).
    #[serde(skip)]
    pub per_chain_sosp: Vec<bool>,
}

/// The most memory the Lanczos working sets of one batch of judged chains may take.
pub const JUDGE_BYTES: u64 = 256 << 20;

/// The working set of judging one chain at dimension `d`, in bytes: its Lanczos basis (up to d
/// vectors of d f64), the batched product vectors, the tridiagonal matrix.
pub fn judge_bytes(d: usize) -> u64 {
    // Saturating: the memory estimate asks for any d, up to sizes beyond u64.
    let d = d as u64;
    8u64.saturating_mul(d).saturating_mul(d).saturating_add(48u64.saturating_mul(d)).saturating_add(200)
}

/// Chains judged at once at dimension `d` (see [`JUDGE_BYTES`]).
pub fn judge_batch(d: usize) -> usize {
    (JUDGE_BYTES / judge_bytes(d)).max(1) as usize
}

/// Tests the chains in `which` (of `n_all`) at their resting points `points` (one row of d per
/// entry of `which`, f64): `gradient(c, ||grad f||)` and lambda_min >= -tolerance(c, f). Value and
/// gradient norm are recomputed in f64 when the objective has a Rust twin, else taken from
/// `device(c)` (the device's last (f, ||grad f||)).
#[allow(clippy::too_many_arguments)]
pub(crate) fn certify(
    products: &dyn Products,
    obj: &dyn Objective,
    points: &[f64],
    which: &[usize],
    first_chain: u32,
    n_all: usize,
    gradient: &dyn Fn(usize, f64) -> bool,
    tolerance: &dyn Fn(usize, f64) -> f64,
    device: &dyn Fn(usize) -> (f64, f64),
    seed: u64,
) -> Result<Certification, Error> {
    let d = obj.dim();
    // Each chain's Lanczos start comes from its global index: a shard's verdicts are the whole run's.
    let streams: Vec<u32> = which.iter().map(|&c| first_chain + c as u32).collect();
    // In batches of chains, so that the Lanczos bases (up to d vectors of d numbers a chain)
    // stay within JUDGE_BYTES whatever the ensemble; each chain's start comes from its stream,
    // so the batches change no result.
    let batch = judge_batch(d);
    let mut spectra = Vec::with_capacity(which.len());
    for (k, block) in streams.chunks(batch).enumerate() {
        let first = k * batch * d;
        spectra.extend(products.spectra_at(&points[first..first + block.len() * d], block, seed)?);
    }
    let mut lam = vec![f64::NAN; n_all];
    let mut res = vec![f64::NAN; n_all];
    let mut sosp = vec![false; n_all];
    let mut g = vec![0.0; d];
    let batched = batched_values(obj, &points[..which.len() * d])?;
    for (k, &c) in which.iter().enumerate() {
        let p = &points[k * d..(k + 1) * d];
        let (f, gn) = if let Some(fg) = &batched {
            fg[k]
        } else if obj.cpu_twin() {
            let f = obj.eval_f64(p, &mut g).value;
            (f, g.iter().map(|v| v * v).sum::<f64>().sqrt())
        } else {
            device(c)
        };
        lam[c] = spectra[k].lambda_min;
        res[c] = spectra[k].lambda_min_residual;
        // A lambda_min Lanczos did not converge on is not evidence of a minimum.
        sosp[c] = spectra[k].converged && gradient(c, gn) && spectra[k].lambda_min >= -tolerance(c, f);
    }
    let checked: Vec<f64> = which.iter().map(|&c| lam[c]).collect();
    Ok(Certification {
        rule: String::new(),
        checked: which.len(),
        sosp: sosp.iter().filter(|&&s| s).count(),
        unconverged: spectra.iter().filter(|s| !s.converged).count(),
        lambda_min: Summary::of(&checked),
        lambda_min_residual_max: which.iter().map(|&c| res[c]).fold(0.0, f64::max),
        per_chain_lambda_min: lam,
        per_chain_residual: res,
        per_chain_sosp: sosp,
    })
}

/// f and ||grad f|| at every point (n x d) of a batched objective (an embedder's oracle, whose
/// cost is the call) in one call; None for other objectives.
fn batched_values(obj: &dyn Objective, points: &[f64]) -> Result<Option<Vec<(f64, f64)>>, Error> {
    let Some(batch) = obj.batch() else { return Ok(None) };
    if points.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let d = obj.dim().max(1);
    let mut g = vec![0.0; points.len()];
    let mut e = vec![crate::objective::Eval::outside(); points.len() / d];
    batch.eval_batch_f64(points, &mut g, &mut e)?;
    Ok(Some(e.iter().zip(g.chunks(d)).map(|(e, g)| (e.value, g.iter().map(|v| v * v).sum::<f64>().sqrt())).collect()))
}

/// Where a check's worst ratio happened.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorstPoint {
    /// Chain.
    pub chain: u32,
    /// Step.
    pub step: u32,
    /// f there.
    pub f: f64,
    /// The measured quantity (||Hess f|| or the local Hessian-Lipschitz estimate).
    pub measured: f64,
    /// The declared bound rho(f).
    pub bound: f64,
}

/// Counts of one condition checked at many points.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ConditionChecks {
    /// Points (or pairs) checked.
    pub checks: usize,
    /// Where measured > bound (beyond `tolerance`).
    pub violations: usize,
    /// Largest measured / bound.
    pub worst_ratio: f64,
    /// Relative tolerance on the ratio (the products' accuracy).
    pub tolerance: f64,
    /// Where the worst ratio happened.
    pub worst: Option<WorstPoint>,
}

impl ConditionChecks {
    fn record(&mut self, chain: u32, step: u32, f: f64, measured: f64, bound: f64) {
        self.checks += 1;
        let ratio = measured / bound.max(1e-300);
        if ratio > 1.0 + self.tolerance {
            self.violations += 1;
        }
        if ratio > self.worst_ratio || self.worst.is_none() {
            self.worst_ratio = ratio;
            self.worst = Some(WorstPoint { chain, step, f, measured, bound });
        }
    }
}

/// The self-bounding conditions along a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SelfBoundingChecks {
    /// ||Hess f(x)|| <= rho1(f(x)) at visited points.
    pub hessian: ConditionChecks,
    /// ||Hess f(a) - Hess f(b)|| / ||a - b|| <= rho2(max(f(a), f(b))) between consecutive visited
    /// points of a chain (a local Hessian-Lipschitz estimate).
    pub lipschitz: ConditionChecks,
}

/// A visited point: chain, step, value, position.
pub(crate) struct Visited<'a> {
    /// Chain.
    pub chain: u32,
    /// Step.
    pub step: u32,
    /// f(x).
    pub f: f64,
    /// x.
    pub x: &'a [f64],
}

/// Checks rho1 at every visited point and rho2 between consecutive points of the same chain.
/// `tolerance` is the relative accuracy of the products (1e-6 in f64, 1e-2 from the device).
pub(crate) fn check_visited(products: &dyn Products, visited: &[Visited], rho: (Rho, Rho), tolerance: f64, seed: u64) -> Result<SelfBoundingChecks, Error> {
    let pts: Vec<f64> = visited.iter().flat_map(|v| v.x.iter().copied()).collect();
    let spectra = products.spectra(&pts, seed)?;
    let mut hessian = ConditionChecks { tolerance, ..Default::default() };
    for (v, s) in visited.iter().zip(&spectra) {
        hessian.record(v.chain, v.step, v.f, s.norm(), rho.0.eval(v.f));
    }
    let pairs: Vec<(usize, usize)> = (1..visited.len())
        .filter(|&k| visited[k].chain == visited[k - 1].chain)
        .filter(|&k| visited[k].x.iter().zip(visited[k - 1].x).any(|(a, b)| a != b))
        .map(|k| (k - 1, k))
        .collect();
    let a: Vec<f64> = pairs.iter().flat_map(|&(i, _)| visited[i].x.iter().copied()).collect();
    let b: Vec<f64> = pairs.iter().flat_map(|&(_, j)| visited[j].x.iter().copied()).collect();
    let norms = products.difference_norms(&a, &b, seed ^ 0x5eed)?;
    let mut lipschitz = ConditionChecks { tolerance, ..Default::default() };
    for (&(i, j), dn) in pairs.iter().zip(norms) {
        let dist = visited[i].x.iter().zip(visited[j].x).map(|(p, q)| (p - q).powi(2)).sum::<f64>().sqrt();
        let f = visited[i].f.max(visited[j].f);
        lipschitz.record(visited[j].chain, visited[j].step, f, dn / dist, rho.1.eval(f));
    }
    Ok(SelfBoundingChecks { hessian, lipschitz })
}
