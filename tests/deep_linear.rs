//! The deep linear network (`--depth L >= 3`) on the GPU against its CPU twin, in both kernel
//! families: per invocation (d <= 256) with the integer bookkeeping (labels: the staircase)
//! exact and positions to f32 rounding; cooperative and streamed (d > 256) to a stated tolerance
//! (the lanes sum the regulariser's norms in another order), and independent of the dispatch
//! split.

mod common;

use common::{assert_close_states, gpu};
use escapade::objective::DataSource;
use escapade::{Experiment, GpuSettings, Init, KernelFamily, MethodKind, Objective, ObjectiveSpec, PgdParams, Report, Runner};
use std::sync::Arc;

fn network(n: usize, rank: usize, p: usize, depth: usize) -> Arc<dyn Objective> {
    ObjectiveSpec::LinearNetwork { n, rank, p, kappa: 0.1, depth, data: DataSource::Seed(3) }.build().unwrap()
}

/// Worst relative distance between the final points, chain by chain.
fn worst(g: &Report, c: &Report, d: usize) -> f64 {
    let rel = |a: &[f64], b: &[f64]| {
        let diff: f64 = a.iter().zip(b).map(|(u, v)| (u - v).powi(2)).sum::<f64>().sqrt();
        diff / b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-6)
    };
    (0..g.raw.x.len() / d).map(|k| rel(&g.raw.x[k * d..(k + 1) * d], &c.raw.x[k * d..(k + 1) * d])).fold(0.0, f64::max)
}

#[test]
fn depth_three_per_invocation_matches_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    for (obj, init) in [(network(3, 2, 3, 3), Init::Uniform(0.5)), (network(4, 3, 2, 4), Init::Uniform(0.6))] {
        let d = obj.dim();
        for kind in [MethodKind::Gd, MethodKind::Pgd] {
            let exp = Experiment::builder(obj.clone()).method(kind).chains(128).steps(60).seed(8).init(init.clone()).build().unwrap();
            let g = Runner::gpu(&engine).run(&exp).unwrap();
            let c = Runner::cpu().run(&exp).unwrap();
            assert_eq!(g.raw.kernel_family, "per-invocation");
            let moved = c.raw.states.iter().filter(|s| s.label > 0).count();
            println!("depth-{} d={d} {kind:?}: worst relative distance {:e}, {moved} chains with label > 0", obj.params()["depth"], worst(&g, &c, d));
            for (i, (a, b)) in g.raw.states.iter().zip(&c.raw.states).enumerate() {
                assert_eq!((a.t, a.status, a.label, a.escapes), (b.t, b.status, b.label, b.escapes), "chain {i}");
            }
            let tol = 1e-5 * (1.0 + c.raw.x.iter().map(|v| v.abs()).fold(0.0, f64::max));
            let far = g.raw.x.iter().zip(&c.raw.x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(far <= tol, "positions differ by {far}");
            // The staircase label is exercised: some chains have learned a singular value.
            assert!(moved > 0, "no chain left label 0");
        }
    }
}

#[test]
fn depth_three_beyond_256_follows_the_cpu_twin_in_both_storage_families() {
    let Some(engine) = gpu() else { return };
    // n = p = 13, r = 8: d = 104 + 64 + 104 = 272; depth 4 with n = p = 10: d = 288.
    for obj in [network(13, 8, 13, 3), network(10, 8, 10, 4)] {
        let d = obj.dim();
        assert!(d > 256);
        let exp = Experiment::builder(obj.clone()).method(MethodKind::Gd).params(PgdParams { eta: 0.02, ..obj.default_params() }).chains(8).steps(30).seed(2).init(Init::Uniform(0.4)).build().unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        let start = Runner::cpu().run(&Experiment { steps: 1, ..exp.clone() }).unwrap();
        assert!(worst(&c, &start, d) > 1e-3, "GD did not move");
        for (family, name) in [(None, "cooperative"), (Some(KernelFamily::Streamed), "streamed")] {
            let settings = |steps| GpuSettings { family, steps_per_dispatch: steps, ..Default::default() };
            let g = Runner::gpu(&engine.tuned(settings(None)).unwrap()).run(&exp).unwrap();
            assert_eq!(g.raw.kernel_family, name);
            let w = worst(&g, &c, d);
            println!("depth {} d={d} {name}: worst relative distance {w:e}", obj.params()["depth"]);
            assert!(w <= 1e-4, "{name}: {w}");
            assert_close_states(&g, &c, 1e-3);
            let split = Runner::gpu(&engine.tuned(settings(Some(7))).unwrap()).run(&exp).unwrap();
            assert_eq!(g.raw.x, split.raw.x, "{name}: the dispatch split changed the points");
            assert_eq!(g.raw.states, split.raw.states);
        }
    }
}

/// `--depth 3` reaches the summary's parameters and DIR/experiment.toml, and a run from that file
/// is the same run (same fingerprint, same final labels).
#[test]
fn the_depth_round_trips_through_experiment_toml() {
    let dir = common::table::tmp("deep-linear-toml");
    let (first, again) = (dir.join("first"), dir.join("again"));
    let args = ["run", "--objective", "linear-network", "--depth", "3", "--method", "pgd", "--chains", "64", "--steps", "300", "--init", "normal:1e-4", "--backend", "cpu", "--quiet", "--force", "--out"];
    let out = common::table::escapade(&[&args[..], &[first.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let toml = std::fs::read_to_string(first.join("experiment.toml")).unwrap();
    assert!(toml.lines().any(|l| l.trim() == "depth = 3"), "{toml}");
    let out = common::table::escapade(&["run", first.join("experiment.toml").to_str().unwrap(), "--out", again.to_str().unwrap(), "--force", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = |d: &std::path::Path| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
    let (a, b) = (summary(&first), summary(&again));
    assert_eq!(a["objective"]["params"]["depth"], 3);
    assert_eq!(a["objective"], b["objective"]);
    assert_eq!(a["experiment"], b["experiment"]);
    assert_eq!(std::fs::read(first.join("chains.csv")).unwrap(), std::fs::read(again.join("chains.csv")).unwrap());
    let _ = std::fs::remove_dir_all(dir);
}
