//! Gatekeeper on the simulated platform, driven by the real kubectl: templates become
//! constraint CRDs, constraints deny, warn or only audit, with Gatekeeper's wording; compile
//! errors land in the template status; the Config's sync list feeds `data.inventory`; exempt
//! namespaces; server-side dry runs are evaluated; deleting a template stops enforcement.

mod common;

use common::TestServer;
use serde_json::Value;
use sim::platform::Profile;

fn gatekeeper_only() -> Profile {
    Profile { gatekeeper: Some("3.20".into()), ..Profile::bare() }
}

const TEMPLATE: &str = common::ALLOWED_REPOS_TEMPLATE;

fn constraint(name: &str, action: &str) -> String {
    format!(
        r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata:
  name: {name}
spec:
  enforcementAction: {action}
  match:
    kinds:
      - apiGroups: [""]
        kinds: ["Pod"]
    excludedNamespaces: ["kube-*"]
  parameters:
    repos: ["123456789012.dkr.ecr.us-east-1.amazonaws.com/"]
"#
    )
}

const NGINX_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  containers:
    - name: nginx
      image: nginx:1.27
"#;

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

fn with_policy(action: &str) -> TestServer {
    let t = TestServer::platform(gatekeeper_only());
    t.ok(&["apply", "-f", "-"], Some(TEMPLATE));
    t.settle();
    t.ok(&["apply", "-f", "-"], Some(&constraint("only-ecr", action)));
    t.settle();
    t
}

#[test]
fn a_template_creates_its_constraint_crd_and_reports_created() {
    let t = TestServer::platform(gatekeeper_only());
    t.ok(&["apply", "-f", "-"], Some(TEMPLATE));
    t.settle();
    let crd = json(&t.ok(&["get", "crd", "k8sallowedrepos.constraints.gatekeeper.sh", "-o", "json"], None));
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(crd["metadata"]["ownerReferences"][0]["kind"], "ConstraintTemplate");
    let tmpl = json(&t.ok(&["get", "constrainttemplate", "k8sallowedrepos", "-o", "json"], None));
    assert_eq!(tmpl["status"]["created"], true);
    assert_eq!(tmpl["status"]["byPod"][0]["id"], "gatekeeper-controller-manager-0");
    assert!(tmpl["status"]["byPod"][0].get("errors").is_none());
}

#[test]
fn a_constraint_crd_changed_by_hand_is_put_back_at_the_templates_next_reconcile() {
    let t = TestServer::platform(gatekeeper_only());
    t.ok(&["apply", "-f", "-"], Some(TEMPLATE));
    t.settle();
    let crd = "k8sallowedrepos.constraints.gatekeeper.sh";
    let rv_of =
        |t: &TestServer| json(&t.ok(&["get", "crd", crd, "-o", "json"], None))["metadata"]["resourceVersion"].clone();
    // Reconciles that change nothing leave the CRD alone.
    let settled = rv_of(&t);
    t.ok(&["annotate", "constrainttemplate", "k8sallowedrepos", "note=one"], None);
    t.settle();
    assert_eq!(rv_of(&t), settled, "the same CRD is not written again");
    // A hand edit is undone when the template next reconciles.
    t.ok(&["label", "crd", crd, "gatekeeper.sh/constraint-"], None);
    t.ok(&["annotate", "constrainttemplate", "k8sallowedrepos", "note=two", "--overwrite"], None);
    t.settle();
    let back = json(&t.ok(&["get", "crd", crd, "-o", "json"], None));
    assert_eq!(back["metadata"]["labels"]["gatekeeper.sh/constraint"], "yes", "{back}");
}

#[test]
fn a_deny_constraint_rejects_with_gatekeepers_wording_and_reports_enforced() {
    let t = with_policy("deny");
    let c = json(&t.ok(&["get", "k8sallowedrepos", "only-ecr", "-o", "json"], None));
    let decisions = t.platform.as_ref().map(|p| p.decisions()).unwrap_or_default();
    assert_eq!(c["status"]["byPod"][0]["enforced"], true, "{c}\n{decisions:#?}");
    let err = t.fails(&["apply", "-f", "-"], Some(NGINX_POD));
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): error when creating \"STDIN\": admission webhook \"validation.gatekeeper.sh\" \
         denied the request: [only-ecr] container <nginx> has an invalid image repo <nginx:1.27>, allowed repos are \
         [\"123456789012.dkr.ecr.us-east-1.amazonaws.com/\"]"
    );
    // A server-side dry run is evaluated too.
    let err = t.fails(&["apply", "--dry-run=server", "-f", "-"], Some(NGINX_POD));
    assert!(err.contains("denied the request: [only-ecr]"), "{err}");
    // Allowed image: admitted.
    let ok = NGINX_POD.replace("nginx:1.27", "123456789012.dkr.ecr.us-east-1.amazonaws.com/nginx:1.27");
    t.ok(&["apply", "-f", "-"], Some(&ok));
}

#[test]
fn warn_admits_with_a_warning_and_dryrun_admits_silently_but_audit_counts() {
    let t = with_policy("warn");
    let out = t.kubectl(&["apply", "-f", "-"], Some(NGINX_POD));
    assert!(out.0.status.success(), "{}", out.stderr());
    assert!(
        out.stderr().contains("Warning: [only-ecr] container <nginx> has an invalid image repo <nginx:1.27>"),
        "{}",
        out.stderr()
    );

    let t = with_policy("dryrun");
    let out = t.kubectl(&["apply", "-f", "-"], Some(NGINX_POD));
    assert!(out.0.status.success(), "{}", out.stderr());
    assert!(!out.stderr().contains("Warning"), "{}", out.stderr());
    t.settle();
    let c = json(&t.ok(&["get", "k8sallowedrepos", "only-ecr", "-o", "json"], None));
    assert_eq!(c["status"]["totalViolations"], 1, "{c}");
    let v = &c["status"]["violations"][0];
    assert_eq!(v["enforcementAction"], "dryrun");
    assert_eq!(
        (v["kind"].as_str(), v["name"].as_str(), v["namespace"].as_str()),
        (Some("Pod"), Some("web"), Some("default"))
    );
    assert!(c["status"]["auditTimestamp"].is_string());
}

#[test]
fn exempt_namespaces_are_not_evaluated() {
    let t = with_policy("deny");
    // Excluded by the constraint's excludedNamespaces glob.
    t.ok(&["apply", "-f", "-"], Some(&NGINX_POD.replace("namespace: default", "namespace: kube-system")));
    // Namespaces labelled admission.gatekeeper.sh/ignore are skipped by the webhook.
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ignored\n  labels: {admission.gatekeeper.sh/ignore: \"yes\"}\n";
    t.ok(&["apply", "-f", "-"], Some(ns));
    t.ok(&["apply", "-f", "-"], Some(&NGINX_POD.replace("namespace: default", "namespace: ignored")));
    // gatekeeper-system itself is exempt.
    t.ok(&["apply", "-f", "-"], Some(&NGINX_POD.replace("namespace: default", "namespace: gatekeeper-system")));
}

#[test]
fn a_rego_compile_error_lands_in_the_template_status_not_at_admission() {
    let t = TestServer::platform(gatekeeper_only());
    let broken = TEMPLATE.replace("not any(satisfied)", "not any(satisfied");
    t.ok(&["apply", "-f", "-"], Some(&broken));
    t.settle();
    let tmpl = json(&t.ok(&["get", "constrainttemplate", "k8sallowedrepos", "-o", "json"], None));
    assert_eq!(tmpl["status"]["created"], false);
    let err = &tmpl["status"]["byPod"][0]["errors"][0];
    assert_eq!(err["code"], "ingest_error");
    assert!(err["message"].as_str().is_some_and(|m| m.starts_with("Could not ingest Rego: ")), "{err}");
    // No CRD was made, so a constraint of that kind has no matches.
    let out = t.fails(&["apply", "-f", "-"], Some(&constraint("only-ecr", "deny")));
    assert!(
        out.contains("no matches for kind \"K8sAllowedRepos\" in version \"constraints.gatekeeper.sh/v1beta1\""),
        "{out}"
    );
}

#[test]
fn a_template_whose_name_is_not_the_lowercased_kind_is_denied() {
    let t = TestServer::platform(gatekeeper_only());
    let bad = TEMPLATE.replace("name: k8sallowedrepos", "name: allowed-repos");
    let err = t.fails(&["apply", "-f", "-"], Some(&bad));
    assert!(err.contains("admission webhook \"validation.gatekeeper.sh\" denied the request:"), "{err}");
    assert!(err.contains("k8sallowedrepos"), "{err}");
}

#[test]
fn deleting_a_constraint_stops_its_enforcement() {
    let t = with_policy("deny");
    t.fails(&["apply", "-f", "-"], Some(NGINX_POD));
    t.ok(&["delete", "k8sallowedrepos", "only-ecr"], None);
    t.settle();
    t.ok(&["apply", "-f", "-"], Some(NGINX_POD));
}

#[test]
fn deleting_the_template_removes_the_crd_and_stops_enforcement() {
    let t = with_policy("deny");
    t.ok(&["delete", "constrainttemplate", "k8sallowedrepos"], None);
    t.settle();
    let out = t.kubectl(&["get", "crd", "k8sallowedrepos.constraints.gatekeeper.sh"], None);
    assert!(!out.0.status.success(), "the constraint CRD went with its template");
    t.ok(&["apply", "-f", "-"], Some(NGINX_POD));
}

const UNIQUE_HOST_TEMPLATE: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8suniqueingresshost
spec:
  crd:
    spec:
      names:
        kind: K8sUniqueIngressHost
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8suniqueingresshost
        violation[{"msg": msg}] {
          host := input.review.object.spec.rules[_].host
          other := data.inventory.namespace[ns][_]["Ingress"][name]
          not same(other, input.review.object)
          other.spec.rules[_].host == host
          msg := sprintf("ingress host conflicts with an existing ingress <%v/%v>", [ns, name])
        }
        same(a, b) {
          a.metadata.namespace == b.metadata.namespace
          a.metadata.name == b.metadata.name
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sUniqueIngressHost
metadata:
  name: unique-hosts
spec:
  match:
    kinds:
      - apiGroups: ["networking.k8s.io"]
        kinds: ["Ingress"]
"#;

fn ingress(name: &str, host: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}, namespace: default}}\n\
         spec:\n  rules:\n    - host: {host}\n"
    )
}

#[test]
fn the_config_sync_list_feeds_the_inventory() {
    let t = TestServer::platform(gatekeeper_only());
    t.ok(&["apply", "-f", "-"], Some(UNIQUE_HOST_TEMPLATE.split("---").next().expect("template")));
    t.settle();
    t.ok(&["apply", "-f", "-"], Some(UNIQUE_HOST_TEMPLATE));
    t.ok(&["apply", "-f", "-"], Some(&ingress("first", "shop.example.com")));
    t.settle();
    // Ingresses are not synced yet: the inventory is empty and a duplicate host is admitted.
    t.ok(&["apply", "-f", "-"], Some(&ingress("second", "shop.example.com")));
    t.ok(&["delete", "ingress", "second"], None);
    let config = "apiVersion: config.gatekeeper.sh/v1alpha1\nkind: Config\nmetadata: {name: config, namespace: gatekeeper-system}\n\
                  spec:\n  sync:\n    syncOnly:\n      - {group: networking.k8s.io, version: v1, kind: Ingress}\n";
    t.ok(&["apply", "-f", "-"], Some(config));
    t.settle();
    let err = t.fails(&["apply", "-f", "-"], Some(&ingress("second", "shop.example.com")));
    assert!(err.contains("[unique-hosts] ingress host conflicts with an existing ingress <default/first>"), "{err}");
    t.ok(&["apply", "-f", "-"], Some(&ingress("third", "other.example.com")));
}
