//! Experiments as TOML files. A file's keys are `run`'s long flag names (kebab-case or
//! snake_case); the file is turned into flags placed before those typed on the command line, so
//! typed flags override file values. Unknown keys are errors naming the key. The inverse, writing
//! the options a run used as TOML, makes DIR/experiment.toml a complete record of the run.

use crate::Error;
use clap::{ArgMatches, Command};
use std::path::Path;

/// Long names of the flags `cmd` accepts.
pub fn flag_names(cmd: &Command) -> Vec<String> {
    cmd.get_arguments().filter_map(|a| a.get_long().map(str::to_string)).collect()
}

fn scalar(key: &str, v: &toml::Value) -> Result<String, Error> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => Ok(items.iter().map(|i| scalar(key, i)).collect::<Result<Vec<_>, _>>()?.join(",")),
        toml::Value::Datetime(d) => Err(Error::invalid(key, "a string, number, boolean or array", format!("a date-time {d} (quote it to pass it as text)"))),
        toml::Value::Table(_) => Err(Error::invalid(key, "a string, number, boolean or array", "a table")),
    }
}

/// Keys an experiment file may not hold: what to do with a run already in the output directory
/// is the command line's call each time (a file with `force = true` replaced runs silently,
/// and rerunning a recorded one replaced its own).
const COMMAND_LINE_ONLY: [&str; 3] = ["force", "resume", "resume-anyway"];

/// The flags a TOML experiment file stands for, checked against `run`'s flags (`known`).
pub fn file_to_flags(path: &Path, known: &[String], switches: &[&str]) -> Result<Vec<String>, Error> {
    let table = read_table(path)?;
    if let Some(key) = table.keys().find(|k| COMMAND_LINE_ONLY.contains(&k.replace('_', "-").as_str())) {
        let flag = key.replace('_', "-");
        return Err(Error::invalid(format!("{} key {key}", path.display()), format!("no {flag} in a file: pass --{flag} on the command line"), "a file key"));
    }
    table_to_flags(&table, &path.display().to_string(), known, switches)
}

/// A TOML experiment file's table; a syntax error names the file, line and column.
pub fn read_table(path: &Path) -> Result<toml::Table, Error> {
    let text = crate::error::read_regular_text(path)?;
    text.parse().map_err(|e: toml::de::Error| {
        // Where: line and column of the error's first byte.
        let place = e.span().map_or(String::new(), |s| {
            let before = text.get(..s.start).unwrap_or(&text);
            format!(" line {} column {}", before.matches('\n').count() + 1, before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1)
        });
        Error::invalid(format!("{}{place}", path.display()), "a TOML experiment file", e.message().trim().replace('\n', " "))
    })
}

/// The flags a table of options stands for (an experiment file's, or an embedder's such as
/// Python's keyword arguments), checked against `run`'s flags (`known`); `origin` names the
/// table in errors. Keys are flag names, kebab-case or snake_case; `switches` take booleans.
pub fn table_to_flags(table: &toml::Table, origin: &str, known: &[String], switches: &[&str]) -> Result<Vec<String>, Error> {
    let mut flags = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        if let Some(other) = seen.insert(flag.clone(), key.clone()) {
            return Err(Error::invalid(format!("{origin} key {key:?}"), format!("each option once (it is also given as {other:?})"), "a second spelling"));
        }
        if !known.contains(&flag) {
            return Err(Error::invalid(format!("{origin} key {key:?}"), format!("one of: {}", known.join(", ")), "an unknown key"));
        }
        if switches.contains(&flag.as_str()) {
            match value {
                toml::Value::Boolean(true) => flags.push(format!("--{flag}")),
                toml::Value::Boolean(false) => {}
                other => return Err(Error::invalid(format!("{origin} key {key:?}"), "true or false", other)),
            }
        } else {
            let v = scalar(key, value)?;
            flags.push(format!("--{flag}"));
            flags.push(v);
        }
    }
    Ok(flags)
}

/// Every option of a parsed `run` (defaults included) as a TOML document.
pub fn matches_to_toml(cmd: &Command, m: &ArgMatches, skip: &[&str]) -> String {
    toml_document(&matches_to_table(cmd, m, skip))
}

/// An experiment file's text for `table`.
pub fn toml_document(table: &toml::Table) -> String {
    format!("# The options of this run; rerun with `escapade run experiment.toml`.\n{}", toml::to_string(table).unwrap_or_default())
}

/// [`matches_to_toml`]'s table.
pub fn matches_to_table(cmd: &Command, m: &ArgMatches, skip: &[&str]) -> toml::Table {
    let mut table = toml::Table::new();
    for arg in cmd.get_arguments() {
        let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else { continue };
        if skip.contains(&long) {
            continue;
        }
        let Some(raw) = m.get_raw(id) else { continue };
        let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
        if values.is_empty() {
            continue;
        }
        let joined = values.join(",");
        let value = if arg.get_action().takes_values() {
            typed(&joined)
        } else {
            toml::Value::Boolean(m.get_flag(id))
        };
        table.insert(long.to_string(), value);
    }
    table
}

fn typed(v: &str) -> toml::Value {
    if v.parse::<u64>().is_ok_and(|u| u > i64::MAX as u64) {
        // Seeds above i64::MAX do not fit a TOML integer; a string keeps every bit.
        return toml::Value::String(v.to_string());
    }
    if let Ok(i) = v.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = v.parse::<f64>().map_err(|_| ()).and_then(|f| if f.is_finite() { Ok(f) } else { Err(()) }) {
        toml::Value::Float(f)
    } else {
        toml::Value::String(v.to_string())
    }
}
