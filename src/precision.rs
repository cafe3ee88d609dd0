//! How chain positions are stored and updated: f16, f32 or f64 (a leaf of the spec).

use crate::Error;

/// How chain positions are stored between steps, and in which arithmetic they are updated.
///
/// Know the format's limits: a coordinate that has to grow back from a tiny value (e.g. the
/// direction ahead of GD on Du et al.'s octopus, halved every step) is lost once it falls below
/// the smallest subnormal (f32: 2^-149 after about 150 halvings; f64: 2^-1074). A stall whose
/// stored state then stops changing is reported as precision-limited (docs/theory.md, §6).
/// Starting points are drawn in f32 on every precision; chain bookkeeping (values, thresholds,
/// step sizes) is f32 everywhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// f32 storage and arithmetic (default).
    #[default]
    F32,
    /// f16: positions are rounded to half precision after every step (and at init), halving the
    /// device memory of x; arithmetic stays f32. Needs SHADER_F16 on the GPU path.
    F16,
    /// f64 storage and arithmetic for positions, gradients and values. Needs SHADER_F64 on the
    /// GPU path (Mesa's lavapipe has it; many laptop GPUs do not).
    F64,
}

impl Precision {
    /// Parses `f16`, `f32` or `f64`.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "f16" => Ok(Precision::F16),
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            other => Err(Error::invalid("state", "one of f16, f32, f64", other)),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F16 => "f16",
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Rounds `v` to the storage precision (identity for f32 and f64).
    pub fn round(self, v: f32) -> f32 {
        match self {
            Precision::F16 => half::f16::from_f32(v).to_f32(),
            _ => v,
        }
    }

    /// Bytes per stored coordinate.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F16 => 2,
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }

    /// The smallest positive normal number of the storage format: below it a coordinate is
    /// subnormal and loses relative precision.
    pub fn min_normal(self) -> f64 {
        match self {
            Precision::F16 => 6.103515625e-5,
            Precision::F32 => f64::from(f32::MIN_POSITIVE),
            Precision::F64 => f64::MIN_POSITIVE,
        }
    }
}
