//! The network objective on both paths: the GPU kernel against the CPU twin (integer bookkeeping
//! exactly, floats to a tolerance) for full-batch and minibatch methods, and the command line's
//! refusals of inputs that disagree with the data.

mod common;

use common::gpu;
use escapade::objective::{Activation, DataSource, Loss};
use escapade::method::Oracle;
use escapade::{Experiment, Init, MethodKind, ObjectiveSpec, Runner};

fn mlp(layers: &[usize], activation: Activation, loss: Loss, holdout: f64) -> ObjectiveSpec {
    ObjectiveSpec::Mlp {
        dataset: "wine".into(),
        layers: layers.to_vec(),
        activation,
        loss,
        weight_decay: 1e-3,
        kappa: 0.01,
        holdout,
        standardise: true,
        split_seed: 4,
        data: DataSource::Seed(0),
    }
}

/// Near the origin saddle with small kicks: every activation and loss, GD-type and minibatch
/// methods; the transcendentals differ by an ulp between the paths, so floats agree to 1e-4.
#[test]
fn the_network_on_the_gpu_follows_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    let cases = [
        (mlp(&[13, 6, 3], Activation::Tanh, Loss::CrossEntropy, 0.0), MethodKind::Pgd),
        (mlp(&[13, 5, 3], Activation::Softplus, Loss::Squared, 0.25), MethodKind::Pgd),
        (mlp(&[13, 4, 4, 3], Activation::Gelu, Loss::CrossEntropy, 0.0), MethodKind::Gd),
        (mlp(&[13, 6, 3], Activation::Tanh, Loss::CrossEntropy, 0.0), MethodKind::Sgd),
    ];
    for (spec, kind) in cases {
        let obj = spec.build().unwrap();
        let mut b = Experiment::builder(obj.clone()).method(kind).chains(128).steps(150).seed(9).init(Init::Normal(0.05));
        if kind == MethodKind::Sgd {
            b = b.configure(|m| m.oracle = Oracle::Minibatch { batch: 16 });
        }
        let exp = b.build().unwrap();
        let (g, c) = (Runner::gpu(&engine).run(&exp).unwrap(), Runner::cpu().run(&exp).unwrap());
        common::assert_close_states(&g, &c, 1e-4);
        let worst = g.raw.x.iter().zip(&c.raw.x).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max);
        println!("{} d = {} {kind:?}: worst final coordinate {worst:e}, labels {:?}", obj.name(), obj.dim(), c.raw.states.iter().map(|s| s.label).max());
        assert!(worst <= 1e-4, "final points differ by {worst}");
        assert_eq!(g.raw.events.len(), c.raw.events.len());
    }
}

/// Each input that disagrees with the network or its data is one line naming it, exit 2.
#[test]
fn network_inputs_are_checked_before_running() {
    let base = common::table::tmp("networks");
    let run = "run --backend cpu --steps 5 --chains 4 --quiet --plots none --out {d}/run";
    let cases = vec![
        common::table::case("layers against the features", 2, &["invalid layers", "13 features"], &format!("{run} --objective mlp --layers 12,5,3")),
        common::table::case("layers against the classes", 2, &["invalid layers", "10 classes"], &format!("{run} --objective mlp --dataset digits --layers 64,5,3")),
        common::table::case("dim with a network", 2, &["invalid dim", "--layers sets the dimension"], &format!("{run} --objective mlp --dim 5")),
        common::table::case("holdout of everything", 2, &["invalid holdout", "1 to 177 of the 178 rows"], &format!("{run} --objective mlp --holdout 1")),
        common::table::case("empty holdout", 2, &["invalid holdout"], &format!("{run} --objective mlp --holdout 0.001")),
        common::table::case("batch beyond the rows", 2, &["invalid batch", "at most the objective's m = 178 terms"], &format!("{run} --objective mlp --method sgd --batch 500")),
        common::table::case("layers without a network", 2, &["invalid layers", "only with --objective mlp"], &format!("{run} --objective quartic --layers 3,3")),
        common::table::case("unknown activation", 2, &["relu", "tanh"], &format!("{run} --objective mlp --activation relu")),
        common::table::case("labels not integers", 2, &["invalid labels", "integers", "0.5 in row 1"], &format!("{run} --objective mlp --data {{d}}/X.csv,{{d}}/y.csv"))
            .with("X.csv", "1,2\n3,4\n5,6\n")
            .with("y.csv", "0\n0.5\n1\n"),
        common::table::case("a class without rows", 2, &["invalid labels", "no row of class 1"], &format!("{run} --objective mlp --data {{d}}/X.csv,{{d}}/y.csv"))
            .with("X.csv", "1,2\n3,4\n5,6\n")
            .with("y.csv", "0\n2\n2\n"),
        common::table::case("NaN features", 2, &["invalid X", "is NaN"], &format!("{run} --objective mlp --data {{d}}/X.csv,{{d}}/y.csv"))
            .with("X.csv", "1,2\n3,nan\n5,6\n")
            .with("y.csv", "0\n1\n1\n"),
    ];
    common::table::check(&base, &[], cases);
    std::fs::remove_dir_all(&base).ok();
}
