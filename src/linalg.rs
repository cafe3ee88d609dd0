//! The little dense linear algebra the objectives and the Hessian checks need (f64):
//! - [`sym_eigen`]: full symmetric eigendecomposition, delegated to `nalgebra`'s
//!   `SymmetricEigen` (Householder tridiagonalization + implicit symmetric QR), which replaced a
//!   hand-written cyclic Jacobi: a maintained, tested solver is O(n^3) with a small constant where
//!   Jacobi needed many sweeps, and we no longer own its convergence corner cases.
//! - [`tridiag_smallest`] / [`tridiag_largest`]: one extreme eigenpair of a symmetric tridiagonal
//!   matrix in O(m) per iteration, for Lanczos (`check::hessian`), which asks for the extreme
//!   Ritz pairs many times per point while it decides convergence. A dense solver there would
//!   cost O(m^3) per check and dominate the run.
//! - [`orthonormalize_columns`]: modified Gram-Schmidt.

use nalgebra::{DMatrix, SymmetricEigen};

/// Eigenvalues (descending) and eigenvectors (columns of a row-major n x n matrix) of the
/// symmetric row-major n x n matrix `a` (only its lower triangle is read).
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "sym_eigen: a is not n x n");
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    // Row-major symmetric input: reading it column-major gives the transpose, the same matrix.
    let eig = SymmetricEigen::new(DMatrix::from_column_slice(n, n, a));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let vals = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let mut vecs = vec![0.0; n * n];
    for (col, &i) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + col] = eig.eigenvectors[(k, i)];
        }
    }
    (vals, vecs)
}

/// An eigenvalue and its unit eigenvector.
#[derive(Clone, Debug, PartialEq)]
pub struct Eigenpair {
    /// The eigenvalue.
    pub value: f64,
    /// The eigenvector, unit 2-norm.
    pub vector: Vec<f64>,
}

/// Smallest eigenpair of the symmetric tridiagonal matrix with diagonal `diag` (length m >= 1)
/// and off-diagonal `off` (length m - 1).
///
/// The eigenvalue comes from Laguerre's iteration on det(T - x I) started left of the spectrum
/// (at the Gershgorin bound): for a polynomial with only real roots that iteration increases
/// monotonically to the smallest root and never passes it, converges cubically, and, unlike
/// Newton, is not slowed down by the m - 1 other roots. The traces it needs,
/// tr (T - x)^-1 and tr (T - x)^-2, follow from the LDL^T pivots of T - x, which are all
/// positive left of the spectrum, so no pivoting is needed. It stops when a step falls below
/// machine precision times ||T|| (the accuracy any backward-stable method has). The vector comes
/// from three steps of inverse iteration with that LDL^T factorization, again positive definite
/// because the value is approached from below.
pub fn tridiag_smallest(diag: &[f64], off: &[f64]) -> Eigenpair {
    let m = diag.len();
    assert!(m >= 1 && off.len() + 1 == m, "tridiag_smallest: need m >= 1 diagonal and m - 1 off-diagonal entries");
    if m == 1 {
        return Eigenpair { value: diag[0], vector: vec![1.0] };
    }
    let radius = |i: usize| if i > 0 { off[i - 1].abs() } else { 0.0 } + if i + 1 < m { off[i].abs() } else { 0.0 };
    let scale = (0..m).map(|i| diag[i].abs() + radius(i)).fold(f64::MIN_POSITIVE, f64::max);
    let mut x = (0..m).map(|i| diag[i] - radius(i)).fold(f64::INFINITY, f64::min) - 4.0 * f64::EPSILON * scale;
    let mut q = vec![0.0; m];
    // The Gershgorin start is strictly left of the spectrum, so its pivots are positive.
    let mut traces = ldl_traces(diag, off, x, &mut q).expect("the Gershgorin bound lies left of the spectrum");
    let n = m as f64;
    let tiny = 4.0 * f64::EPSILON * scale;
    'laguerre: for _ in 0..200 {
        let (s1, s2) = traces;
        let step = n / (s1 + ((n - 1.0) * (n * s2 - s1 * s1)).max(0.0).sqrt());
        // (NaN, from a degenerate T, also stops.)
        if step.is_nan() || step <= f64::EPSILON * scale {
            break;
        }
        // In exact arithmetic x + step <= lambda_min (it lands on it when T is 2 x 2 or the
        // iteration has converged); at or past it a pivot is not positive. Then step back by a
        // few ulps of ||T||, and after that halve, so x stays left of the spectrum.
        let mut trial_step = step;
        for attempt in 0..60 {
            let mut trial = vec![0.0; m];
            if let Some(t) = ldl_traces(diag, off, x + trial_step, &mut trial) {
                x += trial_step;
                traces = t;
                q = trial;
                continue 'laguerre;
            }
            trial_step = if attempt == 0 { step - tiny } else { trial_step / 2.0 };
            if trial_step <= f64::EPSILON * scale {
                break 'laguerre;
            }
        }
        break;
    }
    // Inverse iteration: (T - x) = L D L^T with L unit lower bidiagonal (l_i = off_i / q_i).
    let mut y = vec![1.0 / n.sqrt(); m];
    for _ in 0..3 {
        for i in 1..m {
            y[i] -= off[i - 1] / q[i - 1] * y[i - 1];
        }
        y[m - 1] /= q[m - 1];
        for i in (0..m - 1).rev() {
            y[i] = (y[i] - off[i] * y[i + 1]) / q[i];
        }
        let norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            break;
        }
        y.iter_mut().for_each(|v| *v /= norm);
    }
    // The value the vector belongs to, to the same accuracy: x is within ~eps ||T|| below it.
    Eigenpair { value: x, vector: y }
}

/// Largest eigenpair of the symmetric tridiagonal matrix (`diag`, `off`): the smallest of -T.
pub fn tridiag_largest(diag: &[f64], off: &[f64]) -> Eigenpair {
    let nd: Vec<f64> = diag.iter().map(|v| -v).collect();
    let no: Vec<f64> = off.iter().map(|v| -v).collect();
    let p = tridiag_smallest(&nd, &no);
    Eigenpair { value: -p.value, vector: p.vector }
}

/// LDL^T pivots of T - x into `q` and (tr (T - x)^-1, tr (T - x)^-2), or None when a pivot is not
/// positive (x is not left of the spectrum). With log det (T - x) = sum log q_i, the traces are
/// -(log det)' and -(log det)'', and q_i', q_i'' follow from the pivot recurrence
/// q_{i+1} = diag_{i+1} - x - off_i^2 / q_i.
fn ldl_traces(diag: &[f64], off: &[f64], x: f64, q: &mut [f64]) -> Option<(f64, f64)> {
    let (mut p, mut p1, mut p2) = (diag[0] - x, -1.0, 0.0);
    let (mut s1, mut s2) = (0.0, 0.0);
    for i in 0..diag.len() {
        if i > 0 {
            let e2 = off[i - 1] * off[i - 1];
            let r = 1.0 / p;
            let (np, np1, np2) = (diag[i] - x - e2 * r, -1.0 + e2 * p1 * r * r, e2 * (p2 * r * r - 2.0 * p1 * p1 * r * r * r));
            (p, p1, p2) = (np, np1, np2);
        }
        if !(p.is_finite() && p > 0.0) {
            return None;
        }
        q[i] = p;
        let u = p1 / p;
        s1 -= u;
        s2 += u * u - p2 / p;
    }
    Some((s1, s2))
}

/// Orthonormalizes the columns of the row-major rows x cols matrix `a` in place (modified
/// Gram-Schmidt; columns assumed independent, as Gaussian draws are almost surely).
pub fn orthonormalize_columns(a: &mut [f64], rows: usize, cols: usize) {
    for j in 0..cols {
        for k in 0..j {
            let dot: f64 = (0..rows).map(|i| a[i * cols + j] * a[i * cols + k]).sum();
            for i in 0..rows {
                a[i * cols + j] -= dot * a[i * cols + k];
            }
        }
        let norm = (0..rows).map(|i| a[i * cols + j].powi(2)).sum::<f64>().sqrt().max(1e-300);
        for i in 0..rows {
            a[i * cols + j] /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sym_eigen_recovers_a_known_spectrum() {
        let n = 6;
        let mut q: Vec<f64> = crate::rng::data_normals(3, 0, n * n);
        orthonormalize_columns(&mut q, n, n);
        let lam = [5.0, 3.0, 1.0, 0.5, -0.5, -2.0];
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q[i * n + k] * lam[k] * q[j * n + k]).sum();
            }
        }
        let (vals, vecs) = sym_eigen(&a, n);
        for (v, l) in vals.iter().zip(lam) {
            assert!((v - l).abs() < 1e-10, "{vals:?}");
        }
        // A v = lambda v for the first eigenvector.
        for i in 0..n {
            let av: f64 = (0..n).map(|k| a[i * n + k] * vecs[k * n]).sum();
            assert!((av - vals[0] * vecs[i * n]).abs() < 1e-9);
        }
    }

    /// ||T y - value y|| for a tridiagonal T.
    fn tridiag_residual(diag: &[f64], off: &[f64], p: &Eigenpair) -> f64 {
        let m = diag.len();
        (0..m)
            .map(|i| {
                let mut t = diag[i] * p.vector[i] - p.value * p.vector[i];
                if i > 0 {
                    t += off[i - 1] * p.vector[i - 1];
                }
                if i + 1 < m {
                    t += off[i] * p.vector[i + 1];
                }
                t * t
            })
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn tridiagonal_extremes_match_the_dense_solver() {
        // Random tridiagonals of several sizes, and one whose bottom is a tight cluster (the case
        // Lanczos meets when a Hessian has nearly equal small eigenvalues).
        let mut cases: Vec<(Vec<f64>, Vec<f64>)> = [1usize, 2, 3, 17, 120, 300]
            .iter()
            .enumerate()
            .map(|(c, &m)| {
                let r = crate::rng::data_normals(11, c as u32, 2 * m);
                (r[..m].iter().map(|v| 3.0 * v).collect(), r[m..2 * m - 1].to_vec())
            })
            .collect();
        let m = 200;
        let tiny = crate::rng::data_normals(12, 0, m);
        cases.push(((0..m).map(|i| if i < 3 { -1e-3 + 5e-4 * i as f64 } else { 10.0 * i as f64 / m as f64 }).collect(), tiny[..m - 1].iter().map(|v| 1e-6 * v).collect()));
        for (diag, off) in cases {
            let m = diag.len();
            let mut t = vec![0.0; m * m];
            for i in 0..m {
                t[i * m + i] = diag[i];
                if i + 1 < m {
                    t[i * m + i + 1] = off[i];
                    t[(i + 1) * m + i] = off[i];
                }
            }
            let (vals, _) = sym_eigen(&t, m);
            let scale = vals[0].abs().max(vals[m - 1].abs());
            let (lo, hi) = (tridiag_smallest(&diag, &off), tridiag_largest(&diag, &off));
            assert!((lo.value - vals[m - 1]).abs() <= 1e-13 * scale, "m {m}: smallest {} vs {}", lo.value, vals[m - 1]);
            assert!((hi.value - vals[0]).abs() <= 1e-13 * scale, "m {m}: largest {} vs {}", hi.value, vals[0]);
            for p in [&lo, &hi] {
                let r = tridiag_residual(&diag, &off, p);
                assert!(r <= 1e-12 * scale, "m {m}: residual {r:e} of {}", p.value);
                let norm = p.vector.iter().map(|v| v * v).sum::<f64>().sqrt();
                assert!((norm - 1.0).abs() < 1e-12);
            }
        }
    }
}
