//! Classification data sets for network objectives: the two shipped with escapade (data/, by
//! name: `--dataset wine|digits`) and the user's own (`--data X,y`, .npy or .csv), checked
//! once, then split into training and held-out rows from `--data-seed` and standardised with the
//! training rows' statistics.

use super::data::{Matrix, load_matrix};
use crate::{Error, rng};
use sha2::Digest;
use std::path::Path;

/// A data set that ships inside escapade (data/, sources and licences in data/NOTICE).
#[derive(Clone, Copy, Debug)]
pub struct Shipped {
    /// The name `--dataset` takes.
    pub name: &'static str,
    /// Rows.
    pub rows: usize,
    /// Features per row.
    pub features: usize,
    /// Classes (labels 0..classes).
    pub classes: u32,
    /// Where it comes from.
    pub source: &'static str,
    /// Its licence.
    pub licence: &'static str,
    /// The file as shipped: a header row, then the features and the label per line.
    csv: &'static str,
    /// SHA-256 of `csv`, as data/NOTICE states it.
    sha256: &'static str,
}

/// The shipped data sets, in the order `escapade list` shows them.
pub const SHIPPED: [Shipped; 2] = [
    Shipped {
        name: "wine",
        rows: 178,
        features: 13,
        classes: 3,
        source: "UCI Wine (Forina et al. 1991), https://archive.ics.uci.edu/dataset/109/wine",
        licence: "CC BY 4.0",
        csv: include_str!("../../data/wine.csv"),
        sha256: "7ab4bfea28aa2b962a6d5554dc25111c278c99dae4af27edd4922d802ff3a8da",
    },
    Shipped {
        name: "digits",
        rows: 1797,
        features: 64,
        classes: 10,
        source: "UCI Optical Recognition of Handwritten Digits, test split (Alpaydin and Kaynak 1998), https://archive.ics.uci.edu/dataset/80",
        licence: "CC BY 4.0",
        csv: include_str!("../../data/digits.csv"),
        sha256: "1a8c0ce573804cf39bc6fdc9a6cc8f23d15cbf27a72575c1ca5fac15163717d0",
    },
];

/// Rows of features with a class label each.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Where it came from (a shipped name or the files), for reports.
    pub name: String,
    /// Features, one row per example.
    pub x: Matrix,
    /// Class of each row, in 0..classes.
    pub labels: Vec<u32>,
    /// Number of classes: every class in 0..classes has at least one row.
    pub classes: u32,
}

/// How a data set is split and scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitSpec {
    /// Fraction of the rows held out (0: none).
    pub holdout: f64,
    /// Seed of the split (`--data-seed`).
    pub seed: u64,
    /// Standardise each feature to mean 0 and standard deviation 1 over the training rows
    /// (a feature constant there is only centred).
    pub standardise: bool,
}

/// A data set split for training.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The training rows (the objective's data).
    pub train: Dataset,
    /// The held-out rows, when a fraction was held out.
    pub holdout: Option<Dataset>,
    /// Original row index of each training row.
    pub train_rows: Vec<usize>,
}

/// The Philox stream of the split's permutation (data streams 0 and 1 generate objectives' data).
const SPLIT_STREAM: u32 = 16;

impl Dataset {
    /// A shipped data set by name.
    pub fn shipped(name: &str) -> Result<Self, Error> {
        let Some(s) = SHIPPED.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = SHIPPED.iter().map(|s| s.name).collect();
            return Err(Error::invalid("dataset", names.join(" | "), name));
        };
        // The embedded file is data/NOTICE's (a damaged build is reported, not used).
        if s.digest() != s.sha256 {
            return Err(Error::invalid("dataset", format!("the shipped file of SHA-256 {}", s.sha256), format!("{name}: {}", s.digest())));
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(s.csv.as_bytes());
        let (mut x, mut y) = (Vec::with_capacity(s.rows * s.features), Vec::with_capacity(s.rows));
        for record in reader.records() {
            let record = record.map_err(|e| Error::invalid("dataset", "an intact shipped file", format!("{name}: {e}")))?;
            let values: Vec<f64> = record.iter().map(str::parse).collect::<Result<_, _>>().map_err(|_| Error::invalid("dataset", "an intact shipped file", name))?;
            let (features, label) = values.split_at(values.len() - 1);
            x.extend_from_slice(features);
            y.extend_from_slice(label);
        }
        let rows = y.len();
        Self::from_arrays(name, Matrix { rows, cols: s.features, data: x }, Matrix { rows, cols: 1, data: y })
    }

    /// The user's data: features X (rows x features) and integer labels y (one per row), each
    /// .npy or .csv.
    pub fn from_files(x: &Path, y: &Path) -> Result<Self, Error> {
        let name = format!("{},{}", x.display(), y.display());
        Self::from_arrays(&name, load_matrix(x, "data")?, load_matrix(y, "data")?)
    }

    /// Features and labels given in memory, checked as files are: X finite and not empty, y one
    /// integer label >= 0 per row of X, and every class from 0 to the largest label present.
    pub fn from_arrays(name: &str, x: Matrix, y: Matrix) -> Result<Self, Error> {
        let x = x.checked("data")?;
        let y = y.checked("labels")?;
        if y.cols != 1 || y.rows != x.rows {
            return Err(Error::invalid("labels", format!("one label per row of the features ({} x 1)", x.rows), format!("{} x {}", y.rows, y.cols)));
        }
        let mut labels = Vec::with_capacity(y.rows);
        for (row, &v) in y.data.iter().enumerate() {
            if v.fract() != 0.0 || !(0.0..=f64::from(u16::MAX)).contains(&v) {
                return Err(Error::invalid("labels", "integers from 0 to 65535", format!("{v} in row {row}")));
            }
            labels.push(v as u32);
        }
        let classes = labels.iter().max().map_or(0, |m| m + 1);
        let mut seen = vec![false; classes as usize];
        labels.iter().for_each(|&l| seen[l as usize] = true);
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Err(Error::invalid("labels", format!("every class from 0 to {} present (classes are 0..k)", classes - 1), format!("no row of class {missing}")));
        }
        if classes < 2 {
            return Err(Error::invalid("labels", "at least two classes", format!("only class {}", classes.saturating_sub(1))));
        }
        Ok(Dataset { name: name.to_string(), x, labels, classes })
    }

    /// Rows `idx` of this data set (a new data set of the same classes).
    fn rows(&self, idx: &[usize]) -> Dataset {
        let cols = self.x.cols;
        let data = idx.iter().flat_map(|&i| self.x.data[i * cols..(i + 1) * cols].iter().copied()).collect();
        Dataset { name: self.name.clone(), x: Matrix { rows: idx.len(), cols, data }, labels: idx.iter().map(|&i| self.labels[i]).collect(), classes: self.classes }
    }

    /// Splits off `spec.holdout` of the rows, chosen by a permutation from `spec.seed` (the same
    /// rows on every platform: Philox keys, ties by index), keeping each part in the original row
    /// order, then standardises both parts with the training rows' mean and deviation.
    pub fn split(&self, spec: &SplitSpec) -> Result<Split, Error> {
        let n = self.x.rows;
        let held = if spec.holdout == 0.0 {
            0
        } else {
            let h = (spec.holdout * n as f64).round();
            if !(spec.holdout > 0.0 && spec.holdout < 1.0) || h < 1.0 || h > (n - 1) as f64 {
                return Err(Error::invalid("holdout", format!("a fraction holding out 1 to {} of the {n} rows (0 for none)", n - 1), spec.holdout));
            }
            h as usize
        };
        let mut order: Vec<(u32, usize)> = (0..n).map(|i| (rng::draw(spec.seed, SPLIT_STREAM, i as u32, rng::Purpose::Data, 0)[0], i)).collect();
        order.sort_unstable();
        let (mut holdout, mut train): (Vec<usize>, Vec<usize>) = (order[..held].iter().map(|p| p.1).collect(), order[held..].iter().map(|p| p.1).collect());
        holdout.sort_unstable();
        train.sort_unstable();
        let (mut tr, mut ho) = (self.rows(&train), (held > 0).then(|| self.rows(&holdout)));
        if spec.standardise {
            let (mean, scale) = moments(&tr.x);
            standardise(&mut tr.x, &mean, &scale);
            if let Some(h) = ho.as_mut() {
                standardise(&mut h.x, &mean, &scale);
            }
        }
        Ok(Split { train: tr, holdout: ho, train_rows: train })
    }
}

/// Each column's mean and standard deviation (1 where the column is constant).
fn moments(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let n = x.rows as f64;
    let mut mean = vec![0.0; x.cols];
    x.data.chunks_exact(x.cols).for_each(|r| mean.iter_mut().zip(r).for_each(|(m, v)| *m += v / n));
    let mut var = vec![0.0; x.cols];
    x.data.chunks_exact(x.cols).for_each(|r| var.iter_mut().zip(r).zip(&mean).for_each(|((s, v), m)| *s += (v - m) * (v - m) / n));
    let scale = var.iter().map(|v| if *v > 0.0 { v.sqrt() } else { 1.0 }).collect();
    (mean, scale)
}

fn standardise(x: &mut Matrix, mean: &[f64], scale: &[f64]) {
    let cols = x.cols;
    x.data.chunks_exact_mut(cols).for_each(|r| r.iter_mut().zip(mean).zip(scale).for_each(|((v, m), s)| *v = (*v - m) / s));
}

impl Shipped {
    /// SHA-256 of the embedded file, hex.
    fn digest(&self) -> String {
        sha2::Sha256::digest(self.csv.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded files are data/NOTICE's, and parse to the sizes and class counts stated.
    #[test]
    fn shipped_sets_are_the_stated_files() {
        for s in SHIPPED {
            assert_eq!(s.digest(), s.sha256, "{}", s.name);
            let d = Dataset::shipped(s.name).unwrap();
            assert_eq!((d.x.rows, d.x.cols, d.classes), (s.rows, s.features, s.classes), "{}", s.name);
        }
        let wine = Dataset::shipped("wine").unwrap();
        let count = |c| wine.labels.iter().filter(|&&l| l == c).count();
        assert_eq!((count(0), count(1), count(2)), (59, 71, 48));
        // First row of the UCI file: alcohol 14.23, proline 1065, class 0.
        assert_eq!((wine.x.at(0, 0), wine.x.at(0, 12), wine.labels[0]), (14.23, 1065.0, 0));
        let digits = Dataset::shipped("digits").unwrap();
        assert!(digits.x.data.iter().all(|&v| v.fract() == 0.0 && (0.0..=16.0).contains(&v)));
        assert!(Dataset::shipped("iris").unwrap_err().to_string().contains("wine | digits"));
    }

    /// The split holds out the stated share, the parts partition the rows, the same seed gives
    /// the same rows and another seed other rows; standardised training features have mean 0 and
    /// deviation 1 (constant pixels of digits centred only), and the held-out rows use the
    /// training statistics.
    #[test]
    fn splits_are_reproducible_partitions_standardised_by_the_training_rows() {
        let digits = Dataset::shipped("digits").unwrap();
        let spec = SplitSpec { holdout: 0.2, seed: 7, standardise: true };
        let s = digits.split(&spec).unwrap();
        let h = s.holdout.as_ref().unwrap();
        assert_eq!((s.train.x.rows, h.x.rows), (1438, 359));
        assert_eq!(s.train_rows.len(), 1438);
        assert!(s.train_rows.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(digits.split(&spec).unwrap(), s);
        assert_ne!(digits.split(&SplitSpec { seed: 8, ..spec }).unwrap().train_rows, s.train_rows);
        let (mean, scale) = moments(&s.train.x);
        for (j, (m, sd)) in mean.iter().zip(&scale).enumerate() {
            assert!(m.abs() < 1e-12, "feature {j}: mean {m}");
            let raw: Vec<f64> = s.train_rows.iter().map(|&i| digits.x.at(i, j)).collect();
            let constant = raw.iter().all(|&v| v == raw[0]);
            assert!(if constant { *sd == 1.0 } else { (sd - 1.0).abs() < 1e-12 }, "feature {j}: deviation {sd}");
        }
        // A held-out row standardised with the training statistics, recomputed here.
        let raw_mean: Vec<f64> = (0..64).map(|j| s.train_rows.iter().map(|&i| digits.x.at(i, j)).sum::<f64>() / 1438.0).collect();
        let first_held = (0..1797).find(|i| !s.train_rows.contains(i)).unwrap();
        let j = 20;
        let sd = (s.train_rows.iter().map(|&i| (digits.x.at(i, j) - raw_mean[j]).powi(2)).sum::<f64>() / 1438.0).sqrt();
        assert!((h.x.at(0, j) - (digits.x.at(first_held, j) - raw_mean[j]) / sd).abs() < 1e-12);
        assert_eq!(h.labels[0], digits.labels[first_held]);
        // No holdout, no standardising: the data as given.
        let whole = digits.split(&SplitSpec { holdout: 0.0, seed: 1, standardise: false }).unwrap();
        assert_eq!((whole.train.clone(), whole.holdout), (digits.clone(), None));
    }

    /// Each bad input is one error naming the field and what is allowed.
    #[test]
    fn bad_inputs_name_the_field() {
        let x = |rows: usize, v: f64| Matrix { rows, cols: 2, data: vec![v; rows * 2] };
        let y = |v: &[f64]| Matrix { rows: v.len(), cols: 1, data: v.to_vec() };
        let cases: Vec<(Result<Dataset, Error>, &[&str])> = vec![
            (Dataset::from_arrays("t", x(3, 1.0), y(&[0.0, 1.5, 1.0])), &["labels", "integers", "1.5 in row 1"]),
            (Dataset::from_arrays("t", x(3, 1.0), y(&[0.0, -1.0, 1.0])), &["labels", "integers", "-1 in row 1"]),
            (Dataset::from_arrays("t", x(3, 1.0), y(&[0.0, 2.0, 2.0])), &["labels", "every class from 0 to 2", "no row of class 1"]),
            (Dataset::from_arrays("t", x(3, 1.0), y(&[0.0, 0.0, 0.0])), &["labels", "at least two classes"]),
            (Dataset::from_arrays("t", x(3, 1.0), y(&[0.0, 1.0])), &["labels", "one label per row", "2 x 1"]),
            (Dataset::from_arrays("t", x(3, f64::NAN), y(&[0.0, 1.0, 1.0])), &["data", "finite", "entry (0, 0) is NaN"]),
        ];
        for (r, says) in cases {
            let e = r.unwrap_err().to_string();
            assert!(says.iter().all(|s| e.contains(s)) && !e.contains('\n'), "{e} lacks {says:?}");
        }
        let wine = Dataset::shipped("wine").unwrap();
        for h in [0.001, 0.999, 1.0, -0.1, f64::NAN] {
            let e = wine.split(&SplitSpec { holdout: h, seed: 0, standardise: true }).unwrap_err().to_string();
            assert!(e.contains("holdout") && e.contains("1 to 177 of the 178 rows"), "{e}");
        }
    }
}
