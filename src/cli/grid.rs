//! A sweep's grid: `--grid KEY=V1,V2,...` axes into points, each point's directory name.
//!
//! Values are split at the commas between them; a value that is itself a comma list (a flag
//! such as `--eigenvalues L1,L2`) is written in brackets or quotes, `eigenvalues=[-1,2],[1,3]`,
//! and a list flag's values must be, so that a list is never silently split into points.

use clap::Command;
use escapade::Error;

/// The grid's points: every combination of the axes' values, as (key, value) lists; `run` is
/// the `run` subcommand, whose flags say which keys take comma lists.
pub fn points(axes: &[String], run: &Command) -> Result<Vec<Vec<(String, String)>>, Error> {
    let mut points = vec![Vec::new()];
    let mut seen = std::collections::BTreeSet::new();
    for axis in axes {
        let (key, text) = axis.split_once('=').ok_or_else(|| Error::invalid("grid", "KEY=V1,V2,...", axis))?;
        let key = key.replace('_', "-");
        if !seen.insert(key.clone()) {
            return Err(Error::invalid("grid", "each key once", key));
        }
        let values = split_values(text).map_err(|why| Error::invalid("grid", why, axis))?;
        if key.is_empty() || values.is_empty() {
            return Err(Error::invalid("grid", "KEY=V1,V2,... with at least one value", axis));
        }
        if takes_list(run, &key) && values.iter().any(|v| !v.grouped) {
            return Err(Error::invalid(
                "grid",
                format!("{key} takes a comma list: each point's list in brackets, e.g. {key}=[-1,2],[-2,1]"),
                axis,
            ));
        }
        let values: Vec<String> = values.into_iter().map(|v| v.text).collect();
        if let Some((_, v)) = values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)) {
            return Err(Error::invalid("grid", format!("distinct values of {key} (each point runs once)"), v));
        }
        let key = &key;
        points = points.into_iter().flat_map(|p| values.iter().map(move |v| [p.clone(), vec![(key.clone(), v.clone())]].concat())).collect();
    }
    Ok(points)
}

/// A point as `key=value ...`, the way progress lines and errors name it.
pub fn tag(point: &[(String, String)]) -> String {
    point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// A point's directory: `key=value` pairs joined by `_`, each byte that is not a letter, a digit
/// or one of `.,+-=[]` percent-encoded (`shard=0/2` is `shard=0%2F2`, never a subdirectory).
/// The encoding is one-to-one, so distinct points get distinct directories.
pub fn dir_name(point: &[(String, String)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b".,+-[]".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect()
    };
    point.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("_")
}

/// Whether run flag `key` takes a comma list (a value delimiter, or a value name with commas).
fn takes_list(run: &Command, key: &str) -> bool {
    run.get_arguments().filter(|a| a.get_long() == Some(key)).any(|a| {
        a.get_value_delimiter().is_some() || a.get_value_names().is_some_and(|names| names.iter().any(|n| n.as_str().contains(',')))
    })
}

/// One value of an axis, and whether it was written in brackets or quotes.
#[derive(Debug, PartialEq)]
struct Value {
    text: String,
    grouped: bool,
}

/// Splits an axis's values at the commas outside brackets and quotes; brackets and quotes
/// around a whole value are removed. Empty values are refused.
fn split_values(text: &str) -> Result<Vec<Value>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let (mut values, mut current, mut depth, mut quote) = (Vec::new(), String::new(), 0u32, None);
    let mut finish = |current: &mut String| -> Result<(), String> {
        let v = std::mem::take(current);
        let inner = |open: char, close: char| v.strip_prefix(open).and_then(|r| r.strip_suffix(close)).filter(|_| v.len() >= 2);
        let grouped = inner('[', ']').or_else(|| inner('\'', '\'')).or_else(|| inner('"', '"'));
        if v.is_empty() || grouped.is_some_and(str::is_empty) {
            return Err("KEY=V1,V2,... without empty values".into());
        }
        values.push(Value { text: grouped.unwrap_or(&v).to_string(), grouped: grouped.is_some() });
        Ok(())
    };
    for c in text.chars() {
        match (c, quote) {
            (q, Some(open)) if q == open => quote = None,
            (_, Some(_)) => {}
            ('\'' | '"', None) => quote = Some(c),
            ('[', None) => depth += 1,
            (']', None) if depth > 0 => depth -= 1,
            (']', None) => return Err("balanced brackets".into()),
            (',', None) if depth == 0 => {
                finish(&mut current)?;
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if depth > 0 || quote.is_some() {
        return Err("balanced brackets and quotes".into());
    }
    finish(&mut current)?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_stay_whole_and_names_stay_one_directory() {
        let texts = |s: &str| split_values(s).unwrap().into_iter().map(|v| v.text).collect::<Vec<_>>();
        assert_eq!(texts("1,2,3"), ["1", "2", "3"]);
        assert_eq!(texts("[-1,2],[1,3]"), ["-1,2", "1,3"]);
        assert_eq!(texts("'a,b',\"c,d\",e"), ["a,b", "c,d", "e"]);
        assert_eq!(texts("point:[1,2]"), ["point:[1,2]"]);
        assert!(split_values("").unwrap().is_empty());
        for bad in ["1,,2", "[1,2", "1]", "'a", "[]", "1,"] {
            assert!(split_values(bad).is_err(), "{bad}");
        }
        let p = |v: &str| vec![("shard".to_string(), v.to_string())];
        assert_eq!(dir_name(&p("0/2")), "shard=0%2F2");
        // One-to-one: a value that looks like another's encoding gets its own name.
        assert_ne!(dir_name(&p("0/2")), dir_name(&p("0%2F2")));
        assert!(!dir_name(&p("../x")).contains('/'));
    }
}
