//! Tests for PATCH handling: content types, JSON patch, JSON merge patch, strategic merge patch
//! (merge keys, directives, list order, errors) and no-panic properties.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::apiserver::schema::{builtin_type, TypeNode};

fn smp(kind: (&str, &str), original: Value, patch: Value) -> Result<Value, PatchError> {
    apply_patch(PatchType::Strategic, &original, &patch, &builtin_type(kind.0, kind.1))
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["a.example.com/x", "b.example.com/y"]
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
                        },
                        {"name": "sidecar", "image": "envoy:1.30"}
                    ],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                    "volumes": [{"name": "cache", "emptyDir": {}}]
                }
            }
        }
    })
}

fn containers(v: &Value) -> Vec<String> {
    v.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- content types

#[test]
fn content_types_map_to_patch_types_ignoring_parameters() {
    assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::Json));
    assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
    assert_eq!(PatchType::from_content_type("Application/Strategic-Merge-Patch+JSON"), Some(PatchType::Strategic));
    assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), None);
    assert_eq!(PatchType::from_content_type("application/json"), None);
    assert_eq!(PatchType::Strategic.content_type(), "application/strategic-merge-patch+json");
}

#[test]
fn invalid_json_body_is_bad_request() {
    let e = decode_patch_body(b"{not json").unwrap_err();
    assert_eq!(e.to_api_error().code, 400);
    assert_eq!(e.to_api_error().message, "invalid JSON patch");
    assert_eq!(decode_patch_body(br#"{"a":1}"#).unwrap(), json!({"a": 1}));
}

// ---------------------------------------------------------------- JSON patch

#[test]
fn json_patch_applies_operations_in_order() {
    let patch = json!([
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "log", "image": "busybox"}},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/annotations"},
        {"op": "move", "from": "/metadata/annotations", "path": "/metadata/labels/copied"}
    ]);
    let out = apply_patch(PatchType::Json, &deployment(), &patch, &TypeNode::Unknown).unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "env": "prod", "copied": "web"}));
    assert_eq!(containers(&out), vec!["web", "sidecar", "log"]);
    assert!(out["metadata"].get("annotations").is_none());
}

#[test]
fn json_patch_failed_test_is_422_with_generic_message_and_reason_in_causes() {
    let patch = json!([{"op": "test", "path": "/spec/replicas", "value": 3}]);
    let e = apply_patch(PatchType::Json, &deployment(), &patch, &TypeNode::Unknown).unwrap_err();
    assert!(matches!(e, PatchError::Unprocessable(_)));
    let api = e.to_api_error();
    assert_eq!(api.code, 422);
    assert_eq!(api.reason, "Invalid");
    assert_eq!(api.message, "the server rejected our request due to an error in our request");
    let cause = api.details.as_ref().and_then(|d| d.pointer("/causes/0/message")).and_then(Value::as_str).unwrap();
    assert!(cause.contains("value did not match"), "{cause}");
}

#[test]
fn json_patch_on_missing_path_fails() {
    let patch = json!([{"op": "remove", "path": "/spec/nothing"}]);
    let e = apply_patch(PatchType::Json, &deployment(), &patch, &TypeNode::Unknown).unwrap_err();
    assert_eq!(e.to_api_error().code, 422);
}

#[test]
fn json_patch_body_must_be_a_list_of_objects() {
    let e = apply_patch(PatchType::Json, &deployment(), &json!({"op": "add"}), &TypeNode::Unknown).unwrap_err();
    assert_eq!(e.to_api_error().code, 400);
    assert!(e.to_string().contains("cannot unmarshal object into Go value of type jsonpatch.Patch"), "{e}");
    let e = apply_patch(PatchType::Json, &deployment(), &json!(["x"]), &TypeNode::Unknown).unwrap_err();
    assert_eq!(e.to_api_error().code, 400);
    assert!(e.to_string().contains("jsonpatch.Operation"), "{e}");
}

#[test]
fn json_patch_unknown_op_names_the_op() {
    let patch = json!([{"op": "frobnicate", "path": "/spec/replicas", "value": 1}]);
    let e = apply_patch(PatchType::Json, &deployment(), &patch, &TypeNode::Unknown).unwrap_err();
    assert!(e.to_string().contains("Unexpected kind: frobnicate"), "{e}");
    assert_eq!(e.to_api_error().code, 422);
    let e = apply_patch(PatchType::Json, &deployment(), &json!([{"path": "/a"}]), &TypeNode::Unknown).unwrap_err();
    assert!(e.to_string().contains("Unexpected kind: unknown"), "{e}");
}

#[test]
fn json_patch_malformed_pointer_is_an_error() {
    let patch = json!([{"op": "add", "path": "spec", "value": 1}]);
    let e = apply_patch(PatchType::Json, &deployment(), &patch, &TypeNode::Unknown).unwrap_err();
    assert_eq!(e.to_api_error().code, 422);
}

#[test]
fn json_patch_too_many_operations_is_413() {
    let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
        .map(|_| json!({"op": "test", "path": "/kind", "value": "Deployment"}))
        .collect();
    let e = apply_patch(PatchType::Json, &deployment(), &Value::Array(ops), &TypeNode::Unknown).unwrap_err();
    let api = e.to_api_error();
    assert_eq!(api.code, 413);
    assert_eq!(
        api.message,
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
}

#[test]
fn json_patch_replacing_the_root_with_a_scalar_is_invalid() {
    let patch = json!([{"op": "replace", "path": "", "value": 5}]);
    let e = apply_patch(PatchType::Json, &deployment(), &patch, &TypeNode::Unknown).unwrap_err();
    let api = e.to_api_error();
    assert_eq!(api.code, 422);
    assert!(api.message.contains("patch: Invalid value: \"5\""), "{}", api.message);
}

// ---------------------------------------------------------------- JSON merge patch

#[test]
fn merge_patch_merges_maps_deletes_nulls_and_replaces_lists() {
    let patch = json!({
        "metadata": {"labels": {"tier": null, "env": "prod"}},
        "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}
    });
    let out = apply_patch(PatchType::Merge, &deployment(), &patch, &TypeNode::Unknown).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "env": "prod"}));
    assert_eq!(containers(&out), vec!["only"]);
    assert_eq!(out["spec"]["replicas"], 2);
}

#[test]
fn merge_patch_body_must_be_an_object() {
    for body in [json!([1]), json!(3), json!(null)] {
        let e = apply_patch(PatchType::Merge, &deployment(), &body, &TypeNode::Unknown).unwrap_err();
        assert_eq!(e.to_api_error().code, 400, "{body}");
    }
}

// ---------------------------------------------------------------- strategic: basics

#[test]
fn smp_merges_containers_by_name_and_env_by_name() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.27", "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}]}
    ]}}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(containers(&out), vec!["web", "sidecar"]);
    let web = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(web["image"], "nginx:1.27");
    assert_eq!(web["ports"], json!([{"containerPort": 80, "protocol": "TCP"}]));
    // Patch items first (in patch order), then live-only items.
    // Without `$setElementOrder`, live items keep their place and new ones follow the patch
    // items they came with.
    assert_eq!(
        web["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}, {"name": "C", "value": "3"}])
    );
    assert_eq!(out["spec"]["template"]["spec"]["containers"][1]["image"], "envoy:1.30");
}

#[test]
fn smp_new_list_item_goes_first_like_upstream() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(containers(&out), vec!["log", "web", "sidecar"]);
}

#[test]
fn smp_null_deletes_and_maps_merge() {
    let patch = json!({"metadata": {"labels": {"tier": null, "env": "prod"}, "annotations": {"a": "b"}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "env": "prod"}));
    assert_eq!(out["metadata"]["annotations"], json!({"a": "b"}));
    assert_eq!(out["metadata"]["name"], "web");
}

#[test]
fn smp_replaces_lists_without_patch_strategy() {
    let patch = json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["spec"]["template"]["spec"]["tolerations"], json!([{"key": "k2", "operator": "Exists"}]));
}

#[test]
fn smp_unions_primitive_merge_lists() {
    let patch = json!({"metadata": {"finalizers": ["c.example.com/z", "a.example.com/x"]}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["c.example.com/z", "a.example.com/x", "b.example.com/y"]));
}

#[test]
fn smp_service_ports_merge_by_port() {
    let svc = json!({"metadata": {"name": "s"}, "spec": {"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
    ]}});
    let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}], "selector": {"version": "v2"}}});
    let out = smp(("", "Service"), svc, patch).unwrap();
    assert_eq!(out["spec"]["ports"][1]["targetPort"], 9443);
    assert_eq!(out["spec"]["ports"][1]["name"], "https");
    assert_eq!(out["spec"]["ports"][0]["port"], 80);
    assert_eq!(out["spec"]["ports"][0]["targetPort"], 8080);
    // SMP merges the selector map even though server-side apply treats it as atomic.
    assert_eq!(out["spec"]["selector"], json!({"app": "web", "version": "v2"}));
}

#[test]
fn smp_status_conditions_merge_by_type() {
    let pod = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"}
    ]}});
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let out = smp(("", "Pod"), pod, patch).unwrap();
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
    );
    let job = json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    let patch = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
    let out = smp(("batch", "Job"), job, patch).unwrap();
    assert_eq!(out["status"]["conditions"].as_array().map(Vec::len), Some(2));
}

#[test]
fn smp_pdb_selector_is_replaced_as_a_whole() {
    let pdb = json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"app": "api"}}}});
    let out = smp(("policy", "PodDisruptionBudget"), pdb, patch).unwrap();
    assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"app": "api"}}));
    assert_eq!(out["spec"]["minAvailable"], 1);
}

#[test]
fn smp_on_unknown_shape_merges_maps_and_replaces_lists() {
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "1"}},
        "spec": {"size": 1, "items": [{"name": "x"}, {"name": "y"}], "nested": {"k": "v", "drop": 1}}});
    let patch =
        json!({"metadata": {"labels": {"b": "2"}}, "spec": {"items": [{"name": "z"}], "nested": {"drop": null}}});
    let out = smp(("example.com", "Widget"), cr, patch).unwrap();
    assert_eq!(out["spec"]["items"], json!([{"name": "z"}]));
    assert_eq!(out["spec"]["nested"], json!({"k": "v"}));
    assert_eq!(out["metadata"]["labels"], json!({"a": "1", "b": "2"}));
}

#[test]
fn smp_type_change_replaces_value() {
    let patch = json!({"spec": {"strategy": "oops", "replicas": {"a": 1}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["spec"]["strategy"], "oops");
    assert_eq!(out["spec"]["replicas"], json!({"a": 1}));
}

#[test]
fn smp_nulls_inside_new_subtrees_are_dropped() {
    let patch = json!({"spec": {"paused": true, "newField": {"a": null, "b": 1}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["spec"]["newField"], json!({"b": 1}));
    assert_eq!(out["spec"]["paused"], true);
}

// ---------------------------------------------------------------- strategic: directives

#[test]
fn smp_patch_delete_on_list_item_removes_it() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(containers(&out), vec!["web"]);
}

#[test]
fn smp_patch_replace_on_list_replaces_it() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "solo", "image": "x"}
    ]}}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "solo", "image": "x"}]));
}

#[test]
fn smp_patch_replace_and_delete_on_maps() {
    let patch = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));

    let patch = json!({"spec": {"strategy": {"$patch": "delete"}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({}));

    // A `$patch: delete` map for a field the object does not have adds nothing.
    let patch = json!({"spec": {"minReadySeconds": {"$patch": "delete"}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert!(out["spec"].get("minReadySeconds").is_none());
}

#[test]
fn smp_patch_merge_in_a_list_is_rejected_like_upstream() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}});
    let e = smp(("apps", "Deployment"), deployment(), patch).unwrap_err();
    assert_eq!(e.to_string(), "merging lists cannot yet be specified in the patch");
}

#[test]
fn smp_unknown_patch_directive_value_is_an_error() {
    let e = smp(("apps", "Deployment"), deployment(), json!({"spec": {"$patch": "explode"}})).unwrap_err();
    assert_eq!(e.to_string(), "unknown patch type: explode in map: map[$patch:explode]");
    assert_eq!(e.to_api_error().code, 500);
}

#[test]
fn smp_retain_keys_clears_unlisted_fields() {
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn smp_retain_keys_must_cover_the_patch() {
    let patch =
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 2}}}});
    let e = smp(("apps", "Deployment"), deployment(), patch).unwrap_err();
    assert_eq!(e.to_string(), "invalid patch format of retainKeys");
    assert_eq!(e.to_api_error().code, 400);
    let e =
        smp(("apps", "Deployment"), deployment(), json!({"spec": {"strategy": {"$retainKeys": "type"}}})).unwrap_err();
    assert_eq!(e.to_api_error().code, 400);
}

#[test]
fn smp_delete_from_primitive_list() {
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/x", "not-there"]}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["b.example.com/y"]));
    // On a list the object does not have, nothing is added.
    let patch = json!({"spec": {"$deleteFromPrimitiveList/externalIPs": ["1.2.3.4"]}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert!(out["spec"].get("externalIPs").is_none());
    assert!(out["spec"].get("$deleteFromPrimitiveList/externalIPs").is_none());
}

#[test]
fn smp_malformed_directive_keys_are_bad_requests() {
    let e = smp(("apps", "Deployment"), deployment(), json!({"metadata": {"$deleteFromPrimitiveList": ["x"]}}))
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid patch format of primitive list");
    assert_eq!(e.to_api_error().code, 400);
    let e = smp(("apps", "Deployment"), deployment(), json!({"metadata": {"$setElementOrderX/finalizers": []}}))
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid patch format of setElementOrder list");
}

#[test]
fn smp_kubectl_apply_style_patch_with_set_element_order() {
    // What `kubectl apply` sends after the user reorders containers, adds one, changes an
    // image and updates the last-applied annotation.
    let last_applied = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}"#;
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "metrics"}, {"name": "web"}],
            "containers": [
                {"name": "metrics", "image": "prom/exporter:1"},
                {"name": "web", "image": "nginx:1.27",
                 "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}
            ]
        }}}
    });
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(containers(&out), vec!["sidecar", "metrics", "web"]);
    let web = &out["spec"]["template"]["spec"]["containers"][2];
    assert_eq!(web["image"], "nginx:1.27");
    assert_eq!(web["env"], json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]));
    assert_eq!(out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], last_applied);
    let text = out.to_string();
    assert!(!text.contains("$setElementOrder"), "{text}");
}

#[test]
fn smp_kubectl_apply_removing_a_container() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"name": "sidecar", "$patch": "delete"}]
    }}}});
    let out = smp(("apps", "Deployment"), deployment(), patch).unwrap();
    assert_eq!(containers(&out), vec!["web"]);
}

#[test]
fn smp_set_element_order_mismatch_is_reported() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"name": "other", "image": "x"}]
    }}}});
    let e = smp(("apps", "Deployment"), deployment(), patch).unwrap_err();
    assert!(e.to_string().starts_with("The order in patch list:\n[map[image:x name:other]]\n doesn't match $setElementOrder list:\n[map[name:web]]"), "{e}");
}

fn merging_shape() -> TypeNode {
    TypeNode::object([
        ("mergingList", TypeNode::list_map(&["name"], TypeNode::object([]))),
        ("mergingIntList", TypeNode::set()),
    ])
}

#[test]
fn smp_order_add_and_delete_with_set_element_order() {
    let current = json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]});
    let patch = json!({
        "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
        "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]
    });
    let out = apply_patch(PatchType::Strategic, &current, &patch, &merging_shape()).unwrap();
    assert_eq!(out, json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}));
}

#[test]
fn smp_order_primitives_with_set_element_order() {
    let current = json!({"mergingIntList": [1, 4, 2]});
    let patch = json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]});
    let out = apply_patch(PatchType::Strategic, &current, &patch, &merging_shape()).unwrap();
    assert_eq!(out, json!({"mergingIntList": [3, 1, 4, 2]}));
}

#[test]
fn smp_order_multiple_additions() {
    let current = json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]});
    let patch = json!({
        "$setElementOrder/mergingList": [{"name": 1}, {"name": 4}, {"name": 2}, {"name": 3}],
        "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]
    });
    let out = apply_patch(PatchType::Strategic, &current, &patch, &merging_shape()).unwrap();
    assert_eq!(
        out,
        json!({"mergingList": [
            {"name": 1, "other": "a"}, {"name": 4, "value": 4},
            {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}
        ]})
    );
}

// ---------------------------------------------------------------- strategic: errors

#[test]
fn smp_missing_merge_key_reads_like_apimachinery() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}});
    let e = smp(("apps", "Deployment"), deployment(), patch).unwrap_err();
    assert_eq!(e.to_string(), "map: map[image:nginx] does not contain declared merge key: name");
    let api = e.to_api_error();
    assert_eq!(api.code, 500);
    assert_eq!(api.message, "map: map[image:nginx] does not contain declared merge key: name");
}

#[test]
fn smp_list_of_lists_is_422() {
    let obj = json!({"metadata": {"finalizers": [["a"]]}});
    let e = smp(("", "ConfigMap"), obj, json!({"metadata": {"finalizers": [["b"]]}})).unwrap_err();
    assert_eq!(e.to_string(), "lists of lists are not supported");
    assert_eq!(e.to_api_error().code, 422);
}

#[test]
fn smp_mixed_element_types_are_rejected() {
    let obj = json!({"metadata": {"finalizers": ["a"]}});
    let e = smp(("", "ConfigMap"), obj, json!({"metadata": {"finalizers": [1]}})).unwrap_err();
    assert_eq!(e.to_string(), "list element types are not identical: [[a] [1]]");
}

#[test]
fn smp_body_must_be_an_object() {
    let e = smp(("apps", "Deployment"), deployment(), json!([1, 2])).unwrap_err();
    assert_eq!(e.to_string(), "json: cannot unmarshal array into Go value of type map[string]interface {}");
    assert_eq!(e.to_api_error().code, 400);
    // `null` decodes to an empty patch.
    assert_eq!(smp(("apps", "Deployment"), deployment(), Value::Null).unwrap(), deployment());
}

#[test]
fn go_stable_sort_sorts_long_lists_stably() {
    let mut data: Vec<Value> = (0..57).map(|i| json!([(i * 37) % 11, i])).collect();
    let key = |v: &Value| v.get(0).and_then(Value::as_i64).unwrap_or(0);
    strategic::go_stable_sort_for_tests(&mut data, &|a, b| key(a) < key(b));
    for w in data.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(key(a) < key(b) || (key(a) == key(b) && a[1].as_i64() < b[1].as_i64()), "{a} {b}");
    }
}

// ---------------------------------------------------------------- properties

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        prop::sample::select(vec!["a", "b", "name", "type", "delete", "replace", "merge"]).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        let keys = prop::sample::select(vec![
            "name",
            "type",
            "a",
            "b",
            "$patch",
            "$retainKeys",
            "$setElementOrder/containers",
            "$deleteFromPrimitiveList/finalizers",
            "containers",
            "finalizers",
            "spec",
            "metadata",
            "labels",
            "template",
            "env",
            "ports",
            "containerPort",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn arb_json_patch() -> impl Strategy<Value = Value> {
    let op = prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test", "bogus"]);
    let path = prop::sample::select(vec![
        "",
        "/",
        "/spec",
        "/spec/replicas",
        "/a/0",
        "/a/-",
        "/metadata/labels/x",
        "x",
        "/a/99",
    ]);
    prop::collection::vec((op, path.clone(), path, arb_json()), 0..6).prop_map(|ops| {
        Value::Array(
            ops.into_iter()
                .map(|(op, path, from, value)| json!({"op": op, "path": path, "from": from, "value": value}))
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn json_patches_never_panic(original in arb_json(), patch in arb_json_patch()) {
        let r = apply_patch(PatchType::Json, &original, &patch, &TypeNode::Unknown);
        if let Ok(v) = r { prop_assert!(v.is_object()); }
    }

    #[test]
    fn arbitrary_json_patch_bodies_never_panic(original in arb_json(), patch in arb_json()) {
        for t in [PatchType::Json, PatchType::Merge] {
            if let Err(e) = apply_patch(t, &original, &patch, &TypeNode::Unknown) {
                prop_assert!(e.to_api_error().code >= 400);
            }
        }
    }

    #[test]
    fn strategic_patches_never_panic(original in arb_json(), patch in arb_json()) {
        let shape = builtin_type("apps", "Deployment");
        match apply_patch(PatchType::Strategic, &original, &patch, &shape) {
            Ok(v) => prop_assert!(v.is_object()),
            Err(e) => prop_assert!(e.to_api_error().code >= 400),
        }
        let shape = merging_shape();
        if let Ok(v) = apply_patch(PatchType::Strategic, &original, &patch, &shape) {
            if !original.to_string().contains("$patch") {
                prop_assert!(!v.to_string().contains("\"$patch\""), "{}", v);
            }
        }
    }

    #[test]
    fn strategic_patch_of_deployment_subtrees_never_panics(
        containers in prop::collection::vec(arb_json(), 0..4),
        patch in arb_json(),
    ) {
        let mut original = deployment();
        if let Some(slot) = original.pointer_mut("/spec/template/spec/containers") {
            *slot = Value::Array(containers);
        }
        let patch = json!({"spec": {"template": {"spec": patch}}});
        let shape = builtin_type("apps", "Deployment");
        if let Ok(v) = apply_patch(PatchType::Strategic, &original, &patch, &shape) {
            prop_assert_eq!(&v["metadata"]["name"], "web");
        }
    }

    #[test]
    fn empty_strategic_patch_is_identity(original in arb_json()) {
        let shape = builtin_type("apps", "Deployment");
        let original = json!({"spec": original});
        let out = apply_patch(PatchType::Strategic, &original, &json!({}), &shape);
        prop_assert_eq!(out.ok(), Some(original));
    }
}
