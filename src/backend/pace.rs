//! Steps per dispatch (GPU) or per slice (CPU), paced by the measured time of each: long ones
//! amortise the host's per-dispatch cost, but a dispatch that runs for seconds trips the
//! watchdogs of desktop drivers (which reset the device), and on either backend long ones make
//! progress, Ctrl-C and checkpoints sluggish.

use std::time::Duration;

/// The time a dispatch aims at on a GPU: far below the ~2 s at which desktop drivers reset a
/// device, and half of 100 ms so that a dispatch running twice as slow as the last one measured
/// still ends within it; long enough that the host's per-dispatch work (submit, counter
/// read-back) stays a few percent.
pub const DISPATCH_TARGET: Duration = Duration::from_millis(50);

/// The time a dispatch aims at on a software adapter (lavapipe): no watchdog runs there, and
/// its per-dispatch cost is tens of ms, so longer dispatches keep that cost near 2%.
pub const SOFTWARE_DISPATCH_TARGET: Duration = Duration::from_secs(1);

/// Steps per dispatch or slice, adapted between them (results do not depend on it: every draw
/// is addressed by chain and step, tested).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacer {
    k: u32,
    /// The most steps a dispatch may take (the software adapters' loop limit, or a cut seen).
    max: u32,
    /// The time a dispatch aims at; None when the user fixed the steps per dispatch.
    target: Option<Duration>,
}

impl Pacer {
    /// Starts at `k` steps per dispatch, never above `max`, paced towards `target` (None: fixed).
    pub fn new(k: u32, max: u32, target: Option<Duration>) -> Self {
        let max = max.max(1);
        Pacer { k: k.clamp(1, max), max, target }
    }

    /// Steps the next dispatch takes.
    pub fn steps(&self) -> u32 {
        self.k
    }

    /// A dispatch of `steps` steps took `took`: scale the next towards the target, at most
    /// doubling or halving at once so one noisy measurement cannot swing it far. A dispatch cut
    /// short by the budget (fewer steps than planned) says as much per step.
    pub fn observed(&mut self, steps: u32, took: Duration) {
        let Some(target) = self.target.filter(|_| steps > 0) else { return };
        let per_step = took.as_secs_f64().max(1e-9) / f64::from(steps);
        let ideal = target.as_secs_f64() / per_step;
        let next = ideal.clamp(f64::from(self.k) / 2.0, f64::from(self.k) * 2.0);
        self.k = (next as u32).clamp(1, self.max);
    }

    /// The driver cut the kernel's loops short at `k` steps: halve, and never go back above.
    /// False when already at one step.
    pub fn cut(&mut self) -> bool {
        if self.k <= 1 {
            return false;
        }
        self.k /= 2;
        self.max = self.k;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_towards_the_target_in_bounded_moves() {
        let mut p = Pacer::new(100, 10_000, Some(DISPATCH_TARGET));
        // 100 steps in 10 ms: 500 would take 50 ms; one move at most doubles.
        p.observed(100, Duration::from_millis(10));
        assert_eq!(p.steps(), 200);
        p.observed(200, Duration::from_millis(20));
        assert_eq!(p.steps(), 400);
        p.observed(400, Duration::from_millis(40));
        assert_eq!(p.steps(), 500);
        // A slow dispatch (a watchdog risk) halves at once.
        p.observed(500, Duration::from_secs(2));
        assert_eq!(p.steps(), 250);
        // Never above the cap; a fixed pacer never moves.
        let mut capped = Pacer::new(8, 10, Some(DISPATCH_TARGET));
        capped.observed(8, Duration::from_millis(1));
        assert_eq!(capped.steps(), 10);
        let mut fixed = Pacer::new(7, 100, None);
        fixed.observed(7, Duration::from_secs(9));
        assert_eq!(fixed.steps(), 7);
    }

    #[test]
    fn a_cut_halves_and_lowers_the_ceiling() {
        let mut p = Pacer::new(64, 1000, Some(DISPATCH_TARGET));
        assert!(p.cut());
        assert_eq!(p.steps(), 32);
        p.observed(32, Duration::from_micros(1));
        assert_eq!(p.steps(), 32);
        let mut one = Pacer::new(1, 1, Some(DISPATCH_TARGET));
        assert!(!one.cut());
    }
}
