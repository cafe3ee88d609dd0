//! Rosenbrock's function in dimension d >= 2.

use super::{DeviceForm, Eval, LANES, Lanes, Objective, capabilities, float_twins, lane_twins, to_float};
use crate::Error;
use crate::method::PgdParams;
use num_traits::Float;

/// Rosenbrock, f(x) = sum_{i<d-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (d >= 2); minimum 0 at 1.
#[derive(Clone, Copy, Debug)]
pub struct Rosenbrock {
    d: usize,
}

impl Rosenbrock {
    /// Rosenbrock in dimension d >= 2.
    pub fn new(d: usize) -> Result<Self, Error> {
        if d < 2 {
            return Err(Error::invalid("dim", "an integer >= 2 for rosenbrock", d));
        }
        Ok(Rosenbrock { d })
    }

    /// Value and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        g.iter_mut().for_each(|v| *v = T::zero());
        let mut f = T::zero();
        for i in 0..self.d - 1 {
            let ([f1, f2], [g1, g2], gj) = term(x[i], x[i + 1]);
            f = f + f1 + f2;
            g[i] = g[i] - g1 - g2;
            g[i + 1] = g[i + 1] + gj;
        }
        Eval { value: f, label: 0, in_domain: true }
    }
}

/// Term i's two parts (added to f in turn), the two parts subtracted from g_i in turn and the
/// part added to g_{i+1}, at
/// (x_i, x_{i+1}): the one formula of the scalar and the lane evaluation.
#[inline(always)]
fn term<T: Float>(xi: T, xj: T) -> ([T; 2], [T; 2], T) {
    let (hundred, two) = (to_float::<T>(100.0), to_float::<T>(2.0));
    let a = xj - xi * xi;
    let b = T::one() - xi;
    ([hundred * a * a, b * b], [to_float::<T>(400.0) * a * xi, two * b], to_float::<T>(200.0) * a)
}

/// [`Rosenbrock::eval`] for [`LANES`] points side by side (vectorised across lanes).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn eval_lanes<T: Float>(x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
    g.iter_mut().for_each(|r| *r = [T::zero(); LANES]);
    let mut f = [T::zero(); LANES];
    for i in 0..x.len() - 1 {
        for l in 0..LANES {
            let ([f1, f2], [g1, g2], gj) = term(x[i][l], x[i + 1][l]);
            f[l] = f[l] + f1 + f2;
            g[i][l] = g[i][l] - g1 - g2;
            g[i + 1][l] = g[i + 1][l] + gj;
        }
    }
    std::array::from_fn(|l| Eval { value: f[l], label: 0, in_domain: true })
}

impl Objective for Rosenbrock {
    fn name(&self) -> &'static str {
        "rosenbrock"
    }
    fn dim(&self) -> usize {
        self.d
    }
    float_twins!();
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "dim": self.d })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 1e-3, radius: 1e-3, g_thres: 1e-3, f_thres: 1e-4, t_thres: 50, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        Some(0.0)
    }
    capabilities!(device, lanes);
}

impl DeviceForm for Rosenbrock {
    fn wgsl(&self) -> String {
        include_str!("rosenbrock.wgsl").to_string()
    }
    fn wgsl_lanes(&self) -> Option<String> {
        Some(include_str!("rosenbrock.coop.wgsl").to_string())
    }
}

impl Lanes for Rosenbrock {
    lane_twins!(|self, x, g| eval_lanes(x, g));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    #[test]
    fn gradients() {
        let r = Rosenbrock::new(4).unwrap();
        check_gradient(&r, &[0.5, -0.3, 1.2, 0.9], 1e-5);
        check_f32_twin(&r, &[0.5, -0.3, 1.2, 0.9]);
        let mut g = [0.0; 4];
        assert_eq!(r.eval(&[1.0; 4], &mut g).value, 0.0);
        assert!(Rosenbrock::new(1).is_err());
    }
}
