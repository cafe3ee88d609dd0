//! Classical two-line test functions: the degenerate quartic and Rosenbrock.

use super::{Eval, Objective, c, float_twins};
use crate::Error;
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
        Eval { value: c::<T>(0.25) * s * s, label: 0, in_domain: true }
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
        "// Degenerate quartic 1/4 (x^2 - y^2)^2; twin of src/objective/classic.rs.\n\
         fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {\n\
         \x20   let s = (*x)[0] * (*x)[0] - (*x)[1] * (*x)[1];\n\
         \x20   (*g)[0] = (*x)[0] * s;\n\
         \x20   (*g)[1] = -(*x)[1] * s;\n\
         \x20   return Eval(0.25 * s * s, 0u, 1u);\n}\n"
            .into()
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
        let (hundred, two) = (c::<T>(100.0), c::<T>(2.0));
        g.iter_mut().for_each(|v| *v = T::zero());
        let mut f = T::zero();
        for i in 0..self.d - 1 {
            let a = x[i + 1] - x[i] * x[i];
            let b = T::one() - x[i];
            f = f + hundred * a * a + b * b;
            g[i] = g[i] - c::<T>(400.0) * a * x[i] - two * b;
            g[i + 1] = g[i + 1] + c::<T>(200.0) * a;
        }
        Eval { value: f, label: 0, in_domain: true }
    }
}

impl Objective for Rosenbrock {
    fn name(&self) -> &'static str {
        "rosenbrock"
    }
    fn dim(&self) -> usize {
        self.d
    }
    float_twins!();
    fn wgsl(&self) -> String {
        "// Rosenbrock; twin of src/objective/classic.rs.\n\
         fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {\n\
         \x20   for (var i = 0u; i < D; i++) { (*g)[i] = 0.0; }\n\
         \x20   var f: real = 0.0;\n\
         \x20   for (var i = 0u; i + 1u < D; i++) {\n\
         \x20       let a = (*x)[i + 1u] - (*x)[i] * (*x)[i];\n\
         \x20       let b = 1.0 - (*x)[i];\n\
         \x20       f = f + 100.0 * a * a + b * b;\n\
         \x20       (*g)[i] = (*g)[i] - 400.0 * a * (*x)[i] - 2.0 * b;\n\
         \x20       (*g)[i + 1u] = (*g)[i + 1u] + 200.0 * a;\n\
         \x20   }\n\
         \x20   return Eval(f, 0u, 1u);\n}\n"
            .into()
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "dim": self.d })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 1e-3, radius: 1e-3, g_thres: 1e-3, f_thres: 1e-4, t_thres: 50, certify: 0 }
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
        let r = Rosenbrock::new(4).unwrap();
        check_gradient(&r, &[0.5, -0.3, 1.2, 0.9], 1e-5);
        check_f32_twin(&r, &[0.5, -0.3, 1.2, 0.9]);
        let mut g = [0.0; 4];
        assert_eq!(r.eval(&[1.0; 4], &mut g).value, 0.0);
        assert!(Rosenbrock::new(1).is_err());
    }
}
