//! The StatefulSet controller (kube-controller-manager's `statefulset-controller`,
//! simplified): pods `<name>-0`..`<name>-<N-1>` with stable names, created through the API
//! server (so admission sees them) lowest ordinal first, and the StatefulSet's status.
//!
//! With `podManagementPolicy: OrderedReady` (the default) the next pod is created only when
//! every lower one is Running and Ready; `Parallel` creates all missing pods at once. Scaling
//! down deletes the highest ordinals first. A template change gives a new revision
//! (`<name>-<hash>`, in the pods' `controller-revision-hash` label); pods of an older revision
//! are deleted together and recreated in order (the rolling update is instantaneous, as
//! Deployments are here, and `partition` is ignored). ControllerRevision objects,
//! `volumeClaimTemplates` (no PersistentVolumeClaims are made), `minReadySeconds` and the
//! `OnDelete` strategy are not simulated. This module must not start pods (the kubelet does).

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::replicaset::pod_ready;
use super::{api_message, controlled_by, controller_of, int_at, names, send, str_at};
use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

const COMPONENT: &str = "statefulset-controller";
/// The label naming a StatefulSet pod (apps/v1 `StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with the pod's ordinal (apps/v1 `PodIndexLabel`, Kubernetes 1.28+).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label with the revision a pod was made from (apps/v1 `ControllerRevisionHashLabelKey`).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The StatefulSet controller.
pub struct StatefulSetController;

impl Controller for StatefulSetController {
    fn name(&self) -> &str {
        COMPONENT
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new("apps", "statefulsets")
    }

    fn watches(&self) -> Vec<Watch> {
        vec![Watch::with("", "pods", |c: &Change| {
            let owner = controller_of(&c.object, "StatefulSet")
                .or_else(|| c.old.as_deref().and_then(|o| controller_of(o, "StatefulSet")));
            owner.map(|n| vec![Key::new(&c.namespace, n)]).unwrap_or_default()
        })]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(reconcile(cx, key))
    }
}

/// The revision of `set`'s current template: `<name>-<hash>` as the pods' label reads.
pub fn revision(set: &Value, name: &str) -> String {
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    format!("{name}-{}", names::template_hash(&template, int_at(set, "/status/collisionCount").filter(|c| *c != 0)))
}

/// The ordinal of a pod named `<set>-<ordinal>`.
fn ordinal_of(set: &str, pod: &Value) -> Option<usize> {
    str_at(pod, "/metadata/name").strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn running_and_ready(pod: &Value) -> bool {
    str_at(pod, "/status/phase") == "Running" && pod_ready(pod)
}

/// The pod for `ordinal` (stateful_set_utils.go newVersionedStatefulSetPod): the template
/// with the identity labels, hostname and subdomain.
fn new_pod(set: &Value, key: &Key, ordinal: usize, rev: &str) -> (String, Value) {
    let name = format!("{}-{ordinal}", key.name);
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut pod = super::pod_from(set, &key.namespace, &template, &name);
    let labels = &mut pod["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[POD_NAME_LABEL] = json!(name);
    labels[POD_INDEX_LABEL] = json!(ordinal.to_string());
    labels[REVISION_LABEL] = json!(rev);
    if !pod["spec"].is_object() {
        pod["spec"] = json!({});
    }
    pod["spec"]["hostname"] = json!(name);
    let service = str_at(set, "/spec/serviceName");
    if !service.is_empty() {
        pod["spec"]["subdomain"] = json!(service);
    }
    (name, pod)
}

/// stateful_pod_control.go recordPodEvent: `<verb> Pod <pod> in StatefulSet <set>
/// successful` (reason `Successful<Verb>`) or `... failed error: <error>` (`Failed<Verb>`).
fn record(cx: &Cx, set: &Value, verb: &str, pod: &str, error: Option<&str>) {
    let set_name = str_at(set, "/metadata/name");
    let title = format!("{}{}", verb[..1].to_uppercase(), &verb[1..]);
    match error {
        None => cx.event(
            set,
            "Normal",
            &format!("Successful{title}"),
            &format!("{verb} Pod {pod} in StatefulSet {set_name} successful"),
            COMPONENT,
        ),
        Some(e) => cx.event(
            set,
            "Warning",
            &format!("Failed{title}"),
            &format!("{verb} Pod {pod} in StatefulSet {set_name} failed error: {e}"),
            COMPONENT,
        ),
    }
}

async fn reconcile(cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
    let Some(set) = cx.get("apps", "statefulsets", &key.namespace, &key.name) else { return Ok(Outcome::Done) };
    if set.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Outcome::Done);
    }
    let uid = str_at(&set, "/metadata/uid");
    let want = int_at(&set, "/spec/replicas").unwrap_or(1).max(0) as usize;
    let parallel = str_at(&set, "/spec/podManagementPolicy") == "Parallel";
    let rev = revision(&set, &key.name);
    let pods_path = super::pods_path(cx, &key.namespace)?;
    let owned: Vec<_> = cx
        .list("", "pods", Some(&key.namespace))
        .into_iter()
        .filter(|p| controlled_by(p, uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let mut error = None;
    // Condemned pods (ordinal >= replicas) and pods of an older revision go, highest first.
    let mut victims: Vec<(usize, String)> = owned
        .iter()
        .filter_map(|p| {
            let ordinal = ordinal_of(&key.name, p)?;
            let outdated = p.pointer("/metadata/labels").and_then(|l| l.get(REVISION_LABEL)) != Some(&json!(rev));
            (ordinal >= want || outdated).then(|| (ordinal, str_at(p, "/metadata/name").to_string()))
        })
        .collect();
    victims.sort_by_key(|v| std::cmp::Reverse(v.0));
    for (_, name) in &victims {
        match send(cx, http::Method::DELETE, &format!("{pods_path}/{name}"), None).await {
            Ok(_) => record(cx, &set, "delete", name, None),
            Err(e) => {
                let message = api_message(&e);
                record(cx, &set, "delete", name, Some(&message));
                error = Some(message);
                break;
            }
        }
    }
    if error.is_none() {
        let kept: Vec<&Value> = owned
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| !victims.iter().any(|(_, v)| str_at(p, "/metadata/name") == v))
            .collect();
        for ordinal in 0..want {
            if let Some(pod) = kept.iter().find(|p| ordinal_of(&key.name, p) == Some(ordinal)) {
                if !parallel && !running_and_ready(pod) {
                    cx.note(format!("waiting for {}-{ordinal} to be Running and Ready", key.name));
                    break;
                }
                continue;
            }
            let (name, pod) = new_pod(&set, key, ordinal, &rev);
            match send(cx, http::Method::POST, &pods_path, Some(&pod)).await {
                Ok(_) => record(cx, &set, "create", &name, None),
                Err(e) => {
                    let message = api_message(&e);
                    record(cx, &set, "create", &name, Some(&message));
                    cx.note(format!("creating pod {name} failed: {message}"));
                    error = Some(message);
                    break;
                }
            }
            if !parallel {
                break;
            }
        }
    }
    write_status(cx, key, &set, &rev).await?;
    Ok(if error.is_some() { Outcome::Retry } else { Outcome::Done })
}

/// Counts the pods again and writes the status (stateful_set_control.go updateStatus).
async fn write_status(cx: &Cx, key: &Key, set: &Value, rev: &str) -> Result<(), ReconcileError> {
    let uid = str_at(set, "/metadata/uid");
    let pods: Vec<_> = cx
        .list("", "pods", Some(&key.namespace))
        .into_iter()
        .filter(|p| {
            controlled_by(p, uid)
                && p.pointer("/metadata/deletionTimestamp").is_none()
                && !matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed")
        })
        .collect();
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    let updated = pods.iter().filter(|p| str_at(p, &format!("/metadata/labels/{REVISION_LABEL}")) == rev).count();
    let want = int_at(set, "/spec/replicas").unwrap_or(1).max(0) as usize;
    // The update is complete when every replica runs the new revision: it becomes current.
    let old_current = str_at(set, "/status/currentRevision");
    let current_rev = if old_current.is_empty() || (updated == want && ready == want) { rev } else { old_current };
    let current =
        pods.iter().filter(|p| str_at(p, &format!("/metadata/labels/{REVISION_LABEL}")) == current_rev).count();
    let count = |n: usize| if n == 0 { Value::Null } else { json!(n) };
    let status = json!({
        "observedGeneration": int_at(set, "/metadata/generation").unwrap_or(1),
        "replicas": pods.len(),
        "readyReplicas": count(ready),
        "currentReplicas": count(current),
        "updatedReplicas": count(updated),
        // minReadySeconds pass at once: no time passes in the simulator.
        "availableReplicas": ready,
        "currentRevision": current_rev,
        "updateRevision": rev,
        "collisionCount": int_at(set, "/status/collisionCount").unwrap_or(0),
    });
    cx.merge_status("apps", "statefulsets", &key.namespace, &key.name, &status)
        .await
        .map_err(|e| ReconcileError::new(format!("writing the status of statefulset {key}: {e}")))?;
    Ok(())
}
