//! Between Python and the library: keyword arguments into the options table the command line's
//! experiment files use, numpy arrays into the data matrices, the library's errors into Python
//! exceptions, and results into numpy arrays.

use escapade::Error;
use escapade::objective::data::Matrix;
use escapade::report::columns::{Table, Values};
use numpy::{PyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyException, PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

pyo3::create_exception!(_escapade, EscapadeError, PyException, "A run failed although its input was fine: no GPU adapter where one was required, the device was lost, files could not be written.");

/// The library's error as the Python exception the package documents: bad input (exit status 2
/// on the command line) is a ValueError, an interrupted run a KeyboardInterrupt, anything else
/// an EscapadeError. The message is the command line's.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Interrupted(_) | Error::Stopped(_) => PyKeyboardInterrupt::new_err(e.to_string()),
        e if e.exit_code() == 2 => PyValueError::new_err(e.to_string()),
        e => EscapadeError::new_err(e.to_string()),
    }
}

/// A panic inside the library as an EscapadeError (never across the boundary).
pub fn panic_to_py(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_default();
    EscapadeError::new_err(format!("internal error (a bug in escapade, please report it): {msg}"))
}

/// One keyword argument's value as a TOML value (`None` leaves the option at its default).
pub fn toml_value(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<toml::Value>> {
    if v.is_none() {
        return Ok(None);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Some(toml::Value::Boolean(v.extract()?)));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(Some(match v.extract::<i64>() {
            Ok(i) => toml::Value::Integer(i),
            // Seeds above i64::MAX (as experiment.toml writes them): a string keeps every bit.
            Err(_) => toml::Value::String(v.str()?.to_string()),
        }));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(Some(toml::Value::Float(v.extract()?)));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Some(toml::Value::String(v.extract()?)));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in v.try_iter()? {
            match toml_value(key, &item?)? {
                Some(t) => items.push(t),
                None => return Err(PyTypeError::new_err(format!("{key}: None inside a list"))),
            }
        }
        return Ok(Some(toml::Value::Array(items)));
    }
    // os.PathLike (pathlib.Path): its path.
    if v.hasattr("__fspath__")? {
        return Ok(Some(toml::Value::String(v.call_method0("__fspath__")?.extract()?)));
    }
    // numpy scalars, 0-d and 1-d arrays (np.int64, np.uint64, np.bool_, np.arange(3)): their
    // Python values, so that integers keep every bit (a seed through f64 would not) and booleans
    // stay booleans.
    if v.hasattr("dtype")? && v.hasattr("tolist")? {
        let plain = v.call_method0("tolist")?;
        if !plain.hasattr("dtype")? {
            return toml_value(key, &plain);
        }
    }
    // Anything else with a float value (Decimal, Fraction).
    if let Ok(f) = v.extract::<f64>() {
        return Ok(Some(toml::Value::Float(f)));
    }
    Err(PyTypeError::new_err(format!("{key}: expected a number, string, boolean, path or list, got {}", v.get_type().name()?)))
}

/// The options table of keyword arguments (None values left out).
pub fn table(kwargs: &Bound<'_, PyDict>) -> PyResult<toml::Table> {
    let mut t = toml::Table::new();
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        if let Some(value) = toml_value(&key, &v)? {
            t.insert(key, value);
        }
    }
    Ok(t)
}

/// A TOML value as a Python object.
pub fn py_value<'py>(py: Python<'py>, v: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        toml::Value::String(s) => s.into_pyobject(py)?.into_any(),
        toml::Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        toml::Value::Float(f) => f.into_pyobject(py)?.into_any(),
        toml::Value::Boolean(b) => b.into_pyobject(py)?.to_owned().into_any(),
        toml::Value::Array(a) => PyList::new(py, a.iter().map(|x| py_value(py, x)).collect::<PyResult<Vec<_>>>()?)?.into_any(),
        toml::Value::Table(t) => table_to_dict(py, t)?.into_any(),
        toml::Value::Datetime(d) => d.to_string().into_pyobject(py)?.into_any(),
    })
}

/// A TOML table as a dict.
pub fn table_to_dict<'py>(py: Python<'py>, t: &toml::Table) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in t {
        d.set_item(k, py_value(py, v)?)?;
    }
    Ok(d)
}

/// A numpy array (float32 or float64, any memory or byte order, 1-D as a column) as a matrix,
/// in logical row-major order. Its entries are checked by the library (as a data file's are).
pub fn matrix(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Matrix> {
    let (shape, data): (Vec<usize>, Vec<f64>) = if let Ok(a) = v.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        (a.as_array().shape().to_vec(), a.as_array().iter().copied().collect())
    } else if let Ok(a) = v.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        (a.as_array().shape().to_vec(), a.as_array().iter().map(|&x| f64::from(x)).collect())
    } else if let Some(a) = native(v)? {
        (a.as_array().shape().to_vec(), a.as_array().iter().copied().collect())
    } else if !v.is_instance(&v.py().import("numpy")?.getattr("ndarray")?)? && (v.hasattr("__array__")? || v.hasattr("__dlpack__")?) {
        // A JAX, torch or cupy array (a numpy one of another dtype is refused below): numpy.asarray
        // reads it (a copy).
        return matrix(name, &as_array(v)?);
    } else {
        let got = match v.getattr("dtype") {
            Ok(d) => format!("{} of dtype {}", v.get_type().name()?, d.str()?),
            Err(_) => v.get_type().name()?.to_string(),
        };
        return Err(PyTypeError::new_err(format!("data[{name:?}]: expected a float32 or float64 numpy array, got {got}")));
    };
    match shape.as_slice() {
        [n] => Ok(Matrix { rows: *n, cols: 1, data }),
        [r, c] => Ok(Matrix { rows: *r, cols: *c, data }),
        other => Err(to_py(Error::invalid(name, "a 1- or 2-dimensional array", format!("a {}-dimensional array", other.len())))),
    }
}

/// A byte-swapped float32 or float64 array (dtype '>f8' on a little-endian machine; a .npy file
/// of that dtype is read by the command line) as native float64; None for anything else.
fn native<'py>(v: &Bound<'py, PyAny>) -> PyResult<Option<PyReadonlyArrayDyn<'py, f64>>> {
    let Ok(dtype) = v.getattr("dtype") else { return Ok(None) };
    let float = dtype.getattr("kind").and_then(|k| k.extract::<String>()).is_ok_and(|k| k == "f");
    let size = dtype.getattr("itemsize").and_then(|s| s.extract::<usize>()).unwrap_or(0);
    if !float || !matches!(size, 4 | 8) || !v.hasattr("astype")? {
        return Ok(None);
    }
    Ok(v.call_method1("astype", ("=f8",))?.extract::<PyReadonlyArrayDyn<'py, f64>>().ok())
}

/// Columns as a dict of numpy arrays (and lists of strings), in order.
pub struct Columns<'py> {
    py: Python<'py>,
    dict: Bound<'py, PyDict>,
}

impl<'py> Columns<'py> {
    /// An empty set of columns.
    pub fn new(py: Python<'py>) -> Self {
        Columns { py, dict: PyDict::new(py) }
    }

    /// Adds a numeric column.
    pub fn num<T: numpy::Element>(self, name: &str, v: Vec<T>) -> PyResult<Self> {
        self.dict.set_item(name, PyArray1::from_vec(self.py, v))?;
        Ok(self)
    }

    /// Adds a column of strings.
    pub fn text(self, name: &str, v: Vec<String>) -> PyResult<Self> {
        self.dict.set_item(name, PyList::new(self.py, v)?)?;
        Ok(self)
    }

    /// The dict.
    pub fn done(self) -> Bound<'py, PyDict> {
        self.dict
    }
}

/// A table's columns (events.csv, chains.csv) as numpy arrays, in the CSV's order, from the one
/// declaration all writers use: integers as uint32, empty integer cells as -1 (int64), floats as
/// the CSV holds them, empty float cells as NaN, flags as int8 1/0 with -1 for empty, names as str.
pub fn table_columns<'py, T: Table>(py: Python<'py>, rows: &[T]) -> PyResult<Bound<'py, PyDict>> {
    let mut cols = Columns::new(py);
    for (name, values) in T::columns(rows) {
        cols = match values {
            Values::Int(v) => cols.num(name, v)?,
            Values::OptInt(v) => cols.num(name, v.into_iter().map(|x| x.map_or(-1, i64::from)).collect())?,
            Values::Float(v) => cols.num(name, v)?,
            Values::OptDouble(v) => cols.num(name, v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())?,
            Values::OptBool(v) => cols.num(name, v.into_iter().map(|x| x.map_or(-1i8, i8::from)).collect())?,
            Values::Text(v) => cols.text(name, v.into_iter().map(str::to_string).collect())?,
        };
    }
    Ok(cols.done())
}

/// Any array-like (a numpy array, a list, a JAX or torch array through `__array__`) as a
/// float64 numpy array.
pub fn as_array<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    v.py().import("numpy")?.call_method("asarray", (v,), Some(&[("dtype", "float64")].into_py_dict(v.py())?))
}
