//! Symmetric matrix factorization f(U) = 1/2 ||U U^T - M||_F^2, U in R^{n x r} (x = vec(U),
//! row-major). Saddles at U spanning non-top eigenvectors of M; minima span the top r.

use super::{DeviceForm, Eval, Objective, capabilities, to_float};
use super::data::Matrix;
use super::products::Products;
use crate::method::{PgdParams, Rho};
use crate::{Error, linalg, rng};
use num_traits::Float;

/// Symmetric matrix factorization. Label 0 (no regions).
#[derive(Clone, Debug)]
pub struct MatrixFactorization {
    n: usize,
    r: usize,
    m: Vec<f64>,
    /// M rounded to f32 once, for the f32 twin's matrix products.
    m32: Vec<f32>,
    eigenvalues: Vec<f64>,
    eigenvectors: Vec<f64>,
}

impl MatrixFactorization {
    /// M = Q diag(spectrum) Q^T with Q a random orthogonal matrix from `seed`; `spectrum` has n
    /// values (default: 1 for the top r, 0 for the rest).
    pub fn generate(n: usize, r: usize, spectrum: Option<Vec<f64>>, seed: u64) -> Result<Self, Error> {
        Self::check_dims(n, r)?;
        super::data::fits_host(n.checked_mul(n).and_then(|v| v.checked_mul(3)), "M is n x n: --dim")?;
        let spectrum = spectrum.unwrap_or_else(|| (0..n).map(|k| if k < r { 1.0 } else { 0.0 }).collect());
        if spectrum.len() != n || spectrum.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("spectrum", format!("{n} finite values (one per row of M)"), format!("{spectrum:?}")));
        }
        let mut q = rng::data_normals(seed, 0, n * n);
        linalg::orthonormalize_columns(&mut q, n, n);
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                m[i * n + j] = (0..n).map(|k| q[i * n + k] * spectrum[k] * q[j * n + k]).sum();
            }
        }
        Self::from_matrix(Matrix { rows: n, cols: n, data: m }, r)
    }

    /// From a symmetric n x n matrix M and rank r.
    pub fn from_matrix(m: Matrix, r: usize) -> Result<Self, Error> {
        if m.rows != m.cols {
            return Err(Error::invalid("M", "a square (n x n) matrix", format!("{} x {}", m.rows, m.cols)));
        }
        let n = m.rows;
        Self::check_dims(n, r)?;
        let asym = (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| (m.at(i, j) - m.at(j, i)).abs()).fold(0.0, f64::max);
        if asym > 1e-9 * (1.0 + m.frobenius()) {
            return Err(Error::invalid("M", "a symmetric matrix", format!("asymmetry {asym:e}")));
        }
        let (eigenvalues, eigenvectors) = linalg::sym_eigen(&m.data, n);
        Ok(MatrixFactorization { n, r, m32: m.data.iter().map(|&v| v as f32).collect(), m: m.data, eigenvalues, eigenvectors })
    }

    fn check_dims(n: usize, r: usize) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::invalid("n", "an integer >= 1", n));
        }
        if r == 0 || r > n {
            return Err(Error::invalid("rank", format!("an integer in [1, n = {n}]"), r));
        }
        Ok(())
    }

    /// Eigenvalues of M, descending.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// Fraction of ||U||_F^2 inside the span of M's top r eigenvectors (1 = top-r subspace).
    pub fn top_subspace_fraction(&self, x: &[f64]) -> f64 {
        let (n, r) = (self.n, self.r);
        let total: f64 = x.iter().map(|v| v * v).sum();
        let mut inside = 0.0;
        for k in 0..r {
            for col in 0..r {
                let proj: f64 = (0..n).map(|i| self.eigenvectors[i * n + k] * x[i * r + col]).sum();
                inside += proj * proj;
            }
        }
        inside / total.max(1e-300)
    }

    /// Value and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let (n, r) = (self.n, self.r);
        g.iter_mut().for_each(|v| *v = T::zero());
        let mut f = T::zero();
        let two = to_float::<T>(2.0);
        for i in 0..n {
            for j in 0..n {
                let mut e = T::zero();
                for k in 0..r {
                    e = e + x[i * r + k] * x[j * r + k];
                }
                e = e - to_float::<T>(self.m[i * n + j]);
                f = f + e * e;
                for k in 0..r {
                    g[i * r + k] = g[i * r + k] + two * e * x[j * r + k];
                }
            }
        }
        Eval { value: to_float::<T>(0.5) * f, label: 0, in_domain: true }
    }
}

/// From this n on the twins evaluate with two matrix products (`eval_products`); below it the
/// loop of [`MatrixFactorization::eval`], the WGSL twins' order, is as fast.
pub const PRODUCTS_FROM_N: usize = 48;


impl MatrixFactorization {
    /// Value and gradient as two matrix products: E = U U^T - M, f = 1/2 ||E||^2, g = 2 E U. The
    /// sums run in the products' order, not the loop's: floats agree with [`MatrixFactorization::eval`]
    /// to rounding (tested), not bit for bit.
    fn eval_products<T: Products>(&self, x: &[T], g: &mut [T], m: &[T]) -> Eval<T> {
        let (n, r) = (self.n, self.r);
        T::with_scratch(n * n, |e| {
            let (ni, ri) = (n as isize, r as isize);
            // SAFETY: x is n x r row-major (strides r, 1) and its transpose r x n (1, r); e is
            // n x n (n, 1) and g n x r (r, 1), each its own allocation.
            unsafe { T::product(n, r, n, T::one(), (x.as_ptr(), ri, 1), (x.as_ptr(), 1, ri), (e.as_mut_ptr(), ni, 1)) };
            let mut f = T::zero();
            for (ev, &mv) in e.iter_mut().zip(m) {
                *ev = *ev - mv;
                f = f + *ev * *ev;
            }
            // SAFETY: as above.
            unsafe { T::product(n, n, r, to_float::<T>(2.0), (e.as_ptr(), ni, 1), (x.as_ptr(), ri, 1), (g.as_mut_ptr(), ri, 1)) };
            Eval { value: to_float::<T>(0.5) * f, label: 0, in_domain: true }
        })
    }
}

impl Objective for MatrixFactorization {
    fn name(&self) -> &'static str {
        "matrix-factorization"
    }
    fn dim(&self) -> usize {
        self.n * self.r
    }
    fn eval_f64(&self, x: &[f64], grad: &mut [f64]) -> Eval<f64> {
        if self.n >= PRODUCTS_FROM_N { self.eval_products(x, grad, &self.m) } else { self.eval(x, grad) }
    }
    fn eval_f32(&self, x: &[f32], grad: &mut [f32]) -> Eval<f32> {
        if self.n >= PRODUCTS_FROM_N { self.eval_products(x, grad, &self.m32) } else { self.eval(x, grad) }
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n, "rank": self.r, "eigenvalues": self.eigenvalues })
    }
    fn default_params(&self) -> PgdParams {
        let lmax = self.eigenvalues.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-6);
        PgdParams { eta: 0.05 / lmax, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    /// f* = 1/2 (sum of all lambda^2 - sum of the top r positive lambda^2).
    fn f_min(&self) -> Option<f64> {
        let all: f64 = self.eigenvalues.iter().map(|v| v * v).sum();
        let top: f64 = self.eigenvalues.iter().take(self.r).filter(|v| **v > 0.0).map(|v| v * v).sum();
        Some(0.5 * (all - top))
    }
    /// With G(F) = sqrt(2F) + ||M||_F bounding ||U||_op^2: rho1 = 8 G, rho2 = 12 sqrt(G) <=
    /// 12 (sqrt(||M||_F) + 2^(1/4) F^(1/4)) (Jin et al. 2017's constants on {||U||^2 < G}).
    fn rho(&self) -> Option<(Rho, Rho)> {
        let mf: f64 = self.m.iter().map(|v| v * v).sum::<f64>().sqrt();
        Some((
            Rho { a: 8.0 * mf, b: 8.0 * 2f64.sqrt(), p: 0.5, fmin: 0.0 },
            Rho { a: 12.0 * mf.sqrt(), b: 12.0 * 2f64.powf(0.25), p: 0.25, fmin: 0.0 },
        ))
    }
    capabilities!(device);
}

impl DeviceForm for MatrixFactorization {
    fn wgsl(&self) -> String {
        format!(
            "const MF_N: u32 = {}u;\nconst MF_R: u32 = {}u;\n{}",
            self.n,
            self.r,
            include_str!("matrix_factorization.wgsl")
        )
    }
    fn wgsl_lanes(&self) -> Option<String> {
        Some(format!("const MF_N: u32 = {}u;\nconst MF_R: u32 = {}u;\n{}", self.n, self.r, include_str!("matrix_factorization.coop.wgsl")))
    }
    fn data(&self) -> Vec<f32> {
        self.m.iter().map(|&v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    /// The matrix products give the loop's value and gradient to rounding, in f64 and f32, and
    /// the gradient against central differences.
    #[test]
    fn products_agree_with_the_loop() {
        let mf = MatrixFactorization::generate(PRODUCTS_FROM_N + 5, 3, None, 7).unwrap();
        let d = mf.dim();
        let x: Vec<f64> = (0..d).map(|i| (i as f64 * 0.61).sin() * 0.7).collect();
        check_gradient(&mf, &x, 1e-5);
        let (mut g1, mut g2) = (vec![0.0; d], vec![0.0; d]);
        let (a, b) = (mf.eval(&x, &mut g1), mf.eval_f64(&x, &mut g2));
        assert!((a.value - b.value).abs() <= 1e-12 * a.value.abs(), "{} {}", a.value, b.value);
        assert!(g1.iter().zip(&g2).all(|(u, v)| (u - v).abs() <= 1e-12 * (1.0 + u.abs())));
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut h1, mut h2) = (vec![0.0f32; d], vec![0.0f32; d]);
        let (a, b) = (mf.eval(&x32, &mut h1), mf.eval_f32(&x32, &mut h2));
        assert!((a.value - b.value).abs() <= 1e-4 * a.value.abs(), "{} {}", a.value, b.value);
        assert!(h1.iter().zip(&h2).all(|(u, v)| (u - v).abs() <= 1e-4 * (1.0 + u.abs())));
    }

    #[test]
    fn gradient_minimum_and_subspace() {
        let mf = MatrixFactorization::generate(4, 2, Some(vec![3.0, 2.0, 0.5, 0.1]), 5).unwrap();
        let x: Vec<f64> = (0..8).map(|i| (i as f64 * 0.37).sin()).collect();
        check_gradient(&mf, &x, 1e-5);
        check_f32_twin(&mf, &x);
        // U = top eigenvectors scaled by sqrt(lambda) is a global minimum.
        let n = 4;
        let u: Vec<f64> = (0..n).flat_map(|i| (0..2).map(move |k| (i, k))).map(|(i, k)| mf.eigenvectors[i * n + k] * mf.eigenvalues[k].sqrt()).collect();
        let mut g = vec![0.0; 8];
        let e = mf.eval(&u, &mut g);
        assert!((e.value - mf.f_min().unwrap()).abs() < 1e-9, "{} vs {:?}", e.value, mf.f_min());
        assert!(g.iter().all(|v| v.abs() < 1e-9));
        assert!((mf.top_subspace_fraction(&u) - 1.0).abs() < 1e-9);
        assert!(MatrixFactorization::generate(3, 4, None, 0).is_err());
        let asym = Matrix { rows: 2, cols: 2, data: vec![1.0, 2.0, 0.0, 1.0] };
        assert!(MatrixFactorization::from_matrix(asym, 1).unwrap_err().to_string().contains("symmetric"));
    }
}
