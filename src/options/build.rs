//! From parsed flags to a checked [`Experiment`]: the objective (built-in, data files or arrays,
//! custom WGSL) and the method, every value checked by the library.

use super::args::{ObjectiveArgs, PerturbArg, RunArgs, StepRuleArg};
use crate::experiment::CheckSpec;
use crate::method::{Oracle, Perturbation, PrecondKernel, Rho, Schedule, SelfBounding, StepRule, Transform};
use crate::objective::{Activation, DataSource, Loss, WgslObjective};
use crate::{Error, Experiment, Init, MethodKind, Objective, ObjectiveSpec, TheoryParams};
use std::sync::Arc;

fn objective_spec(a: &ObjectiveArgs) -> Result<ObjectiveSpec, Error> {
    let name = a.objective.as_str();
    let two_d = matches!(name, "toy-saddle" | "degenerate-quartic");
    let dim = a.dim.or(a.eigenvalues.as_ref().map(Vec::len)).unwrap_or(if two_d { 2 } else { 5 });
    let mut spec = ObjectiveSpec::from_name(name, dim)?;
    let source = |d: &mut DataSource| {
        if let Some(arrays) = &a.arrays {
            *d = DataSource::Arrays(arrays.clone());
        } else if let Some(files) = &a.data {
            *d = DataSource::Files(files.0.clone());
        } else if let Some(s) = a.data_seed {
            *d = DataSource::Seed(s);
        }
    };
    match &mut spec {
        ObjectiveSpec::Quartic { eigenvalues } => {
            if let Some(e) = &a.eigenvalues {
                if e.len() != dim {
                    return Err(Error::invalid("eigenvalues", format!("{dim} values (one per dimension)"), e.len()));
                }
                *eigenvalues = e.clone();
            }
        }
        ObjectiveSpec::Octopus { tau, gamma, l, .. } => {
            *tau = a.tau.unwrap_or(*tau);
            *gamma = a.gamma.unwrap_or(*gamma);
            *l = a.big_l.unwrap_or(*l);
        }
        ObjectiveSpec::PhaseRetrieval { m, data, .. } => {
            *m = a.m.unwrap_or(*m);
            source(data);
        }
        ObjectiveSpec::MatrixFactorization { rank, spectrum, data, .. } => {
            *rank = a.rank.unwrap_or(*rank);
            *spectrum = a.spectrum.clone();
            source(data);
        }
        ObjectiveSpec::LinearNetwork { rank, p, kappa, depth, data, .. } => {
            *rank = a.rank.unwrap_or(*rank);
            *depth = a.depth.unwrap_or(*depth);
            *p = a.p.unwrap_or(*p);
            *kappa = a.kappa.unwrap_or(*kappa);
            source(data);
        }
        ObjectiveSpec::Mlp { dataset, layers, activation, loss, weight_decay, kappa, holdout, standardise, split_seed, data } => {
            if let Some(d) = &a.dataset {
                dataset.clone_from(d);
            }
            if let Some(l) = &a.layers {
                layers.clone_from(l);
            }
            *activation = match a.activation.as_deref() {
                Some("softplus") => Activation::Softplus,
                Some("gelu") => Activation::Gelu,
                _ => Activation::Tanh,
            };
            *loss = if a.loss.as_deref() == Some("squared") { Loss::Squared } else { Loss::CrossEntropy };
            *weight_decay = a.weight_decay.unwrap_or(*weight_decay);
            *kappa = a.kappa.unwrap_or(*kappa);
            *holdout = a.holdout.unwrap_or(*holdout);
            *standardise = !a.raw_features;
            *split_seed = a.data_seed.unwrap_or(*split_seed);
            if let Some(arrays) = &a.arrays {
                *data = DataSource::Arrays(arrays.clone());
            } else if let Some(files) = &a.data {
                *data = DataSource::Files(files.0.clone());
            }
            if let Some(d) = a.dim {
                return Err(Error::invalid("dim", "no --dim with --objective mlp (--layers sets the dimension)", d));
            }
            if a.has_data() && a.dataset.is_some() {
                return Err(Error::invalid("dataset", "either --dataset or --data X,y", "both"));
            }
        }
        _ => {}
    }
    let misplaced = [
        ("eigenvalues", a.eigenvalues.is_some(), &["quartic"][..]),
        ("tau", a.tau.is_some(), &["octopus"]),
        ("gamma", a.gamma.is_some(), &["octopus"]),
        ("L", a.big_l.is_some(), &["octopus"]),
        ("m", a.m.is_some(), &["phase-retrieval"]),
        ("rank", a.rank.is_some(), &["matrix-factorization", "linear-network"]),
        ("p", a.p.is_some(), &["linear-network"]),
        ("depth", a.depth.is_some(), &["linear-network"]),
        ("kappa", a.kappa.is_some(), &["linear-network", "mlp"]),
        ("dataset", a.dataset.is_some(), &["mlp"]),
        ("layers", a.layers.is_some(), &["mlp"]),
        ("activation", a.activation.is_some(), &["mlp"]),
        ("loss", a.loss.is_some(), &["mlp"]),
        ("weight-decay", a.weight_decay.is_some(), &["mlp"]),
        ("holdout", a.holdout.is_some(), &["mlp"]),
        ("raw-features", a.raw_features, &["mlp"]),
        ("spectrum", a.spectrum.is_some(), &["matrix-factorization"]),
        ("data", a.has_data() || a.data_seed.is_some(), &["phase-retrieval", "matrix-factorization", "linear-network", "mlp"]),
    ];
    if let Some((flag, _, only)) = misplaced.iter().find(|(_, set, only)| *set && !only.contains(&name)) {
        return Err(Error::invalid(*flag, format!("only with --objective {}", only.join(" or ")), name));
    }
    Ok(spec)
}

/// The objective the flags describe.
pub fn objective(a: &ObjectiveArgs) -> Result<Arc<dyn Objective>, Error> {
    let wgsl = a.wgsl.is_some() || a.wgsl_source.is_some();
    match (wgsl, a.objective.as_str()) {
        (true, "custom" | "octopus") => {
            let dim = a.dim.ok_or_else(|| Error::invalid("dim", "an integer >= 1 (a custom objective needs --dim)", "nothing"))?;
            let custom = match (&a.wgsl_source, &a.wgsl) {
                (Some((name, source)), _) => WgslObjective::from_source(std::path::Path::new(name), source.clone(), dim, a.f_min)?,
                (None, path) => WgslObjective::from_file(path.as_deref().unwrap_or(std::path::Path::new("")), dim, a.f_min)?,
            };
            Ok(Arc::new(custom))
        }
        (true, other) => Err(Error::invalid("wgsl", "only with --objective custom", other)),
        (false, "custom") => Err(Error::invalid("objective", "custom needs --wgsl FILE", "custom")),
        (false, _) => {
            let spec = objective_spec(a)?;
            // Data files are the data: flags that would generate it are errors, not ignored.
            if a.has_data() && a.objective != "mlp" {
                let generated = [("data-seed", a.data_seed.is_some()), ("p", a.p.is_some()), ("spectrum", a.spectrum.is_some())];
                if let Some((flag, _)) = generated.iter().find(|(_, set)| *set) {
                    return Err(Error::invalid(*flag, "no --data-seed, --p or --spectrum with --data (the files are the data)", format!("--{flag} and --data")));
                }
            }
            let obj = spec.build()?;
            // Data files fix the shape: flags that say otherwise are errors, not ignored.
            if a.has_data() {
                if let Some(d) = a.dim.filter(|&d| d != obj.dim()) {
                    return Err(Error::invalid("dim", format!("{} (the dimension the --data files give), or no --dim", obj.dim()), d));
                }
                if let Some(m) = a.m {
                    return Err(Error::invalid("m", "no --m with --data (the data files set the number of terms)", m));
                }
            }
            Ok(obj)
        }
    }
}

fn parse_clip(spec: &str) -> Result<Transform, Error> {
    let bad = || Error::invalid("clip", "none, hard:GAMMA or smooth:GAMMA with GAMMA > 0", format!("{spec:?}"));
    if spec == "none" {
        return Ok(Transform::Identity);
    }
    let (kind, gamma) = spec.split_once(':').ok_or_else(bad)?;
    let gamma: f64 = gamma.parse().map_err(|_| bad())?;
    match kind {
        "hard" => Ok(Transform::ClipHard { gamma }),
        "smooth" => Ok(Transform::ClipSmooth { gamma }),
        _ => Err(bad()),
    }
}

fn parse_precond(spec: &str) -> Result<Transform, Error> {
    let bad = || Error::invalid("precond", "asinh, log1p, rational or clip, optionally :LAMBDA with LAMBDA > 0", format!("{spec:?}"));
    let (kind, lambda) = spec.split_once(':').unwrap_or((spec, "1"));
    let lambda: f64 = lambda.parse().map_err(|_| bad())?;
    let kernel = match kind {
        "asinh" => PrecondKernel::Asinh,
        "log1p" => PrecondKernel::Log1p,
        "rational" => PrecondKernel::Rational,
        "clip" => PrecondKernel::Clip,
        _ => return Err(bad()),
    };
    Ok(Transform::Precondition { kernel, lambda })
}

/// Builds the experiment the flags describe.
pub fn experiment(a: &RunArgs) -> Result<Experiment, Error> {
    let objective = objective(&a.obj)?;
    let mut params = objective.default_params();
    let t = &a.theory;
    let self_bounding = a.step_rule == StepRuleArg::SelfBounding;
    if !self_bounding && (t.l.is_some() || t.rho.is_some() || t.eps.is_some()) {
        let need = |field: &str, v: Option<f64>| v.ok_or_else(|| Error::invalid(field, "a number > 0 (--l, --rho and --eps go together)", "nothing"));
        let df = match t.df {
            Some(df) => df,
            None => {
                let mut g = vec![0.0; objective.dim()];
                let f0 = objective.eval_f64(&vec![0.0; objective.dim()], &mut g).value;
                f0 - objective.f_min().unwrap_or(f0 - 1.0)
            }
        };
        params = TheoryParams { l: need("l", t.l)?, rho: need("rho", t.rho)?, eps: need("eps", t.eps)?, c: t.c, delta: t.delta, df }
            .derive(objective.dim())?;
    }
    params.eta = a.eta.unwrap_or(params.eta);
    params.radius = a.radius.unwrap_or(params.radius);
    params.g_thres = a.g_thres.unwrap_or(params.g_thres);
    params.f_thres = a.f_thres.unwrap_or(params.f_thres);
    params.t_thres = a.t_thres.unwrap_or(params.t_thres);
    params.certify = a.certify.unwrap_or(params.certify);
    let kind = MethodKind::from_name(&a.method)?;
    let mut method = crate::experiment::preset_for(kind, params, objective.as_ref());
    if let Some(sigma) = a.noise {
        method.oracle = Oracle::Noise { sigma };
    }
    if let Some(batch) = a.batch {
        if a.noise.is_some() {
            return Err(Error::invalid("batch", "either --noise or --batch, not both", batch));
        }
        method.oracle = Oracle::Minibatch { batch };
    }
    if let Some(p) = a.perturb {
        method.perturbation = match p {
            PerturbArg::Off => Perturbation::None,
            PerturbArg::Ball => Perturbation::Ball,
            PerturbArg::Gaussian => Perturbation::Gaussian,
        };
    }
    if let (Some(_), Some(_)) = (&a.clip, &a.precond) {
        return Err(Error::invalid("precond", "either --clip or --precond, not both", "both"));
    }
    if let Some(c) = &a.clip {
        method.transform = parse_clip(c)?;
    }
    if let Some(p) = &a.precond {
        method.transform = parse_precond(p)?;
    }
    if let Some(s) = &a.schedule {
        method.schedule = Schedule::parse(s)?;
    }
    if self_bounding {
        method.step_rule = StepRule::SelfBounding(SelfBounding {
            eps: t.eps.unwrap_or(1e-3),
            c: t.c,
            delta: t.delta,
            df: t.df,
            margin: a.margin,
            rho1: a.rho1.as_deref().map(|s| Rho::parse("rho1", s)).transpose()?,
            rho2: a.rho2.as_deref().map(|s| Rho::parse("rho2", s)).transpose()?,
            rebase_every: a.rebase_every.unwrap_or(0),
        });
    } else if a.margin.is_some() || a.rho1.is_some() || a.rho2.is_some() || a.rebase_every.is_some() {
        return Err(Error::invalid("step-rule", "self-bounding when --margin, --rho1, --rho2 or --rebase-every is given", "fixed"));
    }
    let mut b = Experiment::builder(objective)
        .full_method(method)
        .chains(a.chains)
        .steps(a.steps)
        .seed(a.seed)
        .init(Init::parse(&a.init)?);
    if a.trace_chains > 0 {
        b = b.trace(a.trace_chains, a.trace_every);
    }
    let (certify, certify_eps) = match a.certify_eps.as_str() {
        "off" => (false, None),
        "auto" => (true, None),
        v => (true, Some(v.parse::<f64>().map_err(|_| Error::invalid("certify-eps", "auto, off or a number > 0", v))?)),
    };
    b = b.checks(CheckSpec { certify, certify_eps, certify_rho: a.certify_rho, certify_max: a.certify_max, along_run: true });
    b = b.state_precision(a.state.precision());
    if let Some(s) = &a.shard {
        let s = crate::experiment::ShardSpec::parse(s)?;
        b = b.shard(s.index, s.count);
    }
    b.build()
}
