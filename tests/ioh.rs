//! `--export ioh` read back by the IOHprofiler format's own rules (IOHanalyzer's readers and
//! IOHexperimenter's writer): every `.info` file's header, comment and run entries, every `.dat`
//! file's blocks, and the statistics recomputed from the parsed runs against the report's.

mod common;

use common::table::{escapade, tmp};
use escapade::report::files::SavedRun;
use escapade::stats::Outcome;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn ok(out: &std::process::Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "status {:?}\nstdout {stdout}\nstderr {stderr}", out.status.code());
    stdout.into_owned()
}

/// One run of a `.info` entry: instance, evaluations, best-so-far.
type Entry = (u64, u64, f64);

/// A parsed `.info` block and the runs of the `.dat` file it names.
struct Function {
    header: BTreeMap<String, String>,
    entries: Vec<Entry>,
    /// The `.dat` file's blocks: rows of (evaluations, current, best-so-far).
    blocks: Vec<Vec<(u64, f64, f64)>>,
}

/// The header line: `key = value` pairs separated by commas, a value a number or a
/// double-quoted string (commas and `=` allowed inside quotes, no quote), split at the first
/// `=` as IOHanalyzer splits it.
fn parse_header(line: &str) -> BTreeMap<String, String> {
    let mut fields = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    assert!(!quoted, "unbalanced quotes: {line}");
    fields.push(cur);
    let mut map = BTreeMap::new();
    for f in fields {
        let (k, v) = f.split_once('=').unwrap_or_else(|| panic!("no '=' in {f:?} of {line}"));
        let (k, v) = (k.trim(), v.trim());
        assert!(!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "key {k:?} in {line}");
        let value = if let Some(inner) = v.strip_prefix('"') {
            let inner = inner.strip_suffix('"').unwrap_or_else(|| panic!("{k}: {v}"));
            assert!(!inner.contains(['"', '\'']), "{k}: a quote inside {v}");
            inner.to_string()
        } else {
            assert!(v.parse::<f64>().is_ok(), "{k}: unquoted {v:?} is no number");
            v.to_string()
        };
        assert!(map.insert(k.to_string(), value).is_none(), "{k} twice in {line}");
    }
    map
}

/// Every `.info` file under `root` (recursively, as IOHanalyzer scans), each with its `.dat`.
fn read_ioh(root: &Path) -> Vec<(PathBuf, Function)> {
    let mut infos = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "info") {
                infos.push(p);
            }
        }
    }
    infos.sort();
    infos.into_iter().map(|p| { let f = read_info(&p); (p, f) }).collect()
}

fn read_info(path: &Path) -> Function {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // One function and one DIM per file: exactly the three lines IOHanalyzer reads at a time.
    assert_eq!(lines.len(), 3, "{}: {text}", path.display());
    let header = parse_header(lines[0]);
    for key in ["suite", "funcId", "funcName", "DIM", "maximization", "algId", "algInfo"] {
        assert!(header.contains_key(key), "{}: no {key} in {}", path.display(), lines[0]);
    }
    assert!(header["funcId"].parse::<u32>().is_ok_and(|f| f >= 1), "{}", lines[0]);
    assert!(header["DIM"].parse::<u32>().is_ok(), "{}", lines[0]);
    assert_eq!(header["maximization"], "T");
    assert!(lines[1].starts_with('%'), "comment line {:?}", lines[1]);
    let record: Vec<&str> = lines[2].split(',').map(str::trim).collect();
    assert!(record.len() >= 2, "no runs: {}", lines[2]);
    // The data path, relative to the .info file, named as IOHexperimenter names it.
    let (fid, name, dim) = (&header["funcId"], &header["funcName"], &header["DIM"]);
    assert_eq!(record[0], format!("data_f{fid}_{name}/IOHprofiler_f{fid}_DIM{dim}.dat"));
    assert_eq!(path.file_name().unwrap().to_str().unwrap(), format!("IOHprofiler_f{fid}_{name}.info"));
    let dat = path.parent().unwrap().join(record[0]);
    assert!(dat.is_file(), "{} names {}", path.display(), dat.display());
    let entries: Vec<Entry> = record[1..]
        .iter()
        .map(|r| {
            let (inst, rest) = r.split_once(':').unwrap_or_else(|| panic!("entry {r}"));
            let (evals, best) = rest.split_once('|').unwrap_or_else(|| panic!("entry {r}"));
            (inst.parse().unwrap(), evals.parse().unwrap(), best.parse().unwrap())
        })
        .collect();
    let blocks = read_dat(&dat);
    Function { header, entries, blocks }
}

/// Blocks start with the quoted separation line; evaluations strictly increase within a block,
/// best-so-far is the running maximum of the current values (maximization).
fn read_dat(path: &Path) -> Vec<Vec<(u64, f64, f64)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks: Vec<Vec<(u64, f64, f64)>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('"') {
            assert_eq!(line, "\"function evaluation\" \"current f(x)\" \"best-so-far f(x)\" \"current af(x)+b\" \"best af(x)+b\"");
            blocks.push(Vec::new());
            continue;
        }
        let block = blocks.last_mut().unwrap_or_else(|| panic!("{}: data before the first header", path.display()));
        let cols: Vec<&str> = line.split(' ').collect();
        assert_eq!(cols.len(), 5, "{}:{}: {line}", path.display(), i + 1);
        let v: Vec<f64> = cols.iter().map(|c| c.parse().unwrap()).collect();
        let evals = cols[0].parse::<u64>().unwrap();
        assert!(evals >= 1, "{line}");
        // The transformed columns repeat the raw ones: no transformation.
        assert_eq!((v[3], v[4]), (v[1], v[2]), "{line}");
        if let Some(&(e, _, b)) = block.last() {
            assert!(evals > e, "{}:{}: evaluations {evals} after {e}", path.display(), i + 1);
            assert_eq!(v[2], b.max(v[1]), "{line}: best-so-far is not the running maximum");
        } else {
            assert_eq!(v[2], v[1], "{line}");
        }
        block.push((evals, v[1], v[2]));
    }
    assert!(blocks.iter().all(|b| !b.is_empty()), "{}: an empty block", path.display());
    blocks
}

/// Each function's .info entries are its .dat blocks' last rows, in order.
fn check_pairs(f: &Function) {
    assert_eq!(f.entries.len(), f.blocks.len(), "{:?}", f.header);
    for (&(_, evals, best), block) in f.entries.iter().zip(&f.blocks) {
        let &(e, _, b) = block.last().unwrap();
        assert_eq!((evals, best), (e, b));
    }
}

fn run(dir: &Path, method: &str) {
    // GD on the octopus with too few steps for its later saddles: escapes and censored stalls,
    // over several labels.
    ok(&escapade(&[
        "run", "--objective", "octopus", "--dim", "5", "--method", method, "--chains", "64", "--steps", "120", "--backend", "cpu",
        "--out", dir.to_str().unwrap(), "--quiet", "--plots", "none",
    ]));
}

#[test]
fn report_export_reads_back_by_the_format_rules() {
    let dir = tmp("ioh-report");
    let rd = dir.join("run");
    run(&rd, "gd");
    // A stale function from an earlier export is replaced, not left for IOHanalyzer to find.
    std::fs::create_dir_all(rd.join("ioh/data_f99_old")).unwrap();
    std::fs::write(rd.join("ioh/IOHprofiler_f99_old.info"), "stale").unwrap();
    std::fs::write(rd.join("ioh/data_f99_old/IOHprofiler_f99_DIM5.dat"), "stale").unwrap();
    let text = ok(&escapade(&["report", rd.to_str().unwrap(), "--export", "ioh"]));
    assert!(!rd.join("ioh/IOHprofiler_f99_old.info").exists() && !rd.join("ioh/data_f99_old").exists());
    let ecdf = std::fs::read_to_string(rd.join("plots/ecdf.svg")).unwrap();
    assert!(ecdf.trim_end().ends_with("</svg>") && ecdf.matches("<polyline").count() >= 2, "{ecdf}");
    let saved = SavedRun::load(&rd).unwrap();
    let episodes = saved.episodes();
    let tables = saved.survival();
    let seed = saved.summary["seed"].as_u64().unwrap();
    let functions = read_ioh(&rd.join("ioh"));
    let labels_with_stalls: Vec<u32> = tables.by_label.iter().filter(|(_, t)| t.saddle_stalls() > 0).map(|(l, _)| *l).collect();
    assert_eq!(functions.len(), labels_with_stalls.len());
    assert!(functions.len() >= 2, "one label only: {text}");
    let (mut with_failures, mut with_successes) = (0, 0);
    for (path, f) in &functions {
        check_pairs(f);
        let h = &f.header;
        assert_eq!((h["suite"].as_str(), h["DIM"].as_str(), h["algId"].as_str()), ("escapade", "5", "octopus gd d=5"), "{}", path.display());
        let label: u32 = h["funcId"].parse::<u32>().unwrap() - 1;
        assert_eq!(h["funcName"], format!("octopus_L{label}"));
        assert!(f.entries.iter().all(|e| e.0 == seed), "instance is the seed");
        // A run per saddle stall of the label; converged episodes are none.
        let stalls: Vec<_> = episodes.iter().filter(|e| e.label == label && e.outcome.is_saddle_stall()).collect();
        assert_eq!(f.entries.len(), stalls.len(), "label {label}");
        let successes = f.entries.iter().filter(|e| e.2 == 1.0).count();
        assert_eq!(successes, stalls.iter().filter(|e| e.outcome == Outcome::Escaped).count());
        assert!(f.entries.iter().all(|e| e.2 == 0.0 || e.2 == 1.0));
        with_failures += usize::from(successes < stalls.len());
        with_successes += usize::from(successes > 0);
        // IOHanalyzer's fixed-target ERT at target 1 (all evaluations over the runs reaching it)
        // is the report's, up to the stalls of time 0 exported as one evaluation.
        let t = &tables.by_label[&label];
        let rt = t.running_time();
        let zeros = stalls.iter().filter(|e| e.time == 0).count() as f64;
        let total: u64 = f.entries.iter().map(|e| e.1).sum();
        match rt.ert {
            Some(ert) => {
                let ioh = total as f64 / successes as f64;
                assert!((ioh - (ert + zeros / successes as f64)).abs() < 1e-9, "label {label}: IOH ERT {ioh} vs {ert} (+{zeros} time-0 stalls)");
                let line = format!("ERT {ert:.1}");
                assert!(text.lines().any(|l| l.contains("running time: p_s") && l.ends_with(&line)), "label {label}: {line} not printed: {text}");
            }
            None => assert_eq!(successes, 0),
        }
        // The runtime ECDF of the parsed runs is the library's at each of its steps.
        for (time, frac) in t.ecdf() {
            let reached = f.entries.iter().filter(|e| e.2 == 1.0 && e.1 <= u64::from(time.max(1))).count();
            assert!((reached as f64 / f.entries.len() as f64 - frac).abs() < 1e-12, "label {label} at {time}");
        }
    }
    assert!(with_failures > 0 && with_successes > 0, "the run tests no mix of outcomes: {text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_exports_one_algorithm_per_run_and_bad_values_are_refused() {
    let dir = tmp("ioh-compare");
    let (gd, pgd) = (dir.join("gd"), dir.join("pgd"));
    run(&gd, "gd");
    run(&pgd, "pgd");
    let out = dir.join("cmp");
    let (g, p, o) = (gd.to_str().unwrap(), pgd.to_str().unwrap(), out.to_str().unwrap());
    let text = ok(&escapade(&["compare", g, p, "--out", o, "--export", "ioh"]));
    assert!(text.contains("ERT (COCO)") && text.contains("p_s"), "{text}");
    let ecdf = std::fs::read_to_string(out.join("ecdf.svg")).unwrap();
    assert!(ecdf.matches("<polyline").count() >= 2, "{ecdf}");
    let algs = |root: &Path| -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for (_, f) in read_ioh(root) {
            check_pairs(&f);
            *ids.entry(f.header["algId"].clone()).or_default() += f.entries.len();
        }
        ids
    };
    let ids = algs(&out.join("ioh"));
    assert_eq!(ids.keys().collect::<Vec<_>>(), ["octopus gd d=5", "octopus pgd d=5"]);
    let stalls = |d: &Path| SavedRun::load(d).unwrap().episodes().iter().filter(|e| e.outcome.is_saddle_stall()).count();
    assert_eq!((ids["octopus gd d=5"], ids["octopus pgd d=5"]), (stalls(&gd), stalls(&pgd)));
    // The same run twice: two algorithms still, the second id made unique; the earlier
    // export's folders are replaced.
    ok(&escapade(&["compare", g, p, g, "--out", o, "--export", "ioh", "--plots", "none"]));
    let ids = algs(&out.join("ioh"));
    assert_eq!(ids.keys().collect::<Vec<_>>(), ["octopus gd d=5", "octopus gd d=5 (2)", "octopus pgd d=5"]);
    assert_eq!(std::fs::read_dir(out.join("ioh")).unwrap().count(), 3);
    // An unknown export: one line naming the flag and the values allowed, status 2.
    for args in [vec!["report", g, "--export", "csv"], vec!["compare", g, p, "--export", "coco"]] {
        let r = escapade(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(&format!("invalid export: got {}", args.last().unwrap())) && err.contains("ioh"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
