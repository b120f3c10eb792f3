//! The DaemonSet controller (kube-controller-manager's `daemonset-controller`, simplified):
//! one pod per Ready virtual node that the template's `nodeSelector` and required node
//! affinity accept, and the DaemonSet's status.
//!
//! As upstream (daemon_controller.go syncNodes), pods are created through the API server
//! (admission sees them; a denial is a Warning `FailedCreate` `Error creating: <message>`
//! event) without `spec.nodeName`: each is pinned to its node by a required node affinity
//! term `matchFields: metadata.name In [<node>]`, which the simulated scheduler honours, and
//! gets the daemon tolerations. A template change deletes the old pods together and recreates
//! them (the rolling update is instantaneous); `OnDelete`, `maxSurge`, taints and
//! ControllerRevision objects are not simulated. This module must not bind or start pods.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::kubelet::affinity_fits;
use super::replicaset::pod_ready;
use super::{api_message, controlled_by, controller_of, int_at, names, send, str_at};
use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

const COMPONENT: &str = "daemonset-controller";
/// The pod label with the template's hash (apps/v1 `DefaultDaemonSetUniqueLabelKey`).
pub const HASH_LABEL: &str = "controller-revision-hash";
/// The pod label with the DaemonSet's generation (`DaemonSetTemplateGenerationKey`).
pub const GENERATION_LABEL: &str = "pod-template-generation";

/// The DaemonSet controller.
pub struct DaemonSetController;

impl Controller for DaemonSetController {
    fn name(&self) -> &str {
        COMPONENT
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new("apps", "daemonsets")
    }

    fn watches(&self) -> Vec<Watch> {
        vec![
            Watch::with("", "pods", |c: &Change| {
                let owner = controller_of(&c.object, "DaemonSet")
                    .or_else(|| c.old.as_deref().and_then(|o| controller_of(o, "DaemonSet")));
                owner.map(|n| vec![Key::new(&c.namespace, n)]).unwrap_or_default()
            }),
            // A node added, relabelled or becoming Ready changes where daemon pods belong.
            Watch::all("", "nodes"),
        ]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(reconcile(cx, key))
    }
}

/// The node a daemon pod is for: its `spec.nodeName`, else the node its affinity pins.
fn pod_node(pod: &Value) -> String {
    let bound = str_at(pod, "/spec/nodeName");
    if !bound.is_empty() {
        return bound.to_string();
    }
    let pinned = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields")
        .and_then(Value::as_array)
        .and_then(|fs| fs.iter().find(|f| str_at(f, "/key") == "metadata.name"))
        .and_then(|f| f.pointer("/values/0"))
        .and_then(Value::as_str);
    pinned.unwrap_or_default().to_string()
}

/// daemonset_util.go AddOrUpdateDaemonPodTolerations: the taints a daemon pod tolerates.
fn add_daemon_tolerations(spec: &mut Value) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.get("hostNetwork") == Some(&json!(true)) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let mut list = spec.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    for (key, effect) in wanted {
        list.retain(|t| !(str_at(t, "/key") == key && str_at(t, "/effect") == effect));
        list.push(json!({"key": key, "operator": "Exists", "effect": effect}));
    }
    spec["tolerations"] = json!(list);
}

/// The pod for `node` (daemon_controller.go syncNodes): the template with the hash and
/// generation labels, the daemon tolerations and the node affinity term.
fn new_pod(
    ds: &Value,
    key: &Key,
    template: &Value,
    hash: &str,
    node: &str,
    existing: &[Arc<Value>],
) -> (String, Value) {
    let mut ordinal = 0;
    let (name, mut pod) = super::next_pod(ds, key, template, existing, &mut ordinal);
    if !pod["metadata"]["labels"].is_object() {
        pod["metadata"]["labels"] = json!({});
    }
    pod["metadata"]["labels"][HASH_LABEL] = json!(hash);
    pod["metadata"]["labels"][GENERATION_LABEL] = json!(int_at(ds, "/metadata/generation").unwrap_or(1).to_string());
    if !pod["spec"].is_object() {
        pod["spec"] = json!({});
    }
    add_daemon_tolerations(&mut pod["spec"]);
    // daemonset_util.go ReplaceDaemonSetPodNodeNameNodeAffinity: the required term is replaced.
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    });
    (name, pod)
}

/// The Ready nodes the DaemonSet's template accepts, by name.
fn wanted_nodes(cx: &Cx, template: &Value) -> Vec<String> {
    let selector = template.pointer("/spec/nodeSelector").and_then(Value::as_object);
    cx.list("", "nodes", None)
        .iter()
        .filter(|n| {
            crate::conditions::status_of(n, "Ready") == Some("True")
                && super::labels_match(n, selector)
                && affinity_fits(template, n)
        })
        .map(|n| str_at(n, "/metadata/name").to_string())
        .collect()
}

async fn reconcile(cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
    let Some(ds) = cx.get("apps", "daemonsets", &key.namespace, &key.name) else { return Ok(Outcome::Done) };
    if ds.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Outcome::Done);
    }
    let uid = str_at(&ds, "/metadata/uid");
    let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = names::template_hash(&template, int_at(&ds, "/status/collisionCount").filter(|c| *c != 0));
    let wanted = wanted_nodes(cx, &template);
    let pods_path = super::pods_path(cx, &key.namespace)?;
    let all_pods = cx.list("", "pods", Some(&key.namespace));
    let owned: Vec<&Value> = all_pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| controlled_by(p, uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let mut error = None;
    // Pods on nodes that should not run one, extra pods on a node and outdated pods go.
    let mut seen = BTreeMap::new();
    let mut victims = Vec::new();
    for p in &owned {
        let node = pod_node(p);
        let outdated = str_at(p, &format!("/metadata/labels/{HASH_LABEL}")) != hash;
        if !wanted.contains(&node) || outdated || seen.insert(node, ()).is_some() {
            victims.push(str_at(p, "/metadata/name").to_string());
        }
    }
    for name in &victims {
        match send(cx, http::Method::DELETE, &format!("{pods_path}/{name}"), None).await {
            // controller_utils.go DeletePod: SuccessfulDelete "Deleted pod: %v".
            Ok(_) => cx.event(&ds, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"), COMPONENT),
            Err(e) => {
                let message = api_message(&e);
                cx.event(&ds, "Warning", "FailedDelete", &format!("Error deleting: {message}"), COMPONENT);
                error = Some(message);
                break;
            }
        }
    }
    if error.is_none() {
        for node in wanted.iter().filter(|n| !seen.contains_key(*n)) {
            let existing = cx.list("", "pods", Some(&key.namespace));
            let (name, pod) = new_pod(&ds, key, &template, &hash, node, &existing);
            if let Err(message) = super::create_pod(cx, &ds, &pods_path, &name, &pod, COMPONENT).await {
                error = Some(message);
                break;
            }
        }
    }
    write_status(cx, key, &ds, &hash, &wanted).await?;
    Ok(if error.is_some() { Outcome::Retry } else { Outcome::Done })
}

/// Counts the pods again and writes the status (daemon_controller.go updateDaemonSetStatus).
async fn write_status(cx: &Cx, key: &Key, ds: &Value, hash: &str, wanted: &[String]) -> Result<(), ReconcileError> {
    let uid = str_at(ds, "/metadata/uid");
    let pods: Vec<_> = cx
        .list("", "pods", Some(&key.namespace))
        .into_iter()
        .filter(|p| controlled_by(p, uid) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let on = |node: &str, test: &dyn Fn(&Value) -> bool| pods.iter().any(|p| pod_node(p) == node && test(p));
    let scheduled = wanted.iter().filter(|n| on(n, &|_| true)).count();
    let ready = wanted.iter().filter(|n| on(n, &pod_ready)).count();
    let updated =
        wanted.iter().filter(|n| on(n, &|p| str_at(p, &format!("/metadata/labels/{HASH_LABEL}")) == hash)).count();
    let misscheduled = pods.iter().filter(|p| !wanted.contains(&pod_node(p))).count();
    let unavailable = wanted.len() - ready;
    let status = json!({
        "observedGeneration": int_at(ds, "/metadata/generation").unwrap_or(1),
        "desiredNumberScheduled": wanted.len(),
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        // minReadySeconds pass at once: no time passes in the simulator.
        "numberAvailable": if ready == 0 { Value::Null } else { json!(ready) },
        "numberUnavailable": if unavailable == 0 { Value::Null } else { json!(unavailable) },
        "updatedNumberScheduled": if updated == 0 { Value::Null } else { json!(updated) },
    });
    cx.merge_status("apps", "daemonsets", &key.namespace, &key.name, &status)
        .await
        .map_err(|e| ReconcileError::new(format!("writing the status of daemonset {key}: {e}")))?;
    Ok(())
}
