//! The quartic saddle f(x) = 1/2 sum_i l_i x_i^2 + 1/4 sum_i x_i^4 (any d). With some l_i < 0 it
//! has a strict saddle at 0; it is not globally smooth but self-bounding. Along a direction with
//! l_i < 0 GD grows the component as (1 + eta |l_i|)^t near 0.

use super::{Curvature, DeviceForm, Eval, LANES, Lanes, Objective, capabilities, float_twins, lane_twins, to_float, wgsl_real};
use crate::Error;
use crate::method::{PgdParams, Rho};
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
        let mut f = T::zero();
        let mut label = 0;
        for (i, (&xi, &li)) in x.iter().zip(&self.eig).enumerate() {
            let (gi, f1, f2, out) = term(xi, li);
            g[i] = gi;
            f = f + f1 + f2;
            label |= u32::from(out);
        }
        Eval { value: f, label, in_domain: true }
    }
}

/// Coordinate i's gradient, its two terms of f (added in turn) and whether it left its negative-curvature band: the
/// one formula of the scalar and the lane evaluation.
#[inline(always)]
fn term<T: Float>(xi: T, li: f64) -> (T, T, T, bool) {
    let (half, quarter, three) = (to_float::<T>(0.5), to_float::<T>(0.25), to_float::<T>(3.0));
    let l = to_float::<T>(li);
    let x2 = xi * xi;
    (l * xi + x2 * xi, half * l * x2, quarter * x2 * x2, li < 0.0 && three * x2 >= -l)
}

/// [`Quartic::eval`] for [`LANES`] points side by side (vectorised across lanes).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
fn eval_lanes<T: Float>(eig: &[f64], x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
    let (mut f, mut label) = ([T::zero(); LANES], [0u32; LANES]);
    for ((xr, gr), &li) in x.iter().zip(g.iter_mut()).zip(eig) {
        for l in 0..LANES {
            let (gi, f1, f2, out) = term(xr[l], li);
            gr[l] = gi;
            f[l] = f[l] + f1 + f2;
            label[l] |= u32::from(out);
        }
    }
    std::array::from_fn(|l| Eval { value: f[l], label: label[l], in_domain: true })
}

impl Objective for Quartic {
    fn name(&self) -> &'static str {
        "quartic"
    }
    fn dim(&self) -> usize {
        self.eig.len()
    }
    float_twins!();
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "eigenvalues": self.eig })
    }
    fn default_params(&self) -> PgdParams {
        let lmax = self.eig.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-6);
        PgdParams { eta: 0.1 / lmax, radius: 0.01, g_thres: 1e-3, f_thres: 1e-3, t_thres: 20, certify: 0 }
    }
    fn minimum_labels(&self) -> Vec<u32> {
        vec![1]
    }
    fn f_min(&self) -> Option<f64> {
        Some(self.eig.iter().filter(|&&l| l < 0.0).map(|l| -l * l / 4.0).sum())
    }
    /// Each coordinate's excess over its minimum is at most F - f*, which gives
    /// x_i^2 <= L- + 2 sqrt(F - f*) (L- = max(0, -min l)); hence ||Hess|| = max |l_i + 3 x_i^2|
    /// <= max|l| + 3 L- + 6 sqrt(F - f*) and ||D3 f|| = 6 max|x_i| <= 6 sqrt(L-) +
    /// 6 sqrt(2) (F - f*)^(1/4) (derived).
    fn rho(&self) -> Option<(Rho, Rho)> {
        let fmin = self.f_min()?;
        let lmax = self.eig.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let lneg = self.eig.iter().fold(0.0f64, |m, v| m.max(-v));
        Some((
            Rho { a: lmax + 3.0 * lneg, b: 6.0, p: 0.5, fmin },
            Rho { a: 6.0 * lneg.sqrt(), b: 6.0 * 2f64.sqrt(), p: 0.25, fmin },
        ))
    }
    capabilities!(device, curvature, lanes);
}

impl DeviceForm for Quartic {
    fn wgsl(&self) -> String {
        let eig: Vec<String> = self.eig.iter().map(|&v| wgsl_real(v)).collect();
        format!(
            "var<private> QUARTIC_EIG: array<real, D> = array<real, D>({});\n{}",
            eig.join(", "),
            include_str!("quartic.wgsl")
        )
    }
    /// The l_i come from `data` (at large d a D-long constant array would be held per
    /// invocation, what the cooperative family avoids).
    fn wgsl_lanes(&self) -> Option<String> {
        Some(include_str!("quartic.coop.wgsl").to_string())
    }
    /// Each l_i as two f32 (its rounding and the rest), so that f64 kernels read it exactly (to
    /// 48 bits) and f32 kernels as the nearest f32, as the twins' `to_float` does.
    fn data_lanes(&self) -> Vec<f32> {
        self.eig.iter().flat_map(|&l| [l as f32, (l - f64::from(l as f32)) as f32]).collect()
    }
}

impl Curvature for Quartic {
    /// H = diag(l_i + 3 x_i^2).
    fn hvp_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        for i in 0..x.len() {
            out[i] = (self.eig[i] + 3.0 * x[i] * x[i]) * v[i];
        }
    }
}

impl Lanes for Quartic {
    lane_twins!(|self, x, g| eval_lanes(&self.eig, x, g));
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
        // rho1 bounds the Hessian norm max |l_i + 3 x_i^2| at every point.
        let q = Quartic::new(vec![-2.0, 0.5, 1.0]).unwrap();
        let (r1, _) = q.rho().unwrap();
        for s in 0..50 {
            let x: Vec<f64> = (0..3).map(|i| ((s * 7 + i * 3) as f64 * 0.61).sin() * (1.0 + s as f64 / 10.0)).collect();
            let mut g = [0.0; 3];
            let f = q.eval(&x, &mut g).value;
            let h = (0..3).map(|i| (q.eig[i] + 3.0 * x[i] * x[i]).abs()).fold(0.0, f64::max);
            assert!(h <= r1.eval(f) + 1e-12, "||H|| {h} > rho1 {}", r1.eval(f));
        }
        assert!(Quartic::new(vec![f64::NAN]).is_err());
    }
}
