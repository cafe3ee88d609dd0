//! The toy saddle f(x, y) = x^2/2 + y^4/4 - y^2/2 (d = 2): a strict saddle at 0 with
//! lambda_min = -1 and minima at (0, +-1) with f* = -1/4.

use super::{Curvature, DeviceForm, Eval, LANES, Lanes, Objective, capabilities, float_twins, lane_twins};
use crate::method::{PgdParams, Rho};
use num_traits::Float;

/// The toy saddle. Label 0 while the chain is in the saddle's negative-curvature band
/// (3 y^2 < 1), label 1 outside it (the basins of the minima).
#[derive(Clone, Copy, Debug, Default)]
pub struct ToySaddle;

impl ToySaddle {
    /// Value, label and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let (value, g0, g1, label) = at(x[0], x[1]);
        (g[0], g[1]) = (g0, g1);
        Eval { value, label, in_domain: true }
    }

    /// Hessian at (x, y): diag(1, 3y^2 - 1).
    pub fn hessian(&self, x: &[f64]) -> [[f64; 2]; 2] {
        [[1.0, 0.0], [0.0, 3.0 * x[1] * x[1] - 1.0]]
    }
}

/// Value, gradient and label at (a, b): the one formula of the scalar and the lane evaluation.
#[inline(always)]
fn at<T: Float>(a: T, b: T) -> (T, T, T, u32) {
    let half = T::from(0.5).unwrap();
    let quarter = T::from(0.25).unwrap();
    let b2 = b * b;
    let value = half * a * a + quarter * b2 * b2 - half * b2;
    let label = if T::from(3.0).unwrap() * b2 < T::one() { 0 } else { 1 };
    (value, a, b2 * b - b, label)
}

/// [`ToySaddle::eval`] for [`LANES`] points side by side (vectorised across lanes).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn eval_lanes<T: Float>(x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
    let (mut value, mut g0, mut g1, mut label) = ([T::zero(); LANES], [T::zero(); LANES], [T::zero(); LANES], [0u32; LANES]);
    for l in 0..LANES {
        (value[l], g0[l], g1[l], label[l]) = at(x[0][l], x[1][l]);
    }
    (g[0], g[1]) = (g0, g1);
    std::array::from_fn(|l| Eval { value: value[l], label: label[l], in_domain: true })
}

impl Objective for ToySaddle {
    fn name(&self) -> &'static str {
        "toy-saddle"
    }
    fn dim(&self) -> usize {
        2
    }
    float_twins!();
    fn params(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.1, radius: 0.01, g_thres: 1e-3, f_thres: 1e-3, t_thres: 20, certify: 0 }
    }
    fn minimum_labels(&self) -> Vec<u32> {
        vec![1]
    }
    fn f_min(&self) -> Option<f64> {
        Some(-0.25)
    }
    /// y^2 <= 1 + 2 sqrt(F + 1/4), so ||Hess|| = max(1, |3y^2 - 1|) <= 2 + 6 sqrt(F + 1/4) and
    /// ||D3 f|| = 6|y| <= 6 + 6 sqrt(2) (F + 1/4)^(1/4) (derived).
    fn rho(&self) -> Option<(Rho, Rho)> {
        Some((Rho { a: 2.0, b: 6.0, p: 0.5, fmin: -0.25 }, Rho { a: 6.0, b: 6.0 * 2f64.sqrt(), p: 0.25, fmin: -0.25 }))
    }
    capabilities!(device, curvature, lanes);
}

impl DeviceForm for ToySaddle {
    fn wgsl(&self) -> String {
        include_str!("toy_saddle.wgsl").to_string()
    }
}

impl Curvature for ToySaddle {
    /// H = diag(1, 3y^2 - 1).
    fn hvp_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        out[0] = v[0];
        out[1] = (3.0 * x[1] * x[1] - 1.0) * v[1];
    }
}

impl Lanes for ToySaddle {
    lane_twins!(|self, x, g| eval_lanes(x, g));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    #[test]
    fn gradient_matches_finite_differences() {
        for x in [[0.3, -0.7], [1.5, 2.0], [-0.1, 0.05], [0.0, 1.0]] {
            check_gradient(&ToySaddle, &x, 1e-6);
            check_f32_twin(&ToySaddle, &x);
        }
    }

    #[test]
    fn saddle_and_minima() {
        let mut g = [0.0; 2];
        assert_eq!(ToySaddle.eval(&[0.0, 0.0], &mut g).value, 0.0);
        assert_eq!(g, [0.0, 0.0]);
        assert_eq!(ToySaddle.eval(&[0.0, -1.0], &mut g).value, -0.25);
        assert_eq!(g, [0.0, 0.0]);
        assert_eq!(ToySaddle.hessian(&[0.0, 0.0])[1][1], -1.0);
        assert_eq!(ToySaddle.eval(&[0.0, 0.1], &mut g).label, 0);
        assert_eq!(ToySaddle.eval(&[0.0, 0.9], &mut g).label, 1);
        let (r1, _) = ToySaddle.rho().unwrap();
        for (a, b) in [(0.0, 0.0), (3.0, -2.0), (0.1, 5.0), (-4.0, 0.5)] {
            let h = ToySaddle.hessian(&[a, b]);
            let norm = h[0][0].abs().max(h[1][1].abs());
            assert!(norm <= r1.eval(ToySaddle.eval(&[a, b], &mut g).value));
        }
    }
}
