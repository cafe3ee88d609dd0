//! What a saved run records so that its experiment.toml reruns it exactly: data arrays,
//! per-chain starts and WGSL source given in memory are written into the run directory
//! (`inputs/`, .npy and .wgsl) and the file names them (`data`, `init = "file:..."`, `wgsl`) by
//! absolute path, so `escapade run DIR/experiment.toml` and `Experiment.from_toml` read them from
//! any working directory. Nothing given is ever left out of the record.

use escapade::objective::data::Matrix;
use escapade::options::{InputFile, RunOptions, experiment_toml};
use escapade::{Error, Experiment, ObjectiveSpec, Points};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of a run directory that holds its in-memory inputs.
pub const INPUTS: &str = "inputs";

/// The inputs of a run that its options table does not hold.
#[derive(Clone, Default)]
pub struct Inputs {
    /// `data=` arrays, in the objective's catalogue order.
    pub arrays: Option<Arc<Vec<Matrix>>>,
    /// `init=` given as an array.
    pub init: Option<Points>,
    /// `wgsl=` given as source.
    pub wgsl: Option<String>,
    /// `objective=` given as an `Oracle`: a Python function no file can hold. The record keeps
    /// `objective = "oracle"`, which a rerun from the file refuses with a message.
    pub oracle: bool,
}

/// Where `dir` is, absolute (a relative experiment path would depend on where it is run from).
fn absolute(dir: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(dir).map_err(Error::io(dir))
}

/// A path as the TOML string value experiment.toml holds, refused when it is not UTF-8 (a lossy
/// name would point elsewhere) or holds a comma (`data` lists its files at commas).
fn path_text(path: &Path) -> Result<String, Error> {
    let allowed = "a directory whose path is UTF-8 without commas (experiment.toml names the inputs saved in it)";
    path.to_str().filter(|p| !p.contains(',')).map(str::to_string).ok_or_else(|| Error::invalid("dir", allowed, path.display()))
}

/// Whether `dir` can name inputs saved in it (see [`path_text`]).
pub fn check_dir(dir: &Path) -> Result<(), Error> {
    path_text(&absolute(dir)?.join(INPUTS)).map(|_| ())
}

impl Inputs {
    /// experiment.toml for `table`, whose experiment `exp` ran, saved into `dir` (the inputs
    /// named in it), and the files to write beside it.
    pub fn record<'a>(&'a self, table: &toml::Table, exp: &Experiment, dir: &Path) -> Result<(String, Vec<InputFile<'a>>), Error> {
        let mut table = table.clone();
        let mut files = Vec::new();
        let dir = absolute(dir)?;
        let objective = RunOptions::from_table(&table, "options")?.args.obj.objective;
        if let Some(arrays) = self.arrays.as_deref() {
            let names = ObjectiveSpec::data_names(&objective);
            let mut paths = Vec::new();
            for (i, m) in arrays.iter().enumerate() {
                let stem = names.get(i).map_or_else(|| format!("data{i}"), |n| n.trim_end_matches('?').to_string());
                let name = format!("{INPUTS}/{stem}.npy");
                paths.push(toml::Value::String(path_text(&dir.join(&name))?));
                files.push(InputFile::Npy { name, rows: m.rows, cols: m.cols, values: &m.data });
            }
            table.insert("data".into(), toml::Value::Array(paths));
        }
        if let Some(p) = &self.init {
            let name = format!("{INPUTS}/init.npy");
            table.insert("init".into(), toml::Value::String(format!("file:{}", path_text(&dir.join(&name))?)));
            files.push(InputFile::Npy { name, rows: p.rows, cols: p.dim(), values: p.values.as_slice() });
        }
        if let Some(text) = &self.wgsl {
            let name = format!("{INPUTS}/objective.wgsl");
            table.insert("wgsl".into(), toml::Value::String(path_text(&dir.join(&name))?));
            files.push(InputFile::Text { name, text });
        }
        Ok((experiment_toml(&RunOptions::from_table(&table, "options")?.matches, exp), files))
    }

    /// Whether anything is given in memory.
    pub fn any(&self) -> bool {
        self.arrays.is_some() || self.init.is_some() || self.wgsl.is_some() || self.oracle
    }
}

