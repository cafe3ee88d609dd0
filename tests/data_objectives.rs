//! Phase retrieval on the GPU path, whose evaluation is generated unrolled over d and reads its
//! data as vec4s (rows of A padded to a multiple of 4): against the CPU twin (integer bookkeeping
//! exactly, floats to a tolerance, escape times in distribution) and independent of how the work
//! is split. d = 5 or 6 and m = 50 exercise the padding, d = 32 and m = 128 are the benchmark's shape.

mod common;

use common::gpu;
use escapade::objective::DataSource;
use escapade::stats::ks_two_sample;
use escapade::{Experiment, GpuSettings, Init, MethodKind, ObjectiveSpec, PgdParams, Precision, Report, Runner};

fn phase_retrieval(dim: usize, m: usize) -> std::sync::Arc<dyn escapade::Objective> {
    ObjectiveSpec::PhaseRetrieval { dim, m, data: DataSource::Seed(3) }.build().unwrap()
}

/// Small kicks and a large decrease to call an escape: escape times spread over tens of steps.
fn params(obj: &dyn escapade::Objective) -> PgdParams {
    PgdParams { eta: 0.02, radius: 1e-3, f_thres: 0.05, ..obj.default_params() }
}

fn pgd(dim: usize, m: usize, chains: u32, steps: u32, init: Init) -> Experiment {
    let obj = phase_retrieval(dim, m);
    let params = params(obj.as_ref());
    Experiment::builder(obj).method(MethodKind::Pgd).params(params).chains(chains).steps(steps).seed(41).init(init).build().unwrap()
}

/// Integer bookkeeping exactly; floats to `tol` relative (the device may fuse a multiply and an
/// add where the host rounds twice, and its sqrt may differ by an ulp).
fn close_results(g: &Report, c: &Report, tol: f64) {
    common::assert_close_states(g, c, tol);
    let worst = g.raw.x.iter().zip(&c.raw.x).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max);
    println!("worst relative difference of final points: {worst:e}");
    assert!(worst <= tol, "final points differ by {worst}");
    assert_eq!(g.raw.events.len(), c.raw.events.len());
}

/// Away from the saddle, so that the device's fused multiply-adds are not amplified by negative
/// curvature (near it, trajectories part at 1e-4 within 150 steps, on the loop path as well).
/// From d = 16 the CPU twin sums as matrix products (docs/theory.md, section 6): its order then
/// differs from the kernel's as well, and the tolerance is the products' 1e-4, not 1e-5.
#[test]
fn phase_retrieval_on_the_gpu_follows_the_cpu_twin() {
    let Some(engine) = gpu() else { return };
    for (dim, m, precision) in [(5, 50, Precision::F32), (32, 128, Precision::F32), (6, 60, Precision::F64), (20, 90, Precision::F64)] {
        let obj = phase_retrieval(dim, m);
        let exp = Experiment::builder(obj.clone()).method(MethodKind::Pgd).params(params(obj.as_ref())).chains(512).steps(150).seed(41)
            .init(Init::Normal(0.1)).state_precision(precision).build().unwrap();
        let (g, c) = (Runner::gpu(&engine).run(&exp).unwrap(), Runner::cpu().run(&exp).unwrap());
        println!("d = {dim}, m = {m}, {precision:?}: {} escape events", c.raw.events.len());
        let tol = match (precision, dim >= escapade::objective::PHASE_RETRIEVAL_PRODUCTS_FROM_D) {
            (Precision::F64, _) => 1e-5,
            (_, false) => 1e-5,
            (_, true) => 1e-4,
        };
        close_results(&g, &c, tol);
    }
}

fn first_escape_times(r: &Report) -> Vec<f64> {
    let mut seen = std::collections::HashSet::new();
    r.raw.events.iter().filter(|e| seen.insert(e.chain)).map(|e| f64::from(e.escape_steps)).collect()
}

#[test]
fn phase_retrieval_escape_times_match_the_cpu_twin_in_distribution() {
    let Some(engine) = gpu() else { return };
    // From the strict saddle at 0: every chain stalls at once, is kicked and escapes.
    let exp = pgd(6, 60, 2048, 600, Init::Zero);
    let (g, c) = (Runner::gpu(&engine).run(&exp).unwrap(), Runner::cpu().run(&exp).unwrap());
    let (tg, tc) = (first_escape_times(&g), first_escape_times(&c));
    assert!(tg.len() >= 1800 && tc.len() >= 1800, "escapes: gpu {} cpu {}", tg.len(), tc.len());
    let (d, p) = ks_two_sample(&tg, &tc);
    println!("phase retrieval PGD, 2048 chains: KS D = {d:.4}, p = {p:.3}; median escape gpu {:?} cpu {:?}", g.escape_time.median, c.escape_time.median);
    assert!(p > 0.01, "KS rejects equality: D = {d}, p = {p}");
    let shifted: Vec<f64> = tc.iter().map(|t| t + 3.0).collect();
    assert!(ks_two_sample(&tg, &shifted).1 < 0.01, "the test has no power");
}

#[test]
fn phase_retrieval_results_do_not_depend_on_the_split() {
    let Some(engine) = gpu() else { return };
    let same = |a: &Report, b: &Report| {
        assert!(a.raw.states == b.raw.states, "chain records differ");
        assert!(a.raw.x == b.raw.x, "final points differ");
        assert!(a.raw.events == b.raw.events, "events differ");
    };
    let exp = pgd(6, 60, 1500, 300, Init::Zero);
    let tuned = |settings| Runner::gpu(&engine.tuned(settings).unwrap()).run(&exp).unwrap();
    let whole = tuned(GpuSettings { steps_per_dispatch: Some(300), pending_events: Some(1), ..Default::default() });
    let split = tuned(GpuSettings { steps_per_dispatch: Some(7), max_chains_per_shard: Some(500), ..Default::default() });
    assert_eq!(split.raw.shards, 3);
    assert!(whole.counts.escape_events > 1000, "too few events to mean anything: {}", whole.counts.escape_events);
    same(&whole, &split);
    same(&whole, &Runner::gpu(&engine).run(&exp).unwrap());
    // A chain's results do not depend on the ensemble's size either.
    let few = Runner::gpu(&engine).run(&pgd(6, 60, 37, 300, Init::Zero)).unwrap();
    assert!(few.raw.states[..] == whole.raw.states[..37] && few.raw.x[..] == whole.raw.x[..37 * 6], "a smaller ensemble differs");
}

/// Phase retrieval with the WGSL of the per-chain loop path it replaced (scalar `data`, loops over
/// d): the reference the unrolled vec4 evaluation must give bit for bit. d = 32 and m = 128 make
/// the two data layouts the same (no padding).
#[derive(Debug)]
struct LoopPath(std::sync::Arc<dyn escapade::Objective>);

const LOOP_WGSL: &str = "
fn objective(x: ptr<private, array<real, D>>, g: ptr<private, array<real, D>>) -> Eval {
    for (var i = 0u; i < D; i++) { (*g)[i] = 0.0; }
    var f: real = 0.0;
    for (var k = 0u; k < PR_M; k++) {
        var ax: real = 0.0;
        for (var i = 0u; i < D; i++) { ax = ax + real(data[k * D + i]) * (*x)[i]; }
        let r = ax * ax - real(data[PR_M * D + k]);
        f = f + r * r;
        let w = r * ax;
        for (var i = 0u; i < D; i++) { (*g)[i] = (*g)[i] + w * real(data[k * D + i]); }
    }
    for (var i = 0u; i < D; i++) { (*g)[i] = (*g)[i] * PR_INV_M; }
    var label = 0u;
    var dot: real = 0.0;
    var n2: real = 0.0;
    for (var i = 0u; i < D; i++) {
        dot = dot + (*x)[i] * real(data[PR_M * D + PR_M + i]);
        n2 = n2 + (*x)[i] * (*x)[i];
    }
    if (dot * dot >= 0.81 * n2 && n2 > 0.0) { label = 1u; }
    return Eval(f * PR_INV_4M, label, 1u);
}
";

impl escapade::Objective for LoopPath {
    fn name(&self) -> &'static str {
        "phase-retrieval"
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn eval_f64(&self, x: &[f64], g: &mut [f64]) -> escapade::objective::Eval<f64> {
        self.0.eval_f64(x, g)
    }
    fn eval_f32(&self, x: &[f32], g: &mut [f32]) -> escapade::objective::Eval<f32> {
        self.0.eval_f32(x, g)
    }
    fn params(&self) -> serde_json::Value {
        self.0.params()
    }
    fn default_params(&self) -> PgdParams {
        self.0.default_params()
    }
    // The declared forms too: the monitor checks against them, and its records are compared.
    fn rho(&self) -> Option<(escapade::method::Rho, escapade::method::Rho)> {
        self.0.rho()
    }
    fn f_min(&self) -> Option<f64> {
        self.0.f_min()
    }
    fn device(&self) -> &dyn escapade::objective::DeviceForm {
        self
    }
}

impl escapade::objective::DeviceForm for LoopPath {
    fn wgsl(&self) -> String {
        let constants: String = self.0.device().wgsl().lines().filter(|l| l.starts_with("const PR_")).map(|l| format!("{l}\n")).collect();
        constants + LOOP_WGSL
    }
    fn data(&self) -> Vec<f32> {
        self.0.device().data()
    }
}

#[test]
fn unrolled_evaluation_is_the_loop_path_bit_for_bit() {
    let Some(engine) = gpu() else { return };
    let obj = phase_retrieval(32, 128);
    let run = |o: std::sync::Arc<dyn escapade::Objective>| {
        let exp = Experiment::builder(o).method(MethodKind::Pgd).params(params(obj.as_ref())).chains(256).steps(300).seed(41)
            .init(Init::Zero).build().unwrap();
        Runner::gpu(&engine).run(&exp).unwrap()
    };
    let (new, old) = (run(obj.clone()), run(std::sync::Arc::new(LoopPath(obj.clone()))));
    println!("{} escape events", new.raw.events.len());
    assert!(new.raw.events.len() > 100, "too few escapes to mean anything: {}", new.raw.events.len());
    assert!(new.raw.states == old.raw.states, "chain records differ");
    assert!(new.raw.x == old.raw.x, "final points differ");
    assert!(new.raw.events == old.raw.events, "events differ");
}
