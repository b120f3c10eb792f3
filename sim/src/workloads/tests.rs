//! Unit tests of the workloads helpers: names and hashes, QoS classes, the `Available`
//! threshold, Deployment condition bookkeeping and required node affinity.

use serde_json::json;

use super::deployment::{max_unavailable, scaled, set_condition};
use super::kubelet::qos_class;
use super::names::*;

#[test]
fn template_hashes_read_like_upstream_and_ignore_key_order() {
    let a = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [{"name": "n", "image": "i"}]}});
    let b = json!({"spec": {"containers": [{"image": "i", "name": "n"}]}, "metadata": {"labels": {"tier": "x", "app": "web"}}});
    let h = template_hash(&a, None);
    assert_eq!(h, template_hash(&b, None));
    // SafeEncodeString over decimal digits only yields these characters.
    assert!(h.chars().all(|c| "456789bcdf".contains(c)), "{h}");
    assert!((1..=10).contains(&h.len()));
    assert_ne!(h, template_hash(&a, Some(1)), "the collision count changes the hash");
    let c = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [{"name": "n", "image": "j"}]}});
    assert_ne!(h, template_hash(&c, None));
}

#[test]
fn safe_encode_maps_digits_as_kubernetes_does() {
    // rand.SafeEncodeString: alphanums[b % 27]; '0' is byte 48 → index 21 → '4'.
    assert_eq!(safe_encode("0123456789"), "456789bcdf");
}

#[test]
fn pod_suffixes_are_deterministic_and_distinct() {
    let a = pod_suffix("web-abc", 0);
    assert_eq!(a, pod_suffix("web-abc", 0));
    assert_eq!(a.len(), 5);
    assert!(a.bytes().all(|b| ALPHANUMS.contains(&b)));
    let all: std::collections::BTreeSet<_> = (0..50).map(|i| pod_suffix("web-abc", i)).collect();
    assert_eq!(all.len(), 50);
}

#[test]
fn image_ids_name_the_repository() {
    assert_eq!(image_repository("nginx:1.27"), "docker.io/library/nginx");
    assert_eq!(image_repository("bitnami/redis"), "docker.io/bitnami/redis");
    assert_eq!(image_repository("public.ecr.aws/nginx/nginx:1.27"), "public.ecr.aws/nginx/nginx");
    assert_eq!(image_repository("localhost:5000/app:v1"), "localhost:5000/app");
    let id = image_id("nginx:1.27");
    assert!(id.starts_with("docker.io/library/nginx@sha256:"), "{id}");
    assert_eq!(id.len(), "docker.io/library/nginx@sha256:".len() + 64);
}

#[test]
fn qos_classes() {
    assert_eq!(qos_class(&json!({"containers": [{"name": "a"}]})), "BestEffort");
    let limits = json!({"cpu": "1", "memory": "1Gi"});
    assert_eq!(qos_class(&json!({"containers": [{"resources": {"limits": limits}}]})), "Guaranteed");
    assert_eq!(
        qos_class(&json!({"containers": [{"resources": {"limits": limits, "requests": {"cpu": "500m"}}}]})),
        "Burstable"
    );
    assert_eq!(qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})), "Burstable");
}

#[test]
fn max_unavailable_follows_deployment_util() {
    let d = |replicas: i64, strategy: serde_json::Value| json!({"spec": {"replicas": replicas, "strategy": strategy}});
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    assert_eq!(max_unavailable(&d(3, rolling.clone())), 0, "25% of 3 rounds down");
    assert_eq!(max_unavailable(&d(4, rolling.clone())), 1);
    assert_eq!(max_unavailable(&d(0, rolling)), 0);
    assert_eq!(max_unavailable(&d(4, json!({"type": "Recreate"}))), 0);
    let zero = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
    assert_eq!(max_unavailable(&d(3, zero)), 1, "both zero: one may be unavailable");
    assert_eq!(scaled(Some(&json!("25%")), 3, true), 1);
    assert_eq!(scaled(Some(&json!(2)), 3, true), 2);
}

#[test]
fn deployment_conditions_change_only_with_status_or_reason() {
    let mut cs = Vec::new();
    set_condition(&mut cs, "Available", "False", "A", "a");
    cs[0]["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
    cs[0]["lastUpdateTime"] = json!("2020-01-01T00:00:00Z");
    let before = cs.clone();
    set_condition(&mut cs, "Available", "False", "A", "other message");
    assert_eq!(cs, before, "same status and reason: untouched");
    set_condition(&mut cs, "Available", "False", "B", "b");
    assert_eq!(cs[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
    assert_ne!(cs[0]["lastUpdateTime"], "2020-01-01T00:00:00Z");
    set_condition(&mut cs, "Available", "True", "C", "c");
    assert_ne!(cs[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
    assert_eq!(cs.len(), 1);
}

#[test]
fn required_node_affinity_matches_labels_and_the_node_name() {
    use super::kubelet::affinity_fits;
    let node = json!({"metadata": {"name": "sim-node-2", "labels": {"pool": "gpu"}}});
    let pod = |terms: serde_json::Value| json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}});
    let field = |op: &str, v: &str| json!([{"matchFields": [{"key": "metadata.name", "operator": op, "values": [v]}]}]);
    assert!(affinity_fits(&json!({"spec": {}}), &node), "no affinity: any node");
    assert!(affinity_fits(&pod(field("In", "sim-node-2")), &node));
    assert!(!affinity_fits(&pod(field("In", "sim-node-1")), &node));
    assert!(affinity_fits(&pod(field("NotIn", "sim-node-1")), &node));
    let expr = |op: &str, key: &str| json!([{"matchExpressions": [{"key": key, "operator": op, "values": ["gpu"]}]}]);
    assert!(affinity_fits(&pod(expr("In", "pool")), &node));
    assert!(!affinity_fits(&pod(expr("NotIn", "pool")), &node));
    assert!(affinity_fits(&pod(expr("Exists", "pool")), &node));
    assert!(!affinity_fits(&pod(expr("DoesNotExist", "pool")), &node));
    assert!(!affinity_fits(&pod(expr("Gt", "pool")), &node), "Gt is not simulated: never matches");
    // Terms are ORed.
    let either = json!([field("In", "sim-node-1")[0], expr("Exists", "pool")[0]]);
    assert!(affinity_fits(&pod(either), &node));
}
