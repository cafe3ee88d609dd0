//! An experiment as data (objective, method, ensemble, budget) and the builder that checks it.

use crate::Error;
pub use crate::precision::Precision;
use crate::init::Init;
use crate::method::{Method, MethodKind, Oracle, PgdParams, Rho, StepRule};
use crate::objective::Objective;
use std::sync::Arc;

/// The defaults every front end shares: the builder, the command line, `escapade list` and the
/// docs read them from here.
pub mod defaults {
    use crate::{Init, MethodKind};
    /// Chains in the ensemble.
    pub const CHAINS: u32 = 4096;
    /// Step budget per chain.
    pub const STEPS: u32 = 1000;
    /// Seed of every random stream.
    pub const SEED: u64 = 0;
    /// Starting points: uniform in [-1, 1]^d.
    pub const INIT: Init = Init::Uniform(1.0);
    /// [`INIT`] as the command line writes it.
    pub const INIT_SPEC: &str = "uniform:1";
    /// The method preset.
    pub const METHOD: MethodKind = MethodKind::Pgd;
    /// [`METHOD`] as the command line writes it.
    pub const METHOD_NAME: &str = "pgd";

    #[cfg(test)]
    #[test]
    fn spellings_match() {
        assert_eq!(Init::parse(INIT_SPEC).unwrap(), INIT);
        assert_eq!(MethodKind::from_name(METHOD_NAME).unwrap(), METHOD);
    }
}

/// Checks made after the run on the host.
///
/// Every chain still stalled at its end is judged at its resting point whatever these say (the
/// statistics need to know whether it rests at a minimum); `certify` adds the first
/// `certify_max` non-diverged chains, stalled or not.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckSpec {
    /// Certify the final points of the first `certify_max` chains.
    pub certify: bool,
    /// eps of second-order stationarity (None: the run's own scale, see
    /// `crate::outcome::SospRule`: the self-bounding rule's eps, else each chain's g_thres).
    pub certify_eps: Option<f64>,
    /// rho for the curvature tolerance sqrt(rho eps) (None: the declared rho2 at the point's
    /// value; without one, 1/(eta T)).
    pub certify_rho: Option<f64>,
    /// Certify at most this many chains (the first ones).
    pub certify_max: u32,
    /// Check ||Hess f|| <= rho1(f) and the Hessian-Lipschitz estimate against rho2(f) at the
    /// traced points (needs a trace and a declared rho).
    pub along_run: bool,
}

impl Default for CheckSpec {
    fn default() -> Self {
        CheckSpec { certify: true, certify_eps: None, certify_rho: None, certify_max: 65_536, along_run: true }
    }
}

/// Record the positions of chains `0..chains` every `every` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceSpec {
    /// Number of traced chains (the first ones).
    pub chains: u32,
    /// Interval in steps (>= 1).
    pub every: u32,
}

impl TraceSpec {
    /// Trace slots for a budget of `steps`.
    pub fn slots(&self, steps: u32) -> usize {
        steps.div_ceil(self.every) as usize
    }

    /// Floats in the trace for a budget of `steps` in dimension `d`.
    pub fn len(&self, steps: u32, d: usize) -> usize {
        self.slots(steps).saturating_mul(self.chains as usize).saturating_mul(d)
    }
}

/// A checked experiment. Build one with [`Experiment::builder`].
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The objective all chains minimize.
    pub objective: Arc<dyn Objective>,
    /// Update rule and parameters.
    pub method: Method,
    /// Number of chains.
    pub chains: u32,
    /// Seed of every random stream.
    pub seed: u64,
    /// Starting-point distribution.
    pub init: Init,
    /// Step budget per chain.
    pub steps: u32,
    /// Optional position trace.
    pub trace: Option<TraceSpec>,
    /// Storage precision of chain positions.
    pub precision: Precision,
    /// Host-side checks after the run.
    pub checks: CheckSpec,
    /// Run only this part of the ensemble (None: all of it).
    pub shard: Option<ShardSpec>,
    /// Where the self-bounding rule's explicit rho1/rho2 came from, in words, when not from
    /// flags (e.g. "fitted: out/check.json (...)", from `--rho-from`); summary.json's
    /// `method.rho_source` says "declared" or "flags" without it.
    pub rho_source: Option<String>,
    /// The self-bounding monitor on every step (`crate::monitor`; on by default). Off, the
    /// chains step exactly as with it on and the summary holds no monitor block.
    pub monitor: bool,
    /// End the run at the first read-back after the monitor found a violation
    /// (`--on-violation stop`), results so far kept; off by default.
    pub stop_on_violation: bool,
}

/// Part `index` of `count` of an ensemble: chains index·n/count .. (index+1)·n/count, each
/// exactly as in a run of the whole ensemble (every draw is addressed by the global chain), so
/// `escapade merge` combines the parts into the whole run's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardSpec {
    /// Which part (0-based).
    pub index: u32,
    /// Into how many parts.
    pub count: u32,
}

impl ShardSpec {
    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::invalid("shard", "I/N with 0 <= I < N", s);
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(ShardSpec { index, count })
    }
}

/// Builds an [`Experiment`]; every setter is optional except the objective.
#[derive(Clone, Debug)]
pub struct ExperimentBuilder {
    exp: Experiment,
}

impl Experiment {
    /// Starts an experiment on `objective` with the shared [`defaults`]: PGD with the objective's
    /// practical parameters, 4096 chains, seed 0, init `uniform:1`, 1000 steps.
    pub fn builder(objective: Arc<dyn Objective>) -> ExperimentBuilder {
        let params = objective.default_params();
        ExperimentBuilder {
            exp: Experiment {
                objective,
                method: Method::preset(defaults::METHOD, params),
                chains: defaults::CHAINS,
                seed: defaults::SEED,
                init: defaults::INIT,
                steps: defaults::STEPS,
                trace: None,
                precision: Precision::F32,
                checks: CheckSpec::default(),
                shard: None,
                rho_source: None,
                monitor: true,
                stop_on_violation: false,
            },
        }
    }

    /// The global indices of the chains this experiment runs (all, or its shard's).
    pub fn chain_range(&self) -> std::ops::Range<u32> {
        match self.shard {
            None => 0..self.chains,
            Some(s) => {
                let at = |k: u32| (u64::from(k) * u64::from(self.chains) / u64::from(s.count)) as u32;
                at(s.index)..at(s.index + 1)
            }
        }
    }

    /// Part `k` of `parts` of this experiment's chains, for one of several devices: the same
    /// experiment with a finer shard, part k of shard I/N being shard I·parts + k of N·parts. The
    /// parts tile [`Experiment::chain_range`] in order, since floor(I·parts·n / (N·parts)) =
    /// floor(I·n/N); each chain runs exactly as in the whole run. One part is the experiment.
    pub(crate) fn part(&self, k: u32, parts: u32) -> Result<Experiment, Error> {
        if parts == 1 {
            return Ok(self.clone());
        }
        let s = self.shard.unwrap_or(ShardSpec { index: 0, count: 1 });
        let count = s.count.checked_mul(parts).ok_or_else(|| Error::invalid("devices", format!("fewer devices: {} shards of {parts} parts each overflow", s.count), parts))?;
        Ok(Experiment { shard: Some(ShardSpec { index: s.index * parts + k, count }), ..self.clone() })
    }

    /// Whether chains keep x~, the point before their last perturbation (ball perturbation).
    pub fn keeps_tilde(&self) -> bool {
        self.method.perturbation == crate::method::Perturbation::Ball
    }

    /// The declared (rho1, rho2): the step rule's explicit forms, else the objective's.
    pub fn declared_rho(&self) -> Option<(Rho, Rho)> {
        match &self.method.step_rule {
            StepRule::SelfBounding(sb) if sb.rho1.is_some() => sb.rho1.zip(sb.rho2),
            _ => self.objective.rho(),
        }
    }
}

/// The preset `kind` for `objective`: as [`Method::preset`], with `psgd` drawing a minibatch
/// of max(1, m/10) of the m terms where the objective is a finite sum.
pub fn preset_for(kind: MethodKind, params: PgdParams, objective: &dyn Objective) -> Method {
let mut m = Method::preset(kind, params);
    if let (MethodKind::Psgd, Some(terms)) = (kind, objective.terms()) {
        m.oracle = Oracle::Minibatch { batch: (terms / 10).max(1) };
    }
    m
}

impl ExperimentBuilder {
    /// The update rule: a preset's pieces (replacing any set before).
    pub fn method(mut self, kind: MethodKind) -> Self {
        let params = self.exp.method.params;
        self.exp.method = Method { params, ..preset_for(kind, params, self.exp.objective.as_ref()) };
        self
    }
    /// A whole method (pieces, step rule and parameters).
    pub fn full_method(mut self, method: Method) -> Self {
        self.exp.method = method;
        self
    }
    /// Changes one piece or more of the method in place.
    pub fn configure(mut self, f: impl FnOnce(&mut Method)) -> Self {
        f(&mut self.exp.method);
        self
    }
    /// Step size and thresholds (default: the objective's practical parameters).
    pub fn params(mut self, params: PgdParams) -> Self {
        self.exp.method.params = params;
        self
    }
    /// Number of chains (>= 1).
    pub fn chains(mut self, chains: u32) -> Self {
        self.exp.chains = chains;
        self
    }
    /// Seed of all random streams.
    pub fn seed(mut self, seed: u64) -> Self {
        self.exp.seed = seed;
        self
    }
    /// Starting-point distribution.
    pub fn init(mut self, init: Init) -> Self {
        self.exp.init = init;
        self
    }
    /// Step budget per chain (>= 1).
    pub fn steps(mut self, steps: u32) -> Self {
        self.exp.steps = steps;
        self
    }
    /// Run only part `index` of `count` of the ensemble ([`ShardSpec`]).
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        self.exp.shard = Some(ShardSpec { index, count });
        self
    }
    /// Trace the first `chains` chains every `every` steps.
    pub fn trace(mut self, chains: u32, every: u32) -> Self {
        self.exp.trace = Some(TraceSpec { chains, every });
        self
    }
    /// Host-side checks after the run.
    pub fn checks(mut self, checks: CheckSpec) -> Self {
        self.exp.checks = checks;
        self
    }
    /// End the run at the first read-back after a violation (`--on-violation stop`).
    pub fn stop_on_violation(mut self, stop: bool) -> Self {
        self.exp.stop_on_violation = stop;
        self
    }
    /// The self-bounding monitor on (the default) or off (`crate::monitor`).
    pub fn monitor(mut self, on: bool) -> Self {
        self.exp.monitor = on;
        self
    }

    /// Where the self-bounding rule's explicit forms came from, in words (summary.json's
    /// `method.rho_source`).
    pub fn rho_source(mut self, source: impl Into<String>) -> Self {
        self.exp.rho_source = Some(source.into());
        self
    }
    /// Storage precision of chain positions.
    pub fn state_precision(mut self, precision: Precision) -> Self {
        self.exp.precision = precision;
        self
    }

    /// Checks every field and returns the experiment.
    pub fn build(self) -> Result<Experiment, Error> {
        let e = self.exp;
        e.method.validate()?;
        let obj = &e.objective;
        if let Oracle::Minibatch { batch } = e.method.oracle {
            match obj.terms() {
                None => return Err(Error::invalid("batch", "only with a finite-sum objective (phase-retrieval, mlp)", obj.name())),
                Some(m) if batch > m => return Err(Error::invalid("batch", format!("at most the objective's m = {m} terms"), batch)),
                _ => {}
            }
        }
        if let StepRule::SelfBounding(sb) = &e.method.step_rule {
            let wgsl = obj.device().wgsl();
            let own = |f| crate::objective::wgsl::defines(&wgsl, f);
            if sb.rho1.is_none() && obj.rho().is_none() && !(own("rho1") && own("rho2")) {
                return Err(Error::invalid(
                    "rho1",
                    format!("a closed form: {} has none, give rho1 and rho2 as A,B,P[,FMIN]", obj.name()),
                    "nothing",
                ));
            }
            if sb.rho1.is_some() != sb.rho2.is_some() {
                return Err(Error::invalid("rho2", "given together with rho1", "only one of them"));
            }
            if sb.df.is_none() && obj.f_min().is_none() {
                return Err(Error::invalid("df", format!("a number > 0: f* of {} is unknown", obj.name()), "nothing"));
            }
        }
        if let Some(eps) = e.checks.certify_eps {
            if !(eps.is_finite() && eps > 0.0) {
                return Err(Error::invalid("certify-eps", "a finite number > 0", eps));
            }
        }
        if let Some(r) = e.checks.certify_rho {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::invalid("certify-rho", "a finite number > 0", r));
            }
        }
        if let Init::Point(v) = &e.init {
            if v.len() != obj.dim() {
                return Err(Error::invalid("init", format!("a point with {} coordinates", obj.dim()), v.len()));
            }
        }
        if let Init::Points(p) = &e.init {
            if p.dim() != obj.dim() || (p.rows != 1 && p.rows != e.chains as usize) {
                return Err(Error::invalid(
                    "init",
                    format!("a matrix of chains x d = {} x {} (or 1 x {}: every chain at one point)", e.chains, obj.dim(), obj.dim()),
                    format!("{}: {} x {}", p.source, p.rows, p.dim()),
                ));
            }
        }
        if e.chains == 0 {
            return Err(Error::invalid("chains", "an integer >= 1", 0));
        }
        if e.steps == 0 {
            return Err(Error::invalid("steps", "an integer >= 1", 0));
        }
        if e.steps >= u32::MAX - 1 {
            return Err(Error::invalid("steps", "an integer below 2^32 - 1", e.steps));
        }
        if e.objective.dim() == 0 {
            return Err(Error::invalid("dim", "an integer >= 1", 0));
        }
        if let Some(s) = e.shard {
            if s.count == 0 || s.index >= s.count || s.count > e.chains {
                return Err(Error::invalid("shard", format!("I/N with 0 <= I < N <= the {} chains", e.chains), format!("{}/{}", s.index, s.count)));
            }
            if e.trace.is_some() {
                return Err(Error::invalid("trace-chains", "0 with --shard (traces are not split across shards)", "a trace"));
            }
        }
        if let Some(t) = e.trace {
            if t.every == 0 {
                return Err(Error::invalid("trace every", "an integer >= 1", 0));
            }
            if t.chains > e.chains {
                return Err(Error::invalid("trace chains", format!("at most the {} chains", e.chains), t.chains));
            }
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::Experiment;

    #[test]
    fn parts_tile_the_chain_range_in_order() {
        let obj = crate::ObjectiveSpec::from_name("octopus", 3).unwrap().build().unwrap();
        for (chains, shard, parts) in [(3001, None, 2), (7, None, 3), (2, None, 3), (1000, Some((1, 3)), 2), (1001, Some((2, 7)), 5)] {
            let mut b = Experiment::builder(obj.clone()).chains(chains);
            if let Some((i, n)) = shard {
                b = b.shard(i, n);
            }
            let e = b.build().unwrap();
            let mut next = e.chain_range().start;
            for k in 0..parts {
                let r = e.part(k, parts).unwrap().chain_range();
                assert_eq!(r.start, next, "{chains} {shard:?} part {k} of {parts}");
                next = r.end;
            }
            assert_eq!(next, e.chain_range().end);
        }
    }
}
