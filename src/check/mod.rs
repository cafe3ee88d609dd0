//! Self-bounding checks and second-order certification on the host: Hessian spectra at many
//! points ([`hessian`]), the empirical envelope rho1_hat(F) and its verdict ([`envelope`]), rho1
//! and rho2 fitted with a stated coverage ([`fits`]), and the checks a run reports
//! ([`run_checks`]).

/// The empirical self-bounding envelope and the checker's verdict.
pub mod envelope;
/// rho1 and rho2 fitted with a stated coverage, and read back from check.json.
pub mod fits;
/// Hessian spectra at many points (Hessian-vector products + batched Lanczos).
pub mod hessian;
/// Checks a run makes: certification of final points, conditions along the way.
pub mod run_checks;
