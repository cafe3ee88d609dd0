//! The `escapade` command line: a thin layer over the library.

use clap::{Args, Parser, Subcommand};
use escapade::{BackendChoice, Error, Experiment, Init, MethodKind, ObjectiveSpec, TheoryParams};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "escapade", version, about = "GPU ensembles of first-order optimizers escaping saddle points")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an ensemble and write DIR/summary.json and DIR/events.csv.
    Run(RunArgs),
    /// Print the GPU adapter escapade would use.
    Info,
}

#[derive(Args)]
#[command(allow_negative_numbers = true, args_override_self = true)]
struct RunArgs {
    /// Objective: toy-saddle, quartic or octopus.
    #[arg(long, default_value = "octopus")]
    objective: String,
    /// Dimension d (toy-saddle: 2).
    #[arg(long)]
    dim: Option<usize>,
    /// Quartic eigenvalues, comma separated (sets the dimension); default -1,1,...,1.
    #[arg(long, value_delimiter = ',')]
    eigenvalues: Option<Vec<f64>>,
    /// Octopus tau (default e).
    #[arg(long)]
    tau: Option<f64>,
    /// Octopus gamma (default 1).
    #[arg(long)]
    gamma: Option<f64>,
    /// Octopus L (default 1).
    #[arg(long = "L", alias = "octopus-l")]
    big_l: Option<f64>,
    /// Method: gd or pgd.
    #[arg(long, default_value = "pgd")]
    method: String,
    /// Number of chains.
    #[arg(long, default_value_t = 4096)]
    chains: u32,
    /// Step budget per chain.
    #[arg(long, default_value_t = 1000)]
    steps: u32,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Backend: auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Initial points: zero, normal:SIGMA, uniform:HALFWIDTH or ball:RADIUS.
    #[arg(long, default_value = "uniform:1")]
    init: String,
    /// Output directory.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Steps fused per GPU dispatch (default: chosen from the ensemble size).
    #[arg(long)]
    steps_per_dispatch: Option<u32>,
    /// Step size eta.
    #[arg(long)]
    eta: Option<f64>,
    /// Perturbation radius r.
    #[arg(long)]
    radius: Option<f64>,
    /// Stall threshold on the gradient norm.
    #[arg(long)]
    g_thres: Option<f64>,
    /// Escape threshold on the value drop.
    #[arg(long)]
    f_thres: Option<f64>,
    /// Minimum steps between perturbations.
    #[arg(long)]
    t_thres: Option<u32>,
    /// Certification window in steps (0 = off).
    #[arg(long)]
    certify: Option<u32>,
    #[command(flatten)]
    theory: TheoryArgs,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

/// Derive PGD's parameters from the theory (Jin et al. 2017) instead: give at least --l, --rho
/// and --eps. Explicit flags (--eta ...) still override the derived values.
#[derive(Args)]
struct TheoryArgs {
    /// Gradient-Lipschitz constant l.
    #[arg(long = "l")]
    l: Option<f64>,
    /// Hessian-Lipschitz constant rho.
    #[arg(long)]
    rho: Option<f64>,
    /// Target accuracy eps.
    #[arg(long)]
    eps: Option<f64>,
    /// Constant c in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    c: f64,
    /// Failure probability delta in (0, 1).
    #[arg(long, default_value_t = 0.1)]
    delta: f64,
    /// Df = f(x0) - f* (default: f(0) - f* of the objective).
    #[arg(long)]
    df: Option<f64>,
}

fn objective_spec(a: &RunArgs) -> Result<ObjectiveSpec, Error> {
    let dim = a.dim.or(a.eigenvalues.as_ref().map(Vec::len)).unwrap_or(if a.objective == "toy-saddle" { 2 } else { 5 });
    let mut spec = ObjectiveSpec::from_name(&a.objective, dim)?;
    match &mut spec {
        ObjectiveSpec::Quartic { eigenvalues } => {
            if let Some(e) = &a.eigenvalues {
                if e.len() != dim {
                    return Err(Error::invalid("eigenvalues", format!("{dim} values (one per dimension)"), e.len()));
                }
                *eigenvalues = e.clone();
            }
        }
        ObjectiveSpec::Octopus { tau, gamma, l, .. } => {
            *tau = a.tau.unwrap_or(*tau);
            *gamma = a.gamma.unwrap_or(*gamma);
            *l = a.big_l.unwrap_or(*l);
        }
        _ => {}
    }
    let misplaced = [
        ("eigenvalues", a.eigenvalues.is_some(), "quartic"),
        ("tau", a.tau.is_some(), "octopus"),
        ("gamma", a.gamma.is_some(), "octopus"),
        ("L", a.big_l.is_some(), "octopus"),
    ];
    if let Some((flag, _, only)) = misplaced.iter().find(|(_, set, only)| *set && *only != a.objective) {
        return Err(Error::invalid(*flag, format!("only with --objective {only}"), &a.objective));
    }
    Ok(spec)
}

fn experiment(a: &RunArgs) -> Result<Experiment, Error> {
    let objective = objective_spec(a)?.build()?;
    let mut params = objective.default_params();
    let t = &a.theory;
    if t.l.is_some() || t.rho.is_some() || t.eps.is_some() {
        let need = |field: &str, v: Option<f64>| v.ok_or_else(|| Error::invalid(field, "a number > 0 (--l, --rho and --eps go together)", "nothing"));
        let df = match t.df {
            Some(df) => df,
            None => {
                let mut g = vec![0.0; objective.dim()];
                let f0 = objective.eval_f64(&vec![0.0; objective.dim()], &mut g).value;
                f0 - objective.f_min().unwrap_or(f0 - 1.0)
            }
        };
        params = TheoryParams { l: need("l", t.l)?, rho: need("rho", t.rho)?, eps: need("eps", t.eps)?, c: t.c, delta: t.delta, df }
            .derive(objective.dim())?;
    }
    params.eta = a.eta.unwrap_or(params.eta);
    params.radius = a.radius.unwrap_or(params.radius);
    params.g_thres = a.g_thres.unwrap_or(params.g_thres);
    params.f_thres = a.f_thres.unwrap_or(params.f_thres);
    params.t_thres = a.t_thres.unwrap_or(params.t_thres);
    params.certify = a.certify.unwrap_or(params.certify);
    let mut b = Experiment::builder(objective)
        .method(MethodKind::from_name(&a.method)?)
        .params(params)
        .chains(a.chains)
        .steps(a.steps)
        .seed(a.seed)
        .init(Init::parse(&a.init)?);
    if let Some(k) = a.steps_per_dispatch {
        b = b.steps_per_dispatch(k);
    }
    b.build()
}

fn run(a: &RunArgs) -> Result<(), (Error, u8)> {
    let input = |e| (e, 2u8);
    let exp = experiment(a).map_err(input)?;
    let backend = BackendChoice::from_name(&a.backend).map_err(input)?;
    let quiet = a.quiet;
    let mut last = std::time::Instant::now();
    let report = exp
        .run_with(backend, &mut |p| {
            if !quiet && last.elapsed().as_secs_f64() > 1.0 {
                last = std::time::Instant::now();
                eprintln!(
                    "  step {}/{} | chains done {} | running {} | certified {} | diverged {} | events {}",
                    p.t_end, p.steps, p.chains_done, p.running, p.certified, p.diverged, p.events
                );
            }
        })
        .map_err(|e| (e, 1))?;
    report.write(&a.out).map_err(|e| (e, 1))?;
    if !quiet {
        println!("{}", report.human_summary());
        println!("wrote {}/summary.json and {}/events.csv", a.out.display(), a.out.display());
    }
    Ok(())
}

fn info() -> Result<(), (Error, u8)> {
    let engine = escapade::GpuEngine::new().map_err(|e| (e, 1))?;
    let ctx = engine.context();
    if let Some(a) = &ctx.adapter {
        println!("adapter: {}\nbackend: {}\ndevice type: {}\ndriver: {}", a.name, a.backend, a.device_type, a.driver);
    }
    let l = ctx.device.limits();
    println!("max storage binding: {} MiB", l.max_storage_buffer_binding_size >> 20);
    println!("max buffer size: {} MiB", l.max_buffer_size >> 20);
    println!("max workgroups per dimension: {}", l.max_compute_workgroups_per_dimension);
    println!("max invocations per workgroup: {}", l.max_compute_invocations_per_workgroup);
    println!("shader-f16: {}", ctx.device.features().contains(wgpu::Features::SHADER_F16));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(a) => run(a),
        Command::Info => info(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((e, code)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}
