//! Running times of saddle stalls in the benchmarking community's terms (COCO, IOHprofiler):
//! the success probability, the mean times of successful and unsuccessful episodes, the
//! expected running time in its restart form, and the empirical cumulative distribution of the
//! running time (the fraction of saddle stalls escaped by time t).
//!
//! Every saddle stall is one run: it succeeds when it escapes, and fails when a competing cause
//! (divergence, the float format's hold) or the budget ends it first, after the time it ran.
//! Converged episodes are not saddle stalls and are left out, as in [`TimeTable`]'s statistics.

use super::competing::{Episode, Outcome};
use super::survival::TimeTable;

/// The running-time statistics of a group of saddle stalls (COCO/IOHprofiler's ERT and its
/// parts). Auger & Hansen (2005) write ERT = E\[RT_s\] + (1 - p_s) / p_s E\[RT_us\]: a run that fails
/// is restarted, costing its time each time. With p_s = s / n and the means over the s
/// successes and the n - s failures this is (sum of all times) / s, which is
/// [`TimeTable::expected_running_time`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RunningTime {
    /// Runs: the saddle stalls.
    pub runs: u64,
    /// Of which escaped (successes).
    pub successes: u64,
    /// p_s = successes / runs (None without runs).
    pub success_probability: Option<f64>,
    /// E\[RT_s\]: mean time of the escaped stalls (None without successes).
    pub mean_success: Option<f64>,
    /// E\[RT_us\]: mean time of the stalls that did not escape (None without failures).
    pub mean_failure: Option<f64>,
    /// ERT = E\[RT_s\] + (1 - p_s) / p_s E\[RT_us\]; None (infinite) without successes.
    pub ert: Option<f64>,
}

impl RunningTime {
    /// The statistics of `table`'s saddle stalls.
    pub fn of(table: &TimeTable) -> Self {
        let (mut runs, mut successes, mut time_s, mut time_us) = (0u64, 0u64, 0f64, 0f64);
        for (&t, c) in &table.at {
            let (s, n) = (c[Outcome::Escaped], c.saddle_stalls());
            runs += n;
            successes += s;
            time_s += f64::from(t) * s as f64;
            time_us += f64::from(t) * (n - s) as f64;
        }
        let failures = runs - successes;
        let p_s = (runs > 0).then(|| successes as f64 / runs as f64);
        let mean_success = (successes > 0).then(|| time_s / successes as f64);
        let mean_failure = (failures > 0).then(|| time_us / failures as f64);
        // COCO's form, term by term; without failures the second term is absent (not 0 * None).
        let ert = match (p_s, mean_success) {
            (Some(p), Some(ms)) => Some(ms + mean_failure.map_or(0.0, |mf| (1.0 - p) / p * mf)),
            _ => None,
        };
        RunningTime { runs, successes, success_probability: p_s, mean_success, mean_failure, ert }
    }
}

impl TimeTable {
    /// [`RunningTime`] of this table's saddle stalls.
    pub fn running_time(&self) -> RunningTime {
        RunningTime::of(self)
    }

    /// The empirical cumulative distribution of the running time to escape: at each escape time
    /// t, the fraction of saddle stalls escaped by t. Stalls that did not escape stay in the
    /// denominator, so the curve levels off at the success probability (IOHprofiler's and
    /// COCO's ECDF of runtimes for the one target "escaped"). Empty without escapes.
    pub fn ecdf(&self) -> Vec<(u32, f64)> {
        let n = self.saddle_stalls();
        let mut escaped = 0u64;
        let mut points = Vec::new();
        for (&t, c) in &self.at {
            let d = c[Outcome::Escaped];
            if d > 0 {
                escaped += d;
                points.push((t, escaped as f64 / n as f64));
            }
        }
        points
    }
}

/// [`TimeTable::ecdf`] of `episodes` (all labels together).
pub fn ecdf(episodes: &[Episode]) -> Vec<(u32, f64)> {
    let mut table = TimeTable::default();
    for e in episodes {
        table.record(e.time, e.outcome);
    }
    table.ecdf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(time: u32, outcome: Outcome) -> Episode {
        Episode { chain: 0, label: 0, time, outcome }
    }

    /// A table worked by hand: escapes at 2, 4, 4 and 10; failures (diverged at 3, precision
    /// limited at 7, censored at 20); a converged episode at 50 that is no run.
    fn hand_table() -> (TimeTable, Vec<Episode>) {
        let episodes = vec![
            ep(4, Outcome::Escaped),
            ep(2, Outcome::Escaped),
            ep(3, Outcome::Diverged),
            ep(10, Outcome::Escaped),
            ep(7, Outcome::PrecisionLimited),
            ep(4, Outcome::Escaped),
            ep(20, Outcome::Censored),
            ep(50, Outcome::Converged),
        ];
        let mut t = TimeTable::default();
        for e in &episodes {
            t.record(e.time, e.outcome);
        }
        (t, episodes)
    }

    #[test]
    fn coco_ert_equals_total_time_over_successes() {
        let (t, _) = hand_table();
        let r = t.running_time();
        assert_eq!((r.runs, r.successes), (7, 4));
        let p = 4.0 / 7.0;
        assert_eq!(r.success_probability, Some(p));
        // E\[RT_s\] = (2 + 4 + 4 + 10) / 4 = 5; E\[RT_us\] = (3 + 7 + 20) / 3 = 10.
        assert_eq!(r.mean_success, Some(5.0));
        assert_eq!(r.mean_failure, Some(10.0));
        // COCO: 5 + (3/7)/(4/7) * 10 = 12.5; the restart form: (20 + 30) / 4 = 12.5.
        let ert = r.ert.unwrap();
        assert!((ert - 12.5).abs() < 1e-12, "{ert}");
        assert!((ert - t.expected_running_time().unwrap()).abs() < 1e-12);
        assert!((ert - (5.0 + (1.0 - p) / p * 10.0)).abs() < 1e-12);
    }

    #[test]
    fn ert_without_successes_is_none_and_without_failures_the_mean() {
        let mut t = TimeTable::default();
        t.censor(30);
        t.record(5, Outcome::Diverged);
        t.record(9, Outcome::Converged);
        let r = t.running_time();
        assert_eq!((r.runs, r.successes, r.success_probability), (2, 0, Some(0.0)));
        assert_eq!((r.mean_success, r.mean_failure, r.ert), (None, Some(17.5), None));
        assert_eq!(t.expected_running_time(), None);
        let mut all = TimeTable::default();
        all.event(3);
        all.event(5);
        let r = all.running_time();
        assert_eq!((r.success_probability, r.mean_failure, r.ert), (Some(1.0), None, Some(4.0)));
        let r = TimeTable::default().running_time();
        assert_eq!((r.runs, r.success_probability, r.ert), (0, None, None));
    }

    #[test]
    fn ecdf_counts_failures_in_the_denominator() {
        let (t, episodes) = hand_table();
        // 7 saddle stalls: 1 escaped by 2, 3 by 4, 4 by 10; never above 4/7.
        let want = vec![(2, 1.0 / 7.0), (4, 3.0 / 7.0), (10, 4.0 / 7.0)];
        assert_eq!(ecdf(&episodes), want);
        assert_eq!(t.ecdf(), want);
        assert_eq!(ecdf(&[ep(5, Outcome::Censored)]), vec![]);
        assert_eq!(ecdf(&[ep(5, Outcome::Escaped), ep(1, Outcome::Converged)]), vec![(5, 1.0)]);
    }
}
