//! Health assessment, kstatus-like: the status (`Current`, `InProgress`, `Failed`,
//! `NotFound`) of an applied object, as cli-utils' kstatus computes it for the kinds the
//! simulator has, and the `WaitForSet` verdict wording of fluxcd/pkg `ssa`
//! (`timeout waiting for: [Deployment/ns/name status: 'InProgress']`,
//! `failed early due to stalled resources: [...]`).
//!
//! Deployments, StatefulSets, DaemonSets, ReplicaSets: current once the controller observed the
//! generation and every replica is updated, ready and available. Jobs: current when
//! `Complete`, failed when `Failed`. Pods: `Running` and `Ready`, or `Succeeded`. CRDs: once
//! `Established`. Other objects: in progress while `status.observedGeneration` lags, then by
//! their `Ready` condition (`Stalled=True` is failed), else current at once. The simulator has
//! no workload controller yet, so a Deployment never gets replicas and stays `InProgress`: at
//! the fixed point a Kustomization waiting for one ends `HealthCheckFailed`, which is what the
//! real cluster would report with no nodes to run pods. This module only reads objects.

use serde_json::Value;

use crate::conditions;

/// A kstatus status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Current,
    InProgress,
    Failed,
    NotFound,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "Current",
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::NotFound => "NotFound",
        }
    }
}

fn int(obj: &Value, p: &str) -> Option<i64> {
    obj.pointer(p).and_then(Value::as_i64)
}

fn generation_observed(obj: &Value) -> bool {
    match (int(obj, "/metadata/generation"), int(obj, "/status/observedGeneration")) {
        (Some(g), Some(o)) => o >= g,
        (Some(_), None) => {
            obj.get("status").is_none()
                || !matches!(
                    obj.get("kind").and_then(Value::as_str),
                    Some("Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
                )
        }
        _ => true,
    }
}

/// The status of an object (`None`: not found).
pub fn status(obj: Option<&Value>) -> Status {
    let Some(obj) = obj else { return Status::NotFound };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let cond = |t: &str| conditions::status_of(obj, t);
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            if int(obj, "/status/observedGeneration").is_none_or(|o| Some(o) < int(obj, "/metadata/generation")) {
                return Status::InProgress;
            }
            if kind == "Deployment"
                && conditions::get(obj, "Progressing").and_then(|c| c.get("reason")).and_then(Value::as_str)
                    == Some("ProgressDeadlineExceeded")
            {
                return Status::Failed;
            }
            let want = int(obj, "/spec/replicas").unwrap_or(1);
            let got = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
            let updated = if kind == "ReplicaSet" { got("replicas") } else { got("updatedReplicas") };
            let available = if kind == "StatefulSet" { got("readyReplicas") } else { got("availableReplicas") };
            if updated >= want && got("readyReplicas") >= want && available >= want && got("replicas") <= want {
                Status::Current
            } else {
                Status::InProgress
            }
        }
        "DaemonSet" => {
            if !generation_observed(obj) || obj.get("status").is_none() {
                return Status::InProgress;
            }
            let got = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
            let want = got("desiredNumberScheduled");
            if got("updatedNumberScheduled") >= want && got("numberAvailable") >= want && got("numberReady") >= want {
                Status::Current
            } else {
                Status::InProgress
            }
        }
        "Job" => {
            if cond("Complete") == Some("True") {
                Status::Current
            } else if cond("Failed") == Some("True") {
                Status::Failed
            } else {
                Status::InProgress
            }
        }
        "Pod" => match obj.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Status::Current,
            Some("Failed") => Status::Failed,
            Some("Running") if cond("Ready") == Some("True") => Status::Current,
            _ => Status::InProgress,
        },
        "CustomResourceDefinition" => {
            if cond("Established") == Some("True") {
                Status::Current
            } else {
                Status::InProgress
            }
        }
        "PersistentVolumeClaim" => {
            if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound") {
                Status::Current
            } else {
                Status::InProgress
            }
        }
        _ => {
            if !generation_observed(obj) {
                return Status::InProgress;
            }
            if cond("Stalled") == Some("True") {
                return Status::Failed;
            }
            match cond("Ready") {
                Some("True") | None => Status::Current,
                Some(_) => Status::InProgress,
            }
        }
    }
}

/// The verdict over a set: `Ok` when every object is current; `Err(Some(msg))` when the
/// set can only fail (failed and current objects only) or `timed_out`; `Err(None)` while
/// waiting. `items` are (`Kind/ns/name`, status).
pub fn verdict(items: &[(String, Status)], timed_out: bool) -> Result<(), Option<String>> {
    if items.iter().all(|(_, s)| *s == Status::Current) {
        return Ok(());
    }
    let terminal = items.iter().all(|(_, s)| matches!(s, Status::Current | Status::Failed));
    if !terminal && !timed_out {
        return Err(None);
    }
    let mut errs: Vec<String> = items
        .iter()
        .filter(|(_, s)| *s == Status::Failed || (timed_out && *s != Status::Current))
        .map(|(d, s)| format!("{d} status: '{}'", s.as_str()))
        .collect();
    errs.sort();
    let head = if timed_out && !terminal { "timeout waiting for" } else { "failed early due to stalled resources" };
    Err(Some(format!("{head}: [{}]", errs.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_without_replicas_stay_in_progress() {
        let d = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2}});
        assert_eq!(status(Some(&d)), Status::InProgress);
        let ready = json!({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
        assert_eq!(status(Some(&ready)), Status::Current);
        assert_eq!(status(Some(&json!({"kind": "ConfigMap"}))), Status::Current);
        assert_eq!(status(None), Status::NotFound);
        let items = vec![("Deployment/a/web".to_string(), Status::InProgress)];
        assert_eq!(verdict(&items, false), Err(None));
        assert_eq!(
            verdict(&items, true),
            Err(Some("timeout waiting for: [Deployment/a/web status: 'InProgress']".into()))
        );
        let failed = vec![("Job/a/j".to_string(), Status::Failed), ("ConfigMap/a/c".to_string(), Status::Current)];
        assert_eq!(
            verdict(&failed, false),
            Err(Some("failed early due to stalled resources: [Job/a/j status: 'Failed']".into()))
        );
    }
}
