//! The lockstep path against the scalar path: every chain's record, events, final point, x~
//! and trace bit for bit, across objectives, methods, step rules and storage precisions.

use super::run_in;
use crate::backend::RawRun;
use crate::escape::status;
use crate::experiment::{Experiment, Precision};
use crate::method::{Schedule, SelfBounding, StepRule};
use crate::{Init, MethodKind, ObjectiveSpec, PgdParams};

/// Runs `exp` on both paths; panics where they differ. Returns the lockstep run.
fn both_paths(exp: &Experiment, what: &str) -> RawRun {
    let run = |lockstep| match exp.precision {
        Precision::F64 => run_in::<f64>(exp, &mut |_| {}, None, None, lockstep, None),
        _ => run_in::<f32>(exp, &mut |_| {}, None, None, lockstep, None),
    };
    let slow = run(None).unwrap();
    // Kicks in lockstep from one kicked lane on (every kick), and as the backend runs them.
    let fast = run(Some(1)).unwrap();
    same(&run(Some(super::KICK_LANES)).unwrap(), &slow, what);
    same(&fast, &slow, what);
    fast
}

/// Panics where runs `fast` and `slow` differ: records, events, points, x~ and traces.
pub(super) fn same(fast: &RawRun, slow: &RawRun, what: &str) {
    let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
    let same_states = fast.states.iter().zip(&slow.states).all(|(a, b)| bytemuck::bytes_of(a) == bytemuck::bytes_of(b));
    assert!(same_states && fast.states.len() == slow.states.len(), "{what}: chain records differ");
    assert!(fast.events == slow.events, "{what}: events differ");
    assert_eq!(bits(&fast.x), bits(&slow.x), "{what}: final points differ");
    assert_eq!(bits(&fast.x_tilde), bits(&slow.x_tilde), "{what}: x~ differ");
    let tbits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
    assert_eq!(tbits(&fast.trace), tbits(&slow.trace), "{what}: traces differ");
    assert_eq!(tbits(&fast.monitor.bins), tbits(&slow.monitor.bins), "{what}: the monitor's curvature bins differ");
    assert_eq!(fast.monitor.violations, slow.monitor.violations, "{what}: the monitor's violation counts differ");
}

/// Totals over the runs, so the test knows the rare branches were taken.
#[derive(Default, Debug)]
struct Seen {
    events: usize,
    certified: usize,
    diverged: usize,
    limited: usize,
}

impl Seen {
    fn add(&mut self, r: &RawRun) {
        self.events += r.events.len();
        self.certified += r.states.iter().filter(|s| s.status == status::CERTIFIED).count();
        self.diverged += r.states.iter().filter(|s| s.diverged()).count();
        self.limited += r.states.iter().filter(|s| s.limited()).count();
    }
}

fn objective(name: &str, d: usize) -> std::sync::Arc<dyn crate::Objective> {
    ObjectiveSpec::from_name(name, d).unwrap().build().unwrap()
}

/// Every method on every closed-form objective (and phase retrieval, whose minibatch oracle is
/// not lockstep), f32 / f16 / f64 state, certification on, traced chains, 13 chains (a short
/// last pack), starts wide enough that some chains diverge mid-pack.
#[test]
fn lockstep_is_the_scalar_path_bit_for_bit() {
    let mut seen = Seen::default();
    let objectives = [("toy-saddle", 2), ("quartic", 5), ("octopus", 4), ("degenerate-quartic", 2), ("rosenbrock", 3), ("phase-retrieval", 4)];
    for (name, d) in objectives {
        let obj = objective(name, d);
        for kind in MethodKind::ALL {
            for precision in [Precision::F32, Precision::F16, Precision::F64] {
                let base = obj.default_params();
                let params = PgdParams { certify: 40, eta: base.eta * 4.0, g_thres: 1e-2, ..base };
                let init = if name == "octopus" { Init::Uniform(0.5) } else { Init::Uniform(2.5) };
                let exp = Experiment::builder(obj.clone())
                    .method(kind)
                    .params(params)
                    .chains(13)
                    .steps(400)
                    .seed(7)
                    .init(init)
                    .trace(5, 3)
                    .state_precision(precision)
                    .build()
                    .unwrap();
                seen.add(&both_paths(&exp, &format!("{name} {kind:?} {precision:?}")));
            }
        }
    }
    assert!(seen.events > 0 && seen.certified > 0 && seen.diverged > 0 && seen.limited > 0, "a rare branch was never taken: {seen:?}");
}

/// The self-bounding rule (rebased every few steps), schedules and the smooth clip, with packs
/// of full and short length (21 chains = 16 + 5).
#[test]
fn lockstep_keeps_rules_and_schedules() {
    let mut seen = Seen::default();
    for (name, d) in [("toy-saddle", 2), ("quartic", 6)] {
        let obj = objective(name, d);
        let rules = [
            (StepRule::SelfBounding(SelfBounding { eps: 0.01, rebase_every: 7, ..Default::default() }), Schedule::Constant),
            (StepRule::Fixed, Schedule::InvSqrt),
            (StepRule::Fixed, Schedule::Piecewise { pieces: vec![(50, 0.5), (120, 2.0)] }),
        ];
        for (rule, schedule) in rules {
            for kind in [MethodKind::Pgd, MethodKind::Psgd, MethodKind::ClippedSgd] {
                for certify in [0, 30] {
                    let exp = Experiment::builder(obj.clone())
                        .method(kind)
                        .params(PgdParams { certify, ..obj.default_params() })
                        .configure(|m| {
                            m.step_rule = rule.clone();
                            m.schedule = schedule.clone();
                            if kind == MethodKind::ClippedSgd {
                                m.transform = crate::method::Transform::ClipSmooth { gamma: 0.3 };
                            }
                        })
                        .chains(21)
                        .steps(300)
                        .seed(3)
                        .init(Init::Normal(0.05))
                        .trace(9, 10)
                        .build()
                        .unwrap();
                    seen.add(&both_paths(&exp, &format!("{name} {kind:?} {rule:?} {schedule:?} certify {certify}")));
                }
            }
        }
    }
    assert!(seen.events > 0 && seen.certified > 0, "a rare branch was never taken: {seen:?}");
}

/// PGD's ball kicks in lockstep (`Stepper::kick_lanes`): the sparse and the dense draw, the
/// re-evaluation lane by lane and per pack, on several objectives, f32 / f16 / f64 state, short
/// packs (13 and 37 chains), with and without certification, the self-bounding rule without
/// rebases (a radius per chain), and radii large enough that chains diverge right after a kick
/// (out of the octopus' tube, a quartic's overflow).
#[test]
fn lockstep_kicks_are_the_scalar_path_bit_for_bit() {
    let (mut kicked, mut diverged) = (0usize, 0usize);
    let mut tally = |r: &RawRun| {
        kicked += r.states.iter().filter(|s| s.t_noise != crate::escape::NEVER).count();
        diverged += r.states.iter().filter(|s| s.diverged()).count();
    };
    let objectives = [("toy-saddle", 2), ("quartic", 5), ("octopus", 4), ("degenerate-quartic", 2), ("rosenbrock", 3), ("quartic", 16)];
    for (name, d) in objectives {
        let obj = objective(name, d);
        for precision in [Precision::F32, Precision::F16, Precision::F64] {
            for (chains, certify, t_thres) in [(13, 0, 3), (37, 30, 1)] {
                let base = obj.default_params();
                let params = PgdParams { certify, t_thres, g_thres: base.g_thres.max(1e-2), ..base };
                let exp = Experiment::builder(obj.clone())
                    .method(MethodKind::Pgd)
                    .params(params)
                    .chains(chains)
                    .steps(300)
                    .seed(11)
                    .init(Init::Normal(0.05))
                    .state_precision(precision)
                    .build()
                    .unwrap();
                tally(&both_paths(&exp, &format!("kicks {name} {d} {precision:?} {chains} chains certify {certify}")));
            }
            // Kicks that throw chains out of the domain or past the float range, some of them.
            let radius = if name == "octopus" { 50.0 } else { 2e9 };
            let exp = Experiment::builder(obj.clone())
                .method(MethodKind::Pgd)
                .params(PgdParams { radius, t_thres: 2, g_thres: 1e-1, ..obj.default_params() })
                .chains(29)
                .steps(100)
                .seed(5)
                .init(Init::Normal(0.01))
                .state_precision(precision)
                .build()
                .unwrap();
            tally(&both_paths(&exp, &format!("diverging kicks {name} {d} {precision:?}")));
        }
        // A radius per chain: the self-bounding rule anchored at each chain's f(x0), never rebased
        // (on the objectives with closed-form rho1 and rho2).
        if !matches!(name, "toy-saddle" | "quartic") {
            continue;
        }
        let exp = Experiment::builder(obj.clone())
            .method(MethodKind::Pgd)
            .params(PgdParams { certify: 1, ..obj.default_params() })
            .configure(|m| m.step_rule = StepRule::SelfBounding(SelfBounding { eps: 0.05, ..Default::default() }))
            .chains(21)
            .steps(300)
            .seed(9)
            .init(Init::Normal(0.3))
            .build()
            .unwrap();
        tally(&both_paths(&exp, &format!("self-bounding kicks {name} {d}")));
    }
    assert!(kicked > 1000 && diverged > 0, "kicked {kicked}, diverged {diverged}");
}
