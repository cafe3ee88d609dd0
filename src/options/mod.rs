//! The run options as the command line spells them: `escapade run`'s flags, an experiment file's
//! keys, or an embedder's table of options (Python's keyword arguments) are one set of names,
//! parsed by one parser and turned into a checked [`Experiment`] by one function, so that every
//! front end accepts the same options and words bad input the same way.
//!
//! ```no_run
//! use escapade::options::RunOptions;
//! let table: toml::Table = "objective = \"octopus\"\ndim = 5\nchains = 64\nbackend = \"cpu\"".parse().unwrap();
//! let opts = RunOptions::from_table(&table, "my table")?;
//! let exp = opts.experiment()?;
//! # Ok::<(), escapade::Error>(())
//! ```

mod args;
mod build;
mod flags;
mod session;
mod table;

pub use args::{BackendArg, CheckArgs, MonitorArg, ObjectiveArgs, OnViolation, PerturbArg, SafeguardArg, PlotFormat, ProgressMode, RunArgs, StateArg, StepRuleArg, TheoryArgs};
pub use build::{experiment, objective};
pub use flags::ObjectiveFlags;
pub use session::{Engines, InputFile, Plan, check, device_indices, remove_run, save, save_with_inputs};
pub use table::{file_to_flags, flag_names, matches_to_table, matches_to_toml, read_table, table_to_flags, toml_document};

use crate::objective::catalogue::{self, Kind};
use crate::{Error, Experiment};
use clap::{Args, Command, FromArgMatches};
use std::sync::LazyLock;

/// Flags of `run` that are switches (present or absent; booleans in experiment files): its own,
/// and the objective flags the catalogue makes switches (`raw-features`).
pub static SWITCHES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let objective = catalogue::flags().into_iter().filter(|f| f.kind == Kind::Switch).map(|f| f.name);
    ["quiet", "save-points", "resume", "resume-anyway", "force"].into_iter().chain(objective).collect()
});

/// Options of `run` that DIR/experiment.toml leaves out: the experiment file itself, and where
/// and how to write (--out, --force, --resume, --resume-anyway), which a rerun must not inherit:
/// `escapade run DIR/experiment.toml` replaced the very run it came from.
pub const NOT_RECORDED: [&str; 5] = ["experiment", "resume", "resume-anyway", "force", "out"];

/// Joins a value that starts with `-` but is not a number clap recognizes (`--eta -inf`,
/// `--shard -1/2`) to its flag (`--eta=-inf`), so that the flag's own check names it instead of
/// clap reporting an unknown short flag. `sub` is the subcommand the flags belong to; they have
/// no short flags but `-h`, and negative numbers parse the same either way.
pub fn join_dashed_values(sub: &Command, argv: &[String]) -> Vec<String> {
    let takes_value = |flag: &str| {
        flag.strip_prefix("--").is_some_and(|long| sub.get_arguments().any(|a| a.get_long() == Some(long) && a.get_action().takes_values()))
    };
    let mut out: Vec<String> = Vec::with_capacity(argv.len());
    for a in argv.iter() {
        let dashed = a.starts_with('-') && !a.starts_with("--") && a.len() > 1 && a != "-h";
        match out.last_mut() {
            Some(prev) if dashed && takes_value(prev) => *prev = format!("{prev}={a}"),
            _ => out.push(a.clone()),
        }
    }
    out
}

/// A parser error about a flag with a fixed set of values (`--backend tpu`), as the library
/// words bad input: one line naming the flag and what it allows. `None` for other parser errors.
pub fn invalid_value(e: &clap::Error) -> Option<Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::ValueValidation {
        return out_of_range(e);
    }
    if e.kind() != ErrorKind::InvalidValue {
        return None;
    }
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(got)), Some(ContextValue::Strings(valid))) =
        (e.get(ContextKind::InvalidArg), e.get(ContextKind::InvalidValue), e.get(ContextKind::ValidValue))
    else {
        return None;
    };
    // A missing value (`--chains` last) has no list of values: clap's own line says so.
    if valid.is_empty() {
        return None;
    }
    // "--backend <BACKEND>" -> "backend"
    let field = arg.trim_start_matches('-').split([' ', '=']).next().unwrap_or(arg);
    let got = if got.is_empty() { "an empty value" } else { got.as_str() };
    Some(Error::invalid(field, format!("one of {}", valid.join(", ")), got))
}

/// A number clap refused (`--chains -5`, `--steps x`), as the library words bad input: one line
/// naming the flag (as Python's keyword would be, without dashes), the value and what is allowed
/// (`an integer from 0 to 4294967295` for clap's `0..=4294967295`). `None` without the context.
fn out_of_range(e: &clap::Error) -> Option<Error> {
    use clap::error::{ContextKind, ContextValue};
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(got))) = (e.get(ContextKind::InvalidArg), e.get(ContextKind::InvalidValue)) else {
        return None;
    };
    let field = arg.trim_start_matches('-').split([' ', '=']).next().unwrap_or(arg);
    let reason = std::error::Error::source(e).map(|r| r.to_string()).unwrap_or_default();
    let allowed = match reason.rsplit_once(" is not in ").and_then(|(_, range)| range.split_once("..=")) {
        Some((lo, hi)) => format!("an integer from {lo} to {hi}"),
        None if reason.contains("invalid digit") && got.starts_with('-') => "an integer >= 0".to_string(),
        None if reason.contains("invalid digit") => "an integer".to_string(),
        None if reason.contains("invalid float") || reason.contains("empty string") => "a number".to_string(),
        // A reason of the flag's own parser (what is wrong, not what is allowed): clap's line.
        None => return None,
    };
    Some(Error::invalid(field, allowed, if got.is_empty() { "an empty value" } else { got.as_str() }))
}

/// Any other parser error as one line, the contract for bad input: clap's first paragraph (what
/// is wrong) with its tip, and where the allowed flags are listed (`escapade SUB --help`); the
/// usage block is left out.
pub fn one_line(e: &clap::Error, sub: Option<&str>) -> String {
    let text = e.render().to_string();
    let mut paragraphs = text.split("\n\n").map(|p| p.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "));
    let mut line = paragraphs.next().unwrap_or_default();
    for p in paragraphs.filter(|p| p.starts_with("tip:")) {
        line += &format!(" ({p})");
    }
    let help = sub.map_or("escapade --help".to_string(), |s| format!("escapade {s} --help"));
    format!("{line}; {help} lists what is allowed")
}

/// A parser error as the library's error: [`invalid_value`]'s line, else [`one_line`]'s
/// ([`Error::Usage`]).
pub fn parse_error(e: &clap::Error, sub: Option<&str>) -> Error {
    invalid_value(e).unwrap_or_else(|| Error::Usage(one_line(e, sub).trim_start_matches("error: ").to_string()))
}

/// `escapade run`'s options, parsed and with what was given (for DIR/experiment.toml).
pub struct RunOptions {
    /// The options.
    pub args: RunArgs,
    /// What the parser saw, defaults included.
    pub matches: clap::ArgMatches,
}

impl RunOptions {
    /// The `run` subcommand's flags, as the command line defines them.
    pub fn command() -> Command {
        RunArgs::augment_args(Command::new("run"))
    }

    /// The long names of `run`'s flags: the keys an experiment file or table may use.
    pub fn flag_names() -> Vec<String> {
        flag_names(&Self::command())
    }

    /// Parses `run`'s flags (`["--chains", "64", ...]`) as the command line does, bad input worded
    /// as it words it.
    pub fn from_flags(flags: &[String]) -> Result<Self, Error> {
        let cmd = Command::new("escapade").subcommand(Self::command());
        let argv: Vec<String> = ["escapade".to_string(), "run".to_string()].into_iter().chain(flags.iter().cloned()).collect();
        let argv = join_dashed_values(&Self::command(), &argv);
        let m = cmd.try_get_matches_from(&argv).map_err(|e| parse_error(&e, Some("run")))?;
        let matches = m.subcommand_matches("run").cloned().unwrap_or_default();
        let args = RunArgs::from_arg_matches(&matches).map_err(|e| parse_error(&e, Some("run")))?;
        Ok(RunOptions { args, matches })
    }

    /// Parses a table of options (keys: flag names, kebab-case or snake_case) as an experiment
    /// file's; `origin` names the table in errors.
    pub fn from_table(table: &toml::Table, origin: &str) -> Result<Self, Error> {
        Self::from_flags(&table_to_flags(table, origin, &Self::flag_names(), &SWITCHES)?)
    }

    /// The checked experiment the options describe.
    pub fn experiment(&self) -> Result<Experiment, Error> {
        experiment(&self.args)
    }

    /// The options as DIR/experiment.toml records them (defaults included, the objective's
    /// method parameters too: [`experiment_toml`]). Options that build no experiment (checked
    /// options always do) are recorded as given.
    pub fn to_toml(&self) -> String {
        match self.experiment() {
            Ok(exp) => experiment_toml(&self.matches, &exp),
            Err(_) => matches_to_toml(&Self::command(), &self.matches, &NOT_RECORDED),
        }
    }
}

/// The method parameters that an objective supplies when their flags are not given
/// (`Objective::default_params`): flag name and value.
fn default_params(exp: &Experiment) -> [(&'static str, toml::Value); 6] {
    let p = &exp.method.params;
    let int = |v: u32| toml::Value::Integer(i64::from(v));
    [
        ("eta", toml::Value::Float(p.eta)),
        ("radius", toml::Value::Float(p.radius)),
        ("g-thres", toml::Value::Float(p.g_thres)),
        ("f-thres", toml::Value::Float(p.f_thres)),
        ("t-thres", int(p.t_thres)),
        ("certify", int(p.certify)),
    ]
}

/// DIR/experiment.toml: every option of a parsed `run` (`matches`), defaults included, but
/// [`NOT_RECORDED`]; with the fixed step rule, also the method parameters `exp` took from its
/// objective's defaults (`eta`, `radius`, `g-thres`, `f-thres`, `t-thres`, `certify`), so the file
/// states the run fully. (With `--l/--rho/--eps` or the self-bounding rule they follow from
/// the options recorded: writing them would pin what those derive.)
pub fn experiment_toml(matches: &clap::ArgMatches, exp: &Experiment) -> String {
    let mut table = matches_to_table(&RunOptions::command(), matches, &NOT_RECORDED);
    let derived = ["l", "rho", "eps"].iter().any(|k| table.contains_key(*k));
    let fixed = table.get("step-rule").and_then(toml::Value::as_str).is_none_or(|r| r == "fixed");
    if fixed && !derived {
        for (key, value) in default_params(exp) {
            table.entry(key).or_insert(value);
        }
    }
    toml_document(&table)
}

#[cfg(test)]
mod tests {
    use super::{RunOptions, SWITCHES};

    /// The catalogue's flags sit beside `run`'s own without a clash (clap checks its rules only in
    /// debug builds: here on demand), and the switches are exactly the flags without a value.
    #[test]
    fn objective_flags_join_run_cleanly() {
        let cmd = RunOptions::command();
        cmd.clone().debug_assert();
        let mut switches: Vec<&str> = cmd.get_arguments().filter(|a| !a.get_action().takes_values()).filter_map(|a| a.get_long()).filter(|l| *l != "help").collect();
        let mut listed = SWITCHES.clone();
        switches.sort_unstable();
        listed.sort_unstable();
        assert_eq!(switches, listed);
    }

    /// Objective flags parse as the derive parsed them: lists at commas (negative numbers too),
    /// words from their choices, switches, an alias; absent ones stay absent.
    #[test]
    fn objective_flags_parse_from_flags_and_tables() {
        use crate::objective::catalogue::Value;
        let flags = |s: &str| RunOptions::from_flags(&s.split_whitespace().map(str::to_string).collect::<Vec<_>>()).map(|o| o.args.obj.flags.0);
        let f = flags("--objective quartic --eigenvalues -1,2.5 --octopus-l 3 --layers 4,2 --raw-features --loss squared").unwrap();
        assert_eq!(f["eigenvalues"], Value::Numbers(vec![-1.0, 2.5]));
        assert_eq!(f["L"], Value::Number(3.0));
        assert_eq!(f["layers"], Value::Counts(vec![4, 2]));
        assert_eq!((&f["raw-features"], &f["loss"]), (&Value::On, &Value::Word("squared".into())));
        assert!(!f.contains_key("tau"));
        assert!(flags("--activation relu").is_err());
        let table: toml::Table = "objective = \"octopus\"\ntau = 2.0\nraw_features = false".parse().unwrap();
        let o = RunOptions::from_table(&table, "t").unwrap();
        assert_eq!(o.args.obj.flags.0.get("tau"), Some(&Value::Number(2.0)));
        assert!(!o.args.obj.flags.has("raw-features"));
        assert!(o.to_toml().contains("\ntau = 2\n"), "{}", o.to_toml());
    }
}
