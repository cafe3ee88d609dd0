//! The `escapade` command line. Subcommands: run, sweep, tune, report, compare, check, list, info.
//! Errors print one line and exit with [`Error::exit_code`]: 2 for bad input, 1 for runtime
//! failures; a run stopped at a violation of the bounds (`--on-violation stop`) writes its
//! results and exits with 3. In the library so that the binary and embedders (Python's `escapade` command) run
//! the one command line.

mod commands;
mod grid;
mod list;
mod points;
pub mod process;
mod progress;
mod tune;

pub use list::text as list_text;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use escapade::Error;
use escapade::options::{CheckArgs, PlotFormat, RunArgs, SWITCHES, invalid_value, one_line};
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
        /// Experiment file (TOML, anywhere among the arguments, or --config FILE); its keys are
        /// this command's flag names.
        #[arg(value_name = "EXPERIMENT.toml")]
        experiment: Option<PathBuf>,
        // Boxed: the run flags are many, and clap's enum would otherwise be as large as they.
        #[command(flatten)]
        args: Box<RunArgs>,
    },
    /// Run a grid of experiments (cartesian product of every --grid) into one table.
    Sweep(SweepArgs),
    /// Choose perturbation radius, clipping threshold, step size (any numeric option) by
    /// successive halving on escape statistics with bootstrap confidence: OUT/tune.csv,
    /// best.toml, tune.json and plots; the theory's choices run alongside.
    Tune(Box<tune::TuneArgs>),
    /// Recompute statistics and plots from a saved run directory.
    Report {
        /// The run's output directory.
        dir: PathBuf,
        /// Plot format.
        #[arg(long, value_enum, default_value = "svg")]
        plots: PlotFormat,
        /// Also export the saddle stalls for another tool: `ioh` writes DIR/ioh/, an
        /// IOHprofiler data set IOHanalyzer reads.
        #[arg(long, value_enum)]
        export: Option<Export>,
    },
    /// Combine the outputs of `run --shard I/N` (all N of them) into the whole run's chains.csv,
    /// events.csv and statistics.
    Merge {
        /// The shards' output directories.
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Where the merged run goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare saved runs: a side-by-side table and overlaid survival curves.
    Compare {
        /// Run directories.
        #[arg(required = true, num_args = 2..)]
        dirs: Vec<PathBuf>,
        /// Where the overlay plot goes.
        #[arg(long, default_value = "compare")]
        out: PathBuf,
        /// Plot format.
        #[arg(long, value_enum, default_value = "svg")]
        plots: PlotFormat,
        /// Also export the runs' saddle stalls: `ioh` writes OUT/ioh/, each run an IOHprofiler
        /// algorithm.
        #[arg(long, value_enum)]
        export: Option<Export>,
    },
    /// Is the objective self-bounding? Samples points (descents from several scales, plus a
    /// run's visited points), fits the envelope rho1_hat(F) = max ||Hess f|| over f <= F, and
    /// gives a verdict with evidence. Takes run's objective flags.
    Check(Box<CheckArgs>),
    /// List the objectives and methods with their parameters, defaults and ranges.
    List,
    /// Print the GPU adapter escapade would use, and every adapter by index (for `--devices`).
    Info,
}

/// `--export` of `report` and `compare`.
// Plain comments on the variants: clap would print doc comments in --help.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Export {
    // IOHprofiler's .info/.dat files (report::ioh).
    Ioh,
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
    #[allow(missing_docs)]
    #[command(flatten)]
    batch: points::BatchArgs,
}

/// Replaces the experiment file of `run` in argv by the file's flags, put right after `run` so
/// that typed flags override them. The file is `--config FILE` (or `--config=FILE`), or any
/// argument ending in `.toml` (any case) that is not a flag's value; there is at most one.
fn expand_experiment_file(argv: &mut Vec<String>) -> Result<(), Error> {
    if argv.get(1).map(String::as_str) != Some("run") {
        return Ok(());
    }
    if (2..argv.len()).any(|i| argv[i] == "--config" && argv.get(i + 1).is_none_or(|v| v.starts_with("--"))) {
        return Err(Error::invalid("config", "--config FILE (a TOML experiment file)", "no file"));
    }
    let takes_value = |a: &str| a.starts_with("--") && !a.contains('=') && !SWITCHES.contains(&&a[2..]) && a != "--config";
    let candidates: Vec<usize> = (2..argv.len())
        .filter(|&i| {
            let a = &argv[i];
            let config = argv[i - 1] == "--config" || a.starts_with("--config=");
            let toml = a.to_lowercase().ends_with(".toml") && !a.starts_with('-') && (i == 2 || !takes_value(&argv[i - 1]));
            config || (toml && argv[i - 1] != "--config")
        })
        .collect();
    let Some(&at) = candidates.first() else { return Ok(()) };
    if let Some(&second) = candidates.get(1) {
        let name = argv[second].trim_start_matches("--config=");
        return Err(Error::invalid("experiment", format!("one experiment file ({} is the first)", argv[at].trim_start_matches("--config=")), name));
    }
    let arg = argv.remove(at);
    let path = PathBuf::from(arg.strip_prefix("--config=").unwrap_or(&arg));
    if at > 2 && argv[at - 1] == "--config" {
        argv.remove(at - 1);
    }
    let cmd = Cli::command();
    let run = cmd.find_subcommand("run").map(escapade::options::flag_names).unwrap_or_default();
    let flags = escapade::options::file_to_flags(&path, &run, &SWITCHES)?;
    argv.splice(2..2, flags);
    Ok(())
}

/// [`escapade::options::join_dashed_values`] for the subcommand `argv` names.
fn join_dashed_values(argv: &[String]) -> Vec<String> {
    let cmd = Cli::command();
    match argv.get(1).and_then(|name| cmd.find_subcommand(name)) {
        Some(sub) => escapade::options::join_dashed_values(sub, argv),
        None => argv.to_vec(),
    }
}

fn fail(e: &Error) -> u8 {
    eprintln!("error: {e}");
    u8::try_from(e.exit_code()).unwrap_or(1)
}

/// Entry point of the binary: the process's arguments.
pub fn main() -> ExitCode {
    ExitCode::from(main_with(std::env::args().collect()))
}

/// Runs the command line `argv` (the program's name first) and returns its exit status; prints
/// as the binary prints. `--help` and `--version` print and end the process (status 0).
pub fn main_with(mut argv: Vec<String>) -> u8 {
    if let Err(e) = expand_experiment_file(&mut argv) {
        return fail(&e);
    }
    let argv = join_dashed_values(&argv);
    let sub = argv.get(1).filter(|s| Cli::command().find_subcommand(s.as_str()).is_some()).cloned();
    let parse_error = |e: clap::Error| match invalid_value(&e) {
        Some(e) => fail(&e),
        // Unknown flags, malformed numbers, missing values: clap's words in one line, status 2.
        None if e.use_stderr() => {
            eprintln!("{}", one_line(&e, sub.as_deref()));
            2
        }
        // --help and --version: clap prints them, status 0.
        None => e.exit(),
    };
    let matches = match Cli::command().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return parse_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return parse_error(e),
    };
    let result = match &cli.command {
        Command::Run { experiment: Some(path), .. } => {
            // What expand_experiment_file did not read as an experiment file is never ignored.
            Err(Error::invalid("experiment", "a TOML file (a name ending in .toml, or --config FILE)", path.display()))
        }
        Command::Run { args, .. } => {
            let sub = matches.subcommand_matches("run").cloned().unwrap_or_default();
            // A run stopped at a violation (--on-violation stop) wrote its results: status 3.
            match commands::run(args, &sub, &mut escapade::options::Engines::default()) {
                Ok(report) if report.raw.stopped.is_some() => return 3,
                r => r.map(|_| ()),
            }
        }
        Command::Sweep(s) => commands::sweep(s),
        Command::Tune(t) => tune::tune(t),
        Command::Report { dir, plots, export } => commands::report(dir, *plots, *export),
        Command::Check(args) => commands::check(args),
        Command::Compare { dirs, out, plots, export } => commands::compare(dirs, out, *plots, *export),
        Command::Merge { dirs, out } => commands::merge(dirs, out),
        Command::List => {
            print!("{}", list::text());
            Ok(())
        }
        Command::Info => commands::info(),
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// `escapade tune` for embedders: `argv` is the command line (the program's name, `tune`, its
/// flags); it prints as the command does but returns the typed error instead of printing it
/// (Python's `escapade.tune` raises it).
pub fn tune_with(argv: Vec<String>) -> Result<(), Error> {
    let argv = join_dashed_values(&argv);
    let refused = |e: clap::Error| invalid_value(&e).unwrap_or_else(|| Error::Usage(one_line(&e, Some("tune"))));
    let matches = Cli::command().try_get_matches_from(&argv).map_err(refused)?;
    match Cli::from_arg_matches(&matches).map_err(refused)?.command {
        Command::Tune(t) => tune::tune(&t),
        _ => Err(Error::invalid("command", "tune", argv.get(1).cloned().unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parser_errors_on_fixed_choices_name_the_flag() {
        let e = Cli::command().try_get_matches_from(["escapade", "run", "--step-rule", "adaptive"]).err().unwrap();
        let e = escapade::options::invalid_value(&e).unwrap();
        assert_eq!(e.to_string(), "invalid step-rule: got adaptive, allowed: one of fixed, self-bounding");
        assert_eq!(e.exit_code(), 2);
        // Numbers clap refuses name the flag too, with what is allowed.
        let e = Cli::command().try_get_matches_from(["escapade", "run", "--chains", "many"]).err().unwrap();
        assert_eq!(escapade::options::invalid_value(&e).unwrap().to_string(), "invalid chains: got many, allowed: an integer");
        // A flag's own parser's reason is not an "allowed": clap's line stays.
        let e = Cli::command().try_get_matches_from(["escapade", "run", "--objective", "phase-retrieval", "--data", ""]).err().unwrap();
        assert!(escapade::options::invalid_value(&e).is_none());
    }
}
