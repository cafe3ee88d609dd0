//! `escapade.Oracle`: an objective given as a batched Python function (numpy, JAX, torch), run
//! on the CPU backend's batched path ([`escapade::objective::Batch`]): one call per step for a
//! block's stepping chains, and one for the new points of the step's kicks. The run holds no GIL; each call takes it, hands the points over as a
//! numpy array of the run's float type and checks what comes back (shapes, dtypes) with errors
//! that name the function. An exception raised by the function ends the run and is raised by
//! `run()` as it was (KeyboardInterrupt included), never replaced or lost.

use escapade::objective::{Batch, DeviceForm, Eval, Objective};
use escapade::{Error, PgdParams};
use numpy::{Element, PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A batched objective: ``fn(X)`` takes the points as a (n, dim) array and returns
/// ``(values, gradients)`` of shapes (n,) and (n, dim), or ``(values, gradients, labels)`` with
/// integer region labels (n,) >= 0. ``hvp(X, V)``, when given, returns the Hessian-vector
/// products H(x_i) v_i (n, dim) (else central differences of gradients are taken). ``f_min``:
/// the global minimum value, when known. ``name``: for reports and the fingerprint (default:
/// fn's ``__name__``).
#[pyclass(name = "Oracle", module = "escapade._escapade", frozen)]
pub struct Oracle {
    fun: Py<PyAny>,
    hvp: Option<Py<PyAny>>,
    /// Dimension d of a point.
    #[pyo3(get)]
    dim: usize,
    /// The global minimum value, when known.
    #[pyo3(get)]
    f_min: Option<f64>,
    /// The oracle's name (reports, the fingerprint).
    #[pyo3(get)]
    name: String,
}

#[pymethods]
impl Oracle {
    #[new]
    #[pyo3(signature = (r#fn, dim, *, hvp=None, f_min=None, name=None))]
    fn new(py: Python<'_>, r#fn: Py<PyAny>, dim: &Bound<'_, PyAny>, hvp: Option<Py<PyAny>>, f_min: Option<f64>, name: Option<String>) -> PyResult<Self> {
        if !r#fn.bind(py).is_callable() {
            return Err(PyTypeError::new_err(format!("Oracle fn: expected a callable fn(X) -> (values, gradients), got {}", r#fn.bind(py).get_type().name()?)));
        }
        if let Some(h) = hvp.as_ref().filter(|h| !h.bind(py).is_callable()) {
            return Err(PyTypeError::new_err(format!("Oracle hvp: expected a callable hvp(X, V) -> products, or None, got {}", h.bind(py).get_type().name()?)));
        }
        let dim = match dim.extract::<i64>() {
            Ok(d) if d >= 1 && d <= i64::from(u32::MAX) => d as usize,
            _ => return Err(PyValueError::new_err(format!("Oracle dim: got {}, allowed: an integer >= 1", dim.repr()?))),
        };
        if let Some(f) = f_min.filter(|f| !f.is_finite()) {
            return Err(PyValueError::new_err(format!("Oracle f_min: got {f}, allowed: a finite number or None")));
        }
        let name = match name {
            Some(n) => n,
            None => r#fn.bind(py).getattr("__name__").and_then(|n| n.extract::<String>()).unwrap_or_else(|_| "oracle".into()),
        };
        Ok(Oracle { fun: r#fn, hvp, dim, f_min, name })
    }

    /// The function fn(X).
    #[getter(r#fn)]
    fn function(&self, py: Python<'_>) -> Py<PyAny> {
        self.fun.clone_ref(py)
    }

    /// The Hessian-vector products hvp(X, V), or None.
    #[getter(hvp)]
    fn products(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.hvp.as_ref().map(|h| h.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!("Oracle({}, dim={}{})", self.name, self.dim, if self.hvp.is_some() { ", hvp=..." } else { "" })
    }
}

/// The library's objective for an [`Oracle`]: the calls, and the first exception they raised.
#[derive(Debug)]
pub struct PyObjective {
    fun: Py<PyAny>,
    hvp: Option<Py<PyAny>>,
    dim: usize,
    f_min: Option<f64>,
    name: String,
    /// Set with the first exception: no call after it (the run is ending for it).
    failed: AtomicBool,
    /// The first exception, raised by `run()` in place of the library's error.
    error: Mutex<Option<PyErr>>,
}

/// `objective=` given as an [`Oracle`]: taken out of the options (the table keeps
/// `objective = "oracle"` to say so) as the objective the run evaluates. A resumed run is warned
/// that the function's code is not part of the fingerprint.
pub fn take(options: &Bound<'_, PyDict>) -> PyResult<Option<Arc<PyObjective>>> {
    let Some(v) = options.get_item("objective")? else { return Ok(None) };
    let Ok(o) = v.cast::<Oracle>() else { return Ok(None) };
    let o = o.get();
    let py = options.py();
    options.set_item("objective", "oracle")?;
    if options.get_item("resume")?.is_some_and(|r| r.is_truthy().unwrap_or(false)) {
        let msg = format!("resuming with Oracle {:?}: the checkpoint's fingerprint holds its name and dim, not its code; resume only with the function the run started with", o.name);
        PyErr::warn(py, &py.get_type::<PyUserWarning>(), &std::ffi::CString::new(msg).unwrap_or_default(), 1)?;
    }
    Ok(Some(Arc::new(PyObjective {
        fun: o.fun.clone_ref(py),
        hvp: o.hvp.as_ref().map(|h| h.clone_ref(py)),
        dim: o.dim,
        f_min: o.f_min,
        name: o.name.clone(),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
    })))
}

impl PyObjective {
    /// The exception the last run's calls raised, taken (the next run starts without one).
    pub fn take_exception(&self) -> Option<PyErr> {
        self.failed.store(false, Ordering::Relaxed);
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Keeps the first exception and answers the library's error for it.
    fn fail(&self, py: Python<'_>, e: PyErr) -> Error {
        let text = e.value(py).repr().map(|r| r.to_string()).unwrap_or_else(|_| e.to_string());
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
        self.failed.store(true, Ordering::Relaxed);
        Error::Objective(format!("Oracle {}: {text}", self.name))
    }

    fn failure(&self) -> Error {
        Error::Objective(format!("Oracle {}: it raised an exception", self.name))
    }

    /// fn at the n points `x` (n x d) in float type T: values, labels into `out`, gradients
    /// into `grad`.
    fn call<T: Element + num_traits::Float>(&self, x: &[T], grad: &mut [T], out: &mut [Eval<T>]) -> Result<(), Error> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(self.failure());
        }
        let (n, d) = (out.len(), self.dim);
        Python::attach(|py| {
            let result = (|| -> PyResult<()> {
                let points = PyArray1::from_slice(py, x).reshape([n, d])?;
                let ret = self.fun.call1(py, (points,))?;
                let ret = ret.bind(py);
                let items = ret.cast::<PyTuple>().ok().filter(|t| matches!(t.len(), 2 | 3)).ok_or_else(|| {
                    PyTypeError::new_err(format!("Oracle {}: fn must return (values, gradients) or (values, gradients, labels), got {}", self.name, describe(ret)))
                })?;
                let values = self.read::<T>(&items.get_item(0)?, "fn's values", &[n])?;
                self.read_into::<T>(&items.get_item(1)?, "fn's gradients", &[n, d], grad)?;
                let labels = match items.len() {
                    3 => Some(self.labels(&items.get_item(2)?, n)?),
                    _ => None,
                };
                for (k, e) in out.iter_mut().enumerate() {
                    *e = Eval { value: values[k], label: labels.as_ref().map_or(0, |l| l[k]), in_domain: true };
                }
                Ok(())
            })();
            result.map_err(|e| self.fail(py, e))
        })
    }

    /// An output as a float array of exactly `shape` (any array numpy reads: numpy, JAX and
    /// torch arrays through `__array__`, others through DLPack), values in T.
    fn read<T: Element + num_traits::Float>(&self, v: &Bound<'_, PyAny>, what: &str, shape: &[usize]) -> PyResult<Vec<T>> {
        let mut out = vec![T::zero(); shape.iter().product()];
        self.read_into(v, what, shape, &mut out)?;
        Ok(out)
    }

    fn read_into<T: Element + num_traits::Float>(&self, v: &Bound<'_, PyAny>, what: &str, shape: &[usize], out: &mut [T]) -> PyResult<()> {
        // A numpy array of T is read in place; anything else is converted once by numpy.
        let converted;
        let array = match v.extract::<PyReadonlyArrayDyn<'_, T>>() {
            Ok(a) => a,
            Err(_) => {
                converted = as_numpy(v, T::get_dtype(v.py()).into_any()).map_err(|e| {
                    PyTypeError::new_err(format!("Oracle {}: {what}: expected a float array, got {} ({e})", self.name, describe(v)))
                })?;
                converted.extract::<PyReadonlyArrayDyn<'_, T>>()?
            }
        };
        if array.shape() != shape {
            return Err(PyValueError::new_err(format!("Oracle {}: {what} of shape {:?}, expected {:?} (a row per point of X)", self.name, array.shape(), shape)));
        }
        match array.as_slice() {
            Ok(s) => out.copy_from_slice(s),
            Err(_) => out.iter_mut().zip(array.as_array().iter()).for_each(|(o, v)| *o = *v),
        }
        Ok(())
    }

    /// The third output: integer labels (n,), each in 0..=u32::MAX.
    fn labels(&self, v: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<u32>> {
        let a = v.py().import("numpy")?.call_method1("asarray", (v,))?;
        let kind: String = a.getattr("dtype")?.getattr("kind")?.extract()?;
        if !matches!(kind.as_str(), "i" | "u" | "b") {
            return Err(PyTypeError::new_err(format!("Oracle {}: fn's labels: expected integers, got dtype {}", self.name, a.getattr("dtype")?.str()?)));
        }
        let a = a.call_method1("astype", ("int64",))?;
        let labels = self.read_ints(&a, n)?;
        labels.iter().map(|&l| u32::try_from(l).map_err(|_| PyValueError::new_err(format!("Oracle {}: fn's labels: got {l}, allowed: integers from 0 to {}", self.name, u32::MAX)))).collect()
    }

    fn read_ints(&self, a: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<i64>> {
        let a = a.extract::<PyReadonlyArrayDyn<'_, i64>>()?;
        if a.shape() != [n] {
            return Err(PyValueError::new_err(format!("Oracle {}: fn's labels of shape {:?}, expected [{n}] (a label per point of X)", self.name, a.shape())));
        }
        Ok(a.as_array().iter().copied().collect())
    }

    /// One point: fn on a 1 x d array; a failure answers a point outside the domain (the run
    /// ends with the error the backend then takes).
    fn one<T: Element + num_traits::Float>(&self, x: &[T], grad: &mut [T]) -> Eval<T> {
        let mut e = [Eval::outside()];
        match self.call(x, grad, &mut e) {
            Ok(()) => e[0],
            Err(_) => Eval::outside(),
        }
    }
}

/// `v` as a numpy array of `dtype`: numpy.asarray (numpy, `__array__`: JAX, torch on the CPU,
/// without a copy where the memory allows), else numpy.from_dlpack.
fn as_numpy<'py>(v: &Bound<'py, PyAny>, dtype: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let np = v.py().import("numpy")?;
    if !v.hasattr("__array__")? && v.hasattr("__dlpack__")? {
        return np.call_method1("from_dlpack", (v,))?.call_method1("astype", (dtype,));
    }
    np.call_method1("asarray", (v, dtype))
}

/// What a returned object is, for errors: its type, and a shape where it has one.
fn describe(v: &Bound<'_, PyAny>) -> String {
    let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    match v.getattr("shape") {
        Ok(s) => format!("{ty} of shape {}", s.str().map(|s| s.to_string()).unwrap_or_default()),
        Err(_) => match v.cast::<PyTuple>() {
            Ok(t) => format!("a tuple of {} items", t.len()),
            Err(_) => ty,
        },
    }
}

impl Objective for PyObjective {
    fn name(&self) -> &'static str {
        "oracle"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval_f64(&self, x: &[f64], grad: &mut [f64]) -> Eval<f64> {
        self.one(x, grad)
    }
    fn eval_f32(&self, x: &[f32], grad: &mut [f32]) -> Eval<f32> {
        self.one(x, grad)
    }
    /// The name and what the function offers; its code is not hashed (a resumed run is warned).
    fn params(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "dim": self.dim, "hvp": self.hvp.is_some(), "f_min": self.f_min, "code": "not hashed" })
    }
    fn default_params(&self) -> PgdParams {
        // No scale is known: those of a custom objective (set eta for the function's smoothness).
        PgdParams { eta: 0.01, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 20, certify: 0 }
    }
    fn f_min(&self) -> Option<f64> {
        self.f_min
    }
    fn device(&self) -> &dyn DeviceForm {
        self
    }
    fn batch(&self) -> Option<&dyn Batch> {
        Some(self)
    }
}

/// No WGSL form: the GPU backend refuses a batched objective before it asks for one.
impl DeviceForm for PyObjective {
    fn wgsl(&self) -> String {
        String::new()
    }
}

impl Batch for PyObjective {
    fn eval_batch_f32(&self, x: &[f32], grad: &mut [f32], out: &mut [Eval<f32>]) -> Result<(), Error> {
        self.call(x, grad, out)
    }
    fn eval_batch_f64(&self, x: &[f64], grad: &mut [f64], out: &mut [Eval<f64>]) -> Result<(), Error> {
        self.call(x, grad, out)
    }
    fn hvp_batch_f64(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<bool, Error> {
        let Some(hvp) = &self.hvp else { return Ok(false) };
        if self.failed.load(Ordering::Relaxed) {
            return Err(self.failure());
        }
        let (d, n) = (self.dim, out.len() / self.dim.max(1));
        Python::attach(|py| {
            let result = (|| -> PyResult<()> {
                let xs = PyArray1::from_slice(py, x).reshape([n, d])?;
                let vs = PyArray1::from_slice(py, v).reshape([n, d])?;
                let ret = hvp.call1(py, (xs, vs))?;
                self.read_into::<f64>(ret.bind(py), "hvp's products", &[n, d], out)
            })();
            result.map_err(|e| self.fail(py, e))
        })?;
        Ok(true)
    }
    fn take_error(&self) -> Option<Error> {
        self.failed.load(Ordering::Relaxed).then(|| self.failure())
    }
}
