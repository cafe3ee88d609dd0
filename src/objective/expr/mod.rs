//! Objectives as researchers write them: `--objective expr --f "0.5*x0^2 + sum(i, 0.25*x[i]^4)"`.
//! The expression is parsed (`parse`), its gradient derived symbolically into one program
//! (`program`), and that program is both interpreted on the CPU (`eval`, f32, f64 and dual
//! numbers for exact Hessian-vector products) and written as WGSL (`wgsl`) for the GPU. The
//! gradient is checked against central finite differences in f64 when the objective is built.
//! The language: docs/expressions.md.

mod eval;
mod node;
mod parse;
mod program;
mod wgsl;
#[cfg(test)]
mod tests;

use super::{Curvature, DeviceForm, Eval, LANES, Lanes, Objective, capabilities, lane_twins};
use crate::Error;
use crate::method::{PgdParams, Rho};
use eval::{Dual, IndexError, MAX_DEPTH, Pack, Real, Scalar};
use node::{IExpr, Node};
use program::Program;

/// Where the language is described, for error messages.
const DOC: &str = "an expression in x[i] (docs/expressions.md)";

/// An objective given as an expression, with an optional label expression and declared
/// self-bounding forms.
#[derive(Clone, Debug)]
pub struct Expression {
    f: String,
    label: Option<String>,
    dim: usize,
    f_min: Option<f64>,
    rho: Option<(Rho, Rho)>,
    program: Program,
}

/// What an expression objective is built from (the `expr` row's flags).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExprSpec {
    /// f, in the expression language.
    pub f: String,
    /// The dimension d (None: one past the largest index f reads, when f does not use d).
    pub dim: Option<usize>,
    /// The region label, an expression whose value is truncated to a whole number >= 0
    /// (comparisons give 1 or 0): e.g. `abs(x1) > 0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The global minimum f*, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f_min: Option<f64>,
    /// Declared rho1 (`A,B,P[,FMIN]`: A + B max(F - FMIN, 0)^P), with `rho2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho1: Option<Rho>,
    /// Declared rho2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rho2: Option<Rho>,
}

impl Expression {
    /// Parses, derives and checks the objective `spec` describes.
    pub fn new(spec: &ExprSpec) -> Result<Self, Error> {
        let f = parse_field("f", &spec.f)?;
        let label = spec.label.as_deref().map(|l| parse_field("label", l)).transpose()?;
        let dim = match spec.dim {
            Some(0) => return Err(Error::invalid("dim", "an integer >= 1", 0)),
            Some(d) => d,
            None => implied_dim(&f)?,
        };
        crate::objective::data::fits_host(Some(dim), "--dim")?;
        if let Some(v) = spec.f_min.filter(|v| !v.is_finite()) {
            return Err(Error::invalid("f-min", "a finite number", v));
        }
        let rho = match (spec.rho1, spec.rho2) {
            (Some(r1), Some(r2)) => {
                r1.validate("rho1")?;
                r2.validate("rho2")?;
                Some((r1, r2))
            }
            (None, None) => None,
            (Some(_), None) => return Err(Error::invalid("rho2", "A,B,P[,FMIN] with --rho1 (an expression objective declares both or neither)", "nothing")),
            (None, Some(_)) => return Err(Error::invalid("rho1", "A,B,P[,FMIN] with --rho2 (an expression objective declares both or neither)", "nothing")),
        };
        let program = Program::new(&f, label.as_ref());
        if program.depth > MAX_DEPTH {
            return Err(Error::invalid("f", format!("sums nested at most {MAX_DEPTH} deep"), program.depth));
        }
        let obj = Expression { f: spec.f.clone(), label: spec.label.clone(), dim, f_min: spec.f_min, rho, program };
        obj.check_indices()?;
        obj.check_gradient()?;
        Ok(obj)
    }

    /// The specification it was built from.
    pub fn spec(&self) -> ExprSpec {
        let (rho1, rho2) = self.rho.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        ExprSpec { f: self.f.clone(), dim: Some(self.dim), label: self.label.clone(), f_min: self.f_min, rho1, rho2 }
    }

    /// Value, label and gradient in f32, f64 or dual numbers.
    fn eval<S: Real>(&self, x: &[S], g: &mut [S]) -> (S, u32) {
        let (f, label) = eval::run(&self.program, x, g);
        (f, label_of(label.re()))
    }

    /// The same for a pack of points.
    fn eval_lanes<T: Real>(&self, x: &[[T; LANES]], g: &mut [[T; LANES]]) -> [Eval<T>; LANES] {
        // Rows of lanes are packs: the same memory, viewed as the type the program runs in.
        let xp: &[Pack<T>] = as_packs(x);
        let gp: &mut [Pack<T>] = as_packs_mut(g);
        let (f, label) = eval::run(&self.program, xp, gp);
        std::array::from_fn(|l| Eval { value: f.0[l], label: label_of(label.0[l].re()), in_domain: true })
    }

    /// Every index read and every loop run, checked against d once (no branch depends on x, so
    /// one run reads every index any run reads).
    fn check_indices(&self) -> Result<(), Error> {
        eval::check(&self.program, &vec![0.0; self.dim]).map_err(|e: IndexError| {
            let sums = if e.at.is_empty() {
                String::new()
            } else {
                let at: Vec<String> = e.at.iter().enumerate().map(|(k, v)| format!("i{k} = {v}")).collect();
                format!(" at {} (i0 the outermost sum's index)", at.join(", "))
            };
            if e.loop_len {
                Error::invalid("f", format!("sums of at most {} terms", eval::MAX_LOOP), format!("a sum up to {} = {}{sums}", wgsl::int(&e.index), e.value))
            } else {
                Error::invalid("f", format!("indices of x in 0..{} (d = {}; give --dim)", self.dim, self.dim), format!("x[{}] = x[{}]{sums}", wgsl::int(&e.index), e.value))
            }
        })
    }

    /// The derived gradient against central differences in f64 at two fixed points (up to 64
    /// coordinates each); a disagreement is a fault of the derivation, or a point where f is not
    /// differentiable (abs at 0), and is refused rather than run.
    fn check_gradient(&self) -> Result<(), Error> {
        let d = self.dim;
        let points = [(0..d).map(|i| 0.37 + 0.29 * ((i * 7 + 3) % 11) as f64 / 11.0).collect::<Vec<f64>>(), (0..d).map(|i| -0.61 + 0.43 * ((i * 5 + 1) % 13) as f64 / 13.0).collect()];
        let coords: Vec<usize> = if d <= 64 { (0..d).collect() } else { (0..64).map(|k| k * d / 64).collect() };
        for x in &points {
            let mut g = vec![0.0; d];
            let (f0, _) = self.eval(x.as_slice(), &mut g);
            if !f0.is_finite() || g.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let mut xh = x.clone();
            let mut scratch = vec![0.0; d];
            for &i in &coords {
                let h = 1e-6 * (1.0 + x[i].abs());
                xh[i] = x[i] + h;
                let up = self.eval(xh.as_slice(), &mut scratch).0;
                xh[i] = x[i] - h;
                let down = self.eval(xh.as_slice(), &mut scratch).0;
                xh[i] = x[i];
                let fd = (up - down) / (2.0 * h);
                let tol = 1e-5 * (1.0 + g[i].abs() + f0.abs());
                if fd.is_finite() && (fd - g[i]).abs() > tol {
                    return Err(Error::invalid(
                        "f",
                        "an expression differentiable where it is evaluated (the derived gradient is checked against finite differences)",
                        format!("df/dx[{i}] = {:.6e} derived, {fd:.6e} by central differences at x = {:?}", g[i], &x[..d.min(4)]),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// WGSL's `u32(max(v, 0))` of a label's value: saturating, toward zero (NaN: 0).
fn label_of(v: f64) -> u32 {
    if v.is_nan() { 0 } else { v.max(0.0) as f32 as u32 }
}

/// Rows of [`LANES`] values as packs (`Pack` is a transparent wrapper of the row).
fn as_packs<T>(rows: &[[T; LANES]]) -> &[Pack<T>] {
    // SAFETY: Pack<T> is #[repr(transparent)] over [T; LANES]: same size, alignment and layout.
    unsafe { std::slice::from_raw_parts(rows.as_ptr().cast(), rows.len()) }
}

/// [`as_packs`], mutable.
fn as_packs_mut<T>(rows: &mut [[T; LANES]]) -> &mut [Pack<T>] {
    // SAFETY: as in as_packs; the borrow is moved into the result.
    unsafe { std::slice::from_raw_parts_mut(rows.as_mut_ptr().cast(), rows.len()) }
}

/// `text` parsed, an error naming `field`, the column and what was expected.
fn parse_field(field: &str, text: &str) -> Result<Node, Error> {
    parse::parse(text).map_err(|e| {
        let column = text[..e.at.min(text.len())].chars().count() + 1;
        Error::invalid(field, DOC, format!("{text:?} at column {column}: {}", e.message))
    })
}

/// One past the largest literal index of x in `f`, which must not use d.
fn implied_dim(f: &Node) -> Result<usize, Error> {
    let mut leaves = Vec::new();
    let mut uses_d = false;
    walk(f, &mut |n| match n {
        Node::X(IExpr::Lit(k)) => leaves.push(*k),
        Node::X(_) | Node::Int(_) | Node::Sum(_) => uses_d = true,
        _ => {}
    });
    match leaves.iter().max() {
        Some(&k) if !uses_d && k >= 0 => Ok(k as usize + 1),
        _ => Err(Error::invalid("dim", "an integer >= 1 (this expression has sums or computed indices: give --dim)", "nothing")),
    }
}

/// Calls `visit` on every node of `n`.
fn walk(n: &Node, visit: &mut dyn FnMut(&Node)) {
    visit(n);
    match n {
        Node::Neg(a) | Node::Powi(a, _) | Node::Call(_, a) => walk(a, visit),
        Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) | Node::Pow(a, b) | Node::Cmp(_, a, b) => {
            walk(a, visit);
            walk(b, visit);
        }
        Node::Sum(s) => walk(&s.body, visit),
        Node::Const(_) | Node::X(_) | Node::Int(_) | Node::Slot(_) => {}
    }
}

impl Objective for Expression {
    fn name(&self) -> &'static str {
        "expr"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval_f64(&self, x: &[f64], grad: &mut [f64]) -> Eval<f64> {
        let (value, label) = self.eval(x, grad);
        Eval { value, label, in_domain: true }
    }
    fn eval_f32(&self, x: &[f32], grad: &mut [f32]) -> Eval<f32> {
        let (value, label) = self.eval(x, grad);
        Eval { value, label, in_domain: true }
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self.spec()).unwrap_or_default()
    }
    /// Those of a custom objective: nothing is known of its scale unless rho1 is declared, when
    /// the step is 1/(2 rho1(f(0))).
    fn default_params(&self) -> PgdParams {
        let mut g = vec![0.0; self.dim];
        let f0 = self.eval_f64(&vec![0.0; self.dim], &mut g).value;
        let eta = match self.rho {
            Some((r1, _)) if f0.is_finite() && r1.eval(f0) > 0.0 => 0.5 / r1.eval(f0),
            _ => 0.01,
        };
        PgdParams { eta, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        self.f_min
    }
    fn rho(&self) -> Option<(Rho, Rho)> {
        self.rho
    }
    capabilities!(device, curvature, lanes);
}

impl Lanes for Expression {
    lane_twins!(|self, x, g| self.eval_lanes(x, g));
}

impl DeviceForm for Expression {
    fn wgsl(&self) -> String {
        wgsl::source(&self.program, &self.f)
    }
}

impl Curvature for Expression {
    /// Exact: the derived gradient run in dual numbers at x + eps v.
    fn hvp_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        let xd: Vec<Dual> = x.iter().zip(v).map(|(&x, &v)| Dual { v: x, t: v }).collect();
        let mut g = vec![Dual::of(0.0); x.len()];
        eval::run(&self.program, &xd, &mut g);
        out.iter_mut().zip(&g).for_each(|(o, g)| *o = g.t);
    }
}
