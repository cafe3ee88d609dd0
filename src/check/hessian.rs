//! Hessian spectra at many points at once: Hessian-vector products (exact where the objective
//! gives them, else central differences of gradients) fed to batched Lanczos with full
//! reorthogonalization in f64. The products can come from the CPU (f64) or the GPU (f32, see
//! `backend::gpu::hvp`); Lanczos runs on the host in lockstep across points, one batch of
//! products per iteration.

use crate::objective::Objective;
use crate::{Error, linalg, rng};
use rayon::prelude::*;

/// Extreme eigenvalues of the Hessian at one point.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Spectrum {
    /// Smallest eigenvalue (Ritz value).
    pub lambda_min: f64,
    /// Largest eigenvalue.
    pub lambda_max: f64,
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
    if obj.hvp_f64(x, v, out) {
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

/// Lanczos steps used for dimension d: all d (exact extremes up to rounding) up to 64, then 64.
pub fn lanczos_steps(d: usize) -> usize {
    d.min(64)
}

/// Batched Lanczos: `apply` maps n stacked vectors (n x d, row i for point i) to the n products
/// H_i v_i. Returns each point's extreme Ritz values after `steps` iterations. Start vectors
/// come from the Philox stream under `seed`.
pub fn lanczos(
    n: usize,
    d: usize,
    steps: usize,
    seed: u64,
    apply: &mut dyn FnMut(&[f64]) -> Result<Vec<f64>, Error>,
) -> Result<Vec<Spectrum>, Error> {
    let steps = steps.clamp(1, d.max(1));
    // q[i] holds point i's Lanczos vectors, alpha/beta its tridiagonal matrix.
    let mut q: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut v = rng::data_normals(seed, i as u32, d);
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            v.iter_mut().for_each(|a| *a /= norm);
            v
        })
        .collect();
    let mut alpha = vec![Vec::with_capacity(steps); n];
    let mut beta: Vec<Vec<f64>> = vec![Vec::with_capacity(steps); n];
    let mut done = vec![false; n];
    for k in 0..steps {
        let mut stacked = vec![0.0; n * d];
        for i in 0..n {
            if !done[i] {
                stacked[i * d..(i + 1) * d].copy_from_slice(&q[i][k * d..(k + 1) * d]);
            }
        }
        let w_all = apply(&stacked)?;
        let results: Vec<(f64, Option<(f64, Vec<f64>)>)> = (0..n)
            .into_par_iter()
            .map(|i| {
                if done[i] {
                    return (0.0, None);
                }
                let qi = &q[i];
                let mut w = w_all[i * d..(i + 1) * d].to_vec();
                let qk = &qi[k * d..(k + 1) * d];
                let a: f64 = w.iter().zip(qk).map(|(x, y)| x * y).sum();
                // Full reorthogonalization against every previous vector (twice, for safety).
                for _ in 0..2 {
                    for j in 0..=k {
                        let qj = &qi[j * d..(j + 1) * d];
                        let c: f64 = w.iter().zip(qj).map(|(x, y)| x * y).sum();
                        w.iter_mut().zip(qj).for_each(|(x, y)| *x -= c * y);
                    }
                }
                let b = w.iter().map(|x| x * x).sum::<f64>().sqrt();
                let next = (k + 1 < steps && b > 1e-12 * (1.0 + a.abs())).then(|| {
                    w.iter_mut().for_each(|x| *x /= b);
                    (b, w)
                });
                (a, next)
            })
            .collect();
        for (i, (a, next)) in results.into_iter().enumerate() {
            if done[i] {
                continue;
            }
            alpha[i].push(a);
            match next {
                Some((b, w)) => {
                    beta[i].push(b);
                    q[i].extend(w);
                }
                None => done[i] = true,
            }
        }
        if done.iter().all(|&x| x) {
            break;
        }
    }
    Ok((0..n)
        .map(|i| {
            let m = alpha[i].len();
            let mut t = vec![0.0; m * m];
            for j in 0..m {
                t[j * m + j] = alpha[i][j];
                if j + 1 < m {
                    t[j * m + j + 1] = beta[i][j];
                    t[(j + 1) * m + j] = beta[i][j];
                }
            }
            let (vals, _) = linalg::sym_eigen(&t, m);
            Spectrum { lambda_min: vals[m - 1], lambda_max: vals[0] }
        })
        .collect())
}

/// Hessian spectra at `points` (n x d, row-major) from f64 products on the CPU.
pub fn spectra_cpu(obj: &dyn Objective, points: &[f64], seed: u64) -> Result<Vec<Spectrum>, Error> {
    let d = obj.dim();
    let n = points.len() / d.max(1);
    if !obj.cpu_twin() {
        return Err(Error::NoCpuTwin(obj.name().into()));
    }
    lanczos(n, d, lanczos_steps(d), seed, &mut |v| {
        let mut out = vec![0.0; n * d];
        out.par_chunks_mut(d).enumerate().for_each(|(i, o)| hvp_f64(obj, &points[i * d..(i + 1) * d], &v[i * d..(i + 1) * d], o));
        Ok(out)
    })
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
    }
}
