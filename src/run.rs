//! The runner: the one way to run. It ties an experiment (what) to an engine (how), an optional
//! checkpointer and a progress observer, and turns the engine's raw results into a [`Report`]:
//! every chain judged at its resting point (`crate::outcome`), then the self-bounding checks
//! along the run. The library never prints; what a caller should know goes into the report.
//!
//! ```no_run
//! # fn main() -> Result<(), escapade::Error> {
//! use escapade::{Experiment, GpuEngine, Init, MethodKind, ObjectiveSpec, Runner};
//! let exp = Experiment::builder(ObjectiveSpec::from_name("octopus", 5)?.build()?)
//!     .method(MethodKind::Pgd).chains(4096).steps(2000).init(Init::Uniform(1.0))
//!     .build()?;
//! let engine = GpuEngine::new()?; // compiled kernels are cached in the engine: keep it
//! let report = Runner::gpu(&engine).run(&exp)?;
//! println!("{}", report.human_summary());
//! # Ok(()) }
//! ```

use crate::backend::gpu::GpuEngine;
use crate::backend::gpu::hvp::GpuHvp;
use crate::backend::{EngineInfo, MemoryPlace, Progress, RawRun, cpu};
use crate::report::memory::host_memory_estimate;
use crate::check::hessian::{Interruptible, LANCZOS_TOL_F32, Products};
use crate::check::run_checks::{Visited, check_visited};
use crate::checkpoint::{CheckpointSpec, Checkpointer};
use crate::experiment::Experiment;
use crate::report::Report;
use crate::Error;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

mod split;

/// Where chains step.
#[derive(Clone, Copy)]
pub enum Engine<'e> {
    /// The CPU twin (f32 or f64, rayon across chains).
    Cpu,
    /// A GPU engine (its compiled kernels are cached: reuse it across runs).
    Gpu(&'e GpuEngine),
    /// Several GPU engines, one per device: the chains split into contiguous parts, one per
    /// engine, run concurrently and joined into the results one engine gives (see `split`).
    Gpus(&'e [GpuEngine]),
}

impl Engine<'_> {
    /// Where this engine's memory lives ([`host_memory_estimate`]).
    fn memory_place(&self) -> MemoryPlace {
        match self {
            Engine::Cpu => MemoryPlace::Cpu,
            Engine::Gpu(e) => MemoryPlace::gpu(e.context().adapter.as_ref()),
            Engine::Gpus(es) => MemoryPlace::gpu(es.first().and_then(|e| e.context().adapter.as_ref())),
        }
    }
}

/// Runs experiments on one engine.
pub struct Runner<'e, 'p> {
    engine: Engine<'e>,
    checkpoint: Option<(CheckpointSpec, bool)>,
    observer: Option<&'p mut dyn FnMut(&Progress)>,
    notes: Vec<String>,
}

impl<'e, 'p> Runner<'e, 'p> {
    /// A runner on `engine`.
    pub fn new(engine: Engine<'e>) -> Self {
        Runner { engine, checkpoint: None, observer: None, notes: Vec::new() }
    }

    /// A runner on the CPU twin.
    pub fn cpu() -> Self {
        Self::new(Engine::Cpu)
    }

    /// A runner on a GPU engine.
    pub fn gpu(engine: &'e GpuEngine) -> Self {
        Self::new(Engine::Gpu(engine))
    }

    /// A runner splitting the chains over several GPU engines, one per device (e.g. from
    /// [`crate::Devices::open`]; two devices on one adapter work too), with the results of one.
    /// With a checkpoint in DIR, part K of D keeps its own in DIR/part-K-of-D; a resume needs D
    /// engines again.
    pub fn gpus(engines: &'e [GpuEngine]) -> Self {
        Self::new(Engine::Gpus(engines))
    }

    /// Writes checkpoints as `spec` says and, with `resume`, continues from the checkpoint in its
    /// directory when there is one (an error when it belongs to another experiment).
    pub fn checkpoint(mut self, spec: CheckpointSpec, resume: bool) -> Self {
        self.checkpoint = Some((spec, resume));
        self
    }

    /// Calls `observer` after every dispatch (GPU) or batch of chains (CPU).
    pub fn observe(mut self, observer: &'p mut dyn FnMut(&Progress)) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Adds a note every report of this runner carries (e.g. why it runs on the CPU).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Runs `exp` and builds its report. The checkpoint stays until
    /// [`Checkpointer::clear`] or a new run replaces it.
    pub fn run(&mut self, exp: &Experiment) -> Result<Report, Error> {
        let engine_id = match self.engine {
            Engine::Cpu => crate::backend::cpu::engine_id(),
            Engine::Gpu(e) => e.context().engine_id(),
            // Each device runs its part with a checkpoint of its own.
            Engine::Gpus(engines) => return self.run_split(exp, engines),
        };
        let mut notes = self.notes.clone();
        let state = match &self.checkpoint {
            Some((spec, true)) => crate::checkpoint::resume(spec, exp, &engine_id, &mut notes)?,
            _ => None,
        };
        let mut ck = self.checkpoint.as_ref().map(|(spec, _)| Checkpointer::new(spec.clone(), exp, &engine_id));
        let mut ignore = |_: &Progress| {};
        let progress: &mut dyn FnMut(&Progress) = match self.observer.as_deref_mut() {
            Some(o) => o,
            None => &mut ignore,
        };
        fits_in_memory(exp, self.engine.memory_place())?;
        let start = Instant::now();
        let (raw, info) = match self.engine {
            Engine::Cpu => {
                if !exp.objective.cpu_twin() {
                    return Err(Error::NoCpuTwin(exp.objective.name().into()));
                }
                (cpu::run_resumable(exp, progress, ck.as_mut(), state)?, EngineInfo::cpu())
            }
            Engine::Gpu(engine) => (engine.run_resumable(exp, progress, ck.as_mut(), state)?, engine.info()),
            Engine::Gpus(_) => unreachable!("several devices run in run_split"),
        };
        let stop = self.checkpoint.as_ref().and_then(|(spec, _)| spec.stop.clone());
        let mut report = self.report(exp, raw, info, start.elapsed().as_secs_f64(), stop.as_deref(), ck.as_mut())?;
        report.check_notes.extend(notes);
        Ok(report)
    }

    /// Judges every chain at its resting point, builds the report and runs the self-bounding
    /// checks along the run. Hessian products come from the CPU twin in f64, or from the device
    /// for WGSL-only objectives.
    ///
    /// `stop` (raised by SIGINT) is honoured here too, between Lanczos steps: the stepping's
    /// results are then saved as a finished checkpoint in `ck` (a resume only judges) and the run
    /// ends with [`Error::Interrupted`].
    fn report(&self, exp: &Experiment, raw: RawRun, info: EngineInfo, wall_seconds: f64, stop: Option<&AtomicBool>, ck: Option<&mut Checkpointer>) -> Result<Report, Error> {
        let obj = exp.objective.as_ref();
        crate::backend::check_labels(&|| obj.wgsl_origin(), &raw.states, &raw.events)?;
        let gpu_hvp = match (obj.cpu_twin(), self.engine) {
            (false, Engine::Gpu(e) | Engine::Gpus([e, ..])) => Some(GpuHvp::new(e.context(), obj)?),
            _ => None,
        };
        let inner: &dyn Products = match &gpu_hvp {
            Some(g) => g,
            None => &crate::check::hessian::CpuProducts(obj),
        };
        let interruptible = Interruptible { inner, stop };
        let products: &dyn Products = &interruptible;
        let judgement = match crate::outcome::judge(exp, &raw, products) {
            Err(Error::Interrupted(_)) => {
                let why = Error::Interrupted("no checkpoint: the run had no output directory".into());
                return Err(match (ck, &self.checkpoint) {
                    (Some(ck), _) => ck.save(&raw.checkpoint(exp.chain_range().end, None)).err().unwrap_or(why),
                    // Several devices: each part's last checkpoint is still in place.
                    (None, Some((spec, _))) => Error::Interrupted(spec.dir.display().to_string()),
                    (None, None) => why,
                });
            }
            other => other?,
        };
        let mut report = Report::new(exp, raw, judgement, info, wall_seconds);
        if exp.checks.along_run && exp.trace.is_some() {
            match exp.declared_rho() {
                Some(rho) => {
                    let visited: Vec<Visited> = report
                        .trace
                        .iter()
                        .filter(|p| p.f.is_finite() || !obj.cpu_twin())
                        .map(|p| Visited { chain: p.chain, step: p.step, f: p.f, x: &p.x })
                        .collect();
                    let tol = if gpu_hvp.is_some() { 1e-2 } else { 1e-6 };
                    report.self_bounding = Some(check_visited(products, &visited, rho, tol, exp.seed)?);
                }
                None => report.check_notes.push(format!("no self-bounding checks: {} declares no rho1/rho2", obj.name())),
            }
        }
        Ok(report)
    }
}

/// Refuses, before anything is allocated, a run whose results the host cannot hold: chain
/// records, final points (and x~), the trace, and the certification's working set (about eight
/// vectors per certified chain: resting points, product batches, the first Lanczos vectors),
/// against the memory the system reports available. Saturating: sizes beyond u64 are refused.
pub(crate) fn fits_in_memory(exp: &Experiment, place: MemoryPlace) -> Result<(), Error> {
    let need = host_memory_estimate(exp, place);
    let one = crate::check::run_checks::judge_bytes(exp.objective.dim());
    match crate::objective::data::available_memory() {
        // Fewer chains would not help: one resting point's Lanczos alone is beyond the host.
        Some(have) if one > have => Err(Error::TooLarge(format!(
            "judging one chain's resting point at d = {} (Lanczos, up to d vectors of d numbers) may need {:.1} GB of host memory and {:.1} GB are available: use a smaller dimension",
            exp.objective.dim(),
            one as f64 / 1e9,
            have as f64 / 1e9
        ))),
        Some(have) if need > have => Err(Error::TooLarge(format!(
            "the run needs about {:.1} GB of host memory (its results, and the judging of every chain's resting point) and {:.1} GB are available: run fewer chains (or --shard I/N), trace fewer",
            need as f64 / 1e9,
            have as f64 / 1e9
        ))),
        _ => Ok(()),
    }
}

impl Products for GpuHvp<'_> {
    fn dim(&self) -> usize {
        self.dim()
    }
    fn products(&self, points: &[f64], vectors: &[f64]) -> Result<Vec<f64>, Error> {
        let to32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<_>>();
        Ok(GpuHvp::products(self, &to32(points), &to32(vectors))?.into_iter().map(f64::from).collect())
    }
    fn tolerance(&self) -> f64 {
        LANCZOS_TOL_F32
    }
}
