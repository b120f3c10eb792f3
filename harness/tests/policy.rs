//! `idp-harness policy verify` and `policy test` through the built binary: the example suites
//! under policies/ pass; fixture suites that pass, fail and do not load give gator's output and
//! exit codes (0 passed, 1 failed, 2 usage or configuration error); every enforcement action,
//! both Rego versions, AdmissionReview objects, inventory, skips and `--run`; JUnit (read back
//! with roxmltree) and JSON reports; `policy test` in its three output formats.

use std::path::{Path, PathBuf};
use std::process::Output;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy")
}

fn cli(args: &[&str], dir: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_idp-harness"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the CLI")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Lines with the `(0.001s)`-style durations blanked, for exact comparisons.
fn without_times(s: &str) -> String {
    let re = regex::Regex::new(r"\d+\.\d{3}s").expect("regex");
    re.replace_all(s, "T").into_owned()
}

#[test]
fn the_example_policies_pass() {
    let out = cli(&["policy", "verify", "policies/..."], &root());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        without_times(&stdout),
        "ok\tpolicies/allowed-registries/suite.yaml\tT\nok\tpolicies/container-limits/suite.yaml\tT\n\
         ok\tpolicies/match-fields/suite.yaml\tT\nok\tpolicies/protected-namespaces/suite.yaml\tT\nok\tpolicies/required-labels/suite.yaml\tT\n\
         ok\tpolicies/unique-ingress-host/suite.yaml\tT\nPASS\n\n"
    );
    assert!(stderr.is_empty(), "no warnings for the examples: {stderr}");
    // Without `/...` only the directory's own files count: policies/ holds no suite itself.
    let out = cli(&["policy", "verify", "policies"], &root());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out).0, "PASS\n\n");
    assert!(text(&out).1.contains("warning: no gator suites"), "{}", text(&out).1);
}

#[test]
fn passing_fixtures_run_every_case_they_name() {
    let out = cli(&["policy", "verify", "-v", "pass/suite.yaml"], &fixtures());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for line in [
        "    --- PASS: unowned\t(T)",
        "    --- PASS: unowned-but-not-enforced-at-gator\t(T)",
        "    --- PASS: bad-owner\t(T)",
        "    --- PASS: prod-pod\t(T)",
        "    --- PASS: dev-pod-not-selected\t(T)",
        "    --- PASS: namespace-not-given\t(T)",
        "    --- PASS: plain-object-has-no-operation\t(T)",
        "    --- PASS: update-by-carol\t(T)",
        "    --- PASS: delete-reviews-the-old-object\t(T)",
        "--- PASS: schema-invalid-constraint-expected\t(T)",
        "=== SKIP  skipped-test",
        "    === SKIP  skipped",
        "    --- PASS: run\t(T)",
        "ok\tpass/suite.yaml\tT",
        "PASS",
    ] {
        assert!(without_times(&stdout).lines().any(|l| l == line), "missing {line:?} in\n{stdout}");
    }
    for action in ["deny", "warn", "dryrun", "scoped-at-gator", "scoped-everywhere", "scoped-elsewhere"] {
        assert!(stdout.contains(&format!("=== RUN   {action}\n")), "{action} ran:\n{stdout}");
    }
}

#[test]
fn failing_fixtures_report_each_failure_as_gator_does() {
    let out = cli(&["policy", "verify", "fail"], &fixtures());
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let got = without_times(&stdout);
    for block in [
        "    --- FAIL: count-mismatch\t(T)\n        unexpected number of violations: got 1 violations but want exactly 2: got \
         messages [Pod unowned has no owner label]\n",
        "    --- FAIL: want-none\t(T)\n        unexpected number of violations: got 1 violations but want none: got messages \
         [Pod unowned has no owner label]\n",
        "    --- FAIL: want-some\t(T)\n        unexpected number of violations: got 0 violations containing \"owner\" but want \
         at least 1: got messages []\n",
        "    --- FAIL: bad-violations-value\t(T)\n        invalid yaml: assertion.violation, if set, must be a nonnegative \
         integer, \"yes\", or \"no\": got messages [Pod unowned has no owner label]\n",
        "    --- FAIL: no-assertions\t(T)\n        invalid Case: assertions must be non-empty\n",
        "    --- FAIL: no-object\t(T)\n        invalid Case: must define object\n",
        "    --- FAIL: two-objects\t(T)\n        object file must contain exactly one object: \"lib/two-pods.yaml\" defines 2 \
         objects\n",
        "    --- FAIL: comments-only\t(T)\n        missing objects: path \"lib/comments-only.yaml\" defines no YAML objects\n",
        "    --- FAIL: review-without-request\t(T)\n        missing an AdmissionRequest object: request did not actually \
         pass in an AdmissionRequest\n",
        "--- FAIL: assertions\t(T)\n--- FAIL: missing-template-file\t(T)\n  reading ConstraintTemplate from \
         \"lib/nope/template.yaml\": ",
        "--- FAIL: missing-template-field\t(T)\n  invalid Suite: missing template\n",
        "--- FAIL: not-a-template\t(T)\n  path \"lib/owner-deny.yaml\": not a ConstraintTemplate\n",
        "--- FAIL: broken-template\t(T)\n  adding template: 1 error occurred: FixtureBroken/template.rego:3:25: ",
        "--- FAIL: constraint-without-template\t(T)\n  missing ConstraintTemplate: template \"fixturemissing\" not found\n",
        "--- FAIL: schema-invalid-constraint\t(T)\n  schema validation failed: spec.parameters.pattern: ",
        "--- FAIL: invalid-expected-but-valid\t(T)\n  constraint should have failed schema validation: got error <nil> but want \
         schema validation failed\n",
        "FAIL\tfail/suite.yaml\tT\nFAIL\n\n",
    ] {
        assert!(got.contains(block), "missing\n{block}\nin\n{got}");
    }
    // A missing file names the path as resolved and the suite field (with line and column).
    assert!(
        got.contains("reading \"lib/nope.yaml\": ")
            && got.contains("(named by tests[0].cases[10].object at fail/suite.yaml:39:17)"),
        "{got}"
    );
    assert!(got.contains("(named by tests[0].cases[11].inventory[0] at fail/suite.yaml:43:21)"), "{got}");
    assert!(got.contains("(named by tests[1].template at fail/suite.yaml:55:15)"), "{got}");
    assert!(got.contains("expansion templates are not supported by idp-harness"), "{got}");
    assert!(got.contains("template \"fixturecel\" has no Rego source"), "{got}");
    assert!(got.contains("oldObject cannot be nil for DELETE operations"), "{got}");
    assert!(got.contains("unknown field \"request.objekt\""), "{got}");
    assert!(got.contains("message contains invalid regular expression: "), "{got}");
    // The passing case in the same test is not printed without -v, and does not fail.
    assert!(!got.contains("--- FAIL: passes"), "{got}");
}

#[test]
fn the_run_filter_selects_tests_and_cases() {
    let out = cli(&["policy", "verify", "fail", "--run", "^assertions$//^count-mismatch$"], &fixtures());
    let got = without_times(&text(&out).0);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        got,
        "    --- FAIL: count-mismatch\t(T)\n        unexpected number of violations: got 1 violations but want exactly 2: \
         got messages [Pod unowned has no owner label]\n--- FAIL: assertions\t(T)\nFAIL\tfail/suite.yaml\tT\nFAIL\n\n"
    );
    let out = cli(&["policy", "verify", "fail", "-r", "passes"], &fixtures());
    assert_eq!(out.status.code(), Some(0), "only the passing case runs: {}", text(&out).0);
    let out = cli(&["policy", "verify", "fail", "--run", "a//b//c"], &fixtures());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("a filter may include at most one \"//\""), "{}", text(&out).1);
}

fn case<'a, 'i>(suite: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    suite.children().find(|c| c.attribute("name") == Some(name)).unwrap_or_else(|| panic!("testcase {name}"))
}

#[test]
fn junit_and_json_reports_describe_every_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = dir.path().join("reports/policy.xml");
    let json = dir.path().join("reports/policy.json");
    let out = cli(
        &[
            "policy",
            "verify",
            "pass",
            "fail",
            "skipped",
            "--junit",
            junit.to_str().unwrap_or_default(),
            "--json",
            json.to_str().unwrap_or_default(),
        ],
        &fixtures(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).0);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    let names: Vec<_> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    assert_eq!(names, vec!["pass/suite.yaml", "fail/suite.yaml", "skipped/suite.yaml"]);
    let fail = suites[1];
    assert_eq!(fail.attribute("failures"), Some("23"), "14 failing cases and 9 failing tests");
    let count = case(fail, "assertions/count-mismatch");
    assert_eq!(count.attribute("classname"), Some("fail/suite.yaml"));
    let failure = count.children().find(|c| c.has_tag_name("failure")).expect("failure");
    assert!(failure.attribute("message").unwrap_or_default().starts_with("unexpected number of violations: got 1"));
    assert!(case(fail, "assertions/passes").children().all(|c| !c.has_tag_name("failure")));
    assert!(case(fail, "broken-template").children().any(|c| c.has_tag_name("failure")), "a test error is a testcase");
    assert!(case(suites[0], "skipped-case/skipped").children().any(|c| c.has_tag_name("skipped")));
    assert!(case(suites[2], "never-run").children().any(|c| c.has_tag_name("skipped")));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("JSON");
    assert_eq!(j["passed"], false);
    assert_eq!(j["suites"][1]["path"], "fail/suite.yaml");
    assert_eq!(j["suites"][1]["tests"][0]["cases"][1]["name"], "count-mismatch");
    assert_eq!(j["suites"][1]["tests"][0]["cases"][1]["passed"], false);
    assert_eq!(j["suites"][0]["passed"], true);
}

#[test]
fn an_invalid_suite_is_a_configuration_error_with_locations() {
    let out = cli(&["policy", "verify", "invalid/suite.yaml"], &fixtures());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty(), "nothing runs: {stdout}");
    assert!(
        stderr.contains("error: invalid/suite.yaml:8:15: tests[0].cases[0].name: expected a string, found a list"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: invalid/suite.yaml:11:25: tests[0].cases[0].assertions[0].violations: expected an integer or a string"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("suite.yaml");
    std::fs::write(&broken, "apiVersion: test.gatekeeper.sh/v1alpha1\nkind: Suite\ntests: [\n").expect("write");
    let out = cli(&["policy", "verify", "suite.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.starts_with("error: suite.yaml:"), "a YAML syntax error is located: {}", text(&out).1);
}

#[test]
fn unknown_keys_warn_with_a_suggestion_and_gators_semantics_follow() {
    let out = cli(&["policy", "verify", "warnings"], &fixtures());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "the misspelt assertions leave the case without any: {stdout}");
    assert!(stderr.contains("warning: warnings/suite.yaml:3:1: unknown field `description` is ignored"), "{stderr}");
    assert!(
        stderr.contains(
            "warning: warnings/suite.yaml:11:9: unknown field `tests[0].cases[0].asertions` is ignored (gator ignores \
             unknown fields)\n  hint: did you mean `assertions`?"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("invalid Case: assertions must be non-empty"), "{stdout}");
}

#[test]
fn skipped_suites_and_other_yaml_files() {
    let out = cli(&["policy", "verify", "skipped"], &fixtures());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out).0, "ok\tskipped/suite.yaml\t0.000s\nPASS\n\n", "the ConfigMap file is not a suite");
}

#[test]
fn usage_errors_exit_2() {
    for (args, expect) in [
        (vec!["policy", "verify", "nope"], "nope: "),
        (vec!["policy", "verify", "pass/suite.yaml/..."], "can only recursively traverse directories"),
        (vec!["policy", "verify", "gator-test/pod.json"], "unsupported extension: \".json\""),
        (vec!["policy", "verify"], "required"),
        (vec!["policy", "test"], "required"),
        (vec!["policy", "test", "-f", "gator-test/nested/notes.txt"], "must be of extensions: [.yaml .yml .json]"),
        (vec!["policy", "test", "-f", "lib/comments-only.yaml"], "no input data identified"),
        (
            vec!["policy", "test", "-f", "lib/template-owner.yaml", "-f", "lib/missing-template.yaml"],
            "missing ConstraintTemplate: template \"fixturemissing\" not found",
        ),
    ] {
        let out = cli(&args, &fixtures());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out).1);
        assert!(text(&out).1.contains(expect), "{args:?}: {}", text(&out).1);
    }
}

#[test]
fn policy_test_prints_violations_and_fails_only_on_deny() {
    let out = cli(&["policy", "test", "-f", "gator-test"], &fixtures());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out).0,
        "v1/Pod prod/web: [\"pods-have-owners\"] Message: \"Pod web has no owner label\"\n\
         v1/ConfigMap prod/settings: [\"configmaps-in-prod\"] Message: \"ConfigMap settings has no owner label\"\n\
         v1/Namespace prod: [\"namespaces-should-have-owners\"] Message: \"Namespace prod has no owner label\"\n",
        "sorted by enforcement action, then message; the JSON file, the nested directory and the namespaceSelector \
         (through the Namespace among the inputs) all count"
    );
    let out = cli(&["policy", "test", "-f", "gator-test", "--deny-only"], &fixtures());
    assert_eq!((out.status.code(), text(&out).0.lines().count()), (Some(1), 1));
    // warn and dryrun violations are printed but do not fail.
    let out = cli(&["policy", "test", "-f", "gator-test/policy.yaml", "-f", "gator-test/nested"], &fixtures());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
    assert_eq!(text(&out).0.lines().count(), 2);
    // scoped: only the actions at gator.gatekeeper.sh count.
    let scoped = |constraint: &str| {
        cli(
            &["policy", "test", "-f", "lib/template-owner.yaml", "-f", constraint, "-f", "lib/pod-unowned.yaml"],
            &fixtures(),
        )
    };
    let out = scoped("lib/owner-scoped-webhook.yaml");
    assert_eq!((out.status.code(), text(&out).0.as_str()), (Some(0), ""));
    let out = scoped("lib/owner-scoped-all.yaml");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out)
        .0
        .contains("v1/Pod prod/unowned: [\"owner-scoped-all\"] Message: \"Pod unowned has no owner label\""));
    let out = scoped("lib/owner-scoped-gator.yaml");
    assert_eq!(out.status.code(), Some(0), "a scoped warn at gator is printed but does not fail");
    assert!(!text(&out).0.is_empty());
}

#[test]
fn policy_test_json_and_yaml_read_back() {
    let out = cli(&["policy", "test", "-f", "gator-test", "-o", "json"], &fixtures());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out).0;
    assert!(stdout.starts_with("[\n    {\n        \"target\": \"admission.k8s.gatekeeper.sh\",\n"), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(v[0]["msg"], "Pod web has no owner label");
    assert_eq!(v[0]["enforcementAction"], "deny");
    assert_eq!(v[0]["constraint"]["metadata"]["name"], "pods-have-owners");
    assert_eq!(v[0]["violatingObject"]["metadata"]["name"], "web");
    assert_eq!(v[0]["metadata"], serde_json::json!({"details": {}}));
    assert!(v[0]["trace"].is_null());
    let out = cli(&["policy", "test", "-f", "gator-test", "-o", "YAML"], &fixtures());
    let stdout = text(&out).0;
    assert!(
        stdout.starts_with("- result:\n    target: admission.k8s.gatekeeper.sh\n    msg: Pod web has no owner label\n"),
        "{stdout}"
    );
    let y: Vec<serde_json::Value> = serde_saphyr::from_str(&stdout).expect("YAML");
    assert_eq!(y.len(), 3);
    assert_eq!(y[2]["result"]["enforcementaction"], "warn");
    assert_eq!(y[2]["violatingObject"]["kind"], "Namespace");
    let out = cli(&["policy", "test", "-f", "lib/pod-owned.yaml", "-o", "json"], &fixtures());
    assert_eq!((out.status.code(), text(&out).0.as_str()), (Some(0), "null"));
}
