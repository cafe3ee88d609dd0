//! The runs of `sweep` and `tune`: an experiment file's flags with some values changed, each
//! parsed and checked as `run` would before any of them runs, then run, resumed or read back.

use super::Cli;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};
use escapade::options::{BackendArg, Engines, RunArgs, device_indices};
use escapade::report::files::SavedRun;
use escapade::{Error, Experiment};
use std::path::Path;

/// The flags `sweep` and `tune` share: how their runs run and what happens to runs already there.
#[derive(Args)]
pub struct BatchArgs {
    /// Backend override for every run.
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Devices override for every run (see `run --devices`).
    #[arg(long, value_name = "all|I,J,...")]
    pub devices: Option<String>,
    /// Print only the outcome (the table, the choice).
    #[arg(long)]
    pub quiet: bool,
    /// Replace the runs already in OUT (only the files escapade wrote there).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue: a finished run is read back (after checking it is this run's experiment), an
    /// interrupted one resumed from its checkpoint, the rest run afresh.
    #[arg(long)]
    pub resume: bool,
}

impl BatchArgs {
    /// The runs' shared settings over the experiment file's flags `base`; errors name `field`.
    pub fn common<'a>(&'a self, base: &'a [String], field: &'static str) -> Common<'a> {
        Common { base, resume: self.resume, force: self.force, backend: self.backend, devices: self.devices.as_deref(), field }
    }
}

/// What every run of a sweep or tune shares.
pub struct Common<'a> {
    /// The experiment file's flags.
    pub base: &'a [String],
    /// Read back finished runs, resume interrupted ones.
    pub resume: bool,
    /// Replace runs already in the directories.
    pub force: bool,
    /// Backend override.
    pub backend: Option<BackendArg>,
    /// Devices override.
    pub devices: Option<&'a str>,
    /// Where each run's errors are said to come from (`grid`, `tune`).
    pub field: &'static str,
}

/// One run, parsed and checked.
pub struct Planned {
    /// Its flags.
    pub args: RunArgs,
    /// As clap matched them (for experiment.toml).
    pub sub: ArgMatches,
    /// The experiment they describe.
    pub experiment: Experiment,
    /// The finished run already in its directory (with `resume`), checked to be this one.
    pub saved: Option<SavedRun>,
}

/// A `run` command line the parser refused, as an error naming the flag.
fn parse_error(field: &'static str) -> impl Fn(clap::Error) -> Error {
    move |e| {
        escapade::options::invalid_value(&e).unwrap_or_else(|| {
            let first = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
            Error::invalid(field, "values the run flags accept", first)
        })
    }
}

/// Plans the run of `common.base` with `point`'s values and `extra` flags into `dir`; `tag`
/// names the point in errors. Nothing runs and nothing is written.
pub fn plan(common: &Common, point: &[(String, String)], extra: &[String], dir: &Path, tag: &str) -> Result<Planned, Error> {
    let mut argv: Vec<String> = vec!["escapade".into(), "run".into()];
    argv.extend(common.base.iter().cloned());
    // One argument per value: a value starting with '-' stays the flag's, and a switch refuses it.
    argv.extend(point.iter().map(|(k, v)| format!("--{k}={v}")));
    argv.extend(extra.iter().cloned());
    argv.extend(["--out".into(), dir.display().to_string(), "--quiet".into()]);
    let finished = common.resume && dir.join("summary.json").symlink_metadata().is_ok();
    if common.force {
        argv.push("--force".into());
    } else if common.resume && !finished && dir.join("checkpoint").symlink_metadata().is_ok() {
        argv.push("--resume".into());
    }
    if let Some(b) = common.backend {
        argv.extend(["--backend".into(), b.name().into()]);
    }
    if let Some(d) = common.devices {
        argv.extend(["--devices".into(), d.to_string()]);
    }
    let matches = Cli::command().try_get_matches_from(&argv).map_err(parse_error(common.field))?;
    let sub = matches.subcommand_matches("run").cloned().unwrap_or_default();
    let args = RunArgs::from_arg_matches(&sub).map_err(parse_error(common.field))?;
    let accepted = |e| Error::invalid(common.field, format!("values every run accepts ({tag})"), e);
    // Every check `run` makes before it needs an engine or the directory.
    let experiment = escapade::options::check(&args).map_err(accepted)?;
    args.devices.as_deref().map(|d| device_indices(d, args.backend.choice())).transpose().map_err(accepted)?;
    // A finished run is this point's, or the whole command stops before running any.
    let saved = if finished {
        let saved = SavedRun::load(dir)?;
        saved.check_is(&experiment)?;
        Some(saved)
    } else {
        None
    };
    Ok(Planned { args, sub, experiment, saved })
}

/// Runs a planned run (or gives back the finished one): the run and "done" or "read back".
pub fn execute(p: Planned, engines: &mut Engines) -> Result<(SavedRun, &'static str), Error> {
    match p.saved {
        Some(saved) => Ok((saved, "read back")),
        None => Ok((super::commands::run(&p.args, &p.sub, engines)?.as_saved(&p.args.out), "done")),
    }
}
