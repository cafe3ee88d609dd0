use super::*;
use crate::objective::testing::*;

/// A deterministic test point of dimension d and scale `s`, varied by `seed`.
fn point(d: usize, s: f64, seed: u64) -> Vec<f64> {
    rng::data_normals(seed, 7, d).into_iter().map(|v| v * s).collect()
}

#[test]
fn gradient_and_rescaling_invariance() {
    for kappa in [0.0, 0.3] {
        let ln = LinearNetwork::generate(3, 2, 4, kappa, 9).unwrap();
        let x: Vec<f64> = (0..ln.dim()).map(|i| (i as f64 * 0.71).cos()).collect();
        check_gradient(&ln, &x, 1e-5);
        check_f32_twin(&ln, &x);
    }
    // kappa = 0: (W D, D^-1 H) leaves f unchanged.
    let ln = LinearNetwork::generate(2, 1, 2, 0.0, 1).unwrap();
    let mut g = vec![0.0; 4];
    let a = ln.eval(&[0.5, -0.3, 0.8, 0.2], &mut g).value;
    let b = ln.eval(&[5.0, -3.0, 0.08, 0.02], &mut g).value;
    assert!((a - b).abs() < 1e-12);
    assert!(LinearNetwork::generate(2, 1, 2, -1.0, 1).is_err());
}

/// Value and gradient against central differences in f64, and the f32 twin, at depths 2, 3, 4
/// and 6, several shapes (hidden widths below, at and above n and p), points and seeds, with and
/// without the regulariser; and the rescaling A_k D, D^-1 A_{k+1} leaves the value alone.
#[test]
fn deep_gradients_match_finite_differences() {
    for depth in [2, 3, 4, 6] {
        for (case, (n, r, p)) in [(3, 2, 4), (4, 3, 2), (2, 5, 3), (5, 1, 5)].into_iter().enumerate() {
            for kappa in [0.0, 0.2] {
                let ln = LinearNetwork::generate(n, r, p, kappa, 11 + case as u64).unwrap().with_depth(depth).unwrap();
                assert_eq!(ln.dim(), n * r + (depth - 2) * r * r + r * p);
                for seed in 0..3 {
                    let x = point(ln.dim(), 0.8, seed);
                    check_gradient(&ln, &x, 1e-5);
                    check_f32_twin(&ln, &x);
                }
            }
        }
    }
    // Depth 3, kappa = 0: A_2 scaled by 3 and A_3 by 1/3 keep the product.
    let ln = LinearNetwork::generate(3, 2, 3, 0.0, 2).unwrap().with_depth(3).unwrap();
    let x = point(ln.dim(), 0.7, 4);
    let mut y = x.clone();
    let (mid, last) = (ln.offset(1), ln.offset(2));
    y[mid..last].iter_mut().for_each(|v| *v *= 3.0);
    y[last..].iter_mut().for_each(|v| *v /= 3.0);
    let mut g = vec![0.0; ln.dim()];
    let (a, b) = (ln.eval(&x, &mut g).value, ln.eval(&y, &mut g).value);
    assert!((a - b).abs() < 1e-12 * a.abs(), "{a} vs {b}");
}

/// The two-layer loop as it was before depths beyond 2: depth 2 must keep its bits.
fn two_layer<T: Float>(ln: &LinearNetwork, x: &[T], g: &mut [T]) -> T {
    let (n, r, p) = (ln.n, ln.r, ln.p);
    let (w, h) = x.split_at(n * r);
    g.iter_mut().for_each(|v| *v = T::zero());
    let mut f = T::zero();
    for i in 0..n {
        for j in 0..p {
            let mut res = T::zero();
            for k in 0..r {
                res = res + w[i * r + k] * h[k * p + j];
            }
            res = res - to_float::<T>(ln.y[i * p + j]);
            f = f + res * res;
            for k in 0..r {
                g[i * r + k] = g[i * r + k] + res * h[k * p + j];
                g[n * r + k * p + j] = g[n * r + k * p + j] + w[i * r + k] * res;
            }
        }
    }
    let (mut wn2, mut hn2) = (T::zero(), T::zero());
    w.iter().for_each(|v| wn2 = wn2 + *v * *v);
    h.iter().for_each(|v| hn2 = hn2 + *v * *v);
    let kappa = to_float::<T>(ln.kappa);
    let (gw, gh) = g.split_at_mut(n * r);
    gw.iter_mut().zip(w).for_each(|(g, v)| *g = *g + kappa * wn2 * *v);
    gh.iter_mut().zip(h).for_each(|(g, v)| *g = *g + kappa * hn2 * *v);
    to_float::<T>(0.5) * f + kappa * to_float::<T>(0.25) * (wn2 * wn2 + hn2 * hn2)
}

/// Depth 2 (the default) is the two-layer objective bit for bit, in f32 and f64, label 0, and its
/// WGSL is the two-layer files' with no deep constants.
#[test]
fn depth_two_keeps_the_two_layer_bits() {
    for (n, r, p, kappa) in [(3, 2, 4, 0.1), (5, 2, 5, 0.0), (1, 7, 2, 0.3)] {
        let ln = LinearNetwork::generate(n, r, p, kappa, 5).unwrap();
        assert_eq!(ln.clone().with_depth(2).unwrap().params(), ln.params());
        for seed in 0..4 {
            let x = point(ln.dim(), 1.0, seed);
            let (mut g, mut g_ref) = (vec![0.0; ln.dim()], vec![0.0; ln.dim()]);
            let e = ln.eval_f64(&x, &mut g);
            assert_eq!((e.value.to_bits(), e.label), (two_layer(&ln, &x, &mut g_ref).to_bits(), 0));
            assert!(g.iter().zip(&g_ref).all(|(a, b)| a.to_bits() == b.to_bits()));
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let (mut g, mut g_ref) = (vec![0.0f32; ln.dim()], vec![0.0f32; ln.dim()]);
            let e = ln.eval_f32(&x32, &mut g);
            assert_eq!(e.value.to_bits(), two_layer(&ln, &x32, &mut g_ref).to_bits());
            assert!(g.iter().zip(&g_ref).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        let consts = format!("const LN_N: u32 = {n}u;\nconst LN_R: u32 = {r}u;\nconst LN_P: u32 = {p}u;\nconst LN_KAPPA: real = {kappa:?};\n");
        assert_eq!(ln.wgsl(), consts.clone() + include_str!("../linear_network.wgsl"));
        assert_eq!(ln.wgsl_lanes().unwrap(), consts + include_str!("../linear_network.coop.wgsl"));
    }
    let deep = LinearNetwork::generate(3, 2, 4, 0.1, 5).unwrap().with_depth(3).unwrap();
    assert_eq!(deep.params()["depth"], 3);
    assert!(LinearNetwork::generate(3, 2, 4, 0.1, 5).unwrap().with_depth(1).is_err());
}

/// The matrix products agree with the loop to rounding (1e-12 of the gradient's scale in f64,
/// 1e-5 in f32), with and without the regulariser, at shapes around the threshold and at depths
/// 2, 3 and 5.
#[test]
fn products_agree_with_the_loop() {
    for depth in [2, 3, 5] {
        for (n, r, p, kappa) in [(16, 16, 16, 0.0), (40, 3, 50, 0.2), (9, 33, 21, 0.0)] {
            let ln = LinearNetwork::generate(n, r, p, kappa, 4).unwrap().with_depth(depth).unwrap();
            assert!(ln.products());
            // Small enough that the deep products stay of order one.
            let x: Vec<f64> = (0..ln.dim()).map(|i| (i as f64 * 0.37).sin() * 0.3 / (r as f64).sqrt().max(1.0).powf(0.5)).collect();
            let (mut g_loop, mut g_prod) = (vec![0.0; ln.dim()], vec![0.0; ln.dim()]);
            let (a, b) = (ln.eval(&x, &mut g_loop), ln.eval_f64(&x, &mut g_prod));
            assert_eq!(a.label, b.label);
            let (a, b) = (a.value, b.value);
            let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f64::max);
            let worst = g_loop.iter().zip(&g_prod).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max) / scale;
            assert!(worst <= 1e-12 && (a - b).abs() <= 1e-12 * a.abs(), "f64 depth {depth} {n}x{r}x{p}: {worst:e}, {a} vs {b}");
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let (mut g_loop, mut g_prod) = (vec![0.0f32; ln.dim()], vec![0.0f32; ln.dim()]);
            let (a, b) = (ln.eval(&x32, &mut g_loop).value, ln.eval_f32(&x32, &mut g_prod).value);
            let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f32::max);
            let worst = g_loop.iter().zip(&g_prod).map(|(u, v)| (u - v).abs()).fold(0.0, f32::max) / scale;
            assert!(worst <= 1e-5 && (a - b).abs() <= 1e-5 * a.abs(), "f32 depth {depth} {n}x{r}x{p}: {worst:e}, {a} vs {b}");
            if depth == 3 && n * r * p < 10_000 {
                check_gradient(&ln, &x, 1e-5);
            }
        }
    }
}

/// The dense Hessian by central differences of the gradient (f64), symmetrised.
fn hessian(ln: &LinearNetwork, x: &[f64], h: f64) -> Vec<f64> {
    let d = x.len();
    let mut hess = vec![0.0; d * d];
    let (mut gp, mut gm) = (vec![0.0; d], vec![0.0; d]);
    for i in 0..d {
        let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
        xp[i] += h;
        xm[i] -= h;
        ln.eval_f64(&xp, &mut gp);
        ln.eval_f64(&xm, &mut gm);
        for j in 0..d {
            hess[i * d + j] = (gp[j] - gm[j]) / (2.0 * h);
        }
    }
    let sym: Vec<f64> = (0..d * d).map(|k| 0.5 * (hess[k] + hess[(k % d) * d + k / d])).collect();
    sym
}

/// At the origin (gradient exactly 0 at any depth): depth 2's Hessian is, per inner index k, the
/// block [[0, -Y], [-Y^T, 0]] on (column k of W, row k of H) (f = 1/2 ||Y||^2 - <Y, W H> + O(4),
/// the regulariser quartic), so its spectrum is r copies of +-sigma_i(Y) (i <= min(n, p)) and
/// |n - p| zeros; at depth >= 3 the value is 1/2 ||Y||^2 + O(|x|^3) and the Hessian is 0.
#[test]
fn the_hessian_at_the_origin_has_its_closed_form() {
    for (n, r, p, kappa, seed) in [(3, 2, 4, 0.1, 1), (4, 1, 4, 0.0, 2), (2, 3, 5, 0.5, 3), (5, 2, 3, 0.0, 4)] {
        let base = LinearNetwork::generate(n, r, p, kappa, seed).unwrap();
        let sv: Vec<f64> = base.singular_values.iter().take(n.min(p)).copied().collect();
        for depth in [2, 3, 4] {
            let ln = base.clone().with_depth(depth).unwrap();
            let d = ln.dim();
            let zero = vec![0.0; d];
            let mut g = vec![1.0; d];
            let e = ln.eval_f64(&zero, &mut g);
            assert!(g.iter().all(|&v| v == 0.0), "depth {depth}: gradient at 0 {g:?}");
            assert_eq!(e.label, 0);
            let (ev, _) = linalg::sym_eigen(&hessian(&ln, &zero, 1e-4), d);
            if depth == 2 {
                let mut want: Vec<f64> = sv.iter().flat_map(|&s| [s, -s]).chain(std::iter::repeat_n(0.0, n.abs_diff(p))).flat_map(|v| std::iter::repeat_n(v, r)).collect();
                want.sort_by(|a, b| b.total_cmp(a));
                assert_eq!(want.len(), d);
                let worst = ev.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(worst <= 1e-7, "depth 2 {n}x{r}x{p}: eigenvalues {ev:?} vs {want:?}");
                assert!(ev[0] > 0.1 && ev[d - 1] < -0.1, "a strict saddle: {ev:?}");
            } else {
                let worst = ev.iter().map(|v| v.abs()).fold(0.0, f64::max);
                assert!(worst <= 1e-7, "depth {depth} {n}x{r}x{p}: Hessian eigenvalues up to {worst:e}");
            }
            // Not flat: along a direction the value moves at order `depth` (-t^L <Y, product>):
            // doubling t multiplies the change by 2^L.
            let x = point(d, 1.0, 9);
            let mut change = |t: f64| ln.eval_f64(&x.iter().map(|v| v * t).collect::<Vec<_>>(), &mut g).value - e.value;
            let ratio = change(2e-3) / change(1e-3);
            assert!((ratio / f64::from(1 << depth) - 1.0).abs() < 0.05, "depth {depth}: the change grows by {ratio}");
        }
    }
}

/// The label at depth >= 3 counts the singular values the product has learned: at the product
/// U_k U_k^T Y (the best rank-k approximation, the k-th step of the staircase) it is k, for
/// every k up to the width; at depth 2 it stays 0.
#[test]
fn the_label_climbs_the_staircase() {
    let (n, r, p) = (4, 3, 5);
    let base = LinearNetwork::generate(n, r, p, 0.0, 6).unwrap();
    let mut yyt = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            yyt[i * n + j] = (0..p).map(|c| base.y[i * p + c] * base.y[j * p + c]).sum();
        }
    }
    let (_, u) = linalg::sym_eigen(&yyt, n);
    for depth in [2, 3, 4] {
        let ln = base.clone().with_depth(depth).unwrap();
        for k in 0..=r {
            // A_1 = [U_k, 0], hidden layers the identity, A_L = [U_k^T Y; 0].
            let mut x = vec![0.0; ln.dim()];
            for q in 0..k {
                for i in 0..n {
                    x[i * r + q] = u[i * n + q];
                }
                for l in 1..depth - 1 {
                    x[ln.offset(l) + q * r + q] = 1.0;
                }
                for j in 0..p {
                    x[ln.offset(depth - 1) + q * p + j] = (0..n).map(|i| u[i * n + q] * base.y[i * p + j]).sum();
                }
            }
            let mut g = vec![0.0; ln.dim()];
            let e = ln.eval_f64(&x, &mut g);
            let plateau = 0.5 * base.singular_values[k..].iter().map(|s| s * s).sum::<f64>();
            assert!((e.value - plateau).abs() < 1e-9, "depth {depth}, k = {k}: {} vs {plateau}", e.value);
            assert_eq!(e.label, if depth == 2 { 0 } else { k as u32 }, "depth {depth}, k = {k}");
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            assert_eq!(ln.eval_f32(&x32, &mut vec![0.0f32; ln.dim()]).label, e.label);
        }
    }
}

/// The spec's serialisation: depth 2 is not written (files and fingerprints from before depths
/// stay as they were) and a spec without a depth reads as 2; other depths round-trip.
#[test]
fn the_spec_writes_the_depth_only_beyond_two() {
    use crate::objective::DataSource;
    for depth in [2, 3, 7] {
        let spec = crate::ObjectiveSpec::LinearNetwork { n: 3, rank: 2, p: 4, kappa: 0.1, depth, data: DataSource::Seed(1) };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json.get("depth").and_then(|v| v.as_u64()), (depth != 2).then_some(depth as u64), "{json}");
        assert_eq!(serde_json::from_value::<crate::ObjectiveSpec>(json).unwrap(), spec);
        assert_eq!(spec.build().unwrap().dim(), 3 * 2 + (depth - 2) * 4 + 2 * 4);
    }
}
