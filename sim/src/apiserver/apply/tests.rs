//! Tests of server-side apply and managedFields bookkeeping: realistic Deployments applied by
//! several managers, exact conflict messages, FieldsV1 as kube-apiserver writes it, and
//! no-panic properties. Tests must not depend on anything outside this module.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T11:00:00Z";
const T2: &str = "2024-05-01T12:00:00Z";

fn f(name: &str) -> PathElement {
    PathElement::field(name)
}

fn k(name: &str) -> PathElement {
    PathElement::key(vec![("name".to_string(), json!(name))])
}

fn meta_shape() -> TypeNode {
    TypeNode::object([
        ("name", TypeNode::Scalar),
        ("namespace", TypeNode::Scalar),
        ("labels", TypeNode::map_of(TypeNode::Scalar)),
        ("annotations", TypeNode::map_of(TypeNode::Scalar)),
        ("finalizers", TypeNode::set()),
        ("resourceVersion", TypeNode::Scalar),
        ("uid", TypeNode::Scalar),
        ("generation", TypeNode::Scalar),
        ("creationTimestamp", TypeNode::Scalar),
    ])
}

fn container_shape() -> TypeNode {
    TypeNode::object([
        ("name", TypeNode::Scalar),
        ("image", TypeNode::Scalar),
        ("args", TypeNode::atomic_list(TypeNode::Scalar)),
        (
            "ports",
            TypeNode::list_map(
                &["containerPort", "protocol"],
                TypeNode::object([
                    ("containerPort", TypeNode::Scalar),
                    ("protocol", TypeNode::Scalar),
                    ("name", TypeNode::Scalar),
                ]),
            ),
        ),
        (
            "env",
            TypeNode::list_map(&["name"], TypeNode::object([("name", TypeNode::Scalar), ("value", TypeNode::Scalar)])),
        ),
    ])
}

fn deployment_shape() -> TypeNode {
    TypeNode::object([
        ("apiVersion", TypeNode::Scalar),
        ("kind", TypeNode::Scalar),
        ("metadata", meta_shape()),
        (
            "spec",
            TypeNode::object([
                ("replicas", TypeNode::Scalar),
                ("selector", TypeNode::object([("matchLabels", TypeNode::map_of(TypeNode::Scalar))])),
                (
                    "template",
                    TypeNode::object([
                        ("metadata", meta_shape()),
                        ("spec", TypeNode::object([("containers", TypeNode::list_map(&["name"], container_shape()))])),
                    ]),
                ),
            ]),
        ),
    ])
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}
            }
        }
    })
}

/// A live Deployment as stored after `kubectl apply` (client-side) created it.
fn created_by_csa() -> (Value, Vec<ManagedEntry>) {
    let shape = deployment_shape();
    let mut obj = deployment(1, "nginx:1.25");
    obj["metadata"]["uid"] = json!("0b6f1c1e");
    obj["metadata"]["resourceVersion"] = json!("100");
    let managed = record_update(None, &obj, vec![], "kubectl-client-side-apply", "apps/v1", &shape, T0, None);
    (obj, managed)
}

fn req<'a>(manager: &'a str, shape: &'a TypeNode, force: bool, now: &'a str) -> ApplyRequest<'a> {
    ApplyRequest { manager, api_version: "apps/v1", force, shape, now, subresource: None }
}

fn entry<'a>(managed: &'a [ManagedEntry], manager: &str) -> &'a ManagedEntry {
    match managed.iter().find(|e| e.manager == manager) {
        Some(e) => e,
        None => panic!("no entry for {manager} in {managed:?}"),
    }
}

// ---------------------------------------------------------------- FieldsV1 ---------------

/// What kube-apiserver writes for `kubectl create deployment nginx --image=nginx`.
const KUBECTL_CREATE_FIELDS: &str = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#;

/// The deployment controller's status entry.
const STATUS_FIELDS: &str = r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Progressing\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}"#;

#[test]
fn fields_v1_round_trips_kube_apiserver_output_byte_for_byte() {
    for text in [KUBECTL_CREATE_FIELDS, STATUS_FIELDS] {
        let set = FieldSet::from_json_str(text).unwrap();
        assert_eq!(set.to_json_string(), text);
    }
    let set = FieldSet::from_json_str(KUBECTL_CREATE_FIELDS).unwrap();
    let container = [f("spec"), f("template"), f("spec"), f("containers"), k("nginx")];
    assert!(set.contains(&container), "list item marker");
    assert!(set.contains(&[f("spec"), f("selector")]));
    assert!(!set.contains(&[f("spec")]), "spec is not a member itself");
    assert!(set.contains(&[f("metadata"), f("labels")]), "labels has a `.` marker");
}

#[test]
fn fields_v1_output_is_sorted_as_structured_merge_diff_sorts() {
    let text = r#"{"v:\"b\"":{},"k:{\"name\":\"b\"}":{},"i:3":{},"f:z":{},"k:{\"name\":\"a\"}":{"f:x":{},".":{}},"f:a":{},"v:\"a\"":{},"v:2":{}}"#;
    let set = FieldSet::from_json_str(text).unwrap();
    assert_eq!(
        set.to_json_string(),
        r#"{"f:a":{},"f:z":{},"k:{\"name\":\"a\"}":{".":{},"f:x":{}},"k:{\"name\":\"b\"}":{},"v:2":{},"v:\"a\"":{},"v:\"b\"":{},"i:3":{}}"#
    );
}

#[test]
fn key_fields_are_sorted_compact_and_compared_by_value() {
    let set = FieldSet::from_json_str(
        r#"{"k:{\"protocol\":\"TCP\", \"containerPort\":443}":{},"k:{\"protocol\":\"TCP\",\"containerPort\":80}":{}}"#,
    )
    .unwrap();
    // 80 < 443 numerically, and key fields come out sorted by name without spaces.
    assert_eq!(
        set.to_json_string(),
        r#"{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{},"k:{\"containerPort\":443,\"protocol\":\"TCP\"}":{}}"#
    );
}

#[test]
fn key_strings_are_html_escaped_like_go() {
    let pe = PathElement::key(vec![("name".to_string(), json!("a<b>&c"))]);
    assert_eq!(pe.encode(), r#"k:{"name":"a\u003cb\u003e\u0026c"}"#);
    assert_eq!(PathElement::decode(&pe.encode()).unwrap(), Some(pe));
}

#[test]
fn malformed_fields_v1_is_an_error_not_a_panic() {
    let bad = [
        r#"[]"#,
        r#"{"f:spec":[]}"#,
        r#"{"f:spec":"x"}"#,
        r#"{"k:{\"name\":":{}}"#,
        r#"{"k:[1]":{}}"#,
        r#"{"i:x":{}}"#,
        r#"{"f":{}}"#,
        r#"{"fx":{}}"#,
        r#"{"v:":{}}"#,
        r#"{"#,
    ];
    for text in bad {
        assert!(FieldSet::from_json_str(text).is_err(), "{text} should be rejected");
    }
    let err = FieldSet::from_json_str(r#"{"f:spec":{"f:replicas":3}}"#).unwrap_err();
    assert_eq!(err.to_string(), "invalid FieldsV1: expected a JSON object at f:spec f:replicas");
}

#[test]
fn unknown_path_element_types_are_dropped_as_kube_apiserver_does() {
    let set = FieldSet::from_json_str(r#"{"x:future":{},"f:a":{}}"#).unwrap();
    assert_eq!(set.to_json_string(), r#"{"f:a":{}}"#);
}

#[test]
fn paths_render_as_in_conflict_messages() {
    assert_eq!(path_string(&[f("spec"), f("replicas")]), ".spec.replicas");
    assert_eq!(
        path_string(&[f("spec"), f("template"), f("spec"), f("containers"), k("web"), f("image")]),
        r#".spec.template.spec.containers[name="web"].image"#
    );
    let port = PathElement::key(vec![("protocol".into(), json!("TCP")), ("containerPort".into(), json!(80))]);
    assert_eq!(path_string(&[f("ports"), port]), r#".ports[containerPort=80,protocol="TCP"]"#);
    assert_eq!(
        path_string(&[f("metadata"), f("finalizers"), PathElement::Value(json!("a"))]),
        r#".metadata.finalizers[="a"]"#
    );
    assert_eq!(path_string(&[f("x"), PathElement::Index(2)]), ".x[2]");
}

#[test]
fn set_operations() {
    let a = FieldSet::from_json_str(r#"{"f:a":{},"f:b":{"f:c":{}},"f:d":{".":{},"f:e":{}}}"#).unwrap();
    let b = FieldSet::from_json_str(r#"{"f:b":{"f:c":{},"f:x":{}},"f:d":{}}"#).unwrap();
    assert_eq!(a.union(&b).to_json_string(), r#"{"f:a":{},"f:b":{"f:c":{},"f:x":{}},"f:d":{".":{},"f:e":{}}}"#);
    assert_eq!(a.intersection(&b).to_json_string(), r#"{"f:b":{"f:c":{}},"f:d":{}}"#);
    assert_eq!(a.difference(&b).to_json_string(), r#"{"f:a":{},"f:d":{"f:e":{}}}"#);
    assert_eq!(a.recursive_difference(&b).to_json_string(), r#"{"f:a":{}}"#);
    assert!(a.difference(&a).is_empty());
    assert!(FieldSet::new().is_empty());
    assert!(!a.is_empty());
    assert_eq!(a.len(), 4);
    let rendered: Vec<String> = a.paths().iter().map(|p| path_string(p)).collect();
    assert_eq!(rendered, [".a", ".d", ".b.c", ".d.e"]);
    let leaves: Vec<String> = a.leaf_paths().iter().map(|p| path_string(p)).collect();
    assert_eq!(leaves, [".a", ".b.c", ".d.e"]);
}

// ---------------------------------------------------------------- fields_of --------------

#[test]
fn fields_of_an_apply_configuration_matches_kubectl_server_side_output() {
    let mut config = deployment(2, "nginx:1.25");
    config["metadata"]["uid"] = json!("u");
    config["metadata"]["resourceVersion"] = json!("7");
    config["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
    let set = fields_of(&config, &deployment_shape());
    assert_eq!(
        set.to_json_string(),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{"f:matchLabels":{"f:app":{}}},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
    );
}

#[test]
fn fields_of_tracks_finalizers_and_annotations_but_not_server_metadata() {
    let obj = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "x", "namespace": "d", "uid": "u", "resourceVersion": "1", "generation": 2,
            "creationTimestamp": "2024-01-01T00:00:00Z", "deletionTimestamp": "2024-01-02T00:00:00Z",
            "managedFields": [{"manager": "m"}],
            "annotations": {"a": "1"}, "finalizers": ["example.com/f"],
            "ownerReferences": [{"uid": "o", "name": "owner"}]
        },
        "data": {"k": "v", "empty": {}}
    });
    // Without a schema every key is a map entry, so objects carry a `.` marker (as
    // structured-merge-diff's deduced type does); metadata itself is never tracked.
    let set = fields_of(&obj, &TypeNode::Unknown);
    assert_eq!(
        set.to_json_string(),
        r#"{"f:data":{".":{},"f:empty":{},"f:k":{}},"f:metadata":{"f:annotations":{".":{},"f:a":{}},"f:finalizers":{},"f:ownerReferences":{}}}"#
    );
    let typed = fields_of(&obj, &TypeNode::object([("metadata", meta_shape())]));
    assert!(typed.contains(&[f("metadata"), f("finalizers"), PathElement::Value(json!("example.com/f"))]));
}

// ---------------------------------------------------------------- apply ------------------

#[test]
fn create_records_every_field_for_the_creating_manager() {
    let (_, managed) = created_by_csa();
    assert_eq!(managed.len(), 1);
    let e = entry(&managed, "kubectl-client-side-apply");
    assert_eq!(e.operation, Operation::Update);
    assert_eq!(e.time, T0);
    assert!(e.fields.contains(&[f("spec"), f("replicas")]));
    assert!(e.fields.contains(&[f("metadata"), f("labels"), f("app")]));
    assert!(e.fields.contains(&[f("metadata"), f("labels")]), "labels get a `.` marker");
    assert!(!e.fields.contains(&[f("spec")]), "structs get no marker");
    assert!(!e.fields.contains(&[f("metadata"), f("uid")]));
    assert!(!e.fields.contains(&[f("metadata"), f("name")]));
    let item = [f("spec"), f("template"), f("spec"), f("containers"), k("web")];
    assert!(e.fields.contains(&item));
}

#[test]
fn conflict_on_replicas_has_kube_apiserver_message() {
    let shape = deployment_shape();
    let (live, managed) = created_by_csa();
    let err =
        server_side_apply(Some(&live), &deployment(3, "nginx:1.25"), managed, &req("platform", &shape, false, T1))
            .unwrap_err();
    assert_eq!(
        err.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    assert_eq!(
        err.causes(),
        vec![(".spec.replicas".to_string(), r#"conflict with "kubectl-client-side-apply" using apps/v1"#.to_string())]
    );
    let api: ApiError = err.into();
    assert_eq!(api.code, 409);
    assert_eq!(api.reason, "Conflict");
    let status = api.to_status();
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldManagerConflict");
    assert_eq!(status["details"]["causes"][0]["field"], ".spec.replicas");
}

#[test]
fn equal_values_become_shared_without_conflict() {
    let shape = deployment_shape();
    let (live, managed) = created_by_csa();
    let out =
        server_side_apply(Some(&live), &deployment(1, "nginx:1.25"), managed, &req("platform", &shape, false, T1))
            .unwrap();
    assert!(!out.changed);
    let csa = entry(&out.managed, "kubectl-client-side-apply");
    let platform = entry(&out.managed, "platform");
    assert_eq!(platform.operation, Operation::Apply);
    assert_eq!(out.managed[0].manager, "platform", "Apply entries sort first");
    for who in [csa, platform] {
        assert!(who.fields.contains(&[f("spec"), f("replicas")]), "{} owns replicas", who.manager);
    }
    assert_eq!(out.object["spec"]["replicas"], 1);
    assert_eq!(out.object["metadata"]["managedFields"], encode_managed_fields(&out.managed));
}

#[test]
fn force_takes_ownership_from_the_other_manager() {
    let shape = deployment_shape();
    let (live, managed) = created_by_csa();
    let out = server_side_apply(Some(&live), &deployment(3, "nginx:1.25"), managed, &req("platform", &shape, true, T1))
        .unwrap();
    assert!(out.changed);
    assert_eq!(out.object["spec"]["replicas"], 3);
    let csa = entry(&out.managed, "kubectl-client-side-apply");
    assert!(!csa.fields.contains(&[f("spec"), f("replicas")]));
    assert!(csa.fields.contains(&[f("metadata"), f("labels"), f("app")]), "other fields stay shared");
    let platform = entry(&out.managed, "platform");
    assert!(platform.fields.contains(&[f("spec"), f("replicas")]));
    assert_eq!(platform.time, T1);
    assert_eq!(out.object["metadata"]["uid"], "0b6f1c1e", "live metadata is kept");
}

#[test]
fn conflicts_with_several_managers_are_grouped_and_sorted() {
    let shape = deployment_shape();
    let (live, managed) = created_by_csa();
    let edited = deployment(1, "nginx:1.26");
    let managed = record_update(Some(&live), &edited, managed, "kubectl-edit", "apps/v1", &shape, T1, None);
    let config = deployment(5, "nginx:1.27");
    let err =
        server_side_apply(Some(&edited), &config, managed.clone(), &req("platform", &shape, false, T2)).unwrap_err();
    assert_eq!(
        err.message(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
         - .spec.replicas\n\
         conflicts with \"kubectl-edit\" using apps/v1:\n\
         - .spec.template.spec.containers[name=\"web\"].image"
    );
    // One manager, two fields.
    let mut config = deployment(5, "nginx:1.26");
    config["metadata"]["labels"]["app"] = json!("other");
    let err = server_side_apply(Some(&edited), &config, managed, &req("platform", &shape, false, T2)).unwrap_err();
    assert_eq!(
        err.message(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
         - .metadata.labels.app\n\
         - .spec.replicas"
    );
    assert_eq!(err.causes().len(), 2);
}

#[test]
fn applier_conflicts_name_no_api_version_and_subresources_are_named() {
    let shape = deployment_shape();
    let (live, managed) = created_by_csa();
    let a = server_side_apply(Some(&live), &deployment(1, "nginx:1.25"), managed, &req("argocd", &shape, false, T1))
        .unwrap();
    let mut r = req("flux", &shape, false, T2);
    r.force = false;
    let err = server_side_apply(Some(&a.object), &deployment(1, "nginx:2"), a.managed, &r).unwrap_err();
    assert!(err.message().contains(r#"conflicts with "argocd":"#), "{}", err.message());
    assert!(err.message().contains(r#"conflicts with "kubectl-client-side-apply" using apps/v1:"#));
    let status_mgr = ManagedEntry {
        manager: "kubelet".into(),
        operation: Operation::Update,
        api_version: "v1".into(),
        time: T0.into(),
        fields: FieldSet::new(),
        subresource: Some("status".into()),
    };
    assert_eq!(status_mgr.describe(), r#""kubelet" with subresource "status" using v1"#);
}

#[test]
fn dropping_a_field_from_the_config_removes_it() {
    let shape = deployment_shape();
    let mut config = deployment(2, "nginx:1.25");
    config["metadata"]["labels"]["tier"] = json!("frontend");
    config["metadata"]["annotations"] = json!({"team": "payments"});
    let first = server_side_apply(None, &config, vec![], &req("platform", &shape, false, T0)).unwrap();
    assert_eq!(first.object["metadata"]["labels"]["tier"], "frontend");

    let second = server_side_apply(
        Some(&first.object),
        &deployment(2, "nginx:1.25"),
        first.managed,
        &req("platform", &shape, false, T1),
    )
    .unwrap();
    assert!(second.changed);
    assert_eq!(second.object["metadata"]["labels"], json!({"app": "web"}));
    assert!(second.object["metadata"].get("annotations").is_none(), "{}", second.object);
    let platform = entry(&second.managed, "platform");
    assert!(!platform.fields.contains(&[f("metadata"), f("labels"), f("tier")]));
    assert_eq!(platform.time, T1);
}

#[test]
fn dropped_field_owned_by_another_manager_stays() {
    let shape = deployment_shape();
    let mut config = deployment(2, "nginx:1.25");
    config["metadata"]["labels"]["tier"] = json!("frontend");
    let first = server_side_apply(None, &config, vec![], &req("platform", &shape, false, T0)).unwrap();
    let tier_only = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "frontend"}}});
    let second =
        server_side_apply(Some(&first.object), &tier_only, first.managed, &req("labeler", &shape, false, T1)).unwrap();
    assert_eq!(second.managed.len(), 2);
    let third = server_side_apply(
        Some(&second.object),
        &deployment(2, "nginx:1.25"),
        second.managed,
        &req("platform", &shape, false, T2),
    )
    .unwrap();
    assert_eq!(third.object["metadata"]["labels"]["tier"], "frontend");
    assert!(!entry(&third.managed, "platform").fields.contains(&[f("metadata"), f("labels"), f("tier")]));
    assert!(entry(&third.managed, "labeler").fields.contains(&[f("metadata"), f("labels"), f("tier")]));
}

#[test]
fn dropping_a_container_removes_only_that_container() {
    let shape = deployment_shape();
    let mut config = deployment(1, "nginx:1.25");
    config["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "web", "image": "nginx:1.25"}, {"name": "sidecar", "image": "envoy:1"}]);
    let first = server_side_apply(None, &config, vec![], &req("platform", &shape, false, T0)).unwrap();
    assert_eq!(first.object["spec"]["template"]["spec"]["containers"].as_array().map(Vec::len), Some(2));
    let second = server_side_apply(
        Some(&first.object),
        &deployment(1, "nginx:1.25"),
        first.managed,
        &req("platform", &shape, false, T1),
    )
    .unwrap();
    assert_eq!(
        second.object["spec"]["template"]["spec"]["containers"],
        json!([{"name": "web", "image": "nginx:1.25"}])
    );
}

#[test]
fn containers_merge_by_name_keeping_order() {
    let shape = deployment_shape();
    let mut live = deployment(1, "nginx:1.25");
    live["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "web", "image": "nginx:1.25", "args": ["--port=80"]},
        {"name": "log", "image": "fluentbit:2"}
    ]);
    let managed = record_update(None, &live, vec![], "helm", "apps/v1", &shape, T0, None);
    let mut config = deployment(1, "nginx:1.25");
    config["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "web", "image": "nginx:1.25"}, {"name": "metrics", "image": "prom:1"}]);
    let out = server_side_apply(Some(&live), &config, managed, &req("platform", &shape, false, T1)).unwrap();
    assert_eq!(
        out.object["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "web", "image": "nginx:1.25", "args": ["--port=80"]},
            {"name": "log", "image": "fluentbit:2"},
            {"name": "metrics", "image": "prom:1"}
        ])
    );
    let platform = entry(&out.managed, "platform");
    let containers = [f("spec"), f("template"), f("spec"), f("containers")];
    assert!(platform.fields.contains(&[&containers[..], &[k("metrics"), f("image")]].concat()));
    assert!(!platform.fields.contains(&[&containers[..], &[k("log")]].concat()));
}

#[test]
fn new_item_goes_before_later_shared_items_as_in_the_config() {
    let shape = deployment_shape();
    let mut live = deployment(1, "a");
    live["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "b"}]);
    let mut config = deployment(1, "a");
    config["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "n"}, {"name": "b"}]);
    let out = server_side_apply(Some(&live), &config, vec![], &req("p", &shape, false, T1)).unwrap();
    let names: Vec<&str> = out.object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["a", "n", "b"]);
}

#[test]
fn finalizers_merge_as_a_set() {
    let shape = deployment_shape();
    let mut live = deployment(1, "nginx:1.25");
    live["metadata"]["finalizers"] = json!(["example.com/a"]);
    let managed = record_update(None, &live, vec![], "controller", "apps/v1", &shape, T0, None);
    let mut config = deployment(1, "nginx:1.25");
    config["metadata"]["finalizers"] = json!(["example.com/b", "example.com/a"]);
    let out = server_side_apply(Some(&live), &config, managed, &req("platform", &shape, false, T1)).unwrap();
    assert_eq!(out.object["metadata"]["finalizers"], json!(["example.com/b", "example.com/a"]));
    let fields = entry(&out.managed, "platform").fields.to_json_string();
    assert!(fields.contains(r#""f:finalizers":{"v:\"example.com/a\"":{},"v:\"example.com/b\"":{}}"#), "{fields}");
    // Dropping b from the config removes it; a is still owned by the controller.
    let out2 = server_side_apply(
        Some(&out.object),
        &deployment(1, "nginx:1.25"),
        out.managed,
        &req("platform", &shape, false, T2),
    )
    .unwrap();
    assert_eq!(out2.object["metadata"]["finalizers"], json!(["example.com/a"]));
}

#[test]
fn atomic_lists_are_replaced_and_conflict_as_a_whole() {
    let shape = deployment_shape();
    let mut live = deployment(1, "nginx:1.25");
    live["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--a", "--b"]);
    let managed = record_update(None, &live, vec![], "helm", "apps/v1", &shape, T0, None);
    let mut config = deployment(1, "nginx:1.25");
    config["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--c"]);
    let err =
        server_side_apply(Some(&live), &config, managed.clone(), &req("platform", &shape, false, T1)).unwrap_err();
    assert_eq!(
        err.message(),
        r#"Apply failed with 1 conflict: conflict with "helm" using apps/v1: .spec.template.spec.containers[name="web"].args"#
    );
    let out = server_side_apply(Some(&live), &config, managed, &req("platform", &shape, true, T1)).unwrap();
    assert_eq!(out.object["spec"]["template"]["spec"]["containers"][0]["args"], json!(["--c"]));
    let args = [f("spec"), f("template"), f("spec"), f("containers"), k("web"), f("args")];
    assert!(entry(&out.managed, "platform").fields.contains(&args));
    assert!(!entry(&out.managed, "helm").fields.contains(&args));
}

#[test]
fn a_second_identical_apply_is_a_no_op_and_keeps_the_time() {
    let shape = deployment_shape();
    let first = server_side_apply(None, &deployment(2, "x"), vec![], &req("platform", &shape, false, T0)).unwrap();
    assert!(first.changed);
    let second = server_side_apply(
        Some(&first.object),
        &deployment(2, "x"),
        first.managed.clone(),
        &req("platform", &shape, false, T1),
    )
    .unwrap();
    assert!(!second.changed);
    assert_eq!(second.managed, first.managed);
    assert_eq!(second.object, first.object);
}

#[test]
fn null_in_the_config_removes_the_field() {
    let shape = deployment_shape();
    let live = deployment(2, "x");
    let mut config = deployment(2, "x");
    config["spec"]["replicas"] = Value::Null;
    let out = server_side_apply(Some(&live), &config, vec![], &req("p", &shape, false, T1)).unwrap();
    assert!(out.object["spec"].get("replicas").is_none());
    assert!(entry(&out.managed, "p").fields.contains(&[f("spec"), f("replicas")]));
}

#[test]
fn first_apply_to_an_unowned_object_conflicts_with_before_first_apply() {
    let shape = deployment_shape();
    let live = deployment(1, "nginx:1.25");
    let err = server_side_apply(Some(&live), &deployment(2, "nginx:1.25"), vec![], &req("platform", &shape, false, T1))
        .unwrap_err();
    assert_eq!(
        err.message(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
    let out = server_side_apply(Some(&live), &deployment(1, "nginx:1.25"), vec![], &req("platform", &shape, false, T1))
        .unwrap();
    assert!(entry(&out.managed, "before-first-apply").fields.contains(&[f("spec"), f("replicas")]));
}

fn csa_live(replicas_live: i64) -> (Value, Vec<ManagedEntry>) {
    let shape = deployment_shape();
    let mut obj = deployment(1, "nginx:1.25");
    let last = format!("{}\n", deployment(1, "nginx:1.25"));
    obj["metadata"]["annotations"] = json!({ LAST_APPLIED_ANNOTATION: last });
    let managed = record_update(None, &obj, vec![], "kubectl-client-side-apply", "apps/v1", &shape, T0, None);
    let mut scaled = obj.clone();
    scaled["spec"]["replicas"] = json!(replicas_live);
    let managed = record_update(Some(&obj), &scaled, managed, "kubectl-scale", "apps/v1", &shape, T1, None);
    (scaled, managed)
}

#[test]
fn kubectl_takes_over_client_side_applied_fields_without_conflict() {
    let shape = deployment_shape();
    let (live, managed) = csa_live(1);
    let out = server_side_apply(Some(&live), &deployment(3, "nginx:1.26"), managed, &req("kubectl", &shape, false, T2))
        .unwrap();
    assert_eq!(out.object["spec"]["replicas"], 3);
    let csa = entry(&out.managed, "kubectl-client-side-apply");
    assert!(!csa.fields.contains(&[f("spec"), f("replicas")]));
    // The annotation now holds the new configuration, as Go encodes it.
    assert_eq!(
        out.object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        format!("{}\n", fieldset::go_json(&deployment(3, "nginx:1.26")))
    );
    // Another manager name gets no such leniency.
    let (live, managed) = csa_live(1);
    assert!(server_side_apply(Some(&live), &deployment(3, "nginx:1.25"), managed, &req("other", &shape, false, T2))
        .is_err());
}

#[test]
fn kubectl_still_conflicts_on_fields_changed_since_the_last_client_side_apply() {
    let shape = deployment_shape();
    let (live, managed) = csa_live(5);
    let err = server_side_apply(Some(&live), &deployment(3, "nginx:1.26"), managed, &req("kubectl", &shape, false, T2))
        .unwrap_err();
    assert_eq!(
        err.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn apply_to_a_subresource_is_a_separate_manager() {
    let shape = TypeNode::object([("status", TypeNode::object([("phase", TypeNode::Scalar)]))]);
    let live = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "status": {"phase": "A"}});
    let managed = record_update(None, &live, vec![], "ctrl", "v1", &shape, T0, Some("status"));
    assert_eq!(managed[0].subresource.as_deref(), Some("status"));
    let config = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "status": {"phase": "B"}});
    let r = ApplyRequest {
        manager: "ctrl",
        api_version: "v1",
        force: false,
        shape: &shape,
        now: T1,
        subresource: Some("status"),
    };
    let err = server_side_apply(Some(&live), &config, managed.clone(), &r).unwrap_err();
    assert_eq!(
        err.message(),
        r#"Apply failed with 1 conflict: conflict with "ctrl" with subresource "status" using v1: .status.phase"#
    );
    let encoded = encode_managed_fields(&managed);
    assert_eq!(encoded[0]["subresource"], "status");
}

#[test]
fn invalid_apply_configurations_are_reported_like_structured_merge_diff() {
    let shape = deployment_shape();
    assert_eq!(validate_apply_config(&deployment(1, "x"), &shape), Ok(()));
    let mut config = deployment(1, "x");
    config["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}]);
    assert_eq!(
        validate_apply_config(&config, &shape),
        Err(r#".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields ["name"] (and doesn't have default values for any key fields)"#.to_string())
    );
    config["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "a"}]);
    config["metadata"]["finalizers"] = json!([{"x": 1}]);
    assert_eq!(
        validate_apply_config(&config, &shape),
        Err("errors:\n  .metadata.finalizers: element 0: associative list without keys has an element that's a map type\n  .spec.template.spec.containers: duplicate entries for key [name=\"a\"]".to_string())
    );
}

// ---------------------------------------------------------------- updates ----------------

#[test]
fn an_update_takes_changed_fields_from_the_applier() {
    let shape = deployment_shape();
    let applied =
        server_side_apply(None, &deployment(2, "nginx:1.25"), vec![], &req("platform", &shape, false, T0)).unwrap();
    let mut edited = applied.object.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    edited["metadata"]["labels"]["added"] = json!("yes");
    let managed =
        record_update(Some(&applied.object), &edited, applied.managed, "kubectl-edit", "apps/v1", &shape, T1, None);
    let image = [f("spec"), f("template"), f("spec"), f("containers"), k("web"), f("image")];
    let added = [f("metadata"), f("labels"), f("added")];
    let edit = entry(&managed, "kubectl-edit");
    assert!(edit.fields.contains(&image) && edit.fields.contains(&added));
    assert_eq!(edit.fields.len(), 2, "{}", edit.fields.to_json_string());
    assert!(!entry(&managed, "platform").fields.contains(&image));
    assert_eq!(managed[0].operation, Operation::Apply);

    // Removing the label removes it from every set; an update that changes nothing adds no entry.
    let mut removed = edited.clone();
    if let Some(labels) = removed["metadata"]["labels"].as_object_mut() {
        labels.remove("added");
    }
    let managed = record_update(Some(&edited), &removed, managed, "kubectl-label", "apps/v1", &shape, T2, None);
    assert!(managed.iter().all(|e| e.manager != "kubectl-label"));
    assert!(!entry(&managed, "kubectl-edit").fields.contains(&added));
    assert_eq!(entry(&managed, "kubectl-edit").time, T1);
}

#[test]
fn update_by_the_same_manager_accumulates_and_refreshes_time() {
    let shape = deployment_shape();
    let (live, managed) = created_by_csa();
    let mut next = live.clone();
    next["spec"]["replicas"] = json!(4);
    let managed = record_update(Some(&live), &next, managed, "kubectl-client-side-apply", "apps/v1", &shape, T1, None);
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].time, T1);
    assert!(managed[0].fields.contains(&[f("metadata"), f("labels"), f("app")]));
    // A different apiVersion is a different manager for updates.
    let mut again = next.clone();
    again["spec"]["replicas"] = json!(5);
    let managed =
        record_update(Some(&next), &again, managed, "kubectl-client-side-apply", "apps/v1beta1", &shape, T2, None);
    assert_eq!(managed.len(), 2);
}

#[test]
fn create_with_only_server_metadata_records_nothing() {
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "uid": "u"}});
    let managed = record_update(None, &obj, vec![], "kubectl-create", "v1", &TypeNode::Unknown, T0, None);
    assert!(managed.is_empty());
}

#[test]
fn more_than_ten_update_managers_are_merged_into_ancient_changes() {
    let shape = TypeNode::Unknown;
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
    let mut managed = Vec::new();
    for i in 0..12 {
        let mut next = obj.clone();
        next["data"][format!("k{i:02}")] = json!("v");
        let now = format!("2024-05-01T10:00:{i:02}Z");
        managed = record_update(Some(&obj), &next, managed, &format!("m{i:02}"), "v1", &shape, &now, None);
        obj = next;
    }
    assert_eq!(managed.len(), 10);
    let ancient = entry(&managed, "ancient-changes");
    for i in 0..3 {
        assert!(ancient.fields.contains(&[f("data"), f(&format!("k{i:02}"))]), "k{i:02}");
    }
    assert_eq!(ancient.time, "2024-05-01T10:00:02Z");
    assert!(managed.iter().all(|e| e.manager != "m00" && e.manager != "m01" && e.manager != "m02"));
    assert!(managed.iter().any(|e| e.manager == "m03"));
}

// ---------------------------------------------------------------- managedFields ----------

#[test]
fn managed_fields_decode_and_encode_round_trip() {
    let wire = json!([
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
         "fieldsType": "FieldsV1", "fieldsV1": serde_json::from_str::<Value>(STATUS_FIELDS).unwrap(), "subresource": "status"},
        {"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
         "fieldsType": "FieldsV1", "fieldsV1": serde_json::from_str::<Value>(KUBECTL_CREATE_FIELDS).unwrap()}
    ]);
    let entries = decode_managed_fields(&wire).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].subresource.as_deref(), Some("status"));
    assert_eq!(encode_managed_fields(&entries).to_string(), wire.to_string());
    // Order is restored whatever the input order.
    let mut shuffled = entries.clone();
    shuffled.reverse();
    assert_eq!(encode_managed_fields(&shuffled).to_string(), wire.to_string());
    assert_eq!(decode_managed_fields(&Value::Null).unwrap(), vec![]);
}

#[test]
fn managed_fields_decode_errors() {
    let base =
        json!({"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}});
    let with = |key: &str, v: Value| {
        let mut e = base.clone();
        e[key] = v;
        json!([e])
    };
    assert_eq!(
        decode_managed_fields(&with("operation", json!("Patch"))).unwrap_err().to_string(),
        "operation must be `Apply` or `Update`"
    );
    assert_eq!(
        decode_managed_fields(&with("apiVersion", json!(""))).unwrap_err().to_string(),
        "apiVersion must not be empty"
    );
    assert_eq!(
        decode_managed_fields(&with("fieldsType", json!(""))).unwrap_err().to_string(),
        "missing fieldsType in managed fields entry 0"
    );
    assert_eq!(
        decode_managed_fields(&with("fieldsType", json!("FieldsV2"))).unwrap_err().to_string(),
        r#"invalid fieldsType "FieldsV2" in managed fields entry 0"#
    );
    assert!(matches!(
        decode_managed_fields(&with("fieldsV1", json!({"f:a": 1}))),
        Err(ManagedFieldsError::Fields(0, _))
    ));
    assert_eq!(decode_managed_fields(&json!({})), Err(ManagedFieldsError::NotAList));
    assert_eq!(decode_managed_fields(&json!([1])), Err(ManagedFieldsError::NotAnObject(0)));
}

#[test]
fn manager_names_from_user_agents() {
    assert_eq!(manager_from_user_agent("kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"), "kubectl");
    assert_eq!(
        manager_from_user_agent("kube-controller-manager/v1.30.0 (linux/amd64)/leader-election"),
        "kube-controller-manager"
    );
    assert_eq!(manager_from_user_agent("Go-http-client/1.1"), "Go-http-client");
    assert_eq!(manager_from_user_agent("my tool\u{7}"), "my tool");
    assert_eq!(manager_from_user_agent(""), "");
    assert_eq!(manager_from_user_agent(&"x".repeat(300)).len(), 128);
}

// ---------------------------------------------------------------- properties -------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        "[a-z]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (prop_oneof![Just("name".to_string()), Just("image".to_string()), "[a-z]{1,2}"], inner),
                0..4
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_fields_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "f:[a-z]{0,3}",
        Just(".".to_string()),
        "k:\\{\"name\":\"[a-z]{0,2}\"\\}",
        "k:.{0,6}",
        "v:.{0,4}",
        "i:-?[0-9]{0,3}",
        ".{0,4}",
    ]
}

fn arb_fields_v1() -> impl Strategy<Value = Value> {
    let leaf = Just(json!({}));
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop::collection::vec((arb_fields_key(), prop_oneof![inner, Just(json!(1))]), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
    })
}

fn arb_object() -> impl Strategy<Value = Value> {
    (arb_json(), arb_json(), 0i64..4, "[a-c]{1}").prop_map(|(labels, extra, replicas, image)| {
        let mut d = deployment(replicas, &image);
        d["metadata"]["labels"] = labels;
        d["spec"]["template"]["spec"]["containers"][0]["extra"] = extra.clone();
        d["spec"]["selector"] = extra;
        d
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_fields_v1_never_panics_and_reparses(doc in arb_fields_v1()) {
        if let Ok(set) = FieldSet::from_fields_v1(&doc) {
            let text = set.to_json_string();
            let again = FieldSet::from_json_str(&text);
            prop_assert_eq!(again.as_ref().map(FieldSet::to_json_string).ok(), Some(text));
            prop_assert_eq!(again.ok(), Some(set));
        }
    }

    #[test]
    fn set_algebra_laws(a in arb_fields_v1(), b in arb_fields_v1()) {
        if let (Ok(a), Ok(b)) = (FieldSet::from_fields_v1(&a), FieldSet::from_fields_v1(&b)) {
            let u = a.union(&b);
            for path in a.paths().iter().chain(b.paths().iter()) {
                prop_assert!(u.contains(path));
            }
            prop_assert!(a.difference(&b).intersection(&b).is_empty());
            prop_assert_eq!(a.intersection(&b), b.intersection(&a));
            prop_assert_eq!(a.difference(&b).union(&a.intersection(&b)), a.clone());
            prop_assert_eq!(u.len(), a.len() + b.len() - a.intersection(&b).len());
        }
    }

    #[test]
    fn apply_and_update_never_panic(live in arb_object(), config in arb_json(), other in arb_object(), force in any::<bool>()) {
        let shape = deployment_shape();
        let managed = record_update(None, &live, vec![], "creator", "apps/v1", &shape, T0, None);
        let managed = record_update(Some(&live), &other, managed, "editor", "apps/v1", &shape, T1, None);
        for m in &managed {
            prop_assert!(!m.fields.is_empty());
        }
        let result = server_side_apply(Some(&other), &config, managed.clone(), &req("platform", &shape, force, T2));
        match result {
            Ok(applied) if applied.object["metadata"].is_object() => {
                let decoded = decode_managed_fields(&applied.object["metadata"]["managedFields"]);
                prop_assert_eq!(decoded.ok(), Some(applied.managed.clone()));
            }
            Err(conflicts) => {
                prop_assert!(!force);
                prop_assert!(conflicts.message().starts_with("Apply failed with "));
            }
            Ok(_) => {}
        }
        if validate_apply_config(&config, &shape).is_ok() {
            prop_assert!(server_side_apply(None, &config, vec![], &req("p", &shape, false, T2)).is_ok());
        }
        let again = server_side_apply(None, &config, vec![], &req("p", &TypeNode::Unknown, force, T2));
        prop_assert!(again.is_ok(), "no managers, no conflicts");
    }

    #[test]
    fn applying_the_same_config_twice_is_stable(config in arb_object()) {
        let shape = deployment_shape();
        let first = server_side_apply(None, &config, vec![], &req("p", &shape, false, T0));
        prop_assert!(first.is_ok());
        if let Ok(first) = first {
            let second = server_side_apply(Some(&first.object), &config, first.managed.clone(), &req("p", &shape, false, T1));
            prop_assert_eq!(second.map(|s| (s.changed, s.object)).ok(), Some((false, first.object)));
        }
    }
}
