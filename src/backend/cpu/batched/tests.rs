//! The batched path against the per-chain path: a built-in objective wrapped as a [`Batch`]
//! (its rows evaluated one by one) gives every chain the same bits, whatever the block size.

use super::padded;
use crate::backend::RawRun;
use crate::backend::cpu::{run_in, tests::same};
use crate::escape::status;
use crate::experiment::{Experiment, Precision};
use crate::method::{PgdParams, SelfBounding, StepRule};
use crate::objective::Objective;
use crate::objective::batch::testing::batched;
use crate::{Error, Init, MethodKind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn run(exp: &Experiment, block: Option<u32>) -> Result<RawRun, Error> {
    match exp.precision {
        Precision::F64 => run_in::<f64>(exp, &mut |_| {}, None, None, Some(super::super::KICK_LANES), block),
        _ => run_in::<f32>(exp, &mut |_| {}, None, None, Some(super::super::KICK_LANES), block),
    }
}

/// PGD (ball kicks, certification), GD and PSGD, with the self-bounding rule on the quartic,
/// on the quartic and the octopus, f32 and f64 state, and PGD kicking stalled chains every third
/// step (t_thres 2, no certification): the batched run, whose kicks are evaluated in a second
/// call of the step, is the per-chain (lockstep) run bit for bit, in one block and in blocks of
/// 7 chains.
#[test]
fn the_batched_path_is_the_per_chain_path_bit_for_bit() {
    let (mut events, mut certified, mut diverged, mut kick_calls) = (0, 0, 0, 0);
    for (name, d) in [("quartic", 5), ("octopus", 4)] {
        let b = batched(name, d, usize::MAX);
        for kind in [MethodKind::Pgd, MethodKind::Gd, MethodKind::Psgd] {
            for precision in [Precision::F32, Precision::F64] {
                // The self-bounding rule (the octopus has no closed-form rho for it), and kicks
                // every third step.
                let sb = [(true, false)].into_iter().filter(|_| name == "quartic");
                let kicks = [(false, true)].into_iter().filter(|_| kind == MethodKind::Pgd);
                for (self_bounding, kicky) in std::iter::once((false, false)).chain(sb).chain(kicks) {
                    let base = b.default_params();
                    let configure = |m: &mut crate::Method| {
                        if self_bounding {
                            m.step_rule = StepRule::SelfBounding(SelfBounding { eps: 0.01, ..Default::default() });
                        }
                    };
                    let build = |obj: Arc<dyn Objective>| {
                        Experiment::builder(obj)
                            .method(kind)
                            .params(match kicky {
                                false => PgdParams { certify: 40, eta: base.eta * 4.0, g_thres: 1e-2, ..base },
                                true => PgdParams { certify: 0, t_thres: 2, eta: base.eta * 4.0, g_thres: 1e-2, ..base },
                            })
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
                    let what = format!("{name} {kind:?} {precision:?} self-bounding {self_bounding} t_thres 2 {kicky}");
                    let reference = run(&build(b.inner.clone()), None).unwrap();
                    let exp = build(b.clone());
                    let calls = b.calls.load(Ordering::Relaxed);
                    let one_block = run(&exp, None).unwrap();
                    let calls = b.calls.load(Ordering::Relaxed) - calls;
                    assert!(calls <= 2 * 400, "{what}: {calls} calls, at most two a step");
                    if kicky {
                        // Steps with a second call: those where some chain kicked.
                        kick_calls += calls.saturating_sub(400);
                    }
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
    assert!(kick_calls > 4 * 400 / 4, "kicks in under a quarter of the steps: {kick_calls} kick calls in 4 x 400 steps with t_thres 2");
}

/// One call per step for the whole block (GD, no kick, no certification: no new point within a
/// step), rows rounded up to a power of two; PGD, at most two; a failing call ends the run with
/// its error.
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
    // PGD: a second call in the steps where some chain kicked, for the kicked points alone.
    let b = batched("quartic", 3, usize::MAX);
    let params = PgdParams { t_thres: 2, g_thres: 0.5, certify: 0, ..b.default_params() };
    let exp = Experiment::builder(b.clone()).method(MethodKind::Pgd).params(params).chains(40).steps(25).init(Init::Uniform(0.1)).build().unwrap();
    run(&exp, None).unwrap();
    let calls = b.calls.load(Ordering::Relaxed);
    assert!(calls > 25 && calls <= 2 * 25, "{calls} calls in 25 steps of PGD");
}

/// The GPU refuses a batched objective in one line that says where it runs.
#[test]
fn the_gpu_refuses_a_batched_objective() {
    let exp = Experiment::builder(batched("quartic", 3, usize::MAX)).chains(4).steps(2).build().unwrap();
    let e = crate::backend::gpu_refusal(&exp, None).expect("refused").to_string();
    assert!(e.contains("CPU backend only") && !e.contains('\n'), "{e}");
}
