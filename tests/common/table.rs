//! The hostile-input table: each row is one bad input (a command line and the files it reads),
//! the exit status it must get and fragments its message must hold. Every row is also checked
//! against the contract for bad input: no panic, no abort (status 101 or 134, or a signal), and
//! the error in one line of stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One bad input.
pub struct Case {
    /// A short name, unique in its table.
    pub name: &'static str,
    /// Files written into the case's directory first: (name, contents).
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// Arguments; `{d}` is replaced by the case's directory and `{NAME}` by a fixture's path.
    pub args: Vec<String>,
    /// Expected exit status.
    pub code: i32,
    /// Fragments stderr must contain.
    pub says: Vec<&'static str>,
    /// A path (under `{d}` or a fixture) that must not exist afterwards: nothing was run.
    pub absent: Option<&'static str>,
}

/// A row: `name`, expected status `code`, fragments `says`, arguments `args` (space-separated,
/// `{d}` for the case's directory).
pub fn case(name: &'static str, code: i32, says: &[&'static str], args: &str) -> Case {
    Case { name, files: Vec::new(), args: args.split_whitespace().map(String::from).collect(), code, says: says.to_vec(), absent: None }
}

impl Case {
    /// Writes `name` with `contents` into the case's directory before running.
    pub fn with(mut self, name: &'static str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name, contents.into()));
        self
    }

    /// Arguments given one by one (for values with spaces or empty ones).
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// `path` must not exist after the case ran.
    pub fn absent(mut self, path: &'static str) -> Self {
        self.absent = Some(path);
        self
    }
}

/// A fresh directory for `tag` under the system's temporary directory.
pub fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("escapade-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary with `args`.
pub fn escapade<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_escapade")).args(args).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
}

/// Runs every row of `cases` in its own directory under `base`, with `fixtures` substituted
/// into the arguments as `{NAME}`, and fails with every row that broke its contract.
pub fn check(base: &Path, fixtures: &[(&str, &Path)], cases: Vec<Case>) {
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        assert!(names.insert(c.name), "two rows are named {}", c.name);
        let dir = base.join(c.name.replace([' ', '/'], "-"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in &c.files {
            let p = dir.join(name);
            if name.ends_with('/') {
                std::fs::create_dir_all(&p).unwrap();
            } else {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, contents).unwrap();
            }
        }
        let subst = |s: &str| {
            let mut s = s.replace("{d}", dir.to_str().unwrap());
            for (k, v) in fixtures {
                s = s.replace(&format!("{{{k}}}"), v.to_str().unwrap());
            }
            s
        };
        let args: Vec<String> = c.args.iter().map(|a| subst(a)).collect();
        let out = escapade(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut wrong = Vec::new();
        match out.status.code() {
            None => wrong.push("ended by a signal".to_string()),
            Some(code @ (101 | 134)) => wrong.push(format!("aborted with status {code}")),
            Some(code) if code != c.code => wrong.push(format!("status {code}, expected {}", c.code)),
            _ => {}
        }
        if err.contains("panicked") {
            wrong.push("panicked".into());
        }
        if err.trim().lines().count() != 1 {
            wrong.push(format!("{} lines on stderr", err.trim().lines().count()));
        }
        for f in &c.says {
            if !err.contains(&subst(f)) {
                wrong.push(format!("no {f:?}"));
            }
        }
        if let Some(p) = c.absent.map(|p| PathBuf::from(subst(p))).filter(|p| p.exists()) {
            wrong.push(format!("{} exists: something ran", p.display()));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {} | {args:?} | stderr: {}", c.name, wrong.join(", "), err.trim()));
        }
    }
    assert!(failures.is_empty(), "{} of {total} rows broke their contract:\n{}", failures.len(), failures.join("\n"));
    println!("{total} bad inputs, each refused as its row says");
}
