//! JUnit XML for CI: one testsuite for the run, one testcase per scenario, written when the
//! run finishes.
//!
//! A failed scenario's `<failure>` carries the real error: its `message` attribute is the
//! failure message, its text the failing step, the detail and the expected-versus-actual diff
//! (kuttl#264, chainsaw#1099), and the evidence bundle's folder. Each testcase's `system-out`
//! holds the step timeline, the fidelity notes, the leaks and the bundle's files as
//! `[[ATTACHMENT|path]]` lines (attachments in Jenkins and GitLab). It must not invent values: everything comes from the events,
//! which are already redacted.
//!
//! ```xml
//! <testsuites name="idp-harness" tests="3" failures="1" errors="0" skipped="1" time="11.484">
//!   <testsuite name="idp-harness/sim" tests="3" ... timestamp="2025-06-01T10:00:00Z">
//!     <properties><property name="run_id" value="run-0001"/>…</properties>
//!     <testcase name="policy-denies" classname="scenarios/policy-denies.yaml" time="10.250">
//!       <failure message="expectation not met within 10s: …" type="step failed">
//!         at spec.steps[1] expect denial … (scenarios/policy-denies.yaml:14)
//!         …detail…
//!         diff (expected vs actual): …
//!         evidence: target/idp-harness/run-0001/policy-denies
//!       </failure>
//!       <system-out>steps: FAIL 10.000s expect denial … (spec.steps[1], line 14) …
//!         evidence: …/policy-denies [[ATTACHMENT|…/policy-denies/failure.txt]] …</system-out>
//!     </testcase>
//!   </testsuite>
//! </testsuites>
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use jiff::Timestamp;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{all_steps, failures, secs, verdict_word, RunRecord};
use crate::run::events::{Failure, Reporter, RunEvent, ScenarioReport, StepReport, Verdict};
use crate::run::evidence::BUNDLE_FILES;

/// Collects finished scenarios and writes JUnit XML to a path at [`Reporter::finish`].
pub struct JunitReporter {
    path: PathBuf,
    record: RunRecord,
}

impl JunitReporter {
    /// Writes to `path` (parent directories are created) when the run finishes.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), record: RunRecord::default() }
    }

    /// Uses `at` as the run's start time instead of the time `RunStarted` arrives.
    pub fn with_start_time(mut self, at: Timestamp) -> Self {
        self.record.started_at = Some(at);
        self
    }

    /// The report as it stands: what `finish` writes.
    pub fn report(&self) -> Report {
        let rec = &self.record;
        let mut report = Report::new("idp-harness");
        let suite_name =
            if rec.backend.is_empty() { "idp-harness".to_string() } else { format!("idp-harness/{}", rec.backend) };
        let mut suite = TestSuite::new(suite_name);
        if let Some(ts) = rec.started_at.and_then(to_chrono) {
            suite.set_timestamp(ts);
            report.set_timestamp(ts);
        }
        if let Some(d) = rec.duration() {
            suite.set_time(d);
            report.set_time(d);
        }
        suite.add_property(Property::new("run_id", rec.run_id.as_str()));
        suite.add_property(Property::new("backend", rec.backend.as_str()));
        suite.add_test_cases(rec.ordered().into_iter().map(test_case));
        suite.add_test_cases(rec.not_run().into_iter().map(|name| {
            let mut status = TestCaseStatus::skipped();
            status.set_message("not run: the run stopped before this scenario started");
            let mut case = TestCase::new(name, status);
            case.set_classname(name);
            case
        }));
        report.add_test_suite(suite);
        report
    }
}

impl Reporter for JunitReporter {
    fn event(&mut self, e: &RunEvent) {
        self.record.observe(e, Timestamp::now);
    }

    fn finish(&mut self) -> io::Result<Vec<PathBuf>> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut out = BufWriter::new(fs::File::create(&self.path)?);
        self.report().serialize(&mut out).map_err(|e| io::Error::other(format!("junit xml: {e}")))?;
        out.flush()?;
        Ok(vec![self.path.clone()])
    }
}

fn to_chrono(ts: Timestamp) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let nanos = u32::try_from(ts.subsec_nanosecond()).ok()?;
    chrono::DateTime::from_timestamp(ts.as_second(), nanos).map(|d| d.fixed_offset())
}

fn test_case(r: &ScenarioReport) -> TestCase {
    let status = match r.verdict {
        Verdict::Passed => TestCaseStatus::success(),
        Verdict::Skipped => {
            let mut s = TestCaseStatus::skipped();
            if let Some(f) = &r.failure {
                s.set_message(f.message.as_str());
            }
            s
        }
        Verdict::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let failures = failures(r);
            match failures.headline {
                Some((f, step)) => {
                    s.set_message(f.message.as_str());
                    s.set_type(if step.is_some() { "step failed" } else { "scenario failed" });
                    let mut text = failure_text(r, step, f);
                    for other in failures.others {
                        if let Some(of) = &other.failure {
                            text.push_str("\nalso failed:\n");
                            text.push_str(&failure_text(r, Some(other), of));
                        }
                    }
                    if let Some(dir) = &r.evidence {
                        let _ = writeln!(text, "\nevidence: {}", dir.display());
                    }
                    s.set_description(text);
                }
                None => {
                    s.set_message("scenario failed; the runner reported no failure detail");
                    s.set_type("scenario failed");
                }
            }
            s
        }
    };
    let mut case = TestCase::new(r.name.as_str(), status);
    case.set_classname(r.file.display().to_string());
    case.set_time(r.duration);
    case.set_system_out(timeline(r));
    case
}

/// The failure's text: where it happened, the detail and the diff.
fn failure_text(r: &ScenarioReport, step: Option<&StepReport>, f: &Failure) -> String {
    let mut out = String::new();
    if let Some(s) = step {
        let _ = writeln!(out, "at {} {} ({}:{})", s.path, s.name, r.file.display(), s.line);
    }
    let _ = writeln!(out, "{}", f.message);
    if let Some(detail) = &f.detail {
        let _ = writeln!(out, "\ndetail:\n{detail}");
    }
    if let Some(diff) = &f.diff {
        let _ = writeln!(out, "\ndiff (expected vs actual):\n{diff}");
    }
    out
}

/// The step timeline, then fidelity notes and leaks.
fn timeline(r: &ScenarioReport) -> String {
    let mut out = String::new();
    let mut section = |title: &str, steps: &[StepReport]| {
        if steps.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for s in steps {
            let _ = writeln!(
                out,
                "  {} {:>9} {} ({}, line {})",
                verdict_word(s.verdict),
                secs(s.duration),
                s.name,
                s.path,
                s.line
            );
        }
    };
    section("steps", &r.steps);
    section("cleanup", &r.cleanup);
    let notes: Vec<String> =
        all_steps(r).flat_map(|s| s.fidelity_notes.iter().map(move |n| format!("  {}: {n}", s.path))).collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "fidelity notes (what the {} backend cannot show):", r.backend);
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    if !r.leaks.is_empty() {
        let _ = writeln!(out, "left after cleanup:");
        for leak in &r.leaks {
            let _ = writeln!(out, "  {leak}");
        }
    }
    if out.is_empty() {
        out.push_str("no steps ran\n");
    }
    if let Some(dir) = &r.evidence {
        // `[[ATTACHMENT|path]]` is how Jenkins and GitLab attach files to a test case.
        let _ = writeln!(out, "evidence: {}", dir.display());
        for file in BUNDLE_FILES {
            let _ = writeln!(out, "[[ATTACHMENT|{}]]", dir.join(file).display());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{self, EVIDENCE, FAIL_DETAIL, FAIL_DIFF, FAIL_MESSAGE, FIDELITY, LEAK};

    fn write_report(events: &[RunEvent]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports/nested/junit.xml");
        let start: Timestamp = "2025-06-01T10:00:00Z".parse().unwrap();
        let mut r = JunitReporter::new(&path).with_start_time(start);
        for e in events {
            r.event(e);
        }
        assert_eq!(r.finish().unwrap(), vec![path.clone()]);
        let xml = fs::read_to_string(&path).unwrap();
        (dir, xml)
    }

    /// Parsed with roxmltree, a strict XML parser independent of the writer.
    fn element<'a>(doc: &'a roxmltree::Document<'a>, tag: &str, name: &str) -> roxmltree::Node<'a, 'a> {
        doc.descendants()
            .find(|n| n.has_tag_name(tag) && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no <{tag} name={name:?}>"))
    }

    fn child_text<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<&'a str> {
        node.children().find(|c| c.has_tag_name(tag)).and_then(|c| c.text())
    }

    #[test]
    fn xml_structure_carries_the_failure_message_diff_and_timeline() {
        let (_dir, xml) = write_report(&fixtures::mixed_run());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("skipped"), Some("1"));

        let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
        assert_eq!(suites.len(), 1, "one testsuite for the run");
        let suite = suites[0];
        assert_eq!(suite.attribute("name"), Some("idp-harness/sim"));
        assert_eq!(suite.attribute("timestamp"), Some("2025-06-01T10:00:00.000+00:00"));
        assert_eq!(suite.attribute("time"), Some("11.484"));
        let run_id = suite.descendants().find(|n| n.has_tag_name("property") && n.attribute("name") == Some("run_id"));
        assert_eq!(run_id.and_then(|p| p.attribute("value")), Some("run-0001"));
        let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
        let names: Vec<_> = cases.iter().filter_map(|c| c.attribute("name")).collect();
        assert_eq!(names, ["configmap-sync", "policy-denies", "aws-role"]);

        let passed = element(&doc, "testcase", "configmap-sync");
        assert_eq!(passed.attribute("classname"), Some("scenarios/configmap-sync.yaml"));
        assert_eq!(passed.attribute("time"), Some("1.234"));
        assert!(!passed.children().any(|c| c.has_tag_name("failure") || c.has_tag_name("skipped")));

        let failed = element(&doc, "testcase", "policy-denies");
        assert_eq!(failed.attribute("classname"), Some("scenarios/gatekeeper/policy-denies.yaml"));
        let failure = failed.children().find(|c| c.has_tag_name("failure")).expect("a <failure>");
        assert_eq!(failure.attribute("message"), Some(FAIL_MESSAGE));
        let text = failure.text().unwrap_or_default();
        assert!(
            text.starts_with(
                "at spec.steps[1] expect denial of apps/v1/Deployment web (scenarios/gatekeeper/policy-denies.yaml:14)"
            ),
            "{text}"
        );
        assert!(text.contains(FAIL_DETAIL), "detail (with < and &) survives escaping: {text}");
        assert!(text.contains(&format!("diff (expected vs actual):\n{FAIL_DIFF}")), "{text}");

        let out = child_text(failed, "system-out").unwrap_or_default();
        let expected_timeline = "steps:\n\
            \x20 PASS    0.050s apply constraints.gatekeeper.sh/v1beta1/K8sRequiredLabels require-team (spec.steps[0], line 6)\n\
            \x20 FAIL   10.000s expect denial of apps/v1/Deployment web (spec.steps[1], line 14)\n\
            \x20 SKIP    0.000s assert audit results (spec.steps[2], line 20)\n\
            cleanup:\n\
            \x20 PASS    0.200s delete namespace s-x (cleanup[0], line 3)\n";
        assert!(out.starts_with(expected_timeline), "{out}");
        assert!(out.contains(&format!("  spec.steps[1]: {FIDELITY}")), "{out}");
        assert!(out.contains(&format!("left after cleanup:\n  {LEAK}")), "{out}");
        assert!(text.ends_with(&format!("\nevidence: {EVIDENCE}\n")), "{text}");
        assert!(out.contains(&format!("evidence: {EVIDENCE}\n[[ATTACHMENT|{EVIDENCE}/failure.txt]]\n")), "{out}");
        assert_eq!(out.matches("[[ATTACHMENT|").count(), BUNDLE_FILES.len(), "{out}");
        assert!(!child_text(passed, "system-out").unwrap_or_default().contains("evidence"));

        let skipped = element(&doc, "testcase", "aws-role");
        assert!(skipped.children().any(|c| c.has_tag_name("skipped")));
        assert!(!skipped.children().any(|c| c.has_tag_name("failure")));
    }

    #[test]
    fn a_junit_parser_reads_it_back() {
        let (_dir, xml) = write_report(&fixtures::mixed_run());
        let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((report.tests, report.failures, report.errors, report.skipped), (3, 1, 0, 1));
        let case = report.test_suites[0].test_cases.iter().find(|c| c.name.as_str() == "policy-denies").unwrap();
        match &case.status {
            TestCaseStatus::NonSuccess { kind, message, description, .. } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(message.as_ref().map(|m| m.as_str()), Some(FAIL_MESSAGE));
                assert!(description.as_ref().is_some_and(|d| d.as_str().contains("+denied: false")));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn other_failed_steps_follow_the_headline_failure() {
        let (_dir, xml) = write_report(&fixtures::sequential_run(&[fixtures::policy_denies_and_cleanup_fails()]));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure =
            element(&doc, "testcase", "policy-denies").children().find(|c| c.has_tag_name("failure")).unwrap();
        assert_eq!(failure.attribute("message"), Some(FAIL_MESSAGE), "the scenario's own failure is the message");
        let text = failure.text().unwrap_or_default();
        let also = format!(
            "\nalso failed:\nat cleanup[0] delete namespace s-x (scenarios/gatekeeper/policy-denies.yaml:3)\n{}\n",
            fixtures::CLEANUP_MESSAGE
        );
        assert!(text.ends_with(&format!("{also}\nevidence: {EVIDENCE}\n")), "{text}");
    }

    #[test]
    fn scenarios_that_never_ran_are_skipped_cases_in_announced_order() {
        let (_dir, xml) = write_report(&fixtures::interleaved_run());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let names: Vec<_> =
            doc.descendants().filter(|n| n.has_tag_name("testcase")).filter_map(|c| c.attribute("name")).collect();
        assert_eq!(names, ["configmap-sync", "policy-denies", "aws-role"]);
        let never = element(&doc, "testcase", "aws-role");
        let skipped = never.children().find(|c| c.has_tag_name("skipped")).expect("<skipped>");
        assert!(skipped.attribute("message").is_some_and(|m| m.starts_with("not run")));
    }

    #[test]
    fn finish_reports_a_path_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "").unwrap();
        let mut r = JunitReporter::new(blocker.join("junit.xml"));
        for e in fixtures::passing_run() {
            r.event(&e);
        }
        assert!(r.finish().is_err());
    }
}
