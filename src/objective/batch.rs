//! [`Batch`]: an objective evaluated for many points in one call, for objectives whose cost is
//! the call rather than the arithmetic (an embedder's function, e.g. a Python oracle): the CPU
//! backend then gathers the stepping chains of a block and evaluates them together, once per
//! step (docs/architecture.md, "The batched path").

use super::Eval;
use crate::Error;
use num_traits::Float;

/// Many points at once, row-major: `x` holds n points of d coordinates (n x d), `grad` receives
/// their gradients in the same layout and `out` (n entries) their values and labels.
///
/// Each row's result must not depend on the other rows, so that results never depend on how
/// chains are batched; where the rows are evaluated with the operations of
/// [`super::Objective::eval_f32`] (and `eval_f64`), a run is bit for bit the one-point run. A
/// call may fail (the embedder's function raised): the run then ends with that error.
pub trait Batch: Sync {
    /// The rows in f32.
    fn eval_batch_f32(&self, x: &[f32], grad: &mut [f32], out: &mut [Eval<f32>]) -> Result<(), Error>;
    /// The rows in f64.
    fn eval_batch_f64(&self, x: &[f64], grad: &mut [f64], out: &mut [Eval<f64>]) -> Result<(), Error>;
    /// Hessian-vector products H(x_i) v_i for the rows of `x` and `v` (both n x d) into `out`,
    /// when the objective has its own (Ok(false): it has none, and callers take central
    /// differences of batched gradients).
    fn hvp_batch_f64(&self, _x: &[f64], _v: &[f64], _out: &mut [f64]) -> Result<bool, Error> {
        Ok(false)
    }
    /// The error a one-point evaluation met ([`super::Objective::eval_f32`] cannot return one:
    /// it answers a point outside the domain instead), while it stands: the backend asks after
    /// each step and ends the run with it.
    fn take_error(&self) -> Option<Error> {
        None
    }
}

/// The rows evaluated one at a time with `eval` (a [`Batch`] from a one-point evaluation: the
/// reference in tests).
pub fn row_by_row<T: Float>(x: &[T], grad: &mut [T], out: &mut [Eval<T>], eval: impl Fn(&[T], &mut [T]) -> Eval<T>) {
    let d = x.len() / out.len().max(1);
    for ((xr, gr), e) in x.chunks(d.max(1)).zip(grad.chunks_mut(d.max(1))).zip(out.iter_mut()) {
        *e = eval(xr, gr);
    }
}

/// Central differences of batched gradients: H(x_i) v_i ~ (g(x_i + h_i v_i) - g(x_i - h_i v_i)) / 2 h_i
/// with h_i = 1e-5 (1 + ||x_i||) / ||v_i|| (the step of `check::hessian::hvp_f64`, so a row is
/// that product bit for bit); rows with v_i = 0 get zeros. Two calls of `batch` for all rows.
pub fn hvp_by_differences(batch: &dyn Batch, d: usize, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), Error> {
    let n = x.len().checked_div(d).unwrap_or(0);
    let norm = |r: &[f64]| r.iter().map(|a| a * a).sum::<f64>().sqrt();
    let h: Vec<f64> = (0..n).map(|i| {
        let vn = norm(&v[i * d..(i + 1) * d]);
        if vn == 0.0 { 0.0 } else { 1e-5 * (1.0 + norm(&x[i * d..(i + 1) * d])) / vn }
    }).collect();
    let shifted = |sign: f64| -> Vec<f64> { x.iter().zip(v).enumerate().map(|(k, (a, b))| a + sign * h[k / d] * b).collect() };
    let (xp, xm) = (shifted(1.0), shifted(-1.0));
    let mut gm = vec![0.0; x.len()];
    let mut evals = vec![Eval::outside(); n];
    batch.eval_batch_f64(&xp, out, &mut evals)?;
    batch.eval_batch_f64(&xm, &mut gm, &mut evals)?;
    for (k, (o, m)) in out.iter_mut().zip(&gm).enumerate() {
        let hk = h[k / d];
        *o = if hk == 0.0 { 0.0 } else { (*o - m) / (2.0 * hk) };
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! A built-in objective as a [`Batch`], for the tests of the batched paths.
    use super::row_by_row;
    use crate::Error;
    use crate::method::{PgdParams, Rho};
    use crate::objective::{Batch, DeviceForm, Eval, Objective, ObjectiveSpec};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A built-in objective evaluated only through [`Batch`] (no lanes, no exact curvature), counting
    /// its batch calls, failing from call `fail_at` on.
    #[derive(Debug)]
    pub(crate) struct Batched {
        pub inner: Arc<dyn Objective>,
        pub calls: AtomicUsize,
        fail_at: usize,
    }

    impl Objective for Batched {
        fn name(&self) -> &'static str {
            "batched"
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn eval_f64(&self, x: &[f64], grad: &mut [f64]) -> Eval<f64> {
            self.inner.eval_f64(x, grad)
        }
        fn eval_f32(&self, x: &[f32], grad: &mut [f32]) -> Eval<f32> {
            self.inner.eval_f32(x, grad)
        }
        fn params(&self) -> serde_json::Value {
            self.inner.params()
        }
        fn default_params(&self) -> PgdParams {
            self.inner.default_params()
        }
        fn f_min(&self) -> Option<f64> {
            self.inner.f_min()
        }
        fn rho(&self) -> Option<(Rho, Rho)> {
            self.inner.rho()
        }
        fn device(&self) -> &dyn DeviceForm {
            self.inner.device()
        }
        crate::objective::capabilities!(batch);
    }

    impl Batch for Batched {
        fn eval_batch_f32(&self, x: &[f32], grad: &mut [f32], out: &mut [Eval<f32>]) -> Result<(), Error> {
            if self.calls.fetch_add(1, Ordering::Relaxed) >= self.fail_at {
                return Err(Error::Unsupported("the oracle failed".into()));
            }
            row_by_row(x, grad, out, |x, g| self.inner.eval_f32(x, g));
            Ok(())
        }
        fn eval_batch_f64(&self, x: &[f64], grad: &mut [f64], out: &mut [Eval<f64>]) -> Result<(), Error> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            row_by_row(x, grad, out, |x, g| self.inner.eval_f64(x, g));
            Ok(())
        }
    }

    pub(crate) fn batched(name: &str, d: usize, fail_at: usize) -> Arc<Batched> {
        Arc::new(Batched { inner: ObjectiveSpec::from_name(name, d).unwrap().build().unwrap(), calls: AtomicUsize::new(0), fail_at })
    }
}
