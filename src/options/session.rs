//! Running `run`'s options: the checks made before any work (devices, GPU settings, checkpoints,
//! an existing run in the output directory), the engine chosen (with `auto`'s fallback to the
//! CPU), and the output directory written as `escapade run` writes it.

use super::{PlotFormat, RunArgs};
use crate::advanced::Progress;
use crate::report::output::{self, OutputLock};
use crate::report::render_plots;
use crate::{BackendChoice, CheckpointSpec, Devices, Error, Experiment, GpuEngine, GpuSettings, Report, Runner};
use std::path::{Path, PathBuf};

pub use crate::report::output::remove_run;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// GPU engines opened once: a sweep (or a Python session) reuses the engines and their compiled
/// kernels.
#[derive(Default)]
pub struct Engines {
    gpu: Option<GpuEngine>,
    /// The engines of `--devices`, by adapter index.
    devices: Option<(Vec<usize>, Vec<GpuEngine>)>,
    /// Why `auto` fell back to the CPU (set once tried).
    fallback: Option<Option<String>>,
}

impl Engines {
    /// The engine for `choice`: None for the CPU, with the reason when `auto` fell back to it.
    fn get(&mut self, choice: BackendChoice) -> Result<(Option<&GpuEngine>, Option<String>), Error> {
        match choice {
            BackendChoice::Cpu => return Ok((None, None)),
            BackendChoice::Gpu if self.gpu.is_none() => self.gpu = Some(GpuEngine::new()?),
            // A software adapter only when asked for (`gpu`): `auto` takes a hardware one or the
            // CPU backend, which outruns a software rasterizer on the same cores.
            BackendChoice::Auto if self.fallback.is_none() => match GpuEngine::hardware() {
                Ok(e) => (self.gpu, self.fallback) = (Some(e), Some(None)),
                Err(Error::NoAdapter(why)) => self.fallback = Some(Some(format!("no hardware GPU adapter ({why})"))),
                Err(e) => return Err(e),
            },
            _ => {}
        }
        let why = if choice == BackendChoice::Auto { self.fallback.clone().flatten() } else { None };
        Ok((if why.is_some() { None } else { self.gpu.as_ref() }, why))
    }

    /// One engine per device on the adapters `indices` (checked by [`device_indices`]).
    fn devices(&mut self, indices: &[usize]) -> Result<&[GpuEngine], Error> {
        if self.devices.as_ref().is_none_or(|(open, _)| open != indices) {
            self.devices = Some((indices.to_vec(), Devices::Adapters(indices.to_vec()).open()?));
        }
        Ok(self.devices.as_ref().map_or(&[], |(_, engines)| engines.as_slice()))
    }
}

/// The adapter indices of `--devices`, checked before any work: they must exist, and the backend
/// must be a GPU one.
pub fn device_indices(devices: &str, backend: BackendChoice) -> Result<Vec<usize>, Error> {
    if backend == BackendChoice::Cpu {
        return Err(Error::invalid("devices", "only with --backend gpu or auto (devices are GPUs)", "--backend cpu"));
    }
    Devices::parse(devices)?.resolve()
}

/// The longest --checkpoint-every, in seconds (about 31 years): beyond it "off" says the same,
/// and 1e20 s overflowed the time arithmetic (a panic).
const MAX_CHECKPOINT_EVERY: f64 = 1e9;

/// What [`check`] found.
struct Checked {
    experiment: Experiment,
    settings: GpuSettings,
    /// --checkpoint-every in seconds (None: off).
    every: Option<f64>,
}

/// Every check of `run`'s options that needs neither an engine nor the output directory: the
/// experiment, --devices' syntax, the GPU knobs, --checkpoint-every, --resume-anyway.
pub fn check(a: &RunArgs) -> Result<Experiment, Error> {
    checked(a).map(|c| c.experiment)
}

fn checked(a: &RunArgs) -> Result<Checked, Error> {
    let exp = super::experiment(a)?;
    let backend = a.backend.choice();
    if let Some(d) = &a.devices {
        if backend == BackendChoice::Cpu {
            // Refused before any adapter is looked at.
            device_indices(d, backend)?;
        }
        Devices::parse(d)?;
    }
    // Known before any adapter is opened (the GPU engine says the same).
    let forced = a.kernel_family.forced();
    if let Some(refusal) = crate::backend::gpu_refusal(&exp, forced).filter(|_| backend == BackendChoice::Gpu || a.devices.is_some() || !exp.objective.cpu_twin()) {
        return Err(refusal);
    }
    // The GPU knobs are checked whatever the backend: a bad value is an error, never ignored.
    let settings = GpuSettings { steps_per_dispatch: a.steps_per_dispatch, in_flight: a.dispatches_in_flight, family: forced, ..GpuSettings::default() };
    settings.validate()?;
    let every = match a.checkpoint_every.as_str() {
        "off" => None,
        v => Some(
            v.parse()
                .ok()
                .filter(|s: &f64| (0.0..=MAX_CHECKPOINT_EVERY).contains(s))
                .ok_or_else(|| Error::invalid("checkpoint-every", "seconds from 0 to 1e9, or off", v))?,
        ),
    };
    if a.resume_anyway && !a.resume {
        return Err(Error::invalid("resume-anyway", "only with --resume", "no --resume"));
    }
    Ok(Checked { experiment: exp, settings, every })
}

/// A checked run, ready to go: the experiment, its engines and its checkpoints.
pub struct Plan {
    /// The experiment.
    pub experiment: Experiment,
    /// Why `auto` runs on the CPU, when it does (the report carries it as a note).
    pub fallback: Option<String>,
    tuned: Option<GpuEngine>,
    split: Vec<GpuEngine>,
    checkpoint: Option<CheckpointSpec>,
    resume: bool,
    /// The output directory, held for the plan's life.
    _lock: Option<OutputLock>,
}

impl Plan {
    /// Checks `a` before any work, as `escapade run` does, and opens (or reuses) its engines.
    /// With `out`, checkpoints go to OUT/checkpoint as --checkpoint-every says, and an existing run
    /// there needs --force (which removes it first) or --resume; without, no checkpoint is kept
    /// and --resume is refused. `stop` (e.g. raised on SIGINT) stops the run at the next
    /// checkpoint opportunity, which saves a checkpoint where there is an `out`; the run then
    /// ends with [`Error::Interrupted`].
    pub fn new(a: &RunArgs, out: Option<&Path>, engines: &mut Engines, stop: Option<Arc<AtomicBool>>) -> Result<Plan, Error> {
        let Checked { experiment: exp, settings, every } = checked(a)?;
        let backend = a.backend.choice();
        let devices = a.devices.as_deref().map(|d| device_indices(d, backend)).transpose()?;
        if a.resume && out.is_none() {
            return Err(Error::invalid("resume", "an output directory holding a checkpoint", "no output directory"));
        }
        let split: Vec<GpuEngine> = match &devices {
            Some(indices) => engines.devices(indices)?.iter().map(|e| e.tuned(settings)).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        // `auto` runs what the GPU kernel cannot hold on the CPU, saying so.
        let refused = crate::backend::gpu_refusal(&exp, settings.family).filter(|_| backend == BackendChoice::Auto);
        let (gpu, fallback) = if devices.is_some() {
            (None, None)
        } else if let Some(why) = refused {
            (None, Some(why.to_string()))
        } else {
            engines.get(backend)?
        };
        let tuned = gpu.map(|e| e.tuned(settings)).transpose()?;
        let fallback = fallback.map(|why| format!("{why}; ran on the CPU backend"));
        // The kernel is compiled (and kept in the engine's cache) before the output directory is
        // touched: a kernel the device refuses leaves a run there as it was.
        for engine in tuned.iter().chain(&split) {
            engine.prepare(&exp)?;
        }
        if tuned.is_none() && split.is_empty() && !exp.objective.cpu_twin() {
            return Err(Error::NoCpuTwin(exp.objective.name().into()));
        }
        let place = match tuned.as_ref().or(split.first()) {
            None => crate::backend::MemoryPlace::Cpu,
            Some(e) => crate::backend::MemoryPlace::gpu(e.context().adapter.as_ref()),
        };
        crate::run::fits_in_memory(&exp, place)?;
        let lock = out.map(OutputLock::claim).transpose()?;
        let checkpoint = match out {
            Some(out) => {
                let ck_dir = out.join("checkpoint");
                let has_checkpoint = CheckpointSpec::saved_parts(&ck_dir).is_some();
                if a.resume && !has_checkpoint {
                    return Err(Error::invalid("resume", "an output directory holding a checkpoint", ck_dir.display()));
                }
                // Never destroy a run: an existing one (results or a checkpoint) needs --force or
                // --resume; --force removes it only now, everything checked and the directory held.
                if !a.resume && (output::holds_run(out) || has_checkpoint) {
                    if !a.force {
                        return Err(Error::invalid("out", "a directory without a run, --force to replace the run in it, or --resume to continue it", out.display()));
                    }
                    remove_run(out)?;
                }
                match every {
                    Some(secs) => Some(CheckpointSpec {
                        resume_anyway: a.resume_anyway,
                        stop: stop.clone(),
                        ..CheckpointSpec::new(&ck_dir, std::time::Duration::from_secs_f64(secs))
                    }),
                    None => stop.map(scratch),
                }
            }
            None => stop.map(scratch),
        };
        Ok(Plan { experiment: exp, fallback, tuned, split, checkpoint, resume: a.resume && out.is_some(), _lock: lock })
    }

    /// Runs the experiment, calling `observe` with the progress after every dispatch (GPU) or
    /// batch of chains (CPU). A checkpoint outside an output directory is removed at the end.
    pub fn run(&self, observe: &mut dyn FnMut(&Progress)) -> Result<Report, Error> {
        let mut runner = match &self.tuned {
            Some(engine) => Runner::gpu(engine),
            None if !self.split.is_empty() => Runner::gpus(&self.split),
            None => Runner::cpu(),
        };
        if let Some(note) = &self.fallback {
            runner = runner.note(note.clone());
        }
        if let Some(spec) = &self.checkpoint {
            runner = runner.checkpoint(spec.clone(), self.resume);
        }
        let result = runner.observe(observe).run(&self.experiment);
        if let Some(spec) = self.checkpoint.as_ref().filter(|s| s.every == std::time::Duration::MAX) {
            self.clear_checkpoint_in(&spec.dir);
        }
        result
    }

    /// Removes the checkpoint (the results are safe).
    pub fn clear_checkpoint(&self) {
        if let Some(spec) = &self.checkpoint {
            self.clear_checkpoint_in(&spec.dir);
        }
    }

    fn clear_checkpoint_in(&self, dir: &Path) {
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(dir.with_extension("old"));
    }
}

/// A checkpoint only to answer `stop`: never due by time, in a scratch directory [`Plan::run`]
/// removes (a stop saves nothing worth keeping there).
fn scratch(stop: Arc<AtomicBool>) -> CheckpointSpec {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("escapade-stop-{}-{n}", std::process::id()));
    CheckpointSpec { stop: Some(stop), ..CheckpointSpec::new(dir, std::time::Duration::MAX) }
}

/// Writes `report` into `dir` as `escapade run` does: summary.json, events.csv, chains.csv,
/// (when traced) trace.csv, experiment.toml (`experiment_toml`, when known: see
/// [`super::experiment_toml`]), with `points` points.npy ([`Report::write_points`]), and the
/// plots in `plots`' format, all staged first and moved in whole ([`output::commit`]); returns
/// the plots written.
pub fn save(report: &Report, experiment_toml: Option<&str>, dir: &Path, plots: PlotFormat, points: bool) -> Result<Vec<PathBuf>, Error> {
    save_with_inputs(report, experiment_toml, dir, plots, points, &[])
}

/// A file of a run's inputs that its experiment.toml names inside the run directory: data,
/// starts or WGSL that an embedder gave in memory (Python's arrays and source), written with the
/// run so that the file reruns it exactly.
pub enum InputFile<'a> {
    /// A matrix as .npy (float64, C order), read back by `--data` and `--init file:` as it was.
    Npy {
        /// The path relative to the run directory.
        name: String,
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
        /// The entries, row-major.
        values: &'a [f64],
    },
    /// A text file (WGSL source).
    Text {
        /// The path relative to the run directory.
        name: String,
        /// Its contents.
        text: &'a str,
    },
}

/// [`save`], with `inputs` written beside the results (and, like them, staged, moved in whole
/// and listed in the run's manifest, so that `--force` replaces them with the run).
pub fn save_with_inputs(report: &Report, experiment_toml: Option<&str>, dir: &Path, plots: PlotFormat, points: bool, inputs: &[InputFile]) -> Result<Vec<PathBuf>, Error> {
    output::write_whole(dir, |stage| {
        report.stage(stage)?;
        for input in inputs {
            let name = match input {
                InputFile::Npy { name, .. } | InputFile::Text { name, .. } => stage.join(name),
            };
            if let Some(parent) = name.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
            }
            match input {
                InputFile::Npy { rows, cols, values, .. } => crate::report::files::write_npy(&name, *rows, *cols, values)?,
                InputFile::Text { text, .. } => std::fs::write(&name, text).map_err(Error::io(&name))?,
            }
        }
        if points {
            report.write_points(&stage.join("points.npy"))?;
        }
        if let Some(text) = experiment_toml {
            let path = stage.join("experiment.toml");
            std::fs::write(&path, text).map_err(Error::io(&path))?;
        }
        match plots.ext() {
            Some(ext) => render_plots(&report.as_saved(dir), Some(report.experiment.objective.as_ref()), &stage.join("plots"), ext),
            None => Ok(Vec::new()),
        }
    })
}
