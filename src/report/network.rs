//! Where the seeds of a network objective end: each chain's training (and held-out) loss and
//! accuracy at its resting point, and their distribution over the ensemble, the numbers a seed
//! ensemble of one training setup is run for.

use super::files::ChainRecord;
use crate::backend::RawRun;
use crate::objective::{Objective, Scores};
use crate::stats::Summary;
use crate::stats::survival::Bin;
use rayon::prelude::*;
use serde::Serialize;

/// Bins of the accuracy histograms: equal widths over [0, 1].
pub const ACCURACY_BINS: usize = 20;

/// Each chain's scores at its resting point (the point chains.csv's f and label refer to:
/// x~ for a chain kicked in its last stall), or nothing for an objective that is not a classifier.
pub fn scores(objective: &dyn Objective, raw: &RawRun) -> Vec<Scores> {
    let Some(classifier) = objective.classifier() else { return Vec::new() };
    let d = objective.dim();
    (0..raw.states.len()).into_par_iter().map(|c| classifier.scores(raw.resting_point(c, d))).collect()
}

/// One score's distribution over chains.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Distribution {
    /// Mean, median, p10 and p90 over the chains with a finite score (`n` of them).
    #[serde(flatten)]
    pub summary: Summary,
    /// The smallest score.
    pub min: Option<f64>,
    /// The largest score.
    pub max: Option<f64>,
    /// Accuracies only: chains per bin of width 1/[`ACCURACY_BINS`] over [0, 1] (the last bin
    /// holds 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Vec<Bin>>,
}

impl Distribution {
    fn of(values: &[f64], accuracy: bool) -> Self {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let histogram = accuracy.then(|| {
            let mut counts = [0u64; ACCURACY_BINS];
            for v in &finite {
                counts[((v * ACCURACY_BINS as f64) as usize).min(ACCURACY_BINS - 1)] += 1;
            }
            let w = 1.0 / ACCURACY_BINS as f64;
            counts.iter().enumerate().map(|(i, &count)| Bin { lo: i as f64 * w, hi: (i + 1) as f64 * w, count }).collect()
        });
        Distribution {
            summary: Summary::of(&finite),
            min: finite.iter().copied().reduce(f64::min),
            max: finite.iter().copied().reduce(f64::max),
            histogram,
        }
    }
}

/// summary.json's `network`: the scores' distributions over the chains.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkBlock {
    /// Mean training loss (the data term of f).
    pub train_loss: Distribution,
    /// Training accuracy.
    pub train_accuracy: Distribution,
    /// Held-out loss (with --holdout).
    pub holdout_loss: Option<Distribution>,
    /// Held-out accuracy (with --holdout).
    pub holdout_accuracy: Option<Distribution>,
}

impl NetworkBlock {
    /// The block of `records` (a run's or merged shards'); None when they carry no scores.
    pub fn of(records: &[ChainRecord]) -> Option<Self> {
        let column = |f: fn(&ChainRecord) -> Option<f64>| -> Option<Vec<f64>> {
            let v: Vec<f64> = records.iter().filter_map(f).collect();
            (!v.is_empty()).then_some(v)
        };
        let train_loss = column(|r| r.train_loss)?;
        Some(NetworkBlock {
            train_loss: Distribution::of(&train_loss, false),
            train_accuracy: Distribution::of(&column(|r| r.train_accuracy)?, true),
            holdout_loss: column(|r| r.holdout_loss).map(|v| Distribution::of(&v, false)),
            holdout_accuracy: column(|r| r.holdout_accuracy).map(|v| Distribution::of(&v, true)),
        })
    }

    /// One line per score for the printed summary.
    pub fn lines(&self) -> Vec<String> {
        let show = |name: &str, d: &Distribution| {
            let s = &d.summary;
            let v = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.4}"));
            format!("{name}: median {}, p10 {}, p90 {}, min {}, max {} ({} chains)", v(s.median), v(s.p10), v(s.p90), v(d.min), v(d.max), s.n)
        };
        let mut out = vec![show("training loss", &self.train_loss), show("training accuracy", &self.train_accuracy)];
        if let Some(d) = &self.holdout_loss {
            out.push(show("held-out loss", d));
        }
        if let Some(d) = &self.holdout_accuracy {
            out.push(show("held-out accuracy", d));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_histogram_bins_every_finite_chain_once_and_one_goes_in_the_last_bin() {
        let d = Distribution::of(&[0.0, 0.049, 0.05, 0.5, 0.999, 1.0, f64::NAN], true);
        let h = d.histogram.unwrap();
        assert_eq!(h.len(), ACCURACY_BINS);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 6);
        assert_eq!((h[0].count, h[1].count, h[10].count, h[19].count), (2, 1, 1, 2));
        assert_eq!((d.min, d.max, d.summary.n), (Some(0.0), Some(1.0), 6));
        assert!(Distribution::of(&[0.3], false).histogram.is_none());
    }
}
