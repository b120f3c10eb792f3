//! Steps: one file per action (`apply`, `delete`, `patch`, `wait`, `sleep`, `command`), and here
//! the dispatch: run the action, check the expectations about its outcome (denied, error,
//! warning), then the state expectations; `try`/`catch`/`finally` blocks; `cleanup` steps
//! registered for the end. Every step, nested ones included, is reported as it finishes.
//!
//! A step fails with a `Failure` carrying the real error; it never panics on user input.

pub mod apply;
pub mod command;
pub mod commit;
pub mod delete;
pub mod patch;
pub mod reconcile;
pub mod sleep;
pub mod wait;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use serde_saphyr::Spanned;
use tokio::sync::mpsc::UnboundedSender;

use super::context::{fail, Cx};
use super::events::{Failure, RunEvent, StepReport, Verdict};
use super::expect;
use super::kube_io::Answer;
use crate::scenario::load::actions;
use crate::scenario::Step;

/// What an action returned, for the outcome expectations.
#[derive(Debug, Default)]
pub struct ActionResult {
    /// The API error, when the action was refused.
    pub failed: Option<Answer>,
    pub warnings: Vec<String>,
}

/// Where step reports go.
pub struct Sink<'a> {
    pub tx: &'a UnboundedSender<RunEvent>,
    pub scenario: &'a str,
    pub reports: &'a mut Vec<StepReport>,
    /// When the scenario started: step start times are counted from here.
    pub t0: Instant,
}

/// A short name for a step without `name`.
pub fn describe(step: &Step) -> String {
    if let Some(n) = &step.name {
        return n.clone();
    }
    if let Some(a) = &step.apply {
        return match (&a.file, &a.dir, &a.inline, &a.objects) {
            (Some(f), _, _, _) => format!("apply {f}"),
            (_, Some(d), _, _) => format!("apply {d}/"),
            (_, _, Some(_), _) => "apply inline manifests".into(),
            (_, _, _, Some(o)) => format!("apply {} object(s)", o.len()),
            _ => "apply".into(),
        };
    }
    if let Some(d) = &step.delete {
        return format!("delete {}/{}", d.kind, d.name);
    }
    if let Some(p) = &step.patch {
        return format!("patch {}/{}", p.kind, p.name);
    }
    if let Some(w) = &step.wait {
        let what = if w.deleted {
            "deleted".to_string()
        } else if w.created {
            "created".to_string()
        } else {
            w.condition.clone().unwrap_or_default()
        };
        return format!("wait for {}/{} {what}", w.kind, w.name);
    }
    if let Some(s) = &step.sleep {
        return format!("sleep {s}");
    }
    if let Some(c) = &step.command {
        let line = c.run.clone().or_else(|| c.args.as_ref().map(|a| a.join(" "))).unwrap_or_default();
        return format!("command: {}", line.chars().take(60).collect::<String>());
    }
    if let Some(c) = &step.commit {
        return format!("commit to {}", c.repo);
    }
    if step.reconcile.is_some() {
        return "reconcile".into();
    }
    if step.try_.is_some() {
        return "try".into();
    }
    if let Some(e) = &step.expect {
        let kinds: Vec<&str> = e.0.iter().flat_map(crate::scenario::load::expectation_kinds).collect();
        return format!("expect {}", kinds.join(", "));
    }
    if step.cleanup.is_some() {
        return "register cleanup".into();
    }
    "step".into()
}

/// Runs a list of steps; stops at the first failure (the rest are reported as skipped).
pub fn run_steps<'a>(
    cx: &'a Cx,
    steps: &'a [Spanned<Step>],
    at: &'a str,
    sink: &'a mut Sink<'_>,
) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>>
where
    'a: 'a,
{
    Box::pin(async move {
        let mut first_failure = None;
        for (i, s) in steps.iter().enumerate() {
            let path = format!("{at}[{i}]");
            if first_failure.is_some() || cx.cancelled() {
                sink.reports.push(StepReport {
                    path,
                    line: s.referenced.line(),
                    name: describe(&s.value),
                    verdict: Verdict::Skipped,
                    duration: std::time::Duration::ZERO,
                    started: sink.t0.elapsed(),
                    failure: None,
                    fidelity_notes: Vec::new(),
                });
                continue;
            }
            if let Err(f) = run_step(cx, s, &path, sink).await {
                first_failure = Some(f);
            }
        }
        match first_failure {
            Some(f) => Err(f),
            None if cx.cancelled() => Err(fail("interrupted")),
            None => Ok(()),
        }
    })
}

/// Runs one step (with its nested blocks) and reports it.
pub async fn run_step(cx: &Cx, s: &Spanned<Step>, path: &str, sink: &mut Sink<'_>) -> Result<(), Failure> {
    let step = &s.value;
    let name = describe(step);
    let name = cx.subst(&name).unwrap_or(name);
    let _ = sink.tx.send(RunEvent::StepStarted {
        scenario: sink.scenario.to_string(),
        path: path.to_string(),
        name: name.clone(),
    });
    let start = Instant::now();
    if let Some(c) = &step.cleanup {
        if let Ok(mut reg) = cx.cleanup.lock() {
            for (j, cs) in c.iter().enumerate() {
                reg.push((format!("{path}.cleanup[{j}]"), cs.clone()));
            }
        }
    }
    let result = if let Some(block) = &step.try_ {
        run_block(cx, step, block, path, sink).await
    } else {
        let fut = run_action_and_expect(cx, step);
        match step.timeout {
            Some(t) => match tokio::time::timeout(t.0, fut).await {
                Ok(r) => r,
                Err(_) => Err(fail(format!("step timed out after {t}"))),
            },
            None => fut.await,
        }
    };
    let verdict = if result.is_ok() { Verdict::Passed } else { Verdict::Failed };
    let report = StepReport {
        path: path.to_string(),
        line: s.referenced.line(),
        name,
        verdict,
        duration: start.elapsed(),
        started: start.saturating_duration_since(sink.t0),
        failure: result.as_ref().err().cloned(),
        fidelity_notes: Vec::new(),
    };
    let _ = sink.tx.send(RunEvent::StepFinished { scenario: sink.scenario.to_string(), step: report.clone() });
    sink.reports.push(report);
    result
}

async fn run_block(
    cx: &Cx,
    step: &Step,
    block: &[Spanned<Step>],
    path: &str,
    sink: &mut Sink<'_>,
) -> Result<(), Failure> {
    let tried = run_steps(cx, block, &format!("{path}.try"), sink).await;
    if tried.is_err() {
        if let Some(catch) = &step.catch {
            // Catch steps collect evidence; their own failures do not replace the original.
            let _ = run_steps(cx, catch, &format!("{path}.catch"), sink).await;
        }
    }
    if let Some(finally) = &step.finally {
        let fin = run_steps(cx, finally, &format!("{path}.finally"), sink).await;
        if tried.is_ok() {
            fin?;
        }
    }
    tried.map_err(|f| Failure { message: format!("try block failed: {}", f.message), ..f })
}

async fn run_action_and_expect(cx: &Cx, step: &Step) -> Result<(), Failure> {
    let acts = actions(step);
    let expects: Vec<&crate::scenario::Expectation> =
        step.expect.as_ref().map(|e| e.0.iter().collect()).unwrap_or_default();
    let wants_failure = expects.iter().any(|e| e.denied.is_some() || e.error.is_some());
    let result = match acts.first().copied() {
        Some("apply") => match &step.apply {
            Some(a) => Some(apply::run(cx, a, wants_failure).await?),
            None => None,
        },
        Some("delete") => match &step.delete {
            Some(d) => Some(delete::run(cx, d, wants_failure).await?),
            None => None,
        },
        Some("patch") => match &step.patch {
            Some(p) => Some(patch::run(cx, p, wants_failure).await?),
            None => None,
        },
        Some("command") => match &step.command {
            Some(c) => Some(command::run(cx, c).await?),
            None => None,
        },
        Some("wait") => {
            if let Some(w) = &step.wait {
                wait::run(cx, w, step.timeout.map(|t| t.0)).await?;
            }
            None
        }
        Some("sleep") => {
            if let Some(d) = step.sleep {
                sleep::run(cx, d.0).await?;
            }
            None
        }
        Some("commit") => {
            if let Some(c) = &step.commit {
                commit::run(cx, c, &describe(step)).await?;
            }
            None
        }
        Some("reconcile") => {
            if let Some(r) = &step.reconcile {
                reconcile::run(cx, r, step.timeout.map(|t| t.0)).await?;
            }
            None
        }
        Some(other) => return Err(fail(format!("step {other:?} is not supported by this engine yet"))),
        None => None,
    };
    // Let the platform react before anything is checked (the simulator's fixed point; nothing
    // on a real cluster, where expectations poll).
    if !acts.is_empty() {
        cx.stage.settle().await.map_err(|e| fail(e.to_string()))?;
    }
    if let Some(r) = &result {
        if r.failed.is_some() && !wants_failure {
            let a =
                r.failed.as_ref().map(|a| format!("{} {}: {}", a.code, a.reason(), a.message())).unwrap_or_default();
            return Err(fail(a));
        }
    }
    for e in &expects {
        // Bindings in outcome expectations (a constraint named after `${scenario}`, say).
        let substituted =
            serde_json::to_value(e).map_err(|err| fail(err.to_string())).and_then(|v| cx.subst_value(&v)).and_then(
                |v| serde_json::from_value::<crate::scenario::Expectation>(v).map_err(|err| fail(err.to_string())),
            )?;
        let e = &substituted;
        if let Some(d) = &e.denied {
            outcome::denied(d, result.as_ref().and_then(|r| r.failed.as_ref()))?;
        } else if let Some(er) = &e.error {
            outcome::error(er, result.as_ref().and_then(|r| r.failed.as_ref()))?;
        } else if let Some(w) = &e.warning {
            outcome::warning(w, result.as_ref().map(|r| r.warnings.as_slice()).unwrap_or(&[]))?;
        } else {
            expect::check(cx, e).await?;
        }
    }
    Ok(())
}

use super::expect::outcome;
