//! Dimensions beyond one invocation (d > 256): the cooperative GPU kernel family against the CPU
//! twin. Floats to a stated tolerance (the lanes sum in another order than the scalar twin),
//! integers exactly where the trajectories are stable, escape-time laws by a two-sample KS test;
//! results independent of the dispatch split and the shards.

mod common;

use common::{first_escape_times, assert_close_states, gpu};
use escapade::objective::DataSource;
use escapade::stats::ks_two_sample;
use escapade::{Experiment, GpuSettings, Init, KernelFamily, MethodKind, Objective, ObjectiveSpec, Precision, Runner};
use std::sync::Arc;

fn build(spec: ObjectiveSpec) -> Arc<dyn Objective> {
    spec.build().unwrap()
}

/// The three objectives at d = 257, 1024 and 4096 (phase retrieval with few rows, matrix
/// factorization as n x r), and Rosenbrock, whose coordinates read their neighbours'.
fn cases() -> Vec<(String, Arc<dyn Objective>)> {
    let mut out = Vec::new();
    for d in [257, 1024, 4096] {
        let eig: Vec<f64> = (0..d).map(|i| [-1.0, 1.0, 0.5, 2.0][i % 4] * if i < d / 2 { 1.0 } else { 1.5 }).collect();
        out.push((format!("quartic d={d}"), build(ObjectiveSpec::Quartic { eigenvalues: eig })));
        out.push((format!("phase retrieval d={d}"), build(ObjectiveSpec::PhaseRetrieval { dim: d, m: 48, data: DataSource::Seed(3) })));
        let (n, rank) = match d {
            257 => (257, 1),
            1024 => (256, 4),
            _ => (1024, 4),
        };
        out.push((format!("matrix factorization d={d}"), build(ObjectiveSpec::MatrixFactorization { n, rank, spectrum: None, data: DataSource::Seed(5) })));
        out.push((format!("rosenbrock d={d}"), build(ObjectiveSpec::Rosenbrock { dim: d })));
    }
    out
}

/// Relative distance between two points.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(u, v)| (u - v).powi(2)).sum::<f64>().sqrt();
    diff / b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-6)
}

#[test]
fn gd_at_large_d_follows_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    for (name, obj) in cases() {
        let d = obj.dim();
        // Steps small enough that every objective moves without blowing up.
        let eta = match obj.name() {
            "rosenbrock" => 1e-4,
            "matrix-factorization" => 0.02,
            _ => 0.01,
        };
        let steps = if d >= 4096 && obj.name() == "matrix-factorization" { 6 } else { 25 };
        let params = escapade::PgdParams { eta, ..obj.default_params() };
        // Stepping is what is compared: no judging of resting points (Lanczos at d = 4096 on the
        // host takes minutes).
        let checks = escapade::experiment::CheckSpec { certify: false, ..Default::default() };
        let run = |steps| Experiment::builder(obj.clone()).method(MethodKind::Gd).params(params).chains(6).steps(steps).seed(4).init(Init::Uniform(0.3)).checks(checks.clone()).build().unwrap();
        let exp = run(steps);
        let g = Runner::gpu(&engine).run(&exp).unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        assert_eq!(g.raw.kernel_family, "cooperative", "{name}");
        let worst = (0..6).map(|k| rel(&g.raw.x[k * d..(k + 1) * d], &c.raw.x[k * d..(k + 1) * d])).fold(0.0, f64::max);
        println!("{name}: {steps} GD steps, worst relative distance of the final points {worst:e}");
        assert!(worst <= 1e-4, "{name}: final points differ by {worst}");
        // They moved: the final points are not the starts.
        let start = Runner::cpu().run(&run(1)).unwrap();
        assert!(rel(&c.raw.x, &start.raw.x) > 1e-4, "{name}: GD did not move");
        assert_close_states(&g, &c, 1e-3);
    }
}

#[test]
fn every_precision_and_piece_at_large_d_follows_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    let obj = build(ObjectiveSpec::Quartic { eigenvalues: (0..300).map(|i| if i % 7 == 0 { -1.0 } else { 1.0 }).collect() });
    let d = obj.dim();
    // Noise, clipping, a schedule and the f16/f64 states: each on its own run.
    for (what, state, kind, tol) in [
        ("f64 GD", Precision::F64, MethodKind::Gd, 1e-9),
        ("f16 GD", Precision::F16, MethodKind::Gd, 2e-2),
        ("noisy GD", Precision::F32, MethodKind::NoisyGd, 1e-4),
        ("clipped SGD", Precision::F32, MethodKind::ClippedSgd, 1e-4),
    ] {
        let exp = Experiment::builder(obj.clone()).method(kind).state_precision(state).chains(16).steps(60).seed(8).init(Init::Uniform(0.5)).build().unwrap();
        let g = Runner::gpu(&engine).run(&exp).unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        let worst = (0..16).map(|k| rel(&g.raw.x[k * d..(k + 1) * d], &c.raw.x[k * d..(k + 1) * d])).fold(0.0, f64::max);
        println!("{what} d={d}: worst relative distance {worst:e}");
        assert!(worst <= tol, "{what}: final points differ by {worst}");
    }
}

#[test]
fn pgd_escape_times_at_large_d_match_the_cpu_in_law() {
    let Some(engine) = gpu() else { return };
    // The quartic's saddle at 0 in d = 300 with three escape directions; kicks from the ball.
    let eig: Vec<f64> = (0..300).map(|i| if i < 3 { -0.5 - 0.25 * i as f64 } else { 1.0 }).collect();
    let exp = Experiment::builder(build(ObjectiveSpec::Quartic { eigenvalues: eig })).method(MethodKind::Pgd).chains(768).steps(400).seed(21).init(Init::Zero).build().unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    let (a, b) = (first_escape_times(&g), first_escape_times(&c));
    assert!(a.len() > 700 && b.len() > 700, "{} and {} escapes", a.len(), b.len());
    let (stat, p) = ks_two_sample(&a, &b);
    println!("PGD d=300: {} vs {} first escapes, KS D = {stat:.4}, p = {p:.3}", a.len(), b.len());
    assert!(p > 0.01, "escape times differ in law: D = {stat}, p = {p}");
}

#[test]
fn minibatch_sgd_at_large_d_matches_the_cpu_in_law() {
    let Some(engine) = gpu() else { return };
    let obj = build(ObjectiveSpec::PhaseRetrieval { dim: 260, m: 520, data: DataSource::Seed(1) });
    let params = escapade::PgdParams { eta: 0.02, ..obj.default_params() };
    let exp = Experiment::builder(obj)
        .method(MethodKind::Sgd)
        .params(params)
        .configure(|m| m.oracle = escapade::method::Oracle::Minibatch { batch: 8 }).chains(256).steps(40).seed(2).init(Init::Normal(0.2)).build().unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    // The same rows are drawn (the chain's own stream): the values stay close, step by step.
    let f = |r: &escapade::Report| r.raw.states.iter().map(|s| f64::from(s.f)).collect::<Vec<f64>>();
    let (fg, fc) = (f(&g), f(&c));
    let worst = fg.iter().zip(&fc).map(|(a, b)| (a - b).abs() / (1e-3 + b.abs())).fold(0.0, f64::max);
    println!("minibatch SGD phase retrieval d=260: worst relative value difference {worst:e}");
    assert!(worst <= 1e-3, "values differ by {worst}");
    let (stat, p) = ks_two_sample(&fg, &fc);
    assert!(p > 0.05, "final values differ in law: D = {stat}, p = {p}");
}

#[test]
fn cooperative_results_do_not_depend_on_the_dispatch_split_or_the_shards() {
    let Some(engine) = gpu() else { return };
    let eig: Vec<f64> = (0..270).map(|i| if i == 0 { -1.0 } else { 1.0 }).collect();
    let exp = Experiment::builder(build(ObjectiveSpec::Quartic { eigenvalues: eig })).method(MethodKind::Pgd).chains(96).steps(300).seed(5).init(Init::Zero).trace(8, 10).build().unwrap();
    let tuned = |s: GpuSettings| engine.tuned(s).unwrap();
    let whole = Runner::gpu(&tuned(GpuSettings { steps_per_dispatch: Some(300), pending_events: Some(1), ..Default::default() })).run(&exp).unwrap();
    let split = Runner::gpu(&tuned(GpuSettings { steps_per_dispatch: Some(7), max_chains_per_shard: Some(40), ..Default::default() })).run(&exp).unwrap();
    assert!(!whole.raw.events.is_empty());
    assert_eq!(whole.raw.x, split.raw.x);
    assert_eq!(whole.raw.events, split.raw.events);
    assert_eq!(whole.raw.trace, split.raw.trace);
    assert_eq!(whole.raw.states, split.raw.states);
}

#[test]
fn a_forced_cooperative_family_at_small_d_agrees_with_the_per_invocation_kernel() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(common::objective("quartic", 12)).method(MethodKind::Pgd).chains(512).steps(300).seed(7).init(Init::Zero).build().unwrap();
    let per = Runner::gpu(&engine).run(&exp).unwrap();
    let coop = Runner::gpu(&engine.tuned(GpuSettings { family: Some(KernelFamily::Cooperative), ..Default::default() }).unwrap()).run(&exp).unwrap();
    assert_eq!((per.raw.kernel_family.as_str(), coop.raw.kernel_family.as_str()), ("per-invocation", "cooperative"));
    let (a, b) = (first_escape_times(&per), first_escape_times(&coop));
    let (stat, p) = ks_two_sample(&a, &b);
    println!("quartic d=12: per-invocation {} vs cooperative {} escapes, KS D = {stat:.4}, p = {p:.3}", a.len(), b.len());
    assert!(a.len() > 500 && p > 0.01, "{} / {} escapes, p = {p}", a.len(), b.len());
}

#[test]
fn the_per_invocation_family_forced_beyond_256_is_refused_naming_the_way_out() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(common::objective("quartic", 300)).chains(4).steps(2).build().unwrap();
    let forced = engine.tuned(GpuSettings { family: Some(KernelFamily::PerInvocation), ..Default::default() }).unwrap();
    let e = Runner::gpu(&forced).run(&exp).unwrap_err().to_string();
    assert!(e.contains("d = 300") && e.contains("256") && e.contains("--backend cpu"), "{e}");
}

#[test]
fn the_linear_network_at_large_d_follows_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    // n = 100, r = 2, p = 100: d = 400; kappa 0.1 (the regularizer's sums go through the lanes).
    let obj = common::objective("linear-network", 100);
    let d = obj.dim();
    let exp = Experiment::builder(obj.clone()).method(MethodKind::Gd).params(escapade::PgdParams { eta: 0.01, ..obj.default_params() }).chains(8).steps(30).seed(2).init(Init::Uniform(0.5)).build().unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    assert_eq!(g.raw.kernel_family, "cooperative");
    let worst = (0..8).map(|k| rel(&g.raw.x[k * d..(k + 1) * d], &c.raw.x[k * d..(k + 1) * d])).fold(0.0, f64::max);
    println!("linear network d={d}: worst relative distance {worst:e}");
    assert!(worst <= 1e-4, "{worst}");
    assert_close_states(&g, &c, 1e-3);
}

#[test]
fn a_run_beyond_one_binding_is_refused_before_allocation_with_the_numbers() {
    let Some(engine) = gpu() else { return };
    let binding = engine.context().device.limits().max_storage_buffer_binding_size;
    // Phase retrieval's A (m rows of d floats) just over one binding of this device.
    let d = 4096u64;
    let m = binding / (4 * d) + 8;
    let out = std::env::temp_dir().join(format!("escapade-large-dim-{}", std::process::id()));
    let o = common::table::escapade(&["run", "--objective", "phase-retrieval", "--dim", "4096", "--m", &m.to_string(), "--chains", "2", "--steps", "1", "--backend", "gpu", "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the data of phase-retrieval") && err.contains(&binding.to_string()) && err.lines().count() == 1, "{err}");
    assert!(!out.exists(), "the output directory was touched");
}

#[test]
fn the_device_memory_is_reported_and_covers_the_chain_buffers() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(common::objective("quartic", 500)).method(MethodKind::Pgd).chains(300).steps(3).build().unwrap();
    let r = Runner::gpu(&engine).run(&exp).unwrap();
    // x, x~ (f32) and the four work vectors (f32) of every chain at least.
    let floor = 300 * 500 * 4 * (2 + 4);
    assert!(r.raw.device_memory_estimate >= floor && r.raw.device_memory_estimate < 2 * floor, "{} against {floor}", r.raw.device_memory_estimate);
    let cpu = Runner::cpu().run(&exp).unwrap();
    assert_eq!(cpu.raw.device_memory_estimate, 0);
}

#[test]
fn the_streamed_family_follows_the_cpu_twin_and_the_dispatch_split() {
    let Some(engine) = gpu() else { return };
    let streamed = |s: GpuSettings| engine.tuned(GpuSettings { family: Some(KernelFamily::Streamed), ..s }).unwrap();
    // GD on phase retrieval (its one-lane path) and Rosenbrock: final points against the twin.
    let mf = ObjectiveSpec::MatrixFactorization { n: 100, rank: 3, spectrum: None, data: DataSource::Seed(4) };
    for obj in [build(ObjectiveSpec::PhaseRetrieval { dim: 300, m: 40, data: DataSource::Seed(2) }), build(ObjectiveSpec::Rosenbrock { dim: 333 }), build(mf)] {
        let d = obj.dim();
        let eta = match obj.name() {
            "rosenbrock" => 1e-4,
            "matrix-factorization" => 0.02,
            _ => 0.01,
        };
        let exp = Experiment::builder(obj.clone()).method(MethodKind::Gd).params(escapade::PgdParams { eta, ..obj.default_params() }).chains(70).steps(20).seed(3).init(Init::Uniform(0.3)).build().unwrap();
        let g = Runner::gpu(&streamed(GpuSettings::default())).run(&exp).unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        assert_eq!(g.raw.kernel_family, "streamed");
        let worst = (0..70).map(|k| rel(&g.raw.x[k * d..(k + 1) * d], &c.raw.x[k * d..(k + 1) * d])).fold(0.0, f64::max);
        println!("streamed {} d={d}: worst relative distance {worst:e}", obj.name());
        assert!(worst <= 1e-4, "{}: {worst}", obj.name());
    }
    // PGD with kicks and escapes: the dispatch split and shards change nothing; the law is the CPU's.
    let eig: Vec<f64> = (0..300).map(|i| if i < 2 { -1.0 } else { 1.0 }).collect();
    let exp = Experiment::builder(build(ObjectiveSpec::Quartic { eigenvalues: eig })).method(MethodKind::Pgd).chains(600).steps(300).seed(6).init(Init::Zero).build().unwrap();
    let whole = Runner::gpu(&streamed(GpuSettings { steps_per_dispatch: Some(300), ..Default::default() })).run(&exp).unwrap();
    let split = Runner::gpu(&streamed(GpuSettings { steps_per_dispatch: Some(9), max_chains_per_shard: Some(250), ..Default::default() })).run(&exp).unwrap();
    assert_eq!(whole.raw.x, split.raw.x);
    assert_eq!(whole.raw.events, split.raw.events);
    let c = Runner::cpu().run(&exp).unwrap();
    let (a, b) = (first_escape_times(&whole), first_escape_times(&c));
    let (stat, p) = ks_two_sample(&a, &b);
    println!("streamed PGD d=300: {} vs {} first escapes, KS D = {stat:.4}, p = {p:.3}", a.len(), b.len());
    assert!(a.len() > 550 && p > 0.01, "{} / {} escapes, p = {p}", a.len(), b.len());
}

#[test]
fn the_octopus_at_d_300_escapes_its_saddles_as_on_the_cpu() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(common::objective("octopus", 300)).method(MethodKind::Pgd).chains(512).steps(150).seed(11).init(Init::Uniform(1.0)).build().unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    assert_eq!(g.raw.kernel_family, "cooperative");
    let times = |r: &escapade::Report| r.raw.events.iter().map(|e| f64::from(e.escape_steps)).collect::<Vec<f64>>();
    let (a, b) = (times(&g), times(&c));
    let (stat, p) = ks_two_sample(&a, &b);
    let labels = |r: &escapade::Report| r.raw.states.iter().map(|s| s.label).max().unwrap();
    println!("octopus d=300: {} vs {} escapes, KS D = {stat:.4}, p = {p:.3}, deepest label {} vs {}", a.len(), b.len(), labels(&g), labels(&c));
    assert!(a.len() > 1000 && p > 0.01, "{} / {} escapes, p = {p}", a.len(), b.len());
    assert_eq!(labels(&g), labels(&c));
}

#[test]
fn a_custom_file_with_a_cooperative_form_runs_beyond_256_as_the_built_in_quartic() {
    let Some(_engine) = gpu() else { return };
    let dir = std::env::temp_dir().join(format!("escapade-custom-lanes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The default quartic (l = -1, 1, ..., 1) in both forms; the gradient as the built-in's.
    let file = dir.join("q.wgsl");
    std::fs::write(
        &file,
        "fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {\n\
         \x20   var f: real = 0.0;\n    for (var i = 0u; i < D; i++) {\n        let xi = (*x)[i];\n        let l = select(1.0, -1.0, i == 0u);\n\
         \x20       (*g)[i] = l * xi + xi * xi * xi;\n        f = f + 0.5 * l * xi * xi + 0.25 * xi * xi * xi * xi;\n    }\n    return Eval(f, 0u, 1u);\n}\n\
         fn objective_lanes() -> Eval {\n    var f: real = 0.0;\n    for (var i = lo; i < hi; i++) {\n        let xi = x_at(i);\n        let l = select(1.0, -1.0, i == 0u);\n\
         \x20       g_set(i, l * xi + xi * xi * xi);\n        f = f + 0.5 * l * xi * xi + 0.25 * xi * xi * xi * xi;\n    }\n    return Eval(f, 0u, 1u);\n}\n",
    )
    .unwrap();
    let run = |what: &[&str], out: &str| {
        let out = dir.join(out);
        let mut a = vec!["run", "--dim", "300", "--method", "gd", "--chains", "64", "--steps", "50", "--init", "uniform:0.5", "--eta", "0.05", "--certify-eps", "off", "--plots", "none", "--quiet", "--out", out.to_str().unwrap()];
        a.extend_from_slice(what);
        let o = common::table::escapade(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(out.join("chains.csv")).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let f: Vec<f64> = text.lines().skip(1).map(|l| l.split(',').nth(10).unwrap().parse().unwrap()).collect();
        (f, summary["kernel_family"].as_str().unwrap_or("").to_string())
    };
    let (custom, family) = run(&["--objective", "custom", "--wgsl", file.to_str().unwrap(), "--backend", "gpu"], "custom");
    let (builtin, _) = run(&["--objective", "quartic", "--backend", "cpu"], "builtin");
    assert_eq!(family, "cooperative");
    let worst = custom.iter().zip(&builtin).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max);
    println!("custom cooperative quartic d=300 against the built-in on the CPU: worst value difference {worst:e}");
    assert!(custom.len() == 64 && worst <= 1e-5, "{worst}");
    std::fs::remove_dir_all(&dir).ok();
}
