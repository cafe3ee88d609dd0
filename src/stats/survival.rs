//! Escape-time survival of saddle stalls: Kaplan-Meier curves with Greenwood confidence bands,
//! quantiles read off the curve, success rate, expected running time and log-binned
//! histograms. The raw material is a [`TimeTable`] per label counting each [`Outcome`] at each
//! time; tables add up exactly, so the statistics of two disjoint sets of chains merge into those
//! of one run over all of them. Competing causes are in [`competing`](super::competing).

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use super::competing::{Episode, Outcome};

/// Episodes that ended at one time, by outcome, in the order of [`Outcome::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts(pub [u64; 5]);

impl Index<Outcome> for Counts {
    type Output = u64;
    fn index(&self, o: Outcome) -> &u64 {
        &self.0[o.index()]
    }
}

impl IndexMut<Outcome> for Counts {
    fn index_mut(&mut self, o: Outcome) -> &mut u64 {
        &mut self.0[o.index()]
    }
}

impl Counts {
    /// Saddle stalls: every outcome but converged (those in the risk set).
    pub fn saddle_stalls(&self) -> u64 {
        self.0.iter().sum::<u64>() - self[Outcome::Converged]
    }

    /// Saddle stalls ended by a cause: escaped, diverged or precision limited.
    pub fn ends(&self) -> u64 {
        self[Outcome::Escaped] + self[Outcome::Diverged] + self[Outcome::PrecisionLimited]
    }
}

/// Stall episodes by the time they ended (steps since the stall) and their outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeTable {
    /// time -> episodes that ended at that time, by outcome.
    pub at: BTreeMap<u32, Counts>,
}

impl TimeTable {
    /// Records an episode that ended with `outcome` after `t` steps.
    pub fn record(&mut self, t: u32, outcome: Outcome) {
        self.at.entry(t).or_default()[outcome] += 1;
    }

    /// Records an escape after `t` steps.
    pub fn event(&mut self, t: u32) {
        self.record(t, Outcome::Escaped);
    }

    /// Records a saddle stall still stalled when the budget ended, after `t` steps.
    pub fn censor(&mut self, t: u32) {
        self.record(t, Outcome::Censored);
    }

    /// Adds another table (a disjoint set of subjects).
    pub fn merge(&mut self, other: &TimeTable) {
        for (t, c) in &other.at {
            let e = self.at.entry(*t).or_default();
            for (a, b) in e.0.iter_mut().zip(c.0) {
                *a += b;
            }
        }
    }

    /// Number of episodes with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.at.values().map(|c| c[outcome]).sum()
    }

    /// Number of episodes of any outcome.
    pub fn subjects(&self) -> u64 {
        self.at.values().map(|c| c.0.iter().sum::<u64>()).sum()
    }

    /// Number of saddle stalls (all episodes but the converged ones).
    pub fn saddle_stalls(&self) -> u64 {
        self.at.values().map(Counts::saddle_stalls).sum()
    }

    /// Number of observed escapes.
    pub fn events(&self) -> u64 {
        self.count(Outcome::Escaped)
    }

    /// The Kaplan-Meier curve of escape over the saddle stalls with Greenwood variance: diverged,
    /// precision-limited and censored episodes leave the risk set at their time (after the
    /// escapes at that time); converged ones never enter it.
    pub fn kaplan_meier(&self) -> Curve {
        let mut at_risk = self.saddle_stalls();
        let (mut s, mut greenwood) = (1.0f64, 0.0f64);
        let mut points = Vec::new();
        for (&t, counts) in &self.at {
            let d = counts[Outcome::Escaped];
            if d > 0 {
                s *= 1.0 - d as f64 / at_risk as f64;
                if at_risk > d {
                    greenwood += d as f64 / (at_risk as f64 * (at_risk - d) as f64);
                }
                let se = s * greenwood.sqrt();
                points.push(CurvePoint { t, at_risk, events: d, survival: s, se, lower: (s - 1.96 * se).max(0.0), upper: (s + 1.96 * se).min(1.0) });
            }
            at_risk -= counts.saddle_stalls();
        }
        Curve { points }
    }

    /// Sum of the times of all saddle stalls (whatever their outcome) over the number of escapes:
    /// the expected running time to one escape when failed attempts are restarted (None without
    /// escapes).
    pub fn expected_running_time(&self) -> Option<f64> {
        let total: f64 = self.at.iter().map(|(t, c)| f64::from(*t) * c.saddle_stalls() as f64).sum();
        let events = self.events();
        (events > 0).then(|| total / events as f64)
    }

    /// Counts of observed escape times in logarithmic bins [2^(k/2), 2^((k+1)/2)), times >= 1
    /// (time 0 gets its own bin).
    pub fn log_histogram(&self) -> Vec<Bin> {
        let mut bins: BTreeMap<i32, u64> = BTreeMap::new();
        for (&t, c) in &self.at {
            let d = c[Outcome::Escaped];
            if d > 0 {
                let k = if t == 0 { -1 } else { (2.0 * f64::from(t).log2()).floor() as i32 };
                *bins.entry(k).or_default() += d;
            }
        }
        bins.into_iter()
            .map(|(k, count)| {
                let edge = |k: i32| if k < 0 { 0.0 } else { 2f64.powf(f64::from(k) / 2.0) };
                Bin { lo: edge(k), hi: if k < 0 { 1.0 } else { edge(k + 1) }, count }
            })
            .collect()
    }

    /// The statistics reports carry.
    pub fn summary(&self) -> SurvivalSummary {
        let km = self.kaplan_meier();
        let q = |p| km.quantile(p).map_or(Quantile::NotReached, Quantile::Steps);
        let (saddle_stalls, escapes) = (self.saddle_stalls(), self.events());
        SurvivalSummary {
            subjects: self.subjects(),
            escapes,
            converged: self.count(Outcome::Converged),
            diverged: self.count(Outcome::Diverged),
            precision_limited: self.count(Outcome::PrecisionLimited),
            censored: self.count(Outcome::Censored),
            saddle_stalls,
            success_rate: if saddle_stalls > 0 { escapes as f64 / saddle_stalls as f64 } else { 0.0 },
            median: q(0.5),
            p10: q(0.1),
            p90: q(0.9),
            reached: Reached { median: q(0.5) != Quantile::NotReached, p10: q(0.1) != Quantile::NotReached, p90: q(0.9) != Quantile::NotReached },
            expected_running_time: self.expected_running_time(),
            escape_cif: self.cumulative_incidence(Outcome::Escaped).points.last().map_or(0.0, |p| p.cif),
        }
    }
}

/// One step of a Kaplan-Meier curve.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CurvePoint {
    /// Time of the step.
    pub t: u32,
    /// Subjects at risk just before t.
    pub at_risk: u64,
    /// Escapes at t.
    pub events: u64,
    /// S(t).
    pub survival: f64,
    /// Standard error of S(t): Greenwood's, or chain-clustered from
    /// [`clustered_kaplan_meier`](super::competing::clustered_kaplan_meier).
    pub se: f64,
    /// Lower 95% band (S - 1.96 se, clipped at 0).
    pub lower: f64,
    /// Upper 95% band (clipped at 1).
    pub upper: f64,
}

/// A Kaplan-Meier curve: S = 1 before the first point, then the points' values.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Curve {
    /// Steps at each escape time.
    pub points: Vec<CurvePoint>,
}

impl Curve {
    /// S(t).
    pub fn survival(&self, t: u32) -> f64 {
        self.points.iter().take_while(|p| p.t <= t).last().map_or(1.0, |p| p.survival)
    }

    /// The p-quantile of the escape time: the first time with S(t) <= 1 - p (None: not reached).
    pub fn quantile(&self, p: f64) -> Option<u32> {
        self.points.iter().find(|pt| pt.survival <= 1.0 - p + 1e-12).map(|pt| pt.t)
    }
}

/// A quantile read off a survival curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantile {
    /// Reached at this many steps.
    Steps(u32),
    /// The curve never drops that low within the budget.
    NotReached,
}

/// A number or null in JSON, never a word: readers of summary.json get a numeric field, and
/// [`Reached`] says separately whether the curve dropped that low.
impl serde::Serialize for Quantile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Quantile::Steps(t) => s.serialize_u32(*t),
            Quantile::NotReached => s.serialize_none(),
        }
    }
}

/// Which quantiles the Kaplan-Meier curve reached within the budget (summary.json's `reached`;
/// an unreached quantile is null there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reached {
    /// The median.
    pub median: bool,
    /// The 10% quantile.
    pub p10: bool,
    /// The 90% quantile.
    pub p90: bool,
}

impl std::fmt::Display for Quantile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quantile::Steps(t) => write!(f, "{t}"),
            Quantile::NotReached => write!(f, "not reached"),
        }
    }
}

/// A histogram bin.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bin {
    /// Lower edge (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive).
    pub hi: f64,
    /// Escapes in the bin.
    pub count: u64,
}

/// Survival statistics of one group of stall episodes.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SurvivalSummary {
    /// Stall episodes of any outcome.
    pub subjects: u64,
    /// Of which escaped.
    pub escapes: u64,
    /// Of which converged to a second-order stationary point (not saddle stalls).
    pub converged: u64,
    /// Of which diverged while stalled (competing cause).
    pub diverged: u64,
    /// Of which held by the float format (competing cause).
    pub precision_limited: u64,
    /// Of which still stalled at a non-SOSP point when the budget ended.
    pub censored: u64,
    /// Saddle stalls: all but the converged episodes.
    pub saddle_stalls: u64,
    /// escapes / saddle stalls within the budget.
    pub success_rate: f64,
    /// Median escape time from the Kaplan-Meier curve.
    pub median: Quantile,
    /// 10% quantile.
    pub p10: Quantile,
    /// 90% quantile.
    pub p90: Quantile,
    /// Whether each quantile was reached (JSON: an unreached one is null, flagged false here).
    pub reached: Reached,
    /// Expected running time (total saddle-stall time / escapes).
    pub expected_running_time: Option<f64>,
    /// Aalen-Johansen cumulative incidence of escape at the last time (diverged and precision
    /// limited competing); 0 without saddle stalls.
    pub escape_cif: f64,
}

/// Survival tables per label, plus the merged whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SurvivalTables {
    /// One table per stall label.
    pub by_label: BTreeMap<u32, TimeTable>,
}

impl SurvivalTables {
    /// The tables of `episodes`, one per label.
    pub fn from_episodes(episodes: &[Episode]) -> Self {
        let mut t = SurvivalTables::default();
        for e in episodes {
            t.by_label.entry(e.label).or_default().record(e.time, e.outcome);
        }
        t
    }

    /// All labels together.
    pub fn overall(&self) -> TimeTable {
        let mut all = TimeTable::default();
        for t in self.by_label.values() {
            all.merge(t);
        }
        all
    }

    /// Adds the tables of a disjoint set of chains.
    pub fn merge(&mut self, other: &SurvivalTables) {
        for (label, t) in &other.by_label {
            self.by_label.entry(*label).or_default().merge(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook worked example: remission times (weeks) of the 21 leukemia patients on 6-MP
    /// (Freireich et al. 1963; Kleinbaum & Klein, "Survival Analysis", chapter 2), + = censored:
    /// 6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+.
    /// Published: S = .857 .807 .753 .690 .627 .538 .448 at t = 6 7 10 13 16 22 23, Greenwood
    /// SE .076 ... .135, median 23. Recomputed here by hand from the product-limit formula.
    #[test]
    fn kaplan_meier_and_greenwood_on_the_6mp_data() {
        let mut t = TimeTable::default();
        for time in [6, 6, 6, 7, 10, 13, 16, 22, 23] {
            t.event(time);
        }
        for time in [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35] {
            t.censor(time);
        }
        let km = t.kaplan_meier();
        // (time, at risk, events) by hand: censored subjects at a tied time are still at risk.
        let steps: [(u32, u32, u32); 7] = [(6, 21, 3), (7, 17, 1), (10, 15, 1), (13, 12, 1), (16, 11, 1), (22, 7, 1), (23, 6, 1)];
        let (mut s, mut gw) = (1.0f64, 0.0f64);
        for (p, &(time, n, d)) in km.points.iter().zip(&steps) {
            s *= 1.0 - f64::from(d) / f64::from(n);
            gw += f64::from(d) / f64::from(n * (n - d));
            assert_eq!((p.t, p.at_risk, p.events), (time, u64::from(n), u64::from(d)));
            assert!((p.survival - s).abs() < 1e-12 && (p.se - s * gw.sqrt()).abs() < 1e-12);
        }
        let published = [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448];
        for (p, want) in km.points.iter().zip(published) {
            assert!((p.survival - want).abs() < 5e-4, "S({}) = {} vs {want}", p.t, p.survival);
        }
        assert!((km.points[0].se - 0.076).abs() < 5e-4);
        assert!((km.points[6].se - 0.135).abs() < 1e-3);
        assert_eq!(km.quantile(0.5), Some(23));
        assert_eq!(km.survival(30), km.points[6].survival);
        let s = t.summary();
        assert_eq!((s.subjects, s.escapes, s.censored), (21, 9, 12));
        assert_eq!(s.median, Quantile::Steps(23));
        assert_eq!(s.p90, Quantile::NotReached);
        // In JSON an unreached quantile is null, flagged separately; never a word in a number.
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!((json["median"].as_u64(), json["p90"].is_null()), (Some(23), true));
        assert_eq!((json["reached"]["median"].as_bool(), json["reached"]["p90"].as_bool()), (Some(true), Some(false)));
        let total: u32 = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35].iter().sum();
        assert!((s.expected_running_time.unwrap() - f64::from(total) / 9.0).abs() < 1e-12);
    }

    #[test]
    fn quantiles_not_reached_and_merging() {
        let mut a = TimeTable::default();
        a.event(5);
        a.censor(100);
        a.censor(100);
        assert_eq!(a.summary().median, Quantile::NotReached);
        assert_eq!(a.summary().p10, Quantile::Steps(5));
        let mut b = TimeTable::default();
        b.event(7);
        b.event(5);
        let mut whole = TimeTable::default();
        for t in [5, 7, 5] {
            whole.event(t);
        }
        whole.censor(100);
        whole.censor(100);
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged, whole);
        assert_eq!(merged.kaplan_meier(), whole.kaplan_meier());
        let h = whole.log_histogram();
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 3);
        assert!(h.iter().all(|b| b.lo < b.hi));
    }

    /// Two disjoint sets of chains (even and odd ids) merge into exactly the whole run's tables,
    /// outcomes included, so every statistic of the merge is that of the whole.
    #[test]
    fn merging_disjoint_chains_reproduces_the_whole_run() {
        let episodes: Vec<Episode> = (0..200u32)
            .map(|i| Episode { chain: i / 5, label: i % 5, time: (i * 37) % 23, outcome: Outcome::ALL[(i as usize * 7) % 5] })
            .collect();
        let whole = SurvivalTables::from_episodes(&episodes);
        let (even, odd): (Vec<Episode>, Vec<Episode>) = episodes.iter().partition(|e| e.chain % 2 == 0);
        let mut merged = SurvivalTables::from_episodes(&odd);
        merged.merge(&SurvivalTables::from_episodes(&even));
        assert_eq!(merged, whole);
        assert_eq!(merged.overall().summary(), whole.overall().summary());
        let all = whole.overall();
        assert_eq!(all.subjects(), 200);
        for o in Outcome::ALL {
            assert_eq!(all.count(o), episodes.iter().filter(|e| e.outcome == o).count() as u64, "{}", o.name());
        }
        assert_eq!(all.saddle_stalls(), 200 - all.count(Outcome::Converged));
        let json = serde_json::to_string(&Outcome::PrecisionLimited).unwrap();
        assert_eq!(json, "\"precision_limited\"");
    }
}
