//! A run's output directory: claimed for the run's whole life with an exclusive OS lock, its
//! results staged in DIR/.writing and moved in whole (summary.json, which marks a finished run,
//! last), and the files escapade wrote listed in DIR/.manifest, so that replacing a run removes
//! exactly those and never a file of the user's.
//!
//! Why a lock: two runs started into one new directory both wrote DIR/.writing and moved their
//! files in, so summary.json could come from one seed and experiment.toml from the other. An
//! OS lock (`flock` on Unix) is released by the kernel when its holder dies however it dies, so
//! a crashed run never leaves the directory locked.

use crate::Error;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file, holding the holder's process id.
const LOCK: &str = ".lock";
/// The list of files escapade wrote, one relative path a line.
pub const MANIFEST: &str = ".manifest";
/// Where results are written before they are moved in.
pub const STAGE: &str = ".writing";
/// What escapade writes at the top level of a run directory (the fallback for runs written
/// before the manifest existed).
const RUN_FILES: [&str; 9] = ["summary.json", "events.csv", "chains.csv", "trace.csv", "violations.csv", "experiment.toml", "events.parquet", "chains.parquet", "points.npy"];
/// The plots escapade writes (same fallback), in any of its formats.
const PLOT_STEMS: [&str; 5] = ["survival", "incidence", "histogram", "traces", "trajectories"];
/// Directories that are escapade's alone: checkpoints and the stage.
const OWN_DIRS: [&str; 4] = ["checkpoint", "checkpoint.old", "checkpoint.tmp", STAGE];

/// An output directory claimed by this process: the directory exists, is writable, and no other
/// escapade run holds it until this value is dropped.
#[derive(Debug)]
pub struct OutputLock {
    dir: PathBuf,
    _file: File,
}

impl OutputLock {
    /// Claims `dir`, creating it: refused in one line when it cannot be a directory (a file, a
    /// dangling symbolic link, a path through a file), cannot be written, or another run holds it
    /// (naming that run's process id).
    pub fn claim(dir: &Path) -> Result<OutputLock, Error> {
        if let Ok(meta) = std::fs::symlink_metadata(dir) {
            if meta.file_type().is_symlink() && std::fs::metadata(dir).is_err() {
                return Err(Error::invalid("out", "a directory (this is a symbolic link to nothing)", dir.display()));
            }
            if !dir.is_dir() {
                return Err(Error::invalid("out", "a directory (this is a file)", dir.display()));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::invalid("out", "a directory that can be created", format!("{} ({e})", dir.display())))?;
        // A result's place taken by a directory (or anything but a file) would stop the results
        // from moving in at the end: said now, before any work.
        for name in RUN_FILES.iter().chain(&[MANIFEST]) {
            let p = dir.join(name);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| !m.file_type().is_file()) {
                return Err(Error::invalid("out", format!("a directory where {name} can be written"), format!("{} is not a file", p.display())));
            }
        }
        let path = dir.join(LOCK);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::invalid("out", "a writable directory", format!("{} ({e})", dir.display())))?;
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() { "another escapade run".to_string() } else { format!("escapade process {holder}") };
                return Err(Error::invalid("out", "a directory no other run is writing", format!("{} (held by {who})", dir.display())));
            }
            Err(e) => return Err(Error::io(&path)(e)),
        }
        // The holder's id, for the message a second run gets.
        let _ = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| write!(file, "{}", std::process::id()));
        Ok(OutputLock { dir: dir.to_path_buf(), _file: file })
    }

    /// The claimed directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Takes an exclusive lock on `file` without waiting: Ok(false) when another process holds it.
/// `flock` (std's `File::try_lock` is newer than the crate's minimum Rust); elsewhere than Unix
/// there is no lock.
fn try_lock(file: &File) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: a valid open descriptor; flock only reads it.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock { Ok(false) } else { Err(e) }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(true)
    }
}

/// Whether `dir` holds a finished run (its summary.json).
pub fn holds_run(dir: &Path) -> bool {
    dir.join("summary.json").exists()
}

/// Removes the files a run wrote in `dir` and nothing else there: those its manifest lists (or,
/// for a run written before manifests, escapade's file names), then its own directories
/// (checkpoints, the stage) and plots/ when that is left empty. A user's file anywhere stays.
pub fn remove_run(dir: &Path) -> Result<(), Error> {
    let listed = read_manifest(dir);
    let files: Vec<PathBuf> = match &listed {
        Some(list) => list.iter().map(|rel| dir.join(rel)).collect(),
        None => {
            let top = RUN_FILES.iter().map(|n| dir.join(n));
            let plots = std::fs::read_dir(dir.join("plots")).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| {
                p.file_stem().and_then(|s| s.to_str()).is_some_and(|s| PLOT_STEMS.contains(&s))
                    && p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["png", "svg"].contains(&e))
            });
            top.chain(plots).collect()
        }
    };
    for path in files.iter().chain(std::iter::once(&dir.join(MANIFEST))) {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(path)(e)),
            _ => {}
        }
    }
    for sub in OWN_DIRS {
        let p = dir.join(sub);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).map_err(Error::io(&p))?;
        }
    }
    // plots/ only when nothing of the user's is in it.
    let _ = std::fs::remove_dir(dir.join("plots"));
    Ok(())
}

/// The manifest's relative paths, when `dir` has one (paths that would leave `dir` are dropped:
/// the manifest is data, not an instruction to delete anything anywhere).
fn read_manifest(dir: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let safe = |p: &Path| p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    Some(text.lines().map(PathBuf::from).filter(|p| !p.as_os_str().is_empty() && safe(p)).collect())
}

/// A fresh stage in `dir` ([`STAGE`]), empty.
pub fn stage(dir: &Path) -> Result<PathBuf, Error> {
    let stage = dir.join(STAGE);
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(Error::io(&stage))?;
    }
    std::fs::create_dir_all(&stage).map_err(Error::io(&stage))?;
    Ok(stage)
}

/// Writes results into `dir` in whole: `write` writes them into the fresh stage it is given and
/// returns the paths it wrote there; a failed write removes the stage (no half results stay
/// behind), a whole one is moved in ([`commit`]). Returns `write`'s paths as they are in `dir`.
pub fn write_whole(dir: &Path, write: impl FnOnce(&Path) -> Result<Vec<PathBuf>, Error>) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let stage = stage(dir)?;
    let written = write(&stage).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&stage);
    })?;
    commit(dir)?;
    Ok(written.iter().filter_map(|p| p.strip_prefix(&stage).ok()).map(|r| dir.join(r)).collect())
}

/// Moves everything staged in `dir`'s stage into `dir`, in whole or not at all: every
/// destination is checked first (an existing directory or other non-file where a result goes is
/// refused, nothing moved, the results left in the stage and named in the message); then the
/// files are renamed in with summary.json last, so that a run directory never looks finished
/// while half moved; then the manifest lists them. Returns the paths moved in.
pub fn commit(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let stage = dir.join(STAGE);
    let mut rel = Vec::new();
    list(&stage, Path::new(""), &mut rel)?;
    // summary.json last.
    rel.sort_by_key(|p| p == Path::new("summary.json"));
    for r in &rel {
        let to = dir.join(r);
        if std::fs::symlink_metadata(&to).is_ok_and(|meta| !meta.file_type().is_file()) {
            return Err(Error::invalid(
                "out",
                "a run directory whose result paths are free or plain files",
                format!("{} is not a file; the results are kept in {}", to.display(), stage.display()),
            ));
        }
    }
    let mut moved = Vec::new();
    for r in &rel {
        let (from, to) = (stage.join(r), dir.join(r));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        std::fs::rename(&from, &to).map_err(|source| Error::Io { path: format!("{} (the results not yet moved are in {})", to.display(), stage.display()), source })?;
        moved.push(to);
    }
    let manifest: String = rel.iter().map(|r| format!("{}\n", r.display())).collect();
    let path = dir.join(MANIFEST);
    std::fs::write(&path, manifest).map_err(Error::io(&path))?;
    let _ = std::fs::remove_dir_all(&stage);
    Ok(moved)
}

/// The files under `root/rel`, as paths relative to `root`.
fn list(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let here = root.join(rel);
    for entry in std::fs::read_dir(&here).map_err(Error::io(&here))? {
        let entry = entry.map_err(Error::io(&here))?;
        let r = rel.join(entry.file_name());
        if entry.file_type().map_err(Error::io(&entry.path()))?.is_dir() {
            list(root, &r, out)?;
        } else {
            out.push(r);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("escapade-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_second_claim_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let d = tmp("lock");
        let first = OutputLock::claim(&d).unwrap();
        let err = OutputLock::claim(&d).unwrap_err().to_string();
        assert!(err.contains(&std::process::id().to_string()) && err.contains("no other run"), "{err}");
        drop(first);
        OutputLock::claim(&d).unwrap();
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn remove_run_removes_what_the_manifest_lists_and_nothing_of_the_users() {
        let d = tmp("manifest");
        let stage = stage(&d).unwrap();
        std::fs::create_dir_all(stage.join("plots")).unwrap();
        for f in ["summary.json", "events.csv", "plots/survival.svg"] {
            std::fs::write(stage.join(f), "x").unwrap();
        }
        let moved = commit(&d).unwrap();
        assert_eq!(moved.last().unwrap(), &d.join("summary.json"), "summary.json is moved last");
        std::fs::write(d.join("plots/mine.svg"), "user").unwrap();
        std::fs::write(d.join("notes.txt"), "user").unwrap();
        remove_run(&d).unwrap();
        assert!(!d.join("summary.json").exists() && !d.join("plots/survival.svg").exists());
        assert!(d.join("plots/mine.svg").exists() && d.join("notes.txt").exists());
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_directory_in_a_results_place_refuses_the_commit_before_anything_moves() {
        let d = tmp("blocked");
        let stage = stage(&d).unwrap();
        for f in ["summary.json", "events.csv"] {
            std::fs::write(stage.join(f), "x").unwrap();
        }
        std::fs::create_dir_all(d.join("events.csv")).unwrap();
        let err = commit(&d).unwrap_err().to_string();
        assert!(err.contains("events.csv") && err.contains(STAGE), "{err}");
        assert!(!d.join("summary.json").exists(), "a half-moved run looks finished");
        assert!(stage.join("summary.json").exists(), "the results were lost");
        std::fs::remove_dir_all(&d).ok();
    }
}
