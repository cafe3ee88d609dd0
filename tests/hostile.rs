//! Hostile input at the command line: flags, experiment files (TOML), objective data files,
//! custom objectives (WGSL) and sweeps. Each row is one bad input with its exit status and a
//! fragment of its one-line message; `common::table` also checks every row for panics, aborts
//! and multi-line errors. Saved runs are in hostile_runs.rs, checkpoints in integrity.rs.

mod common;

use common::table::{Case, case, check, tmp};

/// A tiny CPU run into the case's directory; the flags after it override these.
const RUN: &str = "run --backend cpu --chains 4 --steps 5 --plots none --quiet --out {d}/out";

fn run(name: &'static str, code: i32, says: &[&'static str], extra: &str) -> Case {
    case(name, code, says, &format!("{RUN} {extra}"))
}

#[test]
fn flags() {
    let cases = vec![
        run("unknown flag", 2, &["unexpected argument '--bogus'", "escapade run --help"], "--bogus"),
        case("missing value", 2, &["a value is required for '--chains"], "run --out {d}/out --chains"),
        run("malformed count", 2, &["invalid chains: got many, allowed: an integer"], "--chains many"),
        run("negative count", 2, &["invalid chains: got -1, allowed: an integer from 0 to 4294967295"], "--chains -1"),
        run("malformed number", 2, &["invalid eta: got fast, allowed: a number"], "--eta fast"),
        run("zero chains", 2, &["invalid chains: got 0", ">= 1"], "--chains 0"),
        run("zero steps", 2, &["invalid steps: got 0"], "--steps 0"),
        run("zero steps per dispatch on the CPU", 2, &["invalid steps-per-dispatch: got 0"], "--steps-per-dispatch 0"),
        run("steps beyond u32", 2, &["invalid steps: got 99999999999", "to 4294967295"], "--steps 99999999999"),
        run("eta NaN", 2, &["invalid eta: got NaN"], "--eta nan"),
        run("eta inf", 2, &["invalid eta: got inf"], "--eta inf"),
        run("eta -inf", 2, &["invalid eta: got -inf"], "--eta -inf"),
        run("eta beyond f32", 2, &["eta", "f32"], "--eta 1e39"),
        run("radius beyond f32", 2, &["radius", "f32"], "--radius 1e300"),
        run("negative g-thres", 2, &["invalid g_thres: got -1"], "--g-thres -1"),
        run("negative seed", 2, &["invalid seed: got -1, allowed: an integer >= 0"], "--seed -1"),
        run("bad init", 2, &["invalid init", "normal:SIGMA"], "--init gauss:1"),
        run("init NaN scale", 2, &["invalid init", "5e37"], "--init normal:nan"),
        // Bounds in the state's format (issue: finite in f64 but not in f32, or rounded to 0).
        run("init scale beyond f32", 2, &["invalid init", "5e37"], "--init uniform:1e39"),
        run("init point beyond f32", 2, &["invalid init"], "--objective toy-saddle --init point:1e39,0"),
        run("eta rounded to 0 in f32", 2, &["invalid eta", "normal f32"], "--eta 1e-46"),
        run("f-thres rounded to 0 in f32", 2, &["invalid f_thres", "normal f32"], "--f-thres 1e-50"),
        run("g-thres rounded to 0 in f32", 2, &["invalid g_thres", "normal f32"], "--g-thres 1e-50"),
        run("pgd with radius 0", 2, &["invalid radius", "--method gd"], "--method pgd --radius 0"),
        run("pgd with t-thres 0", 2, &["invalid t-thres", ">= 1"], "--method pgd --t-thres 0"),
        run("noisy gd with radius 0", 2, &["invalid radius", "gaussian"], "--method noisy-gd --radius 0"),
        run("checkpoint interval 1e300", 2, &["invalid checkpoint-every", "1e9"], "--checkpoint-every 1e300"),
        run("dimension whose judging cannot fit", 2, &["d = 2000000", "Lanczos", "smaller dimension"], "--dim 2000000 --chains 2"),
        run("checkpoint interval 1e20", 2, &["invalid checkpoint-every", "1e9"], "--checkpoint-every 1e20"),
        run("f-min NaN", 2, &["invalid f-min", "finite"], "--wgsl {d}/f.wgsl --dim 2 --f-min nan --backend gpu").with("f.wgsl", "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    (*g)[0] = 0.0;\n    (*g)[1] = 0.0;\n    return Eval(0.0, 0u, 1u);\n}\n"),
        case("check descents without bound", 2, &["invalid descent-steps", "1000000"], "check --objective quartic --descent-steps 4294967295 --out {d}/c"),
        case("check starts without bound", 2, &["invalid starts", "10000"], "check --objective quartic --starts 4294967295 --out {d}/c"),
        run("init point of wrong length", 2, &["invalid init", "5 coordinates"], "--init point:1,2"),
        run("bad method", 2, &["invalid method: got adam", "pgd"], "--method adam"),
        run("bad objective", 2, &["invalid objective: got banana", "octopus"], "--objective banana"),
        run("bad backend", 2, &["invalid backend: got tpu", "auto, gpu, cpu"], "--backend tpu"),
        run("bad state", 2, &["invalid state: got f80", "f16, f32, f64"], "--state f80"),
        run("shard 4/4", 2, &["invalid shard: got 4/4", "0 <= I < N"], "--shard 4/4"),
        run("shard 0/0", 2, &["invalid shard: got 0/0"], "--shard 0/0"),
        run("shard x/2", 2, &["invalid shard: got x/2"], "--shard x/2"),
        run("shard -1/2", 2, &["invalid shard: got -1/2"], "--shard -1/2"),
        run("trace every 0", 2, &["trace every", ">= 1"], "--trace-chains 2 --trace-every 0"),
        run("more traced chains than chains", 2, &["trace chains", "4 chains"], "--trace-chains 100"),
        run("checkpoint interval NaN", 2, &["invalid checkpoint-every: got nan"], "--checkpoint-every nan"),
        run("negative certify eps", 2, &["invalid certify-eps"], "--certify-eps -1"),
        run("resume with force", 2, &["'--resume' cannot be used with '--force'"], "--resume --force"),
        run("resume-anyway alone", 2, &["resume-anyway", "only with --resume"], "--resume-anyway"),
        run("resume without a checkpoint", 2, &["invalid resume", "holding a checkpoint"], "--resume"),
        run("chains beyond memory", 2, &["memory", "GB"], "--chains 4000000000"),
        run("trace beyond memory", 2, &["memory", "GB"], "--chains 4096 --trace-chains 4096 --trace-every 1 --steps 1000000"),
        run("dimension beyond u64 sizes", 2, &["memory"], "--dim 18446744073709551615"),
        run("quartic data beyond memory", 2, &["objective's data", "--dim"], "--objective quartic --dim 1000000000000000000"),
        run("phase retrieval data beyond memory", 2, &["objective's data", "--m"], "--objective phase-retrieval --dim 2000000000"),
        run("linear network data beyond memory", 2, &["objective's data"], "--objective linear-network --dim 18446744073709551615"),
        run("linear network p 0", 2, &["invalid p: got 0"], "--objective linear-network --p 0"),
        run("toy saddle in 3-D", 2, &["invalid dim: got 3", "2 for toy-saddle"], "--objective toy-saddle --dim 3"),
        run("rosenbrock in 1-D", 2, &["invalid dim: got 1"], "--objective rosenbrock --dim 1"),
        run("bad clip", 2, &["invalid clip"], "--clip soft:1"),
        run("negative precondition lambda", 2, &["precond-lambda"], "--precond asinh:-1"),
        run("schedule out of order", 2, &["invalid schedule", "increasing"], "--schedule piecewise:10:0.5,5:0.2"),
        run("rho1 NaN", 2, &["invalid rho1", "finite"], "--step-rule self-bounding --rho1 1,1,nan"),
        run("rho1 without self-bounding", 2, &["invalid step-rule", "self-bounding"], "--rho1 1,1,0.5"),
        run("batch without a finite sum", 2, &["invalid batch", "finite-sum"], "--method sgd --batch 4"),
        run("noise and batch", 2, &["invalid batch", "either --noise or --batch"], "--objective phase-retrieval --method sgd --noise 1 --batch 2"),
        run("delta 1", 2, &["invalid delta: got 1", "(0, 1)"], "--l 1 --rho 1 --eps 0.1 --delta 1"),
        run("wgsl with a built-in objective", 2, &["invalid wgsl", "custom"], "--objective quartic --wgsl {d}/x.wgsl"),
        run("custom without wgsl", 2, &["custom needs --wgsl"], "--objective custom"),
        // Known before any adapter is opened: the same answer with or without a GPU.
        run("dimension beyond the per-invocation kernel", 2, &["d = 512", "256", "--backend cpu"], "--objective quartic --dim 512 --backend gpu --kernel-family per-invocation"),
        run("out is a file", 2, &["this is a file"], "--out {d}/file").with("file", "not a directory"),
    ];
    check(&tmp("hostile-flags"), &[], cases);
}

#[test]
fn experiment_files() {
    // Without --chains and --steps: typed flags would override the file's.
    const RUN: &str = "run --backend cpu --plots none --quiet --out {d}/out";
    let t = |name, code, says: &[&'static str], file: &'static str, text: &str| case(name, code, says, &format!("{RUN} {{d}}/{file}")).with(file, text);
    let cases = vec![
        t("toml syntax error", 2, &["exp.toml line 1 column", "a TOML experiment file"], "exp.toml", "chains = \n"),
        t("toml unknown key", 2, &["key \"chians\"", "unknown key", "chains"], "exp.toml", "chians = 4\n"),
        t("toml string for a count", 2, &["invalid chains: got many, allowed: an integer"], "exp.toml", "chains = \"many\"\n"),
        t("toml float for a count", 2, &["invalid chains: got 4.5, allowed: an integer"], "exp.toml", "chains = 4.5\n"),
        t("toml table value", 2, &["invalid objective: got a table"], "exp.toml", "[objective]\nname = \"quartic\"\n"),
        t("toml checkpoint interval 1e300", 2, &["invalid checkpoint-every", "1e9"], "exp.toml", "checkpoint-every = 1e300\n"),
        t("toml date-time value", 2, &["invalid seed", "a date-time 1979-05-27", "quote it"], "exp.toml", "seed = 1979-05-27\n"),
        t("toml duplicate key", 2, &["line 2 column 1", "duplicate key"], "exp.toml", "chains = 4\nchains = 5\n"),
        t("toml both spellings", 2, &["g_thres", "once"], "exp.toml", "g-thres = 0.1\ng_thres = 0.2\n"),
        t("toml switch not a boolean", 2, &["key \"quiet\"", "true or false"], "exp.toml", "quiet = \"yes\"\n"),
        t("toml NaN value", 2, &["invalid eta: got NaN"], "exp.toml", "eta = nan\n"),
        t("toml upper-case name", 2, &["invalid chains: got 0"], "EXP.TOML", "chains = 0\n"),
        case("toml not UTF-8", 2, &["exp.toml", "UTF-8"], &format!("{RUN} {{d}}/exp.toml")).with("exp.toml", vec![0xff, 0xfe, 0x00, b'x']),
        case("toml is a directory", 2, &["dir.toml", "a regular file", "a directory"], &format!("{RUN} {{d}}/dir.toml")).with("dir.toml/", ""),
        case("toml missing", 2, &["nothere.toml", "No such file"], &format!("{RUN} {{d}}/nothere.toml")),
        case("config missing its file", 2, &["invalid config", "--config FILE"], "run --config --out {d}/out"),
        case("non-TOML positional", 2, &["invalid experiment: got", "exp.txt", "TOML"], &format!("{RUN} {{d}}/exp.txt")).with("exp.txt", "chains = 4\n"),
        case("two experiment files", 2, &["one experiment file", "b.toml"], &format!("{RUN} {{d}}/a.toml {{d}}/b.toml")).with("a.toml", "").with("b.toml", ""),
        case("config twice", 2, &["one experiment file"], &format!("{RUN} --config {{d}}/a.toml --config={{d}}/b.toml")).with("a.toml", "").with("b.toml", ""),
    ];
    check(&tmp("hostile-toml"), &[], cases);
}


fn f64s(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f64 * 0.25).to_le_bytes()).collect()
}

#[test]
fn data_files() {
    let a: String = (0..50).map(|i| format!("{},1,-1,0.5,{}\n", i % 3, i % 2)).collect();
    let y: String = (0..50).map(|i| format!("{}\n", i % 3)).collect();
    let pr = |name, says: &[&'static str], files: &str, extra: &str| {
        run(name, 2, says, &format!("--objective phase-retrieval --data {files} {extra}")).with("A.csv", a.clone()).with("y.csv", y.clone())
    };
    let a_y = "{d}/A.csv,{d}/y.csv";
    let cases = vec![
        pr("data file missing", &["nope.csv", "No such file"], "{d}/nope.csv,{d}/y.csv", ""),
        pr("one data file of two", &["invalid data files: got 1", "A, y"], "{d}/A.csv", ""),
        pr("four data files of two or three", &["invalid data files: got 4", "2 to 3"], "{d}/A.csv,{d}/y.csv,{d}/y.csv,{d}/y.csv", ""),
        pr("x star of the wrong length", &["invalid x_star: got 50 x 1", "d = 5 values"], "{d}/A.csv,{d}/y.csv,{d}/y.csv", ""),
        pr("x star of zeros", &["invalid x_star", "nonzero"], "{d}/A.csv,{d}/y.csv,{d}/z.csv", "").with("z.csv", "0,0,0,0,0\n"),
        run("empty data value", 2, &["--data", "an empty file name"], "--objective phase-retrieval").arg("--data").arg(""),
        pr("empty data file", &["invalid A", "it is empty"], "{d}/e.csv,{d}/y.csv", "").with("e.csv", ""),
        pr("non-numeric entry", &["invalid A", "line 2: not a number"], "{d}/n.csv,{d}/y.csv", "").with("n.csv", "1,2\nx,4\n"),
        pr("NaN entry", &["invalid y", "(1, 0)", "NaN"], "{d}/A.csv,{d}/ny.csv", "").with("ny.csv", "1\nnan\n1\n"),
        pr("inf entry", &["invalid A", "entry (1, 1) is inf"], "{d}/i.csv,{d}/y.csv", "").with("i.csv", "1,2\n3,inf\n"),
        pr("entry beyond f64", &["invalid A", "entry (0, 0) is inf"], "{d}/h.csv,{d}/y.csv", "").with("h.csv", "1e400,2\n3,4\n"),
        pr("ragged rows", &["invalid A", "line 2"], "{d}/r.csv,{d}/y.csv", "").with("r.csv", "1,2\n3\n"),
        pr("data not UTF-8", &["invalid A", "UTF-8"], "{d}/b.csv,{d}/y.csv", "").with("b.csv", vec![0xff, 0xfe, b'1', b'\n']),
        pr("data file is a directory", &["invalid A", "a regular", "a directory"], "{d}/dir.csv,{d}/y.csv", "").with("dir.csv/", ""),
        pr("unknown extension", &["invalid y", ".npy or .csv"], "{d}/A.csv,{d}/y.mat", "").with("y.mat", "1\n"),
        pr("npy random bytes", &["invalid A", "not a valid .npy"], "{d}/A.npy,{d}/y.csv", "").with("A.npy", vec![7u8; 100]),
        pr("npy truncated", &["invalid A", "needs more bytes"], "{d}/A.npy,{d}/y.csv", "").with("A.npy", common::npy("<f8", "(50, 5)", false, &f64s(125))),
        pr("npy absurd shape", &["invalid A", "needs more bytes"], "{d}/A.npy,{d}/y.csv", "")
            .with("A.npy", common::npy("<f8", "(4000000000000, 4000000000000)", false, &f64s(4))),
        pr("npy integer dtype", &["invalid A", "dtype", "float32 or float64"], "{d}/A.npy,{d}/y.csv", "").with("A.npy", common::npy("<i8", "(50, 5)", false, &f64s(250))),
        pr("npy 3-D", &["invalid A", "3-dimensional"], "{d}/A.npy,{d}/y.csv", "").with("A.npy", common::npy("<f8", "(2, 5, 5)", false, &f64s(50))),
        pr("npy Fortran order", &["invalid A", "Fortran"], "{d}/A.npy,{d}/y.csv", "").with("A.npy", common::npy("<f8", "(50, 5)", true, &f64s(250))),
        pr("y of the wrong length", &["invalid y: got 40 x 1", "50 x 1"], "{d}/A.csv,{d}/y40.csv", "").with("y40.csv", "1\n".repeat(40)),
        pr("A transposed", &["invalid A: got 5 x 50", "transposed", "50 x d"], "{d}/At.csv,{d}/y.csv", "").with("At.csv", (0..5).map(|i| format!("{}\n", vec![(i + 1).to_string(); 50].join(","))).collect::<String>()),
        pr("negative measurement", &["invalid y", "squared magnitudes"], "{d}/A.csv,{d}/neg.csv", "").with("neg.csv", "-1\n".repeat(50)),
        pr("dim against the data", &["invalid dim: got 7", "5 (the dimension the --data files give)"], a_y, "--dim 7"),
        pr("m with data", &["invalid m: got 20", "--data"], a_y, "--m 20"),
        pr("batch beyond m", &["batch", "50"], a_y, "--method sgd --batch 1000"),
        pr("data seed with data", &["invalid data-seed", "--data"], a_y, "--data-seed 4"),
        run("data for an objective without data", 2, &["invalid data", "only with --objective"], "--data-seed 3"),
        run("matrix not square", 2, &["invalid M: got 3 x 2", "square"], "--objective matrix-factorization --data {d}/M.csv").with("M.csv", "1,2\n3,4\n5,6\n"),
        run("matrix not symmetric", 2, &["invalid M", "symmetric"], "--objective matrix-factorization --data {d}/M.csv").with("M.csv", "1,2\n3,4\n"),
        run("rank beyond the matrix", 2, &["invalid rank: got 5", "n = 2"], "--objective matrix-factorization --rank 5 --data {d}/M.csv").with("M.csv", "1,0\n0,1\n"),
        run("p with data", 2, &["invalid p", "--data"], "--objective linear-network --p 3 --data {d}/Y.csv").with("Y.csv", "1,2\n3,4\n"),
        run("spectrum with data", 2, &["invalid spectrum", "--data"], "--objective matrix-factorization --spectrum 1,1 --data {d}/M.csv").with("M.csv", "1,0\n0,1\n"),
        // Per-chain starts: the file read as data is, its shape against chains x d.
        run("init file missing", 2, &["invalid init", "nope.npy", "No such file"], "--objective quartic --dim 3 --chains 4 --init file:{d}/nope.npy"),
        run("init rows against chains", 2, &["invalid init", "4 x 3", "3 x 3"], "--objective quartic --dim 3 --chains 4 --init file:{d}/s.csv").with("s.csv", "1,2,3\n".repeat(3)),
        run("init columns against d", 2, &["invalid init", "4 x 3", "4 x 2"], "--objective quartic --dim 3 --chains 4 --init file:{d}/s.csv").with("s.csv", "1,2\n".repeat(4)),
        run("init entry beyond f32", 2, &["invalid init", "1e300", "row 1, column 0"], "--objective quartic --dim 1 --chains 2 --init file:{d}/s.csv").with("s.csv", "1\n1e300\n"),
        run("init npy 3-D", 2, &["invalid init", "3-dimensional"], "--objective quartic --dim 5 --init file:{d}/s.npy").with("s.npy", common::npy("<f8", "(2, 5, 5)", false, &f64s(50))),
    ];
    check(&tmp("hostile-data"), &[], cases);
}

#[test]
fn custom_objectives() {
    const HEAD: &str = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n";
    let w = |name, says: &[&'static str], text: String| run(name, 2, says, "--objective custom --dim 2 --wgsl {d}/o.wgsl").with("o.wgsl", text);
    let cases = vec![
        w("wgsl syntax error", &["invalid WGSL", "o.wgsl:2:22", "expected expression"], format!("{HEAD}    return Eval(1.0 +, 0u, 1u);\n}}\n")),
        w("wgsl type error", &["o.wgsl:2:", "u32"], format!("{HEAD}  let y: u32 = 1.5;\n  return Eval(0.0, 0u, 1u);\n}}\n")),
        w("wgsl missing objective", &["o.wgsl", "no objective function", "fn objective("], "fn f(x: f32) -> f32 { return x; }\n".into()),
        w("wgsl empty", &["no objective function"], String::new()),
        w("wgsl wrong signature", &["o.wgsl:1:", "another signature", "-> Eval"], "fn objective(x: f32) -> f32 { return x; }\n".into()),
        w("wgsl wrong return type", &["another signature"], "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> f32 { return 0.0; }\n".into()),
        w("wgsl redefinition", &["o.wgsl:4:", "redefinition of `objective`"], format!("{HEAD}  return Eval(0.0, 0u, 1u);\n}}\nfn objective(x: f32) {{}}\n")),
        w("wgsl redefines a binding", &["redefinition of `data`"], format!("@group(0) @binding(0) var<storage> data: array<f32>;\n{HEAD}  return Eval(0.0, 0u, 1u);\n}}\n")),
        run("wgsl not UTF-8", 2, &["o.wgsl", "UTF-8"], "--objective custom --dim 2 --wgsl {d}/o.wgsl").with("o.wgsl", vec![0xff, 0xfe]),
        run("wgsl missing", 2, &["nope.wgsl", "No such file"], "--objective custom --dim 2 --wgsl {d}/nope.wgsl"),
        run("wgsl without dim", 2, &["invalid dim", "a custom objective needs --dim"], "--objective custom --wgsl {d}/nope.wgsl"),
        w("wgsl private array of 200 MB", &["o.wgsl", "200000000 bytes per invocation", "524288", "--data"], format!("var<private> big: array<f32, 50000000>;\n{HEAD}  big[0] = 1.0;\n  return Eval(big[0], 0u, 1u);\n}}\n")),
        w("wgsl function array of 4 MB", &["o.wgsl", "bytes per invocation", "524288"], format!("{HEAD}  var a: array<f32, 1000000>;\n  a[1] = (*x)[0];\n  return Eval(a[1], 0u, 1u);\n}}\n")),
        w("wgsl objective_lanes with an argument", &["o.wgsl:5:1", "fn objective_lanes has another signature", "fn objective_lanes() -> Eval"], format!("{HEAD}  return Eval(0.0, 0u, 1u);\n}}\n\nfn objective_lanes(i: u32) -> Eval {{ return Eval(x_at(i), 0u, 1u); }}\n")),
        w("wgsl objective_lanes with a barrier", &["o.wgsl", "fn objective_lanes synchronizes the workgroup"], format!("{HEAD}  return Eval(0.0, 0u, 1u);\n}}\n\nfn objective_lanes() -> Eval {{\n  workgroupBarrier();\n  return Eval(lanes_sum(x_at(lo)), 0u, 1u);\n}}\n")),
        w("wgsl rho1 of another type", &["o.wgsl:5:1", "fn rho1 has another signature", "fn rho1(F: f32) -> f32"], format!("{HEAD}  return Eval(0.0, 0u, 1u);\n}}\n\nfn rho1(F: u32) -> f32 {{ return 1.0; }}\n")),
        w("wgsl objective_load of another type", &["o.wgsl:4:1", "fn objective_load(lid: u32)"], format!("{HEAD}  return Eval(0.0, 0u, 1u);\n}}\nfn objective_load(lid: f32) {{}}\n")),
        w("wgsl constant index out of bounds", &["o.wgsl:3:", "index 5"], format!("{HEAD}  (*g)[0] = (*x)[0];\n  (*g)[1] = (*x)[5];\n  return Eval(0.0, 0u, 1u);\n}}\n")),
        w("wgsl barrier where chains diverge", &["o.wgsl:2:", "fn helper synchronizes", "objective_load"], format!("fn helper(a: f32) -> f32 {{\n  if (a > 0.0) {{ workgroupBarrier(); }}\n  return a;\n}}\n{HEAD}  return Eval(helper((*x)[0]), 0u, 1u);\n}}\n")),
        w("wgsl directive after a declaration", &["o.wgsl:2:1", "directive"], format!("const K: f32 = 1.0;\nenable f16;\n{HEAD}  return Eval(K, 0u, 1u);\n}}\n")),
        run("wgsl loops past the driver's limit", 2, &["o.wgsl", "65535 loop iterations", "loop fewer times"], "--objective custom --dim 2 --wgsl {d}/o.wgsl --backend gpu")
            .with("o.wgsl", format!("{HEAD}  var s = 0.0;\n  for (var i = 0u; i < 100000u; i++) {{ s = s + 1e-9; }}\n  return Eval(s, 0u, 1u);\n}}\n"))
            .absent("{d}/out/summary.json"),
        run("wgsl beyond the kernel's dimension", 2, &["o.wgsl", "d = 300", "no CPU twin", "--dim 256 or less"], "--objective custom --dim 300 --wgsl {d}/o.wgsl --backend auto")
            .with("o.wgsl", format!("{HEAD}  return Eval(0.0, 0u, 1u);\n}}\n")),
        // Reserved for "no label": refused when it comes back, and nothing that looks like a run.
        run("wgsl label NEVER", 2, &["o.wgsl", "label 4294967295", "reserves"], "--objective custom --dim 2 --wgsl {d}/o.wgsl --backend gpu")
            .with("o.wgsl", format!("{HEAD}  (*g)[0] = (*x)[0];\n  (*g)[1] = (*x)[1];\n  return Eval(0.5 * (*x)[0] * (*x)[0], 4294967295u, 1u);\n}}\n"))
            .absent("{d}/out/summary.json"),
        run("wgsl on the CPU backend", 2, &["no CPU twin", "--backend gpu"], "--objective custom --dim 3 --wgsl examples/custom_objective/objective.wgsl"),
    ];
    let mut cases = cases;
    // On a software adapter (lavapipe, as in CI) 16 KiB would compile for about 17 s.
    if String::from_utf8_lossy(&common::table::escapade(&["info"]).stdout).contains("device type: Cpu") {
        cases.push(
            run("wgsl private array beyond a software adapter", 2, &["o.wgsl", "16384 bytes per invocation", "software adapter", "--data"], "--objective custom --dim 2 --wgsl {d}/o.wgsl --backend gpu")
                .with("o.wgsl", format!("var<private> t: array<f32, 4096>;\n{HEAD}  t[1] = (*x)[0];\n  return Eval(t[1], 0u, 1u);\n}}\n"))
                .absent("{d}/out/summary.json"),
        );
    }
    check(&tmp("hostile-wgsl"), &[], cases);
}

#[test]
fn sweeps_check_every_point_before_running_any() {
    const EXP: &str = "objective = \"toy-saddle\"\nchains = 8\nsteps = 10\nbackend = \"cpu\"\nplots = \"none\"\n";
    let s = |name, says: &[&'static str], grid: &str| case(name, 2, says, &format!("sweep {{d}}/exp.toml {grid} --out {{d}}/grid")).with("exp.toml", EXP).absent("{d}/grid");
    let cases = vec![
        s("grid value the flag refuses", &["invalid method: got adam"], "--grid method=gd,adam"),
        s("grid key twice", &["invalid grid", "each key once"], "--grid seed=1,2 --grid seed=3"),
        s("grid key in both spellings", &["invalid grid", "each key once"], "--grid g-thres=0.1 --grid g_thres=0.2"),
        s("grid value twice", &["invalid grid", "distinct values of seed"], "--grid seed=1,1"),
        s("grid value beyond f32", &["invalid grid", "eta"], "--grid eta=0.1,1e39"),
        s("grid value -inf", &["invalid eta: got -inf"], "--grid eta=-inf"),
        s("grid without =", &["invalid grid", "KEY=V1,V2"], "--grid seed"),
        s("grid without values", &["invalid grid", "at least one value"], "--grid seed="),
        s("grid unknown key", &["invalid grid: got bogus", "a run flag name"], "--grid bogus=1"),
        s("grid out key", &["invalid grid: got out", "other than out"], "--grid out=a,b"),
        s("grid switch key", &["invalid grid", "--quiet"], "--grid quiet=true"),
        s("grid missing", &["--grid"], ""),
        s("grid checkpoint interval 1e300", &["invalid grid", "checkpoint-every"], "--grid checkpoint-every=60,1e300"),
        s("grid list value not bracketed", &["invalid grid", "eigenvalues takes a comma list", "eigenvalues=[-1,2]"], "--grid eigenvalues=-1,2"),
        s("grid bracket unbalanced", &["invalid grid", "balanced"], "--grid seed=[1,2"),
        s("grid empty bracket", &["invalid grid", "without empty values"], "--grid seed=1,[]"),
        case("sweep experiment missing", 2, &["nope.toml", "No such file"], "sweep {d}/nope.toml --grid seed=1 --out {d}/grid"),
    ];
    check(&tmp("hostile-sweep"), &[], cases);
}

#[test]
fn experiment_files_are_read_wherever_they_are() {
    let d = tmp("hostile-files");
    let exp = d.join("Exp.TOML");
    std::fs::write(&exp, "objective = \"quartic\"\ndim = 3\nchains = 8\nsteps = 10\nbackend = \"cpu\"\nplots = \"none\"\nquiet = false\n").unwrap();
    let e = exp.to_str().unwrap();
    for (tag, args) in [("late", vec!["run", "--quiet", e]), ("config", vec!["run", "--quiet", "--config", e]), ("equals", vec!["run", "--quiet", &format!("--config={e}")])] {
        let out = d.join(tag);
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--out".into(), out.to_str().unwrap().into()]);
        let o = common::table::escapade(&a);
        assert!(o.status.success(), "{tag}: {}", String::from_utf8_lossy(&o.stderr));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["objective"]["name"], "quartic", "{tag}: the file was not read");
    }
    std::fs::remove_dir_all(&d).ok();
}

/// Not bad input: what the GPU kernel family cannot hold (here the per-invocation one, forced,
/// beyond d = 256), `auto` runs on the CPU, saying so.
#[test]
fn auto_runs_beyond_the_gpu_kernel_on_the_cpu() {
    let d = tmp("hostile-wide");
    let o = common::table::escapade(&["run", "--objective", "quartic", "--dim", "300", "--kernel-family", "per-invocation", "--steps", "2", "--chains", "2", "--plots", "none", "--out", d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("ran on the CPU backend") && err.contains("d = 300"), "{err}");
    std::fs::remove_dir_all(&d).ok();
}

/// `run --rho-from`: a real check of phase retrieval, and copies of it edited into each bad
/// input; `check --coverage` out of range.
#[test]
fn fitted_forms() {
    let base = tmp("hostile-fits");
    let good = base.join("good");
    let out = common::table::escapade(&["check", "--objective", "phase-retrieval", "--starts", "2", "--descent-steps", "50", "--plots", "none", "--out", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(good.join("check.json")).unwrap()).unwrap();
    let edit = |name: &str, f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut j = json.clone();
        f(j.as_object_mut().unwrap());
        let p = base.join(name);
        std::fs::write(&p, serde_json::to_string(&j).unwrap().replace("\"INF\"", "1e999")).unwrap();
        p
    };
    let fixtures = [
        ("good", good.join("check.json")),
        ("null", edit("null.json", &|j| j["fits"]["rho1"]["rho"]["b"] = serde_json::Value::Null)),
        ("inf", edit("inf.json", &|j| j["fits"]["rho2"]["rho"]["a"] = "INF".into())),
        ("negative", edit("negative.json", &|j| j["fits"]["rho2"]["rho"]["a"] = (-1.0).into())),
        ("no-rho2", edit("no-rho2.json", &|j| {
            j["fits"].as_object_mut().unwrap().remove("rho2");
        })),
        ("no-fits", edit("no-fits.json", &|j| j["fits"] = serde_json::Value::Null)),
        ("old", edit("old.json", &|j| {
            j.remove("schema_version");
            j.remove("fits");
        })),
        ("future", edit("future.json", &|j| j["schema_version"] = 3.into())),
    ];
    let fixtures: Vec<(&str, &std::path::Path)> = fixtures.iter().map(|(k, p)| (*k, p.as_path())).collect();
    let pr = "--objective phase-retrieval --rho-from";
    let cases = vec![
        run("fits missing", 2, &["invalid rho-from", "{d}/none.json: cannot be read"], &format!("{pr} {{d}}/none.json")),
        run("fits a directory", 2, &["invalid rho-from", "dir.json: not a regular file"], &format!("{pr} {{d}}/dir.json")).with("dir.json/", ""),
        run("fits not JSON", 2, &["invalid rho-from", "x.json: not JSON"], &format!("{pr} {{d}}/x.json")).with("x.json", "rho1 = 1"),
        run("fits of another objective", 2, &["{good}: a check of phase-retrieval with d = 5, not of the run's quartic with d = 5"], "--objective quartic --rho-from {good}"),
        run("fits of another dimension", 2, &["{good}: a check of phase-retrieval with d = 5, not of the run's phase-retrieval with d = 6"], &format!("--dim 6 {pr} {{good}}")),
        run("fits of other parameters", 2, &["{good}", "parameters"], &format!("--m 20 {pr} {{good}}")),
        run("fits of other data", 2, &["{good}", "on other data than the run's"], &format!("--data-seed 1 {pr} {{good}}")),
        run("fits with a null parameter", 2, &["{null}: fits.rho1.rho.b is null, not a finite number"], &format!("{pr} {{null}}")),
        run("fits with an infinite parameter", 2, &["{inf}: not JSON", "out of range"], &format!("{pr} {{inf}}")),
        run("fits with a negative parameter", 2, &["{negative}: fits.rho2", "A, B >= 0"], &format!("{pr} {{negative}}")),
        run("fits without rho2", 2, &["{no-rho2}: fits.rho2.rho.a is null"], &format!("{pr} {{no-rho2}}")),
        run("fits absent (not self-bounding)", 2, &["{no-fits}: no fits"], &format!("{pr} {{no-fits}}")),
        run("fits of the older schema", 2, &["{old}: an older schema without fits", "rerun escapade check"], &format!("{pr} {{old}}")),
        run("fits of a newer schema", 2, &["{future}: schema_version 3"], &format!("{pr} {{future}}")),
        run("fits and explicit forms", 2, &["either --rho-from or --rho1/--rho2"], &format!("--rho1 1,1,1 --rho2 1,1,1 {pr} {{good}}")),
        case("check coverage 0", 2, &["invalid coverage: got 0"], "check --objective quartic --coverage 0 --plots none --out {d}/c"),
        case("check coverage above 1", 2, &["invalid coverage: got 1.5"], "check --objective quartic --coverage 1.5 --plots none --out {d}/c"),
        case("check coverage NaN", 2, &["invalid coverage: got NaN"], "check --objective quartic --coverage nan --plots none --out {d}/c"),
    ];
    check(&base.join("cases"), &fixtures, cases);
    std::fs::remove_dir_all(&base).ok();
}
