//! The octopus of Du, Jin, Lee, Jordan, Poczos and Singh (2017), "Gradient Descent Can Take
//! Exponential Time to Escape Saddle Points": d strict saddles in a chain, the i-th at
//! (4tau, ..., 4tau, 0, ..., 0) with i-1 leading 4tau's; global minimum at (4tau, ..., 4tau).
//!
//! With a = |x_i| for the first index i with |x_i| <= 2tau the function is, for 1-based i,
//!   i < d, a <= tau:        S - gamma x_i^2 + L sum_{j>i} x_j^2 - (i-1) nu
//!   i < d, tau < a <= 2tau: S + g1(a) + g2(a) x_{i+1}^2 + L sum_{j>i+1} x_j^2 - (i-1) nu
//!   i = d, a <= tau:        S - gamma x_d^2 - (d-1) nu
//!   i = d, tau < a <= 2tau: S + g1(a) - (d-1) nu
//!   all |x_j| > 2tau:       L sum_j (|x_j| - 4tau)^2 - d nu
//! with S = sum_{j<i} L (|x_j| - 4tau)^2. The construction defines f only inside the "tube"
//! |x_j| <= tau for all j > i; outside it the chain is reported out of domain, never given a value.

use super::{DeviceForm, Eval, Objective, capabilities, float_twins, to_float, wgsl_real};
use crate::Error;
use crate::method::PgdParams;
use num_traits::Float;

/// The octopus. Label = 1-based index of the saddle region the chain is in; d + 1 in the basin of
/// the global minimum.
#[derive(Clone, Debug)]
pub struct Octopus {
    d: usize,
    tau: f64,
    gamma: f64,
    l: f64,
}

impl Octopus {
    /// An octopus in dimension `d` with region size `tau`, negative curvature `gamma` and
    /// positive curvature `l` (all > 0 and finite).
    pub fn new(d: usize, tau: f64, gamma: f64, l: f64) -> Result<Self, Error> {
        if d == 0 {
            return Err(Error::invalid("dim", "an integer >= 1", d));
        }
        for (field, v) in [("tau", tau), ("gamma", gamma), ("L", l)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(field, "a finite number > 0", v));
            }
        }
        Ok(Octopus { d, tau, gamma, l })
    }

    /// nu = 4 L tau^2 - g1(2 tau) = (37/6) L tau^2 + (13/6) gamma tau^2: the drop per saddle.
    pub fn nu(&self) -> f64 {
        (37.0 / 6.0) * self.l * self.tau * self.tau + (13.0 / 6.0) * self.gamma * self.tau * self.tau
    }

    /// g1 and its derivative at a.
    pub fn g1<T: Float>(&self, a: T) -> (T, T) {
        let (tau, gamma, l) = (to_float::<T>(self.tau), to_float::<T>(self.gamma), to_float::<T>(self.l));
        let k3 = to_float::<T>(-14.0 * self.l + 10.0 * self.gamma);
        let k4 = to_float::<T>(5.0 * self.l - 3.0 * self.gamma);
        let _ = l;
        let s = a - tau;
        let s2 = s * s;
        let v = -gamma * a * a + k3 * s2 * s / (to_float::<T>(3.0) * tau) + k4 * s2 * s2 / (to_float::<T>(2.0) * tau * tau);
        let dv = to_float::<T>(-2.0) * gamma * a + k3 * s2 / tau + to_float::<T>(2.0) * k4 * s2 * s / (tau * tau);
        (v, dv)
    }

    /// g2 and its derivative at a.
    pub fn g2<T: Float>(&self, a: T) -> (T, T) {
        let (tau, gamma) = (to_float::<T>(self.tau), to_float::<T>(self.gamma));
        let lg = to_float::<T>(self.l + self.gamma);
        let s = (a - to_float::<T>(2.0) * tau) / tau;
        let s2 = s * s;
        let v = -gamma - lg * (to_float::<T>(10.0) * s2 * s + to_float::<T>(15.0) * s2 * s2 + to_float::<T>(6.0) * s2 * s2 * s);
        let dv = -lg * (to_float::<T>(30.0) * s2 + to_float::<T>(60.0) * s2 * s + to_float::<T>(30.0) * s2 * s2) / tau;
        (v, dv)
    }

    /// Value, label and gradient, generic over the float type.
    pub fn eval<T: Float>(&self, x: &[T], g: &mut [T]) -> Eval<T> {
        let d = self.d;
        let (tau, gamma, l) = (to_float::<T>(self.tau), to_float::<T>(self.gamma), to_float::<T>(self.l));
        let (two, four) = (to_float::<T>(2.0), to_float::<T>(4.0));
        let nu = to_float::<T>(self.nu());
        let i = x.iter().position(|v| v.abs() <= two * tau).unwrap_or(d);
        // Outside the tube (or at a non-finite point) the construction gives no value.
        if x.iter().any(|v| !v.is_finite()) || x.iter().skip(i + 1).any(|v| v.abs() > tau) {
            return Eval::outside();
        }
        let mut f = T::zero();
        for j in 0..i {
            let dv = x[j].abs() - four * tau;
            f = f + l * dv * dv;
            g[j] = two * l * dv * x[j].signum();
        }
        if i == d {
            return Eval { value: f - to_float::<T>(d as f64) * nu, label: d as u32 + 1, in_domain: true };
        }
        let a = x[i].abs();
        let mut tail_from = i + 1;
        if a <= tau {
            f = f - gamma * x[i] * x[i];
            g[i] = -two * gamma * x[i];
        } else {
            let (v1, d1) = self.g1(a);
            f = f + v1;
            g[i] = d1 * x[i].signum();
            if i + 1 < d {
                let b = x[i + 1];
                let (v2, d2) = self.g2(a);
                f = f + v2 * b * b;
                g[i] = g[i] + d2 * b * b * x[i].signum();
                g[i + 1] = two * v2 * b;
                tail_from = i + 2;
            }
        }
        for j in tail_from..d {
            f = f + l * x[j] * x[j];
            g[j] = two * l * x[j];
        }
        Eval { value: f - to_float::<T>(i as f64) * nu, label: i as u32 + 1, in_domain: true }
    }
}

impl Objective for Octopus {
    fn name(&self) -> &'static str {
        "octopus"
    }
    fn dim(&self) -> usize {
        self.d
    }
    float_twins!();
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "dim": self.d, "tau": self.tau, "gamma": self.gamma, "L": self.l, "nu": self.nu() })
    }
    /// Du et al. 2017: eta = 1/(4L), r = e/100, g_thres = gamma e/100, t_thres = 1; f_thres = 1
    /// counts an escape once the value has dropped by 1 (a saddle-to-saddle drop is nu ~ 60).
    fn default_params(&self) -> PgdParams {
        let e = std::f64::consts::E;
        PgdParams {
            eta: 1.0 / (4.0 * self.l),
            radius: e / 100.0,
            g_thres: self.gamma * e / 100.0,
            f_thres: 1.0,
            t_thres: 1,
            certify: 0,
        }
    }
    fn minimum_labels(&self) -> Vec<u32> {
        vec![self.d as u32 + 1]
    }
    fn f_min(&self) -> Option<f64> {
        Some(-(self.d as f64) * self.nu())
    }
    capabilities!(device);
}

impl DeviceForm for Octopus {
    fn wgsl(&self) -> String {
        let (t, gm, l) = (self.tau, self.gamma, self.l);
        format!(
            "const OCT_TAU: real = {};\nconst OCT_GAMMA: real = {};\nconst OCT_L: real = {};\n\
             const OCT_K3: real = {};\nconst OCT_K4: real = {};\nconst OCT_LG: real = {};\nconst OCT_NU: real = {};\n{}",
            wgsl_real(t),
            wgsl_real(gm),
            wgsl_real(l),
            wgsl_real(-14.0 * l + 10.0 * gm),
            wgsl_real(5.0 * l - 3.0 * gm),
            wgsl_real(l + gm),
            wgsl_real(self.nu()),
            include_str!("octopus.wgsl")
        )
    }
    /// `objective_lanes` after the per-invocation source, whose oct_g1 and oct_g2 it calls.
    fn wgsl_lanes(&self) -> Option<String> {
        Some(self.wgsl() + include_str!("octopus.coop.wgsl"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::testing::*;

    fn oct() -> Octopus {
        Octopus::new(4, std::f64::consts::E, 1.0, 1.5).unwrap()
    }

    #[test]
    fn identities_of_the_pieces() {
        let o = oct();
        let t = o.tau;
        assert!((o.g2(t).0 - o.l).abs() < 1e-12);
        assert!((o.g2(2.0 * t).0 + o.gamma).abs() < 1e-12);
        assert!((o.g1(t).0 + o.gamma * t * t).abs() < 1e-12);
        assert!((o.nu() - (4.0 * o.l * t * t - o.g1(2.0 * t).0)).abs() < 1e-9);
    }

    #[test]
    fn gradient_matches_finite_differences_in_every_region() {
        let o = oct();
        let t = o.tau;
        let points = [
            [0.3, -0.5, 0.2, 0.9],           // saddle 1, inner
            [1.5 * t, 0.4, -0.3, 0.1],       // saddle 1, transition
            [-3.5 * t, 0.5, 0.1, -0.2],      // saddle 2, inner
            [4.1 * t, -1.7 * t, 0.6, 0.1],   // saddle 2, transition
            [3.0 * t, 3.0 * t, 3.0 * t, 0.4], // saddle 4 (i = d), inner
            [3.0 * t, 3.0 * t, 3.0 * t, -1.3 * t], // i = d, transition
            [3.0 * t, -5.0 * t, 2.5 * t, 4.2 * t], // global basin
        ];
        for x in points {
            check_gradient(&o, &x, 1e-5);
            check_f32_twin(&o, &x);
        }
    }

    #[test]
    fn continuous_across_every_boundary() {
        // Walk each boundary |x_k| = tau and |x_k| = 2 tau from both sides: f and grad must agree.
        let o = oct();
        let t = o.tau;
        let eps = 1e-7;
        let mut g1 = [0.0; 4];
        let mut g2 = [0.0; 4];
        for k in 0..4 {
            for edge in [t, 2.0 * t] {
                for sign in [1.0, -1.0] {
                    let mut x = [4.0 * t; 4];
                    for (j, v) in x.iter_mut().enumerate().skip(k) {
                        *v = if j == k { 0.0 } else { 0.3 * t * (j as f64 - 1.5) / 2.0 };
                    }
                    let (mut lo, mut hi) = (x, x);
                    lo[k] = sign * (edge - eps);
                    hi[k] = sign * (edge + eps);
                    let a = o.eval(&lo, &mut g1);
                    let b = o.eval(&hi, &mut g2);
                    assert!(a.in_domain && b.in_domain, "k={k} edge={edge}");
                    assert!((a.value - b.value).abs() < 1e-4, "f jumps at k={k} edge={edge}: {} vs {}", a.value, b.value);
                    for j in 0..4 {
                        assert!((g1[j] - g2[j]).abs() < 1e-4, "grad_{j} jumps at k={k} edge={edge}: {g1:?} vs {g2:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn saddles_minimum_and_domain() {
        let o = oct();
        let t = o.tau;
        let mut g = [0.0; 4];
        for i in 0..4 {
            let mut x = [0.0; 4];
            for v in x.iter_mut().take(i) {
                *v = 4.0 * t;
            }
            let e = o.eval(&x, &mut g);
            assert_eq!(e.label, i as u32 + 1);
            assert!((e.value + i as f64 * o.nu()).abs() < 1e-9);
            assert!(g.iter().all(|v| v.abs() < 1e-12), "saddle {i} gradient {g:?}");
        }
        let e = o.eval(&[4.0 * t; 4], &mut g);
        assert_eq!(e.label, 5);
        assert!((e.value - o.f_min().unwrap()).abs() < 1e-9);
        // Leaving the tube: |x_3| > tau while x_1 is still in the first region.
        let out = o.eval(&[0.1, 0.0, 1.5 * t, 0.0], &mut g);
        assert!(!out.in_domain && out.value.is_nan());
        assert!(Octopus::new(3, -1.0, 1.0, 1.0).is_err());
    }
}
