//! Update rules and their parameters: gradient descent and perturbed gradient descent (Jin, Ge,
//! Netrapalli, Kakade, Jordan 2017), with parameters given directly or derived from the theory.

mod pgd;

pub use pgd::{PgdParams, TheoryParams};

/// Which update rule the chains follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MethodKind {
    /// Plain gradient descent x <- x - eta grad f(x).
    Gd,
    /// Perturbed gradient descent: a uniform-ball kick of radius r when the gradient is small and
    /// no kick happened in the last t_thres steps.
    Pgd,
}

impl MethodKind {
    /// Names accepted on the command line.
    pub const NAMES: [&'static str; 2] = ["gd", "pgd"];

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Result<Self, crate::Error> {
        match name {
            "gd" => Ok(MethodKind::Gd),
            "pgd" => Ok(MethodKind::Pgd),
            other => Err(crate::Error::invalid("method", "one of gd, pgd", other)),
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Gd => "gd",
            MethodKind::Pgd => "pgd",
        }
    }

    /// Whether the rule perturbs stalled chains.
    pub fn perturbs(self) -> bool {
        matches!(self, MethodKind::Pgd)
    }
}

/// A method: the rule and its parameters. GD uses the thresholds only for escape detection.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Method {
    /// The update rule.
    pub kind: MethodKind,
    /// Step size, perturbation and detector parameters.
    pub params: PgdParams,
}
