//! Asymmetric factorization / two-layer linear network
//! f(W, H) = 1/2 ||W H - Y||_F^2 + kappa/4 (||W||_F^4 + ||H||_F^4), W in R^{n x r}, H in R^{r x p},
//! x = [vec(W); vec(H)] row-major. Saddle at W = H = 0. With kappa = 0 it is NOT self-bounding:
//! (W D, D^-1 H) keeps f while the Hessian grows.

use super::data::Matrix;
use super::{Eval, Objective, float_twins, to_float, wgsl_real};
use crate::method::PgdParams;
use crate::{Error, linalg, rng};
use num_traits::Float;

/// The linear network. Label 0 (no regions).
#[derive(Clone, Debug)]
pub struct LinearNetwork {
    n: usize,
    r: usize,
    p: usize,
    kappa: f64,
    y: Vec<f64>,
    singular_values: Vec<f64>,
}

impl LinearNetwork {
    /// Y with i.i.d. N(0, 1/p) entries from `seed`.
    pub fn generate(n: usize, r: usize, p: usize, kappa: f64, seed: u64) -> Result<Self, Error> {
        if p == 0 {
            return Err(Error::invalid("p", "an integer >= 1", p));
        }
        super::data::fits_host(n.checked_mul(p), "Y is n x p: --dim and --p")?;
        let scale = 1.0 / (p.max(1) as f64).sqrt();
        let y = rng::data_normals(seed, 0, n * p).into_iter().map(|v| v * scale).collect();
        Self::from_target(Matrix { rows: n, cols: p, data: y }, r, kappa)
    }

    /// From a target Y (n x p), inner width r and regularization kappa >= 0.
    pub fn from_target(y: Matrix, r: usize, kappa: f64) -> Result<Self, Error> {
        let (n, p) = (y.rows, y.cols);
        if r == 0 {
            return Err(Error::invalid("rank", "an integer >= 1", r));
        }
        if !(kappa.is_finite() && kappa >= 0.0) {
            return Err(Error::invalid("kappa", "a finite number >= 0", kappa));
        }
        super::data::fits_host(n.checked_mul(n).and_then(|v| v.checked_mul(2)), "Y Y^T is n x n: the rows of Y")?;
        let mut yyt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                yyt[i * n + j] = (0..p).map(|k| y.at(i, k) * y.at(j, k)).sum();
            }
        }
        let (ev, _) = linalg::sym_eigen(&yyt, n);
        let singular_values = ev.iter().map(|v| v.max(0.0).sqrt()).collect();
        Ok(LinearNetwork { n, r, p, kappa, y: y.data, singular_values })
    }

    /// Value and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let (n, r, p) = (self.n, self.r, self.p);
        let (w, h) = x.split_at(n * r);
        g.iter_mut().for_each(|v| *v = T::zero());
        let mut f = T::zero();
        for i in 0..n {
            for j in 0..p {
                let mut res = T::zero();
                for k in 0..r {
                    res = res + w[i * r + k] * h[k * p + j];
                }
                res = res - to_float::<T>(self.y[i * p + j]);
                f = f + res * res;
                for k in 0..r {
                    g[i * r + k] = g[i * r + k] + res * h[k * p + j];
                    g[n * r + k * p + j] = g[n * r + k * p + j] + w[i * r + k] * res;
                }
            }
        }
        let (mut wn2, mut hn2) = (T::zero(), T::zero());
        for v in w {
            wn2 = wn2 + *v * *v;
        }
        for v in h {
            hn2 = hn2 + *v * *v;
        }
        let kappa = to_float::<T>(self.kappa);
        for i in 0..n * r {
            g[i] = g[i] + kappa * wn2 * x[i];
        }
        for i in n * r..x.len() {
            g[i] = g[i] + kappa * hn2 * x[i];
        }
        let value = to_float::<T>(0.5) * f + kappa * to_float::<T>(0.25) * (wn2 * wn2 + hn2 * hn2);
        Eval { value, label: 0, in_domain: true }
    }
}

impl LinearNetwork {
    /// The constants both WGSL forms read: n, r, p and kappa.
    fn wgsl_constants(&self) -> String {
        format!("const LN_N: u32 = {}u;\nconst LN_R: u32 = {}u;\nconst LN_P: u32 = {}u;\nconst LN_KAPPA: real = {};\n", self.n, self.r, self.p, wgsl_real(self.kappa))
    }
}

impl Objective for LinearNetwork {
    fn name(&self) -> &'static str {
        "linear-network"
    }
    fn dim(&self) -> usize {
        self.n * self.r + self.r * self.p
    }
    float_twins!();
    fn wgsl(&self) -> String {
        self.wgsl_constants() + include_str!("linear_network.wgsl")
    }
    fn wgsl_lanes(&self) -> Option<String> {
        Some(self.wgsl_constants() + include_str!("linear_network.coop.wgsl"))
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "n": self.n, "rank": self.r, "p": self.p, "kappa": self.kappa })
    }
    fn default_params(&self) -> PgdParams {
        let smax = self.singular_values.first().copied().unwrap_or(1.0).max(1e-6);
        PgdParams { eta: 0.05 / smax, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    /// For kappa = 0: f* = 1/2 sum of the squared singular values of Y beyond the r-th
    /// (Eckart-Young). Unknown for kappa > 0.
    fn f_min(&self) -> Option<f64> {
        (self.kappa == 0.0).then(|| 0.5 * self.singular_values.iter().skip(self.r).map(|s| s * s).sum::<f64>())
    }
    fn data(&self) -> Vec<f32> {
        self.y.iter().map(|&v| v as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    #[test]
    fn gradient_and_rescaling_invariance() {
        for kappa in [0.0, 0.3] {
            let ln = LinearNetwork::generate(3, 2, 4, kappa, 9).unwrap();
            let x: Vec<f64> = (0..ln.dim()).map(|i| (i as f64 * 0.71).cos()).collect();
            check_gradient(&ln, &x, 1e-5);
            check_f32_twin(&ln, &x);
        }
        // kappa = 0: (W D, D^-1 H) leaves f unchanged.
        let ln = LinearNetwork::generate(2, 1, 2, 0.0, 1).unwrap();
        let mut g = vec![0.0; 4];
        let a = ln.eval(&[0.5, -0.3, 0.8, 0.2], &mut g).value;
        let b = ln.eval(&[5.0, -3.0, 0.08, 0.02], &mut g).value;
        assert!((a - b).abs() < 1e-12);
        assert!(LinearNetwork::generate(2, 1, 2, -1.0, 1).is_err());
    }
}
