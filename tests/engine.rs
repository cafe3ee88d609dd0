//! Engine guarantees on the GPU path: determinism under dispatch split, sharding and event
//! overflow; ensembles beyond one binding and 2-D dispatch; divergence counted; octopus physics.

mod common;

use common::{gpu, objective};
use escapade::{Experiment, GpuSettings, Init, MethodKind, ObjectiveSpec, PgdParams, Report, Runner};

fn same_results(a: &Report, b: &Report) {
    assert_eq!(a.raw.states.len(), b.raw.states.len());
    if let Some(i) = (0..a.raw.states.len()).find(|&i| a.raw.states[i] != b.raw.states[i]) {
        panic!("chain {i} differs: {:?} vs {:?}", a.raw.states[i], b.raw.states[i]);
    }
    assert!(a.raw.x == b.raw.x, "final points differ");
    assert!(a.raw.events == b.raw.events, "events differ");
}

/// GPU against CPU: integer bookkeeping exact; floats to 1e-5 relative, since the device's sqrt,
/// log and cos may differ from the host's by a few ulps.
fn close_results(g: &Report, c: &Report) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
    common::assert_close_states(g, c, 1e-5);
    assert!(g.raw.x.iter().zip(&c.raw.x).all(|(a, b)| close(*a, *b)), "final points differ");
    assert_eq!(g.raw.events.len(), c.raw.events.len());
}

#[test]
fn results_do_not_depend_on_dispatch_split_sharding_or_event_room() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(objective("octopus", 5))
        .method(MethodKind::Pgd)
        .chains(3000)
        .steps(300)
        .seed(77)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap();
    let tuned = |settings| engine.tuned(settings).unwrap();
    // One dispatch for the whole budget, room for one escape per chain per dispatch: chains pause
    // at their second escape and the dispatch is run again, several times.
    let whole = tuned(GpuSettings { steps_per_dispatch: Some(300), pending_events: Some(1), ..Default::default() });
    let whole = Runner::gpu(&whole).run(&exp).unwrap();
    let split = tuned(GpuSettings { steps_per_dispatch: Some(7), max_chains_per_shard: Some(1000), ..Default::default() });
    let split = Runner::gpu(&split).run(&exp).unwrap();
    assert_eq!(split.raw.shards, 3);
    assert!(whole.raw.overflow_recoveries > 0, "no chain ever paused for lack of event room");
    assert!(whole.counts.escape_events > 3000, "too few events to mean anything: {}", whole.counts.escape_events);
    same_results(&whole, &split);
    // Steps per dispatch paced by measured time: the same results again.
    let paced = Runner::gpu(&engine).run(&exp).unwrap();
    same_results(&whole, &paced);
}

/// Dispatches in flight (the next submitted before the last is read back) against one at a
/// time: the same states, points, events and trace bit for bit, with chains pausing for event
/// room while a later dispatch is already in flight, chains finishing early, and several shards.
/// The report says how much of the stepping was host work.
#[test]
fn pipelined_dispatches_give_the_results_of_one_at_a_time() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(objective("octopus", 5))
        .method(MethodKind::Pgd)
        .chains(3000)
        .steps(300)
        .seed(78)
        .init(Init::Uniform(1.0))
        .trace(40, 3)
        .build()
        .unwrap();
    let run = |in_flight, k| {
        let settings = GpuSettings { steps_per_dispatch: Some(k), pending_events: Some(1), max_chains_per_shard: Some(1200), in_flight: Some(in_flight), family: None };
        Runner::gpu(&engine.tuned(settings).unwrap()).run(&exp).unwrap()
    };
    let serial = run(1, 300);
    assert!(serial.raw.overflow_recoveries > 0 && serial.raw.shards == 3);
    for (in_flight, k) in [(2, 60), (3, 100), (2, 300), (4, 1), (1, 60)] {
        let piped = run(in_flight, k);
        if k == 60 {
            assert!(piped.raw.overflow_recoveries > 0, "no chain paused while the next dispatch was in flight");
        }
        same_results(&serial, &piped);
        assert!(serial.raw.trace == piped.raw.trace, "{in_flight} in flight, K = {k}: traces differ");
    }
    let f = serial.summary_json()["host_fraction"].as_f64().expect("a GPU run reports its host fraction");
    assert!((0.0..=1.0).contains(&f), "{f}");
    assert!(Runner::cpu().run(&exp).unwrap().summary_json()["host_fraction"].is_null());
    assert!(engine.tuned(GpuSettings { in_flight: Some(0), ..Default::default() }).is_err());
}

/// Software adapters cut loops short beyond 65535 iterations: a fixed K far beyond that gets
/// cut dispatches, with the next dispatch already in flight running on from the broken state (and
/// tracing it). The shard's rerun must still give the results, and the trace, of a run that was
/// never cut. On a hardware GPU nothing is cut and the test compares two uncut runs.
#[test]
fn a_cut_dispatch_with_another_in_flight_leaves_no_trace() {
    let Some(engine) = gpu() else { return };
    let exp = Experiment::builder(objective("toy-saddle", 2))
        .method(MethodKind::Gd)
        .chains(256)
        .steps(140_000)
        .seed(5)
        .init(Init::Normal(1.0))
        .trace(50, 997)
        .build()
        .unwrap();
    let run = |in_flight, k| {
        let settings = GpuSettings { steps_per_dispatch: Some(k), in_flight: Some(in_flight), ..Default::default() };
        Runner::gpu(&engine.tuned(settings).unwrap()).run(&exp).unwrap()
    };
    // d = 2 unrolls the step's own loops: the fused-step loop alone meets the limit.
    let uncut = run(1, 40_000);
    let cut = run(2, 100_000);
    if engine.context().adapter.as_ref().is_some_and(|a| a.is_software()) {
        assert!(cut.raw.loop_limit_retries > 0, "no dispatch was cut");
        assert_eq!(uncut.raw.loop_limit_retries, 0);
    }
    same_results(&uncut, &cut);
    assert!(uncut.raw.trace == cut.raw.trace, "traces differ");
}

#[test]
fn two_dimensional_dispatch_covers_every_chain() {
    let Some(engine) = gpu() else { return };
    let engine = engine.with_max_workgroups_per_dimension(4);
    let exp = Experiment::builder(objective("quartic", 3))
        .method(MethodKind::Gd)
        .chains(1000) // 16 workgroups of 64: a 4 x 4 grid
        .steps(50)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    assert!(g.raw.states.iter().all(|s| s.t == 50), "some chains were not stepped");
    close_results(&g, &c);
}

#[test]
fn ensembles_larger_than_one_binding_run_in_shards() {
    let Some(engine) = gpu() else { return };
    // 3.2 M chains x 48-byte records = 154 MB: more than lavapipe's 128 MiB per binding.
    let chains = 3_200_000;
    let exp = Experiment::builder(objective("toy-saddle", 2))
        .method(MethodKind::Gd)
        .chains(chains)
        .steps(3)
        .seed(5)
        .init(Init::Uniform(1.0))
        .build()
        .unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let limit = engine.context().device.limits().max_storage_buffer_binding_size;
    if u64::from(chains) * 48 > limit {
        assert!(g.raw.shards >= 2, "expected sharding, got {} shard(s)", g.raw.shards);
    }
    let c = Runner::cpu().run(&exp).unwrap();
    close_results(&g, &c);
}

#[test]
fn divergent_chains_are_counted_on_both_backends() {
    let Some(engine) = gpu() else { return };
    let q = objective("quartic", 4);
    let params = PgdParams { eta: 1.5, ..q.default_params() };
    let exp = Experiment::builder(q).method(MethodKind::Gd).params(params).chains(512).steps(200).init(Init::Uniform(3.0)).build().unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    let c = Runner::cpu().run(&exp).unwrap();
    assert!(g.counts.diverged_nonfinite > 100, "diverged: {:?}", g.counts);
    assert_eq!(g.counts, c.counts);
    // Leaving the octopus' tube is reported as out of domain, never given a value.
    let o = objective("octopus", 3);
    let params = PgdParams { radius: 30.0, ..o.default_params() };
    let exp = Experiment::builder(o).params(params).chains(256).steps(50).init(Init::Zero).build().unwrap();
    let g = Runner::gpu(&engine).run(&exp).unwrap();
    assert!(g.counts.diverged_out_of_domain > 0, "{:?}", g.counts);
    assert_eq!(g.counts, Runner::cpu().run(&exp).unwrap().counts);
    // Started where f overflows, a chain never has a value: chains.csv says NaN, never 0.0
    // (a minimum's value); a chain that diverged later keeps its last finite value.
    let q = objective("quartic", 3);
    for init in [Init::Uniform(1e20), Init::Uniform(3.0)] {
        let params = PgdParams { eta: 10.0, ..q.default_params() };
        let exp = Experiment::builder(q.clone()).method(MethodKind::Gd).params(params).chains(8).steps(50).init(init.clone()).build().unwrap();
        for r in [Runner::gpu(&engine).run(&exp).unwrap(), Runner::cpu().run(&exp).unwrap()] {
            for rec in r.chain_records() {
                assert_eq!(rec.outcome, escapade::outcome::Final::Diverged, "{init:?}");
                let at_start = matches!(init, Init::Uniform(h) if h > 1.0e10);
                assert_eq!((rec.f.is_nan(), rec.gnorm.is_nan(), rec.label.is_none()), (at_start, at_start, at_start), "{init:?}: {rec:?}");
                assert!(at_start || rec.f.is_finite());
            }
        }
    }
}

/// Steps until a chain entered the global minimum's basin (label d + 1), or the budget.
fn steps_to_global_basin(r: &Report, d: u32) -> Vec<u32> {
    r.raw.states.iter().map(|s| if s.label == d + 1 { s.label_since } else { r.experiment.steps }).collect()
}

#[test]
fn octopus_pgd_escapes_saddles_in_order_and_gd_is_much_slower() {
    let Some(engine) = gpu() else { return };
    let d = 5u32;
    let run = |method, init, steps| {
        Runner::gpu(&engine).run(&Experiment::builder(objective("octopus", d as usize))
            .method(method)
            .chains(1024)
            .steps(steps)
            .seed(3)
            .init(init)
            .build()
            .unwrap())
            .unwrap()
    };
    // Started at the first saddle, PGD must escape saddles 1, 2, ..., d, in that order.
    let pgd0 = run(MethodKind::Pgd, Init::Zero, 2000);
    let mut labels = vec![Vec::new(); 1024];
    for e in &pgd0.raw.events {
        labels[e.chain as usize].push(e.label);
    }
    let in_order = labels.iter().filter(|l| **l == (1..=d).collect::<Vec<_>>()).count();
    assert_eq!(in_order, 1024, "chains escaping saddles 1..{d} in order: {in_order}");
    let at_min = pgd0.final_labels.get(&(d + 1)).copied().unwrap_or(0);
    assert!(at_min >= 1014, "only {at_min} of 1024 chains reached the global basin");

    // Du et al.'s start, x0 ~ Unif[-1, 1]^d: GD needs far more steps in total than PGD.
    let budget = 8000;
    let pgd = run(MethodKind::Pgd, Init::Uniform(1.0), budget);
    let gd = run(MethodKind::Gd, Init::Uniform(1.0), budget);
    let total = |r: &Report| steps_to_global_basin(r, d).iter().map(|&t| u64::from(t)).sum::<u64>();
    let (tp, tg) = (total(&pgd), total(&gd));
    println!(
        "octopus d=5, 1024 chains: steps to the global basin summed over chains: PGD {tp}, GD {tg} (GD censored at {budget}); ratio {:.1}",
        tg as f64 / tp as f64
    );
    assert!(pgd.final_labels.get(&(d + 1)).copied().unwrap_or(0) >= 1014);
    assert!(tg >= 3 * tp, "GD {tg} vs PGD {tp}");
    // GD's plateaus grow from saddle to saddle while PGD's stay flat.
    let med = |r: &Report, l: u32| r.escape_time_by_label.get(&l).and_then(|s| s.median).unwrap_or(f64::NAN);
    assert!(med(&gd, 4) > 2.0 * med(&gd, 3), "GD: saddle 3 {} saddle 4 {}", med(&gd, 3), med(&gd, 4));
    assert!(med(&pgd, 4) < 1.5 * med(&pgd, 3), "PGD: saddle 3 {} saddle 4 {}", med(&pgd, 3), med(&pgd, 4));
    let _ = ObjectiveSpec::NAMES;
}

/// The CPU backend evaluates phase retrieval for packs of 16 chains at once: a chain's results do
/// not depend on which pack it falls in (a full one, a short last one) or the ensemble's size.
#[test]
fn packed_cpu_evaluation_does_not_depend_on_the_ensemble() {
    let exp = |chains| {
        Experiment::builder(ObjectiveSpec::from_name("phase-retrieval", 6).unwrap().build().unwrap())
            .method(MethodKind::Pgd)
            .chains(chains)
            .steps(300)
            .seed(5)
            .init(Init::Normal(1e-4))
            .build()
            .unwrap()
    };
    let (small, large) = (Runner::cpu().run(&exp(13)).unwrap(), Runner::cpu().run(&exp(29)).unwrap());
    assert!(small.raw.states[..] == large.raw.states[..13], "chain records differ");
    assert!(small.raw.x[..] == large.raw.x[..13 * 6], "final points differ");
    let early: Vec<_> = large.raw.events.iter().filter(|e| e.chain < 13).copied().collect();
    assert!(small.raw.events == early, "events differ");
    assert!(large.raw.states.iter().any(|s| s.escapes > 0), "no chain escaped: the test would not see a difference");
}
