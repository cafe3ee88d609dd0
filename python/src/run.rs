//! A finished run (or one loaded from its output directory): its summary, tables, survival
//! curves and output files, all from the library.

use crate::convert::{Columns, to_py};
use crate::record::{INPUTS, Inputs};
use escapade::Error;
use escapade::options::{PlotFormat, RunOptions, remove_run};
use escapade::report::files::{ChainRecord, SavedRun, read_chains};
use escapade::report::output::{self, OutputLock};
use escapade::report::render_plots;
use escapade::stats::{Curve, Outcome, SurvivalTables, TimeTable, clustered_kaplan_meier};
use escapade::Report;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};

/// A run's results: what `escapade run` writes to its output directory, in memory.
#[pyclass(name = "_Run", module = "escapade._escapade", frozen)]
pub struct NativeRun {
    /// The report, for a run made in this process (None: loaded from a directory).
    report: Option<Report>,
    saved: SavedRun,
    records: Vec<ChainRecord>,
    /// The run's options (for experiment.toml).
    options: Option<toml::Table>,
    /// Its inputs given in memory (written beside experiment.toml, which names them).
    inputs: Inputs,
    /// experiment.toml of a loaded run.
    loaded_toml: Option<String>,
    /// summary.json's text (read as written: every float exact).
    summary: String,
}

impl NativeRun {
    /// A run made in this process from `options`.
    pub fn from_report(report: Report, options: toml::Table, inputs: Inputs) -> Self {
        let saved = report.as_saved(Path::new(""));
        let records = report.chain_records().collect();
        let summary = serde_json::to_string(&report.summary_json()).unwrap_or_default();
        NativeRun { report: Some(report), saved, records, options: Some(options), inputs, loaded_toml: None, summary }
    }

    /// A run read back from its output directory.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let saved = SavedRun::load(dir)?;
        let records = read_chains(&dir.join("chains.csv"))?;
        let loaded_toml = std::fs::read_to_string(dir.join("experiment.toml")).ok();
        let path = dir.join("summary.json");
        let summary = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        Ok(NativeRun { report: None, saved, records, options: None, inputs: Inputs::default(), loaded_toml, summary })
    }

    /// A loaded run's experiment.toml for `dir`, naming its inputs where they will be: they
    /// were named by absolute path inside the directory it was loaded from.
    fn loaded_toml_for(&self, dir: &Path) -> Result<Option<String>, Error> {
        let Some(text) = &self.loaded_toml else { return Ok(None) };
        let (from, to) = (std::path::absolute(self.saved.dir.join(INPUTS)).map_err(Error::io(&self.saved.dir))?, std::path::absolute(dir.join(INPUTS)).map_err(Error::io(dir))?);
        match (from.to_str(), to.to_str()) {
            (Some(f), Some(t)) if f != t => Ok(Some(text.replace(&format!("{f}/"), &format!("{t}/")))),
            _ => Ok(Some(text.clone())),
        }
    }

    /// The files of a loaded run, read before anything is removed (`dir` may be the directory
    /// it was loaded from): its results, and its inputs (`inputs/`, relative names).
    fn loaded_files(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut files = Vec::new();
        for name in ["summary.json", "events.csv", "chains.csv", "trace.csv", "violations.csv", "points.npy"] {
            let from = self.saved.dir.join(name);
            if from.exists() {
                files.push((name.to_string(), std::fs::read(&from).map_err(Error::io(&from))?));
            }
        }
        let inputs = self.saved.dir.join(INPUTS);
        if inputs.is_dir() {
            for entry in std::fs::read_dir(&inputs).map_err(Error::io(&inputs))? {
                let from = entry.map_err(Error::io(&inputs))?.path();
                if let (true, Some(name)) = (from.is_file(), from.file_name().and_then(|n| n.to_str())) {
                    files.push((format!("{INPUTS}/{name}"), std::fs::read(&from).map_err(Error::io(&from))?));
                }
            }
        }
        Ok(files)
    }

    fn write(&self, dir: &Path, plots: PlotFormat, overwrite: bool) -> Result<Vec<PathBuf>, Error> {
        let files = if self.report.is_none() { self.loaded_files()? } else { Vec::new() };
        if self.inputs.any() {
            // Refused before the directory is made.
            crate::record::check_dir(dir)?;
        }
        // The directory is this save's alone while it writes (as a run's --out).
        let _lock = OutputLock::claim(dir)?;
        if dir.join("summary.json").exists() {
            if !overwrite {
                return Err(Error::invalid("dir", "a directory without a run, or overwrite=True to replace the run in it", dir.display()));
            }
            remove_run(dir)?;
        }
        match (&self.report, &self.options) {
            (Some(report), Some(table)) => {
                let mut table = table.clone();
                table.insert("out".into(), toml::Value::String(dir.display().to_string()));
                let (toml, inputs) = self.inputs.record(&table, &report.experiment, dir)?;
                // points.npy when the run asked for it, as `escapade run --save-points` writes it.
                let points = ["save-points", "save_points"].iter().any(|k| table.get(*k).and_then(toml::Value::as_bool) == Some(true));
                escapade::options::save_with_inputs(report, Some(&toml), dir, plots, points, &inputs)
            }
            _ => {
                let toml = self.loaded_toml_for(dir)?;
                // A loaded run: its files as they were read, then the plots, staged and moved in
                // whole as a run's results are.
                output::write_whole(dir, |stage| {
                    for (name, bytes) in files {
                        let to = stage.join(name);
                        if let Some(parent) = to.parent() {
                            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
                        }
                        std::fs::write(&to, bytes).map_err(Error::io(&to))?;
                    }
                    if let Some(text) = toml {
                        let path = stage.join("experiment.toml");
                        std::fs::write(&path, text).map_err(Error::io(&path))?;
                    }
                    match plots.ext() {
                        Some(ext) => render_plots(&self.saved, None, &stage.join("plots"), ext),
                        None => Ok(Vec::new()),
                    }
                })
            }
        }
    }
}

/// The curve's points as columns.
fn km_columns<'py>(py: Python<'py>, km: &Curve) -> PyResult<Bound<'py, PyDict>> {
    let p = &km.points;
    Ok(Columns::new(py)
        .num("t", p.iter().map(|x| x.t).collect())?
        .num("at_risk", p.iter().map(|x| x.at_risk).collect())?
        .num("events", p.iter().map(|x| x.events).collect())?
        .num("survival", p.iter().map(|x| x.survival).collect())?
        .num("se", p.iter().map(|x| x.se).collect())?
        .num("lower", p.iter().map(|x| x.lower).collect())?
        .num("upper", p.iter().map(|x| x.upper).collect())?
        .done())
}

fn cif_columns<'py>(py: Python<'py>, table: &TimeTable) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for cause in Outcome::ALL.into_iter().filter(|c| c.is_cause()) {
        let inc = table.cumulative_incidence(cause);
        let p = &inc.points;
        let cols = Columns::new(py)
            .num("t", p.iter().map(|x| x.t).collect())?
            .num("at_risk", p.iter().map(|x| x.at_risk).collect())?
            .num("events", p.iter().map(|x| x.events).collect())?
            .num("cif", p.iter().map(|x| x.cif).collect())?
            .num("se", p.iter().map(|x| x.se).collect())?
            .num("lower", p.iter().map(|x| x.lower).collect())?
            .num("upper", p.iter().map(|x| x.upper).collect())?
            .done();
        out.set_item(cause.name(), cols)?;
    }
    Ok(out)
}

#[pymethods]
impl NativeRun {
    /// summary.json's text.
    fn summary_json(&self) -> String {
        self.summary.clone()
    }

    /// The report's lines for people (a loaded run: its survival in one line per label).
    fn human_summary(&self) -> String {
        match &self.report {
            Some(r) => r.human_summary(),
            None => format!("{}: {} chains, {} escape events", self.saved.name(), self.saved.chains.len(), self.saved.events.len()),
        }
    }

    /// events.csv's columns.
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::convert::table_columns(py, &self.saved.events)
    }

    /// chains.csv's columns; empty cells are -1 (integers) or NaN (floats); sosp is 1, 0 or -1.
    fn chains<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::convert::table_columns(py, &self.records)
    }

    /// trace.csv's columns (chain, step, f, x0, x1, ...); empty when the run traced nothing.
    fn trace<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.saved.trace;
        let d = t.first().map_or(0, |p| p.x.len());
        let mut cols = Columns::new(py)
            .num("chain", t.iter().map(|p| p.chain).collect())?
            .num("step", t.iter().map(|p| p.step).collect())?
            .num("f", t.iter().map(|p| p.f).collect())?;
        for i in 0..d {
            cols = cols.num(&format!("x{i}"), t.iter().map(|p| p.x.get(i).copied().unwrap_or(f64::NAN)).collect())?;
        }
        Ok(cols.done())
    }

    /// The stall labels with saddle stalls.
    fn labels(&self) -> Vec<u32> {
        self.saved.survival().by_label.into_keys().collect()
    }

    /// Kaplan-Meier and cumulative-incidence tables (all labels, or one).
    #[pyo3(signature = (label=None))]
    fn survival<'py>(&self, py: Python<'py>, label: Option<u32>) -> PyResult<Bound<'py, PyDict>> {
        // The stall episodes once, for the tables and the pooled curve. The pooled curve's band
        // is chain-clustered, as the CLI's summary and plot give it: one chain contributes several
        // dependent stalls, and Greenwood's band would be too narrow.
        let episodes = self.saved.episodes();
        let tables = SurvivalTables::from_episodes(&episodes);
        let (table, km) = match label {
            None => (tables.overall(), clustered_kaplan_meier(&episodes)),
            Some(l) => {
                let table = tables.by_label.get(&l).cloned().ok_or_else(|| {
                    let known: Vec<String> = tables.by_label.keys().map(u32::to_string).collect();
                    to_py(Error::invalid("label", format!("a stall label of this run: {}", known.join(", ")), l))
                })?;
                let km = table.kaplan_meier();
                (table, km)
            }
        };
        let out = PyDict::new(py);
        out.set_item("kaplan_meier", km_columns(py, &km)?)?;
        out.set_item("cumulative_incidence", cif_columns(py, &table)?)?;
        Ok(out)
    }

    /// Writes the run's output files into `dir`; returns the plots written.
    #[pyo3(signature = (dir, plots="svg", overwrite=false))]
    fn save(&self, py: Python<'_>, dir: PathBuf, plots: &str, overwrite: bool) -> PyResult<Vec<PathBuf>> {
        // The plot format checked as `run --plots` checks it.
        let fmt = RunOptions::from_flags(&["--plots".into(), plots.into()]).map_err(to_py)?.args.plots;
        py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write(&dir, fmt, overwrite))))
            .map_err(crate::convert::panic_to_py)?
            .map_err(to_py)
    }

    /// Each chain's resting point, chains x d (what `--save-points` writes to points.npy): the
    /// run's own, or a loaded run's points.npy (None when it was saved without).
    fn points<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, numpy::PyArray2<f64>>>> {
        let (rows, d, values) = match &self.report {
            Some(r) => (r.raw.states.len(), r.experiment.objective.dim(), r.resting_points()),
            None => {
                let path = self.saved.dir.join("points.npy");
                if !path.exists() {
                    return Ok(None);
                }
                let m = escapade::objective::data::load_matrix(&path, "points").map_err(to_py)?;
                (m.rows, m.cols, m.data)
            }
        };
        use numpy::PyArrayMethods;
        Ok(Some(numpy::PyArray1::from_vec(py, values).reshape([rows, d])?))
    }

    /// The directory a loaded run came from (None for a run made in this process).
    #[getter]
    fn source_dir(&self) -> Option<PathBuf> {
        self.report.is_none().then(|| self.saved.dir.clone())
    }
}
