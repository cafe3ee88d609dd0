//! The degenerate quartic f(x, y) = 1/4 (x^2 - y^2)^2 (d = 2).

use super::{Eval, Objective, float_twins, to_float};
use crate::method::PgdParams;
use num_traits::Float;

/// f(x, y) = 1/4 (x^2 - y^2)^2: non-strict saddles along y = +-x and a Hessian unbounded on the
/// minimizing set. Neither (L0, L1)-smooth nor self-bounding: the checker's negative case.
#[derive(Clone, Copy, Debug, Default)]
pub struct DegenerateQuartic;

impl DegenerateQuartic {
    /// Value and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let s = x[0] * x[0] - x[1] * x[1];
        g[0] = x[0] * s;
        g[1] = -x[1] * s;
        Eval { value: to_float::<T>(0.25) * s * s, label: 0, in_domain: true }
    }
}

impl Objective for DegenerateQuartic {
    fn name(&self) -> &'static str {
        "degenerate-quartic"
    }
    fn dim(&self) -> usize {
        2
    }
    float_twins!();
    fn wgsl(&self) -> String {
        include_str!("degenerate_quartic.wgsl").to_string()
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.05, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        Some(0.0)
    }
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
