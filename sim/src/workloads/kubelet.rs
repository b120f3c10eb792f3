//! The virtual nodes, and the scheduler and kubelet work on pods: bind a pending pod to a
//! Ready node (honouring `nodeSelector` and required node affinity), run the registered [`VolumeMounter`]s, then
//! report the pod `Running` with its containers started and ready.
//!
//! Binding writes `spec.nodeName` straight to the store, as the `pods/binding` subresource
//! does (no admission sees it); statuses go through `pods/status`. A running pod's status is
//! never rewritten, so the fixed point is reached. This module must not run anything, probe
//! containers or model resources, taints, preferred affinity, pod affinity or restarts.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{names, str_at, Workloads};
use crate::apiserver::objects::now;
use crate::apiserver::resources::GroupResource;
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

/// How many virtual nodes a platform has unless its profile says otherwise.
pub const DEFAULT_NODE_COUNT: usize = 2;

/// The name of the `index`-th virtual node (from 0): `sim-node-<index + 1>`.
pub fn node_name(index: usize) -> String {
    format!("sim-node-{}", index + 1)
}

/// The index of a virtual node from its name (0 for a name the simulator did not make).
fn node_index(name: &str) -> usize {
    name.strip_prefix("sim-node-").and_then(|n| n.parse::<usize>().ok()).and_then(|n| n.checked_sub(1)).unwrap_or(0)
}
/// The kubelet version the nodes report.
pub const KUBELET_VERSION: &str = "v1.37.0";

/// A Ready node object with the default labels and `extra` ones (which win).
pub fn node(name: &str, index: usize, region: &str, extra: &std::collections::BTreeMap<String, String>) -> Value {
    let t = now();
    let cond = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": t,
               "reason": reason, "message": message})
    };
    let resources = json!({"cpu": "4", "memory": "16374048Ki", "pods": "110", "ephemeral-storage": "102626232Ki"});
    let mut node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            // As on EKS nodes: the AWS provider of the CSI driver reads the region from here.
            "topology.kubernetes.io/region": region,
            "topology.kubernetes.io/zone": format!("{region}{}", ["a", "b", "c"][index % 3]),
        }},
        "spec": {"podCIDR": format!("10.244.{}.0/24", index + 1), "podCIDRs": [format!("10.244.{}.0/24", index + 1)]},
        "status": {
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": host_ip(index)}, {"type": "Hostname", "address": name}],
            "capacity": resources, "allocatable": resources,
            "nodeInfo": {
                "kubeletVersion": KUBELET_VERSION, "containerRuntimeVersion": "containerd://2.1.0",
                "operatingSystem": "linux", "architecture": "amd64", "osImage": "Simulated node",
                "kernelVersion": "6.8.0", "machineID": "", "systemUUID": "", "bootID": "",
                "kubeProxyVersion": "",
            },
        },
    });
    for (k, v) in extra {
        node["metadata"]["labels"][k] = json!(v);
    }
    node
}

fn host_ip(index: usize) -> String {
    format!("172.18.0.{}", index + 2)
}

/// True when `node` satisfies the pod's required node affinity (any term; in a term every
/// `matchExpressions` entry on labels and every `matchFields` entry on `metadata.name`, with
/// the operators `In`, `NotIn`, `Exists` and `DoesNotExist`). The DaemonSet controller pins
/// its pods to their node this way. `Gt`/`Lt` and preferred terms are not simulated (`Gt` and
/// `Lt` never match).
pub fn affinity_fits(pod: &Value, node: &Value) -> bool {
    let Some(terms) = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
    else {
        return true;
    };
    let requirement = |r: &Value, actual: Option<&str>| {
        let values: Vec<&str> = r
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match str_at(r, "/operator") {
            "In" => actual.is_some_and(|a| values.contains(&a)),
            "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            _ => false,
        }
    };
    let list = |t: &Value, k: &str| t.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    terms.iter().any(|t| {
        list(t, "matchExpressions").iter().all(|r| {
            requirement(
                r,
                node.pointer("/metadata/labels").and_then(|l| l.get(str_at(r, "/key"))).and_then(Value::as_str),
            )
        }) && list(t, "matchFields").iter().all(|r| {
            let actual = (str_at(r, "/key") == "metadata.name").then(|| str_at(node, "/metadata/name"));
            requirement(r, actual)
        })
    })
}

/// `status.qosClass` from the containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let res = |c: &Value, kind: &str, r: &str| c.pointer(&format!("/resources/{kind}/{r}")).cloned();
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| c.pointer(&format!("/resources/{k}")).and_then(Value::as_object).is_some_and(|m| !m.is_empty()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = res(c, "limits", r);
            limit.is_some() && res(c, "requests", r).is_none_or(|req| Some(req) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| str_at(c, "/name").to_string()).collect())
        .unwrap_or_default()
}

fn pod_condition(type_: &str, status: &str, reason: Option<&str>, message: Option<&str>, t: &str) -> Value {
    let mut c = json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": t});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Scheduler and kubelet for every pod.
pub struct PodController {
    pub workloads: Arc<Workloads>,
}

const PODS: &str = "pods";

impl Controller for PodController {
    fn name(&self) -> &str {
        "kubelet"
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new("", PODS)
    }

    fn watches(&self) -> Vec<Watch> {
        // A new or changed node may make an unschedulable pod schedulable.
        vec![Watch::all("", "nodes")]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.run(cx, key))
    }
}

impl PodController {
    async fn run(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let Some(pod) = cx.get("", PODS, &key.namespace, &key.name) else { return Ok(Outcome::Done) };
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Outcome::Done);
        }
        let phase = str_at(&pod, "/status/phase");
        if matches!(phase, "Running" | "Succeeded" | "Failed") {
            return Ok(Outcome::Done);
        }
        let node_name = str_at(&pod, "/spec/nodeName").to_string();
        let pod = if node_name.is_empty() {
            match self.schedule(cx, key, &pod).await? {
                Some(bound) => bound,
                None => return Ok(Outcome::Done),
            }
        } else {
            pod
        };
        let node_name = str_at(&pod, "/spec/nodeName").to_string();
        let node_index = node_index(&node_name);
        for m in self.workloads.mounters() {
            if let Err(failure) = m.mount(cx, &pod).await {
                cx.note(format!("volume plugin {} failed: {failure}", m.name()));
                self.write_status(cx, key, &pod, node_index, false).await?;
                cx.event(&pod, "Warning", "FailedMount", &failure.to_string(), "kubelet");
                return Ok(Outcome::Retry);
            }
        }
        if super::controller_of(&pod, "Job").is_some() && str_at(&pod, "/spec/restartPolicy") != "Always" {
            self.write_completed(cx, key, &pod, node_index).await?;
        } else {
            self.write_status(cx, key, &pod, node_index, true).await?;
        }
        Ok(Outcome::Done)
    }

    /// Binds the pod to the first fitting node in a rotation by pod name; `None` when no node
    /// fits (the pod stays Pending with `PodScheduled=False`).
    async fn schedule(&self, cx: &Cx, key: &Key, pod: &Value) -> Result<Option<Arc<Value>>, ReconcileError> {
        let nodes = cx.list("", "nodes", None);
        let selector = pod.pointer("/spec/nodeSelector").and_then(Value::as_object);
        let fits = |n: &Value| {
            crate::conditions::status_of(n, "Ready") == Some("True")
                && super::labels_match(n, selector)
                && affinity_fits(pod, n)
        };
        let candidates: Vec<&Arc<Value>> = nodes.iter().filter(|n| fits(n)).collect();
        if candidates.is_empty() {
            let total = nodes.len();
            // The scheduler's FitError wording (pkg/scheduler/framework/types.go, nodeaffinity
            // plugin's ErrReasonPod) for the one predicate simulated.
            let message = format!(
                "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. \
                 preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
            );
            let current = pod.pointer("/status/conditions").and_then(Value::as_array).and_then(|cs| {
                cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")).cloned()
            });
            if current.as_ref().and_then(|c| c.get("message")).and_then(Value::as_str) != Some(message.as_str()) {
                let status = json!({"phase": "Pending", "conditions": [pod_condition(
                    "PodScheduled", "False", Some("Unschedulable"), Some(&message), &now())]});
                cx.merge_status("", PODS, &key.namespace, &key.name, &status).await?;
                cx.event(pod, "Warning", "FailedScheduling", &message, "default-scheduler");
            }
            cx.note("no node fits the pod's nodeSelector");
            return Ok(None);
        }
        let pick = names::fnv32a(key.name.as_bytes()) as usize % candidates.len();
        let node = str_at(candidates[pick], "/metadata/name").to_string();
        let gr = GroupResource::new("", PODS);
        let (bound, _) = cx
            .server
            .store()
            .update_with(&gr, &key.namespace, &key.name, |cur| {
                let mut next = cur.as_ref().clone();
                next["spec"]["nodeName"] = json!(node);
                Ok(Some(next))
            })
            .map_err(ReconcileError::new)?;
        // schedule_one.go: "Successfully assigned %v/%v to %v".
        cx.event(
            &bound,
            "Normal",
            "Scheduled",
            &format!("Successfully assigned {}/{} to {node}", key.namespace, key.name),
            "default-scheduler",
        );
        Ok(cx.get("", PODS, &key.namespace, &key.name))
    }

    /// Writes the status of a Job's pod whose containers ran and exited 0: `Succeeded`.
    async fn write_completed(&self, cx: &Cx, key: &Key, pod: &Value, node_index: usize) -> Result<(), ReconcileError> {
        let t = now();
        let start_time = str_at(pod, "/status/startTime");
        let start_time = if start_time.is_empty() { t.clone() } else { start_time.to_string() };
        let uid = str_at(pod, "/metadata/uid");
        let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let (name, image) = (str_at(c, "/name"), str_at(c, "/image"));
                let id = format!("containerd://{}", names::hex64(&format!("{uid}/{name}")));
                json!({
                    "name": name, "image": image, "imageID": names::image_id(image), "containerID": id,
                    "ready": false, "started": false, "restartCount": 0, "lastState": {},
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t,
                                             "finishedAt": t, "containerID": id}},
                })
            })
            .collect();
        let ip = names::pod_ip(node_index, uid);
        let host = host_ip(node_index);
        let done = Some("PodCompleted");
        let status = json!({
            "phase": "Succeeded",
            "conditions": [
                pod_condition("PodReadyToStartContainers", "False", None, None, &t),
                pod_condition("Initialized", "True", done, None, &t),
                pod_condition("Ready", "False", done, None, &t),
                pod_condition("ContainersReady", "False", done, None, &t),
                pod_condition("PodScheduled", "True", None, None, &t),
            ],
            "hostIP": host, "hostIPs": [{"ip": host}], "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": start_time,
            "containerStatuses": statuses,
            "qosClass": qos_class(pod.get("spec").unwrap_or(&Value::Null)),
        });
        cx.merge_status("", PODS, &key.namespace, &key.name, &status).await?;
        Ok(())
    }

    /// Writes the status of a bound pod: `Running` with every container started and ready, or
    /// (`started == false`) `Pending` with containers waiting in `ContainerCreating`.
    async fn write_status(
        &self,
        cx: &Cx,
        key: &Key,
        pod: &Value,
        node_index: usize,
        started: bool,
    ) -> Result<(), ReconcileError> {
        let t = now();
        let existing = pod.get("status").cloned().unwrap_or(json!({}));
        if !started && str_at(&existing, "/containerStatuses/0/state/waiting/reason") == "ContainerCreating" {
            return Ok(());
        }
        let start_time = existing.get("startTime").and_then(Value::as_str).map(str::to_string).unwrap_or(t.clone());
        let uid = str_at(pod, "/metadata/uid");
        let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| {
                let name = str_at(c, "/name");
                let image = str_at(c, "/image");
                let mut s = json!({
                    "name": name, "image": image, "imageID": "", "ready": started, "started": started,
                    "restartCount": 0, "lastState": {},
                });
                if started {
                    s["state"] = json!({"running": {"startedAt": t}});
                    s["imageID"] = json!(names::image_id(image));
                    s["containerID"] = json!(format!("containerd://{}", names::hex64(&format!("{uid}/{name}"))));
                } else {
                    s["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
                }
                s
            })
            .collect();
        let unready = format!("containers with unready status: [{}]", container_names(pod).join(" "));
        let (ready, reason, message) =
            if started { ("True", None, None) } else { ("False", Some("ContainersNotReady"), Some(unready.as_str())) };
        let ip = names::pod_ip(node_index, uid);
        let host = host_ip(node_index);
        let mut status = json!({
            "phase": if started { "Running" } else { "Pending" },
            "conditions": [
                pod_condition("PodReadyToStartContainers", if started { "True" } else { "False" }, None, None, &t),
                pod_condition("Initialized", "True", None, None, &t),
                pod_condition("Ready", ready, reason, message, &t),
                pod_condition("ContainersReady", ready, reason, message, &t),
                pod_condition("PodScheduled", "True", None, None, &t),
            ],
            "hostIP": host, "hostIPs": [{"ip": host}],
            "startTime": start_time,
            "containerStatuses": statuses,
            "qosClass": qos_class(pod.get("spec").unwrap_or(&Value::Null)),
        });
        if started {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        cx.merge_status("", PODS, &key.namespace, &key.name, &status).await?;
        Ok(())
    }
}
