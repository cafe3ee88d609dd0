//! Initial-point distributions, sampled from each chain's own counter-based stream (purpose
//! `Init`, step 0), so a chain's start depends only on (seed, chain).

use crate::Error;
use crate::rng::{self, Purpose};

/// The kernels' code of [`Init::Points`] with a row per chain (`INIT_POINTS`).
pub const POINTS_CODE: u32 = 6;

/// How chains start.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "scale", rename_all = "kebab-case")]
pub enum Init {
    /// Every chain at the origin.
    Zero,
    /// x_i ~ N(0, sigma^2) independently.
    Normal(f64),
    /// x_i ~ Uniform[-h, h] independently.
    Uniform(f64),
    /// x uniform in the ball of the given radius.
    Ball(f64),
    /// Every chain at the given point (its length must be the dimension).
    Point(Vec<f64>),
    /// x uniform on the sphere of the given radius.
    Sphere(f64),
    /// Each chain at its own row of a matrix (`file:PATH`, or an array from Python): chain c
    /// starts at row c (a single row: every chain at it). Not serialized: a run records it as its
    /// spec, and its fingerprint the rows' digest.
    #[serde(skip)]
    Points(Points),
}

/// Starting points given per chain: a rows x d matrix and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    /// The file it was read from (`file:PATH` gives it back), or a name for an in-memory array.
    pub source: String,
    /// Rows (chains, or 1).
    pub rows: usize,
    /// The row-major values, rows x d.
    pub values: std::sync::Arc<Vec<f64>>,
}

impl Points {
    /// Rows x d values read from `source`; every value must be finite in f32 (the state's
    /// arithmetic).
    pub fn new(source: String, rows: usize, values: Vec<f64>) -> Result<Self, Error> {
        if let Some(i) = values.iter().position(|x| !(*x as f32).is_finite()) {
            let d = values.len() / rows.max(1);
            return Err(Error::invalid("init", "starting points finite in f32 (|x| < 3.4e38, no NaN)", format!("{source}: {:e} at row {}, column {}", values[i], i / d.max(1), i % d.max(1))));
        }
        Ok(Points { source, rows, values: std::sync::Arc::new(values) })
    }

    /// Columns.
    pub fn dim(&self) -> usize {
        self.values.len() / self.rows.max(1)
    }

    /// Chain `chain`'s row.
    pub fn row(&self, chain: u32) -> &[f64] {
        let (d, r) = (self.dim(), if self.rows == 1 { 0 } else { chain as usize });
        &self.values[r * d..(r + 1) * d]
    }
}

impl Init {
    /// Parses `zero`, `normal:SIGMA`, `uniform:HALFWIDTH`, `ball:RADIUS` (scale finite, >= 0) or
    /// `point:X1,X2,...` (`file:PATH` is read by `options::load_init`, which reads files).
    pub fn parse(spec: &str) -> Result<Self, Error> {
        const ALLOWED: &str = "zero, normal:SIGMA, uniform:HALFWIDTH, ball:RADIUS or sphere:RADIUS with a scale from 0 to 5e37 (starting points are drawn in f32, normal tails included), point:X1,X2,... (each below 3.4e38) or file:PATH (a chains x d .npy or .csv matrix)";
        let bad = || Error::invalid("init", ALLOWED, format!("{spec:?}"));
        if spec == "zero" {
            return Ok(Init::Zero);
        }
        if spec.starts_with("file:") {
            // The file is read where data files are (`options`, above the objectives' loaders).
            return Err(Error::invalid("init", "file:PATH read through the run's options (escapade run, experiment files, Python)", format!("{spec:?}")));
        }
        let (kind, scale) = spec.split_once(':').ok_or_else(bad)?;
        if kind == "point" {
            let v: Vec<f64> = scale.split(',').map(|s| s.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
            return if v.iter().all(|x| (*x as f32).is_finite()) { Ok(Init::Point(v)) } else { Err(bad()) };
        }
        let scale: f64 = scale.trim().parse().map_err(|_| bad())?;
        // A normal draw's tail reaches ~5.4 sigma: the scale leaves room for it in f32.
        if !(scale >= 0.0 && ((scale * 6.0) as f32).is_finite()) {
            return Err(bad());
        }
        match kind {
            "normal" => Ok(Init::Normal(scale)),
            "uniform" => Ok(Init::Uniform(scale)),
            "ball" => Ok(Init::Ball(scale)),
            "sphere" => Ok(Init::Sphere(scale)),
            _ => Err(bad()),
        }
    }

    /// The spec string that [`Init::parse`] reads back.
    pub fn spec(&self) -> String {
        match self {
            Init::Zero => "zero".into(),
            Init::Normal(s) => format!("normal:{s}"),
            Init::Uniform(h) => format!("uniform:{h}"),
            Init::Ball(r) => format!("ball:{r}"),
            Init::Point(v) => format!("point:{}", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")),
            Init::Sphere(r) => format!("sphere:{r}"),
            Init::Points(p) => format!("file:{}", p.source),
        }
    }

    /// (kind code, scale) as the kernel receives them; kind codes match `init_point` in kernel.wgsl.
    pub fn code(&self) -> (u32, f32) {
        match *self {
            Init::Zero => (0, 0.0),
            Init::Normal(s) => (1, s as f32),
            Init::Uniform(h) => (2, h as f32),
            Init::Ball(r) => (3, r as f32),
            Init::Point(_) => (4, 0.0),
            Init::Sphere(r) => (5, r as f32),
            // One row is Init::Point's case in the kernels.
            Init::Points(ref p) if p.rows == 1 => (4, 0.0),
            Init::Points(_) => (POINTS_CODE, 0.0),
        }
    }

    /// The point of [`Init::Point`], or the rows of [`Init::Points`], in f32 (empty otherwise),
    /// as the kernel's `init_points`.
    pub fn point_f32(&self) -> Vec<f32> {
        match self {
            Init::Point(v) => v.iter().map(|&x| x as f32).collect(),
            Init::Points(p) => p.values.iter().map(|&x| x as f32).collect(),
            _ => Vec::new(),
        }
    }

    /// Writes chain `chain`'s starting point into `x`.
    pub fn sample(&self, seed: u64, chain: u32, x: &mut [f32]) {
        let (_, scale) = self.code();
        match self {
            Init::Zero => x.fill(0.0),
            Init::Normal(_) => {
                rng::normals(seed, chain, 0, Purpose::Init, x);
                x.iter_mut().for_each(|v| *v *= scale);
            }
            Init::Uniform(_) => {
                for (i, v) in x.iter_mut().enumerate() {
                    let w = rng::draw(seed, chain, 0, Purpose::Init, i as u32 / 4)[i % 4];
                    *v = (2.0 * rng::uniform01(w) - 1.0) * scale;
                }
            }
            Init::Ball(_) => rng::ball(seed, chain, 0, Purpose::Init, scale, x),
            Init::Point(v) => x.iter_mut().zip(v).for_each(|(xi, &vi)| *xi = vi as f32),
            Init::Points(p) => x.iter_mut().zip(p.row(chain)).for_each(|(xi, &vi)| *xi = vi as f32),
            Init::Sphere(_) => rng::sphere(seed, chain, 0, Purpose::Init, scale, x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(Init::parse("zero").unwrap(), Init::Zero);
        assert_eq!(Init::parse("normal:0.5").unwrap(), Init::Normal(0.5));
        assert_eq!(Init::parse("uniform:1").unwrap(), Init::Uniform(1.0));
        assert_eq!(Init::parse("ball:2").unwrap().spec(), "ball:2");
        for bad in ["", "normal", "normal:x", "gauss:1", "uniform:-1", "ball:nan", "ball:inf"] {
            let e = Init::parse(bad).unwrap_err().to_string();
            assert!(e.contains("init") && e.contains("normal:SIGMA"), "{bad}: {e}");
        }
    }

    #[test]
    fn uniform_stays_in_its_box() {
        let mut x = [0.0f32; 7];
        for c in 0..1000 {
            Init::Uniform(2.5).sample(3, c, &mut x);
            assert!(x.iter().all(|v| v.abs() <= 2.5));
        }
    }
}
