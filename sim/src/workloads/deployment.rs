//! The Deployment controller (kube-controller-manager's `deployment-controller`, simplified):
//! one ReplicaSet per pod template (`<deployment>-<pod-template-hash>`), rolled out as
//! rolling.go does (the new ReplicaSet grows within `maxSurge`, old ones shrink while
//! `replicas - maxUnavailable` pods stay available; Recreate removes the old pods first), and
//! the Deployment's status with upstream's conditions.
//!
//! Pods become available as soon as they run (no `minReadySeconds` wait), so a rollout whose
//! new pods start completes in a few reconciles; one whose new pods are denied or cannot mount
//! keeps its old pods, as on a real cluster. There is no progress deadline, pause, rollback API
//! or revision history cleanup. This module must not touch pods: the
//! ReplicaSet controller does.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{controlled_by, controller_of, failed, int_at, names, owner_ref, send, str_at};
use crate::apiserver::objects::now;
use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

const COMPONENT: &str = "deployment-controller";
/// The label ReplicaSets and pods carry with their template hash.
pub const HASH_LABEL: &str = "pod-template-hash";
/// The revision annotation on Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The Deployment controller.
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &str {
        COMPONENT
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new("apps", "deployments")
    }

    fn watches(&self) -> Vec<Watch> {
        vec![Watch::with("apps", "replicasets", |c: &Change| {
            let owner = controller_of(&c.object, "Deployment")
                .or_else(|| c.old.as_deref().and_then(|o| controller_of(o, "Deployment")));
            owner.map(|n| vec![Key::new(&c.namespace, n)]).unwrap_or_default()
        })]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(reconcile(cx, key))
    }
}

/// An int-or-percent of `total`, rounded up or down (intstr.GetScaledValueFromIntOrPercent).
pub fn scaled(v: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if round_up => (p * total + 99) / 100,
            Some(p) => p * total / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// `MaxUnavailable` of deployment_util.go: 0 for Recreate or no replicas; otherwise
/// `maxUnavailable` rounded down, 1 when it and `maxSurge` (rounded up) are both 0, at most
/// the replica count.
pub fn max_unavailable(deploy: &Value) -> i64 {
    let replicas = int_at(deploy, "/spec/replicas").unwrap_or(1);
    if str_at(deploy, "/spec/strategy/type") == "Recreate" || replicas == 0 {
        return 0;
    }
    let ru = deploy.pointer("/spec/strategy/rollingUpdate");
    let surge = scaled(ru.and_then(|r| r.get("maxSurge")).or(Some(&json!("25%"))), replicas, true);
    let mut unavailable = scaled(ru.and_then(|r| r.get("maxUnavailable")).or(Some(&json!("25%"))), replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    unavailable.min(replicas)
}

/// Sets a Deployment condition as `SetDeploymentCondition` does: unchanged when status and
/// reason are the same; `lastTransitionTime` kept when only the reason changes.
pub fn set_condition(conditions: &mut Vec<Value>, type_: &str, status: &str, reason: &str, message: &str) {
    let t = now();
    let existing = conditions.iter().position(|c| str_at(c, "/type") == type_);
    let mut transition = t.clone();
    if let Some(i) = existing {
        let c = &conditions[i];
        if str_at(c, "/status") == status && str_at(c, "/reason") == reason {
            return;
        }
        if str_at(c, "/status") == status {
            transition = str_at(c, "/lastTransitionTime").to_string();
        }
        conditions.remove(i);
    }
    conditions.push(json!({
        "type": type_, "status": status, "lastUpdateTime": t, "lastTransitionTime": transition,
        "reason": reason, "message": message,
    }));
}

fn revision(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn reconcile(cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
    let Some(deploy) = cx.get("apps", "deployments", &key.namespace, &key.name) else { return Ok(Outcome::Done) };
    if deploy.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Outcome::Done);
    }
    let uid = str_at(&deploy, "/metadata/uid");
    let replicas = int_at(&deploy, "/spec/replicas").unwrap_or(1);
    let template = deploy.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = names::template_hash(&template, int_at(&deploy, "/status/collisionCount"));
    let rs_name = format!("{}-{hash}", key.name);
    let rs_base = cx.path("apps", "replicasets", &key.namespace, "")?.trim_end_matches('/').to_string();
    let owned: Vec<Value> = cx
        .list("apps", "replicasets", Some(&key.namespace))
        .into_iter()
        .filter(|rs| controlled_by(rs, uid))
        .map(|rs| rs.as_ref().clone())
        .collect();
    let max_old_revision =
        owned.iter().filter(|rs| str_at(rs, "/metadata/name") != rs_name).map(revision).max().unwrap_or(0);
    let mut created = false;
    let existing = owned.iter().find(|rs| str_at(rs, "/metadata/name") == rs_name);
    let olds: Vec<&Value> = owned.iter().filter(|rs| str_at(rs, "/metadata/name") != rs_name).collect();
    let target = new_rs_replicas(&deploy, existing, &olds);
    let new_rs = match existing {
        Some(rs) => {
            let mut patch = json!({});
            if int_at(rs, "/spec/replicas") != Some(target) {
                patch["spec"] = json!({"replicas": target});
            }
            if revision(rs) <= max_old_revision {
                // A template seen before becomes current again: it takes the next revision.
                patch["metadata"] = json!({"annotations": {REVISION: (max_old_revision + 1).to_string()}});
            }
            if patch.as_object().is_some_and(|p| p.is_empty()) {
                rs.clone()
            } else {
                let from = int_at(rs, "/spec/replicas").unwrap_or(0);
                let updated = send(cx, http::Method::PATCH, &format!("{rs_base}/{rs_name}"), Some(&patch))
                    .await
                    .map_err(|e| failed(&format!("scaling replicaset {rs_name}"), &e))?;
                scaled_event(cx, &deploy, &rs_name, from, target);
                updated
            }
        }
        None => {
            let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
            labels[HASH_LABEL] = json!(hash);
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"] = labels.clone();
            let mut selector = deploy.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let max_surge = replicas + max_surge_of(&deploy);
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name, "namespace": key.namespace, "labels": labels,
                    "annotations": {
                        REVISION: (max_old_revision + 1).to_string(),
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": max_surge.to_string(),
                    },
                    "ownerReferences": [owner_ref(&deploy)],
                },
                "spec": {
                    "replicas": target, "selector": selector, "template": rs_template,
                    "minReadySeconds": int_at(&deploy, "/spec/minReadySeconds").unwrap_or(0),
                },
            });
            let made = send(cx, http::Method::POST, &rs_base, Some(&rs))
                .await
                .map_err(|e| failed(&format!("creating replicaset {rs_name}"), &e))?;
            created = true;
            scaled_event(cx, &deploy, &rs_name, 0, target);
            made
        }
    };
    // Older ReplicaSets go down as far as availability allows (rolling.go).
    for (rs, to) in old_rs_replicas(&deploy, &new_rs, &olds) {
        let from = int_at(rs, "/spec/replicas").unwrap_or(0);
        let name = str_at(rs, "/metadata/name");
        send(cx, http::Method::PATCH, &format!("{rs_base}/{name}"), Some(&json!({"spec": {"replicas": to}})))
            .await
            .map_err(|e| failed(&format!("scaling replicaset {name}"), &e))?;
        scaled_event(cx, &deploy, name, from, to);
    }
    let rev = revision(&new_rs).to_string();
    if deploy.pointer("/metadata/annotations").and_then(|a| a.get(REVISION)).and_then(Value::as_str)
        != Some(rev.as_str())
    {
        let path = cx.path("apps", "deployments", &key.namespace, &key.name)?;
        send(cx, http::Method::PATCH, &path, Some(&json!({"metadata": {"annotations": {REVISION: rev}}})))
            .await
            .map_err(|e| failed("annotating the deployment's revision", &e))?;
    }
    write_status(cx, key, &rs_name, created).await?;
    Ok(Outcome::Done)
}

fn spec_replicas(rs: &Value) -> i64 {
    int_at(rs, "/spec/replicas").unwrap_or(0)
}

fn available(rs: &Value) -> i64 {
    int_at(rs, "/status/availableReplicas").unwrap_or(0)
}

/// The new ReplicaSet's size (rolling.go reconcileNewReplicaSet, deployment_util.go
/// NewRSNewReplicas): Recreate waits until the old pods are gone; RollingUpdate grows the new
/// ReplicaSet while all pods together stay within `replicas + maxSurge`.
fn new_rs_replicas(deploy: &Value, new_rs: Option<&Value>, olds: &[&Value]) -> i64 {
    let desired = int_at(deploy, "/spec/replicas").unwrap_or(1);
    let current = new_rs.map(spec_replicas).unwrap_or(0);
    if str_at(deploy, "/spec/strategy/type") == "Recreate" {
        let old_pods: i64 = olds.iter().map(|rs| spec_replicas(rs) + int_at(rs, "/status/replicas").unwrap_or(0)).sum();
        return if old_pods > 0 { current.min(desired) } else { desired };
    }
    if current >= desired {
        return desired;
    }
    let all: i64 = current + olds.iter().map(|rs| spec_replicas(rs)).sum::<i64>();
    let max_total = desired + max_surge_of(deploy);
    if all >= max_total {
        return current;
    }
    current + (max_total - all).min(desired - current)
}

/// The old ReplicaSets to scale down, and to what (rolling.go reconcileOldReplicaSets): Recreate
/// takes them all to 0; RollingUpdate first removes old pods that are not available, then
/// available ones while the Deployment keeps `replicas - maxUnavailable` available pods, oldest
/// ReplicaSet first. A new template whose pods never become available leaves the old pods
/// running, as on a real cluster.
fn old_rs_replicas<'a>(deploy: &Value, new_rs: &Value, olds: &[&'a Value]) -> Vec<(&'a Value, i64)> {
    let mut olds: Vec<&Value> = olds.iter().copied().filter(|rs| spec_replicas(rs) > 0).collect();
    if olds.is_empty() {
        return Vec::new();
    }
    if str_at(deploy, "/spec/strategy/type") == "Recreate" {
        return olds.into_iter().map(|rs| (rs, 0)).collect();
    }
    olds.sort_by_key(|rs| {
        (str_at(rs, "/metadata/creationTimestamp").to_string(), str_at(rs, "/metadata/name").to_string())
    });
    let desired = int_at(deploy, "/spec/replicas").unwrap_or(1);
    let min_available = desired - max_unavailable(deploy);
    let all: i64 = spec_replicas(new_rs) + olds.iter().map(|rs| spec_replicas(rs)).sum::<i64>();
    let new_unavailable = (spec_replicas(new_rs) - available(new_rs)).max(0);
    let mut budget = all - min_available - new_unavailable;
    let mut out: Vec<(&Value, i64)> = Vec::new();
    let mut sizes: Vec<i64> = olds.iter().map(|rs| spec_replicas(rs)).collect();
    // Unhealthy old pods first.
    for (i, rs) in olds.iter().enumerate() {
        if budget <= 0 {
            break;
        }
        let unhealthy = (sizes[i] - available(rs)).max(0);
        let cut = unhealthy.min(budget);
        sizes[i] -= cut;
        budget -= cut;
    }
    // Then available ones, keeping minAvailable.
    let available_all: i64 =
        available(new_rs) + olds.iter().zip(&sizes).map(|(rs, n)| available(rs).min(*n)).sum::<i64>();
    let mut spare = available_all - min_available;
    for n in sizes.iter_mut() {
        if spare <= 0 {
            break;
        }
        let cut = (*n).min(spare);
        *n -= cut;
        spare -= cut;
    }
    for (rs, n) in olds.into_iter().zip(sizes) {
        if n != spec_replicas(rs) {
            out.push((rs, n));
        }
    }
    out
}

fn max_surge_of(deploy: &Value) -> i64 {
    if str_at(deploy, "/spec/strategy/type") == "Recreate" {
        return 0;
    }
    let replicas = int_at(deploy, "/spec/replicas").unwrap_or(1);
    scaled(deploy.pointer("/spec/strategy/rollingUpdate/maxSurge").or(Some(&json!("25%"))), replicas, true)
}

/// sync.go scaleReplicaSet: ScalingReplicaSet "Scaled up|down replica set %s from %d to %d".
fn scaled_event(cx: &Cx, deploy: &Value, rs: &str, from: i64, to: i64) {
    if from == to {
        return;
    }
    let dir = if to > from { "up" } else { "down" };
    cx.event(
        deploy,
        "Normal",
        "ScalingReplicaSet",
        &format!("Scaled {dir} replica set {rs} from {from} to {to}"),
        COMPONENT,
    );
}

/// Status from the ReplicaSets as they are now (sync.go calculateStatus, progress.go
/// syncRolloutStatus).
async fn write_status(cx: &Cx, key: &Key, rs_name: &str, created: bool) -> Result<(), ReconcileError> {
    let Some(deploy) = cx.get("apps", "deployments", &key.namespace, &key.name) else { return Ok(()) };
    let uid = str_at(&deploy, "/metadata/uid");
    let all: Vec<_> =
        cx.list("apps", "replicasets", Some(&key.namespace)).into_iter().filter(|rs| controlled_by(rs, uid)).collect();
    let sum = |p: &str| all.iter().map(|rs| int_at(rs, p).unwrap_or(0)).sum::<i64>();
    let new_rs = all.iter().find(|rs| str_at(rs, "/metadata/name") == rs_name);
    let spec_replicas = int_at(&deploy, "/spec/replicas").unwrap_or(1);
    let replicas = sum("/status/replicas");
    let updated = new_rs.and_then(|rs| int_at(rs, "/status/replicas")).unwrap_or(0);
    let ready = sum("/status/readyReplicas");
    let available = sum("/status/availableReplicas");
    let unavailable = (sum("/spec/replicas") - available).max(0);
    let generation = int_at(&deploy, "/metadata/generation").unwrap_or(1);
    let mut conditions: Vec<Value> =
        deploy.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    // sync.go calculateStatus.
    if available >= spec_replicas - max_unavailable(&deploy) {
        set_condition(
            &mut conditions,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        );
    } else {
        set_condition(
            &mut conditions,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        );
    }
    // progress.go syncRolloutStatus (the progress deadline never passes).
    let progressing = conditions.iter().find(|c| str_at(c, "/type") == "Progressing").cloned();
    let complete_before = replicas == updated
        && progressing.as_ref().is_some_and(|c| str_at(c, "/reason") == "NewReplicaSetAvailable")
        && !created;
    if created {
        // sync.go getNewReplicaSet: NewReplicaSetCreated "Created new replica set %q".
        set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set {rs_name:?}"),
        );
    }
    if !complete_before {
        let old = deploy.get("status").cloned().unwrap_or(json!({}));
        let old_int = |f: &str| int_at(&old, &format!("/{f}")).unwrap_or(0);
        let complete = updated == spec_replicas && replicas == spec_replicas && available == spec_replicas;
        let progressed = updated > old_int("updatedReplicas")
            || replicas < old_int("replicas")
            || ready > old_int("readyReplicas")
            || available > old_int("availableReplicas");
        if complete {
            set_condition(
                &mut conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet {rs_name:?} has successfully progressed."),
            );
        } else if progressed && !created {
            set_condition(
                &mut conditions,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet {rs_name:?} is progressing."),
            );
        }
    }
    // progress.go: the ReplicaSets' ReplicaFailure condition is copied to the Deployment.
    let failure = all.iter().find_map(|rs| crate::conditions::get(rs, "ReplicaFailure").cloned());
    match failure {
        Some(f) => set_condition(
            &mut conditions,
            "ReplicaFailure",
            str_at(&f, "/status"),
            str_at(&f, "/reason"),
            str_at(&f, "/message"),
        ),
        None => conditions.retain(|c| str_at(c, "/type") != "ReplicaFailure"),
    }
    let count = |n: i64| if n == 0 { Value::Null } else { json!(n) };
    let status = json!({
        "observedGeneration": generation,
        "replicas": count(replicas),
        "updatedReplicas": count(updated),
        "readyReplicas": count(ready),
        "availableReplicas": count(available),
        "unavailableReplicas": count(unavailable),
        "conditions": conditions,
    });
    cx.merge_status("apps", "deployments", &key.namespace, &key.name, &status).await?;
    Ok(())
}
