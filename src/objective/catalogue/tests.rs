//! The catalogue against the spec enum and the objectives it builds: every row round-trips,
//! every variant has a row, and each row's builder reads exactly the flags the row lists.

use super::{CATALOGUE, Dim, Entry, Given, Kind, Value, entry, flags};
use crate::objective::{DataSource, ObjectiveSpec};

/// The serde tag of a spec: the name its variant is written with.
fn tag(spec: &ObjectiveSpec) -> String {
    serde_json::to_value(spec).unwrap()["name"].as_str().unwrap().to_string()
}

#[test]
fn every_row_round_trips_through_its_spec_and_objective() {
    for e in CATALOGUE {
        assert!(!e.tests.is_empty(), "{}: no test dimensions", e.name);
        for &d in e.tests {
            let spec = ObjectiveSpec::from_name(e.name, d).unwrap_or_else(|err| panic!("{} d={d}: {err}", e.name));
            assert_eq!(tag(&spec), e.name, "the serde tag of {}'s variant", e.name);
            let json = serde_json::to_value(&spec).unwrap();
            assert_eq!(serde_json::from_value::<ObjectiveSpec>(json).unwrap(), spec, "{} through serde", e.name);
            let obj = spec.build().unwrap_or_else(|err| panic!("{} d={d}: {err}", e.name));
            assert_eq!(obj.name(), e.name);
            match e.dim {
                Dim::Fixed(n) => assert_eq!(obj.dim(), n, "{}", e.name),
                Dim::AtLeast(_) => assert_eq!(obj.dim(), d, "{}", e.name),
                Dim::Size(_) | Dim::From(_) => assert!(obj.dim() >= 1, "{}", e.name),
            }
        }
    }
}

/// serde's error for an unknown tag lists every variant's name: each must be a row's, and each
/// row a variant's.
#[test]
fn every_spec_variant_has_a_row() {
    let err = serde_json::from_value::<ObjectiveSpec>(serde_json::json!({ "name": "no such objective" })).unwrap_err().to_string();
    let variants: Vec<&str> = err.split('`').skip(3).step_by(2).collect();
    assert!(variants.len() >= 2, "serde's message changed: {err}");
    assert_eq!(variants, ObjectiveSpec::NAMES, "variants (from {err:?}) against the catalogue");
}

#[test]
fn names_are_unique_and_unknown_ones_are_refused_with_the_list() {
    for (i, e) in CATALOGUE.iter().enumerate() {
        assert!(CATALOGUE[..i].iter().all(|o| o.name != e.name), "{} twice", e.name);
        assert!(!e.doc.is_empty() && !e.doc.contains('\n'), "{}: one line of doc", e.name);
    }
    let msg = entry("nope").unwrap_err().to_string();
    assert!(ObjectiveSpec::NAMES.iter().all(|n| msg.contains(n)), "{msg}");
    assert_eq!(ObjectiveSpec::data_names("phase-retrieval"), ["A", "y", "x_star?"]);
    assert_eq!(super::required_data(ObjectiveSpec::data_names("phase-retrieval")), 2);
    assert!(ObjectiveSpec::data_names("custom").is_empty());
}

/// A flag two rows read is the same flag (one clap argument, one help line).
#[test]
fn shared_flags_are_one_flag() {
    let all = flags();
    for f in CATALOGUE.iter().flat_map(|e| e.flags) {
        let first = all.iter().find(|o| o.name == f.name).unwrap();
        assert_eq!(*first, f, "two rows define --{} differently", f.name);
        assert!(!f.help.ends_with('.'), "--{}: clap's help lines have no final period", f.name);
    }
}

/// A value of each kind that differs from every row's default.
fn sample(kind: Kind) -> Value {
    match kind {
        Kind::Number => Value::Number(0.375),
        Kind::Count => Value::Count(3),
        Kind::Numbers => Value::Numbers(vec![0.5; 3]),
        Kind::Counts => Value::Counts(vec![13, 3, 3]),
        Kind::Choice(words) => Value::Word(words.last().unwrap().to_string()),
        Kind::Switch => Value::On,
        Kind::Text => Value::Text("x0^2 - x1^2".into()),
    }
}

fn spec_with(e: &Entry, given: Given) -> ObjectiveSpec {
    e.spec(&given).unwrap_or_else(|err| panic!("{}: {err}", e.name))
}

/// Each row's builder reads every flag the row lists and no other, so that the flags refused
/// with an objective are exactly those it would ignore; likewise its data.
#[test]
fn each_builder_reads_exactly_its_rows_flags_and_data() {
    for e in CATALOGUE {
        let default = spec_with(e, Given::default());
        for f in flags() {
            let given = Given { values: [(f.name.to_string(), sample(f.kind))].into(), ..Given::default() };
            let changed = spec_with(e, given) != default;
            assert_eq!(changed, e.reads(f.name), "{} and --{}", e.name, f.name);
        }
        let files = Given { data: Some(DataSource::Files(vec!["a.csv".into()])), ..Given::default() };
        assert_eq!(spec_with(e, files) != default, e.reads("data"), "{} and --data", e.name);
    }
}

#[test]
fn the_dimension_rules_refuse_what_they_say() {
    let dim = |name: &str, d: usize| entry(name).unwrap().spec(&Given { dim: Some(d), ..Given::default() }).map_err(|e| e.to_string());
    assert!(dim("toy-saddle", 3).unwrap_err().contains("2 for toy-saddle"));
    assert!(dim("rosenbrock", 1).unwrap_err().contains(">= 2 for rosenbrock"));
    assert!(dim("mlp", 5).unwrap_err().contains("--layers sets the dimension"));
    assert!(dim("octopus", 0).unwrap_err().contains(">= 1"));
    assert_eq!(ObjectiveSpec::from_name("mlp", 7).unwrap(), ObjectiveSpec::from_name("mlp", 1).unwrap());
}

/// summary.json's params rebuild the objectives without data (what 2-D plots of a saved run need).
#[test]
fn objectives_without_data_rebuild_from_their_params() {
    for e in CATALOGUE.iter().filter(|e| e.data.is_empty()) {
        for &d in e.tests {
            let obj = ObjectiveSpec::from_name(e.name, d).unwrap().build().unwrap();
            let again = e.spec(&e.given_from_params(obj.dim(), &obj.params())).unwrap().build().unwrap();
            assert_eq!(again.params(), obj.params(), "{} d={d}", e.name);
        }
    }
    let octopus = ObjectiveSpec::Octopus { dim: 2, tau: 3.0, gamma: 0.5, l: 2.0 };
    let params = octopus.build().unwrap().params();
    assert_eq!(entry("octopus").unwrap().spec(&entry("octopus").unwrap().given_from_params(2, &params)).unwrap(), octopus);
}

/// The README's objective table (the closed-form facts: f, label, rho1, rho2) has a line per row.
#[test]
fn the_readme_table_has_every_row() {
    let readme = include_str!("../../../README.md");
    for e in CATALOGUE {
        assert!(readme.contains(&format!("\n| `{}` |", e.name)), "README.md's objective table lacks {}", e.name);
    }
}
