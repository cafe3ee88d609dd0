//! [`ObjectiveSpec`]: a built-in objective as data (serde: `{"name": "octopus", "dim": 5, ...}`),
//! and how it is built. Its names, defaults, data names and dimension rules are the catalogue's
//! ([`super::catalogue`]); this file holds what serde needs, one variant per objective, and the
//! arm that builds each.

use super::catalogue::{self, CATALOGUE, Given};
use super::data::{self, DataSource};
use super::dataset;
use super::{Activation, DegenerateQuartic, ExprSpec, Expression, LinearNetwork, Loss, MatrixFactorization, Mlp, Objective, Octopus, PhaseRetrieval, Quartic, Rosenbrock, ToySaddle};

/// The linear network's default depth, for serde.
fn two() -> usize {
    2
}

/// Whether a depth is the default (not written), for serde.
fn is_two(depth: &usize) -> bool {
    *depth == 2
}

/// The objectives the command line knows, as data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ObjectiveSpec {
    /// f(x, y) = x^2/2 + y^4/4 - y^2/2 (d = 2).
    ToySaddle,
    /// f(x) = 1/2 sum l_i x_i^2 + 1/4 sum x_i^4.
    Quartic {
        /// Eigenvalues l_i of the Hessian at 0; their count is the dimension.
        eigenvalues: Vec<f64>,
    },
    /// The octopus of Du et al. 2017.
    Octopus {
        /// Dimension (number of saddles).
        dim: usize,
        /// Region size tau (> 0).
        tau: f64,
        /// Negative curvature gamma at each saddle (> 0).
        gamma: f64,
        /// Positive curvature L (> 0).
        l: f64,
    },
    /// Phase retrieval with m Gaussian measurements.
    PhaseRetrieval {
        /// Dimension d.
        dim: usize,
        /// Measurements m.
        m: usize,
        /// Seed, or files [A (m x d), y (m)].
        data: DataSource,
    },
    /// Symmetric matrix factorization 1/2 ||U U^T - M||_F^2.
    MatrixFactorization {
        /// M is n x n.
        n: usize,
        /// U is n x rank.
        rank: usize,
        /// Eigenvalues of a generated M (default: 1 for the top rank, 0 below).
        spectrum: Option<Vec<f64>>,
        /// Seed, or one file: M.
        data: DataSource,
    },
    /// Linear network 1/2 ||A_1 ... A_L - Y||^2 + kappa/4 sum ||A_l||^4 (depth 2: W H).
    LinearNetwork {
        /// Rows of Y.
        n: usize,
        /// Inner width r (every hidden width).
        rank: usize,
        /// Columns of Y.
        p: usize,
        /// Regularization kappa (0: not self-bounding).
        kappa: f64,
        /// Weight matrices L >= 2 (absent in files from before depths: 2, and not written when 2,
        /// so that those files and fingerprints stay as they were).
        #[serde(default = "two", skip_serializing_if = "is_two")]
        depth: usize,
        /// Seed, or one file: Y.
        data: DataSource,
    },
    /// A smooth multilayer perceptron on a classification data set (d from the layer sizes).
    Mlp {
        /// The shipped data set (`wine`, `digits`) when `data` names no files or arrays.
        dataset: String,
        /// Layer sizes, inputs first and classes last (empty: inputs, 8, classes).
        layers: Vec<usize>,
        /// Hidden activation.
        activation: Activation,
        /// Loss.
        loss: Loss,
        /// L2 weight decay wd/2 sum ||W_l||^2 (>= 0).
        weight_decay: f64,
        /// The self-bounding regulariser kappa/4 sum ||W_l||^4 (>= 0).
        kappa: f64,
        /// Fraction of the rows held out (0: none).
        holdout: f64,
        /// Standardise the features by the training rows.
        standardise: bool,
        /// Seed of the holdout split.
        split_seed: u64,
        /// The shipped set (a seed, ignored), or files or arrays [X, y].
        data: DataSource,
    },
    /// An expression objective (its gradient derived).
    Expr(ExprSpec),
    /// 1/4 (x^2 - y^2)^2 (d = 2).
    DegenerateQuartic,
    /// Rosenbrock (d >= 2).
    Rosenbrock {
        /// Dimension.
        dim: usize,
    },
}

impl ObjectiveSpec {
    /// Names accepted by [`ObjectiveSpec::from_name`]: the catalogue's, in its order.
    pub const NAMES: [&'static str; CATALOGUE.len()] = catalogue::names();

    /// The objective `name` with default parameters, `dim` read by its dimension rule
    /// ([`catalogue::Dim`]; matrix-factorization and linear-network: n = dim, rank 2 (at most
    /// dim), p = dim; phase retrieval: m = 10 dim; mlp: `dim` unused, the layers set d).
    pub fn from_name(name: &str, dim: usize) -> Result<Self, crate::Error> {
        let entry = catalogue::entry(name)?;
        // A rule that takes no --dim (the network's layers) would refuse one: `dim` is unused.
        let dim = if matches!(entry.dim, catalogue::Dim::From(_)) { None } else { Some(dim) };
        entry.spec(&Given { dim, ..Given::default() })
    }

    /// The names of the data an objective takes from files or arrays, in order (phase-retrieval:
    /// A, y; matrix-factorization: M; linear-network: Y; mlp: X, y; others and unknown names:
    /// none).
    pub fn data_names(name: &str) -> &'static [&'static str] {
        catalogue::entry(name).map_or(&[], |e| e.data)
    }

    /// Builds the objective, checking its parameters and loading its data.
    pub fn build(&self) -> Result<std::sync::Arc<dyn Objective>, crate::Error> {
        use std::sync::Arc;
        let files = |src: &DataSource, names: &[&str]| -> Result<Option<Vec<data::Matrix>>, crate::Error> {
            // Optional names (`x_star?`) may be left off the end.
            let fits = |n: usize| (catalogue::required_data(names)..=names.len()).contains(&n);
            let shown = |n: &&str| n.trim_end_matches('?').to_string();
            let count = if catalogue::required_data(names) == names.len() { names.len().to_string() } else { format!("{} to {}", catalogue::required_data(names), names.len()) };
            match src {
                DataSource::Seed(_) => Ok(None),
                DataSource::Files(paths) if fits(paths.len()) => {
                    paths.iter().zip(names).map(|(p, n)| data::load_matrix(p, &shown(n))).collect::<Result<Vec<_>, _>>().map(Some)
                }
                DataSource::Arrays(arrays) if fits(arrays.len()) => {
                    arrays.iter().zip(names).map(|(m, n)| m.clone().checked(&shown(n))).collect::<Result<Vec<_>, _>>().map(Some)
                }
                DataSource::Arrays(arrays) => Err(crate::Error::invalid(
                    "data",
                    format!("{count} array(s): {}", names.join(", ")),
                    arrays.len(),
                )),
                DataSource::Files(paths) => Err(crate::Error::invalid(
                    "data files",
                    format!("{count} file(s): {}", names.join(", ")),
                    paths.len(),
                )),
            }
        };
        let seed = |src: &DataSource| if let DataSource::Seed(s) = src { *s } else { 0 };
        Ok(match self {
            ObjectiveSpec::ToySaddle => Arc::new(ToySaddle),
            ObjectiveSpec::Quartic { eigenvalues } => Arc::new(Quartic::new(eigenvalues.clone())?),
            ObjectiveSpec::Octopus { dim, tau, gamma, l } => Arc::new(Octopus::new(*dim, *tau, *gamma, *l)?),
            ObjectiveSpec::PhaseRetrieval { dim, m, data } => match files(data, Self::data_names("phase-retrieval"))? {
                Some(f) => {
                    let mut f = f.into_iter();
                    let (a, y) = (f.next().unwrap_or_else(|| unreachable!()), f.next().unwrap_or_else(|| unreachable!()));
                    Arc::new(PhaseRetrieval::from_data(a, y)?.with_solution(f.next())?)
                }
                None => Arc::new(PhaseRetrieval::generate(*dim, *m, seed(data))?),
            },
            ObjectiveSpec::MatrixFactorization { n, rank, spectrum, data } => match files(data, Self::data_names("matrix-factorization"))? {
                Some(mut f) => Arc::new(MatrixFactorization::from_matrix(f.remove(0), *rank)?),
                None => Arc::new(MatrixFactorization::generate(*n, *rank, spectrum.clone(), seed(data))?),
            },
            ObjectiveSpec::LinearNetwork { n, rank, p, kappa, depth, data } => Arc::new(
                match files(data, Self::data_names("linear-network"))? {
                    Some(mut f) => LinearNetwork::from_target(f.remove(0), *rank, *kappa)?,
                    None => LinearNetwork::generate(*n, *rank, *p, *kappa, seed(data))?,
                }
                .with_depth(*depth)?,
            ),
            ObjectiveSpec::Mlp { dataset, layers, activation, loss, weight_decay, kappa, holdout, standardise, split_seed, data } => {
                let set = match files(data, Self::data_names("mlp"))? {
                    Some(mut f) => {
                        let y = f.pop().unwrap_or_else(|| unreachable!());
                        let x = f.pop().unwrap_or_else(|| unreachable!());
                        let name = match data {
                            DataSource::Files(p) => p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(","),
                            _ => "arrays".into(),
                        };
                        dataset::Dataset::from_arrays(&name, x, y)?
                    }
                    None => dataset::Dataset::shipped(dataset)?,
                };
                let split = set.split(&dataset::SplitSpec { holdout: *holdout, seed: *split_seed, standardise: *standardise })?;
                let sizes = if layers.is_empty() { vec![split.train.x.cols, 8, split.train.classes as usize] } else { layers.clone() };
                Arc::new(Mlp::new(sizes, *activation, *loss, *weight_decay, *kappa, split.train)?.with_holdout(split.holdout)?)
            }
            ObjectiveSpec::Expr(spec) => Arc::new(Expression::new(spec)?),
            ObjectiveSpec::DegenerateQuartic => Arc::new(DegenerateQuartic),
            ObjectiveSpec::Rosenbrock { dim } => Arc::new(Rosenbrock::new(*dim)?),
        })
    }
}

