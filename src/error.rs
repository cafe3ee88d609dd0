//! The library's error type.

use std::fmt::Display;

/// Everything that can go wrong in escapade. User input never panics: it comes back as
/// [`Error::InvalidInput`] naming the field and the allowed values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter outside its allowed range.
    #[error("invalid {field}: got {got}, allowed: {allowed}")]
    InvalidInput {
        /// The parameter's name.
        field: String,
        /// What is allowed.
        allowed: String,
        /// What was given.
        got: String,
    },
    /// No GPU adapter could be found (and the GPU backend was required).
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The GPU reported an error (validation, out of memory, device lost).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A WGSL source (a custom objective) failed to parse or validate; the message starts with
    /// file:line:column.
    #[error("invalid WGSL: {0}")]
    Shader(String),
    /// The objective has no Rust twin, so the CPU backend cannot run it.
    #[error("objective {0} has no CPU twin (it is WGSL only): use --backend gpu, or implement the Objective trait in Rust")]
    NoCpuTwin(String),
    /// The run stopped after writing a checkpoint (resume it to continue).
    #[error("interrupted; resume from the checkpoint in {0}")]
    Interrupted(String),
    /// The device lacks a feature the experiment needs.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The ensemble does not fit the device's limits.
    #[error("does not fit the device: {0}")]
    TooLarge(String),
    /// Reading or writing files.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(field: impl Into<String>, allowed: impl Into<String>, got: impl Display) -> Self {
        Error::InvalidInput { field: field.into(), allowed: allowed.into(), got: got.to_string() }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
