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
    #[error("interrupted; the checkpoint is in {0}: run the same command with --resume to continue")]
    Interrupted(String),
    /// Work with nothing to resume (`escapade check`'s descents and spectra) stopped by
    /// SIGINT/SIGTERM before it wrote anything.
    #[error("interrupted: {0}")]
    Stopped(String),
    /// The device lacks a feature the experiment needs.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The ensemble does not fit the device's limits.
    #[error("does not fit the device: {0}")]
    TooLarge(String),
    /// An embedder's objective failed (a Python oracle's function raised): the embedder holds
    /// the cause (the Python exception, raised in its place).
    #[error("the objective failed: {0}")]
    Objective(String),
    /// Options the parser refused (an unknown flag, a malformed number, a missing value), in the
    /// parser's words: one line.
    #[error("{0}")]
    Usage(String),
    /// A search (`escapade tune`) found no candidate that meets its constraints.
    #[error("no feasible candidate: {0}")]
    Infeasible(String),
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

/// Reads `path` whole, refusing anything but a regular file before opening it: opening a FIFO
/// blocks until a writer comes (no signal ended that but SIGKILL), and a device such as
/// /dev/zero reads without end.
pub fn read_regular(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    let meta = std::fs::metadata(path).map_err(Error::io(path))?;
    if !meta.is_file() {
        return Err(Error::invalid(path.display().to_string(), "a regular file", kind_of(&meta)));
    }
    std::fs::read(path).map_err(Error::io(path))
}

/// What a file that is not a regular one is, in words.
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (it would block until a writer comes)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device (it would be read without end)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() { "a directory" } else { "not a regular file" }
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &std::path::Path) -> Result<String, Error> {
    String::from_utf8(read_regular(path)?).map_err(|e| Error::Io { path: path.display().to_string(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, e) })
}

impl Error {
    /// Maps an I/O error on `path` to [`Error::Io`] naming the path (for `map_err`).
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io { path: path.display().to_string(), source }
    }

    /// The process exit status a command line should end with for this error: 2 when the input
    /// must change (the user asked for something invalid or impossible), 1 when the input was
    /// fine and the run failed.
    ///
    /// | variant | status | why |
    /// |---|---|---|
    /// | [`Error::InvalidInput`] | 2 | a parameter outside its range |
    /// | [`Error::Usage`] | 2 | options the parser refused (an unknown flag, a malformed number) |
    /// | [`Error::Shader`] | 2 | the user's WGSL does not parse or validate |
    /// | [`Error::NoCpuTwin`] | 2 | a WGSL-only objective asked to run on the CPU backend |
    /// | [`Error::Unsupported`] | 2 | the request needs what this device or system lacks (e.g. `--state f64` without SHADER_F64, plots without a font): change the flags |
    /// | [`Error::TooLarge`] | 2 | the ensemble does not fit the device: ask for fewer chains or trace points |
    /// | [`Error::Io`], kind `NotFound`, `InvalidData`, `InvalidInput`, `IsADirectory`, `NotADirectory` or `AlreadyExists` | 2 | a named file or directory that does not exist or is not what it should be (a directory where a file is read, a file where a directory is made) |
    /// | [`Error::Io`], any other kind | 1 | reading or writing failed (permissions, a full disk, ...), e.g. writing outputs |
    /// | [`Error::NoAdapter`] | 1 | no GPU although one was required (`--backend gpu`, `escapade info`) |
    /// | [`Error::Gpu`] | 1 | the device failed (validation, out of memory, device lost) |
    /// | [`Error::Infeasible`] | 1 | a search ran and no candidate met its constraints |
    /// | [`Error::Objective`] | 1 | an embedder's objective failed (a Python oracle's function raised) |
    /// | [`Error::Interrupted`] | 130 | the run was stopped (SIGINT/SIGTERM) after writing a checkpoint; resume it |
    /// | [`Error::Stopped`] | 130 | work with nothing to resume was stopped (SIGINT/SIGTERM) before writing anything |
    pub fn exit_code(&self) -> i32 {
        use std::io::ErrorKind;
        match self {
            Error::InvalidInput { .. } | Error::Usage(_) | Error::Shader(_) | Error::NoCpuTwin(_) | Error::Unsupported(_) | Error::TooLarge(_) => 2,
            Error::Io { source, .. } => match source.kind() {
                ErrorKind::NotFound
                | ErrorKind::InvalidData
                | ErrorKind::InvalidInput
                | ErrorKind::IsADirectory
                | ErrorKind::NotADirectory
                | ErrorKind::AlreadyExists => 2,
                _ => 1,
            },
            Error::Interrupted(_) | Error::Stopped(_) => 130,
            Error::NoAdapter(_) | Error::Gpu(_) | Error::Objective(_) | Error::Infeasible(_) => 1,
        }
    }

    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(field: impl Into<String>, allowed: impl Into<String>, got: impl Display) -> Self {
        Error::InvalidInput { field: field.into(), allowed: allowed.into(), got: got.to_string() }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Error;
    use std::io::ErrorKind;

    fn io(kind: ErrorKind) -> Error {
        Error::Io { path: "f".into(), source: std::io::Error::from(kind) }
    }

    #[test]
    fn exit_codes_separate_bad_input_from_runtime_failures() {
        for e in [
            Error::invalid("chains", "an integer >= 1", 0),
            Error::Shader("f.wgsl:1:1: expected".into()),
            Error::NoCpuTwin("custom".into()),
            Error::Unsupported("state f64 needs SHADER_F64".into()),
            Error::TooLarge("trace".into()),
            io(ErrorKind::NotFound),
            io(ErrorKind::InvalidData),
            io(ErrorKind::IsADirectory),
            io(ErrorKind::NotADirectory),
            io(ErrorKind::AlreadyExists),
        ] {
            assert_eq!(e.exit_code(), 2, "{e}");
        }
        for e in [
            Error::NoAdapter("none".into()),
            Error::Gpu("device lost".into()),
            Error::Objective("fn raised".into()),
            io(ErrorKind::PermissionDenied),
            io(ErrorKind::Other),
        ] {
            assert_eq!(e.exit_code(), 1, "{e}");
        }
        assert_eq!(Error::Interrupted("out/checkpoint".into()).exit_code(), 130);
    }
}
