//! Workloads on virtual nodes: the parts of kube-controller-manager, kube-scheduler and the
//! kubelet that turn a Deployment into Running pods, simplified to what a scenario observes.
//!
//! * [`deployment`]: one ReplicaSet per pod-template hash, old ones scaled to 0 at once
//!   (rollouts are instantaneous), Deployment status and conditions in upstream's wording.
//! * [`replicaset`]: creates and deletes pods through the API server (so admission, e.g.
//!   Gatekeeper, sees every pod), `FailedCreate` events and the `ReplicaFailure` condition.
//! * [`job`]: NonIndexed Jobs whose pods succeed at once, `SuccessCriteriaMet` and `Complete`.
//!   CronJobs are served but never fire (no time passes); `kubectl create job --from=cronjob/x`
//!   makes a Job this controller runs.
//! * [`statefulset`]: pods `<name>-0..N-1` in order (`OrderedReady`) or all at once
//!   (`Parallel`), revisions and status.
//! * [`daemonset`]: one pod per Ready node matching the template's `nodeSelector`, pinned by
//!   node affinity as upstream does.
//! * [`kubelet`]: binds pending pods to the virtual nodes and starts them; volume mounters
//!   ([`VolumeMounter`], the extension point for the CSI driver) may hold a pod in
//!   `ContainerCreating`.
//!
//! Always installed; the profile only sets the virtual nodes ([`NodeSettings`]). This module
//! must not run containers, pull images or model resources and scheduling constraints beyond
//! `nodeSelector` and required node affinity; it must not know any component that plugs into
//! it.

pub mod daemonset;
pub mod deployment;
pub mod job;
pub mod kubelet;
pub mod names;
pub mod replicaset;
pub mod statefulset;

use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::platform::{Platform, PlatformError};
use crate::runtime::{Cx, ReconcileError};

pub use kubelet::{node_name, DEFAULT_NODE_COUNT};

/// The virtual nodes a platform starts with: `count` nodes `sim-node-1`..`sim-node-<count>`, each
/// with the kubelet's default labels (hostname, os, arch, region and zone) and `labels` on top
/// (a label given here wins over a default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    pub count: usize,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings { count: DEFAULT_NODE_COUNT, labels: Default::default() }
    }
}

/// The most virtual nodes a platform can have (each gets a `10.244.<n>.0/24` pod CIDR).
pub const MAX_NODES: usize = 250;

/// Why a volume could not be mounted: the kubelet reports
/// `MountVolume.SetUp failed for volume "<volume>" : <message>` in a Warning `FailedMount`
/// event and keeps the pod in `ContainerCreating`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {message}")]
pub struct MountFailure {
    /// The pod's volume name (`spec.volumes[].name`).
    pub volume: String,
    /// The driver's error, as the kubelet prints it after the volume.
    pub message: String,
}

/// A volume plugin the simulated kubelet calls before starting a pod's containers (the CSI
/// driver hooks in here). `mount` sees the bound pod (`spec.nodeName` set) and answers for the
/// volumes it handles; volumes it does not handle must be ignored. A failure is retried after
/// any other progress in the simulator (a new Secret, SecretProviderClass...), as the kubelet
/// retries mounts.
pub trait VolumeMounter: Send + Sync + 'static {
    /// A short name for decision notes.
    fn name(&self) -> &str;
    /// Mounts the pod's volumes this plugin handles.
    fn mount<'a>(&'a self, cx: &'a Cx, pod: &'a Value) -> BoxFuture<'a, Result<(), MountFailure>>;
}

/// The workloads component: what later components share with it.
#[derive(Default)]
pub struct Workloads {
    mounters: RwLock<Vec<Arc<dyn VolumeMounter>>>,
}

impl Workloads {
    /// Registers a volume plugin; pods not yet running are mounted through it from now on.
    pub fn add_mounter(&self, mounter: Arc<dyn VolumeMounter>) {
        self.mounters.write().unwrap_or_else(|e| e.into_inner()).push(mounter);
    }

    /// The registered volume plugins, in registration order.
    pub fn mounters(&self) -> Vec<Arc<dyn VolumeMounter>> {
        self.mounters.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Installs the virtual nodes and the Deployment, ReplicaSet and pod controllers.
pub fn install(platform: &Platform) -> Result<Arc<Workloads>, PlatformError> {
    let server = platform.server();
    let nodes = &platform.profile().nodes;
    if nodes.count == 0 || nodes.count > MAX_NODES {
        return Err(PlatformError::Install {
            component: "workloads",
            message: format!("{} virtual nodes asked for; the simulator runs 1 to {MAX_NODES}", nodes.count),
        });
    }
    for i in 0..nodes.count {
        server
            .install("", "v1", "nodes", None, &kubelet::node(&node_name(i), i, platform.region(), &nodes.labels))
            .map_err(|e| PlatformError::Install { component: "workloads", message: e.to_string() })?;
    }
    let workloads = Arc::new(Workloads::default());
    let rt = platform.runtime();
    rt.add(Arc::new(deployment::DeploymentController));
    rt.add(Arc::new(replicaset::ReplicaSetController));
    rt.add(Arc::new(job::JobController));
    rt.add(Arc::new(statefulset::StatefulSetController));
    rt.add(Arc::new(daemonset::DaemonSetController));
    rt.add(Arc::new(kubelet::PodController { workloads: workloads.clone() }));
    Ok(workloads)
}

/// A string field of an object.
pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// An integer field of an object.
pub(crate) fn int_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// The controller owner reference of `obj` if it is of `kind`: its name.
pub(crate) fn controller_of<'a>(obj: &'a Value, kind: &str) -> Option<&'a str> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller") == Some(&json!(true)) && r.get("kind").and_then(Value::as_str) == Some(kind))
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str)
}

/// True when `obj` is controlled by the object with `uid`.
pub(crate) fn controlled_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
        refs.iter()
            .any(|r| r.get("controller") == Some(&json!(true)) && r.get("uid").and_then(Value::as_str) == Some(uid))
    })
}

/// The next pod a controller (`owner`, named `key`) makes from `template`: a name
/// `<owner>-<suffix>` not taken by any of `existing` (the suffix derived from the owner's name
/// and `ordinal`, so runs are reproducible), the template's metadata, the owner reference.
pub(crate) fn next_pod(
    owner: &Value,
    key: &crate::runtime::Key,
    template: &Value,
    existing: &[Arc<Value>],
    ordinal: &mut u32,
) -> (String, Value) {
    let name = loop {
        let candidate = format!("{}-{}", key.name, names::pod_suffix(&key.name, *ordinal));
        *ordinal += 1;
        if !existing.iter().any(|p| str_at(p, "/metadata/name") == candidate) {
            break candidate;
        }
    };
    let pod = pod_from(owner, &key.namespace, template, &name);
    (name, pod)
}

/// The pod `name` a controller (`owner`) makes from `template`: the template's metadata and
/// spec, the namespace and the owner reference.
pub(crate) fn pod_from(owner: &Value, namespace: &str, template: &Value, name: &str) -> Value {
    let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(namespace);
    metadata["ownerReferences"] = json!([owner_ref(owner)]);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec")})
}

/// An owner reference to `owner` as controllers write them.
pub(crate) fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"),
        "name": str_at(owner, "/metadata/name"), "uid": str_at(owner, "/metadata/uid"),
        "controller": true, "blockOwnerDeletion": true,
    })
}

/// The collection path of pods in `namespace`.
pub(crate) fn pods_path(cx: &Cx, namespace: &str) -> Result<String, ReconcileError> {
    Ok(cx.path("", "pods", namespace, "")?.trim_end_matches('/').to_string())
}

/// Creates `pod` (named `name`) through the API server for `owner`, with controller_utils.go
/// CreatePods' events: Normal `SuccessfulCreate` `Created pod: <name>`, or Warning
/// `FailedCreate` `Error creating: <message>` (then the message is returned).
pub(crate) async fn create_pod(
    cx: &Cx,
    owner: &Value,
    pods_path: &str,
    name: &str,
    pod: &Value,
    component: &str,
) -> Result<(), String> {
    match send(cx, http::Method::POST, pods_path, Some(pod)).await {
        Ok(_) => {
            cx.event(owner, "Normal", "SuccessfulCreate", &format!("Created pod: {name}"), component);
            Ok(())
        }
        Err(e) => {
            let message = api_message(&e);
            cx.event(owner, "Warning", "FailedCreate", &format!("Error creating: {message}"), component);
            cx.note(format!("creating pod {name} failed: {message}"));
            Err(message)
        }
    }
}

/// True when `obj`'s labels include every pair of `selector` (a `nodeSelector` map).
pub(crate) fn labels_match(obj: &Value, selector: Option<&serde_json::Map<String, Value>>) -> bool {
    selector
        .is_none_or(|sel| sel.iter().all(|(k, v)| obj.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v)))
}

/// Sends a request through the in-process client (the API server's whole pipeline).
pub(crate) async fn send(
    cx: &Cx,
    method: http::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, kube::Error> {
    let bytes = match body {
        Some(b) => serde_json::to_vec(b).map_err(kube::Error::SerdeError)?,
        None => Vec::new(),
    };
    let content_type = if method == http::Method::PATCH { "application/merge-patch+json" } else { "application/json" };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(bytes)
        .map_err(kube::Error::HttpError)?;
    cx.client.request::<Value>(req).await
}

/// The API server's message of a failed request (what controllers print with `%v`).
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// A request failure inside a reconcile.
pub(crate) fn failed(what: &str, e: &kube::Error) -> ReconcileError {
    ReconcileError::new(format!("{what}: {}", api_message(e)))
}

#[cfg(test)]
mod tests;
