//! # escapade
//!
//! Large ensembles of first-order optimizers (thousands to millions of independent chains) on the
//! GPU through wgpu compute shaders, to study how they escape saddle points.
//!
//! ```no_run
//! use escapade::{Experiment, BackendChoice, Init, MethodKind, ObjectiveSpec};
//! let objective = ObjectiveSpec::from_name("octopus", 5)?.build()?;
//! let report = Experiment::builder(objective)
//!     .method(MethodKind::Pgd)
//!     .chains(4096)
//!     .steps(2000)
//!     .seed(1)
//!     .init(Init::Uniform(1.0))
//!     .build()?
//!     .run(BackendChoice::Auto)?;
//! println!("{}", report.human_summary());
//! # Ok::<(), escapade::Error>(())
//! ```
//!
//! Data flow: [`Experiment`] (objective, method, ensemble, budget) -> a backend
//! ([`backend::gpu::GpuEngine`] or the CPU twin in [`backend::cpu`]) -> [`Report`] (counts,
//! survival statistics in [`stats`], files and plots in [`report`]), with host-side checks in
//! [`check`] (Hessian spectra, self-bounding verdicts, second-order certification) and
//! checkpoints in [`checkpoint`] so interrupted runs resume exactly.
//! Every rule exists twice, in WGSL (`shaders/`) and in Rust ([`kernel`], [`objective`]), and the
//! tests hold the two together.

#![warn(missing_docs)]

pub mod abi;
pub mod backend;
pub mod check;
pub mod checkpoint;
mod error;
pub mod escape;
pub mod experiment;
pub mod init;
pub mod kernel;
pub mod linalg;
pub mod method;
pub mod objective;
pub mod outcome;
pub mod report;
pub mod rng;
pub mod run;
pub mod stats;

pub use backend::BackendChoice;
pub use backend::gpu::{GpuContext, GpuEngine, GpuSettings};
pub use error::{Error, Result};
pub use experiment::{Experiment, Precision};
pub use init::Init;
pub use method::{Method, MethodKind, PgdParams, TheoryParams};
pub use objective::{Objective, ObjectiveSpec};
pub use report::Report;
pub use run::{Engine, Runner};
