//! From parsed flags to a checked [`Experiment`]: the objective (built-in, data files or arrays,
//! custom WGSL) and the method, every value checked by the library.

use super::args::{ObjectiveArgs, PerturbArg, RunArgs, StepRuleArg};
use crate::experiment::CheckSpec;
use crate::method::{Oracle, Perturbation, PrecondKernel, Rho, Schedule, SelfBounding, StepRule, Transform};
use crate::objective::catalogue::{self, CATALOGUE, Given};
use crate::objective::{DataSource, WgslObjective};
use crate::{Error, Experiment, Init, MethodKind, Objective, ObjectiveSpec, TheoryParams};
use std::sync::Arc;

/// The specification the flags describe: the catalogue row's builder reads them, and a flag the
/// row does not list is refused (naming the objectives that take it) rather than ignored.
fn objective_spec(a: &ObjectiveArgs) -> Result<ObjectiveSpec, Error> {
    let name = a.objective.as_str();
    let entry = catalogue::entry(name)?;
    let data = match (&a.arrays, &a.data) {
        (Some(arrays), _) => Some(DataSource::Arrays(arrays.clone())),
        (None, Some(files)) => Some(DataSource::Files(files.0.clone())),
        (None, None) => None,
    };
    let parse_rho = |field: &str, v: &Option<String>| v.as_deref().map(|s| Rho::parse(field, s)).transpose();
    // --rho1/--rho2 are an expression's declared forms; for the others the step rule's.
    let rho = if name == "expr" { (parse_rho("rho1", &a.rho1)?, parse_rho("rho2", &a.rho2)?) } else { (None, None) };
    let f_min = if name == "expr" { a.f_min } else { None };
    let spec = entry.spec(&Given { dim: a.dim, data, data_seed: a.data_seed, f_min, rho, values: a.flags.0.clone() })?;
    // `data` stands for --data, the arrays and --data-seed alike: all are the objective's data.
    let data_given = (a.has_data() || a.data_seed.is_some()).then_some("data");
    if let Some(flag) = a.flags.0.keys().map(String::as_str).chain(data_given).find(|f| !entry.reads(f)) {
        let only: Vec<&str> = CATALOGUE.iter().filter(|e| e.reads(flag)).map(|e| e.name).collect();
        return Err(Error::invalid(flag, format!("only with --objective {}", only.join(" or ")), name));
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
        (false, "oracle") => given(a),
        (false, _) => {
            let spec = objective_spec(a)?;
            // Data files are the data: flags that would generate it are errors, not ignored.
            if a.has_data() && a.objective != "mlp" {
                let generated = [("data-seed", a.data_seed.is_some()), ("p", a.flags.has("p")), ("spectrum", a.flags.has("spectrum"))];
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
                if let Some(catalogue::Value::Count(m)) = a.flags.0.get("m") {
                    return Err(Error::invalid("m", "no --m with --data (the data files set the number of terms)", m));
                }
            }
            Ok(obj)
        }
    }
}

/// The objective an embedder gave (`--objective oracle`): the objective flags, data and a
/// --dim other than its own are refused, not ignored.
fn given(a: &ObjectiveArgs) -> Result<Arc<dyn Objective>, Error> {
    let obj = a.given.clone().ok_or_else(|| Error::invalid("objective", "oracle only from Python (objective=escapade.Oracle(fn, dim))", "oracle"))?;
    if let Some(flag) = a.flags.0.keys().next() {
        return Err(Error::invalid(flag, "no objective options with an oracle (its function is the objective)", "oracle"));
    }
    if a.has_data() || a.data_seed.is_some() {
        return Err(Error::invalid("data", "no data with an oracle (its function is the objective)", "oracle"));
    }
    if let Some(f) = a.f_min {
        return Err(Error::invalid("f-min", "none with an oracle (give f_min to escapade.Oracle)", f));
    }
    if let Some(d) = a.dim.filter(|&d| d != obj.dim()) {
        return Err(Error::invalid("dim", format!("{} (the oracle's dim), or none", obj.dim()), d));
    }
    Ok(obj)
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
    // --rho-from implies the self-bounding rule: its forms are of no use to any other.
    let self_bounding = a.step_rule == StepRuleArg::SelfBounding || a.rho_from.is_some();
    let fitted = match &a.rho_from {
        Some(_) if a.obj.objective != "expr" && (a.obj.rho1.is_some() || a.obj.rho2.is_some()) => {
            return Err(Error::invalid("rho-from", "either --rho-from or --rho1/--rho2, not both", "both"));
        }
        Some(path) => Some(crate::check::fits::load(path, objective.as_ref())?),
        None => None,
    };
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
            rho1: match &fitted {
                Some(f) => Some(f.rho1),
                None => a.obj.rho1.as_deref().map(|s| Rho::parse("rho1", s)).transpose()?,
            },
            rho2: match &fitted {
                Some(f) => Some(f.rho2),
                None => a.obj.rho2.as_deref().map(|s| Rho::parse("rho2", s)).transpose()?,
            },
            rebase_every: a.rebase_every.unwrap_or(0),
        });
    } else if a.margin.is_some() || (a.obj.objective != "expr" && (a.obj.rho1.is_some() || a.obj.rho2.is_some())) || a.rebase_every.is_some() {
        return Err(Error::invalid("step-rule", "self-bounding when --margin, --rho1, --rho2 or --rebase-every is given", "fixed"));
    }
    if a.safeguard == super::args::SafeguardArg::Halve {
        if a.monitor == super::args::MonitorArg::Off {
            return Err(Error::invalid("safeguard", "off when --monitor is off (halve acts on the monitor's violations)", "halve"));
        }
        method.safeguard = crate::monitor::Safeguard::Halve;
    }
    let mut b = Experiment::builder(objective)
        .full_method(method)
        .monitor(a.monitor == super::args::MonitorArg::On)
        .stop_on_violation(a.on_violation == super::args::OnViolation::Stop)
        .chains(a.chains)
        .steps(a.steps)
        .seed(a.seed)
        .init(match &a.init_points {
            Some(p) => Init::Points(p.clone()),
            None => load_init(&a.init)?,
        });
    if let Some(f) = fitted {
        b = b.rho_source(f.source);
    }
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

/// `--init`: [`Init::parse`]'s specs, and `file:PATH`, a chains x d .npy or .csv matrix read as
/// data files are (a missing or unreadable file named under `init`).
pub fn load_init(spec: &str) -> Result<Init, Error> {
    let Some(path) = spec.strip_prefix("file:") else { return Init::parse(spec) };
    let m = crate::objective::data::load_matrix(std::path::Path::new(path), "init").map_err(|e| match e {
        Error::Io { path, source } => Error::invalid("init", "file:PATH of a readable .npy or .csv matrix (chains x d)", format!("{path} ({source})")),
        other => other,
    })?;
    crate::init::Points::new(path.to_string(), m.rows, m.data).map(Init::Points)
}
