//! Synthetic run events for the reporter tests: a passing scenario, a failing one with a diff,
//! a skipped one, and runs where scenarios interleave. Test-only; holds no real values.

use std::path::PathBuf;
use std::time::Duration;

use crate::run::events::{Failure, RunEvent, ScenarioReport, StepReport, Verdict};

pub const FAIL_MESSAGE: &str =
    "expectation not met within 10s: apps/v1/Deployment s-x/web was admitted, expected a denial by \"require-team\"";
pub const FAIL_DETAIL: &str = "API response: 201 Created <no denial> & no events";
pub const FAIL_DIFF: &str = "--- expected\n+++ actual\n-denied: true\n+denied: false";
pub const FIDELITY: &str = "the simulator does not run Gatekeeper's audit loop";
pub const EVIDENCE: &str = "target/idp-harness/run-0001/policy-denies";
pub const LEAK: &str = "v1/ConfigMap s-x/held (finalizer example.com/hold)";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn step(i: usize, line: u64, name: &str, verdict: Verdict, d: u64) -> StepReport {
    StepReport {
        path: format!("spec.steps[{i}]"),
        line,
        name: name.to_string(),
        verdict,
        duration: ms(d),
        started: ms(line * 10),
        failure: None,
        fidelity_notes: Vec::new(),
    }
}

fn cleanup_step(name: &str, d: u64) -> StepReport {
    StepReport { path: "cleanup[0]".to_string(), ..step(0, 3, name, Verdict::Passed, d) }
}

/// Passes: two steps and a cleanup step.
pub fn configmap_sync() -> ScenarioReport {
    ScenarioReport {
        name: "configmap-sync".to_string(),
        file: PathBuf::from("scenarios/configmap-sync.yaml"),
        backend: "sim".to_string(),
        verdict: Verdict::Passed,
        duration: ms(1234),
        failure: None,
        steps: vec![
            step(0, 7, "apply v1/ConfigMap app-config", Verdict::Passed, 120),
            step(1, 12, "assert v1/ConfigMap app-config", Verdict::Passed, 1000),
        ],
        cleanup: vec![cleanup_step("delete namespace s-x", 100)],
        leaks: Vec::new(),
        evidence: None,
    }
}

/// Fails at its second step with a message, detail and diff; the third step is skipped; a
/// fidelity note and a leak.
pub fn policy_denies() -> ScenarioReport {
    let failure = Failure {
        message: FAIL_MESSAGE.to_string(),
        detail: Some(FAIL_DETAIL.to_string()),
        diff: Some(FAIL_DIFF.to_string()),
    };
    let mut failing = step(1, 14, "expect denial of apps/v1/Deployment web", Verdict::Failed, 10_000);
    failing.failure = Some(failure.clone());
    failing.fidelity_notes = vec![FIDELITY.to_string()];
    ScenarioReport {
        name: "policy-denies".to_string(),
        file: PathBuf::from("scenarios/gatekeeper/policy-denies.yaml"),
        backend: "sim".to_string(),
        verdict: Verdict::Failed,
        duration: ms(10_250),
        failure: Some(failure),
        steps: vec![
            step(0, 6, "apply constraints.gatekeeper.sh/v1beta1/K8sRequiredLabels require-team", Verdict::Passed, 50),
            failing,
            step(2, 20, "assert audit results", Verdict::Skipped, 0),
        ],
        cleanup: vec![cleanup_step("delete namespace s-x", 200)],
        leaks: vec![LEAK.to_string()],
        evidence: Some(PathBuf::from(EVIDENCE)),
    }
}

pub const CLEANUP_MESSAGE: &str = "namespace s-x still terminating after 30s: 1 object left";

/// Like [`policy_denies`], and its cleanup failed too.
pub fn policy_denies_and_cleanup_fails() -> ScenarioReport {
    let mut r = policy_denies();
    r.cleanup[0].verdict = Verdict::Failed;
    r.cleanup[0].failure = Some(Failure { message: CLEANUP_MESSAGE.to_string(), detail: None, diff: None });
    r
}

/// Skipped: fail-fast stopped the run before it started.
pub fn aws_role_skipped() -> ScenarioReport {
    ScenarioReport::skipped("aws-role", "scenarios/ack/aws-role.yaml", "sim")
}

/// The events one scenario produces, in order (a skipped scenario only finishes).
pub fn scenario_events(r: &ScenarioReport) -> Vec<RunEvent> {
    let scenario = r.name.clone();
    if r.verdict == Verdict::Skipped {
        return vec![RunEvent::ScenarioFinished { report: r.clone() }];
    }
    let mut out = vec![RunEvent::ScenarioStarted { scenario: scenario.clone() }];
    for s in r.steps.iter().chain(r.cleanup.iter()) {
        if s.verdict != Verdict::Skipped {
            out.push(RunEvent::StepStarted { scenario: scenario.clone(), path: s.path.clone(), name: s.name.clone() });
        }
        out.push(RunEvent::StepFinished { scenario: scenario.clone(), step: s.clone() });
    }
    out.push(RunEvent::ScenarioFinished { report: r.clone() });
    out
}

/// A whole run of `reports`, one after the other, with the runner's totals.
pub fn sequential_run(reports: &[ScenarioReport]) -> Vec<RunEvent> {
    let mut out = vec![RunEvent::RunStarted {
        run_id: "run-0001".to_string(),
        scenarios: reports.iter().map(|r| r.name.clone()).collect(),
        backend: "sim".to_string(),
    }];
    let mut duration = Duration::ZERO;
    for r in reports {
        out.extend(scenario_events(r));
        duration += r.duration;
    }
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    out.push(RunEvent::RunFinished {
        run_id: "run-0001".to_string(),
        passed: count(Verdict::Passed),
        failed: count(Verdict::Failed),
        skipped: count(Verdict::Skipped),
        duration,
    });
    out
}

pub fn passing_run() -> Vec<RunEvent> {
    sequential_run(&[configmap_sync()])
}

/// Passing, failing and skipped scenarios, one after the other.
pub fn mixed_run() -> Vec<RunEvent> {
    sequential_run(&[configmap_sync(), policy_denies(), aws_role_skipped()])
}

/// Two scenarios whose events alternate; the failing one finishes first; `aws-role` is
/// announced but never runs (the runner counts it as skipped).
pub fn interleaved_run() -> Vec<RunEvent> {
    let mut a = scenario_events(&configmap_sync());
    let a_last = a.pop().expect("a scenario has events");
    let b = scenario_events(&policy_denies());
    let mut out = vec![RunEvent::RunStarted {
        run_id: "run-0002".to_string(),
        scenarios: vec!["configmap-sync".to_string(), "policy-denies".to_string(), "aws-role".to_string()],
        backend: "sim".to_string(),
    }];
    let mut ia = a.into_iter();
    let mut ib = b.into_iter();
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => break,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
    out.push(a_last);
    out.push(RunEvent::RunFinished {
        run_id: "run-0002".to_string(),
        passed: 1,
        failed: 1,
        skipped: 1,
        duration: ms(10_300),
    });
    out
}
