//! Unit tests of the kustomize-controller's pure parts: generation of the kustomization file,
//! staging and ordering, inventory ids, durations.

use serde_json::{json, Value};

use super::apply::{sort_key, stage, ObjRef};
use super::build::{generate, split_documents};
use super::crd::{go_duration, parse_duration, Spec};

fn r(api: &str, kind: &str, ns: &str, name: &str) -> ObjRef {
    ObjRef::of(&json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}}))
}

#[test]
fn stages_and_order_follow_ssa() {
    assert_eq!(stage(&r("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "x")), 0);
    assert_eq!(stage(&r("v1", "Namespace", "", "x")), 0);
    assert_eq!(stage(&r("rbac.authorization.k8s.io/v1", "ClusterRole", "", "x")), 0);
    assert_eq!(stage(&r("storage.k8s.io/v1", "StorageClass", "", "x")), 1);
    assert_eq!(stage(&r("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass", "a", "x")), 1);
    assert_eq!(stage(&r("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "x")), 2);
    let mut v = [
        r("apps/v1", "Deployment", "a", "web"),
        r("example.com/v1", "Widget", "a", "w"),
        r("v1", "ConfigMap", "b", "c"),
        r("v1", "ConfigMap", "a", "c"),
        r("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "v"),
    ];
    v.sort_by_key(sort_key);
    let kinds: Vec<String> = v.iter().map(|o| o.display()).collect();
    assert_eq!(
        kinds,
        ["ConfigMap/a/c", "ConfigMap/b/c", "Deployment/a/web", "Widget/a/w", "ValidatingWebhookConfiguration/v"]
    );
    let id = r("apps/v1", "Deployment", "a", "web").id();
    assert_eq!(id, "a_web_apps_Deployment");
    assert_eq!(ObjRef::from_entry(&id, "v1"), Some(r("apps/v1", "Deployment", "a", "web")));
    assert_eq!(r("v1", "Namespace", "", "a").id(), "_a__Namespace");
}

#[test]
fn durations_read_and_print_as_go_does() {
    assert_eq!(parse_duration("1m30s").map(go_duration).as_deref(), Some("1m30s"));
    assert_eq!(parse_duration("10m").map(go_duration).as_deref(), Some("10m0s"));
    assert_eq!(parse_duration("1h").map(go_duration).as_deref(), Some("1h0m0s"));
    assert_eq!(parse_duration("1.5s").map(go_duration).as_deref(), Some("1.5s"));
    assert_eq!(parse_duration("500ms").map(go_duration).as_deref(), Some("500ms"));
    let spec = |v: Value| serde_json::from_value::<Spec>(v).expect("spec");
    assert_eq!(go_duration(spec(json!({"interval": "10m"})).timeout()), "9m30s");
    assert_eq!(go_duration(spec(json!({"interval": "1m"})).timeout()), "30s");
    assert_eq!(go_duration(spec(json!({"interval": "1m", "timeout": "5m"})).timeout()), "5m0s");
}

#[test]
fn generated_kustomization_lists_yaml_files_and_kustomize_dirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("b.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n").expect("write");
    std::fs::write(d.join("a.yml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").expect("write");
    std::fs::write(d.join("notes.txt"), "not yaml: [").expect("write");
    std::fs::create_dir_all(d.join("sub/deeper")).expect("mkdir");
    std::fs::write(d.join("sub/deeper/c.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
        .expect("write");
    std::fs::create_dir_all(d.join("overlay")).expect("mkdir");
    std::fs::write(d.join("overlay/kustomization.yaml"), "resources: []\n").expect("write");
    std::fs::write(d.join("overlay/ignored.yaml"), "x: [").expect("write");
    let spec: Spec = serde_json::from_value(json!({
        "interval": "1m", "prune": true, "targetNamespace": "apps", "namePrefix": "p-",
        "images": [{"name": "nginx", "newTag": "1.27"}], "components": ["../comp"],
    }))
    .expect("spec");
    let (path, text) = generate(d, &spec).expect("generate");
    assert_eq!(path, d.join("kustomization.yaml"));
    let k: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(k["resources"], json!(["./a.yml", "./b.yaml", "./overlay", "./sub/deeper/c.yaml"]));
    assert_eq!(k["namespace"], "apps");
    assert_eq!(k["namePrefix"], "p-");
    assert_eq!(k["images"], json!([{"name": "nginx", "newTag": "1.27"}]));
    assert_eq!(k["components"], json!(["../comp"]));

    std::fs::write(d.join("bad.yaml"), "a: [unclosed").expect("write");
    let err = generate(d, &spec).expect_err("bad yaml");
    assert!(
        err.to_string().starts_with(&format!("failed to decode Kubernetes YAML from {}", d.join("bad.yaml").display())),
        "{err}"
    );

    // An existing kustomization keeps its content; images merge by name.
    let o = d.join("overlay");
    std::fs::write(o.join("kustomization.yaml"), "resources: [x.yaml]\nimages: [{name: nginx, newName: r/nginx}]\n")
        .expect("write");
    let (_, text) = generate(&o, &spec).expect("generate");
    let k: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(k["resources"], json!(["x.yaml"]));
    assert_eq!(k["images"], json!([{"name": "nginx", "newName": "r/nginx", "newTag": "1.27", "digest": ""}]));
    let remote: Spec = serde_json::from_value(json!({"components": ["https://example.com/c"]})).expect("spec");
    assert_eq!(
        generate(&o, &remote).expect_err("remote").to_string(),
        "component path 'https://example.com/c' must be local and relative"
    );
}

#[test]
fn output_splits_into_documents() {
    let docs = split_documents("a: 1\n---\n\n---\nb: 2\n");
    assert_eq!(docs, ["a: 1\n", "b: 2\n"]);
}
