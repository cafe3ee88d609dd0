//! The composable pieces of an update rule, optax style: a gradient oracle, a perturbation, a
//! transform of the direction and a step-size schedule. Each piece is data here and a branch on a
//! compile-time constant in `shaders/kernel.wgsl`; `src/kernel.rs` is the Rust twin.

use crate::Error;

/// Where the step's gradient comes from. The escape detector always uses the exact gradient.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Oracle {
    /// The exact gradient.
    Exact,
    /// The exact gradient plus N(0, sigma^2 I) noise (stream purpose `Noise`).
    Noise {
        /// Noise scale sigma (>= 0).
        sigma: f64,
    },
    /// The mean gradient of `batch` of the objective's m terms, drawn with replacement from the
    /// chain's own stream (purpose `Minibatch`): an unbiased estimate of the full gradient.
    Minibatch {
        /// Batch size b (>= 1).
        batch: u32,
    },
}

/// Random perturbations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Perturbation {
    /// None.
    None,
    /// Jin et al. 2017: when stalled and not kicked in the last t_thres steps, add a point
    /// uniform in the ball of radius r, then step from the perturbed point.
    Ball,
    /// Jin et al. 2021 (perturbed SGD): add xi ~ N(0, r^2/d I) to the gradient every step.
    Gaussian,
}

/// Nonlinear preconditioning kernels k(s) of Bodard & Patrinos 2025 (s = lambda ||g||).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrecondKernel {
    /// k(s) = asinh(s) (the cosh kernel).
    Asinh,
    /// k(s) = ln(1 + s).
    Log1p,
    /// k(s) = s / (1 + s).
    Rational,
    /// k(s) = min(s, 1) (hard clipping).
    Clip,
}

impl PrecondKernel {
    /// Evaluates k(s) in f32, as `precond_kernel` in kernel.wgsl.
    pub fn eval(self, s: f32) -> f32 {
        match self {
            PrecondKernel::Asinh => (s + (s * s + 1.0).sqrt()).ln(),
            PrecondKernel::Log1p => (1.0 + s).ln(),
            PrecondKernel::Rational => s / (1.0 + s),
            PrecondKernel::Clip => s.min(1.0),
        }
    }

    /// The kernel's selector for this kernel (see `crate::abi::codes`).
    pub(crate) fn code(self) -> u32 {
        self as u32
    }
}

/// How the (estimated, perturbed) gradient v becomes the step direction.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Transform {
    /// x <- x - eta v.
    Identity,
    /// x <- x - eta min{1, gamma/||v||} v (Zhang et al. 2020).
    ClipHard {
        /// Clipping level gamma (> 0).
        gamma: f64,
    },
    /// x <- x - eta gamma/(||v|| + gamma) v.
    ClipSmooth {
        /// Clipping level gamma (> 0).
        gamma: f64,
    },
    /// x <- x - eta k(lambda ||v||) v/||v|| (Bodard & Patrinos 2025).
    Precondition {
        /// The kernel k.
        kernel: PrecondKernel,
        /// Scale lambda (> 0).
        lambda: f64,
    },
}

impl Transform {
    /// The factor that multiplies v, given ||v||, in f32 as in kernel.wgsl.
    pub fn scale(&self, vn: f32) -> f32 {
        match *self {
            Transform::Identity => 1.0,
            Transform::ClipHard { gamma } => {
                if vn > 0.0 { (gamma as f32 / vn).min(1.0) } else { 1.0 }
            }
            Transform::ClipSmooth { gamma } => gamma as f32 / (vn + gamma as f32),
            Transform::Precondition { kernel, lambda } => {
                if vn > 0.0 { kernel.eval(lambda as f32 * vn) / vn } else { 0.0 }
            }
        }
    }
}

/// Step-size schedule applied to each chain's eta.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// eta_t = eta.
    Constant,
    /// eta_t = eta / sqrt(t + 1).
    InvSqrt,
    /// eta_t = eta * factor_k from step t_k on (up to 4 pieces, t_k increasing).
    Piecewise {
        /// (t_k, factor_k) pairs.
        pieces: Vec<(u32, f64)>,
    },
}

/// Most pieces a piecewise schedule may have (they travel in the kernel's uniform block).
pub const MAX_PIECES: usize = 4;

impl Schedule {
    /// Parses `constant`, `inv-sqrt` or `piecewise:T1:F1,T2:F2,...`.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        const ALLOWED: &str = "constant, inv-sqrt or piecewise:T1:F1,T2:F2,... (up to 4 pieces, T increasing, F > 0)";
        let bad = || Error::invalid("schedule", ALLOWED, format!("{spec:?}"));
        match spec {
            "constant" => return Ok(Schedule::Constant),
            "inv-sqrt" => return Ok(Schedule::InvSqrt),
            _ => {}
        }
        let rest = spec.strip_prefix("piecewise:").ok_or_else(bad)?;
        let mut pieces = Vec::new();
        for part in rest.split(',') {
            let (t, f) = part.split_once(':').ok_or_else(bad)?;
            pieces.push((t.trim().parse().map_err(|_| bad())?, f.trim().parse().map_err(|_| bad())?));
        }
        let s = Schedule::Piecewise { pieces };
        s.validate()?;
        Ok(s)
    }

    /// Checks the pieces.
    pub fn validate(&self) -> Result<(), Error> {
        if let Schedule::Piecewise { pieces } = self {
            let ok = !pieces.is_empty()
                && pieces.len() <= MAX_PIECES
                && pieces.windows(2).all(|w| w[0].0 < w[1].0)
                && pieces.iter().all(|p| p.1.is_finite() && p.1 > 0.0);
            if !ok {
                return Err(Error::invalid(
                    "schedule",
                    "1 to 4 pieces with increasing steps and finite factors > 0",
                    format!("{pieces:?}"),
                ));
            }
        }
        Ok(())
    }

    /// Piece steps and factors padded to [`MAX_PIECES`] (unused pieces never start).
    pub fn pieces(&self) -> ([u32; MAX_PIECES], [f32; MAX_PIECES]) {
        let mut t = [u32::MAX; MAX_PIECES];
        let mut f = [1.0f32; MAX_PIECES];
        if let Schedule::Piecewise { pieces } = self {
            for (k, (tk, fk)) in pieces.iter().take(MAX_PIECES).enumerate() {
                t[k] = *tk;
                f[k] = *fk as f32;
            }
        }
        (t, f)
    }

    /// eta_t in f32, as `schedule_eta` in kernel.wgsl.
    pub fn eta(&self, eta: f32, t: u32, pieces: &([u32; MAX_PIECES], [f32; MAX_PIECES])) -> f32 {
        match self {
            Schedule::Constant => eta,
            Schedule::InvSqrt => eta / (t as f32 + 1.0).sqrt(),
            Schedule::Piecewise { .. } => {
                let mut factor = 1.0f32;
                for k in 0..MAX_PIECES {
                    if t >= pieces.0[k] {
                        factor = pieces.1[k];
                    }
                }
                eta * factor
            }
        }
    }

    /// Whether the step size rises at some step from `t` on (a later piece with a larger factor
    /// than the one in force at `t`): a state held by the format at `t` might then move again.
    pub fn rises_after(&self, t: u32) -> bool {
        match self {
            Schedule::Constant | Schedule::InvSqrt => false,
            Schedule::Piecewise { pieces } => {
                let now = pieces.iter().filter(|(tk, _)| *tk <= t).map(|p| p.1).next_back().unwrap_or(1.0);
                pieces.iter().any(|&(tk, f)| tk > t && f > now)
            }
        }
    }

    /// The kernel's selector for this schedule (see `crate::abi::codes`).
    pub(crate) fn code(&self) -> u32 {
        match self {
            Schedule::Constant => 0,
            Schedule::InvSqrt => 1,
            Schedule::Piecewise { .. } => 2,
        }
    }
}

impl Oracle {
    /// The kernel's selector for this oracle (see `crate::abi::codes`).
    pub(crate) fn code(&self) -> u32 {
        match self {
            Oracle::Exact => 0,
            Oracle::Noise { .. } => 1,
            Oracle::Minibatch { .. } => 2,
        }
    }
}

impl Perturbation {
    /// The name `--perturb` takes.
    pub fn name(self) -> &'static str {
        match self {
            Perturbation::None => "none",
            Perturbation::Ball => "ball",
            Perturbation::Gaussian => "gaussian",
        }
    }

    /// The kernel's selector for this perturbation (see `crate::abi::codes`).
    pub(crate) fn code(self) -> u32 {
        self as u32
    }
}

impl Transform {
    /// The kernel's selector for this transform (see `crate::abi::codes`).
    pub(crate) fn code(&self) -> u32 {
        match self {
            Transform::Identity => 0,
            Transform::ClipHard { .. } => 1,
            Transform::ClipSmooth { .. } => 2,
            Transform::Precondition { .. } => 3,
        }
    }
}

/// The candidate whose code is `code`.
fn decode<T, const N: usize>(candidates: [(u32, T); N], code: u32) -> Option<T> {
    candidates.into_iter().find(|(c, _)| *c == code).map(|(_, v)| v)
}

/// The method's piece selectors: what the ensemble kernel is compiled with (as WGSL constants)
/// besides its parameter record. Together with `crate::kernel::KernelParams` they are all the
/// kernel knows of the method, and all the CPU twin is given ([`Selectors::pieces`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Selectors {
    /// `Oracle::code`.
    pub oracle: u32,
    /// `Perturbation::code`.
    pub perturb: u32,
    /// `Transform::code`.
    pub transform: u32,
    /// `PrecondKernel::code` (0 unless preconditioning).
    pub precond: u32,
    /// `Schedule::code`.
    pub schedule: u32,
    /// 1 under the self-bounding rule, else 0.
    pub step_rule: u32,
}

impl Selectors {
    /// The selectors of these pieces.
    pub fn of(oracle: &Oracle, perturbation: Perturbation, transform: &Transform, schedule: &Schedule, self_bounding: bool) -> Self {
        let precond = match transform {
            Transform::Precondition { kernel, .. } => kernel.code(),
            _ => 0,
        };
        Selectors {
            oracle: oracle.code(),
            perturb: perturbation.code(),
            transform: transform.code(),
            precond,
            schedule: schedule.code(),
            step_rule: u32::from(self_bounding),
        }
    }

    /// The WGSL constants that select the pieces in kernel.wgsl.
    pub fn wgsl(&self) -> String {
        format!(
            "const ORACLE: u32 = {}u;\nconst PERTURB: u32 = {}u;\nconst TRANSFORM: u32 = {}u;\n\
             const PRECOND_KERNEL: u32 = {}u;\nconst SCHEDULE: u32 = {}u;\nconst STEP_RULE: u32 = {}u;\n",
            self.oracle, self.perturb, self.transform, self.precond, self.schedule, self.step_rule
        )
    }

    /// The pieces back from the selectors and the kernel's parameter record (sigma, batch, gamma,
    /// lambda), decoded through the same codes: what the CPU twin steps with. The schedule's
    /// pieces stay in the record (`piece_t`, `piece_f`).
    pub fn pieces(&self, sigma: f32, batch: u32, gamma: f32, lambda: f32) -> (Oracle, Perturbation, Transform, Schedule) {
        let kernels = [PrecondKernel::Asinh, PrecondKernel::Log1p, PrecondKernel::Rational, PrecondKernel::Clip];
        let kernel = decode(kernels.map(|k| (k.code(), k)), self.precond).unwrap_or(PrecondKernel::Asinh);
        let (gamma, lambda) = (f64::from(gamma), f64::from(lambda));
        let oracles = [Oracle::Exact, Oracle::Noise { sigma: f64::from(sigma) }, Oracle::Minibatch { batch }];
        let perturbations = [Perturbation::None, Perturbation::Ball, Perturbation::Gaussian];
        let transforms = [Transform::Identity, Transform::ClipHard { gamma }, Transform::ClipSmooth { gamma }, Transform::Precondition { kernel, lambda }];
        let schedules = [Schedule::Constant, Schedule::InvSqrt, Schedule::Piecewise { pieces: Vec::new() }];
        // Selectors come from `Selectors::of`, so every code is found; the defaults never apply.
        (
            decode(oracles.map(|o| (o.code(), o)), self.oracle).unwrap_or(Oracle::Exact),
            decode(perturbations.map(|p| (p.code(), p)), self.perturb).unwrap_or(Perturbation::None),
            decode(transforms.map(|t| (t.code(), t)), self.transform).unwrap_or(Transform::Identity),
            decode(schedules.map(|s| (s.code(), s)), self.schedule).unwrap_or(Schedule::Constant),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_rises_after_t_only_where_a_later_piece_raises_the_step() {
        let pw = Schedule::parse("piecewise:100:0.5,200:2,300:0.1").unwrap();
        assert!(pw.rises_after(0) && pw.rises_after(150) && pw.rises_after(199));
        assert!(!pw.rises_after(200) && !pw.rises_after(250) && !pw.rises_after(1000));
        let down = Schedule::parse("piecewise:10:0.5,20:0.25").unwrap();
        assert!(!down.rises_after(0) && !down.rises_after(15));
        assert!(!Schedule::Constant.rises_after(0) && !Schedule::InvSqrt.rises_after(0));
    }

    #[test]
    fn clipping_bounds_the_step() {
        for vn in [0.0f32, 0.1, 1.0, 10.0, 1e6] {
            assert!(Transform::ClipHard { gamma: 0.5 }.scale(vn) * vn <= 0.5 + 1e-6);
            assert!(Transform::ClipSmooth { gamma: 0.5 }.scale(vn) * vn < 0.5 + 1e-6);
        }
        assert_eq!(Transform::ClipHard { gamma: 0.5 }.scale(0.1), 1.0);
    }

    #[test]
    fn kernels_are_identity_near_zero_and_tame_far_away() {
        for k in [PrecondKernel::Asinh, PrecondKernel::Log1p, PrecondKernel::Rational, PrecondKernel::Clip] {
            assert!((k.eval(1e-3) - 1e-3).abs() < 2e-6, "{k:?}");
            assert!(k.eval(1e3) < 10.0, "{k:?}");
        }
        assert!((PrecondKernel::Asinh.eval(2.0) - 2.0f32.asinh()).abs() < 1e-6);
    }

    #[test]
    fn schedules() {
        let s = Schedule::parse("piecewise:100:0.5,200:0.1").unwrap();
        let p = s.pieces();
        assert_eq!(s.eta(1.0, 99, &p), 1.0);
        assert_eq!(s.eta(1.0, 150, &p), 0.5);
        assert_eq!(s.eta(1.0, 250, &p), 0.1f32);
        assert_eq!(Schedule::InvSqrt.eta(1.0, 3, &p), 0.5);
        for bad in ["piecewise:", "piecewise:2:1,1:1", "piecewise:1:-1", "linear", "piecewise:1:1,2:1,3:1,4:1,5:1"] {
            assert!(Schedule::parse(bad).unwrap_err().to_string().contains("schedule"), "{bad}");
        }
    }
}
