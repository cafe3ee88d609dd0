//! Subcommands: run, sweep, report, compare, list, info. Usage errors exit with status 2, runtime
//! failures with 1.

mod args;
mod commands;
mod list;
mod progress;
mod toml_args;

use args::RunArgs;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use escapade::Error;
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
    /// Run an ensemble: OUT/summary.json, events.csv, chains.csv, experiment.toml and plots.
    /// An experiment file (`escapade run exp.toml`) gives any of these flags as keys; flags typed
    /// after it override its values.
    Run {
        /// Experiment file (TOML); its keys are this command's flag names.
        #[arg(value_name = "EXPERIMENT.toml")]
        experiment: Option<PathBuf>,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Run a grid of experiments (cartesian product of every --grid) into one table.
    Sweep(SweepArgs),
    /// Recompute statistics and plots from a saved run directory.
    Report {
        /// The run's output directory.
        dir: PathBuf,
        /// Plot format: svg, png or none.
        #[arg(long, default_value = "svg")]
        plots: String,
    },
    /// Compare saved runs: a side-by-side table and overlaid survival curves.
    Compare {
        /// Run directories.
        #[arg(required = true, num_args = 2..)]
        dirs: Vec<PathBuf>,
        /// Where the overlay plot goes.
        #[arg(long, default_value = "compare")]
        out: PathBuf,
        /// Plot format: svg, png or none.
        #[arg(long, default_value = "svg")]
        plots: String,
    },
    /// Is the objective self-bounding? Samples points (descents from several scales, plus a
    /// run's visited points), fits the envelope rho1_hat(F) = max ||Hess f|| over f <= F, and
    /// gives a verdict with evidence. Takes run's objective flags.
    Check {
        #[command(flatten)]
        args: RunArgs,
        /// Also use the visited points of this run directory (its trace.csv).
        #[arg(long)]
        from_run: Option<PathBuf>,
        /// Descents per start scale.
        #[arg(long, default_value_t = 8)]
        starts: u32,
        /// Steps per descent.
        #[arg(long, default_value_t = 300)]
        descent_steps: u32,
    },
    /// List the objectives and methods with their parameters, defaults and ranges.
    List,
    /// Print the GPU adapter escapade would use.
    Info,
}

/// Flags of `escapade sweep`.
#[derive(Args)]
pub struct SweepArgs {
    /// Experiment file (TOML) the grid varies.
    #[arg(value_name = "EXPERIMENT.toml")]
    experiment: PathBuf,
    /// KEY=V1,V2,...: one axis of the grid (KEY is a `run` flag name); repeat for more axes.
    #[arg(long, required = true)]
    grid: Vec<String>,
    /// Output directory: one subdirectory per grid point, and sweep.csv.
    #[arg(long, default_value = "sweep")]
    out: PathBuf,
    /// Backend override for every point.
    #[arg(long)]
    backend: Option<String>,
    /// Print only the table.
    #[arg(long)]
    quiet: bool,
}

/// Flags of `run` that are switches (present or absent) in experiment files.
const SWITCHES: [&str; 2] = ["quiet", "resume"];

/// Replaces `run EXPERIMENT.toml` in argv by the file's flags (typed flags come after them and so
/// override them).
fn expand_experiment_file(argv: &mut Vec<String>) -> Result<(), Error> {
    if argv.get(1).map(String::as_str) != Some("run") {
        return Ok(());
    }
    if !argv.get(2).is_some_and(|a| a.ends_with(".toml") && !a.starts_with('-')) {
        return Ok(());
    }
    let path = PathBuf::from(argv.remove(2));
    let cmd = Cli::command();
    let run = cmd.find_subcommand("run").map(toml_args::flag_names).unwrap_or_default();
    let flags = toml_args::file_to_flags(&path, &run, &SWITCHES)?;
    argv.splice(2..2, flags);
    Ok(())
}

/// Entry point.
pub fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    if let Err(e) = expand_experiment_file(&mut argv) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let matches = match Cli::command().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => e.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match &cli.command {
        Command::Run { args, .. } => {
            let sub = matches.subcommand_matches("run").cloned().unwrap_or_default();
            commands::run(args, &sub, &mut commands::Engines::default()).map(|_| ())
        }
        Command::Sweep(s) => commands::sweep(s),
        Command::Report { dir, plots } => commands::report(dir, plots),
        Command::Check { args, from_run, starts, descent_steps } => commands::check(args, from_run.as_deref(), *starts, *descent_steps),
        Command::Compare { dirs, out, plots } => commands::compare(dirs, out, plots),
        Command::List => {
            print!("{}", list::text());
            Ok(())
        }
        Command::Info => commands::info(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((e, code)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}
