//! The crate's modules depend on each other in one direction only (docs/architecture.md): read
//! every `crate::` path in the library's non-test code and check that each module uses only
//! modules listed before it (its layer's earlier members and the layers below), so the
//! dependency graph has no circle.

use std::collections::BTreeMap;
use std::path::Path;

/// Modules by layer, bottom first, in an order each module respects: it may use only modules
/// listed before it.
const LAYERS: [&[&str]; 9] = [
    &["error", "rng", "linalg", "stats", "layout"],
    &["precision", "init", "method", "objective", "experiment"],
    &["escape", "monitor", "abi", "kernel"],
    &["checkpoint", "backend"],
    &["check", "outcome"],
    &["report"],
    &["run", "tune"],
    &["options"],
    &["cli"],
];

/// Items the crate root re-exports, by the module that defines them.
const ROOT: [(&str, &str); 19] = [
    ("Objective", "objective"),
    ("ObjectiveSpec", "objective"),
    ("Precision", "precision"),
    ("Error", "error"),
    ("Result", "error"),
    ("Experiment", "experiment"),
    ("Report", "report"),
    ("GpuEngine", "backend"),
    ("GpuContext", "backend"),
    ("GpuSettings", "backend"),
    ("Devices", "backend"),
    ("BackendChoice", "backend"),
    ("CheckpointSpec", "checkpoint"),
    ("Init", "init"),
    ("Method", "method"),
    ("MethodKind", "method"),
    ("PgdParams", "method"),
    ("TheoryParams", "method"),
    ("Runner", "run"),
];

/// The module's place in the order.
fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().flat_map(|l| l.iter()).position(|m| *m == module)
}

/// The modules a source file's non-test, non-comment code names through `crate::`.
fn uses(text: &str) -> Vec<String> {
    let root: BTreeMap<&str, &str> = ROOT.into_iter().collect();
    let mut out = Vec::new();
    for line in text.lines().take_while(|l| !l.trim_start().starts_with("#[cfg(test)]")) {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + 7..];
            // `crate::{a, b::c}` names several.
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group.split('}').next().unwrap_or("").split(',').map(|n| n.trim().split("::").next().unwrap_or("")).collect()
            } else {
                vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")]
            };
            for n in names {
                let m = root.get(n).copied().unwrap_or(n);
                if rank(m).is_some() {
                    out.push(m.to_string());
                }
            }
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_only_use_modules_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut checked = 0;
    let mut upward = Vec::new();
    let mut unplaced = std::collections::BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let module = if first == "main" { "cli".to_string() } else { first };
        // lib.rs is the root; every other module must have a place, or it escapes the check.
        let Some(own) = rank(&module) else {
            if module != "lib" {
                unplaced.insert(module);
            }
            continue;
        };
        for used in uses(&std::fs::read_to_string(&f).unwrap()) {
            checked += 1;
            if used != module && rank(&used).is_some_and(|r| r > own) {
                upward.push(format!("{} ({module}) uses {used}", rel.display()));
            }
        }
    }
    assert!(checked > 100, "only {checked} uses found: the scan is broken");
    assert!(unplaced.is_empty(), "modules without a layer (add them to LAYERS): {unplaced:?}");
    assert!(upward.is_empty(), "modules reaching up:\n{}", upward.join("\n"));
}
