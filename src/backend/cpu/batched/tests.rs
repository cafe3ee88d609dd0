//! The batched path against the per-chain path: a built-in objective wrapped as a [`Batch`]
//! (its rows evaluated one by one) gives every chain the same bits, whatever the block size.

use super::padded;
use crate::backend::RawRun;
use crate::backend::cpu::{run_in, tests::same};
use crate::escape::status;
use crate::experiment::{Experiment, Precision};
use crate::method::{PgdParams, Rho, SelfBounding, StepRule};
use crate::objective::batch::row_by_row;
use crate::objective::{Batch, DeviceForm, Eval, Objective};
use crate::{Error, Init, MethodKind, ObjectiveSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A built-in objective evaluated only through [`Batch`] (no lanes, no exact curvature), counting
/// its batch calls, failing from call `fail_at` on.
#[derive(Debug)]
struct Batched {
    inner: Arc<dyn Objective>,
    calls: AtomicUsize,
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

fn batched(name: &str, d: usize, fail_at: usize) -> Arc<Batched> {
    Arc::new(Batched { inner: ObjectiveSpec::from_name(name, d).unwrap().build().unwrap(), calls: AtomicUsize::new(0), fail_at })
}

fn run(exp: &Experiment, block: Option<u32>) -> Result<RawRun, Error> {
    match exp.precision {
        Precision::F64 => run_in::<f64>(exp, &mut |_| {}, None, None, Some(super::super::KICK_LANES), block),
        _ => run_in::<f32>(exp, &mut |_| {}, None, None, Some(super::super::KICK_LANES), block),
    }
}

/// PGD (ball kicks, certification), GD and PSGD, with the self-bounding rule on the quartic,
/// on the quartic and the octopus, f32 and f64 state: the batched run is the per-chain (lockstep) run bit for bit, in
/// one block and in blocks of 7 chains.
#[test]
fn the_batched_path_is_the_per_chain_path_bit_for_bit() {
    let (mut events, mut certified, mut diverged) = (0, 0, 0);
    for (name, d) in [("quartic", 5), ("octopus", 4)] {
        let b = batched(name, d, usize::MAX);
        for kind in [MethodKind::Pgd, MethodKind::Gd, MethodKind::Psgd] {
            for precision in [Precision::F32, Precision::F64] {
                // The octopus has no closed-form rho for the self-bounding rule.
                for self_bounding in [false, name == "quartic"] {
                    let base = b.default_params();
                    let configure = |m: &mut crate::Method| {
                        if self_bounding {
                            m.step_rule = StepRule::SelfBounding(SelfBounding { eps: 0.01, ..Default::default() });
                        }
                    };
                    let build = |obj: Arc<dyn Objective>| {
                        Experiment::builder(obj)
                            .method(kind)
                            .params(PgdParams { certify: 40, eta: base.eta * 4.0, g_thres: 1e-2, ..base })
                            .configure(configure)
                            .chains(23)
                            .steps(400)
                            .seed(11)
                            .init(if name == "octopus" { Init::Uniform(0.5) } else { Init::Normal(0.05) })
                            .trace(4, 5)
                            .state_precision(precision)
                            .build()
                            .unwrap()
                    };
                    let what = format!("{name} {kind:?} {precision:?} self-bounding {self_bounding}");
                    let reference = run(&build(b.inner.clone()), None).unwrap();
                    let exp = build(b.clone());
                    let one_block = run(&exp, None).unwrap();
                    same(&one_block, &reference, &what);
                    same(&run(&exp, Some(7)).unwrap(), &reference, &format!("{what}, blocks of 7"));
                    events += reference.events.len();
                    certified += reference.states.iter().filter(|s| s.status == status::CERTIFIED).count();
                    diverged += reference.states.iter().filter(|s| s.diverged()).count();
                }
            }
        }
    }
    assert!(events > 0 && certified > 0 && diverged > 0, "a branch was never taken: {events} events, {certified} certified, {diverged} diverged");
}

/// One call per step for the whole block (GD, no kick, no certification: no one-point
/// evaluation), rows rounded up to a power of two; a failing call ends the run with its error.
#[test]
fn the_batch_is_called_once_per_step_and_its_error_ends_the_run() {
    let b = batched("quartic", 3, usize::MAX);
    let exp = Experiment::builder(b.clone()).method(MethodKind::Gd).chains(40).steps(25).init(Init::Uniform(1.0)).build().unwrap();
    let raw = run(&exp, None).unwrap();
    assert!(raw.states.iter().all(|s| s.t == 25), "every chain steps to the end");
    assert_eq!(b.calls.load(Ordering::Relaxed), 25);
    let b = batched("quartic", 3, usize::MAX);
    let exp = Experiment::builder(b.clone()).method(MethodKind::Gd).chains(40).steps(25).init(Init::Uniform(1.0)).build().unwrap();
    run(&exp, Some(16)).unwrap();
    assert_eq!(b.calls.load(Ordering::Relaxed), 3 * 25, "three blocks of 16, 16 and 8 chains");
    let failing = batched("quartic", 3, 5);
    let exp = Experiment::builder(failing.clone()).method(MethodKind::Gd).chains(40).steps(25).build().unwrap();
    let Err(e) = run(&exp, None) else { panic!("the sixth call fails") };
    assert!(e.to_string().contains("the oracle failed"), "{e}");
    assert_eq!(failing.calls.load(Ordering::Relaxed), 6, "no call after the failing one");
    assert_eq!(padded(5, 40), 8);
}

/// The GPU refuses a batched objective in one line that says where it runs.
#[test]
fn the_gpu_refuses_a_batched_objective() {
    let exp = Experiment::builder(batched("quartic", 3, usize::MAX)).chains(4).steps(2).build().unwrap();
    let e = crate::backend::gpu_refusal(&exp, None).expect("refused").to_string();
    assert!(e.contains("CPU backend only") && !e.contains('\n'), "{e}");
}

/// Hessian products of a batched objective (certification, the outcome's spectra) come from
/// two batch calls, each row the one-point central difference bit for bit; zero vectors give
/// zero rows.
#[test]
fn batched_products_are_the_one_point_differences() {
    use crate::check::hessian::{CpuProducts, Products, hvp_f64};
    let b = batched("quartic", 3, usize::MAX);
    let points = [0.3, -1.2, 0.7, 0.0, 0.0, 0.0, 2.0, 1.0, -0.5];
    let vectors = [1.0, 0.5, -0.25, 0.0, 0.0, 0.0, -0.1, 0.2, 0.3];
    let got = CpuProducts(b.as_ref()).products(&points, &vectors).unwrap();
    assert_eq!(b.calls.load(Ordering::Relaxed), 2, "one call for the + and one for the - points");
    for k in 0..3 {
        let mut want = [0.0; 3];
        hvp_f64(b.as_ref(), &points[k * 3..k * 3 + 3], &vectors[k * 3..k * 3 + 3], &mut want);
        let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got[k * 3..k * 3 + 3]), bits(&want), "row {k}");
    }
    assert!(got[3..6].iter().all(|&a| a == 0.0) && got[0] != 0.0);
}
