//! Phase retrieval against the loop, finite differences and the WGSL layout.

use super::*;
use crate::objective::testing::*;

/// Packs of lanes give each lane's scalar result bit for bit, in f32 and f64: the loop's
/// packs (d = 7) and the matrix products (d = 16, 33).
#[test]
fn lanes_are_the_scalar_path_bit_for_bit() {
    // m = 42: blocks of four rows and two rows left over.
    for (d, m) in [(7, 40), (7, 42), (PRODUCTS_FROM_D, 40), (33, 301)] {
        lanes_match_the_scalar_path(d, m);
    }
}

/// The matrix products agree with the loop (the WGSL twins' order) to rounding: value and
/// gradient within 1e-5 of the gradient's scale in f32, 1e-12 in f64, at sizes on both sides
/// of the products' blocking and at points near the saddle and near x*.
#[test]
fn products_agree_with_the_loop() {
    for (d, m, seed) in [(16, 64, 1), (33, 301, 2), (257, 700, 3)] {
        let pr = PhaseRetrieval::generate(d, m, seed).unwrap();
        let xs = pr.x_star.clone().unwrap();
        for (k, scale) in [(0u32, 0.05), (1, 1.0)] {
            let x: Vec<f64> = crate::rng::data_normals(seed + 7, k, d).iter().zip(&xs).map(|(n, s)| s * (1.0 - scale) + n * scale * 0.3).collect();
            let (mut g_loop, mut g_prod) = (vec![0.0; d], vec![0.0; d]);
            let (e_loop, e_prod) = (pr.eval(&x, &mut g_loop), pr.eval_one_product(&x, &mut g_prod));
            close(&g_loop, &g_prod, e_loop.value, e_prod.value, 1e-12, &format!("f64 d {d} point {k}"));
            assert_eq!(e_loop.label, e_prod.label);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let (mut g_loop, mut g_prod) = (vec![0.0f32; d], vec![0.0f32; d]);
            let (e_loop, e_prod) = (pr.eval(&x32, &mut g_loop), pr.eval_one_product(&x32, &mut g_prod));
            let widen = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<_>>();
            close(&widen(&g_loop), &widen(&g_prod), e_loop.value.into(), e_prod.value.into(), 1e-5, &format!("f32 d {d} point {k}"));
        }
    }
}

fn close(g_loop: &[f64], g_prod: &[f64], f_loop: f64, f_prod: f64, tol: f64, what: &str) {
    let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f64::max);
    let worst = g_loop.iter().zip(g_prod).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
    assert!(worst <= tol, "{what}: gradients differ by {worst:e} of their scale");
    assert!((f_loop - f_prod).abs() <= tol * f_loop.abs().max(1e-30), "{what}: values {f_loop} vs {f_prod}");
}

/// The exact Hessian-vector product against central differences of the f64 gradient, at
/// random points and directions of two problem sizes.
#[test]
fn hessian_vector_products_match_finite_differences() {
    for (d, m, seed) in [(3, 20, 1), (9, 45, 4)] {
        let pr = PhaseRetrieval::generate(d, m, seed).unwrap();
        for k in 0..4u32 {
            let x = crate::rng::data_normals(seed + 10, k, d);
            let v = crate::rng::data_normals(seed + 20, k, d);
            let mut exact = vec![0.0; d];
            pr.hvp_f64(&x, &v, &mut exact);
            let h = 1e-5;
            let (mut gp, mut gm) = (vec![0.0; d], vec![0.0; d]);
            let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
            let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
            pr.eval_f64(&xp, &mut gp);
            pr.eval_f64(&xm, &mut gm);
            let scale = exact.iter().map(|e| e.abs()).fold(1.0, f64::max);
            for i in 0..d {
                let fd = (gp[i] - gm[i]) / (2.0 * h);
                assert!((fd - exact[i]).abs() <= 1e-6 * scale, "d {d} point {k} coordinate {i}: {fd} vs {}", exact[i]);
            }
        }
    }
}

/// The batch of products is the scalar product lane by lane, bit for bit.
#[test]
fn hessian_vector_products_in_lanes_are_the_scalar_ones() {
    let (d, m) = (6, 33);
    let pr = PhaseRetrieval::generate(d, m, 5).unwrap();
    let x: Vec<[f64; LANES]> = (0..d).map(|i| std::array::from_fn(|l| ((l * 5 + i) as f64 * 0.71).sin())).collect();
    let v: Vec<[f64; LANES]> = (0..d).map(|i| std::array::from_fn(|l| ((l * 3 + 2 * i) as f64 * 0.43).cos())).collect();
    let mut out = vec![[0.0; LANES]; d];
    assert!(pr.hvp_lanes_f64(&x, &v, &mut out));
    for l in 0..LANES {
        let (xl, vl): (Vec<f64>, Vec<f64>) = (x.iter().map(|r| r[l]).collect(), v.iter().map(|r| r[l]).collect());
        let mut want = vec![0.0; d];
        pr.hvp_f64(&xl, &vl, &mut want);
        let got: Vec<f64> = out.iter().map(|r| r[l]).collect();
        assert_eq!(got.iter().map(|g| g.to_bits()).collect::<Vec<_>>(), want.iter().map(|g| g.to_bits()).collect::<Vec<_>>(), "lane {l}");
    }
}

fn lanes_match_the_scalar_path(d: usize, m: usize) {
    let pr = PhaseRetrieval::generate(d, m, 3).unwrap();
    let point = |l: usize, i: usize| ((l * 7 + i) as f64 * 0.37).sin();
    let x64: Vec<[f64; LANES]> = (0..d).map(|i| std::array::from_fn(|l| point(l, i))).collect();
    let x32: Vec<[f32; LANES]> = x64.iter().map(|r| r.map(|v| v as f32)).collect();
    let (mut g64, mut r64) = (vec![[0.0; LANES]; d], vec![[0.0; LANES]; d]);
    let (mut g32, mut r32) = (vec![[0.0f32; LANES]; d], vec![[0.0f32; LANES]; d]);
    assert_eq!(pr.eval_lanes_f64(&x64, &mut g64), crate::objective::lane_by_lane(&x64, &mut r64, |x, g| pr.eval_f64(x, g)));
    assert_eq!(pr.eval_lanes_f32(&x32, &mut g32), crate::objective::lane_by_lane(&x32, &mut r32, |x, g| pr.eval_f32(x, g)));
    let bits = |v: &[[f32; LANES]]| v.iter().flatten().map(|a| a.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&g32), bits(&r32));
    assert!(g64 == r64);
}

/// data() puts A's padded rows, y and x* where the WGSL's PR_ROW, PR_Y and PR_XSTAR say,
/// with d and m not multiples of 4.
#[test]
fn data_layout_is_what_the_wgsl_reads() {
    let (d, m) = (5, 50);
    let pr = PhaseRetrieval::generate(d, m, 2).unwrap();
    let (data, src) = (pr.data(), pr.wgsl());
    let konst = |name: &str| -> usize {
        let line = src.lines().find(|l| l.starts_with(&format!("const {name}: u32 = "))).unwrap();
        line.rsplit(' ').next().unwrap().trim_end_matches("u;").parse().unwrap()
    };
    let (row, y, xs) = (konst("PR_ROW"), konst("PR_Y"), konst("PR_XSTAR"));
    assert_eq!((row % 4, y % 4, xs % 4, data.len() % 4), (0, 0, 0, 0));
    for k in 0..m {
        for i in 0..row {
            assert_eq!(data[k * row + i], if i < d { pr.a[k * d + i] as f32 } else { 0.0 });
        }
        assert_eq!(data[y + k], pr.y[k] as f32);
    }
    for (i, v) in pr.x_star().unwrap().iter().enumerate() {
        assert_eq!(data[xs + i], *v as f32);
    }
}

#[test]
fn gradient_minimum_and_terms() {
    let pr = PhaseRetrieval::generate(4, 30, 7).unwrap();
    for x in [[0.3, -0.2, 0.5, 0.1], [1.0, 2.0, -1.0, 0.5]] {
        check_gradient(&pr, &x, 1e-5);
        check_f32_twin(&pr, &x);
    }
    let xs = pr.x_star().unwrap().to_vec();
    let mut g = [0.0; 4];
    let e = pr.eval(&xs, &mut g);
    assert!(e.value.abs() < 1e-20 && e.label == 1);
    assert!(g.iter().all(|v| v.abs() < 1e-12));
    // The mean of the term gradients is the gradient.
    let x = [0.3f32, -0.2, 0.5, 0.1];
    let mut acc = [0.0f32; 4];
    for k in 0..30 {
        pr.term_grad_f32(&x, k, &mut acc);
    }
    let mut g32 = [0.0f32; 4];
    pr.eval(&x, &mut g32);
    for i in 0..4 {
        assert!((acc[i] / 30.0 - g32[i]).abs() < 1e-5);
    }
}

#[test]
fn rho1_bounds_the_hessian() {
    // Hess = (1/m) sum (3 (a.x)^2 - y) a a^T; its norm must stay below rho1(f(x)).
    let pr = PhaseRetrieval::generate(3, 20, 1).unwrap();
    let (r1, _) = pr.rho().unwrap();
    for s in [0.0, 0.5, 2.0, 10.0] {
        let x = [s, -0.5 * s, 0.3];
        let mut g = [0.0; 3];
        let f = pr.eval(&x, &mut g).value;
        let mut h = vec![0.0; 9];
        for k in 0..20 {
            let a = &pr.a[k * 3..k * 3 + 3];
            let ax: f64 = (0..3).map(|i| a[i] * x[i]).sum();
            for i in 0..3 {
                for j in 0..3 {
                    h[i * 3 + j] += (3.0 * ax * ax - pr.y[k]) * a[i] * a[j] / 20.0;
                }
            }
        }
        let (vals, _) = crate::linalg::sym_eigen(&h, 3);
        let norm = vals[0].abs().max(vals[2].abs());
        assert!(norm <= r1.eval(f), "||H|| {norm} > rho1 {}", r1.eval(f));
    }
    let bad = PhaseRetrieval::from_data(
        Matrix { rows: 2, cols: 2, data: vec![1.0; 4] },
        Matrix { rows: 3, cols: 1, data: vec![1.0; 3] },
    );
    assert!(bad.unwrap_err().to_string().contains("y"));
}

/// Given data with its x* is the generated objective: the same device data, kernel source, labels,
/// minimum labels and f_min; x* at another scale labels alike (the label is an angle). Without x*
/// every label is 0 and f_min unknown; with a noisy y, x* keeps the labels but f_min is unknown.
#[test]
fn given_data_with_its_solution_is_the_generated_objective() {
    let (d, m) = (6, 40);
    let planted = PhaseRetrieval::generate(d, m, 3).unwrap();
    let a = Matrix { rows: m, cols: d, data: planted.a.clone() };
    let y = Matrix { rows: m, cols: 1, data: planted.y.clone() };
    let xs = planted.x_star.clone().unwrap();
    let given = PhaseRetrieval::from_data(a.clone(), y.clone()).unwrap().with_solution(Some(Matrix { rows: 1, cols: d, data: xs.clone() })).unwrap();
    assert_eq!(given.device().data(), planted.device().data());
    assert_eq!(given.device().wgsl(), planted.device().wgsl());
    assert_eq!((given.minimum_labels(), given.f_min()), (vec![1], Some(0.0)));
    let scaled = PhaseRetrieval::from_data(a.clone(), y.clone()).unwrap().with_solution(Some(Matrix { rows: d, cols: 1, data: xs.iter().map(|v| -3.0 * v).collect() })).unwrap();
    let none = PhaseRetrieval::from_data(a.clone(), y.clone()).unwrap();
    let mut g = vec![0.0; d];
    for k in 0..20u32 {
        let x: Vec<f64> = crate::rng::data_normals(5, k, d).iter().zip(&xs).map(|(n, s)| s * f64::from(k % 2) + 0.2 * n).collect();
        let l = planted.eval(&x, &mut g).label;
        assert_eq!((given.eval(&x, &mut g).label, scaled.eval(&x, &mut g).label, none.eval(&x, &mut g).label), (l, l, 0), "point {k}");
    }
    assert!((0..20u32).any(|k| k % 2 == 1 && planted.eval(&xs, &mut g).label == 1));
    assert_eq!((none.minimum_labels(), none.f_min()), (Vec::new(), None));
    let noisy = Matrix { rows: m, cols: 1, data: planted.y.iter().map(|v| v + 0.01).collect() };
    let with_noise = PhaseRetrieval::from_data(a, noisy).unwrap().with_solution(Some(Matrix { rows: 1, cols: d, data: xs })).unwrap();
    assert_eq!((with_noise.minimum_labels(), with_noise.f_min()), (vec![1], None));
}
