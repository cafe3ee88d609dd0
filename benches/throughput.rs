//! Chain-steps per second, GPU path versus CPU backend, PGD on the quartic (d = 16, 65536 chains).
//! Criterion reports time per run of the engines (stepping and read-back only); the ratio printed
//! at the end is measured side by side in the same process (absolute times on shared machines are
//! noise, ratios are signal), and so is the share of a whole run that the post-run verdicts
//! (Hessian spectra at the resting points of the stalled chains) take.
//!
//! Run: `cargo bench --bench throughput` (ESCAPADE_BENCH_STEPS overrides the 200 steps).

use criterion::{Criterion, Throughput};
use escapade::advanced::run_cpu_engine;
use escapade::experiment::CheckSpec;
use escapade::{Runner, Experiment, GpuEngine, Init, MethodKind, ObjectiveSpec};
use std::time::Instant;

fn experiment(steps: u32) -> Experiment {
    let q = ObjectiveSpec::from_name("quartic", 16).unwrap().build().unwrap();
    Experiment::builder(q)
        .method(MethodKind::Pgd)
        .chains(65_536)
        .steps(steps)
        .seed(1)
        .init(Init::Normal(0.01))
        // Stepping only: no host-side certification in the timed runs.
        .checks(CheckSpec { certify: false, ..CheckSpec::default() })
        .build()
        .unwrap()
}

fn main() {
    let steps: u32 = std::env::var("ESCAPADE_BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let exp = experiment(steps);
    let chain_steps = u64::from(exp.chains) * u64::from(steps);
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let gpu = GpuEngine::new().ok();
    let mut group = c.benchmark_group("pgd_quartic_d16_65536");
    group.throughput(Throughput::Elements(chain_steps));
    if let Some(engine) = &gpu {
        group.bench_function("gpu", |b| b.iter(|| engine.run(&exp, &mut |_| {}).unwrap()));
    } else {
        eprintln!("no GPU adapter: benchmarking the CPU backend only");
    }
    group.bench_function("cpu", |b| b.iter(|| run_cpu_engine(&exp, &mut |_| {}, None, None).unwrap()));
    group.finish();
    c.final_summary();

    // Side-by-side ratio, three runs each, best of three (first GPU run includes compilation).
    let best = |f: &mut dyn FnMut()| (0..3).map(|_| { let t = Instant::now(); f(); t.elapsed().as_secs_f64() }).fold(f64::MAX, f64::min);
    let cpu_s = best(&mut || { run_cpu_engine(&exp, &mut |_| {}, None, None).unwrap(); });
    println!("cpu: {:.3e} chain-steps/s", chain_steps as f64 / cpu_s);
    let whole_s = best(&mut || { Runner::cpu().run(&exp).unwrap(); });
    println!("whole CPU run with the post-run verdicts: {whole_s:.3} s, stepping {cpu_s:.3} s (verdicts {:.0}%)", 100.0 * (whole_s - cpu_s) / whole_s);
    if let Some(engine) = &gpu {
        let gpu_s = best(&mut || { engine.run(&exp, &mut |_| {}).unwrap(); });
        let name = engine.context().adapter.as_ref().map_or("embedded".into(), |a| a.name.clone());
        println!("gpu ({name}): {:.3e} chain-steps/s", chain_steps as f64 / gpu_s);
        println!("ratio gpu/cpu: {:.2}", cpu_s / gpu_s);
    }
}
