//! What the runner reports while it works: events that reporters (terminal, JUnit, JSON)
//! consume. The runner never formats output itself.
//!
//! Values inside events are already redacted: secrets never reach a reporter.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// How a step or a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    /// Not run (an earlier step failed, or fail-fast stopped the run).
    Skipped,
}

/// Why a step failed: the real error, and an expected-versus-actual diff when there is one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Failure {
    /// One line, e.g. `expectation not met within 10s: object v1/ConfigMap s-x/app-config`.
    pub message: String,
    /// More lines: the last actual state, the API error, the command output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A unified-style diff, expected against actual, when the failure is a mismatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// One finished step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// `spec.steps[2]` or `spec.steps[1].try[0]`.
    pub path: String,
    /// Line in the scenario file.
    pub line: u64,
    /// Human name: the step's `name`, or the action and its target.
    pub name: String,
    pub verdict: Verdict,
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    /// When the step started, counted from the scenario's start.
    #[serde(serialize_with = "ser_duration")]
    pub started: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Where the simulator cannot show what the real component would (see platform-facts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fidelity_notes: Vec<String>,
}

/// One finished scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub file: PathBuf,
    pub backend: String,
    pub verdict: Verdict,
    #[serde(serialize_with = "ser_duration")]
    pub duration: Duration,
    /// The first failure, for one-line summaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub steps: Vec<StepReport>,
    /// Steps run at the end (cleanup blocks, namespace removal).
    pub cleanup: Vec<StepReport>,
    /// What was left after cleanup (leak check), e.g. `v1/ConfigMap s-x/held (finalizer example.com/hold)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leaks: Vec<String>,
    /// The evidence bundle of a failed scenario: a folder with `objects.yaml`, `events.txt`,
    /// `conditions.txt`, `failure.txt` and `timeline.txt` (see `run::evidence`). None when the
    /// scenario passed or the run was not asked to capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<PathBuf>,
}

impl ScenarioReport {
    /// The report of a scenario that did not run (fail-fast, or the run was interrupted).
    pub fn skipped(name: impl Into<String>, file: impl Into<PathBuf>, backend: impl Into<String>) -> Self {
        ScenarioReport {
            name: name.into(),
            file: file.into(),
            backend: backend.into(),
            verdict: Verdict::Skipped,
            duration: Duration::ZERO,
            failure: None,
            steps: Vec::new(),
            cleanup: Vec::new(),
            leaks: Vec::new(),
            evidence: None,
        }
    }
}

/// Events in the order they happen. Scenarios run in parallel, so events of different
/// scenarios interleave; each carries its scenario's name.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run starts with these scenarios.
    RunStarted {
        run_id: String,
        scenarios: Vec<String>,
        backend: String,
    },
    ScenarioStarted {
        scenario: String,
    },
    StepStarted {
        scenario: String,
        path: String,
        name: String,
    },
    StepFinished {
        scenario: String,
        step: StepReport,
    },
    ScenarioFinished {
        report: ScenarioReport,
    },
    RunFinished {
        run_id: String,
        passed: usize,
        failed: usize,
        skipped: usize,
        duration: Duration,
    },
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Something that consumes run events.
pub trait Reporter: Send {
    fn event(&mut self, e: &RunEvent);
    /// Called once after `RunFinished`; returns files written, if any.
    fn finish(&mut self) -> std::io::Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
}
