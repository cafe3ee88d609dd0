//! `escapade tune`'s parts that are data and arithmetic, not I/O: the search space
//! ([`space`]), the statistic and its chain-weighted evaluation ([`statistic`]), and successive
//! halving's rungs, bootstrap and decisions ([`halving`]); [`Row`] is one line of tune.csv.
//! The command line (`cli::tune`) runs the candidates through the same path as `run` and
//! `sweep` and writes the files.
//!
//! Candidates share common random numbers: every run has the experiment's seed, so chain k
//! starts at the same point and draws the same kicks and noise in every candidate, and a
//! rung's first chains are the previous rung's chains (a chain's draws depend on its seed and
//! index only). Comparisons between candidates are therefore paired, and two identical
//! candidates give identical statistics.

pub mod halving;
pub mod space;
pub mod statistic;

pub use halving::{Bootstrap, Rule, Schedule, Scored, Verdict};
pub use space::{Axis, Candidate, KEYS};
pub use statistic::{Sample, Statistic};

/// One line of tune.csv: a candidate (or one of the theory's choices) at a rung.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The rung, from 0.
    pub rung: usize,
    /// `c<index>` for a grid candidate, `theory:<name>` for the theory's choices.
    pub candidate: String,
    /// The tuned options' values, in the axes' order (the theory's: the median over chains of
    /// the values its rule gave).
    pub values: Vec<String>,
    /// Chains of the run.
    pub chains: u32,
    /// Steps of the run.
    pub steps: u32,
    /// The statistic's estimate and interval.
    pub scored: (f64, f64, f64),
    /// Fractions of chains diverged and precision-limited.
    pub failures: (f64, f64),
    /// Escapes over all chains.
    pub escapes: u64,
    /// promoted, kept, dropped, best or theory.
    pub verdict: &'static str,
    /// Why it was dropped (or how the theory compares with the best).
    pub why: String,
    /// The run's directory, relative to the tune's.
    pub dir: String,
}

impl Row {
    /// tune.csv's header for tuned keys `keys` and statistic `stat`.
    pub fn header(keys: &[String]) -> Vec<String> {
        let mut h = vec!["rung".to_string(), "candidate".to_string()];
        h.extend(keys.iter().cloned());
        h.extend(["chains", "steps", "chain_steps", "statistic", "value", "lower", "upper", "diverged_fraction", "precision_limited_fraction", "escapes", "verdict", "why", "dir"].map(String::from));
        h
    }

    /// The row's cells under [`Row::header`]; `stat` names the statistic. A value the run could
    /// not give (infinitely bad) is written `inf`/`-inf`, never left empty.
    pub fn cells(&self, stat: Statistic) -> Vec<String> {
        let num = |v: f64| if v.is_finite() { format!("{v:.6e}") } else { format!("{v}") };
        let mut c = vec![self.rung.to_string(), self.candidate.clone()];
        c.extend(self.values.iter().cloned());
        c.extend([
            self.chains.to_string(),
            self.steps.to_string(),
            (u64::from(self.chains) * u64::from(self.steps)).to_string(),
            stat.name(),
            num(self.scored.0),
            num(self.scored.1),
            num(self.scored.2),
            format!("{:.6}", self.failures.0),
            format!("{:.6}", self.failures.1),
            self.escapes.to_string(),
            self.verdict.to_string(),
            self.why.clone(),
            self.dir.clone(),
        ]);
        c
    }
}
