//! The Job controller (kube-controller-manager's `job-controller`, simplified to NonIndexed
//! Jobs whose pods all succeed): creates up to `parallelism` pods until `completions` have
//! succeeded, then marks the Job `SuccessCriteriaMet` and `Complete` as Kubernetes 1.31+ does.
//!
//! The simulated kubelet runs a Job's pods to `Succeeded` at once (exit code 0), so failures,
//! `backoffLimit`, pod failure and success policies, Indexed mode, the job-tracking finalizer
//! and `activeDeadlineSeconds` are not simulated. This module must not start pods.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{controlled_by, controller_of, int_at, str_at};
use crate::apiserver::objects::now;
use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

const COMPONENT: &str = "job-controller";
/// pkg/controller/job: reason and message of `SuccessCriteriaMet` and `Complete`.
pub const COMPLETIONS_REACHED: &str = "CompletionsReached";
pub const COMPLETIONS_REACHED_MESSAGE: &str = "Reached expected number of succeeded pods";

/// The Job controller.
pub struct JobController;

impl Controller for JobController {
    fn name(&self) -> &str {
        COMPONENT
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new("batch", "jobs")
    }

    fn watches(&self) -> Vec<Watch> {
        vec![Watch::with("", "pods", |c: &Change| {
            let owner =
                controller_of(&c.object, "Job").or_else(|| c.old.as_deref().and_then(|o| controller_of(o, "Job")));
            owner.map(|n| vec![Key::new(&c.namespace, n)]).unwrap_or_default()
        })]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(reconcile(cx, key))
    }
}

fn finished(job: &Value) -> bool {
    ["Complete", "Failed"].iter().any(|t| crate::conditions::status_of(job, t) == Some("True"))
}

async fn reconcile(cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
    let Some(job) = cx.get("batch", "jobs", &key.namespace, &key.name) else { return Ok(Outcome::Done) };
    if job.pointer("/metadata/deletionTimestamp").is_some() || finished(&job) {
        return Ok(Outcome::Done);
    }
    let uid = str_at(&job, "/metadata/uid");
    let all_pods = cx.list("", "pods", Some(&key.namespace));
    let owned: Vec<&Value> = all_pods.iter().map(|p| p.as_ref()).filter(|p| controlled_by(p, uid)).collect();
    let phase = |p: &&Value| str_at(p, "/status/phase").to_string();
    let succeeded = owned.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let active = owned
        .iter()
        .filter(|p| {
            !matches!(phase(p).as_str(), "Succeeded" | "Failed") && p.pointer("/metadata/deletionTimestamp").is_none()
        })
        .count() as i64;
    let completions = int_at(&job, "/spec/completions").unwrap_or(1);
    let parallelism = int_at(&job, "/spec/parallelism").unwrap_or(1);
    let suspended = job.pointer("/spec/suspend") == Some(&json!(true));
    let mut error = None;
    let mut created = 0i64;
    if !suspended && succeeded < completions {
        let want_active = parallelism.min(completions - succeeded);
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let pods_path = super::pods_path(cx, &key.namespace)?;
        let mut ordinal = 0u32;
        for _ in active..want_active {
            let (name, pod) = super::next_pod(&job, key, &template, &all_pods, &mut ordinal);
            match super::create_pod(cx, &job, &pods_path, &name, &pod, COMPONENT).await {
                Ok(()) => created += 1,
                Err(message) => {
                    error = Some(message);
                    break;
                }
            }
        }
    }
    let t = now();
    let count = |n: i64| if n == 0 { Value::Null } else { json!(n) };
    let mut status = json!({
        "active": count(active + created),
        "succeeded": count(succeeded),
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    });
    if job.pointer("/status/startTime").is_none() && !suspended {
        status["startTime"] = json!(t);
    }
    if succeeded >= completions {
        let cond = |type_: &str| {
            json!({"type": type_, "status": "True", "lastProbeTime": t, "lastTransitionTime": t,
                   "reason": COMPLETIONS_REACHED, "message": COMPLETIONS_REACHED_MESSAGE})
        };
        let mut conditions = job.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        conditions.retain(|c| !matches!(str_at(c, "/type"), "SuccessCriteriaMet" | "Complete"));
        conditions.push(cond("SuccessCriteriaMet"));
        conditions.push(cond("Complete"));
        status["conditions"] = json!(conditions);
        status["completionTime"] = json!(t);
        cx.event(&job, "Normal", "Completed", "Job completed", COMPONENT);
    }
    cx.merge_status("batch", "jobs", &key.namespace, &key.name, &status).await?;
    Ok(if error.is_some() { Outcome::Retry } else { Outcome::Done })
}
