//! One step of one chain: the Rust twin of `shaders/kernel.wgsl`, operation for operation in f32.
//! Both backends run exactly this semantics; the GPU version is tested against it.

use crate::escape::{ChainState, EscapeEvent, NEVER, status};
use crate::objective::Objective;
use crate::rng::{self, Purpose};
use bytemuck::{Pod, Zeroable};

/// Parameters of a dispatch, laid out as the kernel's uniform block (80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct KernelParams {
    /// Chains in this shard.
    pub chains: u32,
    /// Global index of the shard's first chain (random streams are addressed by global index).
    pub chain_offset: u32,
    /// Chains step while t < t_end.
    pub t_end: u32,
    /// Capacity of the event buffer.
    pub event_capacity: u32,
    /// Seed, low word.
    pub seed_lo: u32,
    /// Seed, high word.
    pub seed_hi: u32,
    /// Minimum steps between perturbations.
    pub t_thres: u32,
    /// Certification window (0 = off).
    pub certify: u32,
    /// Step size.
    pub eta: f32,
    /// Perturbation radius (0 for GD).
    pub radius: f32,
    /// Stall threshold on ||grad f||.
    pub g_thres: f32,
    /// Escape threshold on the value drop.
    pub f_thres: f32,
    /// Init kind code (see [`crate::Init::code`]).
    pub init_kind: u32,
    /// Init scale.
    pub init_scale: f32,
    /// Chains (global indices 0..trace_chains) whose positions are traced.
    pub trace_chains: u32,
    /// Trace interval in steps (positions at t = 0, every, 2 every, ...); 0 = no trace.
    pub trace_every: u32,
    /// Always 2: trip count of the kernel's loop-limit probe (see `step_chains` in kernel.wgsl).
    pub loop_probe: u32,
    /// Padding to a 16-byte multiple.
    pub pad: [u32; 3],
}

impl KernelParams {
    /// The 64-bit seed.
    pub fn seed(&self) -> u64 {
        u64::from(self.seed_lo) | (u64::from(self.seed_hi) << 32)
    }
}

/// What a step asks of the loop around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep stepping.
    Continue,
    /// The chain is finished (certified or diverged).
    Done,
    /// An event did not fit the event buffer: the step was not taken and must be redone.
    Paused,
}

/// Evaluates at x: updates value, gradient norm and label in `st`, or marks the chain diverged.
fn evaluate(obj: &dyn Objective, x: &[f32], g: &mut [f32], st: &mut ChainState, t: u32) -> bool {
    let e = obj.eval_f32(x, g);
    if !e.in_domain {
        st.status = status::DIVERGED_DOMAIN;
        return false;
    }
    let mut gn2 = 0.0f32;
    for &gi in g.iter() {
        gn2 += gi * gi;
    }
    if !e.value.is_finite() || !gn2.is_finite() {
        st.status = status::DIVERGED_NONFINITE;
        return false;
    }
    st.f = e.value;
    st.gnorm = gn2.sqrt();
    if e.label != st.label {
        st.label = e.label;
        st.label_since = t;
    }
    true
}

/// Step `st.t` of global chain `chain`: detector, perturbation (when `perturbs`), gradient step.
/// `emit` stores an event and returns false when there is no room for it.
#[allow(clippy::too_many_arguments)]
pub fn step(
    obj: &dyn Objective,
    p: &KernelParams,
    perturbs: bool,
    chain: u32,
    x: &mut [f32],
    g: &mut [f32],
    st: &mut ChainState,
    emit: &mut dyn FnMut(EscapeEvent) -> bool,
) -> Step {
    let t = st.t;
    if !evaluate(obj, x, g, st, t) {
        return Step::Done;
    }
    if st.stalled == 1 && st.f <= st.f_stall - p.f_thres {
        let ev = EscapeEvent {
            chain,
            label: st.stall_label,
            t_stall: st.t_stall,
            escape_steps: t - st.t_stall,
            f_stall: st.f_stall,
            f_escape: st.f,
        };
        if !emit(ev) {
            return Step::Paused;
        }
        st.stalled = 0;
        st.escapes += 1;
    }
    if st.stalled == 1 && p.certify > 0 && t - st.t_stall >= p.certify {
        st.status = status::CERTIFIED;
        return Step::Done;
    }
    if st.gnorm <= p.g_thres {
        if st.stalled == 0 {
            st.stalled = 1;
            st.t_stall = t;
            st.f_stall = st.f;
            st.stall_label = st.label;
        }
        if perturbs && (st.t_noise == NEVER || t - st.t_noise > p.t_thres) {
            st.t_noise = t;
            let mut kick = vec![0.0f32; x.len()];
            rng::ball(p.seed(), chain, t, Purpose::Perturb, p.radius, &mut kick);
            for (xi, ki) in x.iter_mut().zip(&kick) {
                *xi += ki;
            }
            if !evaluate(obj, x, g, st, t) {
                return Step::Done;
            }
        }
    }
    for (xi, gi) in x.iter_mut().zip(g.iter()) {
        *xi -= p.eta * gi;
    }
    st.t = t + 1;
    Step::Continue
}
