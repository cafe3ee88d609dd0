//! Saddle-stall episodes as an IOHprofiler data set, for IOHanalyzer (its fixed-target ERT,
//! runtime ECDFs and comparisons across algorithms) as it reads IOHexperimenter's `.info` and
//! `.dat` files.
//!
//! The mapping: a **function** is an objective and a stall label (funcId = label + 1, funcName
//! `{objective}_L{label}`), **DIM** the objective's d, the **algorithm** the run (algId its
//! name), the **instance** the run's seed, and **each saddle stall one IOH run**: its
//! evaluations are the steps since the stall began and its value (maximized) is 0 until the
//! escape and 1 at it, so the target 1 means "escaped" and IOHanalyzer's fixed-target ERT and
//! ECDF at that target are ours ([`crate::stats::RunningTime`], [`crate::stats::ecdf`]). A
//! stall that ended otherwise (censored by the budget, diverged, held by the float format) is a
//! run that stops at its time with best-so-far 0; converged episodes are no saddle stalls and
//! are not exported.
//!
//! IOH counts evaluations from 1 and IOHanalyzer drops a run of 0 evaluations, so a stall that
//! ended at its first step (time 0: a chain that stalled at its last step, or was held before
//! its stall) is a run of 1 evaluation. Escapes take at least one step, so this only adds
//! (stalls ended at time 0) / escapes to the exported ERT.
//!
//! The files, as IOHexperimenter's `Analyzer` (v1) writes them: per function
//! `IOHprofiler_f{id}_{name}.info` (a header line of `key = "value"` pairs, a `%` comment line,
//! then the data file's relative path and `instance:evaluations|best` per run) and
//! `data_f{id}_{name}/IOHprofiler_f{id}_DIM{d}.dat`, a block per run that starts with the
//! quoted header line and holds the improvements and the run's last evaluation. The header is
//! the five-column one (`"function evaluation" ...`): IOHanalyzer tells the format of data
//! listed in a `.info` file by that first line, and refuses one that does not start with
//! `"function`. A `.info` entry holds the run's last evaluation, as the format's description
//! has it (IOHexperimenter writes the evaluation of the best point there; IOHanalyzer takes the
//! larger of the entry and the block's last row, so both read the same).

use super::files::SavedRun;
use crate::Error;
use crate::stats::{Episode, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The suite named in every `.info` header.
pub const SUITE: &str = "escapade";

/// The separation line that starts each run's block in a `.dat` file: evaluations, the current
/// and best-so-far value, and the same two "transformed" (we apply no transformation).
pub const DAT_HEADER: &str = "\"function evaluation\" \"current f(x)\" \"best-so-far f(x)\" \"current af(x)+b\" \"best af(x)+b\"";

/// One saddle stall as an IOH run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IohRun {
    /// Evaluations the run used: the stall's steps (at least 1).
    pub evaluations: u32,
    /// Whether it escaped (best-so-far 1), else 0.
    pub escaped: bool,
}

impl IohRun {
    /// The run of a saddle-stall episode; None for a converged one (no saddle stall).
    pub fn of(e: &Episode) -> Option<Self> {
        e.outcome.is_saddle_stall().then(|| IohRun { evaluations: e.time.max(1), escaped: e.outcome == Outcome::Escaped })
    }

    /// The run's block of a `.dat` file: the header, the first evaluation, the escape when it
    /// came later, and the last evaluation (IOHanalyzer requires a block to end with it).
    fn dat_block(&self, out: &mut String) {
        let row = |out: &mut String, evals: u32, y: u8| {
            let _ = writeln!(out, "{evals} {y} {y} {y} {y}");
        };
        out.push_str(DAT_HEADER);
        out.push('\n');
        let y = u8::from(self.escaped);
        if self.evaluations > 1 {
            // Before the escape (or for the whole run) the value is 0 from the first step on.
            row(out, 1, 0);
        }
        row(out, self.evaluations, y);
    }
}

/// One function of an export: its files and how many runs they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionFiles {
    /// funcId: the stall label + 1.
    pub func_id: u32,
    /// funcName: `{objective}_L{label}`, sanitized.
    pub func_name: String,
    /// The `.info` file.
    pub info: PathBuf,
    /// The `.dat` file it names.
    pub dat: PathBuf,
    /// IOH runs written (the label's saddle stalls).
    pub runs: usize,
    /// Of which escaped.
    pub successes: usize,
}

/// One algorithm (a run) of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlgorithmFiles {
    /// algId.
    pub alg_id: String,
    /// The folder holding its `.info` files and `data_f*` folders.
    pub dir: PathBuf,
    /// Its functions, by funcId.
    pub functions: Vec<FunctionFiles>,
}

/// `s` with every character IOH's readers split on or strip (quotes, commas, `|`, `:`, `%`,
/// path separators, control characters) replaced by `_`. `label` keeps spaces and `=` (a
/// header value is split at its first `=`, so later ones are safe) for ids shown in legends;
/// file names get neither.
pub fn sanitize(s: &str, label: bool) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.+()[]".contains(c) || (label && " =".contains(c));
    let t: String = s.trim().chars().map(|c| if ok(c) { c } else { '_' }).collect();
    if t.is_empty() { "_".into() } else { t }
}

/// `names` sanitized as labels and made unique: a repeated id gets ` (2)`, ` (3)`, ...
/// (IOHanalyzer merges the data sets of one algId into one algorithm).
pub fn unique_ids(names: &[String]) -> Vec<String> {
    unique(names.iter().map(|n| sanitize(n, true)), |base, k| format!("{base} ({k})"))
}

/// `bases` with each repeat renamed by `suffix(base, k)`, k = 2, 3, ... until it is new.
fn unique(bases: impl Iterator<Item = String>, suffix: impl Fn(&str, usize) -> String) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    bases
        .map(|base| {
            let mut id = base.clone();
            let mut k = 2;
            while !seen.insert(id.clone()) {
                id = suffix(&base, k);
                k += 1;
            }
            id
        })
        .collect()
}

/// What the export needs from summary.json, or an error naming the missing key.
fn meta(run: &SavedRun) -> Result<(String, u64, u64, String), Error> {
    let s = &run.summary;
    let bad = |key: &str| Error::invalid(run.dir.join("summary.json").display().to_string(), format!("a summary with {key}"), "none");
    let objective = s["objective"]["name"].as_str().ok_or_else(|| bad("objective.name"))?;
    let dim = s["objective"]["dim"].as_u64().ok_or_else(|| bad("objective.dim"))?;
    let seed = s["seed"].as_u64().ok_or_else(|| bad("seed"))?;
    let method = s["method"]["name"].as_str().unwrap_or("unknown method");
    Ok((objective.to_string(), dim, seed, method.to_string()))
}

/// Removes what an earlier export left in `dir` (its `IOHprofiler_f*.info` files and
/// `data_f*/IOHprofiler_f*.dat` files, then those folders if empty), so that IOHanalyzer finds no
/// stale function there; nothing else is touched.
fn clear_previous(dir: &Path) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let (path, name) = (entry.path(), entry.file_name().to_string_lossy().into_owned());
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_file() && name.starts_with("IOHprofiler_f") && name.ends_with(".info") {
            std::fs::remove_file(&path).map_err(Error::io(&path))?;
        } else if kind.is_dir() && name.starts_with("data_f") {
            for inner in std::fs::read_dir(&path).map_err(Error::io(&path))?.flatten() {
                let n = inner.file_name().to_string_lossy().into_owned();
                if inner.file_type().is_ok_and(|k| k.is_file()) && n.starts_with("IOHprofiler_f") && n.ends_with(".dat") {
                    std::fs::remove_file(inner.path()).map_err(Error::io(&inner.path()))?;
                }
            }
            // Left in place when it holds anything else.
            let _ = std::fs::remove_dir(&path);
        }
    }
    Ok(())
}

/// Writes `run` as one IOH algorithm `alg_id` into `dir` (created; an earlier export there is
/// replaced): a `.info` file and a `.dat` file per stall label with saddle stalls.
pub fn write_algorithm(run: &SavedRun, alg_id: &str, dir: &Path) -> Result<AlgorithmFiles, Error> {
    let (objective, dim, seed, method) = meta(run)?;
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    clear_previous(dir)?;
    let mut episodes = run.episodes();
    // One order for the .info entries and the .dat blocks (IOHanalyzer pairs them by position).
    episodes.sort_by_key(|e| (e.label, e.chain));
    let mut by_label: BTreeMap<u32, Vec<IohRun>> = BTreeMap::new();
    for e in &episodes {
        if let Some(r) = IohRun::of(e) {
            by_label.entry(e.label).or_default().push(r);
        }
    }
    let alg_id = sanitize(alg_id, true);
    let alg_info = sanitize(&format!("escapade {} method {method} (saddle stalls of {})", env!("CARGO_PKG_VERSION"), run.name()), true);
    let mut functions = Vec::new();
    for (label, runs) in by_label {
        let func_id = label + 1;
        let func_name = sanitize(&format!("{objective}_L{label}"), false);
        let data_dir = format!("data_f{func_id}_{func_name}");
        let dat_name = format!("IOHprofiler_f{func_id}_DIM{dim}.dat");
        let rel = format!("{data_dir}/{dat_name}");
        let mut dat = String::new();
        let mut info = format!(
            "suite = \"{SUITE}\", funcId = {func_id}, funcName = \"{func_name}\", DIM = {dim}, maximization = \"T\", algId = \"{alg_id}\", algInfo = \"{alg_info}\"\n\
             % escapade saddle stalls: evaluations = steps since the stall, best-so-far 1 = escaped\n{rel}"
        );
        for r in &runs {
            r.dat_block(&mut dat);
            let _ = write!(info, ", {seed}:{}|{}", r.evaluations, u8::from(r.escaped));
        }
        info.push('\n');
        let data_path = dir.join(&data_dir);
        std::fs::create_dir_all(&data_path).map_err(Error::io(&data_path))?;
        let dat_path = data_path.join(&dat_name);
        std::fs::write(&dat_path, dat).map_err(Error::io(&dat_path))?;
        let info_path = dir.join(format!("IOHprofiler_f{func_id}_{func_name}.info"));
        std::fs::write(&info_path, info).map_err(Error::io(&info_path))?;
        let successes = runs.iter().filter(|r| r.escaped).count();
        functions.push(FunctionFiles { func_id, func_name, info: info_path, dat: dat_path, runs: runs.len(), successes });
    }
    Ok(AlgorithmFiles { alg_id, dir: dir.to_path_buf(), functions })
}

/// Writes several runs as IOH algorithms under `dir`, each in a folder of its own (IOHanalyzer
/// reads a folder's `.info` files recursively): `names` become unique algIds
/// ([`unique_ids`]), which also name the folders. Folders an earlier export left there are
/// emptied of its files.
pub fn write_algorithms(runs: &[&SavedRun], names: &[String], dir: &Path) -> Result<Vec<AlgorithmFiles>, Error> {
    if runs.len() != names.len() {
        return Err(Error::invalid("export", "one name per run", format!("{} names for {} runs", names.len(), runs.len())));
    }
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))?.flatten() {
        if entry.file_type().is_ok_and(|k| k.is_dir()) {
            clear_previous(&entry.path())?;
            // An earlier export's folder, now empty, goes; anything else stays.
            let _ = std::fs::remove_dir(entry.path());
        }
    }
    let ids = unique_ids(names);
    let folders = unique(ids.iter().map(|id| sanitize(id, false)), |base, k| format!("{base}_{k}"));
    runs.iter().zip(ids.iter().zip(&folders)).map(|(run, (id, folder))| write_algorithm(run, id, &dir.join(folder))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_blocks_and_ids() {
        let ep = |time, outcome| Episode { chain: 1, label: 0, time, outcome };
        assert_eq!(IohRun::of(&ep(7, Outcome::Escaped)), Some(IohRun { evaluations: 7, escaped: true }));
        assert_eq!(IohRun::of(&ep(0, Outcome::Censored)), Some(IohRun { evaluations: 1, escaped: false }));
        assert_eq!(IohRun::of(&ep(9, Outcome::Converged)), None);
        let mut s = String::new();
        IohRun { evaluations: 7, escaped: true }.dat_block(&mut s);
        IohRun { evaluations: 1, escaped: true }.dat_block(&mut s);
        assert_eq!(s, format!("{DAT_HEADER}\n1 0 0 0 0\n7 1 1 1 1\n{DAT_HEADER}\n1 1 1 1 1\n"));
        assert_eq!(sanitize("octopus gd d=3, \"x\"|y:z", true), "octopus gd d=3_ _x__y_z");
        assert_eq!(sanitize("octopus gd d=3", false), "octopus_gd_d_3");
        assert_eq!(sanitize("phase-retrieval_L2", false), "phase-retrieval_L2");
        assert_eq!(unique_ids(&["a b".into(), "a b".into(), "c".into(), "a b".into()]), ["a b", "a b (2)", "c", "a b (3)"]);
    }

    /// The blocks IOHexperimenter itself writes for these runs (the `ioh` Python package 0.3.22,
    /// `ioh.logger.old.Analyzer`, on a maximized problem worth 0 until evaluation k and 1 from
    /// then on: k = 7 over 7 evaluations, never over 5, k = 1 over 1), numbers as it prints them.
    #[test]
    fn blocks_match_iohexperimenters_own() {
        let reference = "\"function evaluation\" \"current f(x)\" \"best-so-far f(x)\" \"current af(x)+b\" \"best af(x)+b\"
1 0.0000000000 0.0000000000 0.0000000000 0.0000000000
7 1.0000000000 1.0000000000 1.0000000000 1.0000000000
\"function evaluation\" \"current f(x)\" \"best-so-far f(x)\" \"current af(x)+b\" \"best af(x)+b\"
1 0.0000000000 0.0000000000 0.0000000000 0.0000000000
5 0.0000000000 0.0000000000 0.0000000000 0.0000000000
\"function evaluation\" \"current f(x)\" \"best-so-far f(x)\" \"current af(x)+b\" \"best af(x)+b\"
1 1.0000000000 1.0000000000 1.0000000000 1.0000000000
";
        let mut ours = String::new();
        for (evaluations, escaped) in [(7, true), (5, false), (1, true)] {
            IohRun { evaluations, escaped }.dat_block(&mut ours);
        }
        assert_eq!(ours.lines().count(), reference.lines().count());
        for (a, b) in ours.lines().zip(reference.lines()) {
            if b.starts_with('"') {
                assert_eq!(a, b);
            } else {
                let nums = |l: &str| l.split(' ').map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>();
                assert_eq!(nums(a), nums(b), "{a} vs {b}");
            }
        }
    }
}
