//! Rosenbrock's function in dimension d >= 2.

use super::{Eval, Objective, float_twins, to_float};
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
        let (hundred, two) = (to_float::<T>(100.0), to_float::<T>(2.0));
        g.iter_mut().for_each(|v| *v = T::zero());
        let mut f = T::zero();
        for i in 0..self.d - 1 {
            let a = x[i + 1] - x[i] * x[i];
            let b = T::one() - x[i];
            f = f + hundred * a * a + b * b;
            g[i] = g[i] - to_float::<T>(400.0) * a * x[i] - two * b;
            g[i + 1] = g[i + 1] + to_float::<T>(200.0) * a;
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
        include_str!("rosenbrock.wgsl").to_string()
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
        let r = Rosenbrock::new(4).unwrap();
        check_gradient(&r, &[0.5, -0.3, 1.2, 0.9], 1e-5);
        check_f32_twin(&r, &[0.5, -0.3, 1.2, 0.9]);
        let mut g = [0.0; 4];
        assert_eq!(r.eval(&[1.0; 4], &mut g).value, 0.0);
        assert!(Rosenbrock::new(1).is_err());
    }
}
