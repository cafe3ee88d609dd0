//! The quartic saddle f(x) = 1/2 sum_i l_i x_i^2 + 1/4 sum_i x_i^4 (any d). With some l_i < 0 it
//! has a strict saddle at 0; it is not globally smooth but self-bounding. Along a direction with
//! l_i < 0 GD grows the component as (1 + eta |l_i|)^t near 0.

use super::{Eval, Objective, c, float_twins, wgsl_f32};
use crate::Error;
use crate::method::PgdParams;
use num_traits::Float;

/// The quartic saddle with Hessian eigenvalues `l_i` at 0. Label 0 while every negative direction
/// is still inside its negative-curvature band (3 x_i^2 < -l_i), label 1 once one has left it.
#[derive(Clone, Debug)]
pub struct Quartic {
    eig: Vec<f64>,
}

impl Quartic {
    /// The default spectrum (-1, 1, ..., 1) of length `d`.
    pub fn default_eigenvalues(d: usize) -> Vec<f64> {
        (0..d).map(|i| if i == 0 { -1.0 } else { 1.0 }).collect()
    }

    /// A quartic with the given eigenvalues (finite, at least one).
    pub fn new(eigenvalues: Vec<f64>) -> Result<Self, Error> {
        if eigenvalues.is_empty() {
            return Err(Error::invalid("eigenvalues", "a non-empty list", "[]"));
        }
        if let Some(bad) = eigenvalues.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid("eigenvalues", "finite numbers", bad));
        }
        Ok(Quartic { eig: eigenvalues })
    }

    /// The eigenvalues l_i.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eig
    }

    /// Value, label and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let (half, quarter, three) = (c::<T>(0.5), c::<T>(0.25), c::<T>(3.0));
        let mut f = T::zero();
        let mut label = 0;
        for (i, (&xi, &li)) in x.iter().zip(&self.eig).enumerate() {
            let l = c::<T>(li);
            let x2 = xi * xi;
            g[i] = l * xi + x2 * xi;
            f = f + half * l * x2 + quarter * x2 * x2;
            if li < 0.0 && three * x2 >= -l {
                label = 1;
            }
        }
        Eval { value: f, label, in_domain: true }
    }
}

impl Objective for Quartic {
    fn name(&self) -> &'static str {
        "quartic"
    }
    fn dim(&self) -> usize {
        self.eig.len()
    }
    float_twins!();
    fn wgsl(&self) -> String {
        let eig: Vec<String> = self.eig.iter().map(|&v| wgsl_f32(v)).collect();
        format!(
            "var<private> QUARTIC_EIG: array<f32, D> = array<f32, D>({});\n{}",
            eig.join(", "),
            include_str!("../../shaders/objectives/quartic.wgsl")
        )
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "eigenvalues": self.eig })
    }
    fn default_params(&self) -> PgdParams {
        let lmax = self.eig.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-6);
        PgdParams { eta: 0.1 / lmax, radius: 0.01, g_thres: 1e-3, f_thres: 1e-3, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        Some(self.eig.iter().filter(|&&l| l < 0.0).map(|l| -l * l / 4.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let q = Quartic::new(vec![-1.0, 0.5, 2.0, -0.25]).unwrap();
        for x in [[0.1, -0.2, 0.3, 0.4], [2.0, -1.5, 0.0, 1.0], [-0.7, 0.7, -0.7, 0.7]] {
            check_gradient(&q, &x, 1e-6);
            check_f32_twin(&q, &x);
        }
    }

    #[test]
    fn minimum_value_and_labels() {
        let q = Quartic::new(vec![-1.0, 1.0, 1.0]).unwrap();
        let mut g = [0.0; 3];
        let e = q.eval(&[1.0, 0.0, 0.0], &mut g);
        assert_eq!(e.value, q.f_min().unwrap());
        assert_eq!(g, [0.0; 3]);
        assert_eq!(e.label, 1);
        assert_eq!(q.eval(&[0.1, 5.0, 0.0], &mut g).label, 0);
        assert!(Quartic::new(vec![]).is_err());
        assert!(Quartic::new(vec![f64::NAN]).is_err());
    }
}
