//! Reports of `policy verify` results: gator's text output (its Go-test-like printer, byte for
//! byte), JUnit XML (one testsuite per suite file, one testcase per case) and a JSON summary.
//!
//! This module formats results it is given and must not run anything; writing files is the
//! CLI's business.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{json, Value};

use super::verify::{SuiteResult, TestResult, Totals};

/// gator's duration format: seconds with three decimals.
pub fn go_duration(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// gator verify's output (`PrinterGo`): failed cases and tests with their errors, one
/// `ok`/`FAIL` line per suite, and `PASS` or `FAIL`; with `verbose`, `=== RUN`, `=== SKIP` and
/// `--- PASS` lines too. Ends with the newline gator's `fmt.Println` adds.
pub fn print_go(results: &[SuiteResult], verbose: bool) -> String {
    let mut w = String::new();
    let mut fail = false;
    for s in results {
        if !s.skipped {
            for t in &s.tests {
                print_test(&mut w, t, verbose);
            }
        }
        if s.is_failure() {
            fail = true;
            let _ = writeln!(w, "FAIL\t{}\t{}", s.path, go_duration(s.runtime));
        } else {
            let _ = writeln!(w, "ok\t{}\t{}", s.path, go_duration(s.runtime));
        }
    }
    w.push_str(if fail { "FAIL\n" } else { "PASS\n" });
    w.push('\n');
    w
}

fn print_test(w: &mut String, t: &TestResult, verbose: bool) {
    if verbose {
        if t.skipped {
            let _ = writeln!(w, "=== SKIP  {}", t.name);
            return;
        }
        let _ = writeln!(w, "=== RUN   {}", t.name);
    }
    for c in &t.cases {
        if verbose {
            if c.skipped {
                let _ = writeln!(w, "    === SKIP  {}", c.name);
                continue;
            }
            let _ = writeln!(w, "    === RUN   {}", c.name);
        }
        if let Some(e) = &c.error {
            let _ = writeln!(w, "    --- FAIL: {}\t({})\n        {e}", c.name, go_duration(c.runtime));
        } else if verbose {
            let _ = writeln!(w, "    --- PASS: {}\t({})", c.name, go_duration(c.runtime));
        }
    }
    if t.is_failure() {
        let _ = writeln!(w, "--- FAIL: {}\t({})", t.name, go_duration(t.runtime));
        if let Some(e) = &t.error {
            let _ = writeln!(w, "  {e}");
        }
    } else if verbose {
        let _ = writeln!(w, "--- PASS: {}\t({})", t.name, go_duration(t.runtime));
    }
}

/// JUnit XML: a testsuite per suite file (named by its path), a testcase per case named
/// `<test>/<case>` with the suite path as classname. A test that failed before its cases ran is
/// one failed testcase named after the test; skipped tests and cases are skipped testcases.
pub fn junit(results: &[SuiteResult]) -> Report {
    let mut report = Report::new("idp-harness policy verify");
    let mut total = Duration::ZERO;
    for s in results {
        total += s.runtime;
        let mut suite = TestSuite::new(s.path.as_str());
        suite.set_time(s.runtime);
        for t in &s.tests {
            if let Some(e) = &t.error {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(e.as_str()).set_type("test error");
                let mut case = TestCase::new(t.name.as_str(), status);
                case.set_classname(s.path.as_str()).set_time(t.runtime);
                suite.add_test_case(case);
                continue;
            }
            if t.skipped && t.cases.is_empty() {
                let mut status = TestCaseStatus::skipped();
                status.set_message(if s.skipped { "suite skipped" } else { "test skipped or not selected by --run" });
                let mut case = TestCase::new(t.name.as_str(), status);
                case.set_classname(s.path.as_str());
                suite.add_test_case(case);
                continue;
            }
            for c in &t.cases {
                let status = if c.skipped {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message("case skipped or not selected by --run");
                    st
                } else if let Some(e) = &c.error {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(e.as_str()).set_type("case failed");
                    st
                } else {
                    TestCaseStatus::success()
                };
                let mut case = TestCase::new(format!("{}/{}", t.name, c.name), status);
                case.set_classname(s.path.as_str()).set_time(c.runtime);
                suite.add_test_case(case);
            }
        }
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report
}

/// The results as JSON: totals, then suites with tests and cases, each with `passed`, its
/// error if any and its time in seconds.
pub fn json(results: &[SuiteResult]) -> Value {
    let totals = Totals::of(results);
    let secs = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e6;
    let suites: Vec<Value> = results
        .iter()
        .map(|s| {
            let tests: Vec<Value> = s
                .tests
                .iter()
                .map(|t| {
                    let cases: Vec<Value> = t
                        .cases
                        .iter()
                        .map(|c| {
                            json!({"name": c.name, "skipped": c.skipped, "passed": !c.skipped && c.error.is_none(),
                                   "error": c.error, "time": secs(c.runtime)})
                        })
                        .collect();
                    json!({"name": t.name, "skipped": t.skipped, "passed": !t.skipped && !t.is_failure(),
                           "error": t.error, "time": secs(t.runtime), "cases": cases})
                })
                .collect();
            json!({"path": s.path, "skipped": s.skipped, "passed": !s.is_failure(), "time": secs(s.runtime), "tests": tests})
        })
        .collect();
    let passed = !results.iter().any(SuiteResult::is_failure);
    json!({
        "passed": passed,
        "cases": {"passed": totals.passed, "failed": totals.failed, "skipped": totals.skipped},
        "suites": suites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::verify::CaseResult;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn results(error: Option<&str>) -> Vec<SuiteResult> {
        vec![SuiteResult {
            path: "tests.yaml".into(),
            skipped: false,
            runtime: ms(330),
            tests: vec![TestResult {
                name: "forbid-labels".into(),
                skipped: false,
                error: None,
                runtime: ms(330),
                cases: vec![
                    CaseResult { name: "with label".into(), skipped: false, error: None, runtime: ms(100) },
                    CaseResult { name: "skipped".into(), skipped: true, error: None, runtime: Duration::ZERO },
                    CaseResult {
                        name: "without label".into(),
                        skipped: false,
                        error: error.map(str::to_string),
                        runtime: ms(230),
                    },
                ],
            }],
        }]
    }

    #[test]
    fn the_text_output_is_gators() {
        assert_eq!(print_go(&results(None), false), "ok\ttests.yaml\t0.330s\nPASS\n\n");
        assert_eq!(
            print_go(&results(None), true),
            "=== RUN   forbid-labels\n    === RUN   with label\n    --- PASS: with label\t(0.100s)\n    === SKIP  \
             skipped\n    === RUN   without label\n    --- PASS: without label\t(0.230s)\n--- PASS: \
             forbid-labels\t(0.330s)\nok\ttests.yaml\t0.330s\nPASS\n\n"
        );
        assert_eq!(
            print_go(&results(Some("got violation but want allow")), false),
            "    --- FAIL: without label\t(0.230s)\n        got violation but want allow\n--- FAIL: \
             forbid-labels\t(0.330s)\nFAIL\ttests.yaml\t0.330s\nFAIL\n\n"
        );
        assert_eq!(print_go(&[], false), "PASS\n\n");
    }

    #[test]
    fn junit_has_a_testsuite_per_file_and_a_testcase_per_case() {
        let xml = junit(&results(Some("boom"))).to_string().expect("xml");
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).expect("testsuite");
        assert_eq!(suite.attribute("name"), Some("tests.yaml"));
        assert_eq!(
            (suite.attribute("tests"), suite.attribute("failures"), suite.attribute("skipped")),
            (Some("3"), Some("1"), Some("1"))
        );
        let failed =
            doc.descendants().find(|n| n.has_tag_name("failure")).and_then(|n| n.parent()).expect("failed case");
        assert_eq!(failed.attribute("name"), Some("forbid-labels/without label"));
        let j = json(&results(Some("boom")));
        assert_eq!(j["cases"], serde_json::json!({"passed": 1, "failed": 1, "skipped": 1}));
        assert_eq!(j["passed"], false);
    }
}
