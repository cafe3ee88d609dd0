//! Update rules as data: a preset name plus composable pieces (oracle, perturbation, transform,
//! schedule) and a step rule, with PGD's parameters given directly or derived from the theory.

mod pgd;
mod pieces;
mod step_rule;

pub use pgd::{PgdParams, TheoryParams};
pub(crate) use pgd::check_accuracy;
pub use pieces::{MAX_PIECES, Oracle, Perturbation, PrecondKernel, Schedule, Transform};
pub(crate) use pieces::Selectors;
pub use step_rule::{ChainParams, Rho, SelfBounding, StepRule};

use crate::Error;

/// Named presets; each sets the pieces, which can then be changed one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MethodKind {
    /// Gradient descent: exact gradient, no perturbation.
    Gd,
    /// Perturbed GD (Jin et al. 2017): uniform-ball kick when stalled.
    Pgd,
    /// SGD: gradient plus N(0, sigma^2 I) noise (default sigma 0.1; or a minibatch oracle).
    Sgd,
    /// Perturbed SGD (Jin et al. 2021): a stochastic gradient (a minibatch where the objective
    /// is a finite sum, else the gradient plus N(0, sigma^2 I)) plus N(0, r^2/d I) every step.
    Psgd,
    /// Noisy GD: the exact gradient plus N(0, r^2/d I) every step (PSGD with an exact oracle).
    NoisyGd,
    /// Clipped GD, hard clipping at gamma = 1 (Zhang et al. 2020).
    ClippedGd,
    /// Clipped SGD: noisy gradient (sigma 0.1), hard clipping at gamma = 1.
    ClippedSgd,
    /// Nonlinearly preconditioned GD, kernel asinh, lambda = 1 (Bodard & Patrinos 2025).
    PrecondGd,
    /// Its perturbed variant: preconditioned GD with the PGD ball kick.
    PerturbedPrecondGd,
}

impl MethodKind {
    /// Every preset, in the order `escapade list` shows them.
    pub const ALL: [MethodKind; 9] = [
        MethodKind::Gd,
        MethodKind::Pgd,
        MethodKind::Sgd,
        MethodKind::Psgd,
        MethodKind::NoisyGd,
        MethodKind::ClippedGd,
        MethodKind::ClippedSgd,
        MethodKind::PrecondGd,
        MethodKind::PerturbedPrecondGd,
    ];

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
            Error::invalid("method", format!("one of {}", names.join(", ")), name)
        })
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Gd => "gd",
            MethodKind::Pgd => "pgd",
            MethodKind::Sgd => "sgd",
            MethodKind::Psgd => "psgd",
            MethodKind::NoisyGd => "noisy-gd",
            MethodKind::ClippedGd => "clipped-gd",
            MethodKind::ClippedSgd => "clipped-sgd",
            MethodKind::PrecondGd => "precond-gd",
            MethodKind::PerturbedPrecondGd => "perturbed-precond-gd",
        }
    }

    /// The preset's pieces (for an objective without terms: `psgd`'s oracle is the noisy
    /// gradient; [`crate::experiment::preset_for`] gives it a minibatch where the objective has terms).
    pub fn pieces(self) -> (Oracle, Perturbation, Transform) {
        let noise = Oracle::Noise { sigma: 0.1 };
        let clip = Transform::ClipHard { gamma: 1.0 };
        let precond = Transform::Precondition { kernel: PrecondKernel::Asinh, lambda: 1.0 };
        match self {
            MethodKind::Gd => (Oracle::Exact, Perturbation::None, Transform::Identity),
            MethodKind::Pgd => (Oracle::Exact, Perturbation::Ball, Transform::Identity),
            MethodKind::Sgd => (noise, Perturbation::None, Transform::Identity),
            MethodKind::Psgd => (noise, Perturbation::Gaussian, Transform::Identity),
            MethodKind::NoisyGd => (Oracle::Exact, Perturbation::Gaussian, Transform::Identity),
            MethodKind::ClippedGd => (Oracle::Exact, Perturbation::None, clip),
            MethodKind::ClippedSgd => (noise, Perturbation::None, clip),
            MethodKind::PrecondGd => (Oracle::Exact, Perturbation::None, precond),
            MethodKind::PerturbedPrecondGd => (Oracle::Exact, Perturbation::Ball, precond),
        }
    }
}

/// A method: preset name, pieces, step rule and parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Method {
    /// The preset the pieces started from (for reports).
    pub kind: MethodKind,
    /// Gradient oracle for the step.
    pub oracle: Oracle,
    /// Random perturbation.
    pub perturbation: Perturbation,
    /// Transform of the direction (clipping, preconditioning).
    pub transform: Transform,
    /// Step-size schedule.
    pub schedule: Schedule,
    /// Fixed parameters or the self-bounding rule.
    pub step_rule: StepRule,
    /// Step size, perturbation and detector parameters (the fixed rule's values).
    pub params: PgdParams,
    /// What a violation the monitor finds changes (`--safeguard`; off by default).
    #[serde(default)]
    pub safeguard: Safeguard,
}

impl Method {
    /// The preset `kind` with parameters `params`, a constant schedule and the fixed rule.
    pub fn preset(kind: MethodKind, params: PgdParams) -> Self {
        let (oracle, perturbation, transform) = kind.pieces();
        Method { kind, oracle, perturbation, transform, schedule: Schedule::Constant, step_rule: StepRule::Fixed, params, safeguard: Default::default() }
    }

    /// Checks every piece, naming the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        self.params.validate()?;
        self.schedule.validate()?;
        match self.oracle {
            Oracle::Noise { sigma } if !(sigma.is_finite() && sigma >= 0.0) => {
                return Err(Error::invalid("noise", "a finite sigma >= 0", sigma));
            }
            Oracle::Minibatch { batch: 0 } => return Err(Error::invalid("batch", "an integer >= 1", 0)),
            _ => {}
        }
        match self.transform {
            Transform::ClipHard { gamma } | Transform::ClipSmooth { gamma } if !(gamma.is_finite() && gamma > 0.0) => {
                return Err(Error::invalid("clip", "a finite gamma > 0", gamma));
            }
            Transform::Precondition { lambda, .. } if !(lambda.is_finite() && lambda > 0.0) => {
                return Err(Error::invalid("precond-lambda", "a finite number > 0", lambda));
            }
            _ => {}
        }
        if let StepRule::SelfBounding(sb) = &self.step_rule {
            sb.validate()?;
        }
        // A perturbation of radius 0, or kicks with no wait between them, would silently make
        // the method another one (PGD into GD).
        if matches!(self.step_rule, StepRule::Fixed) && self.perturbation != Perturbation::None {
            if self.params.radius == 0.0 {
                return Err(Error::invalid("radius", format!("> 0 with the {} perturbation (use --method gd, or --perturb none, for none)", self.perturbation.name()), 0));
            }
            if self.perturbation == Perturbation::Ball && self.params.t_thres == 0 {
                return Err(Error::invalid("t-thres", "an integer >= 1 with the ball kick (steps between kicks)", 0));
            }
        }
        Ok(())
    }

    /// The piece selectors the kernel is compiled with.
    pub(crate) fn selectors(&self) -> Selectors {
        Selectors::of(&self.oracle, self.perturbation, &self.transform, &self.schedule, matches!(self.step_rule, StepRule::SelfBounding(_)))
    }
}

/// The change a safeguard makes on a violation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Safeguard {
    /// None: the monitor only reports.
    #[default]
    Off,
    /// Halve the chain's step size at each violated step that was too long for the curvature it
    /// crossed, until eta c <= 1 (`crate::monitor::check`; a change of the method: the step
    /// rule's η becomes η 2^-k after k halvings, recorded as `halvings`).
    Halve,
}
