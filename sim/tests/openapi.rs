//! The OpenAPI v3 documents of built-in kinds, as kubectl reads them: `kubectl explain` shows
//! the real fields and descriptions, each group/version document is self-contained (its `$ref`s
//! resolve within it) and holds only what its kinds reach, and client-side apply still merges
//! container lists by name.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, DEPLOY};
use serde_json::Value;

/// The per-group-version document at `path` (`api/v1`, `apis/apps/v1`), as kubectl fetches it.
fn document(s: &TestServer, path: &str) -> Value {
    let index: Value = serde_json::from_str(&s.ok(&["get", "--raw", "/openapi/v3"], None)).expect("index is JSON");
    let url = index["paths"][path]["serverRelativeURL"].as_str().unwrap_or_else(|| panic!("{path} not in {index}"));
    assert!(url.contains("?hash="), "{url}");
    serde_json::from_str(&s.ok(&["get", "--raw", url], None)).expect("document is JSON")
}

/// `kubectl explain` output with runs of whitespace (line wrapping, tabs) as single spaces.
fn flat(out: &str) -> String {
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Asserts that every `$ref` of `doc` points at one of its own component schemas.
fn assert_refs_resolve(doc: &Value) {
    let schemas = doc["components"]["schemas"].as_object().expect("components.schemas");
    let mut all = BTreeSet::new();
    refs(doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("foreign $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} does not resolve in the document");
    }
}

#[test]
fn explain_deployment_spec_replicas_prints_the_field_description() {
    let s = TestServer::start();
    let out = s.ok(&["explain", "deployment.spec.replicas"], None);
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    assert!(flat(&out).contains("Number of desired pods."), "{out}");

    let out = s.ok(&["explain", "deployment.spec"], None);
    let text = flat(&out);
    assert!(text.contains("DeploymentSpec is the specification of the desired behavior of the Deployment."), "{out}");
    assert!(text.contains("template <PodTemplateSpec> -required-"), "{out:?}");
    assert!(text.contains("strategy <DeploymentStrategy> The deployment strategy"), "{out}");

    let out = s.ok(&["explain", "deployment.spec.template.spec.containers.image"], None);
    assert!(out.contains("FIELD: image <string>"), "{out}");
    assert!(flat(&out).contains("Container image name."), "{out}");
}

#[test]
fn explain_configmap_lists_its_fields() {
    let s = TestServer::start();
    let out = s.ok(&["explain", "configmap"], None);
    assert!(out.contains("KIND:       ConfigMap"), "{out}");
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("ConfigMap holds configuration data for pods to consume."), "{out}");
    for field in [
        "apiVersion\t<string>",
        "binaryData\t<map[string]string>",
        "data\t<map[string]string>",
        "immutable\t<boolean>",
        "metadata\t<ObjectMeta>",
    ] {
        assert!(out.contains(field), "{field} missing in:\n{out}");
    }
    let out = s.ok(&["explain", "configmap.metadata.labels"], None);
    assert!(out.contains("FIELD: labels <map[string]string>"), "{out}");
    assert!(flat(&out).contains("Map of string keys and values"), "{out}");
}

#[test]
fn apps_v1_document_holds_deployment_with_its_gvk_and_resolves_its_refs() {
    let s = TestServer::start();
    let doc = document(&s, "apis/apps/v1");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deploy["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
    );
    assert_eq!(
        deploy["properties"]["spec"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    );
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentList"]["x-kubernetes-group-version-kind"][0]["kind"],
        "DeploymentList"
    );
    for name in [
        "io.k8s.api.apps.v1.StatefulSet",
        "io.k8s.api.core.v1.PodSpec",
        "io.k8s.api.core.v1.Container",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    // Only what apps/v1's kinds reach: no kinds of other groups, no unrelated core kinds.
    for name in ["io.k8s.api.batch.v1.Job", "io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.ConfigMap"] {
        assert!(!schemas.contains_key(name), "{name} should not be in apps/v1");
    }
    // GVK markers only on this group/version's kinds.
    for (name, schema) in schemas {
        if let Some(gvk) = schema.get("x-kubernetes-group-version-kind") {
            assert_eq!(gvk[0]["group"], "apps", "{name}");
        }
    }
    assert_refs_resolve(&doc);
    // The operations kubectl reads: GVK and fieldValidation on writes, no strategic merge.
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    assert!(patch["parameters"].as_array().expect("params").iter().any(|p| p["name"] == "fieldValidation"));
    let content = patch["requestBody"]["content"].as_object().expect("content");
    assert!(content.contains_key("application/apply-patch+yaml"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));

    let core = document(&s, "api/v1");
    let schemas = core["components"]["schemas"].as_object().expect("schemas");
    assert_eq!(schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
    assert!(!schemas.contains_key("io.k8s.api.apps.v1.Deployment"));
    assert_refs_resolve(&core);
}

#[test]
fn every_document_resolves_its_refs() {
    let s = TestServer::start();
    let index: Value = serde_json::from_str(&s.ok(&["get", "--raw", "/openapi/v3"], None)).expect("index is JSON");
    let paths = index["paths"].as_object().expect("paths");
    assert!(paths.len() > 10, "{index}");
    for path in paths.keys() {
        let doc = document(&s, path);
        assert_refs_resolve(&doc);
    }
    let crd = document(&s, "apis/apiextensions.k8s.io/v1");
    assert!(
        crd["components"]["schemas"]
            ["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"]
            ["x-kubernetes-group-version-kind"]
            .is_array(),
        "CRD kind schema missing"
    );
}

#[test]
fn client_side_apply_twice_merges_containers_by_name() {
    let s = TestServer::start();
    assert_eq!(s.ok(&["apply", "-f", "-"], Some(DEPLOY)).trim(), "deployment.apps/web created");
    // A field set by someone else, not in the last-applied configuration: a patch that replaced
    // the container list would drop it.
    s.ok(
        &[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"FOO","value":"bar"}]}]"#,
        ],
        None,
    );
    let changed = DEPLOY.replace("nginx:1.27", "nginx:1.28");
    assert_eq!(s.ok(&["apply", "-f", "-"], Some(&changed)).trim(), "deployment.apps/web configured");
    let got = s.ok(
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name}",
        ],
        None,
    );
    assert_eq!(got, "nginx public.ecr.aws/nginx/nginx:1.28 FOO");
}
