//! A custom objective: the WGSL file next to this one runs on the GPU path as it is (as
//! `escapade run --objective custom --wgsl examples/custom_objective/objective.wgsl --dim 4`);
//! implementing [`Objective`] in Rust as well gives it a CPU twin, so the two can be compared.
//! To make such an objective a built-in one, see `docs/adding-an-objective.md`.
//!
//! Run: `cargo run --release --example custom_objective`

use escapade::method::PgdParams;
use escapade::objective::{Eval, WgslObjective};
use escapade::{Runner, Experiment, GpuEngine, Init, MethodKind, Objective};
use std::path::Path;
use std::sync::Arc;

const K: f32 = 0.1;
const SOURCE: &str = include_str!("objective.wgsl");

/// The Rust twin of objective.wgsl, operation for operation in f32.
#[derive(Debug)]
struct CoupledWells {
    dim: usize,
}

impl CoupledWells {
    fn eval32(&self, x: &[f32], g: &mut [f32]) -> Eval<f32> {
        let mut f = 0.0f32;
        let mut positive = 0;
        for i in 0..self.dim {
            let s = x[i] * x[i] - 1.0;
            f += 0.25 * s * s;
            g[i] = s * x[i];
            positive += u32::from(x[i] > 0.0);
        }
        for i in 0..self.dim - 1 {
            let dx = x[i + 1] - x[i];
            f += 0.5 * K * dx * dx;
            g[i] -= K * dx;
            g[i + 1] += K * dx;
        }
        Eval { value: f, label: positive, in_domain: true }
    }
}

impl Objective for CoupledWells {
    fn name(&self) -> &'static str {
        "coupled-wells"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval_f64(&self, x: &[f64], g: &mut [f64]) -> Eval<f64> {
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut g32 = vec![0.0f32; self.dim];
        let e = self.eval32(&x32, &mut g32);
        g.iter_mut().zip(&g32).for_each(|(a, b)| *a = f64::from(*b));
        Eval { value: f64::from(e.value), label: e.label, in_domain: true }
    }
    fn eval_f32(&self, x: &[f32], g: &mut [f32]) -> Eval<f32> {
        self.eval32(x, g)
    }
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "dim": self.dim, "K": K })
    }
    fn default_params(&self) -> PgdParams {
        PgdParams { eta: 0.1, radius: 0.01, g_thres: 1e-3, f_thres: 1e-3, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        Some(0.0)
    }
    fn device(&self) -> &dyn escapade::objective::DeviceForm {
        self
    }
}

impl escapade::objective::DeviceForm for CoupledWells {
    fn wgsl(&self) -> String {
        SOURCE.to_string()
    }
}

fn experiment(objective: Arc<dyn Objective>, chains: u32) -> Experiment {
    Experiment::builder(objective).method(MethodKind::Pgd).chains(chains).steps(400).seed(5).init(Init::Zero).build().unwrap()
}

fn main() -> anyhow::Result<()> {
    // WGSL only: validated with naga, errors point at objective.wgsl:line:column.
    let wgsl_only = Arc::new(WgslObjective::from_file(Path::new("examples/custom_objective/objective.wgsl"), 4, Some(0.0))?);
    let engine = GpuEngine::new()?;
    let report = Runner::gpu(&engine).run(&experiment(wgsl_only, 8192))?;
    println!("{}", report.human_summary());
    // With the Rust twin, the CPU backend runs it too.
    let twin = Runner::cpu().run(&experiment(Arc::new(CoupledWells { dim: 4 }), 8192))?;
    println!("{}", twin.human_summary());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_and_cpu_twins_agree_on_the_custom_objective() {
        let engine = match GpuEngine::new() {
            Ok(e) => e,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => return eprintln!("SKIPPED: no GPU adapter ({e})"),
            Err(e) => panic!("{e}"),
        };
        let exp = experiment(Arc::new(CoupledWells { dim: 4 }), 2048);
        let g = Runner::gpu(&engine).run(&exp).unwrap();
        let c = Runner::cpu().run(&exp).unwrap();
        assert!(g.counts.escape_events >= 2000, "{:?}", g.counts);
        let (d, p) = escapade::stats::ks_two_sample(
            &g.raw.events.iter().map(|e| f64::from(e.escape_steps)).collect::<Vec<_>>(),
            &c.raw.events.iter().map(|e| f64::from(e.escape_steps)).collect::<Vec<_>>(),
        );
        assert!(p > 0.01, "KS D {d} p {p}");
        // The gradient of the twin matches finite differences.
        let obj = CoupledWells { dim: 4 };
        let x = [0.3f64, -0.7, 1.2, 0.1];
        let mut g0 = [0.0; 4];
        obj.eval_f64(&x, &mut g0);
        for i in 0..4 {
            let h = 1e-3;
            let (mut xp, mut xm) = (x, x);
            xp[i] += h;
            xm[i] -= h;
            let mut t = [0.0; 4];
            let fd = (obj.eval_f64(&xp, &mut t).value - obj.eval_f64(&xm, &mut t).value) / (2.0 * h);
            assert!((fd - g0[i]).abs() < 1e-3, "{i}: {fd} vs {}", g0[i]);
        }
    }
}
