//! `escapade list`: the objectives, the shipped data sets and the methods with their parameters,
//! defaults and ranges.

use escapade::objective::catalogue::{CATALOGUE, CUSTOM};

/// `custom`'s flags: it is outside the catalogue, its WGSL being the user's.
const CUSTOM_USAGE: &str = "--wgsl FILE; --dim >= 1; --f-min (unknown)";

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
    let rows = CATALOGUE.iter().map(|e| (e.name, e.doc, e.usage_line()));
    for (name, what, usage) in rows.chain([(CUSTOM.0, CUSTOM.1, CUSTOM_USAGE.to_string())]) {
        s += &format!("  {name:<22} {what}\n  {:<22}   {usage}\n", "");
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
