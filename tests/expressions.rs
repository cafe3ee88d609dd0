//! Expression objectives (`--objective expr`) against the built-in objectives they write out: the
//! escape-time law by KS on both paths, the GPU against the CPU twin chain by chain, and the
//! command line's errors.

mod common;

use common::{assert_close_states, first_escape_times, gpu};
use escapade::objective::{ExprSpec, Expression, Quartic, ToySaddle};
use escapade::stats::ks_two_sample;
use escapade::{Experiment, Init, MethodKind, Objective, PgdParams, Report, Runner};
use std::sync::Arc;

fn expr(f: &str, dim: usize, label: &str) -> Arc<dyn Objective> {
    Arc::new(Expression::new(&ExprSpec { f: f.into(), dim: Some(dim), label: Some(label.into()), ..ExprSpec::default() }).unwrap())
}

/// PGD from near the saddle at 0, where every chain stalls and is kicked out.
fn pgd(obj: Arc<dyn Objective>, seed: u64) -> Experiment {
    let params = PgdParams { eta: 0.05, radius: 0.01, g_thres: 1e-3, f_thres: 1e-4, t_thres: 10, certify: 0 };
    Experiment::builder(obj).method(MethodKind::Pgd).params(params).chains(2048).steps(600).seed(seed).init(Init::Uniform(1e-4)).build().unwrap()
}

/// The escape-time laws of two runs agree (KS), and both have escapes to compare.
fn same_law(a: &Report, b: &Report, what: &str) {
    let (ta, tb) = (first_escape_times(a), first_escape_times(b));
    assert!(ta.len() > 1500 && tb.len() > 1500, "{what}: {} and {} escapes", ta.len(), tb.len());
    let (d, p) = ks_two_sample(&ta, &tb);
    println!("{what}: {} vs {} escapes, KS D = {d:.4}, p = {p:.3}", ta.len(), tb.len());
    assert!(p > 0.01, "{what}: KS D = {d}, p = {p}");
}

/// A built-in objective and the same written out, by name.
type Case = (&'static str, Arc<dyn Objective>, Arc<dyn Objective>);

fn cases() -> Vec<Case> {
    let quartic: Arc<dyn Objective> = Arc::new(Quartic::new(Quartic::default_eigenvalues(6)).unwrap());
    vec![
        ("toy saddle", Arc::new(ToySaddle), expr("x0^2/2 + x1^4/4 - x1^2/2", 2, "3*x1^2 >= 1")),
        ("quartic d=6", quartic, expr("sum(i, 0.25*x[i]^4 + 0.5*x[i]^2) - x0^2", 6, "3*x0^2 >= 1")),
    ]
}

#[test]
fn written_out_objectives_escape_as_the_built_in_ones_on_the_cpu() {
    for (name, built_in, written) in cases() {
        // Other seeds for the two runs: the same law, not the same draws.
        let a = Runner::cpu().run(&pgd(built_in, 3)).unwrap();
        let b = Runner::cpu().run(&pgd(written, 4)).unwrap();
        same_law(&a, &b, name);
        // Their final labels say the same: every chain has left the saddle's band.
        let left = |r: &Report| r.raw.states.iter().filter(|s| s.label == 1).count();
        assert_eq!(left(&a), 2048, "{name}");
        assert_eq!(left(&b), 2048, "{name}");
    }
}

#[test]
fn written_out_objectives_match_on_the_gpu() {
    let Some(engine) = gpu() else { return };
    for (name, built_in, written) in cases() {
        let g = Runner::gpu(&engine).run(&pgd(written.clone(), 5)).unwrap();
        // The GPU twin against the CPU twin of the same program, chain by chain.
        let c = Runner::cpu().run(&pgd(written, 5)).unwrap();
        assert_close_states(&g, &c, 1e-5);
        // And the law against the built-in objective on the GPU.
        let b = Runner::gpu(&engine).run(&pgd(built_in, 6)).unwrap();
        same_law(&g, &b, name);
    }
}

/// Bad expressions: one line naming the field, the place and what is allowed; exit 2.
#[test]
fn bad_expressions_are_one_line_naming_the_place() {
    use common::table::{case, check, tmp};
    const RUN: &str = "run --backend cpu --chains 4 --steps 5 --plots none --quiet --out {d}/out --objective expr";
    let run = |name, says: &[&'static str], extra: &str| case(name, 2, says, &format!("{RUN} {extra}"));
    let cases = vec![
        run("syntax", &["invalid f: got \"x0+*2\" at column 4", "expected a number"], "--f x0+*2"),
        run("unclosed", &["invalid f", "column 7", "expected \")\""], "--f (x0+x1"),
        run("unknown function", &["invalid f", "unknown name \"erf\"", "exp, log"], "--f erf(x0)"),
        run("index beyond d", &["invalid f", "x[(i0 + 1)] = x[4] at i0 = 3", "0..4"], "--dim 4 --f sum(i,x[i+1]^2)"),
        run("sum needs d", &["invalid dim", "give --dim"], "--f sum(i,x[i]^2)"),
        run("label", &["invalid label", "column 4"], "--f x0^2 --label x0>>1"),
        run("rho1 alone", &["invalid rho2", "both or neither"], "--f x0^2 --rho1 1,1,0.5"),
        run("bad rho", &["invalid rho1", "A,B,P"], "--f x0^2 --rho1 1,x,0.5 --rho2 1,1,1"),
        run("f-min NaN", &["invalid f-min", "finite"], "--f x0^2 --f-min nan"),
        case("f with another objective", 2, &["invalid f", "only with --objective expr"], "run --backend cpu --chains 4 --steps 5 --quiet --out {d}/out --objective quartic --f x0^2"),
    ];
    check(&tmp("expressions"), &[], cases);
}
