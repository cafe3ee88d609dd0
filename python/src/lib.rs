//! escapade's Python module `escapade._escapade`: the library's options, runner and results
//! behind a thin layer (the package `escapade` wraps it). Nothing is implemented twice: keyword
//! arguments become the options table experiment files use, parsed and checked by the library as
//! `escapade run` parses and checks its flags; data arrays are checked by the library's data
//! checks; runs go through the library's plan and runner.

mod command;
mod convert;
mod oracle;
mod record;
mod run;

use convert::{EscapadeError, panic_to_py, table, table_to_dict, to_py};
use escapade::advanced::Progress;
use escapade::objective::catalogue::CATALOGUE;
use escapade::objective::data::Matrix;
use escapade::options::{Engines, Plan, RunOptions, SWITCHES, read_table, table_to_flags};
use escapade::{Error, ObjectiveSpec, Report};
use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use run::NativeRun;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// GPU engines opened once per process: later runs reuse them and their compiled kernels.
fn engines() -> &'static Mutex<Engines> {
    static ENGINES: OnceLock<Mutex<Engines>> = OnceLock::new();
    ENGINES.get_or_init(|| Mutex::new(Engines::default()))
}

/// Checked run options: the table of keyword arguments, with data arrays and WGSL source.
#[pyclass(name = "_Options", module = "escapade._escapade", frozen)]
struct Options {
    table: toml::Table,
    /// Shared with the runs made from these options (their records), never copied for them.
    arrays: Option<Arc<Vec<Matrix>>>,
    wgsl: Option<(String, String)>,
    /// `init=` given as an array: a row per chain (or one row, or a 1-D point).
    init_points: Option<escapade::Points>,
    /// `objective=` given as an `escapade.Oracle`.
    oracle: Option<Arc<oracle::PyObjective>>,
}

impl Options {
    /// The parsed options, with `table` in place of the stored one.
    fn parsed(&self, table: &toml::Table) -> Result<RunOptions, Error> {
        let mut o = RunOptions::from_table(table, "options")?;
        o.args.obj.arrays = self.arrays.as_deref().cloned();
        o.args.obj.wgsl_source = self.wgsl.clone();
        o.args.init_points = self.init_points.clone();
        o.args.obj.given = self.oracle.clone().map(|o| o as Arc<dyn escapade::Objective>);
        Ok(o)
    }

    /// What the options table does not hold: arrays and source given in memory.
    fn inputs(&self) -> record::Inputs {
        record::Inputs { arrays: self.arrays.clone(), init: self.init_points.clone(), wgsl: self.wgsl.as_ref().map(|(_, s)| s.clone()), oracle: self.oracle.is_some() }
    }
}

/// `init=` given as an array (anything but a string): taken out of the options and read as a
/// matrix of starts, a 1-D array as one row; the table keeps `init = "array"` to say so.
fn init_array(options: &Bound<'_, PyDict>) -> PyResult<Option<escapade::Points>> {
    let Some(v) = options.get_item("init")? else { return Ok(None) };
    if v.is_none() || v.is_instance_of::<pyo3::types::PyString>() {
        return Ok(None);
    }
    let array = convert::as_array(&v)?;
    let m = convert::matrix("init", &array)?;
    // A 1-D array of d values is one point (convert::matrix makes it d x 1).
    let rows = if array.getattr("ndim")?.extract::<usize>()? == 1 { 1 } else { m.rows };
    let data = m.data;
    let points = escapade::Points::new("array".into(), rows, data).map_err(to_py)?;
    options.set_item("init", "array")?;
    Ok(Some(points))
}

/// The data arrays for `objective`: a dict by name (its catalogue row's data names: phase-retrieval
/// A and y, matrix-factorization M, linear-network Y, mlp X and y) or a sequence in that order.
fn arrays(objective: &str, data: &Bound<'_, PyAny>) -> PyResult<Vec<Matrix>> {
    let names = ObjectiveSpec::data_names(objective);
    if let Ok(d) = data.cast::<PyDict>() {
        let keys: Vec<String> = d.keys().iter().map(|k| k.str().map(|s| s.to_string())).collect::<PyResult<_>>()?;
        let mut sorted = keys.clone();
        sorted.sort();
        // Optional arrays (`x_star?`) may be left out; the ones given are taken in order.
        let given: Vec<&str> = names.iter().map(|n| n.trim_end_matches('?')).filter(|n| keys.iter().any(|k| k == n)).collect();
        let mut want: Vec<String> = given.iter().map(|s| s.to_string()).collect();
        want.sort();
        let required = escapade::objective::catalogue::required_data(names);
        if names.is_empty() || sorted != want || given.len() < required || given[..required] != names[..required] {
            let optional: Vec<&str> = names[required..].iter().map(|n| n.trim_end_matches('?')).collect();
            let extra = if optional.is_empty() { String::new() } else { format!(" (optional: {})", optional.join(", ")) };
            let allowed = if names.is_empty() { format!("no data for {objective}") } else { format!("a dict with the arrays {}{extra}", names[..required].join(", ")) };
            return Err(to_py(Error::invalid("data", allowed, format!("the keys {}", keys.join(", ")))));
        }
        return given.iter().map(|n| convert::matrix(n, &d.get_item(n)?.ok_or_else(|| PyTypeError::new_err(format!("data[{n:?}] is missing")))?)).collect();
    }
    if data.is_instance_of::<PyList>() || data.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = data.try_iter()?.collect::<PyResult<_>>()?;
        return items.iter().enumerate().map(|(i, a)| convert::matrix(names.get(i).copied().unwrap_or("data"), a)).collect();
    }
    Err(PyTypeError::new_err(format!("data: expected a dict of numpy arrays, got {}", data.get_type().name()?)))
}

/// Checks keyword arguments as `escapade run` checks its flags. Keys that are no flag of `run`
/// raise TypeError; values `run` refuses raise ValueError with its message.
#[pyfunction]
#[pyo3(signature = (options, data=None, wgsl_source=None))]
fn parse(options: &Bound<'_, PyDict>, data: Option<&Bound<'_, PyAny>>, wgsl_source: Option<String>) -> PyResult<Options> {
    let known = RunOptions::flag_names();
    for key in options.keys() {
        let key: String = key.extract()?;
        if !known.contains(&key.replace('_', "-")) {
            // The command line's tip for a misspelt flag (clap's: Jaro-Winkler above 0.7).
            let close = known.iter().map(|k| (strsim::jaro_winkler(&key.replace('_', "-"), k), k)).filter(|(s, _)| *s > 0.7).max_by(|a, b| a.0.total_cmp(&b.0));
            let tip = close.map_or(String::new(), |(_, k)| format!(" (tip: a similar option exists: {:?})", k.replace('-', "_")));
            return Err(PyTypeError::new_err(format!(
                "unexpected keyword argument {key:?}{tip}; the options are `escapade run`'s flags: {}",
                known.iter().map(|k| k.replace('-', "_")).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let options = options.copy()?;
    let init_points = init_array(&options)?;
    let oracle = oracle::take(&options)?;
    let table = table(&options)?;
    let mut o = Options { table, arrays: None, wgsl: wgsl_source.map(|s| ("<wgsl>".to_string(), s)), init_points, oracle };
    let parsed = o.parsed(&o.table).map_err(to_py)?;
    if let Some(d) = data {
        o.arrays = Some(Arc::new(arrays(&parsed.args.obj.objective, d)?));
    }
    // Everything checked now, data included, before any run.
    let parsed = o.parsed(&o.table).map_err(to_py)?;
    escapade::options::check(&parsed.args).map_err(to_py)?;
    Ok(o)
}

/// A progress snapshot as a dict.
fn progress_dict<'py>(py: Python<'py>, p: &Progress, start: Instant) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let secs = start.elapsed().as_secs_f64();
    d.set_item("t_end", p.t_end)?;
    d.set_item("steps", p.steps)?;
    d.set_item("chains", p.chains)?;
    d.set_item("chains_done", p.chains_done)?;
    d.set_item("running", p.running)?;
    d.set_item("certified", p.certified)?;
    d.set_item("diverged", p.diverged)?;
    d.set_item("events", p.events)?;
    d.set_item("work_done", p.work_done())?;
    d.set_item("work_total", p.work_total())?;
    d.set_item("fraction", p.work_done() as f64 / p.work_total().max(1) as f64)?;
    d.set_item("chain_steps_per_second", p.work_done() as f64 / secs.max(1e-9))?;
    d.set_item("elapsed_seconds", secs)?;
    Ok(d)
}

#[pymethods]
impl Options {
    /// The options as given (a dict).
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        table_to_dict(py, &self.table)
    }

    /// The options as experiment.toml records them (every option, defaults included). Arrays
    /// or source given in memory cannot be named in a string: refused, never left out.
    fn to_toml(&self) -> PyResult<String> {
        if self.inputs().any() {
            let given = [("data arrays", self.arrays.is_some()), ("an init array", self.init_points.is_some()), ("WGSL source", self.wgsl.is_some()), ("an Oracle (a Python function)", self.oracle.is_some())];
            let given: Vec<&str> = given.iter().filter(|g| g.1).map(|g| g.0).collect();
            let why = "an experiment whose inputs are files (Run.save(dir) or run(out=dir) writes in-memory inputs into the run directory and names them in its experiment.toml)";
            return Err(to_py(Error::invalid("to_toml", why, given.join(", "))));
        }
        Ok(self.parsed(&self.table).map_err(to_py)?.to_toml())
    }

    /// Runs the experiment with the GIL released. `out`: write the output directory as
    /// `escapade run --out` does (checkpoints included). `progress`: called with a dict at most
    /// every `interval` seconds and at the end. Ctrl-C stops the run at the next dispatch (a
    /// checkpoint is saved where `out` is given) and raises KeyboardInterrupt.
    #[pyo3(signature = (out=None, progress=None, interval=0.1))]
    fn run(&self, py: Python<'_>, out: Option<PathBuf>, progress: Option<Py<PyAny>>, interval: f64) -> PyResult<(NativeRun, Option<String>)> {
        let mut table = self.table.clone();
        if let Some(o) = &out {
            table.insert("out".into(), toml::Value::String(o.display().to_string()));
        }
        let opts = self.parsed(&table).map_err(to_py)?;
        // Where in-memory inputs will be named, checked before the work rather than after it.
        if let (Some(dir), true) = (&out, self.inputs().any()) {
            record::check_dir(dir).map_err(to_py)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let raised: Mutex<Option<PyErr>> = Mutex::new(None);
        let raise = |e: PyErr| {
            stop.store(true, Ordering::Relaxed);
            if let Ok(mut r) = raised.lock() {
                r.get_or_insert(e);
            }
        };
        let interval = Duration::from_secs_f64(interval.max(0.0));
        let work = || -> Result<(Report, Option<String>), Error> {
            let plan = {
                let mut engines = engines().lock().unwrap_or_else(|p| p.into_inner());
                Plan::new(&opts.args, out.as_deref(), &mut engines, Some(stop.clone()))?
            };
            let start = Instant::now();
            let mut last: Option<Instant> = None;
            let mut observe = |p: &Progress| {
                Python::attach(|py| {
                    if let Err(e) = py.check_signals() {
                        return raise(e);
                    }
                    // Not again once it raised (the run is stopping for that exception).
                    let Some(cb) = progress.as_ref().filter(|_| raised.lock().is_ok_and(|r| r.is_none())) else { return };
                    let end = p.work_done() >= p.work_total();
                    if end || last.is_none_or(|l| l.elapsed() >= interval) {
                        last = Some(Instant::now());
                        if let Err(e) = progress_dict(py, p, start).and_then(|d| cb.call1(py, (d,))) {
                            raise(e);
                        }
                    }
                })
            };
            let report = plan.run(&mut observe)?;
            if let Some(dir) = &out {
                let inputs = self.inputs();
                let (toml, files) = inputs.record(&table, &report.experiment, dir)?;
                escapade::options::save_with_inputs(&report, Some(&toml), dir, opts.args.plots, opts.args.save_points, &files)?;
                plan.clear_checkpoint();
            }
            Ok((report, plan.fallback.clone()))
        };
        let result = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        let result = result.map_err(panic_to_py)?;
        // The oracle's exception as it was raised: the run ended for it.
        if let Some(e) = self.oracle.as_ref().and_then(|o| o.take_exception()) {
            return Err(e);
        }
        // A KeyboardInterrupt or the callback's exception first: the run stopped for it.
        if let Some(e) = raised.lock().ok().and_then(|mut r| r.take()) {
            if let (Err(Error::Interrupted(ck)), true) = (&result, out.is_some() && e.is_instance_of::<PyKeyboardInterrupt>(py)) {
                return Err(PyKeyboardInterrupt::new_err(format!("interrupted; the checkpoint is in {ck}: run again with resume=True to continue")));
            }
            return Err(e);
        }
        let (report, fallback) = result.map_err(to_py)?;
        Ok((NativeRun::from_report(report, table, self.inputs()), fallback))
    }
}

/// Reads a TOML experiment file into a dict of options, checked as `escapade run FILE` checks it.
#[pyfunction]
fn read_experiment(path: PathBuf) -> PyResult<Py<PyDict>> {
    let table = read_table(&path).map_err(to_py)?;
    table_to_flags(&table, &path.display().to_string(), &RunOptions::flag_names(), &SWITCHES).map_err(to_py)?;
    Python::attach(|py| Ok(table_to_dict(py, &table)?.unbind()))
}

/// Reads a run's output directory back.
#[pyfunction]
fn load(py: Python<'_>, dir: PathBuf) -> PyResult<NativeRun> {
    py.detach(|| std::panic::catch_unwind(|| NativeRun::load(&dir))).map_err(panic_to_py)?.map_err(to_py)
}

/// The long names of `escapade run`'s flags (the option names, kebab-case).
#[pyfunction]
fn flag_names() -> Vec<String> {
    RunOptions::flag_names()
}

/// The built-in objectives, one dict per catalogue row (what `escapade list` prints): name, doc,
/// the dimension rule, the options it reads (snake_case), the data arrays it takes and the
/// usage line with ranges and defaults.
#[pyfunction]
fn objectives(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    CATALOGUE
        .iter()
        .map(|e| {
            let d = PyDict::new(py);
            d.set_item("name", e.name)?;
            d.set_item("doc", e.doc)?;
            d.set_item("dim", e.dim.describe())?;
            d.set_item("options", e.flags.iter().map(|f| f.name.replace('-', "_")).collect::<Vec<_>>())?;
            d.set_item("data", e.data.to_vec())?;
            d.set_item("usage", e.usage_line())?;
            Ok(d)
        })
        .collect()
}

/// escapade's native module.
#[pymodule]
fn _escapade(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("EscapadeError", m.py().get_type::<EscapadeError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Options>()?;
    m.add_class::<NativeRun>()?;
    m.add_class::<oracle::Oracle>()?;
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    m.add_function(wrap_pyfunction!(read_experiment, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(flag_names, m)?)?;
    m.add_function(wrap_pyfunction!(objectives, m)?)?;
    command::register(m)?;
    Ok(())
}
