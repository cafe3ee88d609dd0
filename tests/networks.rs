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

/// The accuracies in chains.csv, recomputed from the run's final points by a plain forward pass
/// written here (tanh hidden layers, the first largest logit), on the training rows and the
/// held-out ones of the same split; the losses by the same pass (cross-entropy), and the
/// summary's distribution from the column.
#[test]
fn reported_accuracy_is_what_the_final_points_classify() {
    use escapade::objective::dataset::{Dataset, SplitSpec};
    let sizes = [13usize, 5, 4, 3];
    let mut spec = mlp(&sizes, Activation::Tanh, Loss::CrossEntropy, 0.3);
    if let ObjectiveSpec::Mlp { split_seed, weight_decay, .. } = &mut spec {
        (*split_seed, *weight_decay) = (11, 0.0);
    }
    let exp = Experiment::builder(spec.build().unwrap()).method(MethodKind::Gd).chains(24).steps(400).seed(5).init(Init::Normal(0.3)).build().unwrap();
    let report = Runner::cpu().run(&exp).unwrap();
    let dir = common::table::tmp("network-scores");
    report.write(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join("chains.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let split = Dataset::shipped("wine").unwrap().split(&SplitSpec { holdout: 0.3, seed: 11, standardise: true }).unwrap();
    let holdout = split.holdout.unwrap();
    let d = exp.objective.dim();
    let (mut accuracies, mut spread) = (Vec::new(), Vec::new());
    for (c, line) in text.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let x = report.raw.resting_point(c, d);
        for (set, acc, loss) in [(&split.train, "train_accuracy", "train_loss"), (&holdout, "holdout_accuracy", "holdout_loss")] {
            let (want_acc, want_loss) = forward(x, &sizes, set);
            let (got_acc, got_loss): (f64, f64) = (cells[col(acc)].parse().unwrap(), cells[col(loss)].parse().unwrap());
            assert_eq!(got_acc, want_acc, "chain {c}: {acc}");
            assert!((got_loss - want_loss).abs() <= 1e-12 * (1.0 + want_loss), "chain {c}: {loss} {got_loss} vs {want_loss}");
            if acc == "train_accuracy" {
                accuracies.push(want_acc);
            }
        }
        spread.push(cells[col("holdout_loss")].to_string());
    }
    // The seeds end in different places: the column is not one value copied to every chain.
    spread.sort();
    spread.dedup();
    assert!(spread.len() > 1, "every chain has held-out loss {spread:?}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let net = &summary["network"];
    accuracies.sort_by(f64::total_cmp);
    assert_eq!(net["train_accuracy"]["min"].as_f64(), accuracies.first().copied());
    assert_eq!(net["train_accuracy"]["n"].as_u64(), Some(24));
    let binned: u64 = net["holdout_accuracy"]["histogram"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(binned, 24);
    std::fs::remove_dir_all(&dir).ok();
}

/// A network trained by GD into a weight-decayed minimum rests at a second-order stationary
/// point, and the certification says so for every chain: Lanczos on the exact Hessian-vector
/// products converges there (central differences of gradients left the residual above its
/// tolerance at saturated tanh units, and those chains read as censored). Two data sets and
/// widths, seeds of their own.
#[test]
fn trained_networks_are_certified_at_their_minimum() {
    for (layers, wd, steps, seed) in [(vec![13usize, 10, 3], 1e-3, 1500, 21u64), (vec![13, 6, 4, 3], 3e-3, 1200, 22)] {
        let mut spec = mlp(&layers, Activation::Tanh, Loss::CrossEntropy, 0.2);
        if let ObjectiveSpec::Mlp { weight_decay, kappa, .. } = &mut spec {
            (*weight_decay, *kappa) = (wd, 0.0);
        }
        let exp = Experiment::builder(spec.build().unwrap())
            .method(MethodKind::Gd)
            .chains(12)
            .steps(steps)
            .seed(seed)
            .init(Init::Normal(0.1))
            .configure(|m| m.params.g_thres = 0.02)
            .build()
            .unwrap();
        let report = Runner::cpu().run(&exp).unwrap();
        let cert = &report.judgement.certification;
        assert_eq!(cert.unconverged, 0, "{layers:?}: Lanczos did not converge at {} points", cert.unconverged);
        assert_eq!(report.counts.converged, 12, "{layers:?}: {:?}", report.counts);
    }
}

/// `compare` tests each run against the first by two-sample Kolmogorov-Smirnov: its statistic D
/// for the escape times (events.csv) and the final training accuracies (chains.csv) is the one
/// computed here from the files, for two runs whose distributions differ.
#[test]
fn compare_reports_kolmogorov_smirnov_against_the_first_run() {
    let dir = common::table::tmp("network-compare");
    let run = |m: &str, steps: u32, name: &str| {
        let out = dir.join(name);
        let args = format!("run --objective mlp --dataset wine --layers 13,4,3 --weight-decay 1e-3 --method {m} --chains 40 --steps {steps} --init normal:1e-6 --g-thres 0.02 --f-thres 0.1 --backend cpu --plots none --quiet --certify-eps off --seed 3");
        let mut argv: Vec<String> = args.split(' ').map(String::from).collect();
        argv.extend(["--out".into(), out.to_str().unwrap().into()]);
        let o = common::table::escapade(&argv);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    // PGD leaves the origin plateau sooner, and is stopped while still fitting.
    let (a, b) = (run("gd", 300, "a"), run("pgd", 110, "b"));
    let o = common::table::escapade(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--plots", "none"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}");
    let column = |dir: &std::path::Path, file: &str, name: &str| -> Vec<f64> {
        let t = std::fs::read_to_string(dir.join(file)).unwrap();
        let header: Vec<&str> = t.lines().next().unwrap().split(',').collect();
        let k = header.iter().position(|h| *h == name).unwrap();
        t.lines().skip(1).map(|l| l.split(',').nth(k).unwrap().parse().unwrap()).collect()
    };
    for (row, file, name) in [("escape times: KS vs 1st", "events.csv", "escape_steps"), ("training acc.: KS vs 1st", "chains.csv", "train_accuracy")] {
        let (x, y) = (column(&a, file, name), column(&b, file, name));
        assert!(!x.is_empty() && !y.is_empty(), "{name}: both runs have values");
        // D = sup_t |F_x(t) - F_y(t)|, over the pooled sample points.
        let ecdf = |s: &[f64], t: f64| s.iter().filter(|&&v| v <= t).count() as f64 / s.len() as f64;
        let d = x.iter().chain(&y).map(|&t| (ecdf(&x, t) - ecdf(&y, t)).abs()).fold(0.0, f64::max);
        let line = text.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("no row {row}: {text}"));
        assert!(line.contains(&format!("D {d:.3}")), "{row}: want D {d:.3}: {line}");
        assert!(d > 0.0, "{row}: the two runs should differ");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Accuracy and mean cross-entropy of the tanh network `x` on `set`.
fn forward(x: &[f64], sizes: &[usize], set: &escapade::objective::dataset::Dataset) -> (f64, f64) {
    let (mut right, mut loss) = (0usize, 0.0);
    for (r, &y) in set.labels.iter().enumerate() {
        let mut a: Vec<f64> = set.x.data[r * sizes[0]..(r + 1) * sizes[0]].to_vec();
        let mut at = 0;
        for l in 1..sizes.len() {
            let (n_in, n_out) = (sizes[l - 1], sizes[l]);
            let (w, b) = (&x[at..at + n_out * n_in], &x[at + n_out * n_in..at + n_out * n_in + n_out]);
            at += n_out * (n_in + 1);
            let z: Vec<f64> = (0..n_out).map(|i| b[i] + (0..n_in).map(|j| w[i * n_in + j] * a[j]).sum::<f64>()).collect();
            a = if l + 1 < sizes.len() { z.iter().map(|v| v.tanh()).collect() } else { z };
        }
        let best = (0..a.len()).fold(0, |k, i| if a[i] > a[k] { i } else { k });
        right += usize::from(best == y as usize);
        let m = a[best];
        loss += m + a.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - a[y as usize];
    }
    (right as f64 / set.labels.len() as f64, loss / set.labels.len() as f64)
}
