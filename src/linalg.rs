//! The little dense linear algebra the objectives need (f64): symmetric eigendecomposition by
//! cyclic Jacobi rotations and Gram-Schmidt orthonormalization. Sizes here are small (n <= a few
//! hundred), where Jacobi is accurate and simple.

/// Eigenvalues (descending) and eigenvectors (columns of a row-major n x n matrix) of the
/// symmetric row-major n x n matrix `a`.
pub fn sym_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut m = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| m[i * n + j].powi(2)).sum();
        let scale: f64 = m.iter().map(|x| x * x).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[j * n + j].total_cmp(&m[i * n + i]));
    let vals = order.iter().map(|&i| m[i * n + i]).collect();
    let mut vecs = vec![0.0; n * n];
    for (col, &i) in order.iter().enumerate() {
        for k in 0..n {
            vecs[k * n + col] = v[k * n + i];
        }
    }
    (vals, vecs)
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
    fn jacobi_recovers_a_known_spectrum() {
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
}
