//! The GPU twin of the self-bounding monitor (shaders/monitor.wgsl) against the CPU backend
//! (`escapade::monitor`) on the same seeds: per-chain monitor fields and the run's tally.
//!
//! Exact where the two backends step the same bits: gradient descent (no transcendental in a
//! step: kicks and noise draw through log, sin, cos, whose last bits differ between devices) on
//! the toy saddle, over budgets that keep |dx|^2 above the subnormals (GPU drivers may flush
//! them to zero; the CPU keeps them). Elsewhere the trajectories themselves differ in their last
//! bits (the quartic on lavapipe from its first steps), and a check whose ratio lies that close
//! to 1 may go either way: there the counts are compared to a stated tolerance, and the GPU is
//! held exactly to itself however its work is split.

mod common;

use common::{gpu, objective};
use escapade::advanced::ChainState;
use escapade::method::{Rho, SelfBounding, StepRule};
use escapade::monitor::Safeguard;
use escapade::{CheckpointSpec, Engine, Error, Experiment, GpuEngine, GpuSettings, Init, MethodKind, ObjectiveSpec, Report, Runner};
use std::sync::Arc;

/// The monitor's integer fields of a chain.
fn counts(s: &ChainState) -> [u32; 9] {
    [s.n_checked, s.n_desc, s.v_desc, s.v_curv, s.v_sub, s.v_t, s.v_kind, s.halvings, s.m_kind]
}

/// The monitor's float fields of a chain (and the step size the safeguard halves), as bits.
fn floats(s: &ChainState) -> [u32; 9] {
    [s.f_anchor, s.ell, s.m_f, s.m_gdx, s.m_dx2, s.v_f, s.v_ratio, s.worst, s.eta].map(f32::to_bits)
}

/// Every chain's monitor fields and the tally agree bit for bit.
fn same_monitor(g: &Report, c: &Report) {
    assert_eq!(g.raw.states.len(), c.raw.states.len());
    for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
        assert_eq!((counts(a), floats(a)), (counts(b), floats(b)), "chain {i}: {a:?}\nvs {b:?}");
    }
    same_tally(g, c);
}

/// The two runs' tallies agree bit for bit.
fn same_tally(g: &Report, c: &Report) {
    let (a, b) = (&g.raw.monitor, &c.raw.monitor);
    assert_eq!(a.violations, b.violations, "violations");
    assert_eq!(a.bins.map(f32::to_bits), b.bins.map(f32::to_bits), "bins: {:?} vs {:?}", a.bins, b.bins);
}

/// The tally is what the chains' records say: its violations their sum.
fn tally_matches_states(r: &Report) {
    let sum: u64 = r.raw.states.iter().map(escapade::monitor::violations).sum();
    assert_eq!(r.raw.monitor.violations, sum);
}

fn toy() -> Arc<dyn escapade::Objective> {
    objective("toy-saddle", 2)
}

/// Gradient descent on the toy saddle, fixed step, its declared rho (no violation expected).
fn toy_gd(steps: u32) -> Experiment {
    Experiment::builder(toy()).method(MethodKind::Gd).chains(1024).steps(steps).seed(5).init(Init::Uniform(1.5)).build().unwrap()
}

/// The self-bounding rule with rho1 a quarter of the declared form (the toy saddle's
/// 2 + 6 sqrt(F + 1/4), the quartic's max|l| + 3 L- + 6 sqrt(F - f*)), rho2 as declared, so
/// that steps violate it.
fn undersized(obj: Arc<dyn escapade::Objective>, kind: MethodKind, safeguard: Safeguard, steps: u32) -> Experiment {
    let (r1, r2) = obj.rho().unwrap();
    let small = Rho { a: r1.a / 4.0, b: r1.b / 4.0, ..r1 };
    Experiment::builder(obj)
        .method(kind)
        .configure(|m| {
            m.step_rule = StepRule::SelfBounding(SelfBounding { eps: 0.01, rho1: Some(small), rho2: Some(r2), ..Default::default() });
            m.safeguard = safeguard;
        })
        .chains(1024)
        .steps(steps)
        .seed(17)
        .init(Init::Uniform(1.5))
        .build()
        .unwrap()
}

fn quartic() -> Arc<dyn escapade::Objective> {
    ObjectiveSpec::Quartic { eigenvalues: vec![-1.0, 1.0, 0.5, 2.0] }.build().unwrap()
}

fn both(engine: &GpuEngine, exp: &Experiment) -> (Report, Report) {
    let g = Runner::gpu(engine).run(exp).unwrap();
    let c = Runner::cpu().run(exp).unwrap();
    tally_matches_states(&g);
    tally_matches_states(&c);
    (g, c)
}

#[test]
fn toy_saddle_under_its_declared_rho_checks_alike_and_violates_nothing() {
    let Some(engine) = gpu() else { return };
    let (g, c) = both(&engine, &toy_gd(150));
    same_monitor(&g, &c);
    assert_eq!(g.raw.monitor.violations, 0);
    assert!(g.raw.states.iter().all(|s| s.n_checked > 100 && s.n_desc == s.n_checked && s.worst > 0.0 && s.worst <= 1.0));
    assert!(g.raw.monitor.bins.iter().filter(|&&b| b > 0.0).count() >= 3, "{:?}", g.raw.monitor.bins);
}

#[test]
fn toy_saddle_under_an_undersized_rho1_violates_alike_with_and_without_the_safeguard() {
    let Some(engine) = gpu() else { return };
    let mut halvings = Vec::new();
    for sg in [Safeguard::Off, Safeguard::Halve] {
        let (g, c) = both(&engine, &undersized(toy(), MethodKind::Gd, sg, 150));
        same_monitor(&g, &c);
        assert!(g.raw.monitor.violations > 100, "{sg:?}: {:?}", g.raw.monitor);
        halvings.push(g.raw.states.iter().map(|s| u64::from(s.halvings)).sum::<u64>());
    }
    assert_eq!(halvings[0], 0);
    assert!(halvings[1] > 0);
}

/// Relative difference.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-30)
}

/// Where trajectories differ in their last bits: per chain, the anchor and rho1 there to 1e-5
/// relative (the self-bounding rule's F = f(x0) + f_thres takes a log); at most 1% of the
/// chains with other counts of checks or violations, or a worst ratio off by more than 1e-2
/// relative (a secant's q = f1 - f0 - g.dx cancels, so its curvature carries the trajectories'
/// difference magnified, and a check near ratio 1 may go either way); the run's violations to
/// 1% (and 16), the bins to 5e-2 relative (the lowest bins hold the small steps near a
/// minimum, whose secants are mostly rounding).
fn close_monitor(g: &Report, c: &Report) {
    let mut off = 0;
    for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
        assert!(rel(f64::from(a.f_anchor), f64::from(b.f_anchor)) < 1e-5 && rel(f64::from(a.ell), f64::from(b.ell)) < 1e-5, "chain {i}: {a:?}\nvs {b:?}");
        let n = |s: &ChainState| [s.n_checked, s.n_desc, s.v_desc, s.v_curv, s.v_sub];
        off += usize::from(n(a) != n(b) || rel(f64::from(a.worst), f64::from(b.worst)) > 1e-2);
    }
    assert!(off * 100 <= g.raw.states.len(), "{off} chains differ");
    let (vg, vc) = (g.raw.monitor.violations as f64, c.raw.monitor.violations as f64);
    assert!((vg - vc).abs() <= (0.01 * vc).max(16.0), "violations {vg} vs {vc}");
    for (k, (a, b)) in g.raw.monitor.bins.iter().zip(&c.raw.monitor.bins).enumerate() {
        assert!(rel(f64::from(*a), f64::from(*b)) < 5e-2, "bin {k}: {a} vs {b}");
    }
}

#[test]
fn quartic_under_its_declared_rho_checks_alike_and_violates_nothing() {
    let Some(engine) = gpu() else { return };
    let declared = Experiment::builder(quartic()).method(MethodKind::Gd).chains(1024).steps(100).seed(8).init(Init::Uniform(1.0)).build().unwrap();
    let (g, c) = both(&engine, &declared);
    // The quartic's gradient differs from the CPU's in its last bits on lavapipe (the points
    // agree): the counts exactly, the rest to the tolerance.
    for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
        assert_eq!(counts(a), counts(b), "chain {i}");
    }
    close_monitor(&g, &c);
    assert_eq!(g.raw.monitor.violations, 0);
}

#[test]
fn quartic_under_an_undersized_rho1_violates_alike_to_a_tolerance() {
    let Some(engine) = gpu() else { return };
    // Without the safeguard: with it, a check that goes the other way halves one backend's step
    // and not the other's, and the chain's trajectories part (the toy saddle above checks it
    // exactly).
    let (g, c) = both(&engine, &undersized(quartic(), MethodKind::Gd, Safeguard::Off, 100));
    close_monitor(&g, &c);
    assert!(c.raw.monitor.violations > 100, "{:?}", c.raw.monitor);
}

#[test]
fn the_scalar_and_cooperative_families_agree_to_a_tolerance() {
    let Some(engine) = gpu() else { return };
    let exp = undersized(quartic(), MethodKind::Gd, Safeguard::Off, 100);
    let c = Runner::cpu().run(&exp).unwrap();
    for family in [escapade::KernelFamily::Cooperative, escapade::KernelFamily::Streamed] {
        let e = engine.tuned(GpuSettings { family: Some(family), ..Default::default() }).unwrap();
        let g = Runner::gpu(&e).run(&exp).unwrap();
        tally_matches_states(&g);
        close_monitor(&g, &c);
    }
}

/// One dispatch against many: 13 steps per dispatch, one in flight, one escape per chain per
/// dispatch (chains pause and rerun), shards of 300 chains.
fn split(engine: &GpuEngine) -> GpuEngine {
    engine.tuned(GpuSettings { steps_per_dispatch: Some(13), in_flight: Some(1), pending_events: Some(1), max_chains_per_shard: Some(300), ..Default::default() }).unwrap()
}

#[test]
fn a_split_run_has_the_tally_of_one_dispatch() {
    let Some(engine) = gpu() else { return };
    // PGD: kicks, escapes (pauses with one event per dispatch) and the safeguard.
    let exp = undersized(toy(), MethodKind::Pgd, Safeguard::Halve, 400);
    let whole = Runner::gpu(&engine.tuned(GpuSettings { steps_per_dispatch: Some(400), ..Default::default() }).unwrap()).run(&exp).unwrap();
    let parts = Runner::gpu(&split(&engine)).run(&exp).unwrap();
    assert!(parts.raw.dispatches > 30 && parts.raw.overflow_recoveries > 0, "{} dispatches, {} pauses", parts.raw.dispatches, parts.raw.overflow_recoveries);
    assert!(whole.raw.states == parts.raw.states, "states differ");
    same_tally(&whole, &parts);
    assert!(whole.raw.monitor.violations > 0);
    tally_matches_states(&whole);
}

#[test]
fn an_interrupted_gpu_run_resumes_to_the_same_tally() {
    let Some(engine) = gpu() else { return };
    let exp = undersized(toy(), MethodKind::Pgd, Safeguard::Off, 400);
    let engine = split(&engine);
    let whole = Runner::gpu(&engine).run(&exp).unwrap();
    let dir = std::env::temp_dir().join(format!("escapade-monitor-gpu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = |interrupt_after| CheckpointSpec { interrupt_after, ..CheckpointSpec::new(&dir, std::time::Duration::ZERO) };
    let mut resume = false;
    for n in [3, 7] {
        match Runner::new(Engine::Gpu(&engine)).checkpoint(spec(Some(n)), resume).run(&exp) {
            Err(Error::Interrupted(_)) => {}
            other => panic!("expected an interruption, got {:?}", other.map(|r| r.counts)),
        }
        resume = true;
    }
    let resumed = Runner::new(Engine::Gpu(&engine)).checkpoint(spec(None), true).run(&exp).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(whole.raw.states == resumed.raw.states, "states differ");
    same_tally(&whole, &resumed);
}

#[test]
fn a_violation_stops_a_gpu_run_at_its_read_back() {
    let Some(engine) = gpu() else { return };
    let mut exp = undersized(toy(), MethodKind::Gd, Safeguard::Off, 400);
    exp.stop_on_violation = true;
    let g = Runner::gpu(&split(&engine)).run(&exp).unwrap();
    let why = g.raw.stopped.as_deref().expect("the run did not stop");
    assert!(why == "the read-back after step 13 of chains 0..300, the first after a violation; chains 300..1024 not started", "{why}");
    assert_eq!(g.raw.states.len(), 1024);
    assert!(g.raw.states[300..].iter().all(|s| s.t == 0 && s.n_checked == 0));
    tally_matches_states(&g);
    assert!(g.raw.monitor.violations > 0);
}

#[test]
fn the_gpu_report_has_the_monitor_block() {
    let Some(engine) = gpu() else { return };
    let g = Runner::gpu(&engine).run(&undersized(toy(), MethodKind::Gd, Safeguard::Off, 50)).unwrap();
    let block = g.monitor().expect("no monitor block");
    assert!(g.check_notes.iter().all(|n| !n.contains("monitor")), "{:?}", g.check_notes);
    let _ = block;
}


/// The monitor watches and changes nothing on the device either: with it off, the kernel
/// (composed without it) steps every chain to the same bits, events and points included.
#[test]
fn switching_the_monitor_off_leaves_the_chains_as_they_were() {
    let Some(engine) = gpu() else { return };
    for (name, d) in [("toy-saddle", 2), ("quartic", 8)] {
        let exp = |on| Experiment::builder(objective(name, d)).method(MethodKind::Pgd).chains(512).steps(2000).seed(3).init(Init::Uniform(0.01)).monitor(on).build().unwrap();
        let (on, off) = (Runner::gpu(&engine).run(&exp(true)).unwrap(), Runner::gpu(&engine).run(&exp(false)).unwrap());
        assert!(on.raw.x == off.raw.x, "{name}: points differ");
        assert!(on.raw.events == off.raw.events, "{name}: events differ");
        assert!(!on.raw.events.is_empty(), "{name}: no escapes to compare");
        for (a, b) in on.raw.states.iter().zip(&off.raw.states) {
            assert_eq!((a.t, a.status, a.f.to_bits(), a.label, a.eta.to_bits()), (b.t, b.status, b.f.to_bits(), b.label, b.eta.to_bits()), "{name}");
        }
        assert!(on.raw.states.iter().all(|s| s.n_checked > 0) && off.raw.states.iter().all(|s| s.n_checked == 0), "{name}");
    }
}
