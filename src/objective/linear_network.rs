//! Asymmetric factorization / two-layer linear network
//! f(W, H) = 1/2 ||W H - Y||_F^2 + kappa/4 (||W||_F^4 + ||H||_F^4), W in R^{n x r}, H in R^{r x p},
//! x = [vec(W); vec(H)] row-major. Saddle at W = H = 0. With kappa = 0 it is NOT self-bounding:
//! (W D, D^-1 H) keeps f while the Hessian grows.

use super::{DeviceForm, Eval, Objective, capabilities, to_float, wgsl_real};
use super::data::Matrix;
use super::products::Products;
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
    /// Y rounded to f32 once, for the f32 twin's matrix products.
    y32: Vec<f32>,
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
        Ok(LinearNetwork { n, r, p, kappa, y32: y.data.iter().map(|&v| v as f32).collect(), y: y.data, singular_values })
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
        self.regularise(x, g, f)
    }
}

/// From this many multiply-adds in W H (n r p) on the twins evaluate with three matrix products
/// (`eval_products`); below it the loop of [`LinearNetwork::eval`], the WGSL twins' order.
pub const PRODUCTS_FROM: usize = 4096;

impl LinearNetwork {
    /// Value and gradient as three matrix products: E = W H - Y, g_W = E H^T, g_H = W^T E, plus
    /// the regulariser's terms as in the loop. The sums run in the products' order: floats agree
    /// with [`LinearNetwork::eval`] to rounding (tested), not bit for bit.
    fn eval_products<T: Products>(&self, x: &[T], g: &mut [T], y: &[T]) -> Eval<T> {
        let (n, r, p) = (self.n, self.r, self.p);
        let (w, h) = x.split_at(n * r);
        let (gw, gh) = g.split_at_mut(n * r);
        let f = T::with_scratch(n * p, |e| {
            let (ri, pi) = (r as isize, p as isize);
            // SAFETY: W is n x r (strides r, 1) and W^T r x n (1, r); H is r x p (p, 1) and H^T
            // p x r (1, p); E is n x p (p, 1); g_W and g_H are n x r and r x p, row-major; E is
            // the thread's scratch, apart from x and g.
            unsafe { T::product(n, r, p, T::one(), (w.as_ptr(), ri, 1), (h.as_ptr(), pi, 1), (e.as_mut_ptr(), pi, 1)) };
            let mut f = T::zero();
            for (ev, &yv) in e.iter_mut().zip(y) {
                *ev = *ev - yv;
                f = f + *ev * *ev;
            }
            // SAFETY: as above.
            unsafe {
                T::product(n, p, r, T::one(), (e.as_ptr(), pi, 1), (h.as_ptr(), 1, pi), (gw.as_mut_ptr(), ri, 1));
                T::product(r, n, p, T::one(), (w.as_ptr(), 1, ri), (e.as_ptr(), pi, 1), (gh.as_mut_ptr(), pi, 1));
            }
            f
        });
        self.regularise(x, g, f)
    }

    /// Adds the regulariser kappa/4 (||W||^4 + ||H||^4) to the data term's value `f` (twice the
    /// loss) and gradient `g`.
    fn regularise<T: Float>(&self, x: &[T], g: &mut [T], f: T) -> Eval<T> {
        let (w, h) = x.split_at(self.n * self.r);
        let (mut wn2, mut hn2) = (T::zero(), T::zero());
        for v in w {
            wn2 = wn2 + *v * *v;
        }
        for v in h {
            hn2 = hn2 + *v * *v;
        }
        let kappa = to_float::<T>(self.kappa);
        let (gw, gh) = g.split_at_mut(self.n * self.r);
        gw.iter_mut().zip(w).for_each(|(g, v)| *g = *g + kappa * wn2 * *v);
        gh.iter_mut().zip(h).for_each(|(g, v)| *g = *g + kappa * hn2 * *v);
        let value = to_float::<T>(0.5) * f + kappa * to_float::<T>(0.25) * (wn2 * wn2 + hn2 * hn2);
        Eval { value, label: 0, in_domain: true }
    }

    /// Whether the twins evaluate as matrix products (see [`PRODUCTS_FROM`]).
    fn products(&self) -> bool {
        self.n * self.r * self.p >= PRODUCTS_FROM
    }

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
    fn eval_f64(&self, x: &[f64], g: &mut [f64]) -> Eval<f64> {
        if self.products() { self.eval_products(x, g, &self.y) } else { self.eval(x, g) }
    }
    fn eval_f32(&self, x: &[f32], g: &mut [f32]) -> Eval<f32> {
        if self.products() { self.eval_products(x, g, &self.y32) } else { self.eval(x, g) }
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
    capabilities!(device);
}

impl DeviceForm for LinearNetwork {
    fn wgsl(&self) -> String {
        self.wgsl_constants() + include_str!("linear_network.wgsl")
    }
    fn wgsl_lanes(&self) -> Option<String> {
        Some(self.wgsl_constants() + include_str!("linear_network.coop.wgsl"))
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

    /// The matrix products agree with the loop to rounding (1e-12 of the gradient's scale in f64,
    /// 1e-5 in f32), with and without the regulariser, at shapes around the threshold.
    #[test]
    fn products_agree_with_the_loop() {
        for (n, r, p, kappa) in [(16, 16, 16, 0.0), (40, 3, 50, 0.2), (9, 33, 21, 0.0)] {
            let ln = LinearNetwork::generate(n, r, p, kappa, 4).unwrap();
            assert!(ln.products());
            let x: Vec<f64> = (0..ln.dim()).map(|i| (i as f64 * 0.37).sin() * 0.3).collect();
            let (mut g_loop, mut g_prod) = (vec![0.0; ln.dim()], vec![0.0; ln.dim()]);
            let (a, b) = (ln.eval(&x, &mut g_loop).value, ln.eval_f64(&x, &mut g_prod).value);
            let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f64::max);
            let worst = g_loop.iter().zip(&g_prod).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max) / scale;
            assert!(worst <= 1e-12 && (a - b).abs() <= 1e-12 * a.abs(), "f64 {n}x{r}x{p}: {worst:e}, {a} vs {b}");
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let (mut g_loop, mut g_prod) = (vec![0.0f32; ln.dim()], vec![0.0f32; ln.dim()]);
            let (a, b) = (ln.eval(&x32, &mut g_loop).value, ln.eval_f32(&x32, &mut g_prod).value);
            let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f32::max);
            let worst = g_loop.iter().zip(&g_prod).map(|(u, v)| (u - v).abs()).fold(0.0, f32::max) / scale;
            assert!(worst <= 1e-5 && (a - b).abs() <= 1e-5 * a.abs(), "f32 {n}x{r}x{p}: {worst:e}, {a} vs {b}");
            check_gradient(&ln, &x, 1e-5);
        }
    }
}
