//! The self-bounding step rule: each chain's step size and thresholds from rho1 and rho2 at its
//! starting value (docs/theory.md). F0 = f(x0) + margin, l = rho1(F0), rho = rho2(F0), then
//! Jin et al.'s PGD formulas with Df = F0 - f* (or a given Df). Computed per chain at init, on
//! the device (`chain_params` in kernel.wgsl) and in [`SelfBounding::chain_params`].

use crate::Error;

/// rho(F) = a + b * max(F - fmin, 0)^p: covers `a + b F^p` (fmin = 0) and
/// `a + b sqrt(F - fmin)` (p = 1/2), and every closed form escapade derives.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rho {
    /// Constant term a (>= 0).
    pub a: f64,
    /// Coefficient b (>= 0).
    pub b: f64,
    /// Power p (> 0).
    pub p: f64,
    /// Offset fmin.
    pub fmin: f64,
}

impl Rho {
    /// Parses `a,b,p` or `a,b,p,fmin`.
    pub fn parse(field: &str, spec: &str) -> Result<Self, Error> {
        let bad = || Error::invalid(field, "A,B,P or A,B,P,FMIN meaning A + B*max(F - FMIN, 0)^P with A, B >= 0, P > 0", format!("{spec:?}"));
        let v: Vec<f64> = spec.split(',').map(|s| s.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
        let r = match v.as_slice() {
            [a, b, p] => Rho { a: *a, b: *b, p: *p, fmin: 0.0 },
            [a, b, p, fmin] => Rho { a: *a, b: *b, p: *p, fmin: *fmin },
            _ => return Err(bad()),
        };
        r.validate(field)?;
        Ok(r)
    }

    /// Checks the coefficients.
    pub fn validate(&self, field: &str) -> Result<(), Error> {
        let ok = self.a.is_finite() && self.a >= 0.0 && self.b.is_finite() && self.b >= 0.0 && self.p.is_finite() && self.p > 0.0 && self.fmin.is_finite() && self.a + self.b > 0.0;
        if ok { Ok(()) } else { Err(Error::invalid(field, "A, B >= 0 (not both 0), P > 0, all finite", format!("{self:?}"))) }
    }

    /// rho(F) in f64.
    pub fn eval(&self, f: f64) -> f64 {
        self.a + self.b * (f - self.fmin).max(0.0).powf(self.p)
    }

    /// rho(F) in f32, as `rho_form` in shaders/pieces.wgsl: the powers 1/2 and 1/4 (every
    /// closed form's, and the fits' most common) as square roots, correctly rounded and a tenth
    /// of a general power's cost (the monitor evaluates rho1 at every step it cannot settle
    /// otherwise).
    pub fn eval_f32(&self, f: f32) -> f32 {
        let x = (f - self.fmin as f32).max(0.0);
        let p = self.p as f32;
        let power = if p == 0.5 {
            x.sqrt()
        } else if p == 0.25 {
            x.sqrt().sqrt()
        } else {
            x.powf(p)
        };
        self.a as f32 + self.b as f32 * power
    }
}

/// How each chain gets its step size and thresholds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepRule {
    /// Every chain uses the method's parameters.
    Fixed,
    /// Per chain from rho1/rho2 at its starting value.
    SelfBounding(SelfBounding),
}

/// Parameters of the self-bounding rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SelfBounding {
    /// Target accuracy eps (> 0).
    pub eps: f64,
    /// Constant c in (0, 1].
    pub c: f64,
    /// Failure probability delta in (0, 1).
    pub delta: f64,
    /// Df; None: F0 - f* with the objective's f*.
    pub df: Option<f64>,
    /// Added to f(x0) to cover perturbation increases (>= 0). None: f_thres of the parameters at
    /// f(x0), which is at least the f_thres finally used at F0 = f(x0) + margin (rho1, rho2 and
    /// Df do not decrease with F, so chi grows and rho grows), so a kick that raises f by up to
    /// f_thres stays inside the sublevel set the bounds hold on.
    pub margin: Option<f64>,
    /// Local gradient-Lipschitz bound rho1(F); None: the objective's closed form.
    pub rho1: Option<Rho>,
    /// Local Hessian-Lipschitz bound rho2(F); None: the objective's closed form.
    pub rho2: Option<Rho>,
    /// Re-anchor every this many steps at the chain's current value (0: only at x0, the rule as
    /// stated). A decrease procedure keeps f below the value it re-anchors at, so the bounds
    /// stay valid while the step grows as f falls.
    pub rebase_every: u32,
}

impl Default for SelfBounding {
    fn default() -> Self {
        SelfBounding { eps: 1e-3, c: 0.5, delta: 0.1, df: None, margin: None, rho1: None, rho2: None, rebase_every: 0 }
    }
}

/// One chain's parameters, as stored in its state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainParams {
    /// Step size.
    pub eta: f32,
    /// Perturbation radius.
    pub radius: f32,
    /// Stall threshold.
    pub g_thres: f32,
    /// Escape threshold.
    pub f_thres: f32,
    /// Steps between perturbations (also the certification window when certification is on).
    pub t_thres: u32,
    /// The anchor value F the parameters were taken at (the monitor's sublevel bound).
    pub f_anchor: f32,
    /// rho1(F), the smoothness the step size assumes (the monitor's descent check).
    pub ell: f32,
}

impl SelfBounding {
    /// Checks the scalar fields.
    pub fn validate(&self) -> Result<(), Error> {
        super::check_accuracy(self.eps, self.c, self.delta)?;
        if let Some(df) = self.df {
            if !(df.is_finite() && df > 0.0) {
                return Err(Error::invalid("df", "a finite number > 0", df));
            }
        }
        if let Some(m) = self.margin.filter(|m| !(m.is_finite() && *m >= 0.0)) {
            return Err(Error::invalid("margin", "a finite number >= 0", m));
        }
        Ok(())
    }

    /// Jin et al.'s formulas in f32 for a chain starting at value `f0` in dimension `d`, with
    /// rho1, rho2 resolved and f* = `f_star` (Rust twin of `chain_params` in kernel.wgsl).
    pub fn chain_params(&self, f0: f32, d: usize, rho1: &Rho, rho2: &Rho, f_star: f32) -> ChainParams {
        let big_f = match self.margin {
            Some(m) => f0 + m as f32,
            None => f0 + self.params_at(f0, d, rho1, rho2, f_star).f_thres,
        };
        self.params_at(big_f, d, rho1, rho2, f_star)
    }

    /// Jin et al.'s formulas at the anchor value F (= f(x0) + margin).
    fn params_at(&self, big_f: f32, d: usize, rho1: &Rho, rho2: &Rho, f_star: f32) -> ChainParams {
        let (eps, c, delta) = (self.eps as f32, self.c as f32, self.delta as f32);
        let l = rho1.eval_f32(big_f);
        let rho = rho2.eval_f32(big_f);
        let df = match self.df {
            Some(df) => df as f32,
            None => (big_f - f_star).max(1e-30),
        };
        let chi = 3.0 * (d as f32 * l * df / (c * eps * eps * delta)).ln().max(4.0);
        let t = (chi / (c * c) * l / (rho * eps).sqrt()).ceil().min(2.0e9);
        ChainParams {
            eta: c / l,
            radius: c.sqrt() / (chi * chi) * eps / l,
            g_thres: c.sqrt() / (chi * chi) * eps,
            f_thres: c / (chi * chi * chi) * (eps * eps * eps / rho).sqrt(),
            t_thres: t as u32,
            f_anchor: big_f,
            ell: l,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_forms_parse_and_evaluate() {
        let r = Rho::parse("rho1", "1,2,0.5").unwrap();
        assert_eq!(r.eval(4.0), 5.0);
        assert_eq!(r.eval(-3.0), 1.0);
        let r = Rho::parse("rho1", "0,6,0.5,-0.25").unwrap();
        assert_eq!(r.eval(-0.25), 0.0 + 0.0);
        for bad in ["1,2", "a,b,c", "1,-2,1", "1,1,0", "0,0,1"] {
            assert!(Rho::parse("rho1", bad).unwrap_err().to_string().contains("rho1"), "{bad}");
        }
    }

    #[test]
    fn larger_start_values_get_smaller_steps() {
        let sb = SelfBounding::default();
        let r1 = Rho { a: 1.0, b: 6.0, p: 0.5, fmin: 0.0 };
        let r2 = Rho { a: 6.0, b: 8.5, p: 0.25, fmin: 0.0 };
        let near = sb.chain_params(0.01, 4, &r1, &r2, 0.0);
        let far = sb.chain_params(1e4, 4, &r1, &r2, 0.0);
        assert!(far.eta < near.eta / 50.0, "{near:?} {far:?}");
        let l = r1.eval(0.01) as f32;
        assert!((near.eta - 0.5 / l).abs() < 1e-6);
    }
}
