//! Reporters: turn run events into a terminal view, JUnit XML and JSON.
//!
//! Each reporter implements [`Reporter`](crate::run::events::Reporter) and lives in its own
//! file: [`TerminalReporter`] (live progress and a summary table), [`JunitReporter`] (one
//! testcase per scenario, for CI), [`JsonReporter`] (one machine-readable document). A
//! [`Fanout`] sends every event to several of them. Reporters only render what the events
//! carry: they never run anything, and never add values the runner did not put in an event
//! (events are already redacted).
//!
//! Evidence bundles are not a reporter: they hold cluster state, which must be read before
//! cleanup deletes it, so the runner captures them (`run::evidence`); reporters only show the
//! bundle's folder, which `ScenarioReport::evidence` carries.

mod json;
mod junit;
mod terminal;

#[cfg(test)]
mod fixtures;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

pub use json::JsonReporter;
pub use junit::JunitReporter;
pub use terminal::{colour_wanted, TerminalOptions, TerminalReporter};

use crate::run::events::{Failure, Reporter, RunEvent, ScenarioReport, StepReport, Verdict};

/// Forwards each event to several reporters, in the order they were added.
#[derive(Default)]
pub struct Fanout {
    reporters: Vec<Box<dyn Reporter>>,
}

impl Fanout {
    pub fn new(reporters: Vec<Box<dyn Reporter>>) -> Self {
        Self { reporters }
    }

    /// Adds one more reporter; it sees only the events sent after this call.
    pub fn push(&mut self, reporter: impl Reporter + 'static) -> &mut Self {
        self.reporters.push(Box::new(reporter));
        self
    }

    pub fn len(&self) -> usize {
        self.reporters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reporters.is_empty()
    }
}

impl Reporter for Fanout {
    fn event(&mut self, e: &RunEvent) {
        for r in &mut self.reporters {
            r.event(e);
        }
    }

    /// Finishes every reporter, even when an earlier one fails, and returns all files
    /// written; if any reporter failed, returns the first error instead.
    fn finish(&mut self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let mut first_err = None;
        for r in &mut self.reporters {
            match r.finish() {
                Ok(mut written) => files.append(&mut written),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(files),
        }
    }
}

/// How many scenarios passed, failed and were skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }

    /// The plain totals line CI tools read: `3 passed, 1 failed` (`, 2 skipped` when any were).
    pub fn line(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }
}

/// What the file reporters and the terminal summary need from a whole run, gathered from events.
#[derive(Debug, Default)]
pub(crate) struct RunRecord {
    pub run_id: String,
    pub backend: String,
    pub started_at: Option<Timestamp>,
    /// Scenario names as announced by `RunStarted`, in that order.
    pub planned: Vec<String>,
    /// Finished scenarios, in the order they finished.
    pub reports: Vec<ScenarioReport>,
    /// Totals and duration as the runner reported them in `RunFinished`.
    pub finished: Option<(Totals, Duration)>,
}

impl RunRecord {
    /// Records `e`; `now` gives the run's start time when the run starts and none was set.
    pub fn observe(&mut self, e: &RunEvent, now: impl FnOnce() -> Timestamp) {
        match e {
            RunEvent::RunStarted { run_id, scenarios, backend } => {
                self.run_id.clone_from(run_id);
                self.backend.clone_from(backend);
                self.planned.clone_from(scenarios);
                if self.started_at.is_none() {
                    self.started_at = Some(now());
                }
            }
            RunEvent::ScenarioFinished { report } => self.reports.push(report.clone()),
            RunEvent::RunFinished { run_id, passed, failed, skipped, duration } => {
                if self.run_id.is_empty() {
                    self.run_id.clone_from(run_id);
                }
                let totals = Totals { passed: *passed, failed: *failed, skipped: *skipped };
                self.finished = Some((totals, *duration));
            }
            RunEvent::ScenarioStarted { .. } | RunEvent::StepStarted { .. } | RunEvent::StepFinished { .. } => {}
        }
    }

    /// Finished scenarios in a stable order: as announced by `RunStarted`, then any others in
    /// the order they finished (parallel runs finish in a different order each time).
    pub fn ordered(&self) -> Vec<&ScenarioReport> {
        let rank: HashMap<&str, usize> = self.planned.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let mut out: Vec<(usize, usize, &ScenarioReport)> = self
            .reports
            .iter()
            .enumerate()
            .map(|(i, r)| (rank.get(r.name.as_str()).copied().unwrap_or(usize::MAX), i, r))
            .collect();
        out.sort_by_key(|(rank, i, _)| (*rank, *i));
        out.into_iter().map(|(_, _, r)| r).collect()
    }

    /// Scenarios announced but never reported as finished (the run stopped early).
    pub fn not_run(&self) -> Vec<&str> {
        self.planned.iter().filter(|n| !self.reports.iter().any(|r| &r.name == *n)).map(String::as_str).collect()
    }

    /// The runner's totals when it sent `RunFinished`; otherwise counted from the reports,
    /// with scenarios that never finished counted as skipped.
    pub fn totals(&self) -> Totals {
        if let Some((t, _)) = self.finished {
            return t;
        }
        let mut t = Totals::default();
        for r in &self.reports {
            match r.verdict {
                Verdict::Passed => t.passed += 1,
                Verdict::Failed => t.failed += 1,
                Verdict::Skipped => t.skipped += 1,
            }
        }
        t.skipped += self.not_run().len();
        t
    }

    pub fn duration(&self) -> Option<Duration> {
        self.finished.map(|(_, d)| d)
    }
}

/// `1.234s`: milliseconds, the precision events carry.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// `PASS`, `FAIL` or `SKIP`.
pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "PASS",
        Verdict::Failed => "FAIL",
        Verdict::Skipped => "SKIP",
    }
}

/// A failed scenario's failures: the headline one and the other failed steps.
pub(crate) struct Failures<'a> {
    /// The scenario's `failure` (or the first failed step's), with the step it came from when known.
    pub headline: Option<(&'a Failure, Option<&'a StepReport>)>,
    /// Every other failed step that carries a failure, in the order they ran.
    pub others: Vec<&'a StepReport>,
}

pub(crate) fn failures(r: &ScenarioReport) -> Failures<'_> {
    let failed: Vec<&StepReport> =
        all_steps(r).filter(|s| s.verdict == Verdict::Failed && s.failure.is_some()).collect();
    let step = match &r.failure {
        Some(f) => failed.iter().copied().find(|s| s.failure.as_ref().is_some_and(|sf| sf.message == f.message)),
        None => failed.first().copied(),
    };
    let headline = r.failure.as_ref().or_else(|| step.and_then(|s| s.failure.as_ref())).map(|f| (f, step));
    let others = failed.into_iter().filter(|s| !step.is_some_and(|h| std::ptr::eq(h, *s))).collect();
    Failures { headline, others }
}

/// Steps then cleanup steps of a scenario, in the order they ran.
pub(crate) fn all_steps(r: &ScenarioReport) -> impl Iterator<Item = &StepReport> {
    r.steps.iter().chain(r.cleanup.iter())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::report::fixtures;

    struct Recording {
        seen: Arc<Mutex<Vec<String>>>,
        fail_finish: bool,
        file: &'static str,
    }

    impl Reporter for Recording {
        fn event(&mut self, e: &RunEvent) {
            let kind = match e {
                RunEvent::RunStarted { .. } => "run-started",
                RunEvent::ScenarioStarted { .. } => "scenario-started",
                RunEvent::StepStarted { .. } => "step-started",
                RunEvent::StepFinished { .. } => "step-finished",
                RunEvent::ScenarioFinished { .. } => "scenario-finished",
                RunEvent::RunFinished { .. } => "run-finished",
            };
            self.seen.lock().unwrap().push(format!("{}:{kind}", self.file));
        }
        fn finish(&mut self) -> std::io::Result<Vec<PathBuf>> {
            if self.fail_finish {
                return Err(std::io::Error::other("disk full"));
            }
            Ok(vec![PathBuf::from(self.file)])
        }
    }

    #[test]
    fn fanout_forwards_every_event_to_every_reporter_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut fan = Fanout::default();
        fan.push(Recording { seen: seen.clone(), fail_finish: false, file: "a" });
        fan.push(Recording { seen: seen.clone(), fail_finish: false, file: "b" });
        assert_eq!(fan.len(), 2);
        let events = fixtures::passing_run();
        for e in &events {
            fan.event(e);
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), events.len() * 2);
        assert_eq!(seen[0], "a:run-started");
        assert_eq!(seen[1], "b:run-started");
        assert_eq!(seen.last().map(String::as_str), Some("b:run-finished"));
        assert_eq!(fan.finish().unwrap(), vec![PathBuf::from("a"), PathBuf::from("b")]);
    }

    #[test]
    fn fanout_finishes_all_reporters_and_returns_the_first_error() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let finished = Arc::new(Mutex::new(false));
        struct Flag(Arc<Mutex<bool>>);
        impl Reporter for Flag {
            fn event(&mut self, _: &RunEvent) {}
            fn finish(&mut self) -> std::io::Result<Vec<PathBuf>> {
                *self.0.lock().unwrap() = true;
                Ok(vec![])
            }
        }
        let mut fan = Fanout::new(vec![
            Box::new(Recording { seen, fail_finish: true, file: "a" }),
            Box::new(Flag(finished.clone())),
        ]);
        let err = fan.finish().unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert!(*finished.lock().unwrap(), "the reporter after the failing one was not finished");
    }

    #[test]
    fn failures_headline_is_the_scenario_failure_and_its_step() {
        let r = fixtures::policy_denies_and_cleanup_fails();
        let f = failures(&r);
        let (headline, step) = f.headline.unwrap();
        assert_eq!(headline.message, fixtures::FAIL_MESSAGE);
        assert_eq!(step.map(|s| s.path.as_str()), Some("spec.steps[1]"));
        assert_eq!(f.others.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["cleanup[0]"]);

        // A scenario-level failure no step carries: no step for the headline, both steps as others.
        let mut r2 = r.clone();
        r2.failure = Some(Failure { message: "setup hook failed".into(), ..Failure::default() });
        let f2 = failures(&r2);
        assert_eq!(f2.headline.map(|(f, s)| (f.message.as_str(), s.is_none())), Some(("setup hook failed", true)));
        assert_eq!(f2.others.len(), 2);
    }

    #[test]
    fn totals_line_mentions_skipped_only_when_some_were() {
        assert_eq!(Totals { passed: 3, failed: 1, skipped: 0 }.line(), "3 passed, 1 failed");
        assert_eq!(Totals { passed: 0, failed: 0, skipped: 2 }.line(), "0 passed, 0 failed, 2 skipped");
    }

    #[test]
    fn record_orders_reports_as_announced_and_counts_unfinished_as_skipped() {
        let mut rec = RunRecord::default();
        for e in fixtures::interleaved_run() {
            if matches!(e, RunEvent::RunFinished { .. }) {
                continue;
            }
            rec.observe(&e, Timestamp::now);
        }
        let names: Vec<&str> = rec.ordered().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["configmap-sync", "policy-denies"]);
        assert_eq!(rec.reports[0].name, "policy-denies", "fixture should finish out of order");
        assert_eq!(rec.not_run(), ["aws-role"]);
        assert_eq!(rec.totals(), Totals { passed: 1, failed: 1, skipped: 1 });
    }
}
