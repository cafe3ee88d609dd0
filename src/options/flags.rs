//! The objective flags as clap arguments, made from the catalogue's rows
//! ([`crate::objective::catalogue`]): a new objective's flags are parsed, listed in `--help`,
//! accepted as experiment-file keys and Python keywords without a line here.

use crate::objective::catalogue::{self, Flag, Kind, Value};
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use std::collections::BTreeMap;

/// The objective flags given, by name (absent flags are not in the map).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectiveFlags(pub BTreeMap<String, Value>);

/// The clap argument of a catalogue flag, as the derive would write it for a field of its type
/// (`Option<f64>`, `Option<Vec<f64>>` with commas, `bool`, ...).
fn arg(f: &Flag) -> Arg {
    let value_name = f.value_name.map_or_else(|| f.name.to_uppercase().replace('-', "_"), str::to_string);
    let mut a = Arg::new(f.name).long(f.name).help(f.help).value_name(value_name);
    if let Some(alias) = f.alias {
        a = a.alias(alias);
    }
    match f.kind {
        Kind::Number => a.value_parser(clap::value_parser!(f64)),
        Kind::Count => a.value_parser(clap::value_parser!(usize)),
        Kind::Numbers => a.value_parser(clap::value_parser!(f64)).action(ArgAction::Append).value_delimiter(',').allow_hyphen_values(true),
        Kind::Counts => a.value_parser(clap::value_parser!(usize)).action(ArgAction::Append).value_delimiter(','),
        Kind::Choice(words) => a.value_parser(PossibleValuesParser::new(words)),
        Kind::Switch => a.action(ArgAction::SetTrue),
        Kind::Text => a.allow_hyphen_values(true),
    }
}

impl FromArgMatches for ObjectiveFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut values = BTreeMap::new();
        for f in catalogue::flags() {
            let v = match f.kind {
                Kind::Number => m.get_one::<f64>(f.name).copied().map(Value::Number),
                Kind::Count => m.get_one::<usize>(f.name).copied().map(Value::Count),
                Kind::Numbers => m.get_many::<f64>(f.name).map(|v| Value::Numbers(v.copied().collect())),
                Kind::Counts => m.get_many::<usize>(f.name).map(|v| Value::Counts(v.copied().collect())),
                Kind::Choice(_) => m.get_one::<String>(f.name).cloned().map(Value::Word),
                Kind::Switch => m.get_flag(f.name).then_some(Value::On),
                Kind::Text => m.get_one::<String>(f.name).cloned().map(Value::Text),
            };
            if let Some(v) = v {
                values.insert(f.name.to_string(), v);
            }
        }
        Ok(ObjectiveFlags(values))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for ObjectiveFlags {
    fn augment_args(cmd: Command) -> Command {
        catalogue::flags().into_iter().fold(cmd, |cmd, f| cmd.arg(arg(f)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl ObjectiveFlags {
    /// Whether the flag `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}
