//! The degenerate quartic f(x, y) = 1/4 (x^2 - y^2)^2 (d = 2).

use super::{DeviceForm, Eval, LANES, Lanes, Objective, capabilities, float_twins, lane_twins, to_float};
use crate::method::PgdParams;
use num_traits::Float;

/// f(x, y) = 1/4 (x^2 - y^2)^2: non-strict saddles along y = +-x and a Hessian unbounded on the
/// minimizing set. Neither (L0, L1)-smooth nor self-bounding: the checker's negative case.
#[derive(Clone, Copy, Debug, Default)]
pub struct DegenerateQuartic;

impl DegenerateQuartic {
    /// Value and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let value;
        (value, g[0], g[1]) = at(x[0], x[1]);
        Eval { value, label: 0, in_domain: true }
    }
}

/// Value and gradient at (a, b): the one formula of the scalar and the lane evaluation.
#[inline(always)]
fn at<T: Float>(a: T, b: T) -> (T, T, T) {
    let s = a * a - b * b;
    (to_float::<T>(0.25) * s * s, a * s, -b * s)
}

/// [`DegenerateQuartic::eval`] for [`LANES`] points side by side (vectorised across lanes).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn eval_lanes<T: Float>(x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
    let (mut value, mut g0, mut g1) = ([T::zero(); LANES], [T::zero(); LANES], [T::zero(); LANES]);
    for l in 0..LANES {
        (value[l], g0[l], g1[l]) = at(x[0][l], x[1][l]);
    }
    (g[0], g[1]) = (g0, g1);
    std::array::from_fn(|l| Eval { value: value[l], label: 0, in_domain: true })
}

impl Objective for DegenerateQuartic {
    fn name(&self) -> &'static str {
        "degenerate-quartic"
    }
    fn dim(&self) -> usize {
        2
    }
    float_twins!();
    fn params(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.05, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        Some(0.0)
    }
    capabilities!(device, lanes);
}

impl DeviceForm for DegenerateQuartic {
    fn wgsl(&self) -> String {
        include_str!("degenerate_quartic.wgsl").to_string()
    }
}

impl Lanes for DegenerateQuartic {
    lane_twins!(|self, x, g| eval_lanes(x, g));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    #[test]
    fn gradients() {
        for x in [[0.3, -0.7], [1.5, 1.0]] {
            check_gradient(&DegenerateQuartic, &x, 1e-6);
            check_f32_twin(&DegenerateQuartic, &x);
        }
    }
}
