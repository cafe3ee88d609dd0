//! Objectives: value, gradient and region label, once in Rust (generic over f32/f64) and once in
//! WGSL. Each objective is a pair of files side by side: `foo.rs` (the Rust twin and the trait
//! impl) and `foo.wgsl` (the WGSL twin, pulled in with `include_str!`). How to add one:
//! `docs/adding-an-objective.md`.

pub mod batch;
pub mod catalogue;
pub(crate) mod custom;
pub mod data;
pub mod dataset;
pub(crate) mod wgsl;
mod degenerate_quartic;
pub mod expr;
mod linear_network;
mod matrix_factorization;
mod mlp;
mod octopus;
mod phase_retrieval;
mod products;
mod quartic;
mod rosenbrock;
mod spec;
mod toy_saddle;

pub use batch::Batch;
pub use custom::WgslObjective;
pub(crate) use custom::chain as custom_error_chain;
pub use data::DataSource;
pub use degenerate_quartic::DegenerateQuartic;
pub use expr::{ExprSpec, Expression};
pub use linear_network::LinearNetwork;
pub use matrix_factorization::MatrixFactorization;
pub use mlp::{Activation, Loss, Mlp};
pub use octopus::Octopus;
pub use phase_retrieval::{PRODUCTS_FROM_D as PHASE_RETRIEVAL_PRODUCTS_FROM_D, PhaseRetrieval};
pub use quartic::Quartic;
pub use rosenbrock::Rosenbrock;
pub use spec::ObjectiveSpec;
pub use toy_saddle::ToySaddle;

use crate::method::{PgdParams, Rho};
use num_traits::Float;
use std::fmt::Debug;

/// One evaluation of an objective at a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval<T> {
    /// f(x).
    pub value: T,
    /// Region label (e.g. the octopus saddle index); 0 where the objective has none.
    pub label: u32,
    /// False when x lies outside the region where the objective is defined. Value and gradient
    /// are then meaningless and the chain is reported as diverged (out of domain).
    pub in_domain: bool,
}

impl<T: Float> Eval<T> {
    /// A point outside the domain: no value is invented for it.
    pub fn outside() -> Self {
        Eval { value: T::nan(), label: 0, in_domain: false }
    }
}

/// An objective: its value and gradient in Rust (f32 and f64), what it says about itself, and
/// accessors for what it can do besides (argmin's way: a capability is a trait of its own).
///
/// - [`DeviceForm`]: its WGSL forms and data, for the GPU path (every objective has one);
/// - [`FiniteSum`]: f = (1/m) sum_i f_i, for minibatch oracles;
/// - [`Curvature`]: exact Hessian-vector products, for judging resting points and `check`;
/// - [`Classifier`]: loss and accuracy on training and held-out rows, for network objectives;
/// - [`Lanes`]: [`LANES`] points at once, faster than one at a time, for the CPU backend;
/// - [`Batch`]: many points in one call, for oracles whose cost is the call (an embedder's
///   function): the CPU backend evaluates a block's stepping chains at once;
/// - [`Objective::rho`]: the self-bounding forms (rho1, rho2), when known in closed form.
pub trait Objective: Send + Sync + Debug {
    /// Short name as used on the command line (e.g. `octopus`).
    fn name(&self) -> &'static str;
    /// Dimension d of x.
    fn dim(&self) -> usize;
    /// Value, label and gradient (written to `grad`) in f64: the reference for tests and checks.
    fn eval_f64(&self, x: &[f64], grad: &mut [f64]) -> Eval<f64>;
    /// The same in f32: the CPU backend's arithmetic (operation for operation the WGSL twin, or its
    /// matrix products where a data objective has them: docs/theory.md, section 6).
    fn eval_f32(&self, x: &[f32], grad: &mut [f32]) -> Eval<f32>;
    /// The objective's parameters, for reports.
    fn params(&self) -> serde_json::Value;
    /// Practical method parameters for this objective (step size, thresholds).
    fn default_params(&self) -> PgdParams;
    /// The global minimum value f*, when known.
    fn f_min(&self) -> Option<f64>;
    /// Labels of the regions that hold the minima (e.g. the octopus' global basin, d + 1), when
    /// the objective says: a cross-check of the outcome classifier, which decides "converged"
    /// from the Hessian alone.
    fn minimum_labels(&self) -> Vec<u32> {
        Vec::new()
    }
    /// Closed-form (rho1, rho2) with ||Hess f(x)|| <= rho1(f(x)) and a local Hessian-Lipschitz
    /// bound rho2(f(x)), when known.
    fn rho(&self) -> Option<(Rho, Rho)> {
        None
    }
    /// Whether the Rust evaluation is real (false for WGSL-only custom objectives, which run on
    /// the GPU path only).
    fn cpu_twin(&self) -> bool {
        true
    }
    /// The objective on the GPU.
    fn device(&self) -> &dyn DeviceForm;
    /// The objective as a finite sum, when it is one.
    fn finite_sum(&self) -> Option<&dyn FiniteSum> {
        None
    }
    /// Exact Hessian-vector products, when the objective has them (callers otherwise take
    /// central differences of gradients).
    fn curvature(&self) -> Option<&dyn Curvature> {
        None
    }
    /// Packs of [`LANES`] points evaluated faster than one at a time: vectorised across lanes
    /// (the closed-form objectives), or a row of data read once for every lane (finite sums).
    /// Without it the CPU backend evaluates a pack lane by lane ([`lane_by_lane`]).
    fn lanes(&self) -> Option<&dyn Lanes> {
        None
    }
    /// Many points per call (an embedder's oracle, e.g. Python's `escapade.Oracle`): the CPU
    /// backend then evaluates a block's stepping chains in one call per step, and the GPU
    /// backend refuses the objective (it has no WGSL form).
    fn batch(&self) -> Option<&dyn Batch> {
        None
    }
    /// A classifier's loss and accuracy at a point, on its training rows and any held out
    /// (network objectives): chains.csv and summary.json report them at every resting point.
    fn classifier(&self) -> Option<&dyn Classifier> {
        None
    }
}

impl dyn Objective + '_ {
    /// Where the WGSL comes from, for error messages: the objective's name, or a custom
    /// objective's file ([`DeviceForm::origin`]).
    pub fn wgsl_origin(&self) -> String {
        self.device().origin().unwrap_or_else(|| format!("objective {}", self.name()))
    }

    /// m of a finite sum, when the objective is one.
    pub fn terms(&self) -> Option<u32> {
        self.finite_sum().map(|s| s.terms())
    }

    /// A pack's values and gradients in f32: through [`Lanes`] or lane by lane.
    pub fn eval_pack_f32(&self, x: &[[f32; LANES]], grad: &mut [[f32; LANES]]) -> [Eval<f32>; LANES] {
        match self.lanes() {
            Some(l) => l.eval_lanes_f32(x, grad),
            None => lane_by_lane(x, grad, |x, g| self.eval_f32(x, g)),
        }
    }

    /// The same in f64.
    pub fn eval_pack_f64(&self, x: &[[f64; LANES]], grad: &mut [[f64; LANES]]) -> [Eval<f64>; LANES] {
        match self.lanes() {
            Some(l) => l.eval_lanes_f64(x, grad),
            None => lane_by_lane(x, grad, |x, g| self.eval_f64(x, g)),
        }
    }
}

/// The objective on the GPU: its WGSL forms and the data they read.
///
/// The WGSL source returned by [`DeviceForm::wgsl`] must define
/// `fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval`
/// (x and g are the kernel's per-invocation registers, passed without copies)
/// where `Eval` is `struct Eval { f: real, label: u32, ok: u32 }` (declared by the prelude), `D`
/// is the dimension constant the kernel declares and `real` is the arithmetic of positions
/// (`f32`, or `f64` with `--state f64`; a source written with `f32` works in f32 only). It may
/// declare its own constants (typed `real`), read the shared `data: array<f32>` binding
/// ([`DeviceForm::data`]; widen with `real(data[i])`; `array<vec4<f32>>` when
/// [`DeviceForm::data_vec4`] says so), and define
/// `fn objective_term_grad(x, i: u32, acc)` (adds the i-th term's gradient to `acc`; finite sums),
/// `fn rho1(F: f32) -> f32` / `fn rho2(F: f32) -> f32`, and `fn objective_load(lid: u32)`: a
/// cooperative copy of data into the objective's own `var<workgroup>` array (at most 16 KiB),
/// called by every invocation at the top of each kernel entry point and followed by a barrier,
/// so it must not return early (docs/adding-an-objective.md).
pub trait DeviceForm {
    /// WGSL source of the objective (see the trait docs for the contract).
    fn wgsl(&self) -> String;
    /// The objective's cooperative form, for the GPU kernel family that steps one chain with a
    /// workgroup (any dimension; `shaders/cooperative.wgsl`), or None when it has none. It defines
    /// `fn objective_lanes() -> Eval`: this lane's share of the value (the kernel sums the lanes'),
    /// the gradient at its coordinates `lo..hi` through `g_set(i, value)`, and a label (the kernel
    /// takes the largest of the lanes'); it reads any coordinate of x with `x_at(i)` and may call
    /// `lanes_sum(a: real) -> real` (every lane alike) and `workgroupBarrier()` in uniform control
    /// flow. A finite sum also defines `fn objective_term_lanes(k: u32)`, adding term k's gradient
    /// at the lane's coordinates with `v_add(i, value)`. Same header, data and `real` as [`DeviceForm::wgsl`].
    fn wgsl_lanes(&self) -> Option<String> {
        None
    }
    /// Shared read-only data for the WGSL twin (bound as `data`).
    fn data(&self) -> Vec<f32> {
        Vec::new()
    }
    /// The data the cooperative form ([`DeviceForm::wgsl_lanes`]) reads as `data`: [`DeviceForm::data`]
    /// unless the form wants parameters there that the one-invocation form holds as constants.
    fn data_lanes(&self) -> Vec<f32> {
        self.data()
    }
    /// Whether the WGSL twin reads `data` as `array<vec4<f32>>` (four values per load) rather
    /// than `array<f32>`; [`DeviceForm::data`] must then hold a multiple of 4 values. Worth it for
    /// objectives whose cost is reading data (finite sums over the rows of a matrix: pad the rows
    /// to multiples of 4): on lavapipe each load costs several times the arithmetic it feeds.
    fn data_vec4(&self) -> bool {
        false
    }
    /// Bytes of private memory one GPU invocation of the objective's own WGSL holds beyond the
    /// kernel's (a custom objective's `var<private>` globals and function variables); the memory
    /// estimate counts them per running invocation.
    fn private_bytes(&self) -> u64 {
        0
    }
    /// Where the WGSL comes from when it is not the objective's own (a custom objective's file),
    /// for error messages.
    fn origin(&self) -> Option<String> {
        None
    }
}

/// A finite sum f = (1/m) sum_i f_i: what minibatch oracles sample.
pub trait FiniteSum {
    /// m.
    fn terms(&self) -> u32;
    /// Adds grad f_i(x) to `acc` in f32, as `objective_term_grad` in the WGSL twin.
    fn term_grad_f32(&self, x: &[f32], i: u32, acc: &mut [f32]);
    /// The same in f64 (minibatch oracles with `--state f64`).
    fn term_grad_f64(&self, x: &[f64], i: u32, acc: &mut [f64]);
    /// A minibatch: the mean of the gradients of the terms `terms` (repeats counted) into `out`,
    /// in f32. By default term by term in order and then times 1/B, as the WGSL twin sums;
    /// objectives whose terms are rows of data may take the rows as one matrix product (the
    /// network), equal to rounding.
    fn batch_grad_f32(&self, x: &[f32], terms: &[u32], out: &mut [f32]) {
        batch_by_terms(x, terms, out, |x, i, acc| self.term_grad_f32(x, i, acc));
    }
    /// The same in f64.
    fn batch_grad_f64(&self, x: &[f64], terms: &[u32], out: &mut [f64]) {
        batch_by_terms(x, terms, out, |x, i, acc| self.term_grad_f64(x, i, acc));
    }
}

/// [`FiniteSum::batch_grad_f32`]'s default: the terms' gradients summed in order, then times
/// 1/B with 1/B rounded to f32 first (the kernel's `inv_b`), so both precisions step as the WGSL
/// twin does.
pub(crate) fn batch_by_terms<T: Float>(x: &[T], terms: &[u32], out: &mut [T], term: impl Fn(&[T], u32, &mut [T])) {
    out.iter_mut().for_each(|v| *v = T::zero());
    for &i in terms {
        term(x, i, out);
    }
    let inv_b = T::one() / to_float::<T>(f64::from(terms.len() as f32));
    out.iter_mut().for_each(|v| *v = *v * inv_b);
}

/// Exact Hessian-vector products.
pub trait Curvature {
    /// H(x) v into `out`, in f64.
    fn hvp_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]);
    /// [`Curvature::hvp_f64`] for [`LANES`] points side by side (lane-interleaved as in
    /// [`Lanes::eval_lanes_f64`]), each lane bit for bit the scalar product; false where the
    /// objective has no such batch (callers then take the points one at a time).
    fn hvp_lanes_f64(&self, _x: &[[f64; LANES]], _v: &[[f64; LANES]], _out: &mut [[f64; LANES]]) -> bool {
        false
    }
}

/// A classifier's loss and accuracy at a point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// The data term of f on the training rows (the mean loss, without weight decay or kappa).
    pub train_loss: f64,
    /// The fraction of training rows whose class is predicted (the first largest output).
    pub train_accuracy: f64,
    /// The mean loss on the held-out rows, when some are held out.
    pub holdout_loss: Option<f64>,
    /// The accuracy on the held-out rows, when some are held out.
    pub holdout_accuracy: Option<f64>,
}

/// An objective that trains a classifier: the scores of its weights.
pub trait Classifier: Sync {
    /// The scores at `x`, in f64 (NaN losses where the point is not finite).
    fn scores(&self, x: &[f64]) -> Scores;
}

/// [`LANES`] points at once, lane-interleaved: `x[i][l]` is coordinate i of point l (d rows),
/// gradients likewise into `grad`. Each lane's result must be bit for bit what
/// [`Objective::eval_f32`] (or `eval_f64`) gives for that point (the same operations in the same
/// order, with lanes side by side, or products whose columns do not depend on each other), so
/// results never depend on how chains are packed.
pub trait Lanes {
    /// The pack in f32.
    fn eval_lanes_f32(&self, x: &[[f32; LANES]], grad: &mut [[f32; LANES]]) -> [Eval<f32>; LANES];
    /// The pack in f64.
    fn eval_lanes_f64(&self, x: &[[f64; LANES]], grad: &mut [[f64; LANES]]) -> [Eval<f64>; LANES];
}

/// Points per pack of [`Lanes::eval_lanes_f32`] (and chains per pack of the CPU backend's
/// lockstep step): 16 f32 lanes fill a 512-bit vector (AVX-512), two 256-bit ones (AVX2). Measured
/// against 8 and 32 in BENCHMARKS.md (issue 11, the lockstep CPU step).
pub const LANES: usize = 16;

/// A pack evaluated one lane at a time (objectives without [`Lanes`]; the reference in tests).
pub fn lane_by_lane<T: Float>(x: &[[T; LANES]], grad: &mut [[T; LANES]], eval: impl Fn(&[T], &mut [T]) -> Eval<T>) -> [Eval<T>; LANES] {
    let d = x.len();
    // Small points on the stack: the CPU backend calls this every step of a pack.
    const STACK: usize = 32;
    let (mut xa, mut ga) = ([T::zero(); STACK], [T::zero(); STACK]);
    let (mut xv, mut gv) = (Vec::new(), Vec::new());
    let (xl, gl) = if d <= STACK {
        (&mut xa[..d], &mut ga[..d])
    } else {
        xv.resize(d, T::zero());
        gv.resize(d, T::zero());
        (&mut xv[..], &mut gv[..])
    };
    std::array::from_fn(|l| {
        xl.iter_mut().zip(x).for_each(|(v, row)| *v = row[l]);
        let e = eval(xl, gl);
        grad.iter_mut().zip(gl.iter()).for_each(|(row, v)| row[l] = *v);
        e
    })
}

/// Implements the trait's two float entry points from an inherent generic `eval`.
macro_rules! float_twins {
    () => {
        fn eval_f64(&self, x: &[f64], grad: &mut [f64]) -> $crate::objective::Eval<f64> {
            self.eval(x, grad)
        }
        fn eval_f32(&self, x: &[f32], grad: &mut [f32]) -> $crate::objective::Eval<f32> {
            self.eval(x, grad)
        }
    };
}
pub(crate) use float_twins;

/// Implements the accessors of the capabilities an objective has, each returning itself:
/// `capabilities!(device, finite_sum, curvature, lanes)` (any of them; `device` is required).
macro_rules! capabilities {
    ($($cap:ident),*) => { $( $crate::objective::capabilities!(@one $cap); )* };
    (@one device) => {
        fn device(&self) -> &dyn $crate::objective::DeviceForm {
            self
        }
    };
    (@one finite_sum) => {
        fn finite_sum(&self) -> Option<&dyn $crate::objective::FiniteSum> {
            Some(self)
        }
    };
    (@one curvature) => {
        fn curvature(&self) -> Option<&dyn $crate::objective::Curvature> {
            Some(self)
        }
    };
    (@one classifier) => {
        fn classifier(&self) -> Option<&dyn $crate::objective::Classifier> {
            Some(self)
        }
    };
    (@one batch) => {
        fn batch(&self) -> Option<&dyn $crate::objective::Batch> {
            Some(self)
        }
    };
    (@one lanes) => {
        fn lanes(&self) -> Option<&dyn $crate::objective::Lanes> {
            Some(self)
        }
    };
}
pub(crate) use capabilities;

/// Implements [`Lanes`]' two entry points from one generic lane evaluation,
/// `|self, x, g| eval(x, g)` (each lane bit for bit the scalar evaluation).
macro_rules! lane_twins {
    (|$s:ident, $x:ident, $g:ident| $eval:expr) => {
        fn eval_lanes_f32(&$s, $x: &[[f32; LANES]], $g: &mut [[f32; LANES]]) -> [$crate::objective::Eval<f32>; LANES] {
            $eval
        }
        fn eval_lanes_f64(&$s, $x: &[[f64; LANES]], $g: &mut [[f64; LANES]]) -> [$crate::objective::Eval<f64>; LANES] {
            $eval
        }
    };
}
pub(crate) use lane_twins;

/// Converts an f64 parameter to the working float type.
pub(crate) fn to_float<T: Float>(v: f64) -> T {
    T::from(v).unwrap_or_else(T::nan)
}

/// Formats a parameter as a WGSL abstract-float literal with all of its f64 digits: typed as
/// `real`, it becomes the nearest f32 in f32 kernels and the exact f64 in f64 kernels, as the
/// Rust twins' `to_float::<T>(v)` does.
pub(crate) fn wgsl_real(v: f64) -> String {
    if v.is_finite() { format!("{v:?}") } else { "0.0".into() }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared checks every objective's tests run.
    use super::Objective;

    /// Central finite differences in f64 against the analytic gradient at `x`.
    pub fn check_gradient(obj: &dyn Objective, x: &[f64], tol: f64) {
        let d = x.len();
        let mut g = vec![0.0; d];
        let e = obj.eval_f64(x, &mut g);
        assert!(e.in_domain, "test point {x:?} outside the domain");
        let mut gh = vec![0.0; d];
        for i in 0..d {
            let h = 1e-6 * (1.0 + x[i].abs());
            let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
            xp[i] += h;
            xm[i] -= h;
            let fd = (obj.eval_f64(&xp, &mut gh).value - obj.eval_f64(&xm, &mut gh).value) / (2.0 * h);
            let scale = 1.0 + g[i].abs();
            assert!((fd - g[i]).abs() <= tol * scale, "d/dx{i} at {x:?}: analytic {} vs fd {fd}", g[i]);
        }
    }

    /// The f32 twin agrees with the f64 evaluation to f32 precision.
    pub fn check_f32_twin(obj: &dyn Objective, x: &[f64]) {
        let d = x.len();
        let (mut g64, mut g32) = (vec![0.0; d], vec![0.0f32; d]);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let x_back: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        let e64 = obj.eval_f64(&x_back, &mut g64);
        let e32 = obj.eval_f32(&x32, &mut g32);
        assert_eq!(e64.label, e32.label);
        let scale = 1.0 + e64.value.abs();
        assert!((f64::from(e32.value) - e64.value).abs() < 1e-5 * scale * 10.0);
        for i in 0..d {
            assert!((f64::from(g32[i]) - g64[i]).abs() < 1e-4 * (1.0 + g64[i].abs()));
        }
    }
}
