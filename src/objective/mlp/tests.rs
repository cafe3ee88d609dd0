//! The network against finite differences, its f32 twin, its terms and its bad inputs.

use super::*;
use crate::objective::testing::*;
use crate::objective::Curvature;

/// Wine's training rows after a 20% holdout, standardised.
fn wine() -> Dataset {
    let spec = crate::objective::dataset::SplitSpec { holdout: 0.2, seed: 3, standardise: true };
    Dataset::shipped("wine").unwrap().split(&spec).unwrap().train
}

/// Rows `0..n` of Digits, standardised (fewer rows keep the finite differences quick).
fn digits(n: usize) -> Dataset {
    let d = Dataset::shipped("digits").unwrap();
    let spec = crate::objective::dataset::SplitSpec { holdout: 0.0, seed: 0, standardise: true };
    let s = d.split(&spec).unwrap().train;
    Dataset { x: crate::objective::data::Matrix { rows: n, cols: 64, data: s.x.data[..n * 64].to_vec() }, labels: s.labels[..n].to_vec(), ..s }
}

fn point(d: usize, scale: f64, seed: u64) -> Vec<f64> {
    crate::rng::data_normals(seed, 0, d).iter().map(|v| v * scale).collect()
}

/// The analytic gradient against central differences in f64, and the f32 twin, for every
/// activation and loss, with and without the regularisers, on Wine (two and three layers) and
/// on 40 rows of Digits.
#[test]
fn gradient_matches_finite_differences() {
    for act in [Activation::Tanh, Activation::Softplus, Activation::Gelu] {
        for (loss, wd, kappa) in [(Loss::CrossEntropy, 0.0, 0.0), (Loss::Squared, 1e-2, 0.1)] {
            let mlp = Mlp::new(vec![13, 5, 3], act, loss, wd, kappa, wine()).unwrap();
            assert_eq!(mlp.dim(), 13 * 5 + 5 + 5 * 3 + 3);
            let x = point(mlp.dim(), 0.3, 1);
            check_gradient(&mlp, &x, 1e-6);
            check_f32_twin(&mlp, &x);
        }
    }
    let deep = Mlp::new(vec![13, 4, 4, 3], Activation::Tanh, Loss::CrossEntropy, 1e-3, 0.0, wine()).unwrap();
    check_gradient(&deep, &point(deep.dim(), 0.5, 2), 1e-6);
    let d = Mlp::new(vec![64, 6, 10], Activation::Gelu, Loss::CrossEntropy, 0.0, 0.0, digits(40)).unwrap();
    check_gradient(&d, &point(d.dim(), 0.2, 3), 1e-6);
}

/// The terms are the rows: their gradients (each with the regulariser) average to the full one.
#[test]
fn terms_average_to_the_gradient() {
    let mlp = Mlp::new(vec![13, 6, 3], Activation::Softplus, Loss::CrossEntropy, 1e-2, 0.05, wine()).unwrap();
    let x = point(mlp.dim(), 0.4, 5);
    let mut g = vec![0.0; mlp.dim()];
    mlp.eval_f64(&x, &mut g);
    let mut sum = vec![0.0; mlp.dim()];
    for k in 0..mlp.terms() {
        mlp.term_grad_f64(&x, k, &mut sum);
    }
    for (a, b) in sum.iter().zip(&g) {
        assert!((a / f64::from(mlp.terms()) - b).abs() < 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

/// A minibatch taken as one product of its rows is the terms' mean (the trait's default, term
/// by term) to rounding, in f64 and f32, with repeated rows, at two depths, with and without the
/// regularisers.
#[test]
fn a_batch_of_rows_is_the_mean_of_its_terms() {
    for (sizes, wd, kappa) in [(vec![13, 6, 3], 1e-2, 0.05), (vec![13, 4, 5, 3], 0.0, 0.0)] {
        let mlp = Mlp::new(sizes, Activation::Tanh, Loss::CrossEntropy, wd, kappa, wine()).unwrap();
        let x = point(mlp.dim(), 0.4, 6);
        let terms: Vec<u32> = [3u32, 17, 3, 0, 101, 56, 17, 9].iter().map(|k| k % mlp.terms()).collect();
        let (mut by_terms, mut batch) = (vec![0.0; mlp.dim()], vec![0.0; mlp.dim()]);
        crate::objective::batch_by_terms(&x, &terms, &mut by_terms, |x, i, acc| mlp.term_grad_f64(x, i, acc));
        mlp.batch_grad_f64(&x, &terms, &mut batch);
        for (a, b) in batch.iter().zip(&by_terms) {
            assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "f64: {a} vs {b}");
        }
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut by_terms, mut batch) = (vec![0.0f32; mlp.dim()], vec![0.0f32; mlp.dim()]);
        crate::objective::batch_by_terms(&x32, &terms, &mut by_terms, |x, i, acc| mlp.term_grad_f32(x, i, acc));
        mlp.batch_grad_f32(&x32, &terms, &mut batch);
        for (a, b) in batch.iter().zip(&by_terms) {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "f32: {a} vs {b}");
        }
    }
}

/// The loss over all rows at once (the softmax's exponentials as one slice) is the row loss
/// row by row, bit for bit, for both losses, in f32 and f64.
#[test]
fn the_loss_over_all_rows_is_the_row_loss() {
    for loss in [Loss::CrossEntropy, Loss::Squared] {
        let mlp = Mlp::new(vec![13, 4, 3], Activation::Tanh, loss, 0.0, 0.0, wine()).unwrap();
        let labels = &mlp.train.labels;
        let z = point(3 * labels.len(), 4.0, 9);
        rows_bit_for_bit(&mlp, &z, labels);
        rows_bit_for_bit(&mlp, &z.iter().map(|&v| v as f32).collect::<Vec<_>>(), labels);
    }
}

fn rows_bit_for_bit<T: Elementary + std::fmt::Debug>(mlp: &Mlp, z: &[T], labels: &[u32]) {
    let mut all = vec![T::zero(); z.len()];
    let (f, seen, right) = mlp.loss_rows(z, labels, &mut all);
    let (mut f1, mut seen1, mut right1) = (T::zero(), 0u32, 0);
    let mut one = vec![T::zero(); z.len()];
    for ((z, d), &y) in z.chunks_exact(3).zip(one.chunks_exact_mut(3)).zip(labels) {
        let (loss, k) = mlp.loss_row(z, y as usize, d);
        (f1, seen1, right1) = (f1 + loss, seen1 | 1 << k, right1 + usize::from(k == y as usize));
    }
    assert_eq!((f, seen, right), (f1, seen1, right1));
    assert!(all.iter().zip(&one).all(|(a, b)| a == b));
}

/// At the origin every logit is equal: every row predicts class 0 (label 1), the loss is ln 3,
/// and the output biases' gradient is the classes' shares minus a third. Trained a little by GD,
/// the network predicts every class (label 3) and its value fell.
#[test]
fn the_origin_is_the_one_class_plateau_and_training_leaves_it() {
    let data = wine();
    let shares: Vec<f64> = (0..3).map(|c| data.labels.iter().filter(|&&l| l == c).count() as f64 / data.labels.len() as f64).collect();
    let mlp = Mlp::new(vec![13, 8, 3], Activation::Tanh, Loss::CrossEntropy, 0.0, 0.0, data).unwrap();
    let d = mlp.dim();
    let mut g = vec![0.0; d];
    let e = mlp.eval_f64(&vec![0.0; d], &mut g);
    assert_eq!(e.label, 1);
    assert!((e.value - 3f64.ln()).abs() < 1e-12);
    for c in 0..3 {
        assert!((g[d - 3 + c] - (1.0 / 3.0 - shares[c])).abs() < 1e-12, "bias {c}");
    }
    let mut x = point(d, 0.1, 9);
    let f0 = mlp.eval_f64(&x, &mut g).value;
    for _ in 0..300 {
        mlp.eval_f64(&x, &mut g);
        x.iter_mut().zip(&g).for_each(|(a, b)| *a -= 0.5 * b);
    }
    let e = mlp.eval_f64(&x, &mut g);
    assert!(e.value < 0.5 * f0 && e.label == 3, "value {} from {f0}, label {}", e.value, e.label);
}

/// Layer sizes and regularisers that disagree with the data or the ranges are refused by name.
#[test]
fn bad_layers_are_refused() {
    let cases: Vec<(Vec<usize>, f64, &[&str])> = vec![
        (vec![12, 5, 3], 0.0, &["layers", "13 features"]),
        (vec![13, 5, 4], 0.0, &["layers", "3 classes"]),
        (vec![13], 0.0, &["layers", "at least two sizes"]),
        (vec![13, 0, 3], 0.0, &["layers", "at least two sizes >= 1"]),
        (vec![13, 5, 3], -1.0, &["weight-decay", ">= 0"]),
    ];
    for (sizes, wd, says) in cases {
        let e = Mlp::new(sizes, Activation::Tanh, Loss::CrossEntropy, wd, 0.0, wine()).unwrap_err().to_string();
        assert!(says.iter().all(|s| e.contains(s)), "{e} lacks {says:?}");
    }
}

/// The CPU twins' matrix products agree with the row loop (the WGSL twin's order) to rounding:
/// 1e-12 of the gradient's scale in f64, 1e-5 in f32, for two and three layers, both losses.
#[test]
fn products_agree_with_the_row_loop() {
    for (sizes, act, loss) in [(vec![13, 7, 3], Activation::Tanh, Loss::CrossEntropy), (vec![13, 5, 4, 3], Activation::Gelu, Loss::Squared)] {
        let mlp = Mlp::new(sizes, act, loss, 1e-3, 0.02, wine()).unwrap();
        let x = point(mlp.dim(), 0.4, 11);
        let (mut g_loop, mut g_prod) = (vec![0.0; mlp.dim()], vec![0.0; mlp.dim()]);
        let (a, b) = (mlp.eval(&x, &mut g_loop), mlp.eval_f64(&x, &mut g_prod));
        let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f64::max);
        let worst = g_loop.iter().zip(&g_prod).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max) / scale;
        assert!(worst <= 1e-12 && (a.value - b.value).abs() <= 1e-12 * a.value.abs() && a.label == b.label, "f64: {worst:e}");
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut g_loop, mut g_prod) = (vec![0.0f32; mlp.dim()], vec![0.0f32; mlp.dim()]);
        let (a, b) = (mlp.eval(&x32, &mut g_loop), mlp.eval_f32(&x32, &mut g_prod));
        let scale = g_loop.iter().map(|v| v.abs()).fold(1e-30, f32::max);
        let worst = g_loop.iter().zip(&g_prod).map(|(u, v)| (u - v).abs()).fold(0.0, f32::max) / scale;
        assert!(worst <= 1e-5 && (a.value - b.value).abs() <= 1e-5 * a.value.abs(), "f32: {worst:e}");
    }
}

/// The exact Hessian-vector product against central differences of the f64 gradient (step 1e-5,
/// error ~1e-10 of the scale at these moderate weights), for every activation and loss, with and
/// without the regularisers, at two and three layers; and symmetric, u . Hv = v . Hu.
#[test]
fn hessian_vector_products_match_finite_differences() {
    let nets = [
        Mlp::new(vec![13, 5, 3], Activation::Tanh, Loss::CrossEntropy, 0.0, 0.0, wine()).unwrap(),
        Mlp::new(vec![13, 4, 3], Activation::Softplus, Loss::Squared, 1e-2, 0.1, wine()).unwrap(),
        Mlp::new(vec![13, 4, 5, 3], Activation::Gelu, Loss::CrossEntropy, 1e-3, 0.05, wine()).unwrap(),
        Mlp::new(vec![64, 6, 10], Activation::Tanh, Loss::Squared, 0.0, 0.0, digits(30)).unwrap(),
    ];
    for (k, mlp) in nets.iter().enumerate() {
        let d = mlp.dim();
        let x = point(d, 0.6, 10 + k as u64);
        let (u, v) = (point(d, 1.0, 20 + k as u64), point(d, 1.0, 30 + k as u64));
        let (mut hv, mut hu) = (vec![0.0; d], vec![0.0; d]);
        mlp.hvp_f64(&x, &v, &mut hv);
        mlp.hvp_f64(&x, &u, &mut hu);
        let h = 1e-5;
        let (mut gp, mut gm) = (vec![0.0; d], vec![0.0; d]);
        mlp.eval_f64(&x.iter().zip(&v).map(|(a, b)| a + h * b).collect::<Vec<_>>(), &mut gp);
        mlp.eval_f64(&x.iter().zip(&v).map(|(a, b)| a - h * b).collect::<Vec<_>>(), &mut gm);
        let scale = hv.iter().map(|e| e.abs()).fold(1e-30, f64::max);
        for i in 0..d {
            let fd = (gp[i] - gm[i]) / (2.0 * h);
            assert!((fd - hv[i]).abs() <= 1e-6 * scale, "net {k} coordinate {i}: {fd} vs {}", hv[i]);
        }
        let (uhv, vhu): (f64, f64) = (u.iter().zip(&hv).map(|(a, b)| a * b).sum(), v.iter().zip(&hu).map(|(a, b)| a * b).sum());
        assert!((uhv - vhu).abs() <= 1e-10 * uhv.abs().max(scale), "net {k}: u.Hv {uhv} vs v.Hu {vhu}");
    }
}

/// The cooperative form takes the per-invocation form's constants, activation and loss word for
/// word (one arithmetic in both), and none of its functions over private arrays of size D.
#[test]
fn the_cooperative_form_shares_the_activation_and_loss() {
    for (sizes, act, loss) in [(vec![13, 16, 3], Activation::Tanh, Loss::CrossEntropy), (vec![13, 12, 8, 3], Activation::Softplus, Loss::Squared)] {
        let mlp = Mlp::new(sizes, act, loss, 1e-3, 0.02, wine()).unwrap();
        let (one, lanes) = (mlp.wgsl(), mlp.wgsl_lanes().unwrap());
        let shared = &one[..one.find("\nfn objective(").unwrap()];
        assert!(shared.contains("fn mlp_sigma(") && shared.contains("fn mlp_loss(") && lanes.starts_with(shared));
        for f in ["objective_lanes", "objective_term_lanes", "mlp_row_lanes", "mlp_regularise_lanes"] {
            assert!(crate::objective::wgsl::defines(&lanes, f), "{f}");
        }
        assert!(!lanes.contains("fn objective(") && !lanes.contains("fn mlp_row(") && !lanes.contains("array<real, D>"));
    }
}
