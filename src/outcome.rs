//! What each chain's last stall means, decided after the run at the point where the chain rests
//! (x~, where it stalled, for a chain kicked in its current stall episode however long ago, else
//! its final x; see docs/theory.md, "Outcomes"):
//!
//! - *converged*: the point is second-order stationary by the run's [`SospRule`] — a stall at a
//!   minimum, not a saddle stall, so it never enters the escape-time risk set;
//! - *precision-limited*: not second-order stationary, and the chain's stored state has been
//!   held bit for bit over its [`hold_window`] up to the end: the float format holds it, and more
//!   budget would not end the stall;
//! - *censored*: neither — still stalled at a saddle when the budget ended (or stopped there);
//! - *diverged*: the chain left the domain or became non-finite (while stalled: a competing
//!   outcome of that stall).
//!
//! Every escape event is an *escaped* episode; together these are the stall episodes
//! (`episodes`) the survival statistics treat as competing risks (`crate::stats`).

use crate::Error;
use crate::backend::RawRun;
use crate::check::hessian::Products;
use crate::check::run_checks::{Certification, certify};
use crate::escape::{ChainState, EscapeEvent, status};
use crate::experiment::Experiment;
use crate::method::{Perturbation, Rho, StepRule};
use crate::stats::{Episode, Outcome};

/// How a chain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Final {
    /// Running and not stalled when the budget ended.
    Moving,
    /// Resting at a second-order stationary point.
    Converged,
    /// Stalled at a non-stationary point, held there by the float format.
    PrecisionLimited,
    /// Stalled at a non-stationary point (escape time right-censored).
    Censored,
    /// Non-finite or out of the domain.
    Diverged,
}

impl Final {
    /// Every final state, in table order.
    pub const ALL: [Final; 5] = [Final::Converged, Final::PrecisionLimited, Final::Censored, Final::Diverged, Final::Moving];

    /// The name chains.csv and summaries use.
    pub fn name(self) -> &'static str {
        match self {
            Final::Moving => "moving",
            Final::Converged => "converged",
            Final::PrecisionLimited => "precision_limited",
            Final::Censored => "censored",
            Final::Diverged => "diverged",
        }
    }

    /// Parses [`Final::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The outcome of the chain's open stall episode, when it has one.
    fn episode(self) -> Outcome {
        match self {
            Final::Converged => Outcome::Converged,
            Final::PrecisionLimited => Outcome::PrecisionLimited,
            Final::Diverged => Outcome::Diverged,
            Final::Censored | Final::Moving => Outcome::Censored,
        }
    }
}

/// Where eps comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Eps {
    /// Given (`--certify-eps`).
    Given(f64),
    /// The self-bounding rule's target accuracy eps.
    Theory(f64),
    /// Each chain's own stall threshold g_thres.
    GThres,
}

/// Where the curvature tolerance comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Curvature {
    /// sqrt(rho eps) with a given rho (`--certify-rho`).
    Rho(f64),
    /// sqrt(rho2(f) eps) with the declared rho2.
    Rho2(Rho),
    /// 1/(eta T): weaker negative curvature would need more than the whole budget of T steps to
    /// grow a perturbation by a factor e, so the run cannot tell it from flat.
    Budget(u32),
}

/// The run's rule for "second-order stationary": ||grad f|| <= eps and lambda_min >= -tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SospRule {
    eps: Eps,
    curvature: Curvature,
}

impl SospRule {
    /// The rule of `exp`: eps given, else the self-bounding rule's eps, else each chain's g_thres;
    /// tolerance sqrt(rho eps) with rho given or the declared rho2(f), else 1/(eta T).
    pub fn of(exp: &Experiment) -> Self {
        let eps = match (exp.checks.certify_eps, &exp.method.step_rule) {
            (Some(e), _) => Eps::Given(e),
            (None, StepRule::SelfBounding(sb)) => Eps::Theory(sb.eps),
            (None, StepRule::Fixed) => Eps::GThres,
        };
        let curvature = match (exp.checks.certify_rho, exp.declared_rho()) {
            (Some(r), _) => Curvature::Rho(r),
            (None, Some((_, rho2))) => Curvature::Rho2(rho2),
            (None, None) => Curvature::Budget(exp.steps),
        };
        SospRule { eps, curvature }
    }

    /// eps for chain `st`.
    pub fn eps(&self, st: &ChainState) -> f64 {
        match self.eps {
            Eps::Given(e) | Eps::Theory(e) => e,
            Eps::GThres => f64::from(st.g_thres),
        }
    }

    /// Whether the gradient test passes for chain `st` with ||grad f|| = `gn` (recomputed in f64)
    /// at its resting point: gn <= eps; or, when eps is the chain's own g_thres, the run's stall
    /// detector found ||grad f|| <= g_thres there in the run's float format (`detected`: at x~
    /// the kick was that finding; at x, the last recorded norm). The detector's test in the run's
    /// format is the run's definition of a stall, and rounding may put the f64 norm a few parts
    /// in a million above g_thres where the format's put it below.
    pub fn gradient_ok(&self, st: &ChainState, gn: f64, at_tilde: bool) -> bool {
        let detected = matches!(self.eps, Eps::GThres) && (at_tilde || st.gnorm <= st.g_thres);
        gn <= self.eps(st) || detected
    }

    /// The tolerance on -lambda_min for chain `st` resting at value f.
    pub fn tolerance(&self, st: &ChainState, f: f64) -> f64 {
        let eps = self.eps(st);
        match self.curvature {
            Curvature::Rho(r) => (r * eps).sqrt(),
            Curvature::Rho2(r) => (r.eval(f) * eps).sqrt(),
            Curvature::Budget(t) => 1.0 / (f64::from(st.eta) * f64::from(t)).max(1e-300),
        }
    }

    /// The rule in words, for summaries.
    pub fn describe(&self) -> String {
        let eps = match self.eps {
            Eps::Given(e) => format!("eps = {e:e} (given)"),
            Eps::Theory(e) => format!("eps = {e:e} (the self-bounding rule's eps)"),
            Eps::GThres => "eps = each chain's g_thres".into(),
        };
        let curv = match self.curvature {
            Curvature::Rho(r) => format!("lambda_min >= -sqrt(rho eps), rho = {r:e} (given)"),
            Curvature::Rho2(_) => "lambda_min >= -sqrt(rho2(f) eps), rho2 declared".into(),
            Curvature::Budget(t) => format!("lambda_min >= -1/(eta T), T = {t} steps (no rho declared)"),
        };
        format!("||grad f|| <= eps, {eps}; {curv}")
    }
}

/// The shortest hold (steps over which a chain's stored state did not change) that makes a stall
/// precision-limited, whatever the method: a deterministic update that leaves the state unchanged
/// once leaves it unchanged for good, and a stochastic one (noise, a Gaussian perturbation, a
/// minibatch) has then failed to move it with this many independent draws.
pub const HOLD_STEPS: u32 = 64;

/// The hold window of chain `st` under `exp`: [`HOLD_STEPS`], and long enough to contain every
/// step of the update that is not the same at each step: a ball kick (due every t_thres + 1
/// steps while stalled) and a rebase of the self-bounding rule (every `rebase_every` steps).
/// None for a chain whose step-size schedule still rises later: it is never held for good.
pub fn hold_window(exp: &Experiment, st: &ChainState) -> Option<u32> {
    if exp.method.schedule.rises_after(st.t) {
        return None;
    }
    let mut w = HOLD_STEPS;
    if exp.method.perturbation == Perturbation::Ball {
        w = w.max(st.t_thres.saturating_add(1));
    }
    if let StepRule::SelfBounding(sb) = &exp.method.step_rule {
        w = w.max(sb.rebase_every.saturating_add(1));
    }
    Some(w)
}

/// Whether chain `st`'s stored state is held by the float format for good: unchanged over its
/// [`hold_window`] up to its last step.
pub fn held(exp: &Experiment, st: &ChainState) -> bool {
    hold_window(exp, st).is_some_and(|w| st.limited() && st.held_for() >= w)
}

/// The run's verdict on every chain.
#[derive(Clone, Debug)]
pub struct Judgement {
    /// The rule used.
    pub rule: SospRule,
    /// How each chain ended.
    pub finals: Vec<Final>,
    /// Second-order stationarity of the resting points examined.
    pub certification: Certification,
}

/// Judges every chain of `raw`: the resting point of every chain with an open stall episode (and,
/// when the experiment certifies final points, of every non-diverged chain whose global index is
/// below `certify_max`) is tested against the run's [`SospRule`], Hessian spectra from
/// `products` in one batch. Verdicts depend on the chain alone, so a shard's are the whole run's.
pub(crate) fn judge(exp: &Experiment, raw: &RawRun, products: &dyn Products) -> Result<Judgement, Error> {
    let obj = exp.objective.as_ref();
    let d = obj.dim();
    let rule = SospRule::of(exp);
    let states = &raw.states;
    let first = exp.chain_range().start;
    let which: Vec<usize> = (0..states.len())
        .filter(|&c| {
            let st = &states[c];
            let extra = exp.checks.certify && first as usize + c < exp.checks.certify_max as usize;
            !st.diverged() && (extra || st.stalled == 1 || st.status == status::CERTIFIED)
        })
        .collect();
    let points: Vec<f64> = which.iter().flat_map(|&c| raw.resting_point(c, d).iter().copied()).collect();
    // Where the device's last values are not at the resting point (x~): f(x~), and the bound
    // ||grad f(x~)|| <= g_thres that made the chain kick there.
    let device = |c: usize| {
        let st = &states[c];
        if raw.rests_at_tilde(c) { (f64::from(st.f_tilde), f64::from(st.g_thres)) } else { (f64::from(st.f), f64::from(st.gnorm)) }
    };
    let mut certification =
        certify(products, obj, &points, &which, first, states.len(), &|c, gn| rule.gradient_ok(&states[c], gn, raw.rests_at_tilde(c)), &|c, f| rule.tolerance(&states[c], f), &device, exp.seed)?;
    certification.rule = rule.describe();
    let finals = states
        .iter()
        .enumerate()
        .map(|(c, st)| {
            let sosp = certification.per_chain_sosp[c];
            if st.diverged() {
                Final::Diverged
            } else if sosp {
                Final::Converged
            } else if st.stalled == 1 && held(exp, st) {
                Final::PrecisionLimited
            } else if st.stalled == 1 {
                Final::Censored
            } else {
                // Not stalled and not second-order stationary: still on its way (or, rarely,
                // stopped by the certification rule just after an escape).
                Final::Moving
            }
        })
        .collect();
    Ok(Judgement { rule, finals, certification })
}

/// The stall episodes of a run: one *escaped* episode per escape event, and the open episode of
/// every chain stalled at its end, with the chain's final outcome.
/// `states[c]` is chain `first_chain + c` (episodes carry global chain ids, so a shard's episodes
/// are the whole run's).
pub(crate) fn episodes(events: &[EscapeEvent], states: &[ChainState], finals: &[Final], first_chain: u32) -> Vec<Episode> {
    let escaped = events.iter().map(|e| Episode { chain: e.chain, label: e.label, time: e.escape_steps, outcome: Outcome::Escaped });
    let open = states.iter().zip(finals).enumerate().filter(|(_, (st, _))| st.stalled == 1).map(|(c, (st, f))| {
        let outcome = f.episode();
        // A precision-limited stall ends when the hold began (or at the stall, when the chain
        // was held before it); the others at the chain's last step.
        let end = if outcome == Outcome::PrecisionLimited { st.t_limited.max(st.t_stall) } else { st.t };
        Episode { chain: first_chain + c as u32, label: st.stall_label, time: end - st.t_stall, outcome }
    });
    escaped.chain(open).collect()
}
