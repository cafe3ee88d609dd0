//! rho1 and rho2 fitted by `escapade check` and fed back by `run --rho-from`: the quartic's
//! rho1 against its known envelope, the coverage check.json reports, and the step size the
//! fitted forms give against the declared ones.

mod common;

use common::table::{escapade, tmp};
use serde_json::Value;
use std::path::Path;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(dir: &Path, objective: &str) -> Value {
    let out = escapade(&["check", "--objective", objective, "--plots", "none", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fitted rho1(F)") && text.contains("fitted rho2(F)") && text.contains("held-out points"), "{text}");
    read(&dir.join("check.json"))
}

fn rho(fit: &Value, f: f64) -> f64 {
    let r = &fit["rho"];
    let v = |k: &str| r[k].as_f64().unwrap();
    v("a") + v("b") * (f - v("fmin")).max(0.0).powf(v("p"))
}

/// The quartic 1/2 sum l_i x_i^2 + 1/4 sum x_i^4 with l = (-1, 1, ..., 1): ||Hess|| = max_i
/// |l_i + 3 x_i^2|, whose largest value on {f <= F} is 2 + 6 sqrt(F - f*) (all of F - f* in
/// one coordinate). The fit must follow it to 5% across the visited range of F, and cover
/// what it says on the held-out points.
#[test]
fn quartic_rho1_follows_its_envelope() {
    let dir = tmp("fits-quartic");
    let json = check(&dir, "quartic");
    assert_eq!(json["schema_version"], 2);
    let fit = &json["fits"]["rho1"];
    let fmin = -0.25;
    let top = fit["f_range"][1].as_f64().unwrap();
    assert!(top > 1e6, "the descents visit far: {top}");
    let mut checked = 0;
    for g in [1e-3, 1e-2, 0.1, 1.0, 10.0, 1e2, 1e3, 1e4, 1e6, top - fmin] {
        let want = 2.0 + 6.0 * g.sqrt();
        let got = rho(fit, fmin + g);
        assert!((got / want - 1.0).abs() < 0.05, "rho1(f* + {g}) = {got}, envelope {want}: {fit}");
        checked += 1;
    }
    assert_eq!(checked, 10);
    for name in ["rho1", "rho2"] {
        let f = &json["fits"][name];
        assert!(f["coverage"].as_f64().unwrap() >= f["target"].as_f64().unwrap(), "{f}");
        assert_eq!(f["target"], 0.99);
        let (h, t) = (f["held_out"].as_u64().unwrap(), f["training"].as_u64().unwrap());
        assert!(h > 20 && t >= 3 * h, "{f}");
        assert!(f["method"].as_str().unwrap().contains("held-out") && !f["estimator"].as_str().unwrap().is_empty());
    }
    // rho2 of the quartic: Hess f(x) - Hess f(y) = diag(3 (x_i^2 - y_i^2)), at most 6 max |x_i|
    // per unit distance, and sqrt(F - f*) bounds |x_i| up to a constant; the fit has it grow.
    let r2 = &json["fits"]["rho2"];
    assert!(rho(r2, 1e4) > 10.0 * rho(r2, fmin), "{r2}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Phase retrieval's declared forms are several times above its measured envelope: the fitted
/// ones give each chain a larger step, and summary.json says where rho came from.
#[test]
fn fitted_forms_give_phase_retrieval_larger_steps() {
    let dir = tmp("fits-phase");
    let json = check(&dir.join("check"), "phase-retrieval");
    let declared = 38.0;
    let f0 = rho(&json["fits"]["rho1"], 0.0);
    assert!(f0 < declared / 2.0, "fitted rho1(f*) = {f0}");
    let from = dir.join("check/check.json");
    let run = |tag: &str, extra: &[&str]| {
        let out_dir = dir.join(tag);
        let mut args = vec!["run", "--backend", "cpu", "--objective", "phase-retrieval", "--chains", "16", "--steps", "50", "--plots", "none", "--quiet", "--out", out_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = escapade(&args);
        assert!(out.status.success(), "{tag}: {}", String::from_utf8_lossy(&out.stderr));
        read(&out_dir.join("summary.json"))
    };
    let a = run("declared", &["--step-rule", "self-bounding"]);
    let b = run("fitted", &["--rho-from", from.to_str().unwrap()]);
    assert_eq!(a["method"]["rho_source"], "declared");
    let source = b["method"]["rho_source"].as_str().unwrap();
    assert!(source.starts_with("fitted: ") && source.contains("check.json") && source.contains("held-out points"), "{source}");
    assert_eq!(b["method"]["step_rule"]["kind"], "self-bounding", "--rho-from implies the self-bounding rule");
    let (ea, eb) = (a["step_size"]["median"].as_f64().unwrap(), b["step_size"]["median"].as_f64().unwrap());
    assert!(eb > 3.0 * ea, "fitted median step {eb}, declared {ea}");
    // The forms the run used are the file's.
    assert_eq!(b["method"]["step_rule"]["rho1"], json["fits"]["rho1"]["rho"]);
    assert_eq!(b["method"]["step_rule"]["rho2"], json["fits"]["rho2"]["rho"]);
    let c = run("flags", &["--step-rule", "self-bounding", "--rho1", "10,20,0.5", "--rho2", "10,300,0.25"]);
    assert_eq!(c["method"]["rho_source"], "flags");
    std::fs::remove_dir_all(&dir).ok();
}
