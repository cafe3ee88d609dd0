//! Per-chain state of the stall / escape / certify / diverge machine (docs/theory.md).
//! The same `#[repr(C)]` structs live on the device (`shaders/kernel.wgsl`), so both backends
//! hand the driver identical records.
//!
//! - A chain *stalls* when ||grad f(x_t)|| <= g_thres; it records t_stall, f_stall and the label.
//! - A stalled chain *escapes* when f(x_t) <= f_stall - f_thres: one [`EscapeEvent`] with
//!   escape_steps = t - t_stall; the chain is free again.
//! - Certification (optional, `certify` > 0) stops a chain. With PGD's ball perturbation it is
//!   Jin et al.'s stopping rule: the window counts from the last kick, and when
//!   t - t_noise == certify and f(x_t) > f(x~) - f_thres the chain stops and *returns x~*, the
//!   point before the kick. Without that perturbation the window counts from the stall.
//! - A chain whose value or gradient becomes non-finite, or that leaves the objective's domain,
//!   is *diverged* and stops; it is counted, never averaged.
//! - Every step records whether it changed the chain's stored state bit for bit: `t_limited` is
//!   the step from which the state has been *held* (unchanged), [`NEVER`] while it moves. A
//!   stall whose chain is held over its hold window at a non-stationary point is
//!   *precision-limited*: the float format holds it, and more budget cannot end the stall.
//! - What a stall that did not escape means (converged at a minimum, precision-limited, or
//!   censored by the budget) is decided after the run at the point where the chain rests
//!   (`crate::outcome`): x~ when the chain was kicked in its current stall, else x.

use crate::layout::shared_struct;

/// Sentinel for "never" in step fields (e.g. no perturbation yet).
pub const NEVER: u32 = u32::MAX;

/// Status codes stored in [`ChainState::status`].
pub mod status {
    /// Still stepping.
    pub const RUNNING: u32 = 0;
    /// Stalled for the certification window without escaping.
    pub const CERTIFIED: u32 = 1;
    /// Value or gradient became non-finite.
    pub const DIVERGED_NONFINITE: u32 = 2;
    /// Left the objective's domain.
    pub const DIVERGED_DOMAIN: u32 = 3;
}

shared_struct! {
    /// One chain's bookkeeping and its own parameters (80 bytes, identical on host and device).
    pub struct ChainState {
        /// Steps taken so far (the next step's index).
        pub t: u32,
        /// One of [`status`].
        pub status: u32,
        /// 1 while in a stall episode.
        pub stalled: u32,
        /// Step at which the current stall began.
        pub t_stall: u32,
        /// Value at the stall.
        pub f_stall: f32,
        /// Label at the stall.
        pub stall_label: u32,
        /// Step of the last perturbation, or [`NEVER`].
        pub t_noise: u32,
        /// Number of escapes so far.
        pub escapes: u32,
        /// Value at the last evaluated point (0 before the first evaluation).
        pub f: f32,
        /// Gradient norm at the last evaluated point.
        pub gnorm: f32,
        /// Label at the last evaluated point ([`NEVER`] before the first step).
        pub label: u32,
        /// Step at which the chain entered its current label.
        pub label_since: u32,
        /// The chain's step size (fixed, or from the self-bounding rule at its start).
        pub eta: f32,
        /// The chain's perturbation radius.
        pub radius: f32,
        /// The chain's stall threshold.
        pub g_thres: f32,
        /// The chain's escape threshold.
        pub f_thres: f32,
        /// The chain's minimum steps between perturbations.
        pub t_thres: u32,
        /// The chain's certification window (0 = off).
        pub certify: u32,
        /// f(x~): the value just before the last perturbation (Jin's stopping rule compares with it).
        pub f_tilde: f32,
        /// The step from which the stored state has not changed (x_{s+1} == x_s bit for bit at
        /// every step s since, kicks included), or [`NEVER`] when the last step changed it. Not
        /// sticky: a chain that moves again is no longer held.
        pub t_limited: u32,
        /// The monitor (`crate::monitor`): the value the chain's bounds hold below (the
        /// self-bounding rule's anchor F = f(x0) + margin; f(x0) under a fixed step).
        pub f_anchor: f32,
        /// The assumed smoothness the descent check uses: rho1(F) (0: no rho1 form, unchecked).
        pub ell: f32,
        /// The value at the point the last step was taken from (after a kick, the kicked point).
        pub m_f: f32,
        /// g·Δx of the last step (the gradient where it was taken, Δx as stored).
        pub m_gdx: f32,
        /// |Δx|² of the last step.
        pub m_dx2: f32,
        /// What the last step left to check (`monitor::pending`).
        pub m_kind: u32,
        /// Steps checked.
        pub n_checked: u32,
        /// Of them, steps the descent condition applied to.
        pub n_desc: u32,
        /// Steps that violated the descent condition.
        pub v_desc: u32,
        /// Steps that violated the curvature condition.
        pub v_curv: u32,
        /// Steps that violated the sublevel invariant.
        pub v_sub: u32,
        /// The first violated step ([`NEVER`]: none).
        pub v_t: u32,
        /// The conditions it violated (`monitor::condition` bits).
        pub v_kind: u32,
        /// The value it reached.
        pub v_f: f32,
        /// Its worst ratio (checked quantity over bound).
        pub v_ratio: f32,
        /// The worst ratio of every check so far.
        pub worst: f32,
        /// Step-size halvings by `--safeguard halve`.
        pub halvings: u32,
    }
}

/// How a chain's stepping ended: the typed view of [`ChainState::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Still stepping when the budget ended.
    Running,
    /// Stopped by the certification rule.
    Certified,
    /// Value or gradient became non-finite.
    DivergedNonfinite,
    /// Left the objective's domain.
    DivergedDomain,
}

impl Status {
    /// The status of code `c` ([`status`]).
    pub fn of(c: u32) -> Self {
        match c {
            status::RUNNING => Status::Running,
            status::CERTIFIED => Status::Certified,
            status::DIVERGED_NONFINITE => Status::DivergedNonfinite,
            _ => Status::DivergedDomain,
        }
    }

    /// Its code.
    pub fn code(self) -> u32 {
        match self {
            Status::Running => status::RUNNING,
            Status::Certified => status::CERTIFIED,
            Status::DivergedNonfinite => status::DIVERGED_NONFINITE,
            Status::DivergedDomain => status::DIVERGED_DOMAIN,
        }
    }

    /// The name chains.csv and Parquet use.
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Certified => "certified",
            Status::DivergedNonfinite => "diverged-nonfinite",
            Status::DivergedDomain => "diverged-domain",
        }
    }
}

impl ChainState {
    /// The typed status.
    pub fn state(&self) -> Status {
        Status::of(self.status)
    }

    /// A chain that has not stepped yet.
    pub fn fresh() -> Self {
        ChainState {
            t: 0,
            status: status::RUNNING,
            stalled: 0,
            t_stall: 0,
            f_stall: 0.0,
            stall_label: 0,
            t_noise: NEVER,
            escapes: 0,
            f: 0.0,
            gnorm: 0.0,
            label: NEVER,
            label_since: 0,
            eta: 0.0,
            radius: 0.0,
            g_thres: 0.0,
            f_thres: 0.0,
            t_thres: 0,
            certify: 0,
            f_tilde: 0.0,
            t_limited: NEVER,
            f_anchor: 0.0,
            ell: 0.0,
            m_f: 0.0,
            m_gdx: 0.0,
            m_dx2: 0.0,
            m_kind: 0,
            n_checked: 0,
            n_desc: 0,
            v_desc: 0,
            v_curv: 0,
            v_sub: 0,
            v_t: NEVER,
            v_kind: 0,
            v_f: 0.0,
            v_ratio: 0.0,
            worst: 0.0,
            halvings: 0,
        }
    }

    /// Whether the chain still steps.
    pub fn running(&self) -> bool {
        self.status == status::RUNNING
    }

    /// Whether the chain's stored state was held (unchanged) by its last step.
    pub fn limited(&self) -> bool {
        self.t_limited != NEVER
    }

    /// Steps over which the chain's stored state has been held, up to its last step (0 when it
    /// is moving).
    pub fn held_for(&self) -> u32 {
        if self.limited() { self.t.saturating_sub(self.t_limited) } else { 0 }
    }

    /// Whether the chain was kicked in its current stall episode: its stall is unresolved (no
    /// escape since the kick that answered it), its current point is a perturbed one, and the
    /// point it rests at is x~, where it stalled (Jin et al. return x~, not x_t), however long
    /// ago the kick was. A chain that escaped since is not resting.
    pub fn kicked_in_stall(&self) -> bool {
        self.stalled == 1 && self.t_noise != NEVER && self.t_noise >= self.t_stall
    }

    /// Whether the chain diverged (non-finite or out of domain).
    pub fn diverged(&self) -> bool {
        matches!(self.status, status::DIVERGED_NONFINITE | status::DIVERGED_DOMAIN)
    }
}

shared_struct! {
    /// One escape: the chain stalled at `t_stall` with value `f_stall` in region `label` and reached
    /// `f_escape <= f_stall - f_thres` after `escape_steps` steps (24 bytes, as on the device).
    #[derive(serde::Serialize)]
    pub struct EscapeEvent {
        /// Global chain index.
        pub chain: u32,
        /// Region label at the stall.
        pub label: u32,
        /// Step at which the stall began.
        pub t_stall: u32,
        /// Steps from the stall to the escape.
        pub escape_steps: u32,
        /// Value at the stall.
        pub f_stall: f32,
        /// Value at the escape.
        pub f_escape: f32,
    }
}
