//! The catalogue on the GPU path against its CPU twin (every row, every method) and against the
//! theory: clipping, SGD noise, minibatch unbiasedness, the self-bounding rule, matrix
//! factorization, f16 states.

mod common;

use common::gpu;
use escapade::method::{Oracle, SelfBounding, StepRule};
use escapade::objective::{DataSource, MatrixFactorization, PhaseRetrieval};
use escapade::{Runner, Experiment, Init, MethodKind, Objective, ObjectiveSpec, PgdParams, Precision, Report};
use std::sync::Arc;

fn spec(s: ObjectiveSpec) -> Arc<dyn Objective> {
    s.build().unwrap()
}

/// Integer bookkeeping exact, positions to `tol` relative.
fn agree(g: &Report, c: &Report, tol: f32) {
    assert_eq!(g.raw.states.len(), c.raw.states.len());
    for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
        assert_eq!((a.t, a.status, a.label), (b.t, b.status, b.label), "chain {i}");
    }
    let worst = g.raw.x.iter().zip(&c.raw.x).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0f64, f64::max);
    assert!(worst <= f64::from(tol), "positions differ by {worst}");
}

/// Every row of the catalogue at its first test dimension, every method: the GPU path against
/// the CPU twin.
#[test]
fn every_objective_and_method_matches_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    let objectives = escapade::objective::catalogue::CATALOGUE.iter().map(|e| spec(ObjectiveSpec::from_name(e.name, e.tests[0]).unwrap()));
    for obj in objectives {
        for kind in MethodKind::ALL {
            let exp = Experiment::builder(obj.clone())
                .method(kind)
                .chains(128)
                .steps(40)
                .seed(8)
                .init(Init::Uniform(0.5))
                .build()
                .unwrap();
            let g = Runner::gpu(&engine).run(&exp).unwrap();
            let c = Runner::cpu().run(&exp).unwrap();
            // Exact-gradient methods agree to f32 rounding; noisy ones differ by the ulps of the
            // device's log/cos in their Gaussian draws.
            let tol = if matches!(kind, MethodKind::Gd | MethodKind::ClippedGd | MethodKind::PrecondGd) { 1e-5 } else { 1e-3 };
            println!("{} d = {} {kind:?}", obj.name(), obj.dim());
            agree(&g, &c, tol);
        }
    }
}

#[test]
fn clipped_steps_never_exceed_eta_gamma_on_the_device() {
    let Some(engine) = gpu() else { return };
    let q = spec(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 2.0, 0.5] });
    let params = PgdParams { eta: 0.05, ..q.default_params() };
    let gamma = 0.5;
    for transform in [escapade::method::Transform::ClipHard { gamma }, escapade::method::Transform::ClipSmooth { gamma }] {
        let exp = Experiment::builder(q.clone())
            .method(MethodKind::ClippedGd)
            .params(params)
            .configure(|m| m.transform = transform)
            .chains(256)
            .steps(60)
            .init(Init::Uniform(4.0))
            .trace(64, 1)
            .build()
            .unwrap();
        let r = Runner::gpu(&engine).run(&exp).unwrap();
        let bound = (0.05 * gamma) as f32;
        let mut longest = 0.0f32;
        for chain in 0..64 {
            for t in 0..59 {
                let a = r.raw.trace_point(&exp, chain, t).unwrap();
                let b = r.raw.trace_point(&exp, chain, t + 1).unwrap();
                let len = a.iter().zip(b).map(|(u, v)| (u - v).powi(2)).sum::<f32>().sqrt();
                longest = longest.max(len);
            }
        }
        println!("{transform:?}: longest step {longest} (bound eta*gamma = {bound})");
        assert!(longest <= bound * (1.0 + 1e-5), "step {longest} > {bound}");
        // From |x_i| up to 4 the raw gradient is large: clipping was active, not vacuous.
        assert!(longest > 0.9 * bound, "clipping never bit: {longest}");
    }
}

#[test]
fn sgd_noise_has_the_requested_mean_and_variance() {
    let Some(engine) = gpu() else { return };
    // At the toy saddle's origin the gradient is exactly 0: one step moves x by -eta sigma xi.
    let sigma = 0.3;
    let eta = 0.1;
    let toy = spec(ObjectiveSpec::ToySaddle);
    let exp = Experiment::builder(toy.clone())
        .method(MethodKind::Sgd)
        .params(PgdParams { eta, ..toy.default_params() })
        .configure(|m| m.oracle = Oracle::Noise { sigma })
        .chains(65_536)
        .steps(1)
        .init(Init::Zero)
        .build()
        .unwrap();
    let r = Runner::gpu(&engine).run(&exp).unwrap();
    let noise: Vec<f64> = r.raw.x.iter().map(|&v| -v / eta).collect();
    let n = noise.len() as f64;
    let mean = noise.iter().sum::<f64>() / n;
    let var = noise.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    println!("SGD noise over {n} draws: mean {mean:.5} (target 0), variance {var:.5} (target {})", sigma * sigma);
    assert!(mean.abs() < 5.0 * sigma / n.sqrt(), "mean {mean}");
    assert!((var / (sigma * sigma) - 1.0).abs() < 0.02, "variance {var}");
}

#[test]
fn minibatch_gradients_are_unbiased() {
    let Some(engine) = gpu() else { return };
    let pr = PhaseRetrieval::generate(4, 40, 11).unwrap();
    let x0 = [0.4, -0.3, 0.8, 0.1];
    let mut full = [0.0; 4];
    pr.eval(&x0, &mut full);
    let obj: Arc<dyn Objective> = Arc::new(pr);
    let eta = 1.0;
    let exp = Experiment::builder(obj.clone())
        .method(MethodKind::Sgd)
        .params(PgdParams { eta, ..obj.default_params() })
        .configure(|m| m.oracle = Oracle::Minibatch { batch: 4 })
        .chains(65_536)
        .steps(1)
        .init(Init::Point(x0.to_vec()))
        .build()
        .unwrap();
    let r = Runner::gpu(&engine).run(&exp).unwrap();
    let n = 65_536.0;
    for i in 0..4 {
        let draws: Vec<f64> = (0..65_536).map(|c| (x0[i] - r.raw.x[c * 4 + i]) / eta).collect();
        let mean = draws.iter().sum::<f64>() / n;
        let sd = (draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        println!("coordinate {i}: minibatch mean {mean:.5}, full gradient {:.5}, standard error {:.5}", full[i], sd / n.sqrt());
        assert!((mean - full[i]).abs() < 5.0 * sd / n.sqrt() + 1e-5, "biased: {mean} vs {}", full[i]);
        assert!(sd > 1e-3, "no sampling noise at all");
    }
}

#[test]
fn self_bounding_rule_survives_where_a_fixed_step_diverges() {
    let Some(engine) = gpu() else { return };
    let obj = spec(ObjectiveSpec::PhaseRetrieval { dim: 8, m: 80, data: DataSource::Seed(0) });
    let far = Init::Sphere(10.0); // ||x*|| = 1
    let run = |rule: StepRule, init: Init, steps| {
        Runner::gpu(&engine).run(&Experiment::builder(obj.clone())
            .method(MethodKind::Pgd)
            .configure(|m| m.step_rule = rule)
            .chains(256)
            .steps(steps)
            .seed(4)
            .init(init)
            .build()
            .unwrap())
            .unwrap()
    };
    let rule = StepRule::SelfBounding(SelfBounding { eps: 0.01, rebase_every: 50, ..Default::default() });
    // The default eta = 0.1 is tuned near the optimum (||Hess f(x*)|| ~ 6).
    let fixed = run(StepRule::Fixed, far.clone(), 6000);
    let sb = run(rule.clone(), far, 6000);
    let reached = sb.final_labels.get(&1).copied().unwrap_or(0);
    println!(
        "phase retrieval d=8 m=80 from ||x0|| = 10: fixed step diverged {}/256, self-bounding diverged {}/256, reached +-x* {reached}/256; per-chain eta median {:?}",
        fixed.counts.diverged, sb.counts.diverged, sb.step_size.median
    );
    assert!(fixed.counts.diverged >= 128, "fixed step diverged only {}", fixed.counts.diverged);
    assert_eq!(sb.counts.diverged, 0);
    assert!(reached >= 230, "only {reached} chains reached +-x*");
    // Started at the saddle at 0 (where the gradient vanishes) the chains stall, get kicked by
    // PGD and escape it (label 0 events).
    let near = run(rule, Init::Zero, 3000);
    let escaped_saddle = near.raw.events.iter().filter(|e| e.label == 0).map(|e| e.chain).collect::<std::collections::HashSet<_>>().len();
    println!("from the saddle: {escaped_saddle}/256 chains escaped it, median escape {:?} steps", near.escape_time.median);
    assert_eq!(near.counts.diverged, 0);
    assert!(escaped_saddle >= 250, "only {escaped_saddle} escaped the saddle at 0");
}

#[test]
fn matrix_factorization_pgd_from_near_zero_finds_the_top_subspace() {
    let Some(engine) = gpu() else { return };
    let mf = Arc::new(MatrixFactorization::generate(6, 2, Some(vec![3.0, 2.0, 1.0, 0.5, 0.2, 0.1]), 7).unwrap());
    let exp = Experiment::builder(mf.clone())
        .method(MethodKind::Pgd)
        .chains(1024)
        .steps(3000)
        .seed(2)
        .init(Init::Ball(1e-3))
        .build()
        .unwrap();
    let r = Runner::gpu(&engine).run(&exp).unwrap();
    let d = 12;
    let inside = (0..1024)
        .filter(|&c| {
            let x: Vec<f64> = r.raw.x[c * d..(c + 1) * d].to_vec();
            mf.top_subspace_fraction(&x) >= 0.99
        })
        .count();
    println!("matrix factorization n=6 r=2: {inside}/1024 chains in the top-2 eigenspace (>= 99% of ||U||^2)");
    assert!(inside >= 1014, "{inside}");
}

#[test]
fn f16_states_track_f32_and_match_their_cpu_twin() {
    let Some(engine) = gpu() else { return };
    if !engine.context().device.features().contains(wgpu::Features::SHADER_F16) {
        eprintln!("SKIPPED: adapter lacks SHADER_F16");
        return;
    }
    let q = spec(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 0.5, 2.0] });
    let build = |p| Experiment::builder(q.clone()).method(MethodKind::Gd).chains(1024).steps(200).init(Init::Uniform(1.0)).state_precision(p).build().unwrap();
    let full = Runner::gpu(&engine).run(&build(Precision::F32)).unwrap();
    let exp = build(Precision::F16);
    let half = Runner::gpu(&engine).run(&exp).unwrap();
    let twin = Runner::cpu().run(&exp).unwrap();
    agree(&half, &twin, 1e-6);
    let err = half.raw.x.iter().zip(&full.raw.x).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
    println!("f16 state, GD on the quartic, 200 steps: max |x_f16 - x_f32| = {err:e}");
    assert!(err > 0.0 && err < 2e-2, "{err}");
}

/// The self-bounding rule's per-chain parameters (step size, thresholds, window) are computed on
/// the device at init and at every re-anchoring; they must be the CPU twin's, chain by chain.
#[test]
fn self_bounding_parameters_match_the_cpu_twin_chain_by_chain() {
    let Some(engine) = gpu() else { return };
    let q = spec(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 2.0, 0.5] });
    for (margin, rebase) in [(None, 0), (Some(0.25), 7)] {
        let exp = Experiment::builder(q.clone())
            .method(MethodKind::Pgd)
            .configure(|m| {
                m.step_rule = StepRule::SelfBounding(SelfBounding { eps: 0.05, margin, rebase_every: rebase, ..Default::default() });
                m.params.certify = 1;
            })
            .chains(256)
            .steps(60)
            .seed(5)
            .init(Init::Uniform(3.0))
            .build()
            .unwrap();
        let g = Runner::gpu(&engine).run(&exp).unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * b.abs().max(1e-30);
        for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
            assert_eq!((a.t_thres, a.certify), (b.t_thres, b.certify), "chain {i}");
            for (what, x, y) in [("eta", a.eta, b.eta), ("radius", a.radius, b.radius), ("g_thres", a.g_thres, b.g_thres), ("f_thres", a.f_thres, b.f_thres)] {
                assert!(close(x, y), "chain {i} {what}: device {x} vs twin {y}");
            }
        }
        let etas: std::collections::BTreeSet<u32> = c.raw.states.iter().map(|s| s.eta.to_bits()).collect();
        assert!(etas.len() > 100, "the rule gave {} distinct step sizes for 256 chains", etas.len());
        agree(&g, &c, 1e-3);
    }
}

/// The inv-sqrt and piecewise schedules give the same trajectories on the device as on the CPU.
#[test]
fn schedules_match_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    let q = spec(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 2.0, 0.5] });
    for schedule in ["inv-sqrt", "piecewise:10:0.5,25:0.1"] {
        let s = escapade::method::Schedule::parse(schedule).unwrap();
        let exp = Experiment::builder(q.clone())
            .method(MethodKind::Gd)
            .configure(|m| m.schedule = s.clone())
            .chains(256)
            .steps(50)
            .seed(6)
            .init(Init::Uniform(2.0))
            .build()
            .unwrap();
        let g = Runner::gpu(&engine).run(&exp).unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        agree(&g, &c, 1e-5);
        // The schedule acted: the same run with a constant step ends elsewhere.
        let constant = Experiment::builder(q.clone()).method(MethodKind::Gd).chains(256).steps(50).seed(6).init(Init::Uniform(2.0)).build().unwrap();
        let k = Runner::cpu().run(&constant).unwrap();
        assert!(c.raw.x.iter().zip(&k.raw.x).any(|(a, b)| (a - b).abs() > 1e-3), "{schedule} changed nothing");
    }
}
