//! Hessian spectra at many points at once: Hessian-vector products (exact where the objective
//! gives them, else central differences of gradients) fed to batched Lanczos with full
//! reorthogonalization in f64. The products can come from the CPU (f64) or the GPU (f32, see
//! `backend::gpu::hvp`); Lanczos runs on the host in lockstep across points, one batch of
//! products per iteration.
//!
//! Convergence is decided per point, not by a fixed step count. After m steps the extreme Ritz
//! pairs (theta, y = Q_m s) of the tridiagonal T_m satisfy H y - theta y = beta_m s_m q_{m+1}, so
//! |beta_m s_m| (s_m the last component of s) is the residual norm ||H y - theta y|| without a
//! product. A point stops once both extreme pairs have that residual at most
//! `tol / 10 * max(|theta_min|, |theta_max|)` (`LANCZOS_TOL_F64` for f64 products,
//! `LANCZOS_TOL_F32` for f32 device products; the factor 10 is a margin for what the estimate
//! does not see, below), or when the Krylov space is exhausted (m = d, or an invariant subspace:
//! beta_m ~ 0), where the Ritz values are the operator's eigenvalues up to rounding. The batch
//! keeps stepping until every point has stopped. A point is `converged` when its measured
//! residuals (below) are at most `tol * max(|lambda_min|, |lambda_max|)`.
//!
//! What the residual r means: some eigenvalue of H lies within r of each reported Ritz value, and
//! if the rest of the spectrum is at distance >= gap from it, within r^2 / gap. Also
//! lambda_min <= theta_min and theta_max <= lambda_max always (Rayleigh quotients). What it does
//! not prove: that no eigenvalue lies below theta_min. Lanczos from a random start finds the
//! extreme eigenvalue first unless the start vector is nearly orthogonal to its eigenvector
//! (probability ~ the relative size of that component), which is why the start is random.
//!
//! The residual reported in `Spectrum` is measured, not estimated: after stopping, one more
//! batch of products per end computes ||H y - theta y|| / ||y|| directly. For exact f64 products
//! it equals |beta_m s_m| up to rounding; for noisy ones (f32 central differences) it also
//! contains the product error, so it stays honest where the recurrence's estimate is not.

use crate::objective::{LANES, Objective};
use crate::{Error, linalg, rng};
use rayon::prelude::*;

/// Relative residual tolerance for f64 Hessian-vector products: a Ritz pair counts as converged
/// when ||H y - theta y|| <= 1e-8 max(|theta_min|, |theta_max|). Exact f64 products reach it
/// with room to spare (rounding leaves ~1e-15); central differences in f64 carry ~1e-10 relative
/// error, still below it.
pub const LANCZOS_TOL_F64: f64 = 1e-8;

/// Relative residual tolerance for f32 device products (central differences with a step near
/// the cube root of f32's epsilon, whose error is ~eps_f32^(2/3) ~ 2e-5 relative to the gradient
/// scale): 1e-4, a few times above that noise floor. Where the noise is larger than that at a
/// point, the measured residual says so and that point is reported as not converged.
pub const LANCZOS_TOL_F32: f64 = 1e-4;

/// A point stops when its estimated residuals are below `STOP_MARGIN * tol` (relative), not
/// just `tol`: the measured residual that decides `converged` also carries the products' error
/// and rounding, and with noisy (f32) products an estimate just under `tol` stops Lanczos while
/// the smallest Ritz value still sits on a neighbour of lambda_min inside a tight cluster. The
/// extra steps this costs are few, since convergence is fast once it sets in.
const STOP_MARGIN: f64 = 0.1;

/// Extreme eigenvalues of the Hessian at one point, with the evidence for them.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Spectrum {
    /// Smallest eigenvalue (Ritz value).
    pub lambda_min: f64,
    /// Largest eigenvalue (Ritz value).
    pub lambda_max: f64,
    /// ||H y - lambda_min y|| for the unit Ritz vector y of `lambda_min`, measured with one extra
    /// product: some eigenvalue of H lies within this distance of `lambda_min`.
    pub lambda_min_residual: f64,
    /// ||H y - lambda_max y|| for the unit Ritz vector y of `lambda_max`.
    pub lambda_max_residual: f64,
    /// Lanczos steps (Hessian-vector products, not counting the two residual products) used.
    pub steps: usize,
    /// Whether both residuals are at most tol * max(|lambda_min|, |lambda_max|) for the tolerance
    /// the spectrum was computed with. False means a step cap stopped Lanczos first, or the
    /// products are too inexact for that tolerance: the values are then not certified.
    pub converged: bool,
}

impl Spectrum {
    /// ||Hess f||_op = max(|lambda_min|, |lambda_max|).
    pub fn norm(&self) -> f64 {
        self.lambda_min.abs().max(self.lambda_max.abs())
    }
}

/// Hessian-vector product in f64 at `x` along `v`: the objective's exact product when it has
/// one, else a central difference of gradients with step h = 1e-5 (1 + ||x||) / ||v||.
pub fn hvp_f64(obj: &dyn Objective, x: &[f64], v: &[f64], out: &mut [f64]) {
    if let Some(c) = obj.curvature() {
        c.hvp_f64(x, v, out);
        return;
    }
    let d = x.len();
    let vn = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    if vn == 0.0 {
        out.fill(0.0);
        return;
    }
    let xn = x.iter().map(|a| a * a).sum::<f64>().sqrt();
    let h = 1e-5 * (1.0 + xn) / vn;
    let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
    for i in 0..d {
        xp[i] += h * v[i];
        xm[i] -= h * v[i];
    }
    let mut gm = vec![0.0; d];
    obj.eval_f64(&xp, out);
    obj.eval_f64(&xm, &mut gm);
    for i in 0..d {
        out[i] = (out[i] - gm[i]) / (2.0 * h);
    }
}

/// The step cap for dimension d: d itself. At d steps the Krylov space is the whole space and
/// the Ritz values are the eigenvalues up to rounding, so no restart is needed; points stop much
/// earlier once their residuals meet the tolerance. (This used to be min(d, 64), which stopped
/// early above d = 64 and could report a Ritz value far above lambda_min.)
pub fn lanczos_steps(d: usize) -> usize {
    d
}

/// A batch of Hessian-vector products: n stacked vectors (n x d, row-major) to the n products.
pub type Apply<'a> = dyn FnMut(&[f64]) -> Result<Vec<f64>, Error> + 'a;

/// Batched Lanczos with the f64 tolerance [`LANCZOS_TOL_F64`]: see [`lanczos_tol`].
pub fn lanczos(
    n: usize,
    d: usize,
    steps: usize,
    seed: u64,
    apply: &mut Apply<'_>,
) -> Result<Vec<Spectrum>, Error> {
    lanczos_tol(n, d, steps, LANCZOS_TOL_F64, seed, apply)
}

/// Batched Lanczos with full reorthogonalization: `apply` maps n stacked vectors (n x d, row i
/// for point i; rows of points that have stopped are zero) to the n products H_i v_i. Each point
/// steps until both extreme Ritz pairs have residual |beta_m s_m| <= `tol` / 10 * max(|theta_min|,
/// |theta_max|), until its Krylov space is exhausted, or until `max_steps` (clamped to 1..=d;
/// [`lanczos_steps`] gives d, which makes the result exact up to rounding when the tolerance is
/// not met earlier). Then two more batches of products measure the residuals reported in
/// [`Spectrum`], whose `converged` compares them with `tol` itself. `tol` is relative to the
/// spectrum's scale max(|lambda_min|, |lambda_max|). Start vectors come from the Philox stream
/// under `seed`.
///
/// Memory is n x steps x d f64 (the Lanczos vectors are kept for reorthogonalization and for
/// the Ritz vectors). Restarting would bound it but slow convergence on clustered spectra, where
/// the cap d is the honest fallback. The extreme pairs of T_m are found in O(m) per check
/// ([`linalg::tridiag_smallest`]), checked every step up to 32 steps and then every ~m/32 steps,
/// which costs at most ~3% extra steps.
pub fn lanczos_tol(
    n: usize,
    d: usize,
    max_steps: usize,
    tol: f64,
    seed: u64,
    apply: &mut Apply<'_>,
) -> Result<Vec<Spectrum>, Error> {
    let streams: Vec<u32> = (0..n as u32).collect();
    lanczos_at(&streams, d, max_steps, tol, seed, apply)
}

/// [`lanczos_tol`] with point i's start vector drawn from Philox stream `streams[i]`: a point's
/// result then depends only on its stream and its own products, not on which batch it was in
/// (chain `c` of a sharded ensemble gets the spectrum it gets in the whole run).
pub fn lanczos_at(streams: &[u32], d: usize, max_steps: usize, tol: f64, seed: u64, apply: &mut Apply<'_>) -> Result<Vec<Spectrum>, Error> {
    let n = streams.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    if d == 0 {
        let zero = Spectrum { lambda_min: 0.0, lambda_max: 0.0, lambda_min_residual: 0.0, lambda_max_residual: 0.0, steps: 0, converged: true };
        return Ok(vec![zero; n]);
    }
    let cap = max_steps.clamp(1, d);
    let mut chains: Vec<Chain> = streams
        .iter()
        .map(|&stream| {
            let mut v = rng::data_normals(seed, stream, d);
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            v.iter_mut().for_each(|a| *a /= norm);
            Chain { q: v, alpha: Vec::new(), beta: Vec::new(), tnorm: 0.0, next_check: 1, ritz: None }
        })
        .collect();
    for k in 0..cap {
        let mut stacked = vec![0.0; n * d];
        for (i, c) in chains.iter().enumerate() {
            if c.ritz.is_none() {
                stacked[i * d..(i + 1) * d].copy_from_slice(&c.q[k * d..(k + 1) * d]);
            }
        }
        let w_all = apply(&stacked)?;
        chains.par_iter_mut().enumerate().filter(|(_, c)| c.ritz.is_none()).for_each(|(i, c)| c.step(k, d, cap, tol, &w_all[i * d..(i + 1) * d]));
        if chains.iter().all(|c| c.ritz.is_some()) {
            break;
        }
    }
    // Measured residuals: one batch of products for the lambda_min Ritz vectors, one for lambda_max.
    let ritz: Vec<Ritz> = chains.iter().map(|c| c.ritz.clone().expect("every point stops by the step cap")).collect();
    let mut residuals = [vec![0.0; n], vec![0.0; n]];
    for (end, res) in residuals.iter_mut().enumerate() {
        let mut ys = vec![0.0; n * d];
        ys.par_chunks_mut(d).zip(&chains).zip(&ritz).for_each(|((y, c), r)| {
            let s = if end == 0 { &r.min.vector } else { &r.max.vector };
            for (j, sj) in s.iter().enumerate() {
                y.iter_mut().zip(&c.q[j * d..(j + 1) * d]).for_each(|(a, b)| *a += sj * b);
            }
        });
        let hy = apply(&ys)?;
        res.par_iter_mut().enumerate().for_each(|(i, r)| {
            let theta = if end == 0 { ritz[i].min.value } else { ritz[i].max.value };
            let (y, h) = (&ys[i * d..(i + 1) * d], &hy[i * d..(i + 1) * d]);
            let ynorm = dot(y, y).sqrt().max(1e-300);
            *r = h.iter().zip(y).map(|(a, b)| (a - theta * b).powi(2)).sum::<f64>().sqrt() / ynorm;
        });
    }
    Ok(ritz
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (lambda_min_residual, lambda_max_residual) = (residuals[0][i], residuals[1][i]);
            let bound = tol * r.min.value.abs().max(r.max.value.abs()).max(f64::MIN_POSITIVE);
            Spectrum {
                lambda_min: r.min.value,
                lambda_max: r.max.value,
                lambda_min_residual,
                lambda_max_residual,
                steps: r.steps,
                converged: lambda_min_residual <= bound && lambda_max_residual <= bound,
            }
        })
        .collect())
}

/// One point's Lanczos state.
struct Chain {
    /// Lanczos vectors q_0, q_1, ... (row j at j * d).
    q: Vec<f64>,
    /// Diagonal of T.
    alpha: Vec<f64>,
    /// Off-diagonal of T.
    beta: Vec<f64>,
    /// Gershgorin bound on ||T||, the scale for "beta is zero".
    tnorm: f64,
    /// Step count at which the extreme Ritz pairs are next computed.
    next_check: usize,
    /// Set when the point has stopped.
    ritz: Option<Ritz>,
}

/// A stopped point's extreme Ritz pairs (vectors in the Lanczos basis).
#[derive(Clone)]
struct Ritz {
    min: linalg::Eigenpair,
    max: linalg::Eigenpair,
    steps: usize,
}

impl Chain {
    /// Step k (the k-th product w = H q_k has arrived): extend T, decide whether to stop.
    fn step(&mut self, k: usize, d: usize, cap: usize, tol: f64, w: &[f64]) {
        let mut w = w.to_vec();
        let qk = &self.q[k * d..(k + 1) * d];
        if k > 0 {
            let b = self.beta[k - 1];
            w.iter_mut().zip(&self.q[(k - 1) * d..k * d]).for_each(|(x, y)| *x -= b * y);
        }
        let a = dot(&w, qk);
        w.iter_mut().zip(qk).for_each(|(x, y)| *x -= a * y);
        // Full reorthogonalization against q_0..q_k (classical Gram-Schmidt, one pass over the
        // stored vectors), repeated when it removed much of w: "twice is enough" (Kahan-Parlett
        // / DGKS with threshold 1/sqrt 2). After the three-term step w is already orthogonal up
        // to rounding, so the second pass is rare until a Ritz pair converges.
        let mut before = dot(&w, &w).sqrt();
        for _ in 0..2 {
            let coeffs: Vec<f64> = self.q[..(k + 1) * d].chunks_exact(d).map(|qj| dot(&w, qj)).collect();
            for (c, qj) in coeffs.iter().zip(self.q[..(k + 1) * d].chunks_exact(d)) {
                w.iter_mut().zip(qj).for_each(|(x, y)| *x -= c * y);
            }
            let after = dot(&w, &w).sqrt();
            let again = after < std::f64::consts::FRAC_1_SQRT_2 * before;
            before = after;
            if !again {
                break;
            }
        }
        let b = before;
        self.alpha.push(a);
        let m = k + 1;
        let prev = if k > 0 { self.beta[k - 1].abs() } else { 0.0 };
        self.tnorm = self.tnorm.max(a.abs() + prev + b).max(f64::MIN_POSITIVE);
        // beta ~ rounding: the Krylov space is invariant (or, at m = d, the whole space).
        let exhausted = m == d || b <= 4.0 * f64::EPSILON * self.tnorm;
        if m >= self.next_check || m == cap || exhausted {
            let min = linalg::tridiag_smallest(&self.alpha, &self.beta);
            let max = linalg::tridiag_largest(&self.alpha, &self.beta);
            let bound = STOP_MARGIN * tol * min.value.abs().max(max.value.abs()).max(f64::MIN_POSITIVE);
            let est = |p: &linalg::Eigenpair| b * p.vector[m - 1].abs();
            if exhausted || m == cap || (est(&min) <= bound && est(&max) <= bound) {
                self.ritz = Some(Ritz { min, max, steps: m });
                return;
            }
            self.next_check = m + 1 + m / 32;
        }
        w.iter_mut().for_each(|x| *x /= b);
        self.beta.push(b);
        self.q.extend(w);
    }
}

/// Dot product with eight independent partial sums, so the loop vectorizes (a plain iterator sum
/// is kept sequential by strict floating-point ordering); reorthogonalization spends its time here.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0; 8];
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// A source of batched Hessian-vector products: the analysis talks to it, never to an engine.
pub trait Products {
    /// Dimension d.
    fn dim(&self) -> usize;
    /// H(p_i) v_i for every row i of `points` and `vectors` (both n x d, row-major).
    fn products(&self, points: &[f64], vectors: &[f64]) -> Result<Vec<f64>, Error>;
    /// The Lanczos tolerance the products' accuracy allows ([`LANCZOS_TOL_F64`] or
    /// [`LANCZOS_TOL_F32`]).
    fn tolerance(&self) -> f64;

    /// Hessian spectra at `points` (n x d) by Lanczos over these products.
    fn spectra(&self, points: &[f64], seed: u64) -> Result<Vec<Spectrum>, Error> {
        let n = points.len() / self.dim().max(1);
        self.spectra_at(points, &(0..n as u32).collect::<Vec<_>>(), seed)
    }

    /// [`Products::spectra`] with point i's Lanczos start from stream `streams[i]` (see
    /// [`lanczos_at`]).
    fn spectra_at(&self, points: &[f64], streams: &[u32], seed: u64) -> Result<Vec<Spectrum>, Error> {
        let d = self.dim();
        lanczos_at(streams, d, lanczos_steps(d), self.tolerance(), seed, &mut |v| self.products(points, v))
    }

    /// ||H(a_i) - H(b_i)||_op for pairs of points (both n x d), by Lanczos on the difference.
    fn difference_norms(&self, a: &[f64], b: &[f64], seed: u64) -> Result<Vec<f64>, Error> {
        let d = self.dim();
        let n = a.len() / d.max(1);
        let spectra = lanczos_tol(n, d, lanczos_steps(d), self.tolerance(), seed, &mut |v| {
            let (ha, hb) = (self.products(a, v)?, self.products(b, v)?);
            Ok(ha.iter().zip(&hb).map(|(x, y)| x - y).collect())
        })?;
        Ok(spectra.iter().map(|s| s.norm()).collect())
    }
}

/// f64 products from an objective's Rust twin (exact where it has them, else central
/// differences of gradients), parallel across points.
pub struct CpuProducts<'a>(pub &'a dyn Objective);

impl Products for CpuProducts<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn products(&self, points: &[f64], vectors: &[f64]) -> Result<Vec<f64>, Error> {
        let obj = self.0;
        if !obj.cpu_twin() {
            return Err(Error::NoCpuTwin(obj.name().into()));
        }
        let d = obj.dim();
        let mut out = vec![0.0; vectors.len()];
        if d == 0 {
            return Ok(out);
        }
        if let Some(batch) = obj.batch() {
            return batched_products(batch, d, points, vectors, out);
        }
        // Packs of LANES points, multiplied together where the objective can (each lane is the
        // scalar product bit for bit, so a point's product does not depend on its pack).
        out.par_chunks_mut(d * LANES).enumerate().for_each(|(p, o)| {
            let first = p * LANES;
            let n = o.len() / d;
            fn row(buf: &[f64], at: usize, d: usize) -> &[f64] {
                &buf[at * d..(at + 1) * d]
            }
            // Points that have stopped get zero rows; their product is zero, skip computing it.
            let moving: Vec<bool> = (0..n).map(|k| row(vectors, first + k, d).iter().any(|&a| a != 0.0)).collect();
            if !moving.contains(&true) {
                return;
            }
            if n == LANES && obj.lanes().is_some() {
                let lanes = |buf: &[f64]| -> Vec<[f64; LANES]> { (0..d).map(|i| std::array::from_fn(|l| buf[(first + l) * d + i])).collect() };
                let mut prod = vec![[0.0; LANES]; d];
                if obj.curvature().is_some_and(|c| c.hvp_lanes_f64(&lanes(points), &lanes(vectors), &mut prod)) {
                    for (k, ok) in o.chunks_mut(d).enumerate() {
                        if moving[k] {
                            ok.iter_mut().zip(&prod).for_each(|(a, r)| *a = r[k]);
                        }
                    }
                    return;
                }
            }
            for (k, ok) in o.chunks_mut(d).enumerate().filter(|(k, _)| moving[*k]) {
                hvp_f64(obj, row(points, first + k, d), row(vectors, first + k, d), ok);
            }
        });
        Ok(out)
    }
    fn tolerance(&self) -> f64 {
        LANCZOS_TOL_F64
    }
}

/// [`CpuProducts::products`] for a batched objective (an embedder's oracle, whose cost is the
/// call): the rows whose vector is not zero in one call of its own product, or in two of its
/// gradients (central differences, each row [`hvp_f64`]'s product); then its pending error.
fn batched_products(batch: &dyn crate::objective::Batch, d: usize, points: &[f64], vectors: &[f64], mut out: Vec<f64>) -> Result<Vec<f64>, Error> {
    let moving: Vec<usize> = (0..vectors.len() / d).filter(|&k| vectors[k * d..(k + 1) * d].iter().any(|&a| a != 0.0)).collect();
    if moving.is_empty() {
        return Ok(out);
    }
    let gather = |buf: &[f64]| -> Vec<f64> { moving.iter().flat_map(|&k| buf[k * d..(k + 1) * d].iter().copied()).collect() };
    let (x, v) = (gather(points), gather(vectors));
    let mut prod = vec![0.0; x.len()];
    if !batch.hvp_batch_f64(&x, &v, &mut prod)? {
        crate::objective::batch::hvp_by_differences(batch, d, &x, &v, &mut prod)?;
    }
    if let Some(e) = batch.take_error() {
        return Err(e);
    }
    for (j, &k) in moving.iter().enumerate() {
        out[k * d..(k + 1) * d].copy_from_slice(&prod[j * d..(j + 1) * d]);
    }
    Ok(out)
}

/// Hessian spectra at `points` (n x d, row-major) from f64 products on the CPU, to
/// [`LANCZOS_TOL_F64`].
pub fn spectra_cpu(obj: &dyn Objective, points: &[f64], seed: u64) -> Result<Vec<Spectrum>, Error> {
    CpuProducts(obj).spectra(points, seed)
}

/// Hessian products that end with [`Error::Interrupted`] once `stop` is raised: certification
/// and the checks along the run honour SIGINT within one batch of products.
pub(crate) struct Interruptible<'a> {
    /// The products.
    pub inner: &'a dyn Products,
    /// The stop flag, if any.
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
}

impl Products for Interruptible<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn products(&self, points: &[f64], vectors: &[f64]) -> Result<Vec<f64>, Error> {
        if self.stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(Error::Interrupted(String::new()));
        }
        self.inner.products(points, vectors)
    }
    fn tolerance(&self) -> f64 {
        self.inner.tolerance()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::{MatrixFactorization, ObjectiveSpec, ToySaddle};

    #[test]
    fn exact_spectra_on_known_hessians() {
        // Toy saddle: Hess = diag(1, 3y^2 - 1).
        let pts = [0.0, 0.0, 0.3, 0.5, -1.0, 2.0];
        let s = spectra_cpu(&ToySaddle, &pts, 1).unwrap();
        for (k, sp) in s.iter().enumerate() {
            let y: f64 = pts[k * 2 + 1];
            let h = 3.0 * y * y - 1.0;
            assert!((sp.lambda_min - h.min(1.0)).abs() < 1e-6 && (sp.lambda_max - h.max(1.0)).abs() < 1e-6, "{sp:?}");
        }
        // Quartic: Hess = diag(l_i + 3 x_i^2).
        let q = ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 2.0, 0.5, -3.0] }.build().unwrap();
        let x = [0.1, -0.4, 1.5, 0.2];
        let s = spectra_cpu(q.as_ref(), &x, 2).unwrap()[0];
        let diag: Vec<f64> = [-1.0, 2.0, 0.5, -3.0].iter().zip(x).map(|(l, v)| l + 3.0 * v * v).collect();
        let (lo, hi) = (diag.iter().cloned().fold(f64::MAX, f64::min), diag.iter().cloned().fold(f64::MIN, f64::max));
        assert!((s.lambda_min - lo).abs() < 1e-6 && (s.lambda_max - hi).abs() < 1e-6, "{s:?} vs {lo} {hi}");
        // Matrix factorization at U = 0: Hess quadratic form 2 <-M, V V^T> -> eigenvalues -2 lambda_k(M).
        let mf = MatrixFactorization::generate(4, 2, Some(vec![3.0, 2.0, 1.0, 0.5]), 3).unwrap();
        let s = spectra_cpu(&mf, &[0.0; 8], 4).unwrap()[0];
        assert!((s.lambda_min + 6.0).abs() < 1e-5 && (s.lambda_max + 1.0).abs() < 1e-5, "{s:?}");
        // The MF Hessian has each eigenvalue twice: the Krylov space closes after 4 of 8 steps
        // (an invariant subspace), and the measured residuals say the values are exact.
        assert!(s.converged && s.steps <= 8 && s.lambda_min_residual <= 1e-8 * s.norm() && s.lambda_max_residual <= 1e-8 * s.norm(), "{s:?}");
    }

    #[test]
    fn a_step_cap_below_convergence_is_reported_as_not_converged() {
        // diag(1..=20) with a random start does not converge to 1e-8 in 3 steps.
        let d = 20;
        let s = lanczos(1, d, 3, 5, &mut |v| Ok(v.iter().enumerate().map(|(i, x)| (i + 1) as f64 * x).collect())).unwrap()[0];
        assert_eq!(s.steps, 3);
        assert!(!s.converged && s.lambda_min > 1.0 + 1e-3 && s.lambda_min_residual > 1e-3, "{s:?}");
        let s = lanczos(1, d, lanczos_steps(d), 5, &mut |v| Ok(v.iter().enumerate().map(|(i, x)| (i + 1) as f64 * x).collect())).unwrap()[0];
        assert!(s.converged && (s.lambda_min - 1.0).abs() < 1e-12 && (s.lambda_max - 20.0).abs() < 1e-12, "{s:?}");
    }

    /// Hessian products of a batched objective (certification, the outcome's spectra) come from
    /// two batch calls, each row the one-point central difference bit for bit; zero vectors give
    /// zero rows.
    #[test]
    fn batched_products_are_the_one_point_differences() {
        use crate::objective::batch::testing::batched;
        use std::sync::atomic::Ordering;
        let b = batched("quartic", 3, usize::MAX);
        let points = [0.3, -1.2, 0.7, 0.0, 0.0, 0.0, 2.0, 1.0, -0.5];
        let vectors = [1.0, 0.5, -0.25, 0.0, 0.0, 0.0, -0.1, 0.2, 0.3];
        let got = CpuProducts(b.as_ref()).products(&points, &vectors).unwrap();
        assert_eq!(b.calls.load(Ordering::Relaxed), 2, "one call for the + and one for the - points");
        for k in 0..3 {
            let mut want = [0.0; 3];
            hvp_f64(b.as_ref(), &points[k * 3..k * 3 + 3], &vectors[k * 3..k * 3 + 3], &mut want);
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got[k * 3..k * 3 + 3]), bits(&want), "row {k}");
        }
        assert!(got[3..6].iter().all(|&a| a == 0.0) && got[0] != 0.0);
    }
}
