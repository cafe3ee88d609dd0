//! The device memory a run takes, known before anything is allocated: every buffer the engine
//! creates for one shard at a time (`driver`), checked against what one binding may hold, so
//! that a run that cannot fit is refused with the numbers instead of failing in the driver.

use super::family::Family;
use super::GpuSettings;
use crate::abi::counter::LEN as COUNTERS;
use crate::escape::{ChainState, EscapeEvent};
use crate::experiment::Experiment;
use crate::kernel::KernelParams;
use crate::Error;

/// Bytes of each kind the run allocates on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceMemory {
    /// Chains in the largest shard.
    pub shard_chains: u32,
    /// Its chain buffers: positions, x~, records and the family's work vectors.
    pub chains: u64,
    /// The dispatch slots: parameters, counters, events and their mappable copies.
    pub slots: u64,
    /// The trace, the objective's data and the starting point, for the whole run.
    pub shared: u64,
}

impl DeviceMemory {
    /// All of it.
    pub fn total(&self) -> u64 {
        self.chains + self.slots + self.shared
    }
}

/// The memory `exp` takes with `family` on a device that binds at most `binding` bytes per
/// buffer, shards of at most `shard_cap` chains and the objective's data of `data_len` f32; the
/// first buffer beyond `binding` refused, naming it and the numbers.
pub fn estimate(exp: &Experiment, family: &dyn Family, settings: &GpuSettings, binding: u64, shard_cap: u32, data_len: usize, device: &str) -> Result<DeviceMemory, Error> {
    let d = exp.objective.dim() as u64;
    let refuse = |what: String, bytes: u64, way: &str| {
        Err(Error::TooLarge(format!("{what} takes {bytes} bytes in one buffer, and {device} binds at most {binding}: {way}")))
    };
    let data = data_len.max(1) as u64 * 4;
    if data > binding {
        return refuse(format!("the data of {}", exp.objective.name()), data, "use less data (--m, --dim) or a device with larger bindings");
    }
    let (point, work) = (d * exp.precision.bytes(), family.work_bytes(d as usize, exp.precision));
    if point.max(work) > binding {
        return refuse(format!("one chain at d = {d}"), point.max(work), "use --backend cpu");
    }
    let trace = exp.trace.map_or(0, |t| t.len(exp.steps, d as usize)) as u64 * 4;
    if trace > binding {
        return refuse("the trace".into(), trace, "record fewer chains or steps");
    }
    let n = u64::from(shard_cap.min(exp.chain_range().len() as u32).max(1));
    let tilde = if exp.keeps_tilde() { point } else { 0 };
    let chains = n * (point + tilde + std::mem::size_of::<ChainState>() as u64 + work);
    let event = std::mem::size_of::<EscapeEvent>() as u64;
    let capacity = n * u64::from(settings.pending());
    // Each slot: parameters, counters, events, and the mappable counters and head of events.
    let slot = std::mem::size_of::<KernelParams>() as u64 + 2 * COUNTERS as u64 * 4 + capacity * event + n.max(1024).min(capacity) * event;
    let init = exp.init.point_f32().len().max(1) as u64 * 4;
    Ok(DeviceMemory { shard_chains: n as u32, chains, slots: u64::from(settings.in_flight().max(1)) * slot, shared: trace + data + init })
}
