//! The terminal view of a run: live progress, one line per finished scenario, each failure in
//! full right after its scenario, and a summary table with a plain totals line for CI.
//!
//! It renders events line by line (no cursor movement), so output stays readable in CI logs
//! and when scenarios run in parallel: every progress line starts with `[scenario]`. It must
//! not print anything an event does not carry (events are redacted; raw values never reach
//! it), and the totals line `<N> passed, <M> failed[, <K> skipped]` is never coloured.
//!
//! ```text
//! running 2 scenarios on sim (run run-0001)
//! [configmap-sync] +0.000s start
//! [configmap-sync] +0.000s step spec.steps[0] apply v1/ConfigMap app-config
//! [configmap-sync] +0.121s ok   spec.steps[0] apply v1/ConfigMap app-config (0.120s)
//! PASS    1.234s configmap-sync
//! FAIL   10.250s policy-denies
//! --- policy-denies: FAIL at spec.steps[1] expect denial (scenarios/policy-denies.yaml:14, after 10.000s)
//!     expectation not met within 10s: …
//!     detail:
//!       …
//!     diff (expected vs actual):
//!       -denied: true
//!       +denied: false
//!     evidence: target/idp-harness/run-0001/policy-denies
//!
//! summary: run run-0001 on sim, 11.484s
//! SCENARIO        VERDICT     TIME
//! configmap-sync  PASS      1.234s
//! policy-denies   FAIL     10.250s
//! 1 passed, 1 failed
//! ```

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use jiff::Timestamp;

use super::{all_steps, failures, secs, verdict_word, RunRecord};
use crate::run::events::{Failure, Reporter, RunEvent, ScenarioReport, StepReport, Verdict};

/// How the terminal reporter prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Only failures and the summary: no progress lines, no lines for passed or skipped scenarios.
    pub quiet: bool,
    /// ANSI colours for verdicts and diffs. See [`TerminalOptions::for_stream`].
    pub colour: bool,
}

impl TerminalOptions {
    /// Options for a stream: colour when it is a terminal and `NO_COLOR` is unset or empty.
    pub fn for_stream(quiet: bool, is_terminal: bool) -> Self {
        Self { quiet, colour: colour_wanted(is_terminal, std::env::var_os("NO_COLOR").as_deref()) }
    }
}

/// Whether to colour: only on a terminal, and never when `NO_COLOR` is set to a non-empty value
/// (<https://no-color.org>).
pub fn colour_wanted(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

const GREEN: &str = "32";
const RED: &str = "1;31";
const YELLOW: &str = "33";
const BOLD: &str = "1";
const DIM: &str = "2";

/// Renders run events for a person at a terminal (or reading a CI log).
pub struct TerminalReporter<W: Write + Send> {
    out: W,
    options: TerminalOptions,
    record: RunRecord,
    started: HashMap<String, Instant>,
    clock: Box<dyn Fn() -> Instant + Send>,
    error: Option<io::Error>,
    summary_written: bool,
}

impl<W: Write + Send> TerminalReporter<W> {
    pub fn new(out: W, options: TerminalOptions) -> Self {
        Self {
            out,
            options,
            record: RunRecord::default(),
            started: HashMap::new(),
            clock: Box::new(Instant::now),
            error: None,
            summary_written: false,
        }
    }

    /// Replaces the clock used for the elapsed times on progress lines (tests use a fake one).
    pub fn with_clock(mut self, clock: impl Fn() -> Instant + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The writer, e.g. to read what was printed into a `Vec<u8>`.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, text: &str) {
        if let Err(e) = self.out.write_all(text.as_bytes()) {
            self.error.get_or_insert(e);
        }
    }

    fn line(&mut self, text: &str) {
        let mut s = String::with_capacity(text.len() + 1);
        s.push_str(text);
        s.push('\n');
        self.write(&s);
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.options.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn verdict_colour(v: Verdict) -> &'static str {
        match v {
            Verdict::Passed => GREEN,
            Verdict::Failed => RED,
            Verdict::Skipped => YELLOW,
        }
    }

    /// `[scenario] +1.234s ` (the elapsed part only once the scenario has started).
    fn prefix(&self, scenario: &str, now: Instant) -> String {
        match self.started.get(scenario) {
            Some(t0) => {
                let elapsed = now.saturating_duration_since(*t0);
                format!("[{scenario}] {} ", self.paint(DIM, &format!("+{}", secs(elapsed))))
            }
            None => format!("[{scenario}] "),
        }
    }

    fn step_finished(&mut self, scenario: &str, step: &StepReport, now: Instant) {
        let word = match step.verdict {
            Verdict::Passed => "ok  ",
            Verdict::Failed => "FAIL",
            Verdict::Skipped => "skip",
        };
        let text = format!(
            "{}{} {} {} ({})",
            self.prefix(scenario, now),
            self.paint(Self::verdict_colour(step.verdict), word),
            step.path,
            step.name,
            secs(step.duration)
        );
        self.line(&text);
    }

    fn scenario_finished(&mut self, r: &ScenarioReport) {
        self.started.remove(&r.name);
        let show = !self.options.quiet || r.verdict == Verdict::Failed;
        if show {
            let mut text = format!(
                "{} {:>9} {}",
                self.paint(Self::verdict_colour(r.verdict), verdict_word(r.verdict)),
                secs(r.duration),
                r.name
            );
            if r.verdict == Verdict::Skipped {
                if let Some(f) = &r.failure {
                    let _ = write!(text, ": {}", f.message);
                }
            }
            self.line(&text);
        }
        if r.verdict == Verdict::Failed {
            let block = self.failure_block(r);
            self.write(&block);
        }
        if !r.leaks.is_empty() && show {
            let mut block = format!("--- {}: left after cleanup\n", r.name);
            for leak in &r.leaks {
                let _ = writeln!(block, "    {leak}");
            }
            self.write(&block);
        }
    }

    /// Every failure of a failed scenario, in full, then the fidelity notes of its steps.
    fn failure_block(&self, r: &ScenarioReport) -> String {
        let mut out = String::new();
        let failures = failures(r);
        match failures.headline {
            Some((f, step)) => {
                self.failure_header(&mut out, r, step);
                self.failure_body(&mut out, f);
            }
            None => {
                self.failure_header(&mut out, r, None);
                out.push_str("    (the runner reported no failure detail)\n");
            }
        }
        if let Some(dir) = &r.evidence {
            let _ = writeln!(out, "    evidence: {}", dir.display());
        }
        for s in failures.others {
            self.failure_header(&mut out, r, Some(s));
            if let Some(f) = &s.failure {
                self.failure_body(&mut out, f);
            }
        }
        let notes: Vec<(&str, &str)> =
            all_steps(r).flat_map(|s| s.fidelity_notes.iter().map(|n| (s.path.as_str(), n.as_str()))).collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "--- {}: what the {} backend cannot show", r.name, r.backend);
            for (path, note) in notes {
                let _ = writeln!(out, "    {path}: {note}");
            }
        }
        out
    }

    /// `--- name: FAIL at <step> (<file>:<line>, after <time>)`, or `--- name: FAIL (<file>)`.
    fn failure_header(&self, out: &mut String, r: &ScenarioReport, step: Option<&StepReport>) {
        let file = r.file.display();
        let fail = self.paint(RED, "FAIL");
        let _ = match step {
            Some(s) => writeln!(
                out,
                "--- {}: {fail} at {} {} ({file}:{}, after {})",
                r.name,
                s.path,
                s.name,
                s.line,
                secs(s.duration)
            ),
            None => writeln!(out, "--- {}: {fail} ({file})", r.name),
        };
    }

    fn failure_body(&self, out: &mut String, f: &Failure) {
        for l in f.message.lines() {
            let _ = writeln!(out, "    {}", self.paint(BOLD, l));
        }
        if let Some(detail) = &f.detail {
            out.push_str("    detail:\n");
            for l in detail.lines() {
                let _ = writeln!(out, "      {l}");
            }
        }
        if let Some(diff) = &f.diff {
            out.push_str("    diff (expected vs actual):\n");
            for l in diff.lines() {
                let painted = if l.starts_with("+++") || l.starts_with("---") {
                    self.paint(BOLD, l)
                } else if l.starts_with('+') {
                    self.paint(GREEN, l)
                } else if l.starts_with('-') {
                    self.paint(RED, l)
                } else {
                    l.to_string()
                };
                let _ = writeln!(out, "      {painted}");
            }
        }
    }

    /// The summary table and the totals line.
    fn summary(&mut self) {
        if self.summary_written {
            return;
        }
        self.summary_written = true;
        let mut rows: Vec<(String, Option<Verdict>, String)> =
            self.record.ordered().into_iter().map(|r| (r.name.clone(), Some(r.verdict), secs(r.duration))).collect();
        rows.extend(self.record.not_run().into_iter().map(|n| (n.to_string(), None, "-".to_string())));
        let word = |v: Option<Verdict>| v.map_or("NOT RUN", verdict_word);
        let nw = rows.iter().map(|r| r.0.chars().count()).chain([8]).max().unwrap_or(8);
        let vw = 7;
        let tw = rows.iter().map(|r| r.2.len()).chain([4]).max().unwrap_or(4);

        let mut out = String::from("\nsummary: run ");
        out.push_str(if self.record.run_id.is_empty() { "?" } else { &self.record.run_id });
        if !self.record.backend.is_empty() {
            let _ = write!(out, " on {}", self.record.backend);
        }
        if let Some(d) = self.record.duration() {
            let _ = write!(out, ", {}", secs(d));
        }
        out.push('\n');
        let _ = writeln!(out, "{:<nw$}  {:<vw$}  {:>tw$}", "SCENARIO", "VERDICT", "TIME");
        for (name, verdict, time) in &rows {
            let pad = nw.saturating_sub(name.chars().count());
            let v = format!("{:<vw$}", word(*verdict));
            let v = match verdict {
                Some(v2) => self.paint(Self::verdict_colour(*v2), &v),
                None => self.paint(YELLOW, &v),
            };
            let _ = writeln!(out, "{name}{:pad$}  {v}  {time:>tw$}", "");
        }
        let _ = writeln!(out, "{}", self.record.totals().line());
        self.write(&out);
    }
}

impl<W: Write + Send> Reporter for TerminalReporter<W> {
    fn event(&mut self, e: &RunEvent) {
        self.record.observe(e, Timestamp::now);
        let now = (self.clock)();
        let quiet = self.options.quiet;
        match e {
            RunEvent::RunStarted { run_id, scenarios, backend } => {
                if !quiet {
                    let n = scenarios.len();
                    let noun = if n == 1 { "scenario" } else { "scenarios" };
                    self.line(&format!("running {n} {noun} on {backend} (run {run_id})"));
                }
            }
            RunEvent::ScenarioStarted { scenario } => {
                self.started.insert(scenario.clone(), now);
                if !quiet {
                    let text = format!("{}start", self.prefix(scenario, now));
                    self.line(&text);
                }
            }
            RunEvent::StepStarted { scenario, path, name } => {
                if !quiet {
                    let text = format!("{}step {path} {name}", self.prefix(scenario, now));
                    self.line(&text);
                }
            }
            RunEvent::StepFinished { scenario, step } => {
                if !quiet {
                    self.step_finished(scenario, step, now);
                }
            }
            RunEvent::ScenarioFinished { report } => self.scenario_finished(report),
            RunEvent::RunFinished { .. } => self.summary(),
        }
    }

    /// Prints the summary if `RunFinished` never came, flushes, and reports the first write error.
    fn finish(&mut self) -> io::Result<Vec<PathBuf>> {
        self.summary();
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::report::fixtures::{self, EVIDENCE, FAIL_DETAIL, FAIL_MESSAGE, FIDELITY, LEAK};

    /// An elapsed time as progress lines show it.
    fn elapsed(d: Duration) -> String {
        format!("+{}", secs(d))
    }

    /// A clock that moves 10 ms each time it is read.
    fn ticking_clock() -> impl Fn() -> Instant + Send + 'static {
        let t0 = Instant::now();
        let ticks = Arc::new(Mutex::new(0u64));
        move || {
            let mut n = ticks.lock().unwrap();
            *n += 1;
            t0 + Duration::from_millis(10 * *n)
        }
    }

    fn render(events: &[RunEvent], options: TerminalOptions) -> String {
        let mut r = TerminalReporter::new(Vec::new(), options).with_clock(ticking_clock());
        for e in events {
            r.event(e);
        }
        assert!(r.finish().unwrap().is_empty(), "the terminal reporter writes no files");
        String::from_utf8(r.into_inner()).unwrap()
    }

    fn plain() -> TerminalOptions {
        TerminalOptions { quiet: false, colour: false }
    }

    /// The lines from the summary header to the end.
    fn summary_lines(out: &str) -> Vec<&str> {
        let lines: Vec<&str> = out.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("summary: ")).expect("a summary");
        lines[at..].to_vec()
    }

    #[test]
    fn passing_run_prints_progress_a_pass_line_and_the_summary() {
        let out = render(&fixtures::passing_run(), plain());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "running 1 scenario on sim (run run-0001)");
        assert!(lines[1].starts_with("[configmap-sync] +") && lines[1].ends_with(" start"), "{}", lines[1]);
        assert!(lines.contains(&"[configmap-sync] +0.010s step spec.steps[0] apply v1/ConfigMap app-config"), "{out}");
        assert!(
            lines.contains(&"[configmap-sync] +0.020s ok   spec.steps[0] apply v1/ConfigMap app-config (0.120s)"),
            "{out}"
        );
        assert!(lines.contains(&"PASS    1.234s configmap-sync"), "{out}");
        assert_eq!(
            summary_lines(&out),
            [
                "summary: run run-0001 on sim, 1.234s",
                "SCENARIO        VERDICT    TIME",
                "configmap-sync  PASS     1.234s",
                "1 passed, 0 failed",
            ]
        );
        assert!(!out.contains('\x1b'), "no colour codes when colour is off");
        assert!(!out.contains("---"), "no failure block for a passing run:\n{out}");
    }

    #[test]
    fn failure_is_printed_in_full_right_after_its_scenario() {
        let out = render(&fixtures::mixed_run(), plain());
        let lines: Vec<&str> = out.lines().collect();
        let fail = lines.iter().position(|l| *l == "FAIL   10.250s policy-denies").expect("a FAIL line");
        let expected = [
            "FAIL   10.250s policy-denies",
            "--- policy-denies: FAIL at spec.steps[1] expect denial of apps/v1/Deployment web \
             (scenarios/gatekeeper/policy-denies.yaml:14, after 10.000s)",
            &format!("    {FAIL_MESSAGE}"),
            "    detail:",
            &format!("      {FAIL_DETAIL}"),
            "    diff (expected vs actual):",
            "      --- expected",
            "      +++ actual",
            "      -denied: true",
            "      +denied: false",
            &format!("    evidence: {EVIDENCE}"),
            "--- policy-denies: what the sim backend cannot show",
            &format!("    spec.steps[1]: {FIDELITY}"),
            "--- policy-denies: left after cleanup",
            &format!("    {LEAK}"),
            "SKIP    0.000s aws-role",
        ];
        assert_eq!(lines[fail..fail + expected.len()], expected, "{out}");
        assert_eq!(
            summary_lines(&out),
            [
                "summary: run run-0001 on sim, 11.484s",
                "SCENARIO        VERDICT     TIME",
                "configmap-sync  PASS      1.234s",
                "policy-denies   FAIL     10.250s",
                "aws-role        SKIP      0.000s",
                "1 passed, 1 failed, 1 skipped",
            ]
        );
    }

    #[test]
    fn every_failed_step_is_printed_headline_first() {
        let out = render(&fixtures::sequential_run(&[fixtures::policy_denies_and_cleanup_fails()]), plain());
        let headline = out.find("--- policy-denies: FAIL at spec.steps[1] ").expect("the headline failure");
        let cleanup = out
            .find(
                "--- policy-denies: FAIL at cleanup[0] delete namespace s-x \
                 (scenarios/gatekeeper/policy-denies.yaml:3, after 0.200s)\n",
            )
            .expect("the cleanup failure");
        assert!(headline < cleanup, "{out}");
        assert!(out[cleanup..].contains(&format!("    {}\n", fixtures::CLEANUP_MESSAGE)), "{out}");
    }

    #[test]
    fn quiet_mode_prints_only_failures_and_the_summary() {
        let out = render(&fixtures::mixed_run(), TerminalOptions { quiet: true, colour: false });
        assert!(!out.contains("running "), "{out}");
        assert!(!out.contains("[configmap-sync]"), "no progress lines in quiet mode:\n{out}");
        assert!(!out.contains("PASS    1.234s"), "no PASS lines in quiet mode:\n{out}");
        assert!(!out.contains("SKIP    0.000s aws-role"), "no SKIP lines in quiet mode:\n{out}");
        let first = out.lines().next().unwrap();
        assert_eq!(first, "FAIL   10.250s policy-denies");
        assert!(out.contains(FAIL_MESSAGE));
        assert!(out.contains("      +denied: false"));
        assert_eq!(summary_lines(&out).last(), Some(&"1 passed, 1 failed, 1 skipped"));
        assert!(out.contains("configmap-sync  PASS"), "the table still lists passed scenarios:\n{out}");
    }

    #[test]
    fn interleaved_scenarios_keep_lines_attributable_and_the_table_stable() {
        let out = render(&fixtures::interleaved_run(), plain());
        let progress: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
        assert!(progress.len() >= 12, "{out}");
        // The two scenarios' lines alternate, each carrying its own name.
        for (i, l) in progress.iter().take(12).enumerate() {
            let want = if i % 2 == 0 { "[configmap-sync] " } else { "[policy-denies] " };
            assert!(l.starts_with(want), "line {i} should start with {want}: {l}");
        }
        for l in &progress {
            let in_a = l.starts_with("[configmap-sync] ") && !l.contains("Deployment web");
            let in_b = l.starts_with("[policy-denies] ") && !l.contains("ConfigMap app-config");
            assert!(in_a || in_b, "line attributed to the wrong scenario: {l}");
        }
        // policy-denies finished first, but the table follows the announced order.
        let pass = out.find("PASS    1.234s configmap-sync").unwrap();
        let fail = out.find("FAIL   10.250s policy-denies").unwrap();
        assert!(fail < pass);
        assert_eq!(
            summary_lines(&out),
            [
                "summary: run run-0002 on sim, 10.300s",
                "SCENARIO        VERDICT     TIME",
                "configmap-sync  PASS      1.234s",
                "policy-denies   FAIL     10.250s",
                "aws-role        NOT RUN        -",
                "1 passed, 1 failed, 1 skipped",
            ]
        );
    }

    #[test]
    fn elapsed_times_come_from_the_scenario_start() {
        let out = render(&fixtures::passing_run(), plain());
        // The fake clock moves 10 ms an event: start, three steps started and finished.
        let starts: Vec<&str> = out.lines().filter(|l| l.starts_with("[configmap-sync] ")).collect();
        assert!(starts[0].contains(&elapsed(Duration::ZERO)), "{}", starts[0]);
        assert!(starts.last().unwrap().contains(&elapsed(Duration::from_millis(60))), "{out}");
    }

    #[test]
    fn summary_is_printed_at_finish_when_run_finished_never_came() {
        let mut events = fixtures::mixed_run();
        events.pop();
        let out = render(&events, plain());
        assert_eq!(summary_lines(&out)[0], "summary: run run-0001 on sim");
        assert_eq!(summary_lines(&out).last(), Some(&"1 passed, 1 failed, 1 skipped"));
        assert_eq!(out.matches("summary: ").count(), 1);
    }

    #[test]
    fn colour_marks_verdicts_and_diffs_but_never_the_totals_line() {
        let out = render(&fixtures::mixed_run(), TerminalOptions { quiet: false, colour: true });
        assert!(out.contains("\x1b[32mPASS\x1b[0m    1.234s configmap-sync"), "{out}");
        assert!(out.contains("\x1b[1;31mFAIL\x1b[0m   10.250s policy-denies"), "{out}");
        assert!(out.contains("      \x1b[32m+denied: false\x1b[0m"), "{out}");
        assert_eq!(out.lines().last(), Some("1 passed, 1 failed, 1 skipped"));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
    }

    #[test]
    fn write_errors_are_reported_by_finish() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("pipe closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut r = TerminalReporter::new(Broken, plain());
        for e in fixtures::passing_run() {
            r.event(&e);
        }
        assert_eq!(r.finish().unwrap_err().to_string(), "pipe closed");
    }
}
