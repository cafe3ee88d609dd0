//! Chain-steps per second on the three workloads of the performance issue, on both paths, each
//! next to the bare update loop of the same objective on the same path (x <- x - eta grad f(x),
//! no detector, no bookkeeping), and phase retrieval's arithmetic against the peak of this machine.
//!
//! - toy saddle d = 2, 65536 chains; quartic d = 16, 16384 chains; phase retrieval d = 32,
//!   m = 128, 4096 chains; PGD, certification off (stepping only).
//! - Rates are marginal: the run at S2 steps minus the run at S1 (best of three each), so setup,
//!   compilation and read-back of the final state cancel. Absolute rates on a shared machine are
//!   noise; the ratios printed (full step / bare loop, achieved / peak), measured side by side in
//!   the same process, are the signal.
//! - Criterion times the whole-ensemble engines at S1 for the record (setup included).
//!
//! Run: `cargo bench --bench throughput` (ESCAPADE_BENCH_STEPS=S2 overrides 400; S1 = S2 / 4;
//! ESCAPADE_BENCH_CHAINS=N runs every workload with N chains, e.g. 1048576 on a real GPU).
//! ESCAPADE_BENCH_LARGE=1 adds the any-dimension workloads (phase retrieval d = 256, m = 2048,
//! 1024 chains; quartic d = 1024, 4096 chains; matrix factorization n = 512, r = 4, 256 chains),
//! where the GPU path runs its cooperative kernel family (d > 256) and has no bare loop (that
//! loop holds a chain per invocation).

use criterion::{Criterion, Throughput};
use escapade::advanced::{BareLoop, run_cpu_engine};
use escapade::experiment::CheckSpec;
use escapade::objective::LANES;
use escapade::{Experiment, GpuEngine, Init, MethodKind, Objective, ObjectiveSpec, PgdParams};
use rayon::prelude::*;
use std::time::Instant;

/// One workload: an objective, its ensemble and the model FLOPs of one gradient evaluation.
struct Workload {
    name: &'static str,
    objective: ObjectiveSpec,
    chains: u32,
    init: Init,
    eta: Option<f32>,
    flops: fn(usize) -> f64,
}

fn workloads(chains: Option<u32>, large: bool) -> Vec<Workload> {
    let spec = |name, d| ObjectiveSpec::from_name(name, d).unwrap();
    let phase = |dim, m| ObjectiveSpec::PhaseRetrieval { dim, m, data: escapade::objective::DataSource::Seed(0) };
    let mut out = vec![
        Workload { name: "toy saddle d=2", objective: spec("toy-saddle", 2), chains: chains.unwrap_or(65_536), init: Init::Normal(1.0), eta: None, flops: |_| 12.0 },
        Workload { name: "quartic d=16", objective: spec("quartic", 16), chains: chains.unwrap_or(16_384), init: Init::Normal(0.01), eta: None, flops: |d| 8.0 * d as f64 },
        // 2 m d for A x, 2 m d for A^T w, 5 m for the residuals and f, d to scale.
        Workload { name: "phase retrieval d=32 m=128", objective: phase(32, 128), chains: chains.unwrap_or(4_096), init: Init::Normal(0.1), eta: Some(0.02), flops: |d| 4.0 * 128.0 * d as f64 + 5.0 * 128.0 + d as f64 },
    ];
    if large {
        let mf = ObjectiveSpec::MatrixFactorization { n: 512, rank: 4, spectrum: None, data: escapade::objective::DataSource::Seed(0) };
        out.extend([
            Workload { name: "phase retrieval d=256 m=2048", objective: phase(256, 2048), chains: chains.unwrap_or(1_024), init: Init::Normal(0.1), eta: Some(0.02), flops: |d| 4.0 * 2048.0 * d as f64 + 5.0 * 2048.0 + d as f64 },
            Workload { name: "quartic d=1024", objective: spec("quartic", 1024), chains: chains.unwrap_or(4_096), init: Init::Normal(0.01), eta: None, flops: |d| 8.0 * d as f64 },
            // Per (i, j): 2 r for <U_i, U_j>, 3 for the residual and f, 3 r for 2 e U_j; n = d / 4.
            Workload { name: "matrix factorization n=512 r=4", objective: mf, chains: chains.unwrap_or(256), init: Init::Normal(0.1), eta: None, flops: |d| ((d / 4) * (d / 4)) as f64 * (5.0 * 4.0 + 3.0) },
        ]);
    }
    out
}

fn experiment(w: &Workload, steps: u32) -> Experiment {
    let obj = w.objective.build().unwrap();
    let params = PgdParams { eta: w.eta.map_or(obj.default_params().eta, f64::from), ..obj.default_params() };
    Experiment::builder(obj)
        .method(MethodKind::Pgd)
        .params(params)
        .chains(w.chains)
        .steps(steps)
        .seed(1)
        .init(w.init.clone())
        .checks(CheckSpec { certify: false, ..CheckSpec::default() })
        .build()
        .unwrap()
}

/// Best of three timings of `f`.
fn best(f: &mut dyn FnMut()) -> f64 {
    (0..3).map(|_| { let t = Instant::now(); f(); t.elapsed().as_secs_f64() }).fold(f64::MAX, f64::min)
}

/// Marginal chain-steps per second: `run(steps)` at s1 and s2.
fn marginal(chains: u32, s1: u32, s2: u32, run: &mut dyn FnMut(u32)) -> f64 {
    let t1 = best(&mut || run(s1));
    let t2 = best(&mut || run(s2));
    f64::from(chains) * f64::from(s2 - s1) / (t2 - t1).max(1e-9)
}

/// The bare loop on the CPU: packs of LANES chains evaluated together where the objective does
/// so (as the backend does), else one chain at a time; rayon across packs.
fn cpu_bare(obj: &dyn Objective, starts: &[f32], eta: f32, steps: u32) -> Vec<f32> {
    let d = obj.dim();
    let mut x = starts.to_vec();
    x.par_chunks_mut(d * LANES).for_each(|pack| {
        let n = pack.len() / d;
        if let Some(lanes) = obj.lanes().filter(|_| n == LANES) {
            let (mut xs, mut gs) = (vec![[0.0f32; LANES]; d], vec![[0.0f32; LANES]; d]);
            (0..d).for_each(|i| xs[i] = std::array::from_fn(|l| pack[l * d + i]));
            for _ in 0..steps {
                lanes.eval_lanes_f32(&xs, &mut gs);
                xs.iter_mut().zip(&gs).for_each(|(xr, gr)| (0..LANES).for_each(|l| xr[l] -= eta * gr[l]));
            }
            (0..d).for_each(|i| (0..LANES).for_each(|l| pack[l * d + i] = xs[i][l]));
        } else {
            let mut g = vec![0.0f32; d];
            for x in pack.chunks_mut(d) {
                for _ in 0..steps {
                    obj.eval_f32(x, &mut g);
                    x.iter_mut().zip(&g).for_each(|(a, b)| *a -= eta * b);
                }
            }
        }
    });
    x
}

/// The peak of this machine's CPU in GFLOP/s: independent multiply-adds on 8-wide lanes, 8
/// accumulators per thread (enough to hide the latency), on every thread, widest vector unit.
fn cpu_peak() -> f64 {
    #[multiversion::multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2", "aarch64+neon"))]
    fn spin(seed: f32, n: u32) -> f32 {
        let mut acc = [[seed; 8]; 8];
        let (a, b) = ([0.999_999f32; 8], [1e-7f32; 8]);
        for _ in 0..n {
            for r in &mut acc {
                for l in 0..8 {
                    r[l] = r[l] * a[l] + b[l];
                }
            }
        }
        acc.iter().flatten().sum()
    }
    let threads = rayon::current_num_threads();
    let n = 20_000_000u32;
    let t = best(&mut || {
        let s: f32 = (0..threads).into_par_iter().map(|i| spin(i as f32, n)).sum();
        std::hint::black_box(s);
    });
    threads as f64 * f64::from(n) * 64.0 * 2.0 / t / 1e9
}

/// What a tuned matrix product reaches on every thread at once, in GFLOP/s: matrixmultiply's
/// sgemm at 512^3 (blocked, fused multiply-adds on the widest vector unit), the ceiling the data
/// objectives' products work against.
fn gemm_peak() -> f64 {
    let n = 512;
    let threads = rayon::current_num_threads();
    let (a, b) = (vec![0.5f32; n * n], vec![0.25f32; n * n]);
    let reps = 8;
    let t = best(&mut || {
        (0..threads).into_par_iter().for_each(|_| {
            let mut c = vec![0.0f32; n * n];
            for _ in 0..reps {
                // SAFETY: a, b and c are n x n row-major, c apart from a and b.
                unsafe { matrixmultiply::sgemm(n, n, n, 1.0, a.as_ptr(), n as isize, 1, b.as_ptr(), n as isize, 1, 0.0, c.as_mut_ptr(), n as isize, 1) };
            }
            std::hint::black_box(&c);
        });
    });
    threads as f64 * reps as f64 * 2.0 * (n * n * n) as f64 / t / 1e9
}

fn main() {
    let s2: u32 = std::env::var("ESCAPADE_BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let s1 = (s2 / 4).max(1);
    let chains: Option<u32> = std::env::var("ESCAPADE_BENCH_CHAINS").ok().and_then(|s| s.parse().ok());
    let gpu = GpuEngine::new().ok();
    if gpu.is_none() {
        eprintln!("no GPU adapter: the CPU backend only");
    }
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let peak = cpu_peak();
    println!("CPU peak (this machine, {} threads): {peak:.1} GFLOP/s multiply-adds unfused, {:.1} GFLOP/s sgemm", rayon::current_num_threads(), gemm_peak());
    println!("{:<28} {:>6} {:>12} {:>12} {:>8} {:>10}", "workload", "path", "full step", "bare loop", "ratio", "GFLOP/s");
    let large = std::env::var("ESCAPADE_BENCH_LARGE").is_ok_and(|v| v == "1");
    for w in workloads(chains, large) {
        let exp = experiment(&w, s2);
        let obj = exp.objective.clone();
        let d = obj.dim();
        let eta = exp.method.params.eta as f32;
        let mut starts = vec![0.0f32; w.chains as usize * d];
        for (c, x) in starts.chunks_mut(d).enumerate() {
            exp.init.sample(exp.seed, c as u32, x);
        }
        let row = |path: &str, full: f64, bare: f64| {
            let gflops = full * (w.flops)(d) / 1e9;
            println!("{:<28} {path:>6} {full:>12.3e} {bare:>12.3e} {:>8.2} {gflops:>10.2}", w.name, full / bare);
        };
        let cpu_full = marginal(w.chains, s1, s2, &mut |s| { run_cpu_engine(&experiment(&w, s), &mut |_| {}, None, None).unwrap(); });
        let cpu_bare_rate = marginal(w.chains, s1, s2, &mut |s| { std::hint::black_box(cpu_bare(obj.as_ref(), &starts, eta, s)); });
        row("cpu", cpu_full, cpu_bare_rate);
        if let Some(engine) = gpu.as_ref().filter(|_| d > 256) {
            let gpu_full = marginal(w.chains, s1, s2, &mut |s| { engine.run(&experiment(&w, s), &mut |_| {}).unwrap(); });
            let gflops = gpu_full * (w.flops)(d) / 1e9;
            println!("{:<28} {:>6} {gpu_full:>12.3e} {:>12} {:>8} {gflops:>10.2}  (cooperative kernel)", w.name, "gpu", "-", "-");
        } else if let Some(engine) = &gpu {
            let gpu_full = marginal(w.chains, s1, s2, &mut |s| { engine.run(&experiment(&w, s), &mut |_| {}).unwrap(); });
            // Dispatches of `per` steps (software adapters cut long loops); s1 and s2 rounded to
            // whole dispatches, the rate from the steps actually taken.
            let per = (16_384 / (10 * d as u32 + 20)).clamp(1, s1);
            let bare = BareLoop::new(engine.context(), obj.as_ref(), eta, per).unwrap();
            let (r1, r2) = (s1 / per, (s2 / per).max(s1 / per + 1));
            let gpu_bare = marginal(w.chains, r1 * per, r2 * per, &mut |s| { std::hint::black_box(bare.run(&starts, s / per).unwrap()); });
            row("gpu", gpu_full, gpu_bare);
            let per_chain = std::mem::size_of::<escapade::advanced::ChainState>() + d * 4 * 2 + 4 * std::mem::size_of::<escapade::advanced::EscapeEvent>();
            println!("{:<28} {:>6} device bytes per chain: {per_chain} (record, x and x~ in f32, 4 pending events)", "", "");
        }
        // Criterion at S1 steps: ten samples of each whole run stay affordable on lavapipe.
        let exp = experiment(&w, s1);
        let mut group = c.benchmark_group(w.name.replace([' ', '='], "_"));
        group.throughput(Throughput::Elements(u64::from(w.chains) * u64::from(s1)));
        group.bench_function("cpu", |b| b.iter(|| run_cpu_engine(&exp, &mut |_| {}, None, None).unwrap()));
        if let Some(engine) = &gpu {
            group.bench_function("gpu", |b| b.iter(|| engine.run(&exp, &mut |_| {}).unwrap()));
        }
        group.finish();
    }
    c.final_summary();
}
