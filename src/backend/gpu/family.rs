//! Kernel families: how a shard's chains are laid onto the device. The engine (shards, resume,
//! checkpoints, pacing, the kernel cache: `driver`) is the same for every family; what differs is
//! behind [`Family`], and [`choose`] is the one place a family is picked, from the experiment and
//! the device (as burn picks a convolution strategy).
//!
//! Today there is one family, [`PerInvocation`]: one invocation steps one chain, whose point,
//! gradient and x~ live in the invocation's private arrays, so d is bounded by what an invocation
//! holds. A cooperative family for large d (a workgroup per chain, state in storage buffers,
//! reductions in workgroup memory) implements the same trait and gets a branch in [`choose`].

use super::shader::compose_checked;
use crate::abi::KERNEL_BINDINGS;
use crate::experiment::Experiment;
use crate::layout::Binding;
use crate::Error;

/// What the engine needs from a kernel family.
pub(crate) trait Family: Sync {
    /// Its name, for reports and errors.
    fn name(&self) -> &'static str;
    /// Whether it runs `exp`, or why not.
    fn supports(&self, exp: &Experiment) -> Result<(), Error>;
    /// The composed, validated WGSL module for `exp` with `pending` events per chain per dispatch.
    fn source(&self, exp: &Experiment, pending: u32) -> Result<String, Error>;
    /// Entry points: the chains' initialisation, then the fused steps.
    fn entry_points(&self) -> [&'static str; 2];
    /// The module's bindings besides the objective's data, bound by name.
    fn bindings(&self) -> &'static [Binding];
    /// Loop iterations one step of dimension `d` takes in one invocation (software adapters cap
    /// an invocation's loops: the pacer keeps steps per dispatch below the cap).
    fn loop_cost(&self, d: usize) -> u32;
    /// Where coordinate `i` of chain `c` of `n` sits in a points buffer (positions and x~).
    fn point_index(&self, c: usize, i: usize, n: usize) -> usize;
}

/// One invocation per chain, its state in private arrays (`shaders/kernel.wgsl`).
pub(crate) struct PerInvocation;

/// The largest dimension [`PerInvocation`] holds: its per-invocation arrays (point, gradient,
/// x~, a kick) stay small enough for every device's private memory and lavapipe's compiler.
pub const MAX_PER_INVOCATION_DIM: usize = 256;

impl Family for PerInvocation {
    fn name(&self) -> &'static str {
        "per-invocation"
    }
    fn supports(&self, exp: &Experiment) -> Result<(), Error> {
        if exp.objective.dim() > MAX_PER_INVOCATION_DIM {
            return Err(crate::backend::beyond_gpu(exp.objective.as_ref()));
        }
        Ok(())
    }
    fn source(&self, exp: &Experiment, pending: u32) -> Result<String, Error> {
        compose_checked(exp.objective.as_ref(), &exp.method, exp.precision, pending, exp.trace.is_some())
    }
    fn entry_points(&self) -> [&'static str; 2] {
        ["init_chains", "step_chains"]
    }
    fn bindings(&self) -> &'static [Binding] {
        &KERNEL_BINDINGS
    }
    fn loop_cost(&self, d: usize) -> u32 {
        // Measured on lavapipe: a step of dimension d takes roughly 10 d + 20 iterations.
        10 * d as u32 + 20
    }
    fn point_index(&self, c: usize, i: usize, n: usize) -> usize {
        // Chain-major interleaved, x[i * n + c]: neighbouring invocations touch neighbouring
        // addresses (coalesced).
        i * n + c
    }
}

/// The families, in the order they are preferred.
const FAMILIES: [&dyn Family; 1] = [&PerInvocation];

/// The family that runs `exp`: the first of [`FAMILIES`] that supports it, or the first one's
/// reason why not. The one place a family is chosen.
pub(crate) fn choose(exp: &Experiment) -> Result<&'static dyn Family, Error> {
    let mut refusal = None;
    for family in FAMILIES {
        match family.supports(exp) {
            Ok(()) => return Ok(family),
            Err(e) => refusal = refusal.or(Some(e)),
        }
    }
    Err(refusal.unwrap_or_else(|| Error::Unsupported("no GPU kernel family".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_is_chosen_by_dimension_and_refuses_what_it_cannot_hold() {
        let exp = |d| Experiment::builder(crate::objective::ObjectiveSpec::from_name("quartic", d).unwrap().build().unwrap()).chains(4).steps(2).build().unwrap();
        assert_eq!(choose(&exp(MAX_PER_INVOCATION_DIM)).unwrap().name(), "per-invocation");
        let e = choose(&exp(MAX_PER_INVOCATION_DIM + 1)).err().unwrap().to_string();
        assert!(e.contains("d = 257") && e.contains("--backend cpu"), "{e}");
        // Every point of every chain has its own place.
        let f = &PerInvocation;
        let (n, d) = (5, 3);
        let mut seen: Vec<usize> = (0..n).flat_map(|c| (0..d).map(move |i| f.point_index(c, i, n))).collect();
        seen.sort();
        assert_eq!(seen, (0..n * d).collect::<Vec<_>>());
    }
}
