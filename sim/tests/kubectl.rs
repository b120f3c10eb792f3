//! The real kubectl (from the set-up's venv) against the simulator's API server: the commands a
//! platform engineer types, with their output checked as text.

mod common;

use common::{TestServer, DEPLOY};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Mode, type: string, jsonPath: .spec.mode}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              mode: {type: string, enum: [fast, slow], default: fast}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: {name}}}\nspec: {spec}\n")
}

#[test]
fn get_namespaces_lists_the_bootstrap_namespaces() {
    let s = TestServer::start();
    let out = s.ok(&["get", "namespaces"], None);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("STATUS") && lines[0].contains("AGE"), "{out}");
    for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(lines.iter().any(|l| l.starts_with(ns) && l.contains("Active")), "{ns} missing in:\n{out}");
    }
}

#[test]
fn apply_client_side_then_again_configures_and_bumps_generation() {
    let s = TestServer::start();
    assert_eq!(s.ok(&["apply", "-f", "-"], Some(DEPLOY)).trim(), "deployment.apps/web created");
    assert_eq!(s.ok(&["apply", "-f", "-"], Some(DEPLOY)).trim(), "deployment.apps/web unchanged");
    let changed = DEPLOY.replace("replicas: 2", "replicas: 3");
    assert_eq!(s.ok(&["apply", "-f", "-"], Some(&changed)).trim(), "deployment.apps/web configured");
    let got = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"], None);
    assert_eq!(got, "3 2");
    // The last-applied annotation kubectl keeps for three-way merges is stored.
    let ann = s.ok(
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
        ],
        None,
    );
    assert!(ann.contains("\"replicas\":3"), "{ann}");
}

#[test]
fn apply_server_side_records_the_field_manager() {
    let s = TestServer::start();
    assert_eq!(
        s.ok(&["apply", "--server-side", "-f", "-"], Some(DEPLOY)).trim(),
        "deployment.apps/web serverside-applied"
    );
    let managers = s.ok(
        &["get", "deploy", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"],
        None,
    );
    assert_eq!(managers, "kubectl");
    let ops = s.ok(
        &["get", "deploy", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].operation}"],
        None,
    );
    assert_eq!(ops, "Apply");
}

#[test]
fn get_yaml_shows_defaults_and_system_metadata() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some(DEPLOY));
    let yaml = s.ok(&["get", "deploy", "web", "-o", "yaml"], None);
    for needle in [
        "uid: ",
        "creationTimestamp: ",
        "resourceVersion: ",
        "generation: 1",
        "progressDeadlineSeconds: 600",
        "revisionHistoryLimit: 10",
        "imagePullPolicy: IfNotPresent",
        "maxSurge: 25%",
    ] {
        assert!(yaml.contains(needle), "{needle} missing in:\n{yaml}");
    }
}

#[test]
fn get_shows_builtin_and_crd_printer_columns() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some(DEPLOY));
    let out = s.ok(&["get", "deployments"], None);
    let header: Vec<&str> = out.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(out.lines().nth(1).unwrap_or("").starts_with("web    0/2"), "{out}");

    s.ok(&["apply", "-f", "-"], Some(CRD));
    s.ok(&["apply", "-f", "-"], Some(&widget("w1", "{size: 3}")));
    let out = s.ok(&["get", "wd"], None);
    let header: Vec<&str> = out.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "SIZE", "MODE"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap_or("").split_whitespace().collect();
    assert_eq!(row, ["w1", "3", "fast"], "defaulted mode is printed: {out}");
}

#[test]
fn describe_prints_the_deployment() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some(DEPLOY));
    let out = s.ok(&["describe", "deployment", "web"], None);
    assert!(out.contains("Name:                   web"), "{out}");
    assert!(out.contains("Replicas:               2 desired"), "{out}");
    assert!(out.contains("Image:         public.ecr.aws/nginx/nginx:1.27"), "{out}");
}

#[test]
fn delete_removes_and_a_second_delete_is_not_found() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some(DEPLOY));
    assert_eq!(
        s.ok(&["delete", "deployment", "web"], None).trim(),
        "deployment.apps \"web\" deleted from default namespace"
    );
    let err = s.fails(&["delete", "deployment", "web"], None);
    assert_eq!(err.trim(), "Error from server (NotFound): deployments.apps \"web\" not found");
}

#[test]
fn crd_is_established_and_its_objects_are_validated() {
    let s = TestServer::start();
    assert_eq!(
        s.ok(&["apply", "-f", "-"], Some(CRD)).trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    );
    let out = s.ok(&["wait", "--for=condition=Established", "--timeout=10s", "crd/widgets.example.com"], None);
    assert_eq!(out.trim(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met");
    assert_eq!(s.ok(&["apply", "-f", "-"], Some(&widget("w1", "{size: 3}"))).trim(), "widget.example.com/w1 created");

    let err = s.fails(&["apply", "-f", "-"], Some(&widget("w2", "{size: 0}")));
    assert!(err.contains("The Widget \"w2\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"), "{err}");
    let err = s.fails(&["apply", "-f", "-"], Some(&widget("w3", "{size: 2, mode: turbo}")));
    assert!(err.contains("spec.mode: Unsupported value: \"turbo\": supported values: \"fast\", \"slow\""), "{err}");
    let err = s.fails(&["apply", "-f", "-"], Some(&widget("w4", "{size: 2, foo: 1}")));
    assert!(err.contains("Error from server (BadRequest): error when creating \"STDIN\": strict decoding error: unknown field \"spec.foo\""), "{err}");
    let err = s.fails(&["apply", "--server-side", "-f", "-"], Some(&widget("w4", "{size: 2, foo: 1}")));
    assert!(err.contains(".spec.foo: field not declared in schema"), "{err}");
}

#[test]
fn unknown_kind_reads_no_matches() {
    let s = TestServer::start();
    let err = s.fails(
        &["apply", "-f", "-"],
        Some("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: GitRepository\nmetadata: {name: x}\n"),
    );
    assert!(
        err.contains("no matches for kind \"GitRepository\" in version \"source.toolkit.fluxcd.io/v1beta2\""),
        "{err}"
    );
}

#[test]
fn invalid_names_are_rejected_with_the_real_message() {
    let s = TestServer::start();
    let err = s.fails(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_Name}\n"));
    assert!(
        err.contains("The Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
        "{err}"
    );
}

#[test]
fn wrong_types_in_builtins_are_bad_requests() {
    let s = TestServer::start();
    let bad = DEPLOY.replace("replicas: 2", "replicas: two");
    let err = s.fails(&["apply", "-f", "-"], Some(&bad));
    assert!(
        err.contains("Error from server (BadRequest): error when creating \"STDIN\": Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
        "{err}"
    );
    let bad_env = DEPLOY.replace("ports: [{containerPort: 80}]", "env: [{name: GREETING, value: 5}]");
    let err = s.fails(&["apply", "-f", "-"], Some(&bad_env));
    assert!(err.contains("json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string"), "{err}");
}

#[test]
fn dry_run_server_validates_and_stores_nothing() {
    let s = TestServer::start();
    assert_eq!(
        s.ok(&["apply", "--dry-run=server", "-f", "-"], Some(DEPLOY)).trim(),
        "deployment.apps/web created (server dry run)"
    );
    let err = s.fails(&["get", "deploy", "web"], None);
    assert!(err.contains("deployments.apps \"web\" not found"), "{err}");
}

#[test]
fn wait_for_delete_returns_when_the_finalizer_is_removed() {
    let s = TestServer::start();
    s.ok(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\ndata: {a: b}\n"),
    );
    assert_eq!(
        s.ok(&["delete", "configmap", "held", "--wait=false"], None).trim(),
        "configmap \"held\" deleted from default namespace"
    );
    // Still there, marked for deletion.
    let ts = s.ok(&["get", "cm", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"], None);
    assert!(!ts.is_empty());
    std::thread::scope(|scope| {
        // kubectl wait starts watching while the finalizer still holds the object.
        let waiter = scope.spawn(|| s.kubectl(&["wait", "--for=delete", "--timeout=20s", "cm/held"], None));
        std::thread::sleep(std::time::Duration::from_millis(500));
        s.ok(&["patch", "cm", "held", "--type=merge", "-p", "{\"metadata\":{\"finalizers\":null}}"], None);
        let out = waiter.join().expect("waiter thread");
        assert!(out.0.status.success(), "kubectl wait failed: {}", out.stderr());
        assert_eq!(out.stdout().trim(), "configmap/held condition met");
    });
    let err = s.fails(&["get", "cm", "held"], None);
    assert!(err.contains("configmaps \"held\" not found"), "{err}");
}

#[test]
fn typed_create_commands_get_a_clear_unsupported_error() {
    let s = TestServer::start();
    let err = s.fails(&["create", "namespace", "team-a"], None);
    assert!(err.contains("the simulator does not decode protobuf request bodies"), "{err}");
    // The file-based form works.
    assert_eq!(
        s.ok(&["create", "-f", "-"], Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")).trim(),
        "namespace/team-a created"
    );
}

#[test]
fn label_and_scale_patch_the_object() {
    let s = TestServer::start();
    s.ok(&["apply", "-f", "-"], Some(DEPLOY));
    assert_eq!(s.ok(&["label", "deploy", "web", "tier=frontend"], None).trim(), "deployment.apps/web labeled");
    assert_eq!(s.ok(&["scale", "deploy", "web", "--replicas=5"], None).trim(), "deployment.apps/web scaled");
    let got = s.ok(&["get", "deploy", "-l", "tier=frontend", "-o", "jsonpath={.items[*].spec.replicas}"], None);
    assert_eq!(got, "5");
}

#[test]
fn cel_rules_are_reported_as_not_evaluated() {
    let s = TestServer::start();
    let crd = CRD.replace(
        "              size: {type: integer, minimum: 1}",
        "              size: {type: integer, minimum: 1, x-kubernetes-validations: [{rule: 'self < 100', message: too big}]}",
    );
    let out = s.kubectl(&["apply", "-f", "-"], Some(&crd));
    assert!(out.0.status.success(), "{}", out.stderr());
    assert!(
        out.stderr().contains("Warning: idp-harness simulator: widgets.example.com version v1: x-kubernetes-validations (CEL) at spec.size: not evaluated"),
        "{}",
        out.stderr()
    );
    // The stated limitation: the rule is not enforced.
    s.ok(&["apply", "-f", "-"], Some(&widget("big", "{size: 500}")));
}

#[test]
fn kubectl_over_tls_with_a_bearer_token() {
    let s = TestServer::start_with(sim::apiserver::ApiServerConfig {
        tls: true,
        token: Some("t0ken".into()),
        ..Default::default()
    });
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let out = s.ok(&["get", "namespace", "default", "-o", "jsonpath={.metadata.name}"], None);
    assert_eq!(out, "default");
    // Without the token the server refuses.
    let err = s.fails(&["get", "namespaces", "--token=wrong"], None);
    assert!(err.contains("Unauthorized"), "{err}");
}
