//! What `escapade tune` searches: `--tune KEY=SPEC` axes over run's numeric options, and the
//! candidates (every combination of the axes' values).
//!
//! SPEC is a list (`0.01,0.1,1`), a log-spaced range `log:LO:HI:N` or a linear one
//! `lin:LO:HI:N` (N values, both ends included). Integer options (t-thres, batch) round each
//! value to the nearest integer and keep the distinct ones, so an axis never runs a value twice.

use crate::Error;

/// A run option `tune` can vary: its flag name and whether it takes an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The `run` flag's name.
    pub name: &'static str,
    /// Whether the flag takes an integer (values are rounded).
    pub integer: bool,
    /// The smallest value the flag allows is above 0 (a log range needs it too).
    pub positive: bool,
}

/// The options `tune` can vary. `clip` is the clipping threshold gamma: the experiment's
/// clipping kind (`--clip hard:G` or `smooth:G`) is kept, hard when it clips nothing.
pub const KEYS: [Key; 9] = [
    Key { name: "radius", integer: false, positive: false },
    Key { name: "clip", integer: false, positive: true },
    Key { name: "eta", integer: false, positive: true },
    Key { name: "t-thres", integer: true, positive: true },
    Key { name: "g-thres", integer: false, positive: false },
    Key { name: "f-thres", integer: false, positive: false },
    Key { name: "noise", integer: false, positive: false },
    Key { name: "batch", integer: true, positive: true },
    Key { name: "margin", integer: false, positive: false },
];

/// One tuned option and its values, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The option.
    pub key: Key,
    /// Its values (distinct, finite; integers for integer options).
    pub values: Vec<f64>,
}

impl Axis {
    /// Parses `KEY=SPEC` (see the module's documentation).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let allowed_keys = || KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
        let (key, spec) = text.split_once('=').ok_or_else(|| Error::invalid("tune", "KEY=SPEC, e.g. radius=log:1e-4:1:13 or t-thres=10,40,160", text))?;
        let name = key.trim().replace('_', "-");
        let key = *KEYS.iter().find(|k| k.name == name).ok_or_else(|| Error::invalid("tune", format!("a numeric run option, one of: {}", allowed_keys()), &name))?;
        let values = parse_values(spec.trim()).map_err(|why| Error::invalid(format!("tune {}", key.name), why, spec))?;
        let mut distinct: Vec<f64> = Vec::new();
        for v in values {
            let v = if key.integer { v.round() } else { v };
            let low = if key.positive { "> 0" } else { ">= 0" };
            if !v.is_finite() || v < 0.0 || (key.positive && v <= 0.0) || (key.integer && v > f64::from(u32::MAX)) {
                return Err(Error::invalid(format!("tune {}", key.name), format!("values {low}{}", if key.integer { ", integers" } else { "" }), v));
            }
            if !distinct.contains(&v) {
                distinct.push(v);
            }
        }
        if distinct.len() < 2 {
            return Err(Error::invalid(format!("tune {}", key.name), "at least 2 distinct values (a single value belongs in the experiment file)", spec));
        }
        Ok(Axis { key, values: distinct })
    }

    /// A value as the flag takes it: integers without a fraction, others in Rust's shortest
    /// round-trip form (so the file and the table carry exactly the value that ran).
    pub fn text(&self, v: f64) -> String {
        if self.key.integer { format!("{}", v as u64) } else { format!("{v}") }
    }
}

/// The values of SPEC: a list, or `log:LO:HI:N` / `lin:LO:HI:N`.
fn parse_values(spec: &str) -> Result<Vec<f64>, String> {
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let range = spec.strip_prefix("log:").map(|r| (true, r)).or_else(|| spec.strip_prefix("lin:").map(|r| (false, r)));
    let Some((log, rest)) = range else {
        return spec.split(',').map(|s| number(s).ok_or_else(|| "numbers separated by commas, or log:LO:HI:N / lin:LO:HI:N".to_string())).collect();
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let shape = || format!("{}:LO:HI:N with LO < HI and an integer N >= 2", if log { "log" } else { "lin" });
    let [lo, hi, n] = parts.as_slice() else { return Err(shape()) };
    let (lo, hi) = (number(lo).ok_or_else(shape)?, number(hi).ok_or_else(shape)?);
    let n: usize = n.trim().parse().ok().filter(|n| (2..=1000).contains(n)).ok_or_else(|| "a count N from 2 to 1000".to_string())?;
    if lo >= hi {
        return Err(shape());
    }
    if log && lo <= 0.0 {
        return Err("log:LO:HI:N with 0 < LO < HI (a log scale has no 0)".into());
    }
    let at = |i: usize| {
        let s = i as f64 / (n - 1) as f64;
        // The ends exactly as given; inside, 12 significant digits, so that a value reads the
        // same in the table, the directory name and best.toml.
        let v = if i == 0 { lo } else if i == n - 1 { hi } else if log { (lo.ln() + s * (hi.ln() - lo.ln())).exp() } else { lo + s * (hi - lo) };
        format!("{v:.11e}").parse::<f64>().unwrap_or(v)
    };
    Ok((0..n).map(at).collect())
}

/// One point of the search: a value per axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Position in the grid (row-major over the axes as given).
    pub index: usize,
    /// (flag name, value as the flag takes it), one per axis.
    pub values: Vec<(String, String)>,
}

/// Every combination of the axes' values, the first axis varying slowest. Keys must be
/// distinct.
pub fn candidates(axes: &[Axis]) -> Result<Vec<Candidate>, Error> {
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.key == a.key) {
            return Err(Error::invalid("tune", "each key once", a.key.name));
        }
    }
    let mut points: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for a in axes {
        points = points.into_iter().flat_map(|p| a.values.iter().map(move |&v| [p.clone(), vec![(a.key.name.to_string(), a.text(v))]].concat())).collect();
    }
    Ok(points.into_iter().enumerate().map(|(index, values)| Candidate { index, values }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_give_their_values_and_refuse_what_they_cannot() {
        let a = Axis::parse("radius=log:1e-4:1:5").unwrap();
        assert_eq!(a.values, vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0]);
        assert_eq!(Axis::parse("eta=lin:0.1:0.5:5").unwrap().values, vec![0.1, 0.2, 0.3, 0.4, 0.5]);
        // Integers round and stay distinct: 10, 17.78, 31.6, 56.2, 100 -> 10, 18, 32, 56, 100.
        assert_eq!(Axis::parse("t_thres=log:10:100:5").unwrap().values, vec![10.0, 18.0, 32.0, 56.0, 100.0]);
        assert_eq!(Axis::parse("t-thres=1,1.2,2").unwrap().values, vec![1.0, 2.0]);
        for bad in ["radius", "steps=1,2", "seed=1,2", "radius=a,b", "radius=log:0:1:3", "radius=log:-1:1:3", "radius=lin:1:1:3", "radius=log:1e-3:1:1", "radius=0.1", "radius=0.1,0.1", "eta=0,1", "t-thres=0.2,0.4", "radius=log:1:2", "radius=-1,1"] {
            let e = Axis::parse(bad).err().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(e.to_string().starts_with("invalid tune"), "{bad}: {e}");
        }
        let c = candidates(&[Axis::parse("radius=0.1,1").unwrap(), Axis::parse("t-thres=10,20,40").unwrap()]).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(c[4].values, vec![("radius".to_string(), "1".to_string()), ("t-thres".to_string(), "20".to_string())]);
        assert!(candidates(&[Axis::parse("radius=0.1,1").unwrap(), Axis::parse("radius=2,3").unwrap()]).is_err());
    }
}
