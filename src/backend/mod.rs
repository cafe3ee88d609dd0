//! Backends: the GPU engine and its CPU twin, and what both hand back.

pub mod cpu;
pub mod gpu;
pub(crate) mod pace;

use crate::escape::{ChainState, EscapeEvent};
use crate::experiment::Experiment;

/// Which backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// A hardware GPU adapter when one exists, else the CPU with a warning; a software adapter
    /// (lavapipe) only under [`BackendChoice::Gpu`].
    Auto,
    /// The GPU path on any adapter, software ones too; an error when none exists.
    Gpu,
    /// The CPU reference backend.
    Cpu,
}

impl BackendChoice {
    /// Parses `auto`, `gpu` or `cpu`.
    pub fn from_name(name: &str) -> Result<Self, crate::Error> {
        match name {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(crate::Error::invalid("backend", "one of auto, gpu, cpu", other)),
        }
    }
}

/// Which engine ran (for reports).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EngineInfo {
    /// "gpu" or "cpu".
    pub backend: String,
    /// The adapter (GPU runs; the first device's when there are several).
    pub adapter: Option<gpu::AdapterSummary>,
    /// The adapter of each device the chains were split over, in chain order (GPU runs).
    pub devices: Vec<String>,
}

impl EngineInfo {
    /// Where the run's memory lived (for `host_memory_estimate`).
    pub fn memory_place(&self) -> MemoryPlace {
        if self.backend == "cpu" { MemoryPlace::Cpu } else { MemoryPlace::gpu(self.adapter.as_ref()) }
    }

    /// The CPU backend.
    pub fn cpu() -> Self {
        EngineInfo { backend: "cpu".into(), adapter: None, devices: Vec::new() }
    }

    /// GPU engines, the chains split over them in this order.
    pub fn gpus(engines: &[gpu::GpuEngine]) -> Self {
        EngineInfo {
            backend: "gpu".into(),
            adapter: engines.first().and_then(|e| e.context().adapter.clone()),
            devices: engines.iter().map(|e| e.context().name().to_string()).collect(),
        }
    }
}

/// A snapshot after each dispatch (GPU) or batch of chains (CPU), for progress reporting. A run
/// split over several devices reports the devices' snapshots as one: counts summed, `t_end` the
/// chain-weighted mean over their shards in flight, so that [`Progress::work_done`] holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Steps every running chain of the current shard has reached.
    pub t_end: u32,
    /// The step budget.
    pub steps: u32,
    /// Chains in the ensemble.
    pub chains: u32,
    /// Chains in shards (GPU) or batches (CPU) already completed.
    pub chains_done: u32,
    /// Chains in the shard being stepped (0 when none is in flight).
    pub shard_chains: u32,
    /// Chains still stepping (in completed shards and the current one).
    pub running: u32,
    /// Certified chains so far.
    pub certified: u32,
    /// Diverged chains so far.
    pub diverged: u32,
    /// Escape events so far.
    pub events: usize,
    /// Violations the monitor found so far (`crate::monitor`; each condition at each step once).
    pub violations: u64,
}

/// What a backend hands back: per-chain records, final points, events and an optional trace.
#[derive(Clone, Debug, Default)]
pub struct RawRun {
    /// Per-chain bookkeeping, by global chain index.
    pub states: Vec<ChainState>,
    /// Final points, row-major: chain c's coordinates at `x[c * d .. (c + 1) * d]` (f64 holds
    /// every storage precision exactly).
    pub x: Vec<f64>,
    /// With the ball perturbation: each chain's x~, the point before its last kick (row-major as
    /// `x`); empty otherwise. A chain kicked in its current stall rests at x~, not at x.
    pub x_tilde: Vec<f64>,
    /// Escape events sorted by (chain, t_stall).
    pub events: Vec<EscapeEvent>,
    /// Traced positions, slot-major: `trace[(slot * trace_chains + chain) * d + i]` is
    /// coordinate i of chain `chain` at step `slot * every`.
    pub trace: Vec<f32>,
    /// Step dispatches issued (GPU); 0 on the CPU.
    pub dispatches: u32,
    /// Dispatches run again because chains had more escapes than one dispatch holds.
    pub overflow_recoveries: u32,
    /// Shards rerun with fewer steps per dispatch because the driver cut loops short.
    pub loop_limit_retries: u32,
    /// Shards the ensemble was split into (GPU).
    pub shards: u32,
    /// The GPU kernel family that ran the chains (`per-invocation`); empty on the CPU.
    pub kernel_family: String,
    /// Bytes allocated on the device (`gpu::memory::estimate`; the largest of a split run's
    /// devices); 0 on the CPU.
    pub device_memory_estimate: u64,
    /// Steps fused per dispatch, the most any dispatch took (GPU; adapted to the measured
    /// dispatch time unless set); 0 on the CPU.
    pub steps_per_dispatch: u32,
    /// Chain-steps a resumed run's checkpoint had already taken (0 for a fresh run): the
    /// throughput counts only the steps of this process.
    pub resumed_chain_steps: u64,
    /// Wall-clock seconds of the GPU engine's stepping: from the upload of the run's shared data
    /// to the read-back of its trace, every shard's buffers, dispatches, read-backs, progress
    /// and checkpoints included; kernel compilation left out (cached across runs). Summed over
    /// devices; 0 on the CPU.
    pub stepping_seconds: f64,
    /// Of `stepping_seconds`, the time the host was not blocked waiting for a step dispatch to
    /// end: encoding and submitting, mapping and copying out counters and events, the final
    /// read-back of states and points, progress and checkpoints. While dispatches are
    /// pipelined the device may be busy during part of it; it bounds from above the time the
    /// host made the device wait.
    pub host_seconds: f64,
    /// What the monitor found: the curvature bins and the violations (`crate::monitor`).
    pub monitor: crate::kernel::Tally,
    /// Set when the run stopped at a violation (`--on-violation stop`): where, in words.
    pub stopped: Option<String>,
}

/// Refuses labels escapade reserves: [`NEVER`](crate::escape::NEVER) marks "no label yet" in a
/// chain's record, so an objective that returns it (a custom WGSL one can) would read back as an
/// unlabelled chain, and its saved run or checkpoint as a damaged one.
pub(crate) fn check_labels<'a>(origin: &dyn Fn() -> String, states: impl IntoIterator<Item = &'a ChainState>, events: &[EscapeEvent]) -> Result<(), crate::Error> {
    use crate::escape::NEVER;
    let reserved = states.into_iter().any(|s| s.t > 0 && s.label == NEVER || s.stalled == 1 && s.stall_label == NEVER);
    if reserved || events.iter().any(|e| e.label == NEVER) {
        return Err(crate::Error::Shader(format!(
            "{}: fn objective returned label {NEVER}, which escapade reserves for \"no label\": return labels below {NEVER}",
            origin()
        )));
    }
    Ok(())
}

/// Chain-steps the chains of `states` have taken.
pub(crate) fn steps_taken(states: &[ChainState]) -> u64 {
    states.iter().map(|s| u64::from(s.t)).sum()
}

impl Progress {
    /// Chain-steps done so far (an upper bound: finished chains count as if they ran on).
    pub fn work_done(&self) -> u64 {
        u64::from(self.chains_done) * u64::from(self.steps) + u64::from(self.shard_chains) * u64::from(self.t_end)
    }

    /// Chain-steps in the whole run.
    pub fn work_total(&self) -> u64 {
        u64::from(self.chains) * u64::from(self.steps)
    }
}

impl RawRun {
    fn new(exp: &Experiment, steps_per_dispatch: u32) -> Self {
        RawRun {
            states: Vec::with_capacity(exp.chains as usize),
            steps_per_dispatch,
            ..Default::default()
        }
    }

    /// The point where chain `c` rests: x~ when it was kicked in its current stall episode (Jin
    /// et al. return x~; x is a perturbed point, however long ago the kick was), else its final x.
    pub fn resting_point(&self, c: usize, d: usize) -> &[f64] {
        let src = if self.rests_at_tilde(c) { &self.x_tilde } else { &self.x };
        &src[c * d..(c + 1) * d]
    }

    /// Whether chain `c` rests at x~ (see [`RawRun::resting_point`]).
    pub fn rests_at_tilde(&self, c: usize) -> bool {
        let st = &self.states[c];
        !self.x_tilde.is_empty() && st.running() && st.kicked_in_stall()
    }

    /// A checkpoint of this run so far: chains before `done` finished, `current` in flight.
    pub(crate) fn checkpoint(&self, done: u32, current: Option<crate::checkpoint::InFlightShard>) -> crate::checkpoint::Checkpoint {
        crate::checkpoint::Checkpoint {
            done,
            states: self.states.clone(),
            x: self.x.clone(),
            x_tilde: self.x_tilde.clone(),
            events: self.events.clone(),
            trace: self.trace.clone(),
            current,
            monitor: self.monitor.clone(),
        }
    }

    fn finish(&mut self) {
        self.events.sort_by_key(|e| (e.chain, e.t_stall));
    }

    /// The run of `exp` from the runs of parts of its chain range (each with its range; together
    /// they tile it in order): records, points and events in chain order, each traced chain's
    /// positions from the part that ran it, work counters summed. The result is the run one
    /// engine would have returned, since every draw is addressed by the global chain.
    pub(crate) fn join(exp: &Experiment, parts: Vec<(std::ops::Range<u32>, RawRun)>) -> RawRun {
        let d = exp.objective.dim();
        let mut out = RawRun::new(exp, parts.iter().map(|(_, p)| p.steps_per_dispatch).max().unwrap_or(0));
        out.trace = vec![0.0; exp.trace.map_or(0, |t| t.len(exp.steps, d))];
        for (range, part) in parts {
            if let Some(t) = exp.trace {
                for slot in 0..t.slots(exp.steps) {
                    for chain in range.start..range.end.min(t.chains) {
                        let at = (slot * t.chains as usize + chain as usize) * d;
                        if let (Some(dst), Some(src)) = (out.trace.get_mut(at..at + d), part.trace.get(at..at + d)) {
                            dst.copy_from_slice(src);
                        }
                    }
                }
            }
            out.states.extend(part.states);
            out.x.extend(part.x);
            out.x_tilde.extend(part.x_tilde);
            out.events.extend(part.events);
            out.dispatches += part.dispatches;
            out.overflow_recoveries += part.overflow_recoveries;
            out.loop_limit_retries += part.loop_limit_retries;
            out.shards += part.shards;
            out.kernel_family = part.kernel_family;
            out.device_memory_estimate = out.device_memory_estimate.max(part.device_memory_estimate);
            out.resumed_chain_steps += part.resumed_chain_steps;
            out.monitor.merge(&part.monitor);
            out.stopped = out.stopped.or(part.stopped);
            out.stepping_seconds += part.stepping_seconds;
            out.host_seconds += part.host_seconds;
        }
        out.finish();
        out
    }

    /// The fraction of stepping time the host spent outside waits for the device
    /// (`host_seconds / stepping_seconds`); None where nothing was stepped on a GPU.
    pub fn host_fraction(&self) -> Option<f64> {
        (self.stepping_seconds > 0.0).then(|| self.host_seconds / self.stepping_seconds)
    }

    /// Traced position of `chain` at step `slot * every` (None beyond the trace).
    pub fn trace_point(&self, exp: &Experiment, chain: u32, slot: usize) -> Option<&[f32]> {
        let t = exp.trace?;
        let d = exp.objective.dim();
        let base = (slot * t.chains as usize + chain as usize) * d;
        self.trace.get(base..base + d)
    }
}

/// Where a run's memory lives, for `report::memory::host_memory_estimate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryPlace {
    /// The CPU backend.
    Cpu,
    /// A GPU whose buffers live in its own memory.
    Gpu,
    /// A software adapter (lavapipe, llvmpipe): its "device" buffers are host memory too.
    SoftwareGpu,
}

impl MemoryPlace {
    /// A GPU run on `adapter`: a software adapter's buffers are host memory.
    pub fn gpu(adapter: Option<&gpu::AdapterSummary>) -> Self {
        if adapter.is_some_and(|a| a.is_software()) { MemoryPlace::SoftwareGpu } else { MemoryPlace::Gpu }
    }
}

/// Why no GPU kernel family runs `obj` at its dimension: one invocation holds d <= 256, and
/// beyond that the objective has no cooperative form; with the way out: the CPU backend, or for
/// a WGSL-only objective, which has no CPU twin, a smaller dimension or a cooperative form.
pub(crate) fn beyond_gpu(obj: &dyn crate::objective::Objective) -> crate::Error {
    let (d, max) = (obj.dim(), gpu::family::MAX_PER_INVOCATION_DIM);
    let why = format!("{} at d = {d} on the GPU: one invocation per chain holds d <= {max}, and it has no cooperative form (fn objective_lanes) for larger d", obj.wgsl_origin());
    crate::Error::Unsupported(if obj.cpu_twin() {
        format!("{why}: use --backend cpu")
    } else {
        format!("{why}, and a WGSL-only objective has no CPU twin to run it: use --dim {max} or less, or add fn objective_lanes (docs/adding-an-objective.md)")
    })
}

/// Why the GPU engine would refuse `exp` whatever the device (no kernel family runs it, or not
/// the `forced` one), or None.
pub(crate) fn gpu_refusal(exp: &crate::experiment::Experiment, forced: Option<gpu::KernelFamily>) -> Option<crate::Error> {
    gpu::family::choose(exp, forced).err()
}
