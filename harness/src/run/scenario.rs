//! One scenario, start to end: bindings (`${scenario}`, `${namespace}`, `${account}`, the
//! user's), its own namespace, the steps under the scenario timeout, then cleanup that always
//! runs (registered cleanup steps last-first, applied objects last-first, each gone before the
//! next is deleted, then the namespace), and a leak check naming what was left and which
//! finalizer holds it. A failed scenario's evidence
//! bundle is captured before its cleanup (or after it, when only the cleanup failed).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;
use tokio::sync::{mpsc::UnboundedSender, watch};

use super::context::{fail, Cx, POLL_MAX, POLL_MIN};
use super::events::{Failure, RunEvent, ScenarioReport, StepReport, Verdict};
use super::evidence::{self, Bundle, Stage};
use super::expect::absent::holding;
use super::kube_io::{Kube, Target};
use super::steps::{run_step, run_steps, Sink};
use crate::scenario::bindings::Bindings;
use crate::scenario::Loaded;

/// Default limit for a whole scenario.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long cleanup waits for things to go.
const CLEANUP_WAIT: Duration = Duration::from_secs(30);

/// Where a scenario runs and how it reports.
pub struct Env<'a> {
    /// What the scenario runs against (client, kubeconfig, repos, settling).
    pub stage: std::sync::Arc<crate::backend::Stage>,
    pub backend: &'a str,
    pub run_id: &'a str,
    /// The scenario's AWS account (`${account}`).
    pub account: String,
    /// When the scenario started (its stage was being made): the runner has announced it.
    pub started: Instant,
    pub tx: UnboundedSender<RunEvent>,
    pub cancel: watch::Receiver<bool>,
    /// Where a failed scenario's evidence bundle goes (None: capture nothing).
    pub evidence_dir: Option<&'a std::path::Path>,
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes().iter().take(5).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// A 12-digit AWS account id for the `index`th scenario job of a run (emulators keep accounts
/// apart, so parallel scenarios and repetitions cannot see each other's AWS state).
pub fn account_for(run_id: &str, name: &str, index: usize) -> String {
    let h = format!("{run_id}/{name}/{index}")
        .bytes()
        .fold(1469598103934665603u64, |h, b| (h ^ b as u64).wrapping_mul(1099511628211));
    format!("{:012}", 100_000_000_000 + h % 900_000_000_000)
}

pub async fn run(loaded: &Loaded, env: Env<'_>) -> ScenarioReport {
    let s = &loaded.scenario;
    let name = s.metadata.name.clone();
    let start = env.started;
    let namespace: String = format!("{}-{}", name.chars().take(56).collect::<String>(), random_suffix());
    let mut values = BTreeMap::new();
    values.insert("scenario".to_string(), name.clone());
    values.insert("namespace".to_string(), namespace.clone());
    values.insert("account".to_string(), env.account.clone());
    // The cluster's OIDC issuer as IAM names it (`oidc.eks.<region>.amazonaws.com/id/<id>`), for
    // IRSA trust policies: `arn:aws:iam::${account}:oidc-provider/${oidcProvider}`.
    if let Ok(issuer) = Kube::new(env.stage.client.clone()).oidc_issuer().await {
        values.insert("oidcProvider".to_string(), sim::iam::issuer_context_prefix(&issuer).to_string());
    }
    let builtin = Bindings(values.clone());
    for (k, v) in &s.spec.bindings {
        let v = builtin.substitute(v).unwrap_or_else(|_| v.clone());
        values.insert(k.clone(), v);
    }
    // Scenario timeout: a timer flips the scenario's own cancel flag; Ctrl-C flips the run's.
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let cx = Cx {
        kube: Kube::new(env.stage.client.clone()),
        stage: env.stage.clone(),
        bindings: Bindings(values),
        namespace: namespace.clone(),
        dir: loaded.dir().to_path_buf(),
        kubeconfig: env.stage.kubeconfig.clone(),
        scenario: name.clone(),
        cancel: cancel_rx,
        cleanup: Mutex::new(Vec::new()),
        applied: Mutex::new(Vec::new()),
        aws: env.stage.aws.as_ref().map(|t| t.clients()),
    };
    let limit = s.spec.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    let mut run_cancel = env.cancel.clone();
    let guard_tx = cancel_tx.clone();
    let guard = tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(limit) => {}
            _ = run_cancel.wait_for(|c| *c) => {}
        }
        let _ = guard_tx.send(true);
    });

    let mut steps: Vec<StepReport> = Vec::new();
    let mut failure: Option<Failure> = match create_namespace(&cx, env.run_id).await {
        Ok(()) => None,
        Err(f) => Some(Failure { message: format!("set-up failed: {}", f.message), ..f }),
    };
    if failure.is_none() {
        if let Err(f) = add_repos(&cx, loaded).await {
            failure = Some(Failure { message: format!("set-up failed: {}", f.message), ..f });
        }
    }
    let mut aws_made = super::aws::Made::default();
    if failure.is_none() {
        if let Some(state) = &s.spec.aws {
            if let Err(f) = super::aws::create_state(&cx, state, &mut aws_made).await {
                failure = Some(Failure { message: format!("set-up failed: {}", f.message), ..f });
            }
        }
    }
    if failure.is_none() {
        let mut sink = Sink { tx: &env.tx, scenario: &name, reports: &mut steps, t0: start };
        if let Err(f) = run_steps(&cx, &s.spec.steps, "spec.steps", &mut sink).await {
            let timed_out = *cx.cancel.borrow() && !*env.cancel.borrow();
            failure = Some(if timed_out {
                Failure {
                    message: format!("scenario timed out after {}: {}", crate::scenario::Duration(limit), f.message),
                    ..f
                }
            } else {
                f
            });
        }
    }
    guard.abort();
    // A dead emulator explains every AWS failure after it: say so first.
    if let Err(dead) = env.stage.aws_health() {
        failure = Some(match failure {
            Some(f) => Failure { message: format!("{dead}\n(the step that failed: {})", f.message), ..f },
            None => fail(dead),
        });
    }

    // Evidence first: cleanup deletes what would explain the failure.
    let mut evidence = None;
    if let (Some(dir), Some(f)) = (env.evidence_dir, &failure) {
        let b = Bundle { dir, file: &loaded.path, failure: f, steps: &steps, stage: Stage::BeforeCleanup, t0: start };
        evidence = evidence::capture(&cx, b).await;
    }

    // Cleanup always runs, with a fresh cancel flag so an interrupted scenario still cleans up.
    let (_clean_tx, clean_rx) = watch::channel(false);
    let cx = Cx { cancel: clean_rx, ..cx };
    let mut cleanup: Vec<StepReport> = Vec::new();
    let registered: Vec<_> = cx.cleanup.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default();
    {
        let mut sink = Sink { tx: &env.tx, scenario: &name, reports: &mut cleanup, t0: start };
        for (path, step) in registered.iter().rev() {
            let _ = run_step(&cx, step, path, &mut sink).await;
        }
    }
    let mut leaks =
        remove_everything(&cx, &mut cleanup, s.spec.cleanup_timeout.map_or(CLEANUP_WAIT, |d| d.0), start).await;
    // With the emulator gone, its state went with it: nothing to remove.
    if s.spec.aws.is_some() && env.stage.aws_health().is_ok() {
        let began = Instant::now();
        let (problems, left) = super::aws::remove_state(&cx, &aws_made).await;
        cleanup.push(StepReport {
            path: "cleanup".into(),
            line: 0,
            name: "remove the scenario's AWS state (spec.aws)".into(),
            verdict: if problems.is_empty() { Verdict::Passed } else { Verdict::Failed },
            duration: began.elapsed(),
            started: began.saturating_duration_since(start),
            failure: (!problems.is_empty()).then(|| fail(problems.join("; "))),
            fidelity_notes: Vec::new(),
        });
        leaks.extend(left);
    }
    if let Some(last) = cleanup.last() {
        let _ = env.tx.send(RunEvent::StepFinished { scenario: name.clone(), step: last.clone() });
    }
    if failure.is_none() {
        if let Some(f) = cleanup.iter().find_map(|c| c.failure.clone()) {
            failure = Some(Failure { message: format!("cleanup failed: {}", f.message), ..f });
        } else if !leaks.is_empty() {
            failure = Some(fail(format!("left behind after cleanup: {}", leaks.join("; "))));
        }
        // Failed only while cleaning up: capture what is left (a stuck namespace, its finalizers).
        if let (Some(dir), Some(f)) = (env.evidence_dir, &failure) {
            let all: Vec<StepReport> = steps.iter().chain(cleanup.iter()).cloned().collect();
            let b = Bundle { dir, file: &loaded.path, failure: f, steps: &all, stage: Stage::AfterCleanup, t0: start };
            evidence = evidence::capture(&cx, b).await;
        }
    }
    let report = ScenarioReport {
        name,
        file: loaded.path.clone(),
        backend: env.backend.to_string(),
        verdict: if failure.is_some() { Verdict::Failed } else { Verdict::Passed },
        duration: start.elapsed(),
        failure,
        steps,
        cleanup,
        leaks,
        evidence,
    };
    let _ = env.tx.send(RunEvent::ScenarioFinished { report: report.clone() });
    report
}

/// Makes the scenario's Git repos and serves them to the platform.
async fn add_repos(cx: &Cx, loaded: &Loaded) -> Result<(), Failure> {
    for (i, r) in loaded.scenario.spec.repos.iter().enumerate() {
        let r = &r.value;
        let spec = repo_spec(loaded, r);
        cx.stage.add_repo(spec).await.map_err(|e| fail(format!("spec.repos[{i}] ({}): {e}", r.url)))?;
    }
    Ok(())
}

/// The repository a `spec.repos` entry makes.
pub fn repo_spec(loaded: &Loaded, r: &crate::scenario::model::Repo) -> sim::git::RepoSpec {
    let mut spec = sim::git::RepoSpec::new(r.url.clone(), loaded.dir().join(&r.from));

    if let Some(b) = &r.branch {
        spec = spec.initial_branch(b.clone());
    }
    for b in &r.branches {
        spec = spec.with_branch(b.name.clone(), b.from.as_deref());
    }
    for t in &r.tags {
        spec = match &t.message {
            Some(m) => spec.with_annotated_tag(t.name.clone(), t.from.as_deref(), m.clone()),
            None => spec.with_tag(t.name.clone(), t.from.as_deref()),
        };
    }
    spec
}

/// The report of a scenario whose stage could not be made.
pub fn not_started(
    loaded: &Loaded,
    backend: &str,
    tx: &UnboundedSender<RunEvent>,
    message: String,
    started: Instant,
) -> ScenarioReport {
    let name = loaded.scenario.metadata.name.clone();
    let report = ScenarioReport {
        name,
        file: loaded.path.clone(),
        backend: backend.to_string(),
        verdict: Verdict::Failed,
        duration: started.elapsed(),
        failure: Some(fail(message)),
        steps: Vec::new(),
        cleanup: Vec::new(),
        leaks: Vec::new(),
        evidence: None,
    };
    let _ = tx.send(RunEvent::ScenarioFinished { report: report.clone() });
    report
}

async fn create_namespace(cx: &Cx, run_id: &str) -> Result<(), Failure> {
    let body = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": cx.namespace, "labels": {"idp-harness.dev/scenario": cx.scenario, "idp-harness.dev/run": run_id}}
    });
    let a = cx
        .kube
        .send(Method::POST, "/api/v1/namespaces", "application/json", body.to_string().into_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    if a.ok() {
        Ok(())
    } else {
        Err(fail(format!("cannot create namespace {}: {} {}", cx.namespace, a.code, a.message())))
    }
}

/// Deletes applied objects (last first) and the scenario namespace, waits for them to go, and
/// returns what is still there.
async fn remove_everything(cx: &Cx, reports: &mut Vec<StepReport>, wait: Duration, t0: Instant) -> Vec<String> {
    let start = Instant::now();
    let applied: Vec<(Target, kube::core::ApiResource)> = cx.applied.lock().map(|a| a.clone()).unwrap_or_default();
    let ns_target = Target {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        name: cx.namespace.clone(),
        namespace: String::new(),
    };
    let ns_ar = kube::core::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Namespace".into(),
        plural: "namespaces".into(),
    };
    let mut doomed: Vec<(Target, kube::core::ApiResource)> =
        applied.into_iter().rev().filter(|(t, _)| t.namespace != cx.namespace).collect();
    doomed.push((ns_target, ns_ar));
    // One at a time, last applied first, each waited for before the next goes: what was applied
    // later may need what was applied earlier to be deleted (a Crossplane resource needs its
    // ProviderConfig to delete its AWS resource).
    let mut problems = Vec::new();
    let mut leaks = Vec::new();
    let deadline = Instant::now() + wait;
    for (t, ar) in &doomed {
        let url = Kube::url(ar, t, None, "");
        match cx.kube.send(Method::DELETE, &url, "application/json", Vec::new()).await {
            Ok(a) if a.ok() || a.code == 404 => {}
            Ok(a) => {
                problems.push(format!("cannot delete {t}: {} {}", a.code, a.message()));
                continue;
            }
            Err(e) => {
                problems.push(format!("cannot delete {t}: {e}"));
                continue;
            }
        }
        let mut pause = POLL_MIN;
        loop {
            // On the simulator the controllers have reacted (finalizers, cascades) once it has
            // settled, so a look after settling needs no sleep; elsewhere settling does nothing.
            let _ = cx.stage.settle().await;
            match cx.kube.get(ar, t).await {
                Ok(None) => break,
                Ok(Some(obj)) if Instant::now() >= deadline => {
                    leaks.push(format!("{t}{}{}", holding(&obj), namespace_content(&obj)));
                    break;
                }
                Ok(Some(_)) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(POLL_MAX);
                }
                Err(e) => {
                    problems.push(format!("cannot check {t}: {e}"));
                    break;
                }
            }
        }
    }
    reports.push(StepReport {
        path: "cleanup".into(),
        line: 0,
        name: format!("remove namespace {} and {} applied object(s) outside it", cx.namespace, doomed.len() - 1),
        verdict: if problems.is_empty() { Verdict::Passed } else { Verdict::Failed },
        duration: start.elapsed(),
        started: start.saturating_duration_since(t0),
        failure: (!problems.is_empty()).then(|| fail(problems.join("; "))),
        fidelity_notes: Vec::new(),
    });
    leaks
}

/// For a stuck namespace: the conditions that say what remains.
fn namespace_content(obj: &serde_json::Value) -> String {
    let msgs: Vec<&str> = obj
        .pointer("/status/conditions")
        .and_then(serde_json::Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("message").and_then(serde_json::Value::as_str)).collect())
        .unwrap_or_default();
    if msgs.is_empty() {
        String::new()
    } else {
        format!(" ({})", msgs.join("; "))
    }
}
