//! `gator verify` semantics: running the tests and cases of loaded suites, with gator's
//! `--run` filter, its assertions and its error texts, and results with durations for the
//! printers in `report`.
//!
//! Per test: the template and the constraint are added to a fresh client (a problem there
//! fails the test: a missing file, a template that does not compile, a constraint whose kind
//! has no template, a constraint that fails its schema — unless the test says `invalid: true`,
//! which expects exactly that); per case: the object (one per file, or an AdmissionReview) is
//! reviewed with the case's inventory, and every assertion must hold. Errors about files name
//! the path as resolved and the suite field that named it. This module must not print.

use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;
use sim::apiserver::gofmt::go_quote;
use sim::gatekeeper::eval::group_version;

use super::engine::{sort_results, AddError, PolicyClient, PolicyResult, Subject};
use super::suite::{Assertion, Case, FileRef, Suite, Test, Violations};
use super::yaml::{parse_objects, Booleans};

/// A bad `--run` expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid test filter: a filter may include at most one \"//\"")]
    TooManySeparators,
    #[error("invalid test filter: {0}")]
    Regex(String),
}

/// gator's `--run`: `re` selects tests named by `re` and cases named by `re` (or in a test named
/// by it); `test-re//case-re` selects cases matching `case-re` in tests matching `test-re`.
#[derive(Debug, Clone, Default)]
pub enum Filter {
    #[default]
    All,
    Or(Regex),
    And(Regex, Regex),
}

impl Filter {
    pub fn new(run: &str) -> Result<Filter, FilterError> {
        if run.is_empty() {
            return Ok(Filter::All);
        }
        let compile = |s: &str| Regex::new(s).map_err(|e| FilterError::Regex(one_line(&e.to_string())));
        let parts: Vec<&str> = run.split("//").collect();
        match parts.as_slice() {
            [one] => Ok(Filter::Or(compile(one)?)),
            [t, c] => Ok(Filter::And(compile(t)?, compile(c)?)),
            _ => Err(FilterError::TooManySeparators),
        }
    }

    pub fn matches_test(&self, t: &Test) -> bool {
        match self {
            Filter::All => true,
            Filter::Or(re) => re.is_match(&t.name) || t.cases.iter().any(|c| self.matches_case(&t.name, &c.name)),
            Filter::And(tre, _) => tre.is_match(&t.name),
        }
    }

    pub fn matches_case(&self, test: &str, case: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Or(re) => re.is_match(case) || re.is_match(test),
            Filter::And(tre, cre) => cre.is_match(case) && tre.is_match(test),
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// One case's outcome. `error` is the failure (an assertion that did not hold, or a problem
/// running the case), worded as gator words it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub name: String,
    pub skipped: bool,
    pub error: Option<String>,
    pub runtime: Duration,
}

/// One test's outcome; `error` is a problem that kept its cases from running.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub name: String,
    pub skipped: bool,
    pub error: Option<String>,
    pub runtime: Duration,
    pub cases: Vec<CaseResult>,
}

impl TestResult {
    pub fn is_failure(&self) -> bool {
        self.error.is_some() || self.cases.iter().any(|c| c.error.is_some())
    }
}

/// One suite file's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteResult {
    /// The path as printed.
    pub path: String,
    pub skipped: bool,
    pub runtime: Duration,
    pub tests: Vec<TestResult>,
}

impl SuiteResult {
    pub fn is_failure(&self) -> bool {
        self.tests.iter().any(TestResult::is_failure)
    }
}

/// Counts over results, for summaries and the JSON report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    /// Cases (and tests that failed before their cases ran) by outcome.
    pub fn of(results: &[SuiteResult]) -> Totals {
        let mut t = Totals::default();
        for s in results {
            for test in &s.tests {
                if test.error.is_some() {
                    t.failed += 1;
                } else if test.skipped || s.skipped {
                    t.skipped += test.cases.len().max(1);
                }
                for c in &test.cases {
                    if c.skipped {
                        t.skipped += 1;
                    } else if c.error.is_some() {
                        t.failed += 1;
                    } else {
                        t.passed += 1;
                    }
                }
            }
        }
        t
    }
}

/// Runs every selected test and case of a suite.
pub fn run_suite(suite: &Suite, filter: &Filter) -> SuiteResult {
    let start = Instant::now();
    if suite.skip {
        let tests = suite
            .tests
            .iter()
            .map(|t| TestResult {
                name: t.name.clone(),
                skipped: true,
                error: None,
                runtime: Duration::ZERO,
                cases: Vec::new(),
            })
            .collect();
        return SuiteResult { path: suite.display.clone(), skipped: true, runtime: Duration::ZERO, tests };
    }
    let tests = suite
        .tests
        .iter()
        .map(|t| {
            if t.skip || !filter.matches_test(t) {
                TestResult {
                    name: t.name.clone(),
                    skipped: true,
                    error: None,
                    runtime: Duration::ZERO,
                    cases: Vec::new(),
                }
            } else {
                run_test(suite, t, filter)
            }
        })
        .collect();
    SuiteResult { path: suite.display.clone(), skipped: false, runtime: start.elapsed(), tests }
}

/// Why a test could not set up its client.
enum SetupError {
    Schema(String),
    Other(String),
}

impl SetupError {
    fn text(&self) -> &str {
        match self {
            SetupError::Schema(s) | SetupError::Other(s) => s,
        }
    }
}

fn run_test(suite: &Suite, t: &Test, filter: &Filter) -> TestResult {
    let start = Instant::now();
    let setup = setup(suite, t);
    let mut cases = Vec::new();
    let error = if t.invalid {
        match setup {
            Err(SetupError::Schema(_)) => None,
            Err(SetupError::Other(e)) => Some(format!(
                "constraint should have failed schema validation: got error {e} but want schema validation failed"
            )),
            Ok(_) => Some(
                "constraint should have failed schema validation: got error <nil> but want schema validation failed"
                    .to_string(),
            ),
        }
    } else {
        match setup {
            Err(e) => Some(e.text().to_string()),
            Ok(client) => match &t.expansion {
                Some(r) => Some(format!(
                    "expansion templates are not supported by idp-harness ({}, {})",
                    suite.resolve(&r.path).display(),
                    location(suite, r)
                )),
                None => {
                    for c in &t.cases {
                        if c.skip || !filter.matches_case(&t.name, &c.name) {
                            cases.push(CaseResult {
                                name: c.name.clone(),
                                skipped: true,
                                error: None,
                                runtime: Duration::ZERO,
                            });
                        } else {
                            let start = Instant::now();
                            let error = run_case(suite, &client, c).err();
                            cases.push(CaseResult {
                                name: c.name.clone(),
                                skipped: false,
                                error,
                                runtime: start.elapsed(),
                            });
                        }
                    }
                    None
                }
            },
        }
    };
    TestResult { name: t.name.clone(), skipped: false, error, runtime: start.elapsed(), cases }
}

/// `named by tests[0].template at suite.yaml:5:15`: where a path was named.
fn location(suite: &Suite, r: &FileRef) -> String {
    format!("named by {} at {}:{}:{}", r.field, suite.display, r.line, r.column)
}

/// Reads the first (or only) document of a template or constraint file.
fn read_first(suite: &Suite, r: &FileRef, what: &str) -> Result<Value, SetupError> {
    let path = suite.resolve(&r.path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SetupError::Other(format!("reading {what} from {:?}: {e} ({})", path.display().to_string(), location(suite, r)))
    })?;
    let docs = parse_objects(&text, &path, Booleans::Yaml12).map_err(|e| {
        let prefix = if what == "ConstraintTemplate" { "adding template" } else { "adding constraint" };
        SetupError::Other(format!(
            "{prefix}: parsing {what} YAML from {:?}: invalid yaml: {e}",
            path.display().to_string()
        ))
    })?;
    Ok(docs.into_iter().next().unwrap_or_else(|| Value::Object(Default::default())))
}

fn setup(suite: &Suite, t: &Test) -> Result<PolicyClient, SetupError> {
    let mut client = PolicyClient::new();
    if t.template.path.is_empty() {
        return Err(SetupError::Other("invalid Suite: missing template".into()));
    }
    let template = read_first(suite, &t.template, "ConstraintTemplate")?;
    let tpath = suite.resolve(&t.template.path).display().to_string();
    client.add_template(&template).map_err(|e| match e {
        AddError::NotATemplate => SetupError::Other(format!("path {tpath:?}: not a ConstraintTemplate")),
        e => SetupError::Other(format!("adding template: {e}")),
    })?;
    if t.constraint.path.is_empty() {
        return Err(SetupError::Other("invalid Suite: missing constraint".into()));
    }
    let constraint = read_first(suite, &t.constraint, "Constraint")?;
    let cpath = suite.resolve(&t.constraint.path).display().to_string();
    if group_version(&constraint).0 != "constraints.gatekeeper.sh" {
        return Err(SetupError::Other(format!("path {cpath:?}: not a Constraint")));
    }
    client.add_constraint(&constraint).map_err(|e| match e {
        AddError::Schema(_) => SetupError::Schema(e.to_string()),
        e => SetupError::Other(e.to_string()),
    })?;
    Ok(client)
}

/// Reads every document of an object or inventory file (gator: at least one, each a map).
fn read_objects(suite: &Suite, r: &FileRef) -> Result<Vec<Value>, String> {
    let path = suite.resolve(&r.path);
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {shown:?}: {e} ({})", location(suite, r)))?;
    let objs =
        parse_objects(&text, &path, Booleans::Yaml12).map_err(|e| format!("reading {shown:?}: invalid yaml: {e}"))?;
    if let Some(i) = objs.iter().position(|o| !o.is_object()) {
        return Err(format!("reading {shown:?}: invalid yaml: document {} is not a map", i + 1));
    }
    if objs.is_empty() {
        return Err(format!("missing objects: path {shown:?} defines no YAML objects"));
    }
    Ok(objs)
}

/// Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`.
fn gvk_string(obj: &Value) -> String {
    let (g, v) = group_version(obj);
    format!("{g}/{v}, Kind={}", obj.get("kind").and_then(Value::as_str).unwrap_or_default())
}

fn run_case(suite: &Suite, base: &PolicyClient, c: &Case) -> Result<(), String> {
    if c.object.path.is_empty() {
        return Err("invalid Case: must define object".into());
    }
    if c.assertions.is_empty() {
        return Err("invalid Case: assertions must be non-empty".into());
    }
    let mut client = base.clone();
    let objs = read_objects(suite, &c.object)?;
    if objs.len() != 1 {
        return Err(format!(
            "object file must contain exactly one object: {:?} defines {} objects",
            suite.resolve(&c.object.path).display().to_string(),
            objs.len()
        ));
    }
    let object = &objs[0];
    for r in &c.inventory {
        for obj in read_objects(suite, r)? {
            client.add_data(&obj);
        }
    }
    let mut results = if is_admission_review(object) {
        let request = admission_request(object)?;
        client.review(Subject::Request(request))?
    } else {
        client.review(Subject::Object { object, namespace: None }).map_err(|e| {
            let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            format!("reviewing {} {}/{}: {e}", gvk_string(object), s("/metadata/namespace"), s("/metadata/name"))
        })?
    };
    sort_results(&mut results, |r| r);
    for a in &c.assertions {
        check_assertion(a, &results)?;
    }
    Ok(())
}

fn is_admission_review(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("AdmissionReview") && group_version(obj).0 == "admission.k8s.io"
}

const REVIEW_KEYS: &[&str] = &["apiVersion", "kind", "request", "response"];
const REQUEST_KEYS: &[&str] = &[
    "uid",
    "kind",
    "resource",
    "subResource",
    "requestKind",
    "requestResource",
    "requestSubResource",
    "name",
    "namespace",
    "operation",
    "userInfo",
    "object",
    "oldObject",
    "dryRun",
    "options",
];

/// gator's checks of an AdmissionReview: known fields only, a request, an object or old object.
fn admission_request(review: &Value) -> Result<&Value, String> {
    let invalid = |why: String| {
        format!("not a valid AdmissionReview object: unable to convert to an AdmissionReview object, error: {why}")
    };
    let unknown = |m: &serde_json::Map<String, Value>, known: &[&str], at: &str| -> Result<(), String> {
        match m.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(invalid(format!("unknown field \"{at}{k}\""))),
            None => Ok(()),
        }
    };
    if let Some(m) = review.as_object() {
        unknown(m, REVIEW_KEYS, "")?;
    }
    let request = match review.get("request") {
        None | Some(Value::Null) => {
            return Err(
                "missing an AdmissionRequest object: request did not actually pass in an AdmissionRequest".into()
            )
        }
        Some(Value::Object(m)) => {
            unknown(m, REQUEST_KEYS, "request.")?;
            review.get("request").unwrap_or(&Value::Null)
        }
        Some(_) => return Err(invalid("request is not an object".into())),
    };
    for k in ["operation", "name", "namespace", "uid"] {
        if request.get(k).is_some_and(|v| !v.is_string() && !v.is_null()) {
            return Err(invalid(format!("request.{k} is not a string")));
        }
    }
    let present = |k: &str| request.get(k).is_some_and(|v| !v.is_null());
    if !present("object") && !present("oldObject") {
        return Err("no object or oldObject found to review: AdmissionRequest does not contain an \"object\" or \
                    \"oldObject\" to review"
            .into());
    }
    for k in ["object", "oldObject"] {
        if request.get(k).is_some_and(|v| !v.is_null() && !v.is_object()) {
            return Err(format!("object or oldObject cannot be unmarshalled: request.{k} is not an object"));
        }
    }
    Ok(request)
}

const INVALID_VIOLATIONS: &str =
    "invalid yaml: assertion.violation, if set, must be a nonnegative integer, \"yes\", or \"no\"";

/// gator's `Assertion.Run`: counts the results whose message matches (all of them without a
/// `message`), checks the count, and on failure lists every message.
pub fn check_assertion(a: &Assertion, results: &[PolicyResult]) -> Result<(), String> {
    let mut matching = 0usize;
    if !results.is_empty() {
        let re =
            match &a.message {
                Some(m) => Some(Regex::new(m).map_err(|e| {
                    format!("message contains invalid regular expression: {}", one_line(&e.to_string()))
                })?),
                None => None,
            };
        matching = results.iter().filter(|r| re.as_ref().is_none_or(|re| re.is_match(&r.msg))).count();
    }
    let containing = a.message.as_deref().map(|m| format!(" containing {}", go_quote(m))).unwrap_or_default();
    let count_error = match a.violations.as_ref().unwrap_or(&Violations::Yes) {
        Violations::Exactly(n) if *n < 0 => Some(INVALID_VIOLATIONS.to_string()),
        Violations::Exactly(n) if usize::try_from(*n).ok() != Some(matching) => {
            Some(format!("unexpected number of violations: got {matching} violations{containing} but want exactly {n}"))
        }
        Violations::Exactly(_) => None,
        Violations::Yes if matching == 0 => {
            Some(format!("unexpected number of violations: got 0 violations{containing} but want at least 1"))
        }
        Violations::No if matching > 0 => {
            Some(format!("unexpected number of violations: got {matching} violations{containing} but want none"))
        }
        Violations::Yes | Violations::No => None,
        Violations::Other(_) => Some(INVALID_VIOLATIONS.to_string()),
    };
    match count_error {
        None => Ok(()),
        Some(e) => {
            let messages: Vec<&str> = results.iter().map(|r| r.msg.as_str()).collect();
            Err(format!("{e}: got messages [{}]", messages.join(" ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(msg: &str) -> PolicyResult {
        PolicyResult {
            msg: msg.into(),
            metadata: json!({"details": {}}),
            constraint: json!({}),
            constraint_kind: "K".into(),
            constraint_name: "c".into(),
            enforcement_action: "deny".into(),
            scoped_actions: Vec::new(),
        }
    }

    fn a(violations: Option<Violations>, message: Option<&str>) -> Assertion {
        Assertion { violations, message: message.map(str::to_string) }
    }

    #[test]
    fn assertions_count_matching_messages_as_gator_does() {
        let rs = [result("container a has no limits"), result("initContainer b has no limits")];
        assert_eq!(check_assertion(&a(None, None), &rs), Ok(()));
        assert_eq!(check_assertion(&a(Some(Violations::Exactly(2)), None), &rs), Ok(()));
        assert_eq!(check_assertion(&a(Some(Violations::Exactly(1)), Some("^initContainer")), &rs), Ok(()));
        assert_eq!(check_assertion(&a(Some(Violations::No), Some("foobar")), &rs), Ok(()));
        assert_eq!(
            check_assertion(&a(Some(Violations::Exactly(1)), Some("limits")), &rs),
            Err("unexpected number of violations: got 2 violations containing \"limits\" but want exactly 1: got \
                 messages [container a has no limits initContainer b has no limits]"
                .into())
        );
        assert_eq!(
            check_assertion(&a(None, None), &[]),
            Err("unexpected number of violations: got 0 violations but want at least 1: got messages []".into())
        );
        assert_eq!(
            check_assertion(&a(Some(Violations::No), None), &rs[..1]),
            Err("unexpected number of violations: got 1 violations but want none: got messages [container a has no \
                 limits]"
                .into())
        );
    }

    #[test]
    fn bad_assertions_fail_as_in_gator() {
        let rs = [result("x")];
        let e = check_assertion(&a(Some(Violations::Other("maybe".into())), None), &rs).expect_err("bad");
        assert!(e.starts_with(INVALID_VIOLATIONS), "{e}");
        assert!(check_assertion(&a(Some(Violations::Exactly(-1)), None), &rs)
            .expect_err("neg")
            .starts_with(INVALID_VIOLATIONS));
        let e = check_assertion(&a(None, Some("(")), &rs).expect_err("regex");
        assert!(e.starts_with("message contains invalid regular expression: "), "{e}");
        // gator compiles the regex only when there is a result to match.
        assert!(check_assertion(&a(Some(Violations::No), Some("(")), &[]).is_ok());
    }

    #[test]
    fn the_run_filter_selects_tests_and_cases_as_gator_does() {
        let test = |name: &str, cases: &[&str]| Test {
            name: name.into(),
            template: FileRef { path: String::new(), field: String::new(), line: 0, column: 0 },
            constraint: FileRef { path: String::new(), field: String::new(), line: 0, column: 0 },
            expansion: None,
            cases: cases
                .iter()
                .map(|c| Case {
                    name: c.to_string(),
                    object: FileRef { path: String::new(), field: String::new(), line: 0, column: 0 },
                    inventory: Vec::new(),
                    assertions: Vec::new(),
                    skip: false,
                    line: 0,
                })
                .collect(),
            invalid: false,
            skip: false,
            line: 0,
        };
        let t = test("required-labels", &["missing-label", "ok"]);
        let f = Filter::new("missing").expect("filter");
        assert!(f.matches_test(&t) && f.matches_case(&t.name, "missing-label") && !f.matches_case(&t.name, "ok"));
        let f = Filter::new("^required//^ok$").expect("filter");
        assert!(f.matches_test(&t) && f.matches_case(&t.name, "ok") && !f.matches_case(&t.name, "missing-label"));
        let f = Filter::new("//ok").expect("filter");
        assert!(f.matches_test(&t) && !f.matches_case(&t.name, "missing-label"));
        assert_eq!(
            Filter::new("a//b//c").expect_err("bad").to_string(),
            "invalid test filter: a filter may include at most one \"//\""
        );
        assert!(Filter::new("(").is_err());
    }

    #[test]
    fn admission_reviews_are_checked_like_gator() {
        let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"operation": "DELETE", "oldObject": {"kind": "Pod"}}});
        assert!(is_admission_review(&ok));
        assert!(admission_request(&ok).is_ok());
        let e =
            admission_request(&json!({"kind": "AdmissionReview", "request": {"operation": "CREATE", "objekt": {}}}))
                .expect_err("unknown field");
        assert!(e.contains("unknown field \"request.objekt\""), "{e}");
        let e = admission_request(&json!({"kind": "AdmissionReview"})).expect_err("no request");
        assert!(e.starts_with("missing an AdmissionRequest object"), "{e}");
        let e = admission_request(&json!({"kind": "AdmissionReview", "request": {"operation": "CREATE"}}))
            .expect_err("none");
        assert!(e.starts_with("no object or oldObject found to review"), "{e}");
    }
}
