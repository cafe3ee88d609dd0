//! Progress on long runs: an indicatif bar (chains finished, escapes so far, chain-steps per
//! second, time left), machine-readable JSON lines for scripts, or nothing.

use escapade::options::ProgressMode;
use escapade::advanced::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};

/// How progress is shown.
pub enum Reporter {
    /// A progress bar on stderr (hidden when stderr is not a terminal).
    Bar(ProgressBar, Instant),
    /// One JSON object per line on stderr, at most every half second and at the end.
    Json(Instant, Instant),
    /// Nothing.
    Silent,
}

impl Reporter {
    /// The reporter for `mode`; `quiet` silences all.
    pub fn new(mode: ProgressMode, quiet: bool) -> Self {
        let now = Instant::now();
        match (quiet, mode) {
            (true, _) | (_, ProgressMode::Off) => Reporter::Silent,
            (_, ProgressMode::Json) => Reporter::Json(now, now - Duration::from_secs(1)),
            (_, ProgressMode::Bar) => {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% eta {eta} | {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                Reporter::Bar(bar, now)
            }
        }
    }

    /// Shows one snapshot.
    pub fn update(&mut self, p: &Progress) {
        match self {
            Reporter::Bar(bar, start) => {
                bar.set_length(p.work_total());
                bar.set_position(p.work_done().min(p.work_total()));
                let rate = p.work_done() as f64 / start.elapsed().as_secs_f64().max(1e-9);
                let finished = p.certified + p.diverged;
                bar.set_message(format!(
                    "finished {finished}/{} | escapes {} | diverged {} | violations {} | {rate:.2e} chain-steps/s",
                    p.chains, p.events, p.diverged, p.violations
                ));
            }
            Reporter::Json(start, last) => {
                let done = p.work_done() >= p.work_total();
                if last.elapsed() >= Duration::from_millis(500) || done {
                    *last = Instant::now();
                    let secs = start.elapsed().as_secs_f64();
                    let line = serde_json::json!({
                        "t_end": p.t_end, "steps": p.steps, "chains": p.chains, "chains_done": p.chains_done,
                        "running": p.running, "certified": p.certified, "diverged": p.diverged, "events": p.events, "violations": p.violations,
                        "fraction": p.work_done() as f64 / p.work_total().max(1) as f64,
                        "chain_steps_per_second": p.work_done() as f64 / secs.max(1e-9), "elapsed_seconds": secs,
                    });
                    eprintln!("{line}");
                }
            }
            Reporter::Silent => {}
        }
    }

    /// Prints a line above the bar (on stderr; nothing when silent).
    pub fn note(&self, line: &str) {
        match self {
            Reporter::Bar(bar, _) if !bar.is_hidden() => bar.println(line),
            Reporter::Silent => {}
            _ => eprintln!("{line}"),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Reporter::Bar(bar, _) = self {
            bar.finish_and_clear();
        }
    }
}
