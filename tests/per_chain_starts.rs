//! Per-chain starting points (`--init file:PATH`, `Init::Points`): chain c starts at row c, so a
//! run from a matrix of starts is, chain by chain, the runs from each row as `--init point:`,
//! bit for bit (a chain's random streams depend on the seed and its index only), on the CPU
//! backend and the GPU path (per-invocation and cooperative families). (That the starts enter
//! the run's fingerprint by their values is tested in src/init.rs.)

mod common;

use common::gpu;
use escapade::{Experiment, GpuSettings, Init, KernelFamily, MethodKind, ObjectiveSpec, Points, Report, Runner};

/// Rows of starts for `chains` chains in dimension `d`, all different.
fn starts(chains: usize, d: usize) -> Vec<f64> {
    (0..chains * d).map(|k| 0.3 * ((k as f64) * 0.7).sin() + 0.01 * k as f64 / (chains * d) as f64).collect()
}

fn experiment(spec: &ObjectiveSpec, chains: u32, init: Init) -> Experiment {
    let obj = spec.build().unwrap();
    Experiment::builder(obj).method(MethodKind::Pgd).chains(chains).steps(200).seed(7).init(init).build().unwrap()
}

/// Chain c of `all` against chain c of a run started everywhere at row c.
fn each_chain_is_its_row_alone(all: &Report, mut alone: impl FnMut(usize) -> Report, chains: usize, d: usize) {
    for c in 0..chains {
        let one = alone(c);
        assert_eq!(all.raw.states[c], one.raw.states[c], "chain {c}: states");
        assert_eq!(all.raw.x[c * d..(c + 1) * d], one.raw.x[c * d..(c + 1) * d], "chain {c}: final point");
    }
}

#[test]
fn a_matrix_of_starts_is_each_row_as_a_point() {
    let (chains, d) = (5usize, 6usize);
    let spec = ObjectiveSpec::from_name("quartic", d).unwrap();
    let rows = starts(chains, d);
    let points = Init::Points(Points::new("starts.npy".into(), chains, rows.clone()).unwrap());
    let point = |c: usize| Init::Point(rows[c * d..(c + 1) * d].to_vec());
    let all = Runner::cpu().run(&experiment(&spec, chains as u32, points.clone())).unwrap();
    each_chain_is_its_row_alone(&all, |c| Runner::cpu().run(&experiment(&spec, chains as u32, point(c))).unwrap(), chains, d);
    // The chains did start apart: their final points differ.
    assert_ne!(all.raw.x[..d], all.raw.x[d..2 * d]);
    let Some(engine) = gpu() else { return };
    for family in [None, Some(KernelFamily::Cooperative)] {
        let tuned = engine.tuned(GpuSettings { family, ..Default::default() }).unwrap();
        let mut runner = Runner::gpu(&tuned);
        let g = runner.run(&experiment(&spec, chains as u32, points.clone())).unwrap();
        each_chain_is_its_row_alone(&g, |c| runner.run(&experiment(&spec, chains as u32, point(c))).unwrap(), chains, d);
        // And the GPU's integers are the CPU's.
        for c in 0..chains {
            assert_eq!((g.raw.states[c].t, g.raw.states[c].escapes, g.raw.states[c].label), (all.raw.states[c].t, all.raw.states[c].escapes, all.raw.states[c].label), "{family:?} chain {c}");
        }
    }
}

#[test]
fn one_row_starts_every_chain_there_and_wrong_shapes_are_refused() {
    let d = 4;
    let spec = ObjectiveSpec::from_name("toy-saddle", 2).unwrap();
    let row = vec![0.2, -0.1];
    let one = Init::Points(Points::new("one.csv".into(), 1, row.clone()).unwrap());
    let a = Runner::cpu().run(&experiment(&spec, 3, one)).unwrap();
    let b = Runner::cpu().run(&experiment(&spec, 3, Init::Point(row))).unwrap();
    assert_eq!(a.raw.x, b.raw.x);
    assert_eq!(a.raw.states, b.raw.states);
    // 3 rows for 4 chains, or rows of the wrong width: one line naming init and the shapes.
    let quartic = ObjectiveSpec::from_name("quartic", d).unwrap().build().unwrap();
    for (rows, cols) in [(3, d), (4, d + 1)] {
        let p = Points::new("bad.npy".into(), rows, vec![0.0; rows * cols]).unwrap();
        let e = Experiment::builder(quartic.clone()).chains(4).init(Init::Points(p)).build().unwrap_err().to_string();
        assert!(e.contains("init") && e.contains("4 x 4") && e.contains(&format!("bad.npy: {rows} x {cols}")), "{e}");
    }
    let e = Points::new("nan.npy".into(), 1, vec![0.0, f64::NAN]).unwrap_err().to_string();
    assert!(e.contains("init") && e.contains("nan.npy") && e.contains("column 1"), "{e}");
}

/// `--save-points` writes each chain's resting point as a chains x d .npy that `--init file:`
/// reads back: a run started from a finished run's points, with no step left to take in a stall,
/// starts every chain where the first run left it.
#[test]
fn saved_points_start_the_next_run() {
    let dir = std::env::temp_dir().join(format!("escapade-points-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = |name: &str| dir.join(name).display().to_string();
    let run = |args: &str, name: &str| {
        let mut a: Vec<String> = args.split_whitespace().map(String::from).collect();
        a.extend(["--out".into(), out(name), "--plots".into(), "none".into(), "--quiet".into(), "--backend".into(), "cpu".into()]);
        let o = common::table::escapade(&a);
        assert!(o.status.success(), "{args}: {}", String::from_utf8_lossy(&o.stderr));
    };
    run("run --objective quartic --dim 4 --chains 6 --steps 300 --method gd --init uniform:1 --save-points", "first");
    let points = escapade::objective::data::load_matrix(&dir.join("first/points.npy"), "points").unwrap();
    assert_eq!((points.rows, points.cols), (6, 4));
    // The values are the chains' final points: f at each row is chains.csv's f (GD, no kicks).
    let records = escapade::report::files::read_chains(&dir.join("first/chains.csv")).unwrap();
    let q = ObjectiveSpec::from_name("quartic", 4).unwrap().build().unwrap();
    let mut g = vec![0.0; 4];
    for (c, rec) in records.iter().enumerate() {
        let f = q.eval_f64(&points.data[c * 4..(c + 1) * 4], &mut g).value;
        assert!((f - f64::from(rec.f)).abs() <= 1e-6 * (1.0 + f.abs()), "chain {c}: {f} vs {}", rec.f);
    }
    // Restarted from them for one step with GD: every chain starts at its row.
    run(&format!("run --objective quartic --dim 4 --chains 6 --steps 1 --method gd --init file:{}", out("first/points.npy")), "second");
    let again = escapade::report::files::read_chains(&dir.join("second/chains.csv")).unwrap();
    for (a, b) in records.iter().zip(&again) {
        assert!((a.f - b.f).abs() <= 1e-6 * (1.0 + a.f.abs()), "{} vs {}", a.f, b.f);
    }
    // Without the flag there is no points.npy.
    run("run --objective quartic --dim 4 --chains 6 --steps 10", "third");
    assert!(!dir.join("third/points.npy").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
