//! Kernel families: how a shard's chains are laid onto the device. The engine (shards, resume,
//! checkpoints, pacing, the kernel cache: `driver`) is the same for every family; what differs is
//! behind [`Family`], and [`choose`] is the one place a family is picked, from the experiment and
//! the device (as burn picks a convolution strategy).
//!
//! [`PerInvocation`]: one invocation steps one chain, whose point, gradient and x~ live in the
//! invocation's private arrays, so d is bounded by what an invocation holds (256). [`Cooperative`]:
//! a workgroup steps one chain, its vectors in a storage buffer, each invocation a block of
//! coordinates, sums through workgroup memory; any d, for objectives with a cooperative form
//! ([`crate::objective::Objective::wgsl_lanes`]). Both compose the same chain logic
//! (`shaders/detector.wgsl`, `shaders/pieces.wgsl`) over their own coordinate work.

use super::shader::{Switches, WORKGROUP_SIZE, compose_checked, compose_cooperative_checked, defines};
use crate::abi::{COOPERATIVE_BINDINGS, KERNEL_BINDINGS};
use crate::experiment::Experiment;
use crate::layout::Binding;
use crate::method::Oracle;
use crate::precision::Precision;
use crate::Error;

/// A kernel family, by name: what [`super::GpuSettings::family`] may force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFamily {
    /// One invocation per chain (d <= 256).
    PerInvocation,
    /// A workgroup per chain (any d).
    Cooperative,
    /// One invocation per chain, its vectors in storage (any d; software adapters).
    Streamed,
}

/// What the engine needs from a kernel family.
pub(crate) trait Family: Sync {
    /// Its name, for reports and errors.
    fn name(&self) -> &'static str;
    /// Whether it runs `exp`, or why not.
    fn supports(&self, exp: &Experiment) -> Result<(), Error>;
    /// The composed, validated WGSL module for `exp` with `pending` events per chain per dispatch.
    fn source(&self, exp: &Experiment, pending: u32) -> Result<String, Error>;
    /// Entry points: the chains' initialisation, then the fused steps.
    fn entry_points(&self) -> [&'static str; 2] {
        ["init_chains", "step_chains"]
    }
    /// The module's bindings besides the objective's data, bound by name.
    fn bindings(&self) -> &'static [Binding];
    /// The objective's data as this family's module reads it.
    fn data(&self, exp: &Experiment) -> Vec<f32> {
        exp.objective.device().data()
    }
    /// Chains one workgroup steps.
    fn chains_per_workgroup(&self) -> u32;
    /// Bytes per chain of the family's own `work` buffer (0: it has none).
    fn work_bytes(&self, d: usize, precision: Precision) -> u64;
    /// Loop iterations one step of dimension `d` takes in one invocation (software adapters cap
    /// an invocation's loops: the pacer keeps steps per dispatch below the cap).
    fn loop_cost(&self, d: usize) -> u32;
    /// Where coordinate `i` of chain `c` of `n` (dimension `d`) sits in a points buffer
    /// (positions and x~).
    fn point_index(&self, c: usize, i: usize, n: usize, d: usize) -> usize;
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
        compose_checked(exp.objective.as_ref(), &exp.method, exp.precision, pending, Switches::of(exp))
    }
    fn bindings(&self) -> &'static [Binding] {
        &KERNEL_BINDINGS
    }
    fn chains_per_workgroup(&self) -> u32 {
        WORKGROUP_SIZE
    }
    fn work_bytes(&self, _d: usize, _precision: Precision) -> u64 {
        0
    }
    fn loop_cost(&self, d: usize) -> u32 {
        // Measured on lavapipe: a step of dimension d takes roughly 10 d + 20 iterations.
        10 * d as u32 + 20
    }
    fn point_index(&self, c: usize, i: usize, n: usize, _d: usize) -> usize {
        // Chain-major interleaved, x[i * n + c]: neighbouring invocations touch neighbouring
        // addresses (coalesced).
        i * n + c
    }
}

/// A workgroup per chain, its vectors in storage (`shaders/cooperative.wgsl`).
pub(crate) struct Cooperative;

/// One invocation per chain, its vectors in storage interleaved across chains
/// (`shaders/cooperative.wgsl` with one lane): no barriers and no sums across invocations, for
/// software adapters, which run neighbouring invocations in one SIMD instruction and switch
/// between them at every barrier.
pub(crate) struct Streamed;

impl Family for Streamed {
    fn name(&self) -> &'static str {
        "streamed"
    }
    fn supports(&self, exp: &Experiment) -> Result<(), Error> {
        Cooperative.supports(exp)
    }
    fn source(&self, exp: &Experiment, pending: u32) -> Result<String, Error> {
        compose_cooperative_checked(exp.objective.as_ref(), &exp.method, exp.precision, pending, Switches::of(exp), 1)
    }
    fn bindings(&self) -> &'static [Binding] {
        &COOPERATIVE_BINDINGS
    }
    fn data(&self, exp: &Experiment) -> Vec<f32> {
        exp.objective.device().data_lanes()
    }
    fn chains_per_workgroup(&self) -> u32 {
        WORKGROUP_SIZE
    }
    fn work_bytes(&self, d: usize, precision: Precision) -> u64 {
        Cooperative.work_bytes(d, precision)
    }
    fn loop_cost(&self, d: usize) -> u32 {
        PerInvocation.loop_cost(d)
    }
    fn point_index(&self, c: usize, i: usize, n: usize, d: usize) -> usize {
        PerInvocation.point_index(c, i, n, d)
    }
}

impl Cooperative {
    /// Invocations per chain: enough that each holds at most 16 coordinates, from 64 (a
    /// reduction's cost grows with the lanes) to 256 (WebGPU's guaranteed workgroup size).
    pub fn lanes(d: usize) -> u32 {
        (d.div_ceil(16).next_power_of_two() as u32).clamp(64, 256)
    }
}

impl Family for Cooperative {
    fn name(&self) -> &'static str {
        "cooperative"
    }
    fn supports(&self, exp: &Experiment) -> Result<(), Error> {
        let obj = exp.objective.as_ref();
        let Some(src) = obj.device().wgsl_lanes() else {
            return Err(crate::backend::beyond_gpu(obj));
        };
        if matches!(exp.method.oracle, Oracle::Minibatch { .. }) && !defines(&src, "objective_term_lanes") {
            return Err(Error::Unsupported(format!(
                "a minibatch oracle for {} at d = {} on the GPU: its cooperative form has no objective_term_lanes; use --backend cpu",
                obj.wgsl_origin(),
                obj.dim()
            )));
        }
        Ok(())
    }
    fn source(&self, exp: &Experiment, pending: u32) -> Result<String, Error> {
        let lanes = Self::lanes(exp.objective.dim());
        compose_cooperative_checked(exp.objective.as_ref(), &exp.method, exp.precision, pending, Switches::of(exp), lanes)
    }
    fn bindings(&self) -> &'static [Binding] {
        &COOPERATIVE_BINDINGS
    }
    fn data(&self, exp: &Experiment) -> Vec<f32> {
        exp.objective.device().data_lanes()
    }
    fn chains_per_workgroup(&self) -> u32 {
        1
    }
    fn work_bytes(&self, d: usize, precision: Precision) -> u64 {
        let real = if precision == Precision::F64 { 8 } else { 4 };
        4 * d.next_multiple_of(4) as u64 * real
    }
    fn loop_cost(&self, d: usize) -> u32 {
        // A lane's coordinates (about 10 iterations each, as per invocation) and the reductions
        // of a step (about four, each a pass over the lanes); the objective's own loops come on
        // top (the loop probe catches what this misses, and the driver then halves the steps).
        let lanes = Self::lanes(d);
        10 * d.div_ceil(lanes as usize) as u32 + 4 * lanes + 20
    }
    fn point_index(&self, c: usize, i: usize, _n: usize, d: usize) -> usize {
        // Chain-major: a workgroup's lanes read their chain's coordinates side by side.
        c * d + i
    }
}

/// The families, in the order they are preferred.
const FAMILIES: [(KernelFamily, &dyn Family); 3] =
    [(KernelFamily::PerInvocation, &PerInvocation), (KernelFamily::Cooperative, &Cooperative), (KernelFamily::Streamed, &Streamed)];

/// The family that runs `exp`: `forced`, or else the first of [`FAMILIES`] that supports it; the
/// refusal of the last one tried otherwise (for a large d, the cooperative family's reason). The
/// one place a family is chosen.
pub(crate) fn choose(exp: &Experiment, forced: Option<KernelFamily>) -> Result<&'static dyn Family, Error> {
    if exp.objective.batch().is_some() {
        // An embedder's function has no WGSL form: no family runs it.
        return Err(Error::Unsupported(format!("objective {} is a host function (a batched oracle): it runs on the CPU backend only, use --backend cpu or auto", exp.objective.name())));
    }
    let mut refusal = None;
    for (_, family) in FAMILIES.into_iter().filter(|(k, _)| forced.is_none_or(|f| f == *k)) {
        match family.supports(exp) {
            Ok(()) => return Ok(family),
            Err(e) => refusal = Some(e),
        }
    }
    Err(refusal.unwrap_or_else(|| Error::Unsupported("no GPU kernel family".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(name: &str, d: usize) -> Experiment {
        Experiment::builder(crate::objective::ObjectiveSpec::from_name(name, d).unwrap().build().unwrap()).chains(4).steps(2).build().unwrap()
    }

    #[test]
    fn the_family_is_chosen_by_dimension_and_refuses_what_it_cannot_hold() {
        assert_eq!(choose(&exp("quartic", MAX_PER_INVOCATION_DIM), None).unwrap().name(), "per-invocation");
        assert_eq!(choose(&exp("quartic", MAX_PER_INVOCATION_DIM + 1), None).unwrap().name(), "cooperative");
        assert_eq!(choose(&exp("quartic", 3), Some(KernelFamily::Cooperative)).unwrap().name(), "cooperative");
        let e = choose(&exp("quartic", MAX_PER_INVOCATION_DIM + 1), Some(KernelFamily::PerInvocation)).err().unwrap().to_string();
        assert!(e.contains("d = 257") && e.contains("--backend cpu"), "{e}");
        // Without a cooperative form (a custom WGSL file's), a large d is refused with the reason.
        let src = "fn objective(x: ptr<private, array<f32, D>>, g: ptr<private, array<f32, D>>) -> Eval {\n    return Eval(0.0, 0u, 1u);\n}\n";
        let custom = crate::objective::custom::WgslObjective::from_source(std::path::Path::new("q.wgsl"), src.into(), 300, None).unwrap();
        let e = choose(&Experiment::builder(std::sync::Arc::new(custom)).chains(4).steps(2).build().unwrap(), None).err().unwrap().to_string();
        assert!(e.contains("q.wgsl at d = 300") && e.contains("objective_lanes") && e.contains("no CPU twin"), "{e}");
        // Every point of every chain has its own place, in both layouts.
        let (n, d) = (5, 3);
        for f in [&PerInvocation as &dyn Family, &Cooperative] {
            let mut seen: Vec<usize> = (0..n).flat_map(|c| (0..d).map(move |i| f.point_index(c, i, n, d))).collect();
            seen.sort();
            assert_eq!(seen, (0..n * d).collect::<Vec<_>>());
        }
    }

    #[test]
    fn lanes_hold_at_most_16_coordinates_between_64_and_256() {
        for (d, lanes) in [(1, 64), (257, 64), (1024, 64), (1025, 128), (4096, 256), (8192, 256), (100_000, 256)] {
            assert_eq!(Cooperative::lanes(d), lanes, "d = {d}");
        }
    }
}
