//! The `escapade` command line inside the extension: what `python -m escapade` and the
//! `escapade` command pip installs run (the library's own command line, not a copy), and the
//! text of `escapade list`.

use crate::convert::panic_to_py;
use pyo3::prelude::*;
use std::io::Write;

/// Runs the command line `argv` (the program's name first, as in `sys.argv`) with the GIL
/// released and returns its exit status; it prints as the binary does. `--help` and `--version`
/// end the process, as they end the binary.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> PyResult<u8> {
    // SAFETY: the interpreter runs this as the process's command (`python -m escapade`), on its
    // main thread before escapade starts any thread of its own.
    unsafe { escapade::cli::process::prepare() };
    let code = py.detach(|| std::panic::catch_unwind(|| escapade::cli::main_with(argv))).map_err(panic_to_py)?;
    // Rust's stdout is buffered apart from Python's: flushed before Python exits.
    let _ = std::io::stdout().flush();
    Ok(code)
}

/// `escapade tune ARGV...` (the program's name first), with the GIL released: bad input raises
/// ValueError with the command line's words, an interrupt KeyboardInterrupt.
#[pyfunction]
fn tune(py: Python<'_>, argv: Vec<String>) -> PyResult<()> {
    let result = py.detach(|| std::panic::catch_unwind(|| escapade::cli::tune_with(argv))).map_err(panic_to_py)?;
    let _ = std::io::stdout().flush();
    result.map_err(crate::convert::to_py)
}

/// What `escapade list` prints.
#[pyfunction]
fn list_text() -> String {
    escapade::cli::list_text()
}

/// Adds the command line's functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add_function(wrap_pyfunction!(list_text, m)?)?;
    m.add_function(wrap_pyfunction!(tune, m)?)?;
    Ok(())
}
