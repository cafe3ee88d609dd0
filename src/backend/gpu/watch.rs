//! The monitor's side of the driver (`crate::monitor`): the tally of the shard in flight, merged
//! into the run's only when the shard's results stand (a shard whose loops the driver cut is
//! rerun from its start, and its dispatches' findings with it), and the stop at a violation
//! (`--on-violation stop`), as the CPU backend stops.

use crate::abi;
use crate::backend::RawRun;
use crate::escape::ChainState;
use crate::experiment::Experiment;
use crate::kernel::Tally;

/// What the dispatches of the shard in flight found.
#[derive(Default)]
pub struct ShardWatch {
    /// Their tallies, merged (a maximum per bin and a sum: the same however they were split).
    pub tally: Tally,
    /// Set once a violation asks the run to stop: no dispatch is submitted after it.
    pub stopping: bool,
}

impl ShardWatch {
    /// Merges a finished dispatch's counters, and asks the run to stop at its first violation
    /// under `--on-violation stop`.
    pub fn dispatched(&mut self, exp: &Experiment, out: &RawRun, counters: &[u32]) {
        self.tally.merge(&abi::tally(counters));
        self.stopping |= exp.stop_on_violation && self.violations(out) > 0;
    }

    /// The run's violations so far, this shard's included.
    pub fn violations(&self, out: &RawRun) -> u64 {
        out.monitor.violations + self.tally.violations
    }

    /// The run's tally so far, this shard's included (what a checkpoint keeps).
    pub fn merged(&self, out: &RawRun) -> Tally {
        let mut t = out.monitor.clone();
        t.merge(&self.tally);
        t
    }

    /// The shard's results stand: its tally goes into the run's, and a stop is recorded (the
    /// chains rest at `t_end`, the last dispatch read back, chains `lo..hi` of the run's `end`).
    pub fn finish(self, out: &mut RawRun, t_end: u32, lo: u32, hi: u32, end: u32) {
        out.monitor.merge(&self.tally);
        if self.stopping && out.stopped.is_none() {
            out.stopped = Some(crate::monitor::stop_note(t_end, lo, hi, end));
        }
    }
}

/// A checkpoint's shard in flight that this run does not continue (another split): its chains
/// run again from their starts, so the violations they had counted leave the run's count (a
/// chain's counts are what it added; the bins, maxima, are unchanged by the rerun).
pub fn dropped(out: &mut RawRun, states: &[ChainState]) {
    let counted: u64 = states.iter().map(crate::monitor::violations).sum();
    out.monitor.violations = out.monitor.violations.saturating_sub(counted);
}

/// The dispatch counters a shard that took no step reports: its chains' statuses after init.
pub fn resting(states: &[ChainState]) -> Vec<u32> {
    let mut c = vec![0u32; abi::counter::LEN];
    for s in states {
        c[status_counter(s)] += 1;
    }
    c
}

/// The counter a chain's status counts under.
pub fn status_counter(s: &ChainState) -> usize {
    use abi::counter::{CERTIFIED, DIVERGED, RUNNING};
    if s.running() {
        RUNNING
    } else if s.diverged() {
        DIVERGED
    } else {
        CERTIFIED
    }
}
