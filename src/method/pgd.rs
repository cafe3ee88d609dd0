//! PGD parameters, explicit or derived from (l, rho, eps, c, delta, Df) by Jin et al. 2017,
//! Algorithm 2.

use crate::Error;

/// Checks that `v` is finite and > 0, naming `field` otherwise.
/// v > 0 and finite in f32 (the kernels hold parameters in f32).
/// Whether `v` is a normal f32 (the kernels hold these parameters in f32: a value finite in f64
/// but not in f32, or one that f32 rounds into its subnormals or to 0, is refused).
fn normal_f32(v: f64) -> bool {
    let f = v as f32;
    f.is_finite() && f.abs() >= f32::MIN_POSITIVE
}

fn positive(field: &'static str, v: f64) -> Result<(), Error> {
    if v > 0.0 && normal_f32(v) { Ok(()) } else { Err(Error::invalid(field, "a number from 1.2e-38 to 3.4e38 (a normal f32)", v)) }
}

/// Checks the accuracy parameters Jin et al.'s formulas share: eps > 0, c in (0, 1],
/// delta in (0, 1).
pub(crate) fn check_accuracy(eps: f64, c: f64, delta: f64) -> Result<(), Error> {
    positive("eps", eps)?;
    if !(c > 0.0 && c <= 1.0) {
        return Err(Error::invalid("c", "a number in (0, 1]", c));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::invalid("delta", "a number in (0, 1)", delta));
    }
    Ok(())
}

/// Step size, perturbation and escape-detector parameters of one run.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PgdParams {
    /// Step size eta (> 0).
    pub eta: f64,
    /// Perturbation radius r (>= 0).
    pub radius: f64,
    /// Stall threshold: a chain stalls when ||grad f|| <= g_thres (>= 0).
    pub g_thres: f64,
    /// Escape threshold: a stalled chain escapes once f <= f_stall - f_thres (> 0).
    pub f_thres: f64,
    /// Minimum number of steps between two perturbations (PGD perturbs when t - t_noise > t_thres).
    pub t_thres: u32,
    /// Certification window: a chain that stays stalled this many steps without escaping is
    /// certified and stops (Jin's stopping rule uses t_thres). 0 turns certification off, as in
    /// Du et al. 2017, where chains perturb all the way to the budget.
    pub certify: u32,
}

impl PgdParams {
    /// Checks every field, naming the first bad one and its allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        // The kernels hold these in f32: a value finite in f64 but not in f32 is refused too.
        let nonneg = |field: &'static str, v: f64| {
            if v == 0.0 || (v > 0.0 && normal_f32(v)) { Ok(()) } else { Err(Error::invalid(field, "0, or a number from 1.2e-38 to 3.4e38 (a normal f32)", v)) }
        };
        positive("eta", self.eta)?;
        nonneg("radius", self.radius)?;
        nonneg("g_thres", self.g_thres)?;
        positive("f_thres", self.f_thres)?;
        Ok(())
    }
}

/// The quantities PGD's parameters are derived from.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TheoryParams {
    /// Gradient-Lipschitz constant l.
    pub l: f64,
    /// Hessian-Lipschitz constant rho.
    pub rho: f64,
    /// Target accuracy eps.
    pub eps: f64,
    /// Universal constant c (Jin et al. need c small enough; 0 < c <= 1 here).
    pub c: f64,
    /// Failure probability delta (0 < delta < 1).
    pub delta: f64,
    /// Df = f(x0) - f*, an upper bound on the decrease available.
    pub df: f64,
}

impl TheoryParams {
    /// Jin et al. 2017, Algorithm 2, for dimension `d`:
    /// chi = 3 max{ln(d l Df / (c eps^2 delta)), 4}, eta = c/l, r = sqrt(c)/chi^2 * eps/l,
    /// g_thres = sqrt(c)/chi^2 * eps, f_thres = c/chi^3 * sqrt(eps^3/rho),
    /// t_thres = chi/c^2 * l/sqrt(rho eps). Certification uses the stopping rule's window t_thres.
    pub fn derive(&self, d: usize) -> Result<PgdParams, Error> {
        positive("l", self.l)?;
        positive("rho", self.rho)?;
        positive("df", self.df)?;
        check_accuracy(self.eps, self.c, self.delta)?;
        let TheoryParams { l, rho, eps, c, delta, df } = *self;
        let chi = 3.0 * ((d as f64 * l * df / (c * eps * eps * delta)).ln()).max(4.0);
        let t_thres = (chi / (c * c) * l / (rho * eps).sqrt()).ceil();
        if t_thres > f64::from(u32::MAX / 2) {
            return Err(Error::invalid("t_thres (derived)", "at most 2^31 steps; raise eps or rho", t_thres));
        }
        let t_thres = t_thres as u32;
        Ok(PgdParams {
            eta: c / l,
            radius: c.sqrt() / (chi * chi) * eps / l,
            g_thres: c.sqrt() / (chi * chi) * eps,
            f_thres: c / (chi * chi * chi) * (eps * eps * eps / rho).sqrt(),
            t_thres,
            certify: t_thres,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_parameters_follow_the_formulas() {
        let t = TheoryParams { l: 2.0, rho: 1.0, eps: 0.01, c: 0.5, delta: 0.1, df: 1.0 };
        let p = t.derive(10).unwrap();
        let chi = 3.0 * (10.0f64 * 2.0 * 1.0 / (0.5 * 1e-4 * 0.1)).ln();
        assert!(chi > 12.0);
        assert!((p.eta - 0.25).abs() < 1e-15);
        assert!((p.radius - 0.5f64.sqrt() / (chi * chi) * 0.01 / 2.0).abs() < 1e-15);
        assert!((p.g_thres - 0.5f64.sqrt() / (chi * chi) * 0.01).abs() < 1e-15);
        assert!((p.f_thres - 0.5 / chi.powi(3) * (1e-6f64).sqrt()).abs() < 1e-15);
        assert_eq!(p.t_thres, (chi / 0.25 * 2.0 / 0.01f64.sqrt()).ceil() as u32);
        // chi is floored at 3 * 4 when the logarithm is small.
        let small = TheoryParams { l: 1.0, rho: 1.0, eps: 1.0, c: 1.0, delta: 0.5, df: 1.0 }.derive(1).unwrap();
        assert!((small.g_thres - 1.0 / 144.0).abs() < 1e-15);
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let t = TheoryParams { l: 2.0, rho: 1.0, eps: 0.01, c: 0.5, delta: 0.1, df: 1.0 };
        let e = TheoryParams { c: 2.0, ..t }.derive(3).unwrap_err().to_string();
        assert!(e.contains("c") && e.contains("(0, 1]"), "{e}");
        let e = TheoryParams { eps: f64::NAN, ..t }.derive(3).unwrap_err().to_string();
        assert!(e.contains("eps"), "{e}");
        let p = PgdParams { eta: -1.0, radius: 0.1, g_thres: 0.1, f_thres: 0.1, t_thres: 1, certify: 0 };
        assert!(p.validate().unwrap_err().to_string().contains("eta"));
    }
}
