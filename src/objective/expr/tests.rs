//! The expression objective against closed forms, finite differences and its own WGSL.

use super::*;
use crate::objective::testing::{check_f32_twin, check_gradient};
use crate::objective::{Quartic, ToySaddle};

fn build(f: &str, dim: Option<usize>) -> Expression {
    Expression::new(&ExprSpec { f: f.into(), dim, ..ExprSpec::default() }).unwrap_or_else(|e| panic!("{f}: {e}"))
}

fn refused(f: &str, dim: Option<usize>) -> String {
    Expression::new(&ExprSpec { f: f.into(), dim, ..ExprSpec::default() }).expect_err(f).to_string()
}

#[test]
fn the_quartic_written_out_is_the_quartic() {
    // The built-in quartic with l = (-1, 1, ..., 1), in d = 7, at points of both signs.
    let e = build("sum(i, 0.25 * x[i]^4) + 0.5 * sum(i, x[i]^2) - x[0]^2", Some(7));
    let q = Quartic::new(Quartic::default_eigenvalues(7)).unwrap();
    for seed in 0..5u64 {
        let x: Vec<f64> = (0..7).map(|i| ((seed * 31 + i * 17) % 23) as f64 / 7.0 - 1.6).collect();
        let (mut ge, mut gq) = (vec![0.0; 7], vec![0.0; 7]);
        let (a, b) = (e.eval_f64(&x, &mut ge), q.eval_f64(&x, &mut gq));
        assert!((a.value - b.value).abs() <= 1e-12 * (1.0 + b.value.abs()), "{} vs {}", a.value, b.value);
        for (u, v) in ge.iter().zip(&gq) {
            assert!((u - v).abs() <= 1e-12 * (1.0 + v.abs()));
        }
        // Exact Hessian-vector products from the derived gradient.
        let v: Vec<f64> = (0..7).map(|i| (i as f64 * 0.3).sin()).collect();
        let (mut he, mut hq) = (vec![0.0; 7], vec![0.0; 7]);
        e.hvp_f64(&x, &v, &mut he);
        q.curvature().unwrap().hvp_f64(&x, &v, &mut hq);
        for (u, w) in he.iter().zip(&hq) {
            assert!((u - w).abs() <= 1e-12 * (1.0 + w.abs()), "{he:?} vs {hq:?}");
        }
        check_gradient(&e, &x, 1e-6);
        check_f32_twin(&e, &x);
    }
}

#[test]
fn the_toy_saddle_with_its_label() {
    let spec = ExprSpec { f: "x0^2/2 + x1^4/4 - x1^2/2".into(), label: Some("abs(x1) > 0.5".into()), ..ExprSpec::default() };
    let e = Expression::new(&spec).unwrap();
    assert_eq!(e.dim(), 2);
    let t = ToySaddle;
    for x in [[0.3, -0.2], [1.5, 0.9], [-0.7, -1.3]] {
        let (mut ge, mut gt) = ([0.0; 2], [0.0; 2]);
        let (a, b) = (e.eval_f64(&x, &mut ge), t.eval_f64(&x, &mut gt));
        assert!((a.value - b.value).abs() < 1e-14 && (ge[0] - gt[0]).abs() < 1e-14 && (ge[1] - gt[1]).abs() < 1e-14);
        assert_eq!(a.label, u32::from(x[1].abs() > 0.5));
    }
}

#[test]
fn gradients_of_composite_and_coupled_expressions_match_finite_differences() {
    // Other shapes than the examples: coupled neighbours, a sum inside a function, nested sums,
    // index arithmetic, weights from the index, real powers and every function.
    let cases = [
        ("sum(i, 0, d - 1, 100 * (x[i + 1] - x[i]^2)^2 + (1 - x[i])^2)", 6),
        ("log(1 + sum(i, x[i]^2)) + tanh(x0) * sin(x[d - 1])", 5),
        ("sum(i, sum(j, exp(-(x[i] - x[j])^2) / (1 + i + j)))", 4),
        ("sqrt(1 + sum(i, (i + 1) * x[i]^2)) + cos(x0 * x1) - abs(x2) + (2 + x1^2)^1.5", 3),
        ("sum(i, x[i] * x[d - 1 - i]) / (2 + x0^2) + exp(x1) ^ 2 + 1/(3 + x2^2)", 8),
    ];
    for (f, d) in cases {
        let e = build(f, Some(d));
        for s in 0..3 {
            let x: Vec<f64> = (0..d).map(|i| 0.2 + ((s * 13 + i * 7) % 9) as f64 / 9.0).collect();
            check_gradient(&e, &x, 1e-5);
            // HVP against central differences of the derived gradient.
            let v: Vec<f64> = (0..d).map(|i| 1.0 / (1.0 + i as f64)).collect();
            let mut hv = vec![0.0; d];
            e.hvp_f64(&x, &v, &mut hv);
            let h = 1e-5;
            let (mut gp, mut gm) = (vec![0.0; d], vec![0.0; d]);
            let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
            let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
            e.eval_f64(&xp, &mut gp);
            e.eval_f64(&xm, &mut gm);
            for k in 0..d {
                let fd = (gp[k] - gm[k]) / (2.0 * h);
                assert!((fd - hv[k]).abs() <= 1e-4 * (1.0 + fd.abs()), "{f}: Hv[{k}] {} vs {fd}", hv[k]);
            }
        }
    }
}

#[test]
fn the_dimension_follows_from_literal_indices_only() {
    assert_eq!(build("x3^2 + x[1]", None).dim(), 4);
    assert!(refused("sum(i, x[i]^2)", None).contains("give --dim"));
}

#[test]
fn errors_name_the_place() {
    let e = refused("x0 + * 2", Some(2));
    assert!(e.starts_with("invalid f: got \"x0 + * 2\" at column 6: expected"), "{e}");
    let e = refused("sum(i, x[i + 1]^2)", Some(3));
    assert!(e.contains("x[(i0 + 1)] = x[3] at i0 = 2") && e.contains("0..3"), "{e}");
    let e = refused("x[5]", Some(3));
    assert!(e.contains("x[5]") && e.contains("give --dim"), "{e}");
    let e = refused("sum(i, 0, 100000000000, x0)", Some(1));
    assert!(e.contains("sums of at most"), "{e}");
    // Not differentiable at the first check point's x0: a ramp's kink, where the central
    // difference is 1/2 and the derived slope 0.
    let kink = 0.37 + 0.29 * 3.0 / 11.0;
    let e = refused(&format!("abs(x0 - {kink:?}) * (x0 > {kink:?}) + x1^2"), None);
    assert!(e.contains("finite differences"), "{e}");
    let e = Expression::new(&ExprSpec { f: "x0^2".into(), rho1: Some(Rho { a: 1.0, b: 1.0, p: 0.5, fmin: 0.0 }), ..ExprSpec::default() }).unwrap_err().to_string();
    assert!(e.starts_with("invalid rho2"), "{e}");
}

#[test]
fn the_wgsl_twin_validates_in_both_precisions() {
    use crate::objective::wgsl::{objective_header, resolve_real};
    for (f, d) in [("sum(i, 0.25 * x[i]^4) - x0^2 / 2", 3), ("sum(i, sum(j, exp(-(x[i] - x[j])^2))) + (1 + x0^2)^0.5 + sign(x1)", 4)] {
        let e = Expression::new(&ExprSpec { f: f.into(), dim: Some(d), label: Some("x0 > 0".into()), ..ExprSpec::default() }).unwrap();
        let src = resolve_real(objective_header(d) + &e.wgsl(), crate::Precision::F32);
        let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|err| panic!("{}\n{src}", err.emit_to_string(&src)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all()).validate(&module).unwrap();
    }
}

#[test]
fn a_pack_of_points_is_each_point_bit_for_bit() {
    use crate::objective::LANES;
    let e = build("sum(i, 0, d - 1, (x[i + 1] - x[i]^2)^2 / (1 + i)) + log(1 + sum(i, x[i]^2)) + tanh(x0)", Some(5));
    let e = Expression::new(&ExprSpec { label: Some("(x0 > 0) + (x1 > 0)".into()), ..e.spec() }).unwrap();
    let x: Vec<[f32; LANES]> = (0..5).map(|i| std::array::from_fn(|l| ((i * 7 + l * 3) % 11) as f32 / 5.0 - 1.0)).collect();
    let mut g = vec![[0.0f32; LANES]; 5];
    let packed = e.lanes().unwrap().eval_lanes_f32(&x, &mut g);
    for l in 0..LANES {
        let xl: Vec<f32> = x.iter().map(|r| r[l]).collect();
        let mut gl = vec![0.0f32; 5];
        let one = e.eval_f32(&xl, &mut gl);
        assert_eq!(one.value.to_bits(), packed[l].value.to_bits());
        assert_eq!(one.label, packed[l].label);
        assert!(gl.iter().zip(&g).all(|(a, r)| a.to_bits() == r[l].to_bits()));
    }
}
