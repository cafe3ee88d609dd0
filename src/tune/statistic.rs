//! The statistic `tune` ranks candidates by, evaluated on a run's chains with integer weights,
//! so that the same code gives the point estimate (every weight 1) and each bootstrap resample
//! (weights = how often each chain was drawn).
//!
//! Chains are the resampling unit: a chain's stall episodes depend on each other (one chain's
//! later stalls follow its earlier escapes), chains do not. Every statistic is "smaller is
//! better" except accuracy; a value the run cannot give (no escape, a quantile never reached)
//! is infinitely bad, so it ranks last and never looks better by chance.

use crate::Error;
use crate::outcome::Final;
use crate::report::files::SavedRun;
use crate::stats::{Outcome, TimeTable};

/// What `tune` optimizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Statistic {
    /// Expected running time to one escape over saddle stalls: the total time of all saddle
    /// stalls (failures counted in full) over the escapes (COCO's success-probability ERT).
    Ert,
    /// The p-th quantile of the Kaplan-Meier escape-time distribution.
    Quantile(f64),
    /// The step by which this fraction of the chains rests at a second-order stationary point.
    Sosp(f64),
    /// The mean final value f over the chains that did not diverge.
    Loss,
    /// The mean held-out accuracy (training accuracy without held-out rows): networks only.
    Accuracy,
}

impl Statistic {
    /// Parses `ert`, `quantile:P`, `sosp:FRACTION`, `loss` or `accuracy`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let allowed = "ert, quantile:P (0 < P < 1), sosp:FRACTION (0 < FRACTION <= 1), loss or accuracy";
        let fraction = |s: &str, top_open: bool| s.parse::<f64>().ok().filter(|p| *p > 0.0 && (*p < 1.0 || (!top_open && *p == 1.0)));
        let s = match text.split_once(':') {
            None if text == "ert" => Statistic::Ert,
            None if text == "loss" => Statistic::Loss,
            None if text == "accuracy" => Statistic::Accuracy,
            Some(("quantile", p)) => Statistic::Quantile(fraction(p, true).ok_or_else(|| Error::invalid("statistic", allowed, text))?),
            Some(("sosp", p)) => Statistic::Sosp(fraction(p, false).ok_or_else(|| Error::invalid("statistic", allowed, text))?),
            _ => return Err(Error::invalid("statistic", allowed, text)),
        };
        Ok(s)
    }

    /// The name as parsed (tune.csv's and the plots' label).
    pub fn name(&self) -> String {
        match self {
            Statistic::Ert => "ert".into(),
            Statistic::Quantile(p) => format!("quantile:{p}"),
            Statistic::Sosp(p) => format!("sosp:{p}"),
            Statistic::Loss => "loss".into(),
            Statistic::Accuracy => "accuracy".into(),
        }
    }

    /// Whether larger values are better.
    pub fn maximize(&self) -> bool {
        matches!(self, Statistic::Accuracy)
    }

    /// The worst possible value (what a run that cannot give the statistic scores).
    pub fn worst(&self) -> f64 {
        if self.maximize() { f64::NEG_INFINITY } else { f64::INFINITY }
    }
}

/// One chain's part in the statistics.
#[derive(Clone, Debug, Default)]
struct Chain {
    /// (time, outcome) of each saddle-stall episode.
    stalls: Vec<(u32, Outcome)>,
    /// Step at which it came to rest at a second-order stationary point.
    sosp_at: Option<u32>,
    /// Final value (non-finite: diverged).
    f: f64,
    diverged: bool,
    precision_limited: bool,
    accuracy: Option<f64>,
}

/// A run reduced to what the statistics need, chain by chain (chain k of every candidate is
/// the same chain under common random numbers: the same seed, start and noise streams).
#[derive(Clone, Debug)]
pub struct Sample {
    chains: Vec<Chain>,
}

impl Sample {
    /// The run's chains, in chain order.
    pub fn of(run: &SavedRun) -> Self {
        let mut chains: Vec<Chain> = run
            .chains
            .iter()
            .zip(&run.finals)
            .enumerate()
            .map(|(i, (c, f))| Chain {
                stalls: Vec::new(),
                sosp_at: (*f == Final::Converged).then_some(c.t_stall),
                f: f64::from(c.f),
                diverged: *f == Final::Diverged,
                precision_limited: *f == Final::PrecisionLimited,
                accuracy: run.accuracy.get(i).and_then(|a| a.1.or(a.0)),
            })
            .collect();
        for e in run.episodes() {
            if let Some(c) = chains.get_mut(e.chain.wrapping_sub(run.first_chain) as usize) {
                if e.outcome.is_saddle_stall() {
                    c.stalls.push((e.time, e.outcome));
                }
            }
        }
        Sample { chains }
    }

    /// Chains in the run.
    pub fn len(&self) -> usize {
        self.chains.len()
    }

    /// Whether the run has no chains.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    /// The fraction of chains that diverged, and of those the float format held.
    pub fn failure_fractions(&self) -> (f64, f64) {
        let n = self.chains.len().max(1) as f64;
        let count = |p: fn(&Chain) -> bool| self.chains.iter().filter(|c| p(c)).count() as f64 / n;
        (count(|c| c.diverged), count(|c| c.precision_limited))
    }

    /// Escapes over all chains.
    pub fn escapes(&self) -> u64 {
        self.chains.iter().map(|c| c.stalls.iter().filter(|s| s.1 == Outcome::Escaped).count() as u64).sum()
    }

    /// Whether any chain reports an accuracy (a network objective's run).
    pub fn has_accuracy(&self) -> bool {
        self.chains.iter().any(|c| c.accuracy.is_some())
    }

    /// The statistic with chain k counted `weights[k]` times (`None`: each once).
    pub fn value(&self, stat: Statistic, weights: Option<&[u32]>) -> f64 {
        let w = |k: usize| weights.map_or(1, |w| w[k]);
        let weighted = || self.chains.iter().enumerate().filter(move |(k, _)| w(*k) > 0).map(move |(k, c)| (w(k), c));
        let v = match stat {
            Statistic::Ert => {
                let (mut time, mut escapes) = (0.0, 0u64);
                for (n, c) in weighted() {
                    time += f64::from(n) * c.stalls.iter().map(|s| f64::from(s.0)).sum::<f64>();
                    escapes += u64::from(n) * c.stalls.iter().filter(|s| s.1 == Outcome::Escaped).count() as u64;
                }
                if escapes > 0 { time / escapes as f64 } else { f64::NAN }
            }
            Statistic::Quantile(p) => {
                let mut table = TimeTable::default();
                for (n, c) in weighted() {
                    for &(t, o) in &c.stalls {
                        (0..n).for_each(|_| table.record(t, o));
                    }
                }
                table.kaplan_meier().quantile(p).map_or(f64::NAN, f64::from)
            }
            Statistic::Sosp(q) => {
                let total: u64 = weighted().map(|(n, _)| u64::from(n)).sum();
                let mut times: Vec<(u32, u32)> = weighted().filter_map(|(n, c)| c.sosp_at.map(|t| (t, n))).collect();
                times.sort_unstable();
                let need = (q * total as f64 - 1e-9).ceil().max(1.0) as u64;
                let mut seen = 0u64;
                times.into_iter().find_map(|(t, n)| {
                    seen += u64::from(n);
                    (seen >= need).then_some(f64::from(t))
                }).unwrap_or(f64::NAN)
            }
            Statistic::Loss => mean(weighted().filter(|(_, c)| !c.diverged && c.f.is_finite()).map(|(n, c)| (n, c.f))),
            Statistic::Accuracy => mean(weighted().filter_map(|(n, c)| c.accuracy.map(|a| (n, a)))),
        };
        if v.is_nan() { stat.worst() } else { v }
    }
}

/// The weighted mean of (weight, value) pairs; NaN when there are none.
fn mean(pairs: impl Iterator<Item = (u32, f64)>) -> f64 {
    let (s, n) = pairs.fold((0.0, 0.0), |(s, n), (w, v)| (s + f64::from(w) * v, n + f64::from(w)));
    if n > 0.0 { s / n } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(stalls: &[(u32, Outcome)], sosp_at: Option<u32>, f: f64) -> Chain {
        Chain { stalls: stalls.to_vec(), sosp_at, f, diverged: !f.is_finite(), ..Chain::default() }
    }

    #[test]
    fn statistics_and_their_weights() {
        use Outcome::*;
        let s = Sample {
            chains: vec![
                chain(&[(10, Escaped), (30, Escaped)], Some(50), 1.0),
                chain(&[(100, Censored)], None, 3.0),
                chain(&[(20, Escaped)], Some(25), f64::INFINITY),
            ],
        };
        // ERT: (10 + 30 + 100 + 20) / 3 escapes.
        assert_eq!(s.value(Statistic::Ert, None), 160.0 / 3.0);
        // Chain 1 twice, chain 0 not at all: (200 + 20) / 1.
        assert_eq!(s.value(Statistic::Ert, Some(&[0, 2, 1])), 220.0);
        // No escape at all: the worst value, never NaN.
        assert_eq!(s.value(Statistic::Ert, Some(&[0, 3, 0])), f64::INFINITY);
        // Kaplan-Meier over 4 stalls: escapes at 10, 20, 30 (risk sets 4, 3, 2): S = 3/4, 1/2, 1/4.
        assert_eq!(s.value(Statistic::Quantile(0.5), None), 20.0);
        assert_eq!(s.value(Statistic::Quantile(0.8), None), f64::INFINITY);
        // SOSP at 25 and 50: a third of the chains by 25, two thirds by 50, never all.
        assert_eq!(s.value(Statistic::Sosp(1.0 / 3.0), None), 25.0);
        assert_eq!(s.value(Statistic::Sosp(0.5), None), 50.0);
        assert_eq!(s.value(Statistic::Sosp(1.0), None), f64::INFINITY);
        assert_eq!(s.value(Statistic::Sosp(1.0), Some(&[2, 0, 1])), 50.0);
        // The diverged chain is left out of the loss; accuracy without a network is worst.
        assert_eq!(s.value(Statistic::Loss, None), 2.0);
        assert_eq!(s.value(Statistic::Accuracy, None), f64::NEG_INFINITY);
        assert_eq!(s.failure_fractions(), (1.0 / 3.0, 0.0));
        for bad in ["median", "quantile:1", "quantile:0", "sosp:1.5", "quantile:x", "ert:1"] {
            assert!(Statistic::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Statistic::parse("sosp:1").unwrap(), Statistic::Sosp(1.0));
    }
}
