//! # escapade
//!
//! Large ensembles of first-order optimizers (thousands to millions of independent chains) on the
//! GPU through wgpu compute shaders, to study how they escape saddle points.
//!
//! ```no_run
//! use escapade::{Experiment, GpuEngine, Init, MethodKind, ObjectiveSpec, Runner};
//! let objective = ObjectiveSpec::from_name("octopus", 5)?.build()?;
//! let experiment = Experiment::builder(objective)
//!     .method(MethodKind::Pgd)
//!     .chains(4096)
//!     .steps(2000)
//!     .seed(1)
//!     .init(Init::Uniform(1.0))
//!     .build()?;
//! let engine = GpuEngine::new()?; // or Runner::cpu() for the CPU twin
//! let report = Runner::gpu(&engine).run(&experiment)?;
//! println!("{}", report.human_summary());
//! # Ok::<(), escapade::Error>(())
//! ```
//!
//! ## Layers (data flows up; no module depends on one above it)
//!
//! ```text
//! cli         the `escapade` command line (the binary's, and Python's `escapade` command)
//! run         Runner: experiment x engine x checkpointer x observer -> Report
//! options     the command line's options (flags, experiment files, tables) -> Experiment, Plan
//! report      typed results -> summary.json, CSV, Parquet, plots
//! analysis    outcome (verdicts at resting points), check (Hessian spectra through a
//!             Products trait, self-bounding checks), stats (survival, competing risks)
//! engines     backend::cpu, backend::gpu (context, driver, shader composition, hvp),
//!             checkpoint
//! chain       escape (chain state, events), abi (codes, bindings: the WGSL/Rust contract),
//!             kernel (the CPU twin of the kernel and its parameter record)
//! spec        experiment (+ defaults, checks), objective (+ its WGSL header), method, init,
//!             precision: validated data, no I/O, no GPU
//! base        error, rng (Philox), linalg, stats, layout (records shared with WGSL)
//! ```
//!
//! docs/architecture.md draws the same picture with the files, and shows how a new objective
//! (one `.rs`, one `.wgsl`, its lines in the catalogue) goes in; docs/theory.md explains what
//! the statistics measure. Every rule exists twice, in WGSL (`shaders/`, `src/objective/*.wgsl`)
//! and in Rust (`kernel.rs`, [`objective`]), and the tests hold the two together.

#![warn(missing_docs)]

// The command line (`cli`) names the library as the binary did, `escapade::`.
extern crate self as escapade;

pub(crate) mod abi;
pub(crate) mod backend;
pub mod check;
pub(crate) mod checkpoint;
pub mod cli;
mod error;
pub(crate) mod escape;
pub mod experiment;
pub(crate) mod init;
pub(crate) mod kernel;
pub(crate) mod layout;
pub mod linalg;
pub mod method;
pub mod monitor;
pub mod objective;
pub mod options;
pub mod outcome;
pub(crate) mod precision;
pub mod report;
pub mod rng;
pub mod run;
pub mod stats;
pub mod tune;

pub use backend::BackendChoice;
pub use checkpoint::CheckpointSpec;
pub use backend::gpu::{Devices, GpuContext, GpuEngine, GpuSettings, KernelFamily};
pub use error::{Error, Result};
pub use experiment::{Experiment, Precision};
pub use init::{Init, Points};
pub use method::{Method, MethodKind, PgdParams, TheoryParams};
pub use objective::{Objective, ObjectiveSpec};
pub use report::Report;
pub use run::{Engine, Runner};

/// For embedders and tests, beyond running experiments: the engines' raw results and progress,
/// the CPU engine itself, the device's Hessian-vector products, the device check of the random
/// stream, checkpoints, the records shared with the kernels and the Philox stream.
pub mod advanced {
    pub use crate::backend::cpu::run_resumable as run_cpu_engine;
    pub use crate::backend::gpu::hvp::{BareLoop, GpuHvp};
    pub use crate::backend::gpu::probe::{ProbeOut, philox_blocks};
    pub use crate::backend::gpu::AdapterSummary;
    pub use crate::backend::{EngineInfo, Progress, RawRun};
    pub use crate::checkpoint::{Checkpoint, Checkpointer, InFlightShard};
    pub use crate::escape::{ChainState, EscapeEvent, NEVER, Status, status};
}
