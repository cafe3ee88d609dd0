//! The objective flags as data (ripgrep's `Flag` in small): each catalogue row names the flags it
//! reads, the command line turns every one into a clap argument, and a row's builder reads the
//! values given through [`Given`]. This layer knows no clap: `options` does the parsing.

use super::super::DataSource;
use crate::method::Rho;
use std::collections::BTreeMap;

/// How a flag's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A number (`--tau 2.5`).
    Number,
    /// A whole number >= 0 (`--rank 3`).
    Count,
    /// Numbers, comma separated, negative ones too (`--eigenvalues -1,2`).
    Numbers,
    /// Whole numbers, comma separated (`--layers 13,8,3`).
    Counts,
    /// One of these words (`--loss squared`).
    Choice(&'static [&'static str]),
    /// Present or absent (`--raw-features`); `true`/`false` in experiment files.
    Switch,
    /// Free text, checked by the objective (`--f "x0^2 - x1^2"`).
    Text,
}

/// One flag an objective reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without `--` (also the experiment file's key and Python's keyword, with
    /// `_` for `-`).
    pub name: &'static str,
    /// Another long name accepted for it, if any.
    pub alias: Option<&'static str>,
    /// How its value is written.
    pub kind: Kind,
    /// The value's placeholder in `--help` (None: the name in capitals).
    pub value_name: Option<&'static str>,
    /// The line `--help` prints (defaults included).
    pub help: &'static str,
}

impl Flag {
    /// A flag with no alias and the default placeholder.
    pub const fn new(name: &'static str, kind: Kind, help: &'static str) -> Self {
        Flag { name, alias: None, kind, value_name: None, help }
    }

    /// The same flag with a placeholder for its value.
    pub const fn value_name(self, value_name: &'static str) -> Self {
        Flag { value_name: Some(value_name), ..self }
    }

    /// The same flag with another long name.
    pub const fn alias(self, alias: &'static str) -> Self {
        Flag { alias: Some(alias), ..self }
    }
}

/// A flag's value as given.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// [`Kind::Number`].
    Number(f64),
    /// [`Kind::Count`].
    Count(usize),
    /// [`Kind::Numbers`].
    Numbers(Vec<f64>),
    /// [`Kind::Counts`].
    Counts(Vec<usize>),
    /// [`Kind::Choice`].
    Word(String),
    /// [`Kind::Switch`], given.
    On,
    /// [`Kind::Text`].
    Text(String),
}

impl Value {
    /// A value of `kind` from JSON (an objective's `params()` in summary.json), when it is one.
    pub fn from_json(kind: Kind, v: &serde_json::Value) -> Option<Value> {
        let count = |v: &serde_json::Value| v.as_u64().and_then(|c| usize::try_from(c).ok());
        let list = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
        Some(match kind {
            Kind::Number => Value::Number(v.as_f64()?),
            Kind::Count => Value::Count(count(v)?),
            Kind::Numbers => Value::Numbers(list(v).iter().map(serde_json::Value::as_f64).collect::<Option<_>>()?),
            Kind::Counts => Value::Counts(list(v).iter().map(count).collect::<Option<_>>()?),
            Kind::Choice(words) => Value::Word(v.as_str().filter(|w| words.contains(w))?.to_string()),
            Kind::Switch => v.as_bool().filter(|on| *on).map(|_| Value::On)?,
            Kind::Text => Value::Text(v.as_str()?.to_string()),
        })
    }
}

/// What was given for an objective: `--dim`, its data, and the values of its flags (absent
/// flags are not in `values`; the row's builder supplies their defaults).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Given {
    /// `--dim`, when given.
    pub dim: Option<usize>,
    /// Data files or arrays, when given (`--data`, or an embedder's arrays).
    pub data: Option<DataSource>,
    /// `--data-seed`, when given.
    pub data_seed: Option<u64>,
    /// `--f-min`, when given: the known minimum of an objective that does not derive it.
    pub f_min: Option<f64>,
    /// `--rho1` and `--rho2`, when given: the self-bounding forms an objective that has no
    /// closed form declares (an expression).
    pub rho: (Option<Rho>, Option<Rho>),
    /// The objective flags given, by name.
    pub values: BTreeMap<String, Value>,
}

/// The dimension when none is given and the rule takes one.
pub const DEFAULT_DIM: usize = 5;

impl Given {
    /// `--dim`, or [`DEFAULT_DIM`].
    pub fn dim(&self) -> usize {
        self.dim.unwrap_or(DEFAULT_DIM)
    }

    /// The data: files or arrays when given, else generated from `--data-seed` (default 0).
    pub fn source(&self) -> DataSource {
        self.data.clone().unwrap_or(DataSource::Seed(self.data_seed.unwrap_or(0)))
    }

    /// A [`Kind::Number`] flag's value.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.values.get(name) {
            Some(Value::Number(v)) => Some(*v),
            _ => None,
        }
    }

    /// A [`Kind::Count`] flag's value.
    pub fn count(&self, name: &str) -> Option<usize> {
        match self.values.get(name) {
            Some(Value::Count(v)) => Some(*v),
            _ => None,
        }
    }

    /// A [`Kind::Numbers`] flag's values.
    pub fn numbers(&self, name: &str) -> Option<&[f64]> {
        match self.values.get(name) {
            Some(Value::Numbers(v)) => Some(v),
            _ => None,
        }
    }

    /// A [`Kind::Counts`] flag's values.
    pub fn counts(&self, name: &str) -> Option<&[usize]> {
        match self.values.get(name) {
            Some(Value::Counts(v)) => Some(v),
            _ => None,
        }
    }

    /// A [`Kind::Choice`] flag's word.
    pub fn word(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Word(v)) => Some(v),
            _ => None,
        }
    }

    /// A [`Kind::Text`] flag's text.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Text(v)) => Some(v),
            _ => None,
        }
    }

    /// Whether a [`Kind::Switch`] flag was given.
    pub fn switch(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::On))
    }
}
