//! Stall episodes with competing outcomes: the Aalen-Johansen cumulative incidence of escape and
//! of each competing cause (diverged, precision limited), with the delta-method variance, and the
//! Kaplan-Meier curve with a chain-clustered (infinitesimal-jackknife) variance for pooled
//! episodes, several of which come from one chain.
//!
//! Conventions shared with [`survival`](super::survival): only saddle stalls (every outcome but
//! [`Outcome::Converged`]) are in the risk set; at a tied time, ends (escapes and competing
//! causes) happen before censorings, so a subject censored at t is still at risk at t.

use std::collections::HashMap;

use super::survival::{Curve, CurvePoint, TimeTable};

/// How a stall episode ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Left the saddle: the value dropped by f_thres, `time` steps after the stall.
    Escaped,
    /// Rests at a second-order stationary point (a minimum): not a saddle stall, so out of the
    /// risk set, but counted.
    Converged,
    /// Non-finite or out of the domain while stalled: a competing cause.
    Diverged,
    /// Held by the float format while stalled: a competing cause.
    PrecisionLimited,
    /// Still stalled at a non-SOSP point when the budget ended: right-censored.
    Censored,
}

impl Outcome {
    /// Every outcome, in the order [`Counts`](super::survival::Counts) indexes them.
    pub const ALL: [Outcome; 5] = [Outcome::Escaped, Outcome::Converged, Outcome::Diverged, Outcome::PrecisionLimited, Outcome::Censored];

    /// The snake_case name (as serialized).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Escaped => "escaped",
            Outcome::Converged => "converged",
            Outcome::Diverged => "diverged",
            Outcome::PrecisionLimited => "precision_limited",
            Outcome::Censored => "censored",
        }
    }

    /// Position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the episode is a saddle stall (in the risk set): all outcomes but Converged.
    pub fn is_saddle_stall(self) -> bool {
        self != Outcome::Converged
    }

    /// Whether the outcome ends a saddle stall by a cause (escape or a competing one), as
    /// opposed to censoring or not being a saddle stall.
    pub fn is_cause(self) -> bool {
        matches!(self, Outcome::Escaped | Outcome::Diverged | Outcome::PrecisionLimited)
    }
}

/// One stall episode of one chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Episode {
    /// The chain it belongs to (the cluster of dependent episodes).
    pub chain: u32,
    /// The stall region's label.
    pub label: u32,
    /// Steps from the stall to the outcome.
    pub time: u32,
    /// How it ended.
    pub outcome: Outcome,
}

/// One step of a cumulative incidence curve.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct IncidencePoint {
    /// Time of the step.
    pub t: u32,
    /// Saddle stalls at risk just before t.
    pub at_risk: u64,
    /// Ends by this curve's cause at t.
    pub events: u64,
    /// Cumulative incidence F(t) of the cause.
    pub cif: f64,
    /// Delta-method standard error of F(t).
    pub se: f64,
    /// Lower 95% band (F - 1.96 se, clipped at 0).
    pub lower: f64,
    /// Upper 95% band (clipped at 1).
    pub upper: f64,
    /// All-cause Kaplan-Meier S(t): no cause has ended the episode by t.
    pub survival: f64,
}

/// The cumulative incidence of one cause: F = 0 before the first point, then the points'
/// values. There is a point at every time any cause ends an episode, so the curves of all causes
/// share their times.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Incidence {
    /// The cause.
    pub cause: Outcome,
    /// Steps at each time a cause ends an episode.
    pub points: Vec<IncidencePoint>,
}

impl Incidence {
    /// F(t).
    pub fn at(&self, t: u32) -> f64 {
        self.points.iter().take_while(|p| p.t <= t).last().map_or(0.0, |p| p.cif)
    }

    /// 1 - F as a step curve (the fraction of saddle stalls this cause has not yet ended, bands
    /// mirrored), for plotting beside Kaplan-Meier curves: with no competing ends it is the
    /// Kaplan-Meier curve; with them it levels off where they took the rest.
    pub fn remaining(&self) -> Curve {
        let points = self
            .points
            .iter()
            .filter(|p| p.events > 0)
            .map(|p| CurvePoint { t: p.t, at_risk: p.at_risk, events: p.events, survival: 1.0 - p.cif, se: p.se, lower: 1.0 - p.upper, upper: 1.0 - p.lower })
            .collect();
        Curve { points }
    }
}

impl TimeTable {
    /// The Aalen-Johansen cumulative incidence of `cause` over the saddle stalls, the other causes
    /// competing and censored episodes right-censored:
    /// F(t) = sum_{t_j <= t} S(t_j-) d_cause(t_j) / n(t_j), S the all-cause Kaplan-Meier.
    ///
    /// Variance: the delta-method (Greenwood-type) estimator of Marubini & Valsecchi (1995,
    /// "Analysing Survival Data from Clinical Trials and Observational Studies"; SAS PROC LIFETEST
    /// ERROR=DELTA), treating the cause-specific hazards d_k/n at each time as multinomial:
    /// Var F(t) = sum_{t_j<=t} (F(t) - F(t_j))^2 d_j / (n_j (n_j - d_j))
    ///          + sum_{t_j<=t} S(t_j-)^2 d_kj (n_j - d_kj) / n_j^3
    ///          - 2 sum_{t_j<=t} (F(t) - F(t_j)) S(t_j-) d_kj / n_j^2,
    /// with d_j the ends by any cause. Without competing ends it is Greenwood's variance of 1 - S.
    /// An outcome that is no cause (converged, censored) gets a curve of zeros.
    pub fn cumulative_incidence(&self, cause: Outcome) -> Incidence {
        let mut at_risk = self.saddle_stalls();
        let (mut s, mut f) = (1.0f64, 0.0f64);
        // The squares in F(t) - F(t_j) expanded, so each point costs O(1): sums of w, w F_j, w F_j^2
        // (w = d/(n(n-d))), of the pure cause term, and of v, v F_j (v = S(t_j-) d_k / n^2).
        let (mut w0, mut w1, mut w2, mut pure, mut v0, mut v1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut points = Vec::new();
        for (&t, counts) in &self.at {
            let d = counts.ends();
            if d > 0 {
                let dk = if cause.is_cause() { counts[cause] } else { 0 };
                let (n, dk_f) = (at_risk as f64, dk as f64);
                f += s * dk_f / n;
                pure += s * s * dk_f * (n - dk_f) / n.powi(3);
                v0 += s * dk_f / (n * n);
                v1 += s * dk_f / (n * n) * f;
                s *= 1.0 - d as f64 / n;
                // When everyone left ends here, S = 0 afterwards and F stays put: the term is 0.
                if at_risk > d {
                    let w = d as f64 / (n * (n - d as f64));
                    (w0, w1, w2) = (w0 + w, w1 + w * f, w2 + w * f * f);
                }
                let var = f * f * w0 - 2.0 * f * w1 + w2 + pure - 2.0 * (f * v0 - v1);
                let se = var.max(0.0).sqrt();
                let (lower, upper) = ((f - 1.96 * se).max(0.0), (f + 1.96 * se).min(1.0));
                points.push(IncidencePoint { t, at_risk, events: dk, cif: f, se, lower, upper, survival: s });
            }
            at_risk -= counts.saddle_stalls();
        }
        Incidence { cause, points }
    }
}

/// The Kaplan-Meier curve of escape over the saddle stalls of all `episodes` (any label), with
/// the chain-clustered variance: one chain contributes several dependent episodes, so the
/// Greenwood variance, which assumes independent episodes, is too small.
///
/// The variance is the robust sandwich (infinitesimal jackknife) one: with Y(s), dN(s) the
/// episodes at risk and escaping at s, the influence of episode i on S(t) is the derivative of
/// the product-limit estimator with respect to its weight,
/// IF_i(t) = -S(t) sum_{s<=t} [dN_i(s) - Y_i(s) dN(s)/Y(s)] / (Y(s) - dN(s)),
/// summed within each chain c to U_c(t), and Var S(t) = sum_c U_c(t)^2. (Differentiating
/// log(1 - dN/Y) gives the denominator Y - dN; with one episode per chain this variance equals
/// Greenwood's exactly, the Nelson-Aalen form with denominator Y is slightly smaller.)
///
/// Cost O(E log E) for E episodes: each chain's sum is R_c - m_c H(t), with H(t) the running
/// sum of dN/(Y (Y - dN)), m_c its episodes still at risk and R_c the frozen terms of those that
/// left; sum_c U_c^2 = sum R_c^2 - 2 H sum R_c m_c + H^2 sum m_c^2 is kept up to date as episodes
/// leave.
pub fn clustered_kaplan_meier(episodes: &[Episode]) -> Curve {
    let mut eps: Vec<(u32, usize, bool)> = Vec::with_capacity(episodes.len());
    let mut chain_index: HashMap<u32, usize> = HashMap::new();
    for e in episodes.iter().filter(|e| e.outcome.is_saddle_stall()) {
        let next = chain_index.len();
        let c = *chain_index.entry(e.chain).or_insert(next);
        eps.push((e.time, c, e.outcome == Outcome::Escaped));
    }
    eps.sort_unstable();
    let mut clusters = Clusters::new(chain_index.len(), &eps);
    let mut at_risk = eps.len() as u64;
    let (mut s, mut h) = (1.0f64, 0.0f64);
    let mut points = Vec::new();
    for group in eps.chunk_by(|a, b| a.0 == b.0) {
        let d = group.iter().filter(|e| e.2).count() as u64;
        let n = at_risk as f64;
        // An escape's own term is 1/(Y - dN); everyone at risk carries -dN/(Y (Y - dN)) via H.
        // When all at risk escape, S drops to 0 and the derivative of the zero factor vanishes.
        let jump = if d > 0 && at_risk > d { 1.0 / (n - d as f64) } else { 0.0 };
        if d > 0 {
            s *= 1.0 - d as f64 / n;
            h += jump * d as f64 / n;
        }
        for &(_, c, escaped) in group {
            clusters.leave(c, if escaped { jump } else { 0.0 } - h);
        }
        if d > 0 {
            let se = s * clusters.sum_of_squares(h).sqrt();
            let (lower, upper) = ((s - 1.96 * se).max(0.0), (s + 1.96 * se).min(1.0));
            points.push(CurvePoint { t: group[0].0, at_risk, events: d, survival: s, se, lower, upper });
        }
        at_risk -= group.len() as u64;
    }
    Curve { points }
}

/// Per-chain sums U_c = R_c - m_c H of the clustered Kaplan-Meier variance, with the three
/// sums over chains that give sum_c U_c^2 at any H.
struct Clusters {
    /// R_c: frozen influence terms of the chain's episodes that left the risk set.
    frozen: Vec<f64>,
    /// m_c: the chain's episodes still at risk.
    at_risk: Vec<f64>,
    /// sum R_c^2, sum R_c m_c, sum m_c^2.
    rr: f64,
    rm: f64,
    mm: f64,
}

impl Clusters {
    fn new(chains: usize, eps: &[(u32, usize, bool)]) -> Self {
        let mut at_risk = vec![0.0; chains];
        for &(_, c, _) in eps {
            at_risk[c] += 1.0;
        }
        let mm = at_risk.iter().map(|m| m * m).sum();
        Clusters { frozen: vec![0.0; chains], at_risk, rr: 0.0, rm: 0.0, mm }
    }

    /// An episode of chain `c` leaves the risk set with the frozen term `term`.
    fn leave(&mut self, c: usize, term: f64) {
        let (r, m) = (self.frozen[c], self.at_risk[c]);
        let (r2, m2) = (r + term, m - 1.0);
        self.rr += r2 * r2 - r * r;
        self.rm += r2 * m2 - r * m;
        self.mm += m2 * m2 - m * m;
        (self.frozen[c], self.at_risk[c]) = (r2, m2);
    }

    /// sum_c (R_c - m_c H)^2, never negative (rounding).
    fn sum_of_squares(&self, h: f64) -> f64 {
        (self.rr - 2.0 * h * self.rm + h * h * self.mm).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::survival::SurvivalTables;

    fn table(rows: &[(u32, Outcome)]) -> TimeTable {
        let mut t = TimeTable::default();
        for &(time, o) in rows {
            t.record(time, o);
        }
        t
    }

    /// Deterministic uniform draws in [0, 1) (splitmix64), so the tests need no RNG crate.
    struct Uniform(u64);

    impl Uniform {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The published worked example of Satagopan et al. (2004), "A note on competing risks in
    /// survival data analysis", Br J Cancer 91:1229-1235, Table 2: 305 breast-cancer patients,
    /// the first nine by follow-up (months) being 7 C, 10 E, 14 C, 16 E, 18 CR, 23 E, 24 C, 26 CR,
    /// 27 E (E = death from breast cancer, CR = death from other causes, C = alive); the other 296
    /// are followed past 27 months. E maps to Escaped, CR to Diverged, C to Censored.
    /// Published (percent): overall survival S(t_j) 99.7 99.3 99.0 98.7 98.3 98.0 at
    /// t = 10 16 18 23 26 27; cumulative incidence of E 0.3 0.6 0.9 1.2 at t = 10 16 23 27 (the
    /// paper adds increments already rounded to 0.3, so its 1.2 is 1.32 unrounded).
    /// By hand (n at risk, then S(t_j-) d/n):
    ///   t=10 n=304: F_E = 1/304 = .0032895, S = 303/304 = .9967105
    ///   t=16 n=302: F_E += .9967105/302 = .0033004 -> .0065899, S = .9967105*301/302 = .9934102
    ///   t=18 n=301: F_CR = .9934102/301 = .0033004, S = .9934102*300/301 = .9901098
    ///   t=23 n=300: F_E += .9901098/300 = .0033004 -> .0098903, S = .9868094
    ///   t=26 n=298: F_CR += .9868094/298 = .0033114 -> .0066118, S = .9834979
    ///   t=27 n=297: F_E += .9834979/297 = .0033114 -> .0132017, S = .9801865
    #[test]
    fn aalen_johansen_on_the_satagopan_example() {
        use Outcome::{Censored as C, Diverged as CR, Escaped as E};
        let mut rows = vec![(7, C), (10, E), (14, C), (16, E), (18, CR), (23, E), (24, C), (26, CR), (27, E)];
        rows.extend(std::iter::repeat_n((60, C), 296));
        let t = table(&rows);
        let (esc, cr) = (t.cumulative_incidence(E), t.cumulative_incidence(CR));
        let times: Vec<u32> = esc.points.iter().map(|p| p.t).collect();
        assert_eq!(times, [10, 16, 18, 23, 26, 27]);
        assert_eq!(esc.points.iter().map(|p| p.at_risk).collect::<Vec<_>>(), [304, 302, 301, 300, 298, 297]);
        let published_s = [99.7, 99.3, 99.0, 98.7, 98.3, 98.0];
        for (p, want) in esc.points.iter().zip(published_s) {
            assert!((100.0 * p.survival - want).abs() < 0.05, "S({}) = {}", p.t, p.survival);
        }
        // Published step 2: S(t_j-) 100 99.7 99.0 98.3 and increments h_E S(t_j-) of 0.3 (percent)
        // at t = 10 16 23 27; its cumulative column sums the rounded increments, so it trails ours
        // by up to 4 * 0.05.
        let mut prev = (0.0, 1.0);
        let mut e_rows = Vec::new();
        for p in &esc.points {
            if p.events > 0 {
                e_rows.push((p.t, 100.0 * prev.1, 100.0 * (p.cif - prev.0)));
            }
            prev = (p.cif, p.survival);
        }
        let published = [(10, 100.0, 0.3, 0.3), (16, 99.7, 0.3, 0.6), (23, 99.0, 0.3, 0.9), (27, 98.3, 0.3, 1.2)];
        for ((time, s_before, inc), (want_t, want_s, want_inc, want_cum)) in e_rows.into_iter().zip(published) {
            assert_eq!(time, want_t);
            assert!((s_before - want_s).abs() < 0.05 && (inc - want_inc).abs() < 0.05, "t {time}: {s_before} {inc}");
            assert!((100.0 * esc.at(time) - want_cum).abs() < 0.2, "F_E({time}) = {}", esc.at(time));
        }
        let hand_e = [(10, 0.0032895), (16, 0.0065899), (23, 0.0098903), (27, 0.0132017)];
        for (time, want) in hand_e {
            assert!((esc.at(time) - want).abs() < 1e-7, "F_E({time}) = {}", esc.at(time));
        }
        assert!((cr.at(18) - 0.0033004).abs() < 1e-7 && (cr.at(27) - 0.0066118).abs() < 1e-7);
        assert!((esc.points[5].survival - 0.9801865).abs() < 1e-7);
        // Delta-method SE of F_E(16) by hand: t=10 (n 304, d 1, d_E 1, S- 1) gives
        // (F(16)-F(10))^2/(304*303) + 303/304^3 - 2 (F(16)-F(10))/304^2, t=16 (n 302, S- .9967105)
        // gives .9967105^2 * 301/302^3; the sum is 2.1570e-5, SE .0046444.
        let df = 0.0065899 - 0.0032895;
        let var16 = df * df / (304.0 * 303.0) + 303.0 / 304f64.powi(3) - 2.0 * df / 304f64.powi(2)
            + 0.9967105f64.powi(2) * 301.0 / 302f64.powi(3);
        assert!((esc.points[1].se - var16.sqrt()).abs() < 1e-7, "se {} vs {}", esc.points[1].se, var16.sqrt());
        assert!((var16.sqrt() - 0.0046444).abs() < 1e-6);
    }

    /// Escapes, both competing causes and converged episodes (out of the risk set), with ties.
    /// By hand, 10 saddle stalls (E escaped, D diverged, P precision limited, C censored) and two
    /// converged ones: 1 E, 2 D, 2 C, 3 E, 3 E, 3 P, 5 C, 6 E, 8 D, 9 C.
    ///   t=1 n=10 d=1 (E): F_E = .1, S = .9
    ///   t=2 n=9 d=1 (D), one censored after: F_D = .9/9 = .1, S = .8
    ///   t=3 n=7 d=3 (2 E, 1 P): F_E += .8*2/7 -> .1 + 1.6/7, F_P = .8/7, S = .8*4/7 = 3.2/7
    ///   t=6 n=3 (5 C left) d=1 (E): F_E += (3.2/7)/3, S = 6.4/21
    ///   t=8 n=2 d=1 (D): F_D += (6.4/21)/2, S = 3.2/21; then 9 C leaves.
    #[test]
    fn cumulative_incidence_of_all_causes_adds_up_with_the_survival() {
        use Outcome::*;
        let rows = [
            (1, Escaped), (2, Diverged), (2, Censored), (3, Escaped), (3, Escaped), (3, PrecisionLimited),
            (5, Censored), (6, Escaped), (8, Diverged), (9, Censored), (0, Converged), (4, Converged),
        ];
        let t = table(&rows);
        let curves: Vec<Incidence> = [Escaped, Diverged, PrecisionLimited].map(|c| t.cumulative_incidence(c)).into();
        let f_e = 0.1 + 1.6 / 7.0 + 3.2 / 21.0;
        assert!((curves[0].at(9) - f_e).abs() < 1e-12);
        assert!((curves[1].at(9) - (0.1 + 3.2 / 21.0)).abs() < 1e-12);
        assert!((curves[2].at(9) - 0.8 / 7.0).abs() < 1e-12);
        assert_eq!(curves[0].points.iter().map(|p| (p.t, p.at_risk)).collect::<Vec<_>>(), [(1, 10), (2, 9), (3, 7), (6, 3), (8, 2)]);
        for k in 0..curves[0].points.len() {
            let p = &curves[0].points[k];
            let total: f64 = curves.iter().map(|c| c.points[k].cif).sum();
            assert!((total + p.survival - 1.0).abs() < 1e-12, "t {}: {total} + {}", p.t, p.survival);
            assert!(curves.iter().all(|c| c.points[k].t == p.t && (c.points[k].survival - p.survival).abs() < 1e-15));
        }
        assert!((curves[0].points[4].survival - 3.2 / 21.0).abs() < 1e-12);
        assert!(t.cumulative_incidence(Censored).points.iter().all(|p| p.cif == 0.0 && p.se == 0.0));
        let s = t.summary();
        assert_eq!((s.subjects, s.escapes, s.converged, s.diverged, s.precision_limited, s.censored), (12, 4, 2, 2, 1, 3));
        assert_eq!(s.saddle_stalls, 10);
        assert!((s.success_rate - 0.4).abs() < 1e-12 && (s.escape_cif - f_e).abs() < 1e-12);
        // Saddle-stall times 1+2+2+3+3+3+5+6+8+9 = 42 over 4 escapes; converged times don't count.
        assert!((s.expected_running_time.unwrap() - 42.0 / 4.0).abs() < 1e-12);
        // The escape Kaplan-Meier treats D and P as censored: (1-1/10)(1-2/7)(1-1/3) at t = 6.
        assert!((t.kaplan_meier().survival(6) - 0.9 * 5.0 / 7.0 * 2.0 / 3.0).abs() < 1e-12);
    }

    /// The delta-method variance straight from the textbook sum, O(times^2).
    fn delta_variance_reference(t: &TimeTable, cause: Outcome) -> Vec<f64> {
        let mut rows = Vec::new(); // (n, d, d_k, S(t_j-), F(t_j))
        let (mut at_risk, mut s, mut f) = (t.saddle_stalls() as f64, 1.0, 0.0);
        for counts in t.at.values() {
            let d = counts.ends() as f64;
            if d > 0.0 {
                let dk = counts[cause] as f64;
                f += s * dk / at_risk;
                rows.push((at_risk, d, dk, s, f));
                s *= 1.0 - d / at_risk;
            }
            at_risk -= counts.saddle_stalls() as f64;
        }
        (0..rows.len())
            .map(|k| {
                let ft = rows[k].4;
                rows[..=k]
                    .iter()
                    .map(|&(n, d, dk, s_, fj)| {
                        let gw = if n > d { (ft - fj).powi(2) * d / (n * (n - d)) } else { 0.0 };
                        gw + s_ * s_ * dk * (n - dk) / n.powi(3) - 2.0 * (ft - fj) * s_ * dk / (n * n)
                    })
                    .sum()
            })
            .collect()
    }

    fn random_episodes(n: usize, chains: u32, seed: u64) -> Vec<Episode> {
        let mut u = Uniform(seed);
        (0..n)
            .map(|i| {
                let time = (-40.0 * (1.0 - u.next()).ln()) as u32;
                let r = u.next();
                let outcome = match r {
                    r if r < 0.55 => Outcome::Escaped,
                    r if r < 0.65 => Outcome::Diverged,
                    r if r < 0.72 => Outcome::PrecisionLimited,
                    r if r < 0.80 => Outcome::Converged,
                    _ => Outcome::Censored,
                };
                Episode { chain: i as u32 % chains, label: (u.next() * 3.0) as u32, time, outcome }
            })
            .collect()
    }

    #[test]
    fn delta_variance_matches_the_direct_sum_and_greenwood_without_competition() {
        let eps = random_episodes(400, 400, 7);
        let t = SurvivalTables::from_episodes(&eps).overall();
        for cause in [Outcome::Escaped, Outcome::Diverged, Outcome::PrecisionLimited] {
            let cif = t.cumulative_incidence(cause);
            for (p, v) in cif.points.iter().zip(delta_variance_reference(&t, cause)) {
                assert!((p.se - v.sqrt()).abs() < 1e-12, "{cause:?} t {}: {} vs {}", p.t, p.se, v.sqrt());
            }
        }
        // No competing ends: F = 1 - KM and the delta-method SE is Greenwood's.
        let mut t = TimeTable::default();
        for e in &eps {
            let o = if e.outcome.is_cause() { Outcome::Escaped } else { e.outcome };
            t.record(e.time, o);
        }
        let (km, cif) = (t.kaplan_meier(), t.cumulative_incidence(Outcome::Escaped));
        assert_eq!(km.points.len(), cif.points.len());
        for (k, c) in km.points.iter().zip(&cif.points) {
            assert_eq!(k.t, c.t);
            assert!((c.cif - (1.0 - k.survival)).abs() < 1e-12 && (c.se - k.se).abs() < 1e-12, "t {}", k.t);
        }
    }

    /// Clustered variance by the definition: for each escape time, sum over chains of the summed
    /// influence of their episodes, O(episodes * times).
    fn clustered_reference(eps: &[Episode]) -> Vec<f64> {
        let mut t = TimeTable::default();
        for e in eps {
            t.record(e.time, e.outcome);
        }
        let mut steps = Vec::new(); // (time, Y, dN)
        let mut at_risk = t.saddle_stalls();
        for (&time, c) in &t.at {
            steps.push((time, at_risk as f64, c[Outcome::Escaped] as f64));
            at_risk -= c.saddle_stalls();
        }
        let saddle: Vec<&Episode> = eps.iter().filter(|e| e.outcome.is_saddle_stall()).collect();
        steps
            .iter()
            .filter(|s| s.2 > 0.0)
            .map(|&(time, _, _)| {
                let mut u: HashMap<u32, f64> = HashMap::new();
                for e in &saddle {
                    let a: f64 = steps
                        .iter()
                        .filter(|&&(s, y, d)| s <= time && s <= e.time && d > 0.0 && y > d)
                        .map(|&(s, y, d)| {
                            let dn_i = f64::from(u8::from(s == e.time && e.outcome == Outcome::Escaped));
                            (dn_i - d / y) / (y - d)
                        })
                        .sum();
                    *u.entry(e.chain).or_default() += a;
                }
                u.values().map(|v| v * v).sum()
            })
            .collect()
    }

    #[test]
    fn clustered_variance_matches_its_definition() {
        let eps = random_episodes(600, 90, 11);
        let curve = clustered_kaplan_meier(&eps);
        let reference = clustered_reference(&eps);
        let km = SurvivalTables::from_episodes(&eps).overall().kaplan_meier();
        assert_eq!(curve.points.len(), reference.len());
        for ((p, v), k) in curve.points.iter().zip(reference).zip(&km.points) {
            assert_eq!((p.t, p.at_risk, p.events), (k.t, k.at_risk, k.events));
            assert!((p.survival - k.survival).abs() < 1e-12);
            assert!((p.se - p.survival * v.sqrt()).abs() < 1e-12, "t {}: {} vs {}", p.t, p.se, p.survival * v.sqrt());
        }
    }

    /// One episode per chain: the clustered (infinitesimal-jackknife) variance of the product-limit
    /// estimator is Greenwood's, term by term (the per-time sums of squared influences are
    /// d/(Y(Y-d)) and the cross-time terms cancel).
    #[test]
    fn clustered_equals_greenwood_with_one_episode_per_chain() {
        let eps = random_episodes(3000, 3000, 3);
        let clustered = clustered_kaplan_meier(&eps);
        let greenwood = SurvivalTables::from_episodes(&eps).overall().kaplan_meier();
        assert_eq!(clustered.points.len(), greenwood.points.len());
        let mut worst = 0.0f64;
        for (c, g) in clustered.points.iter().zip(&greenwood.points) {
            assert_eq!(c.t, g.t);
            assert!((c.survival - g.survival).abs() < 1e-12);
            if g.se > 0.0 {
                worst = worst.max((c.se / g.se - 1.0).abs());
            }
        }
        assert!(worst < 1e-9, "worst relative SE difference {worst}");
        for time in [10, 40, 100] {
            let (c, g) = (clustered.points.iter().rfind(|p| p.t <= time).unwrap(), greenwood.points.iter().rfind(|p| p.t <= time).unwrap());
            println!("t {time}: S {:.4} clustered SE {:.6} Greenwood SE {:.6}", c.survival, c.se, g.se);
        }
    }

    /// Every chain's episode repeated k times inside the chain: S is unchanged, the clustered SE
    /// is that of the un-duplicated data (the influences scale by 1/k and add up k times), while
    /// Greenwood, counting the copies as independent, shrinks by sqrt(k).
    #[test]
    fn duplicated_episodes_inside_a_chain_do_not_shrink_the_clustered_band() {
        let k = 4;
        let eps = random_episodes(1500, 1500, 5);
        let dup: Vec<Episode> = eps.iter().flat_map(|e| std::iter::repeat_n(*e, k)).collect();
        let (base, clustered) = (clustered_kaplan_meier(&eps), clustered_kaplan_meier(&dup));
        let (gw_base, gw_dup) = (SurvivalTables::from_episodes(&eps).overall().kaplan_meier(), SurvivalTables::from_episodes(&dup).overall().kaplan_meier());
        assert_eq!(base.points.len(), clustered.points.len());
        for (((b, c), gb), gd) in base.points.iter().zip(&clustered.points).zip(&gw_base.points).zip(&gw_dup.points) {
            assert!((b.survival - c.survival).abs() < 1e-12 && (gb.survival - gd.survival).abs() < 1e-12);
            assert!((b.se - c.se).abs() <= 1e-9 * b.se.max(1e-300), "t {}: {} vs {}", b.t, b.se, c.se);
            assert!((gd.se * (k as f64).sqrt() - gb.se).abs() <= 1e-9 * gb.se.max(1e-300), "t {}", b.t);
        }
        let mid = &clustered.points[clustered.points.len() / 2];
        let gmid = &gw_dup.points[clustered.points.len() / 2];
        println!("t {}: S {:.4} clustered SE {:.6} Greenwood SE (duplicated) {:.6}", mid.t, mid.survival, mid.se, gmid.se);
    }

    /// 100k episodes from 20k chains (5 per chain, labels 0..5) with a few thousand distinct
    /// times: the clustered curve agrees with the table's Kaplan-Meier, and its band is wider
    /// than Greenwood's where episodes of one chain share a frailty.
    #[test]
    fn clustered_kaplan_meier_scales_to_a_large_ensemble() {
        let mut u = Uniform(13);
        let mut eps = Vec::with_capacity(100_000);
        for chain in 0..20_000u32 {
            let frailty = 0.3 + 1.4 * u.next(); // shared by the chain's five saddles
            for label in 0..5 {
                let time = ((-300.0 * frailty * (1.0 - u.next()).ln()) as u32).min(3000);
                let outcome = if time == 3000 { Outcome::Censored } else if u.next() < 0.05 { Outcome::Diverged } else { Outcome::Escaped };
                eps.push(Episode { chain, label, time, outcome });
            }
        }
        let start = std::time::Instant::now();
        let clustered = clustered_kaplan_meier(&eps);
        let elapsed = start.elapsed();
        let greenwood = SurvivalTables::from_episodes(&eps).overall().kaplan_meier();
        assert_eq!(clustered.points.len(), greenwood.points.len());
        assert!(clustered.points.len() > 1000);
        for (c, g) in clustered.points.iter().zip(&greenwood.points) {
            assert!((c.survival - g.survival).abs() < 1e-9);
        }
        let mid = clustered.points.iter().position(|p| p.survival < 0.5).unwrap();
        let ratio = clustered.points[mid].se / greenwood.points[mid].se;
        println!("{} episodes, {} escape times: clustered KM in {elapsed:?}; SE ratio at the median {ratio:.3}", eps.len(), clustered.points.len());
        assert!(ratio > 1.05, "ratio {ratio}");
    }
}
