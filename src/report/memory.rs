//! The host memory a run will need, estimated before anything is allocated (what the run keeps
//! per chain, the GPU path's buffers, the judging of final points), so that a run that would not
//! fit is refused up front; summary.json records it.

use crate::backend::MemoryPlace;
use crate::check::run_checks::{judge_batch, judge_bytes};
use crate::backend::gpu::shader::WORKGROUP_SIZE;
use crate::experiment::Experiment;

/// The host's threads, each running one workgroup of a software adapter at a time.
fn threads() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// An estimate of the peak host memory (resident set) of running `exp`, in bytes, before anything
/// is allocated; the run is refused when it exceeds the memory available. It assumes the worst
/// case for the judging of final points, every chain stalled at its end (each one then gets
/// Lanczos on its resting point, in batches whose bases of up to d vectors of d numbers take at
/// most 256 MiB), and counts the trace. Stepping and judging come one after the other: the peak
/// is the larger of the two on top of what the whole run keeps. Each term is a measured cost
/// per chain (BENCHMARKS.md, "Host memory known before it is spent"; `scripts/memory-check.sh`
/// prints the estimate against the measured peak RSS).
pub fn host_memory_estimate(exp: &Experiment, place: MemoryPlace) -> u64 {
    // In f64: sizes beyond u64 saturate (the cast) instead of wrapping into a small number.
    let d = exp.objective.dim() as f64;
    let chains = exp.chain_range().len() as f64;
    let f = (exp.precision.bytes() as f64).max(4.0);
    let points = if exp.keeps_tilde() { 2.0 } else { 1.0 };
    // The process with its libraries; a software adapter's driver keeps ~130 MB besides.
    // A software adapter runs a workgroup per thread, each invocation's private variables on its
    // stack: a custom objective's arrays count once per invocation that runs at once.
    let base = match place {
        MemoryPlace::SoftwareGpu => 170e6 + exp.objective.device().private_bytes() as f64 * f64::from(WORKGROUP_SIZE) * threads(),
        _ => 40e6,
    };
    // Per chain through the whole run: its record (and the report's copy), final point and x~ in
    // f64, the engine's working copy in the state's format, the report's small records.
    let state = std::mem::size_of::<crate::escape::ChainState>() as f64;
    let common = state * 2.0 + points * 8.0 * d + 2.0 * f * d + 20.0;
    // While stepping, on a GPU: the read-back copies (states, x, x~), and on a software adapter
    // the device buffers and their staging copies as well.
    let stepping = match place {
        MemoryPlace::Cpu => 0.0,
        MemoryPlace::Gpu => state + points * f * d,
        MemoryPlace::SoftwareGpu => 3.0 * (state + points * f * d),
    };
    // While judging (after stepping): per chain its resting point in f64, its spectrum and
    // verdict, its open episode; and, for one batch of chains at a time, the Lanczos working set
    // as if Lanczos ran all d steps.
    let batch = judge_batch(exp.objective.dim()) as f64;
    let judging = chains * (8.0 * d + 90.0) + chains.min(batch) * judge_bytes(exp.objective.dim()) as f64;
    let trace = exp.trace.map_or(0, |t| t.len(exp.steps, exp.objective.dim())) as f64 * 12.0;
    (base + chains * common + (chains * stepping).max(judging) + trace) as u64
}
