//! Self-bounding checks and second-order certification.

mod common;

use common::gpu;
use escapade::check::envelope::{descent_points, samples, verdict};
use escapade::check::hessian::{Products, spectra_cpu};
use escapade::experiment::CheckSpec;
use escapade::objective::{DataSource, MatrixFactorization};
use escapade::{Runner, Experiment, Init, MethodKind, Objective, ObjectiveSpec};
use std::sync::Arc;

fn obj(s: ObjectiveSpec) -> Arc<dyn Objective> {
    s.build().unwrap()
}

fn check(o: &dyn Objective) -> escapade::check::envelope::Verdict {
    let pts = descent_points(o, 6, 200, 1, None).unwrap();
    let s = samples(o, &pts, 2, None).unwrap();
    verdict(&s, o.f_min(), o.rho().as_ref().map(|r| &r.0))
}

#[test]
fn checker_verdicts_match_the_theory() {
    let cases = [
        ("phase retrieval", obj(ObjectiveSpec::PhaseRetrieval { dim: 4, m: 40, data: DataSource::Seed(0) }), true),
        ("quartic", obj(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 2.0] }), true),
        ("toy saddle", obj(ObjectiveSpec::ToySaddle), true),
        ("degenerate quartic", obj(ObjectiveSpec::DegenerateQuartic), false),
        ("linear network kappa = 0", obj(ObjectiveSpec::LinearNetwork { n: 2, rank: 1, p: 2, kappa: 0.0, depth: 2, data: DataSource::Seed(1) }), false),
        ("linear network kappa = 0.5", obj(ObjectiveSpec::LinearNetwork { n: 3, rank: 2, p: 3, kappa: 0.5, depth: 2, data: DataSource::Seed(1) }), true),
        ("matrix factorization", obj(ObjectiveSpec::MatrixFactorization { n: 3, rank: 1, spectrum: None, data: DataSource::Seed(2) }), true),
    ];
    for (name, o, expected) in cases {
        let v = check(o.as_ref());
        println!(
            "{name}: self-bounding = {} (level F0 = {:.3e}; max ||Hess|| on f <= F0 by start scale: {:?}); fitted {:?}; declared worst ratio {:?}",
            v.self_bounding, v.level, v.growth, v.fitted, v.declared_worst_ratio
        );
        assert_eq!(v.self_bounding, expected, "{name}");
        if expected {
            assert!(v.fitted.is_some());
            if let Some(r) = v.declared_worst_ratio {
                assert!(r <= 1.0 + 1e-6, "{name}: the declared rho1 fails at some sample ({r})");
            }
        } else {
            assert!(!v.evidence.is_empty());
            // Each piece of evidence is another point.
            for (i, a) in v.evidence.iter().enumerate() {
                for b in &v.evidence[..i] {
                    let dist: f64 = a.x.iter().zip(&b.x).map(|(p, q)| (p - q) * (p - q)).sum::<f64>().sqrt();
                    assert!(dist > 1e-6 * a.norm.max(b.norm).max(1.0), "{name}: the same evidence point twice: {:?}", a.x);
                }
            }
        }
    }
}

#[test]
fn spectra_match_exact_values_on_the_gpu_and_cpu() {
    let q = obj(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 2.0, 0.5] });
    let mf = Arc::new(MatrixFactorization::generate(3, 2, Some(vec![2.0, 1.0, 0.5]), 1).unwrap());
    let pts_q = [0.2, -0.3, 0.7, 0.0, 0.0, 0.0];
    let exact_q: Vec<(f64, f64)> = pts_q
        .chunks(3)
        .map(|x| {
            let h: Vec<f64> = [-1.0, 2.0, 0.5].iter().zip(x).map(|(l, v)| l + 3.0 * v * v).collect();
            (h.iter().cloned().fold(f64::MAX, f64::min), h.iter().cloned().fold(f64::MIN, f64::max))
        })
        .collect();
    // MF at U = 0: eigenvalues -2 lambda_k(M), each with multiplicity r.
    let exact_mf = [(-4.0, -1.0)];
    // (objective, points, exact (lambda_min, lambda_max) per point)
    type Case = (Arc<dyn Objective>, Vec<f64>, Vec<(f64, f64)>);
    let cases: [Case; 3] = [
        (q.clone(), pts_q.to_vec(), exact_q),
        (mf.clone(), vec![0.0; 6], exact_mf.to_vec()),
        (obj(ObjectiveSpec::ToySaddle), vec![0.0, 0.0, 0.1, 0.9], vec![(-1.0, 1.0), (1.0f64.min(3.0 * 0.81 - 1.0), 1.43)]),
    ];
    let engine = gpu();
    for (o, pts, exact) in cases {
        let cpu = spectra_cpu(o.as_ref(), &pts, 3).unwrap();
        for (s, (lo, hi)) in cpu.iter().zip(&exact) {
            assert!((s.lambda_min - lo).abs() < 1e-3 && (s.lambda_max - hi).abs() < 1e-3, "{} cpu {s:?} vs ({lo}, {hi})", o.name());
        }
        if let Some(e) = &engine {
            let hvp = escapade::advanced::GpuHvp::new(e.context(), o.as_ref()).unwrap();
            let g = hvp.spectra(&pts, 3).unwrap();
            for (s, (lo, hi)) in g.iter().zip(&exact) {
                println!("{} on the GPU: lambda_min {} (exact {lo}), lambda_max {} (exact {hi})", o.name(), s.lambda_min, s.lambda_max);
                assert!((s.lambda_min - lo).abs() < 1e-3 && (s.lambda_max - hi).abs() < 1e-3, "{} gpu {s:?} vs ({lo}, {hi})", o.name());
            }
        }
    }
}

#[test]
fn certified_toy_chains_are_exactly_those_at_the_minima() {
    let toy = obj(ObjectiveSpec::ToySaddle);
    // GD started on the axis y = 0 converges to the saddle; started off it, to a minimum.
    let run = |init| {
        Runner::cpu().run(&Experiment::builder(toy.clone())
            .method(MethodKind::Gd)
            .chains(512)
            .steps(2000)
            .init(init)
            .checks(CheckSpec { certify_eps: Some(1e-4), ..Default::default() })
            .build()
            .unwrap())
            .unwrap()
    };
    for (init, at_minima) in [(Init::Point(vec![0.7, 0.0]), false), (Init::Uniform(1.0), true)] {
        let r = run(init);
        let c = &r.judgement.certification;
        for (i, sosp) in c.per_chain_sosp.iter().enumerate() {
            let y = r.raw.x[2 * i + 1];
            let at_min = (y.abs() - 1.0).abs() < 1e-3;
            assert_eq!(*sosp, at_min, "chain {i} at y = {y}: sosp {sosp}");
            assert_eq!(at_min, at_minima, "chain {i} at y = {y}");
        }
        println!("toy saddle GD: {} of {} final points certified (lambda_min median {:?})", c.sosp, c.checked, c.lambda_min.median);
        assert_eq!(c.sosp, if at_minima { 512 } else { 0 });
    }
}

#[test]
fn runs_report_self_bounding_checks() {
    let q = obj(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 0.5, 2.0] });
    let r = Runner::cpu().run(&Experiment::builder(q)
        .method(MethodKind::Pgd)
        .chains(256)
        .steps(500)
        .init(Init::Uniform(3.0))
        .trace(16, 25)
        .build()
        .unwrap())
        .unwrap();
    let sb = r.self_bounding.as_ref().unwrap();
    println!("quartic run: {} Hessian checks, {} violations, worst ratio {:.4}; {} Lipschitz checks, worst {:.4}", sb.hessian.checks, sb.hessian.violations, sb.hessian.worst_ratio, sb.lipschitz.checks, sb.lipschitz.worst_ratio);
    assert!(sb.hessian.checks >= 16 * 20);
    assert_eq!(sb.hessian.violations, 0);
    assert_eq!(sb.lipschitz.violations, 0);
    assert!(sb.hessian.worst_ratio > 0.1, "the check measured nothing");
    // A declared rho1 that is too small is caught, with where it happened.
    let q = obj(ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 0.5, 2.0] });
    let bad = escapade::method::Rho { a: 1.0, b: 0.5, p: 0.5, fmin: -0.25 };
    let r = Runner::cpu().run(&Experiment::builder(q)
        .method(MethodKind::Pgd)
        .configure(|m| {
            m.step_rule = escapade::method::StepRule::SelfBounding(escapade::method::SelfBounding {
                rho1: Some(bad),
                rho2: Some(bad),
                eps: 0.1,
                ..Default::default()
            })
        })
        .chains(64)
        .steps(200)
        .init(Init::Uniform(3.0))
        .trace(8, 20)
        .build()
        .unwrap())
        .unwrap();
    let sb = r.self_bounding.as_ref().unwrap();
    assert!(sb.hessian.violations > 0 && sb.hessian.worst_ratio > 1.0);
    assert!(sb.hessian.worst.is_some());
}

#[test]
fn check_command_gives_a_verdict_with_a_picture() {
    let dir = std::env::temp_dir().join(format!("escapade-check-{}", std::process::id()));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
    };
    let out = run(&["check", "--objective", "degenerate-quartic", "--out", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("NOT SELF-BOUNDING") && text.contains("evidence"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("check.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"]["self_bounding"], false);
    let svg = std::fs::read_to_string(dir.join("plots/envelope.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("envelope rho1_hat(F)"));
    let out = run(&["check", "--objective", "quartic", "--dim", "3", "--out", dir.to_str().unwrap(), "--plots", "none"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verdict: SELF-BOUNDING") && text.contains("holds at every sample"), "{text}");
    let out = run(&["check", "--objective", "quartic", "--starts", "0"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}
