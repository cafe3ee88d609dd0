//! `escapade run`'s flags (and `check`'s). Every value is checked by the library
//! ([`super::build`]), which names the field and its allowed range on bad input; flags with a
//! fixed set of values are checked by clap first ([`super::invalid_value`] words those errors
//! the same way).

use crate::experiment::defaults;
use super::flags::ObjectiveFlags;
use crate::objective::catalogue::{CATALOGUE, CUSTOM, DEFAULT_DIM, Dim, ORACLE};
use crate::objective::data::Matrix;
use crate::{BackendChoice, MethodKind, Precision};
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

const OBJECTIVE: &str = "Objective";
const METHOD: &str = "Method";
const THEORY: &str = "Method parameters from the theory (Jin et al. 2017)";
const ENSEMBLE: &str = "Ensemble";
const OUTPUT: &str = "Output and checks";

/// `--objective`: the catalogue's objectives with their one-line docs (`--help` lists them),
/// plus `custom` (with `--wgsl`).
fn objective_names() -> PossibleValuesParser {
    let custom = PossibleValue::new(CUSTOM.0).help(CUSTOM.1);
    // An embedder's oracle is named in experiment.toml, so that the file says what ran.
    let oracle = PossibleValue::new(ORACLE.0).help(ORACLE.1).hide(true);
    PossibleValuesParser::new(CATALOGUE.iter().map(|e| PossibleValue::new(e.name).help(e.doc)).chain([custom, oracle]))
}

/// `--dim`'s help: the rules that are not a plain `--dim >= 1`, from the catalogue.
fn dim_help() -> String {
    let rule = |d: Dim| match d {
        Dim::Fixed(n) => n.to_string(),
        Dim::AtLeast(min) => format!(">= {min}"),
        Dim::Size(what) => what.to_string(),
        Dim::From(flag) => format!("none, --{flag} sets d"),
    };
    let special: Vec<String> = CATALOGUE.iter().filter(|e| e.dim != Dim::AtLeast(1)).map(|e| format!("{}: {}", e.name, rule(e.dim))).collect();
    format!("Dimension d (default {DEFAULT_DIM}; {})", special.join("; "))
}

/// `--data`'s help: each objective's data, in order, from the catalogue.
fn data_help() -> String {
    let takes: Vec<String> = CATALOGUE.iter().filter(|e| !e.data.is_empty()).map(|e| format!("{} {}", e.name, e.data.join(","))).collect();
    format!("Objective data files (.npy or .csv), comma separated: {}. A file whose name holds a comma is kept whole", takes.join("; "))
}

/// `--method`: the library's presets.
fn method_names() -> PossibleValuesParser {
    PossibleValuesParser::new(MethodKind::ALL.map(MethodKind::name))
}

/// `--backend`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    // A hardware GPU adapter when one exists, else the CPU with a warning (a software adapter,
    // lavapipe, only under `gpu`).
    Auto,
    // The GPU path, on any adapter (lavapipe too); an error when none exists.
    Gpu,
    // The CPU reference backend.
    Cpu,
}

impl BackendArg {
    /// The library's choice.
    pub fn choice(self) -> BackendChoice {
        match self {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }

    /// The flag value, as typed.
    pub fn name(self) -> &'static str {
        match self {
            BackendArg::Auto => "auto",
            BackendArg::Gpu => "gpu",
            BackendArg::Cpu => "cpu",
        }
    }
}

/// `--state`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    // f16 storage (half the device memory; needs SHADER_F16 on the GPU path).
    #[value(name = "f16")]
    F16,
    // f32 storage and arithmetic.
    #[value(name = "f32")]
    F32,
    // Positions, gradients and values in f64 (needs SHADER_F64 on the GPU path).
    #[value(name = "f64")]
    F64,
}

impl StateArg {
    /// The library's precision.
    pub fn precision(self) -> Precision {
        match self {
            StateArg::F16 => Precision::F16,
            StateArg::F32 => Precision::F32,
            StateArg::F64 => Precision::F64,
        }
    }
}

/// `--plots`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    // SVG files.
    Svg,
    // PNG files.
    Png,
    // No plots.
    #[value(name = "none")]
    Off,
}

impl PlotFormat {
    /// The file extension, or `None` for no plots.
    pub fn ext(self) -> Option<&'static str> {
        match self {
            PlotFormat::Svg => Some("svg"),
            PlotFormat::Png => Some("png"),
            PlotFormat::Off => None,
        }
    }
}

/// `--kernel-family`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FamilyArg {
    // Chosen from the dimension and the device.
    Auto,
    // One invocation per chain, private arrays (d <= 256).
    PerInvocation,
    // A workgroup per chain (any d).
    Cooperative,
    // One invocation per chain, vectors in storage (any d).
    Streamed,
}

impl FamilyArg {
    /// The family forced, or None for auto.
    pub fn forced(self) -> Option<crate::KernelFamily> {
        use crate::KernelFamily as K;
        match self {
            FamilyArg::Auto => None,
            FamilyArg::PerInvocation => Some(K::PerInvocation),
            FamilyArg::Cooperative => Some(K::Cooperative),
            FamilyArg::Streamed => Some(K::Streamed),
        }
    }
}

/// `--progress`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    // A progress bar on stderr (chains finished, escapes so far, chain-steps/s, time left).
    Bar,
    // One JSON object per line on stderr, for scripts.
    Json,
    // Nothing.
    #[value(name = "none")]
    Off,
}

/// `--step-rule`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StepRuleArg {
    // The method's parameters, the same for every chain.
    Fixed,
    // Per-chain parameters from rho1/rho2 at x0.
    SelfBounding,
}

/// `--monitor`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MonitorArg {
    // Every step checks the bounds it steps under.
    On,
    // No checks (the chains step exactly as with them).
    Off,
}

/// `--on-violation`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnViolation {
    // One warning line at the first violation; counts in summary.json and violations.csv.
    Warn,
    // End the run at the next read-back, results so far written, exit status 3.
    Stop,
}

/// `--safeguard`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SafeguardArg {
    // The monitor only reports.
    Off,
    // A violated step too long for its curvature halves the step size (a change of the method).
    Halve,
}

/// `--perturb`.
// The variants' comments are plain ones: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PerturbArg {
    // No perturbation.
    #[value(name = "none")]
    Off,
    // The PGD kick: uniform in a ball of radius r.
    Ball,
    // N(0, r^2/d I) every step (perturbed SGD).
    Gaussian,
}

/// The flags that choose and shape the objective (shared by `run` and `check`).
#[derive(Args)]
#[command(next_help_heading = OBJECTIVE)]
pub struct ObjectiveArgs {
    /// Objective (custom needs --wgsl).
    #[arg(long, default_value = "octopus", value_parser = objective_names())]
    pub objective: String,
    /// Dimension d (the objectives' rules: `escapade list`).
    #[arg(long, help = dim_help())]
    pub dim: Option<usize>,
    // The objective flags, one clap argument per catalogue flag (documented on the type; clap
    // would read a doc comment here).
    #[allow(missing_docs)]
    #[command(flatten)]
    pub flags: ObjectiveFlags,
    /// Seed of generated objective data, or of a network's holdout split (default 0).
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// Objective data files (.npy or .csv), comma separated, as each objective names them
    /// (`escapade list`). A file whose name holds a comma is kept whole.
    #[arg(long, value_parser = data_paths, value_name = "FILE1,FILE2,...", help = data_help())]
    pub data: Option<DataPaths>,
    /// A custom objective in WGSL (implies --objective custom; needs --dim).
    #[arg(long)]
    pub wgsl: Option<PathBuf>,
    /// The minimum value f* of a custom or expression objective, if known (for the
    /// self-bounding rule's Df and the outcome's gap).
    #[arg(long)]
    pub f_min: Option<f64>,
    // [,FMIN] is --help's notation for an optional part, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    /// rho1 as A,B,P[,FMIN]: A + B max(F - FMIN, 0)^P. An expression objective's declared form
    /// (with --rho2); for the others, the self-bounding rule's in place of the closed form.
    #[arg(long, allow_hyphen_values = true, value_name = "A,B,P[,FMIN]")]
    pub rho1: Option<String>,
    // [,FMIN] is --help's notation for an optional part, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    /// rho2 as A,B,P[,FMIN] (as --rho1).
    #[arg(long, allow_hyphen_values = true, value_name = "A,B,P[,FMIN]")]
    pub rho2: Option<String>,
    /// Objective data given in memory (an embedder's arrays, e.g. Python's numpy arrays), in
    /// the order of --data's files; not a flag. Checked as the files are.
    #[arg(skip)]
    pub arrays: Option<Vec<Matrix>>,
    /// A custom objective's WGSL source given in memory (not a flag), with the name its errors
    /// show in place of a file name.
    #[arg(skip)]
    pub wgsl_source: Option<(String, String)>,
    /// An objective given in memory by an embedder (Python's `escapade.Oracle`), run with
    /// `--objective oracle`; not a flag.
    #[arg(skip)]
    pub given: Option<std::sync::Arc<dyn crate::Objective>>,
}

/// Flags of `escapade run`.
#[derive(Args)]
#[command(allow_negative_numbers = true, args_override_self = true)]
pub struct RunArgs {
    // The objective's flags (documented on the struct; clap would read a doc comment here).
    #[allow(missing_docs)]
    #[command(flatten)]
    pub obj: ObjectiveArgs,
    /// Method preset (`escapade list` describes them); its pieces can be changed by the flags below.
    #[arg(long, default_value = defaults::METHOD_NAME, value_parser = method_names(), help_heading = METHOD)]
    pub method: String,
    /// Step size eta.
    #[arg(long, help_heading = METHOD)]
    pub eta: Option<f64>,
    /// Perturbation radius r.
    #[arg(long, help_heading = METHOD)]
    pub radius: Option<f64>,
    /// Stall threshold on the gradient norm.
    #[arg(long, help_heading = METHOD)]
    pub g_thres: Option<f64>,
    /// Escape threshold on the value drop.
    #[arg(long, help_heading = METHOD)]
    pub f_thres: Option<f64>,
    /// Minimum steps between perturbations.
    #[arg(long, help_heading = METHOD)]
    pub t_thres: Option<u32>,
    /// Certification window in steps (0 = off; self-bounding rule: non-zero = each chain's t_thres).
    #[arg(long, help_heading = METHOD)]
    pub certify: Option<u32>,
    /// Gradient noise sigma (SGD oracle).
    #[arg(long, help_heading = METHOD)]
    pub noise: Option<f64>,
    /// Minibatch size b (SGD oracle on a finite-sum objective).
    #[arg(long, help_heading = METHOD)]
    pub batch: Option<u32>,
    /// Perturbation: none, ball (PGD) or gaussian (perturbed SGD).
    #[arg(long, value_enum, help_heading = METHOD)]
    pub perturb: Option<PerturbArg>,
    /// Clipping: none, hard:GAMMA or smooth:GAMMA.
    #[arg(long, help_heading = METHOD)]
    pub clip: Option<String>,
    /// Preconditioning kernel: asinh, log1p, rational or clip, optionally :LAMBDA.
    #[arg(long, help_heading = METHOD)]
    pub precond: Option<String>,
    /// Step-size schedule: constant, inv-sqrt or piecewise:T1:F1,T2:F2,...
    #[arg(long, help_heading = METHOD)]
    pub schedule: Option<String>,
    /// Step rule: fixed, or self-bounding (per-chain parameters from rho1/rho2 at x0; uses
    /// --eps, --c, --delta, --df, --margin, --rho1, --rho2).
    #[arg(long, value_enum, default_value = "fixed", help_heading = METHOD)]
    pub step_rule: StepRuleArg,
    /// Self-bounding rule with rho1 and rho2 fitted by `escapade check` (its check.json, of
    /// this objective); implies --step-rule self-bounding, and excludes --rho1/--rho2.
    #[arg(long, value_name = "CHECK.json", help_heading = METHOD)]
    pub rho_from: Option<PathBuf>,
    /// Self-bounding rule: margin added to f(x0).
    #[arg(long, help_heading = METHOD)]
    pub margin: Option<f64>,
    /// Self-bounding rule: re-anchor at the current value every N steps (0: only at x0).
    #[arg(long, help_heading = METHOD)]
    pub rebase_every: Option<u32>,
    /// What a violation of the bounds (found by --monitor) changes: off, or halve (the chain's
    /// step size halves at each violated step too long for the curvature it crossed, eta c > 1:
    /// a change of the method, counted per chain).
    #[arg(long, value_enum, default_value = "off", help_heading = METHOD)]
    pub safeguard: SafeguardArg,
    // The theory's flags (documented on the struct).
    #[allow(missing_docs)]
    #[command(flatten, next_help_heading = THEORY)]
    pub theory: TheoryArgs,
    /// Number of chains.
    #[arg(long, default_value_t = defaults::CHAINS, help_heading = ENSEMBLE)]
    pub chains: u32,
    /// Step budget per chain.
    #[arg(long, default_value_t = defaults::STEPS, help_heading = ENSEMBLE)]
    pub steps: u32,
    /// Seed of every random stream.
    #[arg(long, default_value_t = defaults::SEED, help_heading = ENSEMBLE)]
    pub seed: u64,
    /// Initial points: zero, normal:SIGMA, uniform:HALFWIDTH, ball:RADIUS, sphere:RADIUS,
    /// point:X1,X2,... or file:PATH (a chains x d .npy or .csv matrix: row c starts chain c; one
    /// row starts every chain there).
    #[arg(long, default_value = defaults::INIT_SPEC, help_heading = ENSEMBLE)]
    pub init: String,
    /// Per-chain starting points given in memory (Python's `init=` array), in place of `init`
    /// (not a flag).
    #[arg(skip)]
    pub init_points: Option<crate::init::Points>,
    /// Backend: auto (a hardware GPU when one exists, else the CPU), gpu (any adapter, software
    /// ones such as lavapipe too) or cpu.
    #[arg(long, value_enum, default_value = "auto", help_heading = ENSEMBLE)]
    pub backend: BackendArg,
    /// GPU devices to split the chains over, one part each, results as on one device: all (every
    /// GPU once) or adapter indices such as 0,2 (`escapade info` lists them; an index twice opens
    /// two devices on one adapter).
    #[arg(long, value_name = "all|I,J,...", help_heading = ENSEMBLE)]
    pub devices: Option<String>,
    /// Precision of chain positions: f32; f64 (positions, gradients and values in f64; needs
    /// SHADER_F64 on the GPU path); or f16 storage (half the device memory; needs SHADER_F16).
    #[arg(long, value_enum, default_value = "f32", help_heading = ENSEMBLE)]
    pub state: StateArg,
    /// Steps fused per GPU dispatch (default: chosen from the ensemble size).
    #[arg(long, help_heading = ENSEMBLE)]
    pub steps_per_dispatch: Option<u32>,
    /// GPU step dispatches submitted ahead of the host's read-back (default 2; 1 reads each
    /// dispatch back before submitting the next). Results do not depend on it.
    #[arg(long, value_name = "N", help_heading = ENSEMBLE)]
    pub dispatches_in_flight: Option<u32>,
    /// The GPU kernel family (default auto: one invocation per chain up to d = 256; beyond, a
    /// workgroup per chain). `streamed`, one invocation per chain over storage, is for software
    /// adapters: 40x the cooperative family for the network on lavapipe, within 10% for the
    /// quartic (BENCHMARKS.md).
    /// Families sum in different orders: floats differ in their last bits, laws do not.
    #[arg(long, value_enum, default_value = "auto", help_heading = ENSEMBLE)]
    pub kernel_family: FamilyArg,
    /// Run part I of N of the ensemble (chains I*n/N .. (I+1)*n/N, each as in the whole run);
    /// `escapade merge` combines the parts.
    #[arg(long, value_name = "I/N", help_heading = ENSEMBLE)]
    pub shard: Option<String>,
    /// Output directory.
    #[arg(long, default_value = "out", help_heading = OUTPUT)]
    pub out: PathBuf,
    /// Plots written to OUT/plots.
    #[arg(long, value_enum, default_value = "svg", help_heading = OUTPUT)]
    pub plots: PlotFormat,
    /// Progress on stderr: bar, json (one JSON object per line) or none.
    #[arg(long, value_enum, default_value = "bar", help_heading = OUTPUT)]
    pub progress: ProgressMode,
    /// Print nothing but errors (no progress, no summary).
    #[arg(long, help_heading = OUTPUT)]
    pub quiet: bool,
    /// The self-bounding monitor: every step checks descent, the curvature against rho1 and the
    /// sublevel set of the self-bounding rule (docs/theory.md, "The monitor"); off leaves the
    /// chains' steps as they are and writes no monitor block or violations.csv.
    #[arg(long, value_enum, default_value = "on", help_heading = OUTPUT)]
    pub monitor: MonitorArg,
    /// At a violation the monitor finds: warn (one line, then counts in summary.json and
    /// violations.csv), or stop (the run ends at the next read-back, its results so far written;
    /// exit status 3).
    #[arg(long, value_enum, default_value = "warn", help_heading = OUTPUT)]
    pub on_violation: OnViolation,
    /// Write each chain's resting point to OUT/points.npy (chains x d, f64, as stored): its last
    /// x, or the x~ that Jin et al.'s rule returns for a chain kicked in its current stall.
    #[arg(long, help_heading = OUTPUT)]
    pub save_points: bool,
    /// Record positions of the first N chains (for value traces and 2-D trajectory plots).
    #[arg(long, default_value_t = 0, help_heading = OUTPUT)]
    pub trace_chains: u32,
    /// Record them every K steps.
    #[arg(long, default_value_t = 10, help_heading = OUTPUT)]
    pub trace_every: u32,
    /// eps of second-order stationarity for the final points: auto (the run's own scale: the
    /// self-bounding rule's eps, else each chain's g_thres), a number > 0, or off (only chains
    /// stalled at their end are judged, as the statistics need).
    #[arg(long, default_value = "auto", help_heading = OUTPUT)]
    pub certify_eps: String,
    /// rho of the curvature tolerance sqrt(rho eps) (default: the declared rho2 at each point's
    /// value; without one, lambda_min >= -1/(eta T)).
    #[arg(long, help_heading = OUTPUT)]
    pub certify_rho: Option<f64>,
    /// Certify at most this many chains (the first ones).
    #[arg(long, default_value_t = 65_536, help_heading = OUTPUT)]
    pub certify_max: u32,
    /// Write a checkpoint to OUT/checkpoint at most every SECONDS (off: never); removed when the
    /// run's results are written.
    #[arg(long, default_value = "60", help_heading = OUTPUT)]
    pub checkpoint_every: String,
    /// Continue from OUT/checkpoint (left by an interrupted run of the same experiment).
    #[arg(long, help_heading = OUTPUT)]
    pub resume: bool,
    /// With --resume: continue a checkpoint another engine (backend or adapter) wrote; the
    /// report records that the run mixes engines.
    #[arg(long, help_heading = OUTPUT)]
    pub resume_anyway: bool,
    /// Replace the run already in --out (escapade's files there are removed first).
    #[arg(long, conflicts_with = "resume", help_heading = OUTPUT)]
    pub force: bool,
}

/// Derive PGD's parameters from the theory (Jin et al. 2017): give --l, --rho and --eps.
/// --eps, --c, --delta and --df also serve the self-bounding rule.
#[derive(Args)]
pub struct TheoryArgs {
    /// Gradient-Lipschitz constant l.
    #[arg(long = "l")]
    pub l: Option<f64>,
    /// Hessian-Lipschitz constant rho.
    #[arg(long)]
    pub rho: Option<f64>,
    /// Target accuracy eps.
    #[arg(long)]
    pub eps: Option<f64>,
    /// Constant c in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub c: f64,
    /// Failure probability delta in (0, 1).
    #[arg(long, default_value_t = 0.1)]
    pub delta: f64,
    /// Df = f(x0) - f* (default: f(0) - f*, or per chain F0 - f* under the self-bounding rule).
    #[arg(long)]
    pub df: Option<f64>,
}

/// Flags of `escapade check`: the objective flags of `run`, and the checker's own.
#[derive(Args)]
#[command(allow_negative_numbers = true, args_override_self = true)]
pub struct CheckArgs {
    // The objective's flags (documented on the struct; clap would read a doc comment here).
    #[allow(missing_docs)]
    #[command(flatten)]
    pub obj: ObjectiveArgs,
    /// Also use what this run directory measured: its visited points (trace.csv) and its
    /// monitor's rho1 bins (summary.json), so a run without a trace serves too.
    #[arg(long, help_heading = "Check")]
    pub from_run: Option<PathBuf>,
    /// Descents per start scale.
    #[arg(long, default_value_t = 8, help_heading = "Check")]
    pub starts: u32,
    /// Steps per descent.
    #[arg(long, default_value_t = 300, help_heading = "Check")]
    pub descent_steps: u32,
    /// Seed of the descents' starting points (also of the held-out split and rho2's directions).
    #[arg(long, default_value_t = 0, help_heading = "Check")]
    pub seed: u64,
    /// Fraction of held-out points the fitted rho1 and rho2 must cover (in (0, 1]).
    #[arg(long, default_value_t = crate::check::fits::DEFAULT_COVERAGE, help_heading = "Check")]
    pub coverage: f64,
    /// Output directory: check.json and plots/envelope.
    #[arg(long, default_value = "out", help_heading = "Check")]
    pub out: PathBuf,
    /// Plot format.
    #[arg(long, value_enum, default_value = "svg", help_heading = "Check")]
    pub plots: PlotFormat,
}

impl ObjectiveArgs {
    /// Whether the objective's data is given (files or arrays) rather than generated.
    pub fn has_data(&self) -> bool {
        self.data.is_some() || self.arrays.is_some()
    }
}

/// `--data`'s files in order.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPaths(pub Vec<PathBuf>);

/// Splits `--data` at its commas, keeping together pieces that name an existing file: of the
/// pieces from each one on, the longest run that joins (with its commas) into a file is one
/// path (`my,A.csv,y.csv` with a file `my,A.csv`); a piece that starts no file stays alone.
pub fn data_paths(s: &str) -> Result<DataPaths, String> {
    let pieces: Vec<&str> = s.split(',').collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let end = (i + 1..=pieces.len()).rev().find(|&j| Path::new(&pieces[i..j].join(",")).is_file()).unwrap_or(i + 1);
        paths.push(PathBuf::from(pieces[i..end].join(",")));
        i = end;
    }
    if paths.iter().any(|p| p.as_os_str().is_empty()) {
        return Err("an empty file name (two commas in a row, or one at an end)".into());
    }
    Ok(DataPaths(paths))
}
