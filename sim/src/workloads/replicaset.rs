//! The ReplicaSet controller (kube-controller-manager's `replicaset-controller`, simplified):
//! keeps `spec.replicas` pods of the template, owned by the ReplicaSet, and writes its status.
//!
//! Pods are created through the API server, so admission (Gatekeeper) can deny them: the
//! ReplicaSet then gets a Warning event `FailedCreate` `Error creating: <message>` and the
//! condition `ReplicaFailure` (reason `FailedCreate`), and the reconcile is retried after
//! other progress. Like upstream's slow start, creation stops at the first failure. This module
//! must not start pods (the kubelet does) nor adopt or orphan pods by selector (only pods it
//! controls count).

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{api_message, controlled_by, controller_of, int_at, send, str_at};
use crate::apiserver::objects::now;
use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

const COMPONENT: &str = "replicaset-controller";

/// The ReplicaSet controller.
pub struct ReplicaSetController;

impl Controller for ReplicaSetController {
    fn name(&self) -> &str {
        COMPONENT
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new("apps", "replicasets")
    }

    fn watches(&self) -> Vec<Watch> {
        vec![Watch::with("", "pods", |c: &Change| {
            let owner = controller_of(&c.object, "ReplicaSet")
                .or_else(|| c.old.as_deref().and_then(|o| controller_of(o, "ReplicaSet")));
            owner.map(|n| vec![Key::new(&c.namespace, n)]).unwrap_or_default()
        })]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(reconcile(cx, key))
    }
}

/// True for a pod counted as a replica: not finished, not being deleted.
fn active(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && !matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// True when the pod's `Ready` condition is True.
pub fn pod_ready(pod: &Value) -> bool {
    crate::conditions::status_of(pod, "Ready") == Some("True")
}

async fn reconcile(cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
    let Some(rs) = cx.get("apps", "replicasets", &key.namespace, &key.name) else { return Ok(Outcome::Done) };
    if rs.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Outcome::Done);
    }
    let uid = str_at(&rs, "/metadata/uid");
    let want = int_at(&rs, "/spec/replicas").unwrap_or(1).max(0) as usize;
    let all_pods = cx.list("", "pods", Some(&key.namespace));
    let mut pods: Vec<&Value> =
        all_pods.iter().map(|p| p.as_ref()).filter(|p| controlled_by(p, uid) && active(p)).collect();
    pods.sort_by_key(|p| str_at(p, "/metadata/name").to_string());
    let mut error: Option<String> = None;
    let pods_path = super::pods_path(cx, &key.namespace)?;
    if pods.len() < want {
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut ordinal = 0u32;
        for _ in pods.len()..want {
            let (name, pod) = super::next_pod(&rs, key, &template, &all_pods, &mut ordinal);
            match super::create_pod(cx, &rs, &pods_path, &name, &pod, COMPONENT).await {
                Ok(()) => {}
                Err(message) => {
                    error = Some(message);
                    break;
                }
            }
        }
    } else if pods.len() > want {
        // Upstream prefers deleting unscheduled, pending and unready pods, then the newest.
        let mut victims = pods.clone();
        victims.sort_by_key(|p| {
            (
                !str_at(p, "/spec/nodeName").is_empty(),
                pod_ready(p),
                std::cmp::Reverse(str_at(p, "/metadata/name").to_string()),
            )
        });
        for p in victims.into_iter().take(pods.len() - want) {
            let name = str_at(p, "/metadata/name");
            match send(cx, http::Method::DELETE, &format!("{pods_path}/{name}"), None).await {
                Ok(_) => cx.event(&rs, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"), COMPONENT),
                Err(e) => {
                    let message = api_message(&e);
                    cx.event(&rs, "Warning", "FailedDelete", &format!("Error deleting: {message}"), COMPONENT);
                    error = Some(message);
                    break;
                }
            }
        }
    }
    write_status(cx, key, &rs, error.as_deref(), want).await?;
    Ok(if error.is_some() { Outcome::Retry } else { Outcome::Done })
}

/// Counts the controlled pods again and writes the status (replica_set_utils.go
/// calculateStatus): the `ReplicaFailure` condition is set on a failure only when absent (so
/// its message is the first error) and removed after a clean pass.
async fn write_status(cx: &Cx, key: &Key, rs: &Value, error: Option<&str>, want: usize) -> Result<(), ReconcileError> {
    let uid = str_at(rs, "/metadata/uid");
    let pods: Vec<_> =
        cx.list("", "pods", Some(&key.namespace)).into_iter().filter(|p| controlled_by(p, uid) && active(p)).collect();
    let template_labels = rs.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            template_labels.is_none_or(|want| {
                want.iter().all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
            })
        })
        .count();
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let mut conditions = rs.pointer("/status/conditions").cloned().unwrap_or(json!([]));
    let has_failure = crate::conditions::get(rs, "ReplicaFailure").is_some();
    match error {
        Some(message) if !has_failure => {
            let reason = if pods.len() < want { "FailedCreate" } else { "FailedDelete" };
            if let Some(list) = conditions.as_array_mut() {
                list.push(json!({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": now(),
                                 "reason": reason, "message": message}));
            }
        }
        None if has_failure => crate::conditions::remove(&mut conditions, "ReplicaFailure"),
        _ => {}
    }
    let count = |n: usize| if n == 0 { Value::Null } else { json!(n) };
    let status = json!({
        "replicas": pods.len(),
        "fullyLabeledReplicas": count(fully_labeled),
        "readyReplicas": count(ready),
        // minReadySeconds pass at once: no time passes in the simulator.
        "availableReplicas": count(ready),
        "observedGeneration": int_at(rs, "/metadata/generation").unwrap_or(1),
        "conditions": if conditions.as_array().is_some_and(|c| !c.is_empty()) { conditions } else { Value::Null },
    });
    cx.merge_status("apps", "replicasets", &key.namespace, &key.name, &status)
        .await
        .map_err(|e| ReconcileError::new(format!("writing the status of replicaset {key}: {e}")))?;
    Ok(())
}
