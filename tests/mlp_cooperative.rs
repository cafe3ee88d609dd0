//! The network beyond d = 256 on the GPU, in the storage families (cooperative: a workgroup per
//! chain; streamed: one invocation per chain), against its CPU twin: the integer bookkeeping
//! (steps, statuses, escapes, labels: the classes predicted) exactly, values and points to a
//! stated tolerance (the lanes sum the regulariser's norms in another order, the CPU twin its
//! rows as matrix products, and transcendentals differ by an ulp), for full-batch and minibatch
//! methods; and independent of the dispatch split.

mod common;

use common::{assert_close_states, gpu};
use escapade::method::Oracle;
use escapade::objective::{Activation, DataSource, Loss};
use escapade::{Experiment, GpuSettings, Init, KernelFamily, MethodKind, ObjectiveSpec, PgdParams, Report, Runner};

#[allow(clippy::too_many_arguments)]
fn mlp(dataset: &str, layers: &[usize], activation: Activation, loss: Loss, weight_decay: f64, kappa: f64, holdout: f64) -> ObjectiveSpec {
    let data = DataSource::Seed(0);
    ObjectiveSpec::Mlp { dataset: dataset.into(), layers: layers.to_vec(), activation, loss, weight_decay, kappa, holdout, standardise: true, split_seed: 4, data }
}

/// Worst distance between the final points, coordinate by coordinate, relative to 1 + |cpu|.
fn worst(g: &Report, c: &Report) -> f64 {
    g.raw.x.iter().zip(&c.raw.x).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max)
}

/// Runs `exp` on the CPU and in `families` on the GPU (None: the family chosen by d, which must
/// be the cooperative one); each GPU run must follow the CPU's to `tol`, and with `split` the
/// first family's must not depend on the steps per dispatch.
fn follows_the_cpu_twin(exp: &Experiment, families: &[Option<KernelFamily>], tol: f64, split: bool) {
    let Some(engine) = gpu() else { return };
    let (d, name) = (exp.objective.dim(), exp.objective.params()["layers"].to_string());
    assert!(d > 256, "{name}: d = {d}");
    let c = Runner::cpu().run(exp).unwrap();
    let start = Runner::cpu().run(&Experiment { steps: 1, ..exp.clone() }).unwrap();
    assert!(worst(&c, &start) > 1e-4, "{name}: the chains did not move");
    for (k, &family) in families.iter().enumerate() {
        let settings = |steps| GpuSettings { family, steps_per_dispatch: steps, ..Default::default() };
        let g = Runner::gpu(&engine.tuned(settings(None)).unwrap()).run(exp).unwrap();
        let kind = g.raw.kernel_family.clone();
        assert_eq!(kind, if family == Some(KernelFamily::Streamed) { "streamed" } else { "cooperative" });
        let labels: Vec<u32> = c.raw.states.iter().map(|s| s.label).collect();
        println!("{name} d = {d} {:?} {kind}: worst final coordinate {:e}, labels {labels:?}, {} escape events", exp.method.kind, worst(&g, &c), c.raw.events.len());
        assert_close_states(&g, &c, tol);
        assert!(worst(&g, &c) <= tol, "{name} {kind}: final points differ by {}", worst(&g, &c));
        assert_eq!(g.raw.events.len(), c.raw.events.len(), "{name} {kind}");
        if split && k == 0 {
            let split = Runner::gpu(&engine.tuned(settings(Some(3))).unwrap()).run(exp).unwrap();
            assert_eq!(g.raw.x, split.raw.x, "{name} {kind}: the dispatch split changed the points");
            assert_eq!(g.raw.states, split.raw.states, "{name} {kind}");
        }
    }
}

/// Wine 13-16-3 (d = 275), tanh, cross-entropy, every training row: PGD kicked often, its
/// kicks and escapes through the cooperative evaluation.
#[test]
fn wine_13_16_3_full_batch_follows_the_cpu_twin() {
    let obj = mlp("wine", &[13, 16, 3], Activation::Tanh, Loss::CrossEntropy, 1e-3, 0.0, 0.0).build().unwrap();
    assert_eq!(obj.dim(), 275);
    // A stall threshold above the gradient's norm: every chain is kicked every t_thres steps.
    let params = PgdParams { g_thres: 10.0, t_thres: 4, f_thres: 1e-4, radius: 0.05, ..obj.default_params() };
    let exp = Experiment::builder(obj).method(MethodKind::Pgd).params(params).chains(4).steps(30).seed(9).init(Init::Normal(0.05)).build().unwrap();
    follows_the_cpu_twin(&exp, &[None, Some(KernelFamily::Streamed)], 1e-5, true);
}

/// Two hidden layers of softplus (d = 299), squared loss, weight decay and kappa, a quarter of
/// the rows held out; and GELU with cross-entropy, by GD.
#[test]
fn deeper_networks_with_regularisers_and_a_holdout_follow_the_cpu_twin() {
    for (activation, loss, kind) in [(Activation::Softplus, Loss::Squared, MethodKind::Pgd), (Activation::Gelu, Loss::CrossEntropy, MethodKind::Gd)] {
        let obj = mlp("wine", &[13, 12, 8, 3], activation, loss, 1e-3, 0.05, 0.25).build().unwrap();
        assert_eq!(obj.dim(), 299);
        let exp = Experiment::builder(obj).method(kind).chains(4).steps(20).seed(3).init(Init::Normal(0.2)).build().unwrap();
        follows_the_cpu_twin(&exp, &[None], 1e-5, false);
    }
}

/// The minibatch oracle (`--batch 16`): each step's 16 rows, drawn alike on both paths, through
/// `objective_term_lanes`.
#[test]
fn wine_minibatch_follows_the_cpu_twin() {
    let obj = mlp("wine", &[13, 16, 3], Activation::Tanh, Loss::CrossEntropy, 1e-3, 0.01, 0.0).build().unwrap();
    let exp = Experiment::builder(obj).method(MethodKind::Sgd).chains(4).steps(12).seed(5).init(Init::Normal(0.1)).configure(|m| m.oracle = Oracle::Minibatch { batch: 16 }).build().unwrap();
    follows_the_cpu_twin(&exp, &[None, Some(KernelFamily::Streamed)], 1e-5, false);
}

/// Digits 64-32-10 (d = 2410, 256 lanes of 12 coordinates) on a tenth of its rows (so that one
/// evaluation stays within a software adapter's loop limit), a few GD steps.
#[test]
fn digits_64_32_10_follows_the_cpu_twin() {
    let obj = mlp("digits", &[64, 32, 10], Activation::Tanh, Loss::CrossEntropy, 0.0, 0.0, 0.9).build().unwrap();
    assert_eq!(obj.dim(), 2410);
    let exp = Experiment::builder(obj).method(MethodKind::Gd).chains(2).steps(4).seed(1).init(Init::Normal(0.1)).build().unwrap();
    follows_the_cpu_twin(&exp, &[None], 1e-5, false);
}
