//! Workloads on the simulated platform, through kube-rs and the real kubectl: a Deployment
//! gets a ReplicaSet and Running pods and reports upstream's conditions; scaling, image changes
//! and deletion; a pod denied by Gatekeeper leaves the ReplicaSet with `FailedCreate` and
//! `ReplicaFailure` (platform-facts §2); a volume plugin holds a pod in `ContainerCreating`;
//! a nodeSelector no node matches leaves the pod Pending.

mod common;

use std::sync::Arc;

use common::TestServer;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::Value;
use sim::platform::Profile;
use sim::runtime::Cx;
use sim::workloads::{MountFailure, VolumeMounter};

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

fn platform() -> TestServer {
    TestServer::platform(Profile::bare())
}

fn client(t: &TestServer) -> Client {
    let config = kube::Config::new(t.url.parse().expect("uri"));
    // The client spawns its buffer task on the test server's runtime.
    t.block_on(async { Client::try_from(config).expect("client") })
}

fn deploy(name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: \"{image}\"}}]
"
    )
}

/// The pods of the Deployment `app`, as kubectl lists them.
fn pods(t: &TestServer, app: &str) -> Vec<Value> {
    let list = json(&t.ok(&["get", "pods", "-l", &format!("app={app}"), "-o", "json"], None));
    list["items"].as_array().cloned().unwrap_or_default()
}

fn replicasets(t: &TestServer, app: &str) -> Vec<Value> {
    let list = json(&t.ok(&["get", "rs", "-l", &format!("app={app}"), "-o", "json"], None));
    list["items"].as_array().cloned().unwrap_or_default()
}

fn condition<'a>(obj: &'a Value, type_: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {}", obj["status"]))
}

#[test]
fn a_deployment_gets_a_replicaset_and_running_pods_and_reports_available() {
    let t = platform();
    t.ok(&["apply", "-f", "-"], Some(&deploy("web", 3, "nginx:1.27")));
    t.settle();
    let c = client(&t);
    let (d, rss, ps) = t.block_on(async {
        let d = Api::<Deployment>::namespaced(c.clone(), "default").get("web").await.expect("deployment");
        let rss = Api::<ReplicaSet>::namespaced(c.clone(), "default").list(&ListParams::default()).await.expect("rs");
        let ps = Api::<Pod>::namespaced(c.clone(), "default").list(&ListParams::default()).await.expect("pods");
        (d, rss.items, ps.items)
    });
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let rs_name = rs.metadata.name.clone().unwrap_or_default();
    let hash = rs.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")).cloned().unwrap_or_default();
    assert_eq!(rs_name, format!("web-{hash}"));
    assert_eq!(
        rs.metadata.annotations.as_ref().and_then(|a| a.get("deployment.kubernetes.io/revision")).map(String::as_str),
        Some("1")
    );
    let owner = &rs.metadata.owner_references.as_ref().expect("owner references")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Deployment", "web", Some(true)));
    assert_eq!(ps.len(), 3);
    for p in &ps {
        let name = p.metadata.name.clone().unwrap_or_default();
        let suffix = name.strip_prefix(&format!("{rs_name}-")).expect("pod named after its ReplicaSet");
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(p.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str), Some("web"));
        assert_eq!(p.metadata.owner_references.as_ref().map(|o| o[0].name.clone()), Some(rs_name.clone()));
        let spec = p.spec.as_ref().expect("spec");
        assert!(spec.node_name.as_deref().is_some_and(|n| n.starts_with("sim-node-")), "{:?}", spec.node_name);
        let s = p.status.as_ref().expect("status");
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert!(s.pod_ip.as_deref().is_some_and(|ip| ip.starts_with("10.244.")));
        assert!(s.host_ip.is_some() && s.start_time.is_some());
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
        let conds: Vec<(String, String)> =
            s.conditions.iter().flatten().map(|c| (c.type_.clone(), c.status.clone())).collect();
        for ty in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert!(conds.contains(&(ty.to_string(), "True".to_string())), "{ty} in {conds:?}");
        }
        let cs = &s.container_statuses.as_ref().expect("container statuses")[0];
        assert_eq!(
            (cs.name.as_str(), cs.image.as_str(), cs.ready, cs.started, cs.restart_count),
            ("app", "nginx:1.27", true, Some(true), 0)
        );
        assert!(cs.state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.as_ref()).is_some());
        assert!(cs.container_id.as_deref().is_some_and(|id| id.starts_with("containerd://")));
        assert!(cs.image_id.starts_with("docker.io/library/nginx@sha256:"), "{}", cs.image_id);
    }
    let st = d.status.expect("deployment status");
    assert_eq!(
        (
            st.observed_generation,
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas,
            st.unavailable_replicas
        ),
        (Some(1), Some(3), Some(3), Some(3), Some(3), None)
    );
    let dv = serde_json::to_value(&st).expect("status as JSON");
    let get = |ty: &str| {
        let c = condition(&serde_json::json!({"status": dv}), ty).clone();
        (c["status"].clone(), c["reason"].clone(), c["message"].clone())
    };
    // pkg/controller/deployment/sync.go calculateStatus and util/deployment_util.go
    // (MinimumReplicasAvailable); progress.go syncRolloutStatus (NewRSAvailableReason).
    assert_eq!(
        get("Available"),
        ("True".into(), "MinimumReplicasAvailable".into(), "Deployment has minimum availability.".into())
    );
    assert_eq!(
        get("Progressing"),
        (
            "True".into(),
            "NewReplicaSetAvailable".into(),
            Value::String(format!("ReplicaSet \"{rs_name}\" has successfully progressed."))
        )
    );
    let rs_status = rs.status.as_ref().expect("rs status");
    assert_eq!(
        (
            rs_status.replicas,
            rs_status.ready_replicas,
            rs_status.available_replicas,
            rs_status.fully_labeled_replicas,
            rs_status.observed_generation
        ),
        (3, Some(3), Some(3), Some(3), Some(1))
    );
    let table = t.ok(&["get", "deploy", "web"], None);
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..4], &["web", "3/3", "3", "3"], "{table}");
    // Settled means settled: another pass changes nothing.
    let rv = t.api.store().current_rv();
    t.settle();
    assert_eq!(t.api.store().current_rv(), rv);
}

#[test]
fn scaling_image_changes_and_deletion() {
    let t = platform();
    t.ok(&["apply", "-f", "-"], Some(&deploy("web", 2, "nginx:1.27")));
    t.settle();
    assert_eq!(pods(&t, "web").len(), 2);
    assert_eq!(t.ok(&["scale", "deploy", "web", "--replicas=4"], None).trim(), "deployment.apps/web scaled");
    t.settle();
    assert_eq!(pods(&t, "web").len(), 4);
    t.ok(&["scale", "deploy", "web", "--replicas=1"], None);
    t.settle();
    assert_eq!(pods(&t, "web").len(), 1);
    let d = json(&t.ok(&["get", "deploy", "web", "-o", "json"], None));
    assert_eq!(d["status"]["availableReplicas"], 1);
    let first = replicasets(&t, "web");
    assert_eq!(first.len(), 1);
    let old_name = first[0]["metadata"]["name"].as_str().unwrap_or_default().to_string();

    t.ok(&["set", "image", "deploy/web", "app=nginx:1.28"], None);
    t.settle();
    let rss = replicasets(&t, "web");
    assert_eq!(rss.len(), 2);
    let old = rss.iter().find(|r| r["metadata"]["name"] == old_name.as_str()).expect("old rs kept");
    let new = rss.iter().find(|r| r["metadata"]["name"] != old_name.as_str()).expect("new rs");
    assert_eq!(old["spec"]["replicas"], 0);
    assert_eq!(new["spec"]["replicas"], 1);
    assert_eq!(new["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let ps = pods(&t, "web");
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(ps[0]["status"]["phase"], "Running");
    let d = json(&t.ok(&["get", "deploy", "web", "-o", "json"], None));
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    assert_eq!(condition(&d, "Progressing")["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        condition(&d, "Progressing")["message"],
        format!("ReplicaSet {:?} has successfully progressed.", new["metadata"]["name"].as_str().unwrap_or_default())
    );
    let events = t.ok(&["get", "events", "--field-selector", "involvedObject.kind=Deployment", "-o", "json"], None);
    let messages: Vec<String> = json(&events)["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    // sync.go scaleReplicaSet: "Scaled %s replica set %s from %d to %d".
    assert!(messages.contains(&format!("Scaled down replica set {old_name} from 1 to 0")), "{messages:?}");

    t.ok(&["delete", "deploy", "web"], None);
    t.settle();
    assert!(replicasets(&t, "web").is_empty(), "ReplicaSets garbage-collected");
    assert!(pods(&t, "web").is_empty(), "pods garbage-collected");
}

const TEMPLATE: &str = common::ALLOWED_REPOS_TEMPLATE;

const CONSTRAINT: &str = r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata:
  name: only-ecr
spec:
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Pod"]
  parameters:
    repos: ["123456789012.dkr.ecr.us-east-1.amazonaws.com/"]
"#;

#[test]
fn pods_denied_by_gatekeeper_leave_the_replicaset_failing_to_create() {
    let t = TestServer::platform(Profile { gatekeeper: Some("3.20".into()), ..Profile::bare() });
    t.ok(&["apply", "-f", "-"], Some(TEMPLATE));
    t.settle();
    t.ok(&["apply", "-f", "-"], Some(CONSTRAINT));
    t.settle();
    // The constraint matches Pods only: the Deployment is admitted.
    t.ok(&["apply", "-f", "-"], Some(&deploy("web", 2, "nginx:1.27")));
    t.settle();
    assert!(pods(&t, "web").is_empty());
    let rss = replicasets(&t, "web");
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let denial = "admission webhook \"validation.gatekeeper.sh\" denied the request: [only-ecr] container <app> has an \
                  invalid image repo <nginx:1.27>, allowed repos are [\"123456789012.dkr.ecr.us-east-1.amazonaws.com/\"]";
    // pkg/controller/replicaset/replica_set_utils.go calculateStatus: ReplicaFailure True,
    // reason FailedCreate, message = the creation error.
    let failure = condition(rs, "ReplicaFailure");
    assert_eq!((failure["status"].as_str(), failure["reason"].as_str()), (Some("True"), Some("FailedCreate")));
    assert_eq!(failure["message"], denial);
    assert_eq!(rs["status"]["replicas"], 0);
    // pkg/controller/controller_utils.go CreatePods: Warning FailedCreate "Error creating: %v".
    let c = client(&t);
    let events = t.block_on(async {
        Api::<Event>::namespaced(c, "default").list(&ListParams::default()).await.expect("events").items
    });
    let failed: Vec<&Event> = events.iter().filter(|e| e.reason.as_deref() == Some("FailedCreate")).collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0].type_.as_deref(), Some("Warning"));
    assert_eq!(failed[0].involved_object.kind.as_deref(), Some("ReplicaSet"));
    assert_eq!(failed[0].message.as_deref(), Some(format!("Error creating: {denial}").as_str()));
    let d = json(&t.ok(&["get", "deploy", "web", "-o", "json"], None));
    assert!(d["status"].get("availableReplicas").is_none(), "{}", d["status"]);
    assert_eq!(d["status"]["unavailableReplicas"], 2);
    let available = condition(&d, "Available");
    assert_eq!(available["status"], "False");
    assert_eq!(available["reason"], "MinimumReplicasUnavailable");
    assert_eq!(available["message"], "Deployment does not have minimum availability.");
    // progress.go: the ReplicaSet's failure is copied to the Deployment.
    assert_eq!(condition(&d, "ReplicaFailure")["message"], denial);
    let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default();
    assert_eq!(condition(&d, "Progressing")["reason"], "NewReplicaSetCreated");
    assert_eq!(condition(&d, "Progressing")["message"], format!("Created new replica set \"{rs_name}\""));
    let table = t.ok(&["get", "deploy", "web"], None);
    assert!(table.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(1) == Some("0/2")), "{table}");

    // Allowing the image lets the retried creation succeed and clears the failure. (The
    // constraint is changed, not deleted: the simulated Gatekeeper does not yet notice a
    // constraint's deletion, see the report of the workloads branch.)
    t.ok(&["apply", "-f", "-"], Some(&CONSTRAINT.replace("123456789012.dkr.ecr.us-east-1.amazonaws.com/", "nginx:")));
    t.settle();
    assert_eq!(pods(&t, "web").len(), 2);
    let rs = &replicasets(&t, "web")[0];
    assert!(rs["status"].get("conditions").is_none(), "{}", rs["status"]);
    let d = json(&t.ok(&["get", "deploy", "web", "-o", "json"], None));
    assert_eq!(condition(&d, "Available")["status"], "True");
}

/// A volume plugin that fails every volume named `secrets`.
struct FailingMounter;

impl VolumeMounter for FailingMounter {
    fn name(&self) -> &str {
        "failing"
    }
    fn mount<'a>(&'a self, _cx: &'a Cx, pod: &'a Value) -> BoxFuture<'a, Result<(), MountFailure>> {
        let has = pod["spec"]["volumes"].as_array().is_some_and(|vs| vs.iter().any(|v| v["name"] == "secrets"));
        Box::pin(async move {
            if has {
                Err(MountFailure { volume: "secrets".into(), message: "rpc error: code = Unknown desc = boom".into() })
            } else {
                Ok(())
            }
        })
    }
}

#[test]
fn a_volume_plugin_keeps_a_pod_in_container_creating() {
    let t = platform();
    t.platform.as_ref().expect("platform").workloads().add_mounter(Arc::new(FailingMounter));
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default, labels: {app: vol}}
spec:
  containers: [{name: app, image: nginx}]
  volumes: [{name: secrets, emptyDir: {}}]
";
    t.ok(&["apply", "-f", "-"], Some(manifest));
    t.ok(&["apply", "-f", "-"], Some(&deploy("plain", 1, "nginx")));
    t.settle();
    let pod = json(&t.ok(&["get", "pod", "app", "-o", "json"], None));
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
    assert_eq!(condition(&pod, "Ready")["status"], "False");
    assert_eq!(condition(&pod, "PodScheduled")["status"], "True");
    let table = t.ok(&["get", "pod", "app"], None);
    assert!(table.contains("ContainerCreating"), "{table}");
    let events = json(&t.ok(&["get", "events", "--field-selector", "reason=FailedMount", "-o", "json"], None));
    let e = &events["items"][0];
    assert_eq!(e["type"], "Warning");
    assert_eq!(e["involvedObject"]["name"], "app");
    // kubelet operation_generator.go: "MountVolume.SetUp failed for volume %q : %v".
    assert_eq!(e["message"], "MountVolume.SetUp failed for volume \"secrets\" : rpc error: code = Unknown desc = boom");
    // Pods without the volume are untouched by the plugin.
    assert_eq!(pods(&t, "plain")[0]["status"]["phase"], "Running");
}

#[test]
fn a_node_selector_no_node_matches_leaves_the_pod_pending() {
    let t = platform();
    let manifest = "apiVersion: v1
kind: Pod
metadata: {name: picky, namespace: default}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: app, image: nginx}]
";
    t.ok(&["apply", "-f", "-"], Some(manifest));
    t.settle();
    let pod = json(&t.ok(&["get", "pod", "picky", "-o", "json"], None));
    assert_eq!(pod["status"]["phase"], "Pending");
    assert!(pod["spec"].get("nodeName").is_none());
    let c = condition(&pod, "PodScheduled");
    assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("False"), Some("Unschedulable")));
    // The scheduler's FitError with the NodeAffinity plugin's reason, as kube-scheduler 1.3x prints it.
    assert_eq!(
        c["message"],
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are \
         available: 2 Preemption is not helpful for scheduling."
    );
    t.ok(&["label", "node", "sim-node-2", "disktype=ssd"], None);
    t.settle();
    let pod = json(&t.ok(&["get", "pod", "picky", "-o", "json"], None));
    assert_eq!(pod["spec"]["nodeName"], "sim-node-2");
    assert_eq!(pod["status"]["phase"], "Running");
    let nodes = t.ok(&["get", "nodes"], None);
    assert!(nodes.contains("sim-node-1") && nodes.contains("Ready"), "{nodes}");
}

#[test]
fn a_job_runs_one_pod_to_completion() {
    let t = platform();
    let manifest = "apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: busybox, command: [\"true\"]}]
";
    t.ok(&["apply", "-f", "-"], Some(manifest));
    t.settle();
    let list = json(&t.ok(&["get", "pods", "-l", "job-name=migrate", "-o", "json"], None));
    let pods = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["status"]["phase"], "Succeeded");
    assert_eq!(pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    let job = json(&t.ok(&["get", "job", "migrate", "-o", "json"], None));
    assert_eq!(job["status"]["succeeded"], 1);
    assert!(job["status"].get("active").is_none(), "{}", job["status"]);
    assert!(job["status"]["completionTime"].is_string());
    // pkg/controller/job/job_controller.go: SuccessCriteriaMet, then Complete, both
    // CompletionsReached "Reached expected number of succeeded pods" (Kubernetes 1.31+).
    let types: Vec<&str> =
        job["status"]["conditions"].as_array().into_iter().flatten().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    for ty in types {
        let c = condition(&job, ty);
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str(), c["message"].as_str()),
            (Some("True"), Some("CompletionsReached"), Some("Reached expected number of succeeded pods"))
        );
    }
    let table = t.ok(&["get", "job", "migrate"], None);
    assert!(table.contains("Complete") && table.contains("1/1"), "{table}");
}

/// The `(reason, message)` of every event about the `kind` object `name`, oldest first.
fn events_of(t: &TestServer, kind: &str, name: &str) -> Vec<(String, String)> {
    let list = json(&t.ok(&["get", "events", "-o", "json"], None));
    let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    items.retain(|e| e["involvedObject"]["kind"] == kind && e["involvedObject"]["name"] == name);
    items.sort_by_key(|e| e["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse::<u64>().ok()));
    items
        .iter()
        .map(|e| (e["reason"].as_str().unwrap_or_default().into(), e["message"].as_str().unwrap_or_default().into()))
        .collect()
}

fn statefulset(name: &str, replicas: u32, policy: &str, volume: bool) -> String {
    let volumes = if volume { "\n      volumes: [{name: secrets, emptyDir: {}}]" } else { "" };
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}, namespace: default}}
spec:
  serviceName: {name}-headless
  replicas: {replicas}
  podManagementPolicy: {policy}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: \"nginx:1.27\"}}]{volumes}
"
    )
}

fn daemonset(name: &str, node_selector: Option<&str>) -> String {
    let selector = node_selector.map(|s| format!("\n      nodeSelector: {{{s}}}")).unwrap_or_default();
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: agent, image: \"fluent/fluent-bit:3\"}}]{selector}
"
    )
}

fn names_of(pods: &[Value]) -> Vec<String> {
    let mut names: Vec<String> =
        pods.iter().map(|p| p["metadata"]["name"].as_str().unwrap_or_default().into()).collect();
    names.sort();
    names
}

#[test]
fn a_statefulset_creates_its_ordinals_in_order_and_scales_down_from_the_top() {
    let t = platform();
    t.ok(&["apply", "-f", "-"], Some(&statefulset("db", 3, "OrderedReady", false)));
    t.settle();
    let ps = pods(&t, "db");
    assert_eq!(names_of(&ps), ["db-0", "db-1", "db-2"]);
    let set = json(&t.ok(&["get", "sts", "db", "-o", "json"], None));
    let st = &set["status"];
    let rev = st["updateRevision"].as_str().unwrap_or_default().to_string();
    assert!(rev.starts_with("db-") && rev.len() > 3, "{st}");
    assert_eq!(st["currentRevision"], rev.as_str());
    for (field, want) in [
        ("replicas", 3),
        ("readyReplicas", 3),
        ("currentReplicas", 3),
        ("updatedReplicas", 3),
        ("availableReplicas", 3),
        ("observedGeneration", 1),
    ] {
        assert_eq!(st[field], want, "{field} in {st}");
    }
    for p in &ps {
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        let labels = &p["metadata"]["labels"];
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], name);
        assert_eq!(labels["controller-revision-hash"], rev.as_str());
        assert_eq!(labels["apps.kubernetes.io/pod-index"], name.trim_start_matches("db-"));
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!((owner["kind"].as_str(), owner["name"].as_str()), (Some("StatefulSet"), Some("db")));
        assert_eq!(owner["uid"], set["metadata"]["uid"]);
        assert_eq!(
            (p["spec"]["hostname"].as_str(), p["spec"]["subdomain"].as_str()),
            (Some(name), Some("db-headless"))
        );
        assert_eq!(p["status"]["phase"], "Running");
    }
    // stateful_pod_control.go recordPodEvent: "create Pod %s in StatefulSet %s successful", in
    // ordinal order (OrderedReady).
    let created: Vec<(String, String)> =
        events_of(&t, "StatefulSet", "db").into_iter().filter(|(r, _)| r == "SuccessfulCreate").collect();
    let want: Vec<(String, String)> = (0..3)
        .map(|i| ("SuccessfulCreate".to_string(), format!("create Pod db-{i} in StatefulSet db successful")))
        .collect();
    assert_eq!(created, want);
    let table = t.ok(&["get", "sts", "db"], None);
    assert!(table.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(1) == Some("3/3")), "{table}");

    t.ok(&["scale", "sts", "db", "--replicas=1"], None);
    t.settle();
    assert_eq!(names_of(&pods(&t, "db")), ["db-0"]);
    let deleted: Vec<String> = events_of(&t, "StatefulSet", "db")
        .into_iter()
        .filter(|(r, _)| r == "SuccessfulDelete")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        deleted,
        ["delete Pod db-2 in StatefulSet db successful", "delete Pod db-1 in StatefulSet db successful"]
    );
    let st = json(&t.ok(&["get", "sts", "db", "-o", "json"], None))["status"].clone();
    assert_eq!(
        (st["replicas"].as_i64(), st["readyReplicas"].as_i64(), st["observedGeneration"].as_i64()),
        (Some(1), Some(1), Some(2))
    );

    // A new template is a new revision: the pod is recreated from it and it becomes current.
    t.ok(&["set", "image", "sts/db", "app=nginx:1.28"], None);
    t.settle();
    let st = json(&t.ok(&["get", "sts", "db", "-o", "json"], None))["status"].clone();
    let new_rev = st["updateRevision"].as_str().unwrap_or_default();
    assert_ne!(new_rev, rev);
    assert_eq!(st["currentRevision"], new_rev);
    let ps = pods(&t, "db");
    assert_eq!(names_of(&ps), ["db-0"]);
    assert_eq!(ps[0]["metadata"]["labels"]["controller-revision-hash"], new_rev);
    assert_eq!(ps[0]["spec"]["containers"][0]["image"], "nginx:1.28");
}

#[test]
fn ordered_ready_waits_for_each_pod_and_parallel_does_not() {
    let t = platform();
    // The mounter keeps every pod with a `secrets` volume in ContainerCreating (never Ready).
    t.platform.as_ref().expect("platform").workloads().add_mounter(Arc::new(FailingMounter));
    t.ok(&["apply", "-f", "-"], Some(&statefulset("ordered", 3, "OrderedReady", true)));
    t.ok(&["apply", "-f", "-"], Some(&statefulset("parallel", 3, "Parallel", true)));
    t.settle();
    let ordered = pods(&t, "ordered");
    assert_eq!(names_of(&ordered), ["ordered-0"]);
    assert_eq!(ordered[0]["status"]["phase"], "Pending");
    let st = json(&t.ok(&["get", "sts", "ordered", "-o", "json"], None))["status"].clone();
    assert_eq!(st["replicas"], 1);
    assert!(st.get("readyReplicas").is_none(), "{st}");
    assert_eq!(st["availableReplicas"], 0);
    assert_eq!(names_of(&pods(&t, "parallel")), ["parallel-0", "parallel-1", "parallel-2"]);
}

#[test]
fn statefulset_and_daemonset_pods_denied_by_gatekeeper_give_failed_create_events() {
    let t = TestServer::platform(Profile { gatekeeper: Some("3.20".into()), ..Profile::bare() });
    t.ok(&["apply", "-f", "-"], Some(TEMPLATE));
    t.settle();
    t.ok(&["apply", "-f", "-"], Some(CONSTRAINT));
    t.settle();
    t.ok(&["apply", "-f", "-"], Some(&statefulset("db", 2, "OrderedReady", false)));
    t.ok(&["apply", "-f", "-"], Some(&daemonset("agent", None)));
    t.settle();
    assert!(pods(&t, "db").is_empty() && pods(&t, "agent").is_empty());
    let denial = |container: &str, image: &str| {
        format!(
            "admission webhook \"validation.gatekeeper.sh\" denied the request: [only-ecr] container <{container}> has \
             an invalid image repo <{image}>, allowed repos are [\"123456789012.dkr.ecr.us-east-1.amazonaws.com/\"]"
        )
    };
    // stateful_pod_control.go recordPodEvent: "create Pod %s in StatefulSet %s failed error: %s".
    let failed: Vec<(String, String)> =
        events_of(&t, "StatefulSet", "db").into_iter().filter(|(r, _)| r == "FailedCreate").collect();
    assert!(!failed.is_empty());
    let want = format!("create Pod db-0 in StatefulSet db failed error: {}", denial("app", "nginx:1.27"));
    assert!(failed.iter().all(|(_, m)| *m == want), "{failed:?}");
    let st = json(&t.ok(&["get", "sts", "db", "-o", "json"], None))["status"].clone();
    assert_eq!(st["replicas"], 0);
    // controller_utils.go CreatePods: "Error creating: %v".
    let failed: Vec<(String, String)> =
        events_of(&t, "DaemonSet", "agent").into_iter().filter(|(r, _)| r == "FailedCreate").collect();
    let want = format!("Error creating: {}", denial("agent", "fluent/fluent-bit:3"));
    assert!(!failed.is_empty() && failed.iter().all(|(_, m)| *m == want), "{failed:?}");
    let st = json(&t.ok(&["get", "ds", "agent", "-o", "json"], None))["status"].clone();
    assert_eq!((st["desiredNumberScheduled"].as_i64(), st["currentNumberScheduled"].as_i64()), (Some(2), Some(0)));
    assert_eq!(st["numberUnavailable"], 2);
}

#[test]
fn nodes_are_configurable_and_a_daemonset_runs_on_the_matching_ones() {
    let labels = [("eks.amazonaws.com/nodegroup", "ng-1"), ("topology.kubernetes.io/region", "eu-west-1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let nodes = sim::workloads::NodeSettings { count: 3, labels };
    let t = TestServer::platform(Profile { nodes, ..Profile::bare() });
    let table = t.ok(&["get", "nodes", "--show-labels"], None);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    for (i, row) in rows.iter().enumerate() {
        let name = format!("sim-node-{}", i + 1);
        assert!(row.starts_with(&name), "{row}");
        for label in [
            "eks.amazonaws.com/nodegroup=ng-1",
            "topology.kubernetes.io/region=eu-west-1",
            &format!("kubernetes.io/hostname={name}"),
            "kubernetes.io/os=linux",
        ] {
            assert!(row.contains(label), "{label} in {row}");
        }
        assert!(!row.contains("region=us-east-1"), "the user's region wins: {row}");
    }
    t.ok(&["label", "node", "sim-node-3", "pool=gpu"], None);
    t.ok(&["apply", "-f", "-"], Some(&daemonset("agent", None)));
    t.ok(&["apply", "-f", "-"], Some(&daemonset("gpu", Some("pool: gpu"))));
    t.settle();
    let agent = pods(&t, "agent");
    let mut nodes: Vec<&str> = agent.iter().filter_map(|p| p["spec"]["nodeName"].as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, ["sim-node-1", "sim-node-2", "sim-node-3"]);
    for p in &agent {
        // daemonset_util.go ReplaceDaemonSetPodNodeNameNodeAffinity: pinned by metadata.name.
        let term = &p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchFields"][0];
        assert_eq!((term["key"].as_str(), term["operator"].as_str()), (Some("metadata.name"), Some("In")));
        assert_eq!(term["values"][0], p["spec"]["nodeName"]);
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        assert!(p["metadata"]["labels"]["controller-revision-hash"].is_string());
        let tolerations = p["spec"]["tolerations"].as_array().cloned().unwrap_or_default();
        assert!(tolerations.iter().any(|t| t["key"] == "node.kubernetes.io/unschedulable"), "{tolerations:?}");
    }
    let st = json(&t.ok(&["get", "ds", "agent", "-o", "json"], None))["status"].clone();
    for field in
        ["desiredNumberScheduled", "currentNumberScheduled", "numberReady", "numberAvailable", "updatedNumberScheduled"]
    {
        assert_eq!(st[field], 3, "{field} in {st}");
    }
    assert_eq!((st["numberMisscheduled"].as_i64(), st["observedGeneration"].as_i64()), (Some(0), Some(1)));
    let gpu = pods(&t, "gpu");
    assert_eq!(gpu.len(), 1);
    assert_eq!(gpu[0]["spec"]["nodeName"], "sim-node-3");
    assert_eq!(json(&t.ok(&["get", "ds", "gpu", "-o", "json"], None))["status"]["desiredNumberScheduled"], 1);
    // Labelling another node adds a pod there; removing the label from the first removes its.
    t.ok(&["label", "node", "sim-node-1", "pool=gpu"], None);
    t.ok(&["label", "node", "sim-node-3", "pool-"], None);
    t.settle();
    let gpu = pods(&t, "gpu");
    assert_eq!(gpu.len(), 1, "{gpu:?}");
    assert_eq!(gpu[0]["spec"]["nodeName"], "sim-node-1");
    let events = events_of(&t, "DaemonSet", "gpu");
    assert!(events.iter().any(|(r, m)| r == "SuccessfulDelete" && m.starts_with("Deleted pod: gpu-")), "{events:?}");
}

#[test]
fn a_cronjob_never_fires_but_can_be_run_by_hand() {
    let t = platform();
    let manifest = "apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: \"* * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: backup, image: busybox, command: [\"true\"]}]
";
    t.ok(&["apply", "-f", "-"], Some(manifest));
    t.settle();
    let cj = json(&t.ok(&["get", "cronjob", "nightly", "-o", "json"], None));
    assert!(cj["status"].as_object().is_none_or(|s| s.is_empty()), "{}", cj["status"]);
    let jobs = json(&t.ok(&["get", "jobs", "-o", "json"], None));
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(0), "a schedule never fires on the simulator");

    // kubectl reads the CronJob and builds the Job itself (ownerReference, the
    // `cronjob.kubernetes.io/instantiate: manual` annotation). It sends typed creates as
    // protobuf, which the simulated API server does not decode, so the Job is printed and
    // applied as YAML.
    let manual =
        t.ok(&["create", "job", "--from=cronjob/nightly", "nightly-manual", "--dry-run=client", "-o", "yaml"], None);
    t.ok(&["apply", "-f", "-"], Some(&manual));
    t.settle();
    let job = json(&t.ok(&["get", "job", "nightly-manual", "-o", "json"], None));
    assert_eq!(job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!((owner["kind"].as_str(), owner["name"].as_str()), (Some("CronJob"), Some("nightly")));
    assert_eq!(owner["uid"], cj["metadata"]["uid"]);
    assert_eq!(condition(&job, "Complete")["status"], "True");
    assert_eq!(job["status"]["succeeded"], 1);
    let list = json(&t.ok(&["get", "pods", "-l", "job-name=nightly-manual", "-o", "json"], None));
    assert_eq!(list["items"][0]["status"]["phase"], "Succeeded");
}
