//! Objective data: matrices loaded from files (.npy or .csv) with clear errors, or generated from
//! a seed through the Philox stream (so data sets are reproducible across platforms).

use crate::Error;
use std::path::{Path, PathBuf};

/// A dense row-major matrix of f64.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Entries, row-major.
    pub data: Vec<f64>,
}

impl Matrix {
    /// Entry (i, j).
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// Checks a matrix given in memory (an embedder's array) as [`load_matrix`] checks a file's:
    /// `rows * cols` entries, not empty, every entry finite; `field` names it in errors.
    pub fn checked(self, field: &str) -> Result<Matrix, Error> {
        let shown = format!("a {} x {} array", self.rows, self.cols);
        if self.rows.checked_mul(self.cols) != Some(self.data.len()) {
            return Err(Error::invalid(field, format!("{} entries (rows x columns)", self.rows.saturating_mul(self.cols)), format!("{shown} of {} entries", self.data.len())));
        }
        nonempty_finite(self, &|why| Error::invalid(field, format!("finite numbers ({why})"), &shown))
    }

    /// Frobenius norm.
    pub fn frobenius(&self) -> f64 {
        self.data.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
}

/// Where an objective's data comes from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Generated from this seed.
    Seed(u64),
    /// Loaded from files (which ones depends on the objective).
    Files(Vec<PathBuf>),
    /// Given in memory (which ones depends on the objective, as for files), checked as files are.
    Arrays(Vec<Matrix>),
}

/// Loads a matrix from `.npy` (2-D or 1-D, f32 or f64, C order) or `.csv` (one row per line,
/// comma separated, no header). A 1-D array or a one-column/one-row CSV is an n x 1 matrix.
/// `field` names the input in errors.
pub fn load_matrix(path: &Path, field: &str) -> Result<Matrix, Error> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| Error::Io { path: shown.clone(), source: e };
    // One line, also where a parser's message spans several (npyz's header errors do).
    let bad = |why: String| Error::invalid(field, format!("a numeric .npy or .csv matrix ({})", why.split_whitespace().collect::<Vec<_>>().join(" ")), &shown);
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        // Opening a FIFO blocks until a writer comes; a device reads without end.
        return Err(Error::invalid(field, "a regular .npy or .csv file", format!("{shown}, {}", crate::error::kind_of(&meta))));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let m = match ext.as_str() {
        "npy" => {
            let file = std::fs::File::open(path).map_err(io)?;
            let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
            if npy.order() != npyz::Order::C {
                return Err(bad("Fortran order is not supported; save with C order".into()));
            }
            let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
            let dtype = npy.dtype().descr().replace(['\'', '"'], "");
            // The header's shape must fit in the file before anything that size is allocated.
            let file_len = std::fs::metadata(path).map_err(io)?.len();
            let item = if dtype.ends_with("f4") { 4 } else { 8 };
            let needed = shape.iter().try_fold(item, |n: u64, &s| n.checked_mul(s as u64));
            if needed.is_none_or(|n| n > file_len) {
                return Err(bad(format!("its header's shape {shape:?} needs more bytes than the file's {file_len}")));
            }
            let data: Vec<f64> = if dtype.ends_with("f8") {
                npy.into_vec::<f64>().map_err(|e| bad(e.to_string()))?
            } else if dtype.ends_with("f4") {
                npy.into_vec::<f32>().map_err(|e| bad(e.to_string()))?.into_iter().map(f64::from).collect()
            } else {
                return Err(bad(format!("dtype {dtype}; use float32 or float64")));
            };
            match shape.as_slice() {
                [n] => Matrix { rows: *n, cols: 1, data },
                [r, c] => Matrix { rows: *r, cols: *c, data },
                other => return Err(bad(format!("{}-dimensional array; need 1 or 2 dimensions", other.len()))),
            }
        }
        "csv" | "txt" => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .trim(csv::Trim::All)
                .from_path(path)
                .map_err(|e| match e.into_kind() {
                    csv::ErrorKind::Io(e) => io(e),
                    other => bad(format!("{other:?}")),
                })?;
            let mut data = Vec::new();
            let (mut rows, mut cols) = (0usize, None);
            for (line, record) in reader.records().enumerate() {
                let record = record.map_err(|e| bad(format!("line {}: {e}", line + 1)))?;
                let row: Vec<f64> = record
                    .iter()
                    .map(|s| s.parse::<f64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad(format!("line {}: not a number", line + 1)))?;
                if *cols.get_or_insert(row.len()) != row.len() {
                    return Err(bad(format!("line {} has {} values, line 1 has {}", line + 1, row.len(), cols.unwrap_or(0))));
                }
                data.extend(row);
                rows += 1;
            }
            let cols = cols.unwrap_or(0);
            if rows == 1 && cols > 1 { Matrix { rows: cols, cols: 1, data } } else { Matrix { rows, cols, data } }
        }
        _ => return Err(bad(format!("unknown extension {ext:?}; use .npy or .csv"))),
    };
    nonempty_finite(m, &bad)
}

/// `m` if it has entries and all are finite, else `bad` with what is wrong.
fn nonempty_finite(m: Matrix, bad: &dyn Fn(String) -> Error) -> Result<Matrix, Error> {
    if m.data.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if let Some(k) = m.data.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("entry ({}, {}) is {}", k / m.cols, k % m.cols, m.data[k])));
    }
    Ok(m)
}

/// MemAvailable from /proc/meminfo, in bytes (None where the system does not say).
pub(crate) fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Refuses, before anything is allocated, objective data of `values` f64 numbers (None: more
/// than an address space holds) beyond the memory the host has available; `sized_by` names the
/// flags that size it.
pub(crate) fn fits_host(values: Option<usize>, sized_by: &str) -> Result<(), Error> {
    let bytes = values.and_then(|v| v.checked_mul(8)).filter(|&b| b <= isize::MAX as usize).map(|b| b as u64);
    let have = available_memory();
    match bytes {
        Some(b) if have.is_none_or(|h| b <= h) => Ok(()),
        _ => Err(Error::TooLarge(format!(
            "the objective's data ({sized_by}) needs {} of host memory and {:.1} GB are available: make it smaller",
            bytes.map_or("more than an address space".into(), |b| format!("about {:.1} GB", b as f64 / 1e9)),
            have.unwrap_or(0) as f64 / 1e9
        ))),
    }
}

/// Checks that `m` is `rows` x `cols` (None: any), naming `field`.
pub fn expect_shape(m: &Matrix, field: &str, rows: Option<usize>, cols: Option<usize>) -> Result<(), Error> {
    let ok = rows.is_none_or(|r| r == m.rows) && cols.is_none_or(|c| c == m.cols);
    if ok {
        return Ok(());
    }
    let want = |v: Option<usize>| v.map_or("any".to_string(), |v| v.to_string());
    Err(Error::invalid(field, format!("a {} x {} matrix", want(rows), want(cols)), format!("{} x {}", m.rows, m.cols)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("escapade-data-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn csv_and_npy_load_with_clear_errors() {
        let m = load_matrix(&tmp("a.csv", "1, 2, 3\n4, 5, 6\n"), "A").unwrap();
        assert_eq!((m.rows, m.cols, m.at(1, 2)), (2, 3, 6.0));
        let y = load_matrix(&tmp("y.csv", "1,2,3\n"), "y").unwrap();
        assert_eq!((y.rows, y.cols), (3, 1));
        let e = load_matrix(&tmp("nan.csv", "1,2\nnan,4\n"), "A").unwrap_err().to_string();
        assert!(e.contains("A") && e.contains("(1, 0)") && e.contains("NaN"), "{e}");
        let e = load_matrix(&tmp("ragged.csv", "1,2\n3\n"), "A").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = load_matrix(Path::new("/nonexistent/a.csv"), "A").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/a.csv"), "{e}");
        let e = load_matrix(&tmp("a.mat", "1"), "A").unwrap_err().to_string();
        assert!(e.contains(".npy or .csv"), "{e}");
        assert!(expect_shape(&m, "A", Some(3), None).unwrap_err().to_string().contains("2 x 3"));

        // A float64 2 x 2 .npy written by hand (format 1.0).
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((h.len() as u16).to_le_bytes());
        bytes.extend(h.as_bytes());
        for v in [1.0f64, 2.0, 3.0, 4.5] {
            bytes.extend(v.to_le_bytes());
        }
        let p = std::env::temp_dir().join(format!("escapade-data-{}-m.npy", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        let m = load_matrix(&p, "M").unwrap();
        assert_eq!((m.rows, m.cols, m.at(1, 1)), (2, 2, 4.5));
    }
}
