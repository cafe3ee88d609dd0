//! Successive halving: the rungs' sizes, the chain-resampling bootstrap, and which candidates a
//! rung keeps.
//!
//! Rung k of R runs the survivors with the experiment's chains and steps divided by
//! `reduction^(R-1-k)`, so the last rung is the experiment as written and each rung is
//! `reduction` times longer and wider than the one before. A rung keeps its best
//! `floor(alive / reduction)` candidates (at least one), and also every other one that is not worse than the
//! k-th best with confidence: the paired bootstrap interval of the difference (the same chains
//! resampled for both, which common random numbers make a paired comparison) must lie wholly on
//! the worse side of 0 for a candidate to go. docs/theory.md ("Tuning") says what that
//! guarantees.

use super::statistic::{Sample, Statistic};
use crate::Error;
use crate::rng::{philox4x32_10, seed_key};

/// The rungs: chains and steps of each.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// How much each rung grows chains and steps, and shrinks the field.
    pub reduction: u32,
    /// (chains, steps) per rung, the last the experiment's own.
    pub rungs: Vec<(u32, u32)>,
}

/// The fewest chains a first rung runs: fewer give intervals too wide to drop anything.
pub const MIN_CHAINS: u32 = 16;

impl Schedule {
    /// The schedule for `candidates` candidates over an experiment of `chains` x `steps`:
    /// `rungs` rungs, or (None) enough that about one candidate reaches the last
    /// (1 + ceil(log_reduction candidates)), as many as keep the first rung at `MIN_CHAINS`
    /// chains (or the experiment's, if fewer) and at least one step.
    pub fn new(chains: u32, steps: u32, candidates: usize, reduction: u32, rungs: Option<u32>) -> Result<Self, Error> {
        if !(2..=100).contains(&reduction) {
            return Err(Error::invalid("reduction", "an integer from 2 to 100", reduction));
        }
        // Saturating: a scale past u32 shrinks every count to 1, which `fits` then refuses.
        let scale = |k: u32| u64::from(reduction).checked_pow(k).and_then(|v| u32::try_from(v).ok()).unwrap_or(u32::MAX);
        let shrink = |n: u32, k: u32| n.div_ceil(scale(k));
        let fits = |r: u32| r <= 32 && shrink(chains, r - 1) >= MIN_CHAINS.min(chains) && steps / scale(r - 1) >= 1;
        let r = match rungs {
            Some(r) if r == 0 || !fits(r) => {
                let most = (1..=32).take_while(|&r| fits(r)).last().unwrap_or(1);
                return Err(Error::invalid("rungs", format!("an integer from 1 to {most} (the first rung needs {} chains and 1 step)", MIN_CHAINS.min(chains)), r));
            }
            Some(r) => r,
            None => {
                let mut want = 1;
                while (u64::from(reduction).pow(want - 1) as f64) < candidates as f64 && fits(want + 1) {
                    want += 1;
                }
                want
            }
        };
        let rungs = (0..r).map(|k| (shrink(chains, r - 1 - k), steps.div_ceil(scale(r - 1 - k)))).collect();
        Ok(Schedule { reduction, rungs })
    }

    /// How many of `alive` candidates a rung keeps at least: floor(alive / reduction), at
    /// least 1 (and at most, but for the ones it cannot tell from the k-th best).
    pub fn keep(&self, alive: usize) -> usize {
        (alive / self.reduction as usize).max(1)
    }
}

/// How the intervals are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bootstrap {
    /// Resamples of the chains.
    pub resamples: u32,
    /// Two-sided confidence of each interval, in (0, 1).
    pub confidence: f64,
    /// Seed of the resampling (the experiment's: a tune is deterministic for its seed).
    pub seed: u64,
}

impl Bootstrap {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), Error> {
        if !(20..=100_000).contains(&self.resamples) {
            return Err(Error::invalid("bootstrap", "an integer from 20 to 100000", self.resamples));
        }
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            return Err(Error::invalid("confidence", "a number in (0.5, 1)", self.confidence));
        }
        Ok(())
    }

    /// Resample `b`'s weights over `chains` chains at rung `rung`: how often each chain was
    /// drawn (`chains` draws with replacement). A function of (seed, rung, chains, b) only, the
    /// same for every candidate of the rung, which is what makes the comparisons paired; made
    /// when needed, so that memory stays one vector of `chains` counts however many resamples.
    pub fn weights(&self, rung: u32, chains: usize, b: u32) -> Vec<u32> {
        let key = seed_key(self.seed ^ 0x7475_6e65_0000_0000);
        let mut w = vec![0u32; chains];
        for i in 0..chains.div_ceil(4) {
            let r = philox4x32_10([i as u32, b, rung, 0x7475_6e65], key);
            for x in r.iter().take(chains - 4 * i) {
                w[((u64::from(*x) * chains as u64) >> 32) as usize] += 1;
            }
        }
        w
    }
}

/// A candidate's statistic at a rung: the estimate, its interval and the resampled values.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// The statistic on the run's chains.
    pub value: f64,
    /// The interval's ends (percentile bootstrap).
    pub lower: f64,
    /// See `lower`.
    pub upper: f64,
    /// The statistic on each resample (for the paired comparisons).
    pub resampled: Vec<f64>,
}

impl Scored {
    /// Scores `sample` under `stat` with rung `rung`'s resamples of `boot`.
    pub fn of(sample: &Sample, stat: Statistic, boot: &Bootstrap, rung: u32) -> Self {
        let resampled: Vec<f64> = (0..boot.resamples).map(|b| sample.value(stat, Some(&boot.weights(rung, sample.len(), b)))).collect();
        let (lower, upper) = interval(&resampled, boot.confidence);
        Scored { value: sample.value(stat, None), lower, upper, resampled }
    }
}

/// The percentile interval of `values` (infinities sort to their ends).
fn interval(values: &[f64], confidence: f64) -> (f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v.get(((p * (v.len() as f64 - 1.0)).round() as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(f64::NAN);
    let tail = (1.0 - confidence) / 2.0;
    (at(tail), at(1.0 - tail))
}

/// `a - b` in the "worse" direction (positive: a is worse), with equal infinities equal.
pub fn worse(stat: Statistic, a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    if stat.maximize() { b - a } else { a - b }
}

/// The order of candidates by rank: `(value, index)` pairs, the better value first, ties in the
/// grid's order (so a ranking is a function of the values alone).
pub fn rank(stat: Statistic, (a, i): (f64, usize), (b, j): (f64, usize)) -> std::cmp::Ordering {
    worse(stat, a, b).total_cmp(&0.0).then(i.cmp(&j))
}

/// The percentile interval, at `confidence`, of how much worse `a` is than `b` over the
/// rung's resamples (positive: worse; the same chains resampled for both, so paired).
pub fn paired_difference(stat: Statistic, a: &Scored, b: &Scored, confidence: f64) -> (f64, f64) {
    let diffs: Vec<f64> = a.resampled.iter().zip(&b.resampled).map(|(&x, &y)| worse(stat, x, y)).collect();
    interval(&diffs, confidence)
}

/// When a rung drops a candidate ranked below its k-th best.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// Confidence of the paired intervals, in (0.5, 1).
    pub confidence: f64,
    /// Differences smaller than this fraction of the k-th best's value count as none (>= 0).
    pub indifference: f64,
}

/// What a rung decided for one candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Goes on to the next rung (or, at the last, was not the best).
    Kept,
    /// Among the best `keep`: goes on.
    Promoted,
    /// Dropped, and why.
    Dropped(String),
    /// The last rung's best.
    Best,
}

/// The rung's verdicts for candidates `scored` (each with its constraint failure, if any, and
/// its name in `names`), keeping `keep`; `last`: the last rung, where only the best is named.
pub fn decide(stat: Statistic, scored: &[(&Scored, Option<String>)], names: &[String], keep: usize, rule: Rule, last: bool) -> Vec<Verdict> {
    let Rule { confidence, indifference } = rule;
    let mut order: Vec<usize> = (0..scored.len()).filter(|&i| scored[i].1.is_none()).collect();
    order.sort_by(|&i, &j| rank(stat, (scored[i].0.value, i), (scored[j].0.value, j)));
    let mut verdicts: Vec<Verdict> = scored.iter().map(|(_, why)| Verdict::Dropped(why.clone().unwrap_or_default())).collect();
    if last {
        if let Some(&best) = order.first() {
            verdicts[best] = Verdict::Best;
            order[1..].iter().for_each(|&i| verdicts[i] = Verdict::Kept);
        }
        return verdicts;
    }
    let Some(&kth) = order.get(keep.min(order.len()).saturating_sub(1)) else { return verdicts };
    // The interval's lower end is its one-sided bound.
    let one_sided = 100.0 * (1.0 + confidence) / 2.0;
    let kth_value = scored[kth].0.value;
    for (place, &i) in order.iter().enumerate() {
        if place < keep {
            verdicts[i] = Verdict::Promoted;
            continue;
        }
        let (lower, _) = paired_difference(stat, scored[i].0, scored[kth].0, confidence);
        // Within the indifference zone a difference is no difference: a candidate that cannot be
        // better than the k-th best by more than it goes too, a tie with it included (0: only a
        // clearly worse one goes). Only about a finite k-th best: against one that gave no value
        // every candidate ties at 0, and an infinite zone would drop all but the first k in grid
        // order.
        let zoned = indifference > 0.0 && kth_value.is_finite();
        let zone = if zoned { indifference * kth_value.abs() } else { 0.0 };
        verdicts[i] = if lower > -zone || (zoned && lower == 0.0) {
            Verdict::Dropped(if lower > 0.0 {
                format!("worse than the rung's best {keep} (its last, {}) with {one_sided:.1}% confidence: paired difference >= {lower:.4e}", names[kth])
            } else {
                format!("not better than the rung's best {keep} (its last, {}) by more than the indifference zone {zone:.4e} with {one_sided:.1}% confidence", names[kth])
            })
        } else {
            Verdict::Kept
        };
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_the_factor_and_end_at_the_experiment() {
        let s = Schedule::new(2048, 900, 27, 3, None).unwrap();
        assert_eq!(s.rungs, vec![(76, 34), (228, 100), (683, 300), (2048, 900)]);
        assert_eq!(s.keep(27), 9);
        // Reductions whose powers pass u64 are refused, not wrapped.
        assert!(Schedule::new(2048, 900, 27, 16, Some(17)).is_err());
        assert!(Schedule::new(u32::MAX, u32::MAX, 27, 64, Some(12)).is_err());
        assert!(Schedule::new(2048, 900, 27, 100, Some(11)).is_err());
        // Too few chains for more rungs: the first rung keeps 16.
        assert_eq!(Schedule::new(64, 900, 27, 3, None).unwrap().rungs.len(), 2);
        assert!(Schedule::new(64, 900, 27, 3, Some(4)).is_err());
        assert!(Schedule::new(64, 900, 27, 1, None).is_err());
        assert_eq!(Schedule::new(64, 900, 1, 3, None).unwrap().rungs, vec![(64, 900)]);
    }

    #[test]
    fn resamples_draw_every_chain_count_once_per_draw_and_repeat_for_a_seed() {
        let b = Bootstrap { resamples: 50, confidence: 0.95, seed: 7 };
        let w: Vec<Vec<u32>> = (0..50).map(|k| b.weights(1, 103, k)).collect();
        assert!(w.iter().all(|w| w.iter().sum::<u32>() == 103));
        assert_eq!(w[7], b.weights(1, 103, 7));
        assert_ne!(w[7], b.weights(2, 103, 7));
        assert_ne!(w[7], w[8]);
        // Each chain is drawn about once per resample on average.
        let mean0 = w.iter().map(|w| f64::from(w[0])).sum::<f64>() / 50.0;
        assert!((0.5..1.6).contains(&mean0), "{mean0}");
    }

    const RULE: Rule = Rule { confidence: 0.95, indifference: 0.0 };

    #[test]
    fn an_indifference_zone_drops_ties_and_near_ties_only() {
        let at = |value: f64| Scored { value, lower: value, upper: value, resampled: (0..100).map(|b| value + 0.01 * (b % 7) as f64).collect() };
        let (a, b, tie, near) = (at(10.0), at(20.0), at(20.0), at(20.1));
        let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let rows = [(&a, None), (&b, None), (&tie, None), (&near, None)];
        // Without a zone an exact tie and a near tie stay (neither is worse with confidence)...
        let v = decide(Statistic::Ert, &rows, &names, 2, RULE, false);
        assert_eq!(v[2], Verdict::Kept);
        // ... with 1% of 20 = 0.2 both go; one that may be 5 better than the 2nd best stays.
        let zone = Rule { confidence: 0.95, indifference: 0.01 };
        let v = decide(Statistic::Ert, &rows, &names, 2, zone, false);
        assert!(matches!(&v[2], Verdict::Dropped(w) if w.contains("indifference")), "{:?}", v[2]);
        assert!(matches!(&v[3], Verdict::Dropped(_)), "{:?}", v[3]);
        // Against a k-th best that gave no value, the zone drops nothing: ties at infinity stay.
        let none = at(f64::INFINITY);
        let v = decide(Statistic::Ert, &[(&a, None), (&none, None), (&none, None), (&none, None)], &names, 2, zone, false);
        assert_eq!(v[2..], [Verdict::Kept, Verdict::Kept]);
        let wide = Scored { value: 20.1, lower: 15.0, upper: 25.0, resampled: (0..100).map(|b| 20.1 + 5.0 * ((b % 10) as f64 - 4.5) / 4.5).collect() };
        let v = decide(Statistic::Ert, &[(&a, None), (&b, None), (&wide, None)], &names, 2, zone, false);
        assert_eq!(v[2], Verdict::Kept, "{v:?}");
    }

    #[test]
    fn a_rung_keeps_what_it_cannot_tell_apart_and_drops_what_is_clearly_worse() {
        let scored = |value: f64, spread: f64| Scored { value, lower: value - spread, upper: value + spread, resampled: (0..100).map(|b| value + spread * ((b % 10) as f64 - 4.5) / 4.5).collect() };
        // Paired resamples: candidate 2 moves with candidate 1 (same chains), a constant 1 worse.
        let (a, b, c, d) = (scored(10.0, 0.5), scored(20.0, 8.0), scored(21.0, 8.0), scored(100.0, 1.0));
        let rows = [(&a, None), (&b, None), (&c, None), (&d, None), (&a, Some("diverged 5% > 1%".to_string()))];
        let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let v = decide(Statistic::Ert, &rows, &names, 2, RULE, false);
        assert_eq!(v[0], Verdict::Promoted);
        assert_eq!(v[1], Verdict::Promoted);
        // 1 worse in every resample: dropped though the marginal intervals overlap.
        assert!(matches!(&v[2], Verdict::Dropped(w) if w.contains("its last, c1")), "{:?}", v[2]);
        assert!(matches!(&v[3], Verdict::Dropped(_)));
        assert_eq!(v[4], Verdict::Dropped("diverged 5% > 1%".into()));
        // Unpaired noise of the same size: the difference's interval straddles 0, kept.
        let e = Scored { resampled: c.resampled.iter().rev().cloned().collect(), ..c.clone() };
        let v = decide(Statistic::Ert, &[(&a, None), (&b, None), (&e, None)], &names, 2, RULE, false);
        assert_eq!(v[2], Verdict::Kept);
        // Maximizing: the larger wins the last rung.
        let v = decide(Statistic::Accuracy, &[(&a, None), (&b, None)], &names, 1, RULE, true);
        assert_eq!(v, vec![Verdict::Kept, Verdict::Best]);
    }
}
