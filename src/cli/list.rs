//! `escapade list`: the objectives, the shipped data sets and the methods with their parameters,
//! defaults and ranges.

/// (name, description, parameters with defaults and ranges)
const OBJECTIVES: &[(&str, &str, &str)] = &[
    ("toy-saddle", "x^2/2 + y^4/4 - y^2/2; strict saddle at 0, minima (0, +-1)", "d = 2"),
    ("quartic", "1/2 sum l_i x_i^2 + 1/4 sum x_i^4", "--dim >= 1 (5); --eigenvalues finite list (-1, 1, ..., 1)"),
    ("octopus", "Du et al. 2017: d saddles in a chain, labels = saddle index", "--dim >= 1 (5); --tau > 0 (e); --gamma > 0 (1); --L > 0 (1)"),
    ("phase-retrieval", "1/(4m) sum ((a_i.x)^2 - y_i)^2; finite sum", "--dim >= 1 (5); --m >= 1 (10 dim); --data-seed (0) or --data A.npy|csv,y.npy|csv"),
    ("matrix-factorization", "1/2 ||U U^T - M||_F^2, U n x r", "--dim n >= 1 (5); --rank in [1, n] (2); --spectrum n values (1 x r, 0 below) or --data M"),
    ("linear-network", "1/2 ||W_L ... W_1 - Y||^2 + kappa/4 sum ||W_l||^4 (depth 2: W H); depth >= 3: label = singular values of Y learned", "--dim n (5); --rank >= 1 (2), every hidden width; --p >= 1 (n); --depth >= 2 (2); --kappa >= 0 (0.1); or --data Y"),
    ("mlp", "smooth MLP on a data set: (1/N) sum loss(net(X_r), y_r) + wd/2 ||W||^2 + kappa/4 sum ||W_l||^4; finite sum; label = classes predicted", "--dataset wine|digits (wine) or --data X,y; --layers N0,...,classes (inputs,8,classes); --activation tanh|softplus|gelu (tanh); --loss cross-entropy|squared; --weight-decay >= 0 (0); --kappa >= 0 (0); --holdout FRACTION (0) from --data-seed; --raw-features"),
    ("degenerate-quartic", "1/4 (x^2 - y^2)^2; non-strict saddles, not self-bounding", "d = 2"),
    ("rosenbrock", "sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2", "--dim >= 2 (5)"),
    ("custom", "your WGSL fn objective(x, g) -> Eval (GPU path only)", "--wgsl FILE; --dim >= 1; --f-min (unknown)"),
];

const METHODS: &[(&str, &str)] = &[
    ("gd", "x <- x - eta grad f"),
    ("pgd", "GD + uniform-ball kick of radius r when ||grad f|| <= g_thres and no kick in t_thres steps"),
    ("sgd", "gradient + N(0, sigma^2 I) noise (--noise, default 0.1) or --batch B of the m terms"),
    ("psgd", "stochastic gradient (minibatch m/10 of a finite sum, else + N(0, sigma^2 I)) + N(0, r^2/d I) every step (Jin et al. 2021)"),
    ("noisy-gd", "exact gradient + N(0, r^2/d I) every step (PSGD with an exact oracle)"),
    ("clipped-gd", "step eta min{1, gamma/||g||} g (--clip hard:1); smooth: gamma/(||g|| + gamma)"),
    ("clipped-sgd", "noisy gradient, hard clipping at gamma = 1"),
    ("precond-gd", "step eta k(lambda ||g||) g/||g||, k in asinh, log1p, rational, clip (--precond asinh:1)"),
    ("perturbed-precond-gd", "precond-gd + the PGD ball kick"),
];

const PARAMETERS: &[(&str, &str)] = &[
    ("--eta", "step size > 0 (objective's practical default)"),
    ("--radius", "perturbation radius r >= 0"),
    ("--g-thres", "stall threshold on ||grad f|| >= 0"),
    ("--f-thres", "escape threshold on the value drop > 0"),
    ("--t-thres", "steps between kicks, integer >= 0"),
    ("--certify", "stopping-rule window in steps, 0 = off (PGD: from the last kick, returns x~; else from the stall)"),
    ("--noise / --batch", "SGD oracle: sigma >= 0 / batch >= 1 (finite sums only)"),
    ("--perturb", "none | ball | gaussian"),
    ("--clip / --precond", "hard:G | smooth:G (G > 0) / asinh | log1p | rational | clip [:LAMBDA > 0]"),
    ("--schedule", "constant | inv-sqrt | piecewise:T1:F1,... (<= 4 pieces)"),
    ("--l --rho --eps [--c --delta --df]", "derive PGD's parameters (Jin et al. 2017); c in (0, 1], delta in (0, 1)"),
    ("--step-rule self-bounding", "per-chain parameters from rho1/rho2 at f(x0) + --margin; --rho1/--rho2 A,B,P[,FMIN]; --rebase-every N"),
    ("--certify-eps / --certify-rho", "second-order stationarity of resting points: auto (run's scale: self-bounding eps, else g_thres), eps > 0 or off / rho > 0 (declared rho2; else lambda_min >= -1/(eta T))"),
    ("--state", "f32 (default), f64 (needs SHADER_F64 on the GPU path) or f16 storage"),
    ("--trace-chains / --trace-every", "record visited points (plots, self-bounding checks along the run)"),
];

/// The text `escapade list` prints.
pub fn text() -> String {
    let mut s = String::from("OBJECTIVES\n");
    for (name, what, params) in OBJECTIVES {
        s += &format!("  {name:<22} {what}\n  {:<22}   {params}\n", "");
    }
    s += "\nDATA SETS (shipped in data/; sources and licences in data/NOTICE)\n";
    for d in escapade::objective::dataset::SHIPPED {
        s += &format!("  {:<22} {} x {} features, {} classes; {}, {}\n", d.name, d.rows, d.features, d.classes, d.source, d.licence);
    }
    s += "\nMETHODS (--method; pieces can be changed on any preset)\n";
    for (name, what) in METHODS {
        s += &format!("  {name:<22} {what}\n");
    }
    s += "\nMETHOD PARAMETERS\n";
    for (flag, what) in PARAMETERS {
        s += &format!("  {flag:<36} {what}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_objective_and_method() {
        let t = super::text();
        for name in escapade::ObjectiveSpec::NAMES {
            assert!(t.contains(name), "{name}");
        }
        for m in escapade::MethodKind::ALL {
            assert!(t.contains(m.name()), "{}", m.name());
        }
        for d in escapade::objective::dataset::SHIPPED {
            assert!(t.contains(&format!("{:<22} {} x {} features, {} classes", d.name, d.rows, d.features, d.classes)), "{}", d.name);
        }
    }
}
