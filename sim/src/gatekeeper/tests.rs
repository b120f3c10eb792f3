//! Tests of the Gatekeeper policy core, with templates written for these tests.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::constraint::{glob_matches, webhook_skips};
use super::eval::{admission_review, audit_object, audit_review, audit_status, evaluate};
use super::template::{ingest, CREATE_ERROR, INGEST_ERROR};
use super::*;

// An allowed-registries policy in Rego v0 that uses the deprecated `any`.
const REPOS_V0: &str = r#"
package simrepos

violation[{"msg": msg, "details": {"image": c.image}}] {
  c := input.review.object.spec.containers[_]
  prefixes := input.parameters.registries
  matched := [ok | p = prefixes[_]; ok = startswith(c.image, p)]
  not any(matched)
  msg := sprintf("image <%v> is not from an approved registry", [c.image])
}
"#;

// The same idea in Rego v1, reading the pod template of workload controllers.
const REPOS_V1_TEMPLATE: &str = r#"
package simrepostemplate

violation contains {"msg": msg} if {
  some c in input.review.object.spec.template.spec.containers
  not approved(c.image)
  msg := sprintf("image %v of %v %v is not approved", [c.image, input.review.kind.kind, input.review.name])
}

approved(image) if {
  some p in input.parameters.registries
  startswith(image, p)
}
"#;

// Defect #5 of the article: reads `spec.containers` although it matches workload kinds.
const REPOS_DEFECT: &str = r#"
package simreposdefect

violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  not startswith(c.image, "registry.corp/")
  msg := sprintf("image %v not allowed", [c.image])
}
"#;

const BROKEN: &str = "package simbroken\n\nviolation[{\"msg\": msg}] {\n  msg := \n}\n";

fn template(kind: &str, rego: &str) -> Value {
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {
            "crd": {"spec": {"names": {"kind": kind}, "validation": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"registries": {"type": "array", "items": {"type": "string"}}}
            }}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]
        }
    })
}

fn template_v1(kind: &str, rego: &str) -> Value {
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {
            "crd": {"spec": {"names": {"kind": kind}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh",
                         "code": [{"engine": "Rego", "source": {"rego": rego, "version": "v1"}}]}]
        }
    })
}

fn compiled(t: &Value) -> CompiledTemplate {
    let ing = ingest(t);
    assert!(ing.errors.is_empty(), "{:?}", ing.errors);
    ing.compiled.unwrap()
}

fn constraint(kind: &str, name: &str, spec: Value) -> Constraint {
    Constraint::from_value(&json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind, "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

fn pod(ns: &str, name: &str, image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": image}]}})
}

fn deployment(ns: &str, name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
}

fn request(op: &str, obj: &Value) -> Value {
    let (group, version) = eval::group_version(obj);
    let kind = obj["kind"].as_str().unwrap();
    json!({
        "uid": "u1", "kind": {"group": group, "version": version, "kind": kind},
        "name": obj["metadata"]["name"], "namespace": obj["metadata"].get("namespace").cloned().unwrap_or(json!("")),
        "operation": op, "userInfo": {"username": "admin"}, "object": obj, "oldObject": null, "dryRun": false
    })
}

fn ns_obj(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn repos_set(action: &str) -> PolicySet {
    let mut set = PolicySet::new();
    set.upsert_template(compiled(&template("SimRepos", REPOS_V0))).unwrap();
    set.upsert_constraint(constraint(
        "SimRepos",
        "only-corp",
        json!({"enforcementAction": action, "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
               "parameters": {"registries": ["registry.corp/"]}}),
    ));
    set
}

fn target<'a>(group: &'a str, kind: &'a str, ns: &'a str, name: &'a str, obj: Option<&'a Value>) -> MatchTarget<'a> {
    MatchTarget { group, kind, namespace: ns, name, object: obj, namespace_object: None }
}

// ---- templates ----

#[test]
fn template_v0_with_any_compiles_and_denies() {
    let set = repos_set("deny");
    let bad = set.admit(&request("CREATE", &pod("team", "p", "docker.io/nginx")), Some(&ns_obj("team", json!({}))));
    assert_eq!(bad.denials, vec!["[only-corp] image <docker.io/nginx> is not from an approved registry"]);
    let v = bad.to_verdict();
    let d = v.denial.unwrap();
    assert_eq!(d.code, 403);
    assert_eq!(
        d.message,
        "admission webhook \"validation.gatekeeper.sh\" denied the request: [only-corp] image <docker.io/nginx> is \
         not from an approved registry"
    );
    let good =
        set.admit(&request("CREATE", &pod("team", "p", "registry.corp/nginx")), Some(&ns_obj("team", json!({}))));
    assert!(good.denials.is_empty());
    assert!(good.to_verdict().denial.is_none());
    assert_eq!(good.results.len(), 1, "the constraint matched and ran");
}

#[test]
fn violation_details_are_kept() {
    let t = compiled(&template("SimRepos", REPOS_V0));
    let c = constraint("SimRepos", "c", json!({"parameters": {"registries": ["x/"]}}));
    let v = evaluate(&t, &c, &audit_review(&pod("a", "p", "y/img"))).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].details, Some(json!({"image": "y/img"})));
}

#[test]
fn template_v1_compiles_only_as_v1() {
    let t = compiled(&template_v1("SimReposTemplate", REPOS_V1_TEMPLATE));
    assert_eq!(t.package.as_deref(), Some("simrepostemplate"));
    // The same text as legacy `rego` is Rego v0, where `contains`/`if` are not keywords.
    let ing = ingest(&template("SimReposTemplate", REPOS_V1_TEMPLATE));
    assert!(!ing.created());
    assert_eq!(ing.errors[0].code, INGEST_ERROR);
}

#[test]
fn a_compiled_template_is_reused_only_for_the_same_kind_and_sources() {
    // Compiles are kept process-wide: each change of kind, source, libs or Rego version is
    // compiled again, and the same inputs give the same answer again.
    let ok = |t: &Value| ingest(t).created();
    assert!(ok(&template("SimSame", REPOS_V0)));
    assert!(!ok(&template("SimSame", BROKEN)));
    assert!(ok(&template("SimSame", REPOS_V0)));
    assert!(!ok(&template("SimSame", BROKEN)));
    assert_eq!(compiled(&template("SimOther", REPOS_V0)).kind, "SimOther");
    let mut with_lib = template("SimSame", REPOS_V0);
    with_lib["spec"]["targets"][0]["libs"] = json!(["package lib.broken\n\nx := \n"]);
    assert!(!ok(&with_lib), "a broken lib is compiled, not taken from the template without it");
    assert!(!ok(&template_v1("SimSame", REPOS_V0)), "the same text as Rego v1");
}

#[test]
fn v0_syntax_is_rejected_as_v1() {
    let ing = ingest(&template_v1("SimRepos", REPOS_V0));
    assert!(!ing.created(), "v0 rule bodies without `if` are errors in v1");
}

#[test]
fn compile_error_is_status_data_not_rejection() {
    let ing = ingest(&template("SimBroken", BROKEN));
    assert!(ing.template.is_some(), "the template parsed");
    assert!(!ing.created());
    let status = ing.status("gatekeeper-controller-manager-0", 3);
    assert_eq!(status["created"], json!(false));
    let err = &status["byPod"][0]["errors"][0];
    assert_eq!(err["code"], json!("ingest_error"));
    let msg = err["message"].as_str().unwrap();
    assert!(msg.starts_with("Could not ingest Rego: 1 error occurred: "), "{msg}");
    assert!(msg.contains("SimBroken/template.rego:"), "points at the file: {msg}");
    assert_eq!(status["byPod"][0]["observedGeneration"], json!(3));
    assert_eq!(status["byPod"][0]["id"], json!("gatekeeper-controller-manager-0"));
}

#[test]
fn successful_ingest_status_is_created_without_errors() {
    let ing = ingest(&template("SimRepos", REPOS_V0));
    let status = ing.status("pod-0", 1);
    assert_eq!(status["created"], json!(true));
    assert!(status["byPod"][0].get("errors").is_none());
}

#[test]
fn unsafe_variable_is_an_ingest_error() {
    let rego = "package simunsafe\nviolation[{\"msg\": msg}] {\n  x == 1\n  msg := \"m\"\n}\n";
    let ing = ingest(&template("SimUnsafe", rego));
    assert!(!ing.created());
    assert_eq!(ing.errors[0].code, INGEST_ERROR);
}

#[test]
fn missing_violation_rule_is_an_ingest_error() {
    let ing = ingest(&template("SimNoRule", "package simnorule\ndeny[msg] { msg := \"x\" }\n"));
    assert!(!ing.created());
    assert!(ing.errors[0].message.contains("no violation rule"), "{}", ing.errors[0].message);
}

#[test]
fn name_must_equal_lowercased_kind() {
    let mut t = template("SimRepos", REPOS_V0);
    t["metadata"]["name"] = json!("allowed-repos");
    let err = ConstraintTemplate::from_value(&t).unwrap_err();
    assert_eq!(err.code, CREATE_ERROR);
    assert_eq!(
        err.cause,
        "invalid ConstraintTemplate: the ConstraintTemplate's name \"allowed-repos\" is not equal to the lowercase of \
         CRD's Kind: \"simrepos\""
    );
    assert!(err.message.starts_with("Could not create CRD: "));
    let ing = ingest(&t);
    assert!(ing.template.is_none() && !ing.created());
}

#[test]
fn missing_kind_and_bad_targets_are_create_errors() {
    let mut t = template("SimRepos", REPOS_V0);
    t["spec"]["crd"]["spec"]["names"] = json!({});
    assert!(ConstraintTemplate::from_value(&t).unwrap_err().cause.contains("does not specify CRD Kind"));
    let mut t = template("SimRepos", REPOS_V0);
    t["spec"]["targets"][0]["target"] = json!("other.target");
    assert!(ConstraintTemplate::from_value(&t).unwrap_err().cause.contains("\"other.target\" not recognized"));
    let mut t = template("SimRepos", REPOS_V0);
    t["spec"]["targets"] = json!([]);
    assert!(ConstraintTemplate::from_value(&t)
        .unwrap_err()
        .cause
        .contains("expected exactly 1 item in targets, got 0"));
}

#[test]
fn libs_are_compiled_with_the_template() {
    let main = "package simlib\nimport data.lib.helpers\nviolation[{\"msg\": m}] { helpers.bad(input.review.object); m := \"bad\" }\n";
    let lib = "package lib.helpers\nbad(o) { o.metadata.name == \"bad\" }\n";
    let mut t = template("SimLib", main);
    t["spec"]["targets"][0]["libs"] = json!([lib]);
    let c = compiled(&t);
    let k = constraint("SimLib", "c", json!({}));
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "namespace": "a"}});
    assert_eq!(evaluate(&c, &k, &audit_review(&obj)).unwrap().len(), 1);
    let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good", "namespace": "a"}});
    assert!(evaluate(&c, &k, &audit_review(&ok)).unwrap().is_empty());
}

#[test]
fn constraint_crd_shape() {
    let t = ConstraintTemplate::from_value(&template("SimRepos", REPOS_V0)).unwrap();
    let crd = t.constraint_crd();
    assert_eq!(crd["metadata"]["name"], json!("simrepos.constraints.gatekeeper.sh"));
    assert_eq!(crd["spec"]["group"], json!("constraints.gatekeeper.sh"));
    assert_eq!(crd["spec"]["scope"], json!("Cluster"));
    assert_eq!(crd["spec"]["names"]["kind"], json!("SimRepos"));
    assert_eq!(crd["spec"]["names"]["plural"], json!("simrepos"));
    let versions: Vec<_> = crd["spec"]["versions"].as_array().unwrap().iter().map(|v| v["name"].clone()).collect();
    assert_eq!(versions, vec![json!("v1beta1"), json!("v1alpha1")]);
    assert_eq!(crd["spec"]["versions"][0]["storage"], json!(true));
    assert_eq!(crd["spec"]["versions"][1]["storage"], json!(false));
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["parameters"]["properties"]["registries"]["type"], json!("array"));
    assert!(spec["match"]["properties"]["kinds"].is_object());
    assert_eq!(spec["enforcementAction"]["type"], json!("string"));
    let status = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
    assert_eq!(status["x-kubernetes-preserve-unknown-fields"], json!(true));
    assert_eq!(crd["spec"]["versions"][0]["subresources"], json!({"status": {}}));
}

#[test]
fn v1beta1_template_parameters_are_legacy_schema() {
    let mut t = template("SimRepos", REPOS_V0);
    t["apiVersion"] = json!("templates.gatekeeper.sh/v1beta1");
    let t = ConstraintTemplate::from_value(&t).unwrap();
    assert!(t.legacy_schema);
    let crd = t.constraint_crd();
    let p = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["parameters"];
    assert_eq!(p["x-kubernetes-preserve-unknown-fields"], json!(true));
    let v1 = ConstraintTemplate::from_value(&template("SimRepos", REPOS_V0)).unwrap();
    assert!(!v1.legacy_schema);
}

// ---- deprecated builtins ----

fn eval_expr(expr: &str) -> Vec<Violation> {
    let rego = format!("package simexpr\nviolation[{{\"msg\": \"hit\"}}] {{ {expr} }}\n");
    let t = compiled(&template("SimExpr", &rego));
    evaluate(&t, &constraint("SimExpr", "c", json!({})), &json!({})).unwrap()
}

#[test]
fn any_and_all_have_opa_semantics() {
    assert_eq!(eval_expr("any([false, true])").len(), 1);
    assert!(eval_expr("any([false, false])").is_empty());
    assert!(eval_expr("any([])").is_empty(), "any of nothing is false");
    assert_eq!(eval_expr("all([])").len(), 1, "all of nothing is true");
    assert!(eval_expr("all([true, false])").is_empty());
    assert_eq!(eval_expr("all({true})").len(), 1);
    assert!(eval_expr("any([1, \"true\"])").is_empty(), "only the boolean true counts");
}

#[test]
fn any_on_a_non_collection_is_an_evaluation_error() {
    let rego = "package simexpr\nviolation[{\"msg\": \"hit\"}] { any(input.review.x) }\n";
    let t = compiled(&template("SimExpr", rego));
    let err = evaluate(&t, &constraint("SimExpr", "c", json!({})), &json!({"x": 3})).unwrap_err();
    assert!(err.to_string().contains("any"), "{err}");
}

// ---- matching ----

#[test]
fn kinds_group_must_match_exactly() {
    let c = constraint("K", "c", json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["Deployment"]}]}}));
    assert!(!c.matches(&target("apps", "Deployment", "a", "d", None)).unwrap(), "Deployment is in apps, not core");
    let c = constraint("K", "c", json!({"match": {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]}}));
    assert!(c.matches(&target("apps", "Deployment", "a", "d", None)).unwrap());
    assert!(!c.matches(&target("", "Pod", "a", "p", None)).unwrap());
    let c = constraint("K", "c", json!({"match": {"kinds": [{"apiGroups": ["*"], "kinds": ["Pod"]}]}}));
    assert!(c.matches(&target("", "Pod", "a", "p", None)).unwrap());
    let c = constraint("K", "c", json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["*"]}]}}));
    assert!(c.matches(&target("", "Service", "a", "s", None)).unwrap());
    assert!(!c.matches(&target("batch", "Job", "a", "j", None)).unwrap());
    let c = constraint("K", "c", json!({"match": {}}));
    assert!(c.matches(&target("batch", "Job", "a", "j", None)).unwrap(), "no kinds matches all");
}

#[test]
fn only_kinds_a_constraint_may_match_are_evaluated() {
    let mut set = repos_set("deny");
    assert!(set.may_match_kind("", "Pod"));
    assert!(!set.may_match_kind("apps", "Deployment"), "the constraint names core Pods only");
    // The webhook's shortcut gives the answer a full evaluation gives.
    let deployment =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "a"}});
    assert!(set.admit(&request("CREATE", &deployment), None).to_verdict().denial.is_none());
    set.upsert_constraint(constraint("SimRepos", "everything", json!({"match": {}, "parameters": {"registries": []}})));
    assert!(set.may_match_kind("apps", "Deployment"), "a constraint without kinds matches every kind");
}

#[test]
fn scope() {
    let cluster = constraint("K", "c", json!({"match": {"scope": "Cluster"}}));
    let namespaced = constraint("K", "c", json!({"match": {"scope": "Namespaced"}}));
    let all = constraint("K", "c", json!({"match": {"scope": "*"}}));
    let pod = target("", "Pod", "a", "p", None);
    let node = target("", "Node", "", "n", None);
    let ns = target("", "Namespace", "", "a", None);
    assert!(!cluster.matches(&pod).unwrap() && cluster.matches(&node).unwrap() && cluster.matches(&ns).unwrap());
    assert!(
        namespaced.matches(&pod).unwrap() && !namespaced.matches(&node).unwrap() && !namespaced.matches(&ns).unwrap()
    );
    assert!(all.matches(&pod).unwrap() && all.matches(&node).unwrap());
}

#[test]
fn namespaces_and_globs() {
    let c = constraint("K", "c", json!({"match": {"namespaces": ["team-*", "*-prod", "exact"]}}));
    assert!(c.matches(&target("", "Pod", "team-a", "p", None)).unwrap());
    assert!(c.matches(&target("", "Pod", "web-prod", "p", None)).unwrap());
    assert!(c.matches(&target("", "Pod", "exact", "p", None)).unwrap());
    assert!(!c.matches(&target("", "Pod", "exactly", "p", None)).unwrap());
    assert!(!c.matches(&target("", "Pod", "other", "p", None)).unwrap());
    assert!(c.matches(&target("", "Node", "", "n", None)).unwrap(), "cluster-scoped objects are not filtered");
    assert!(c.matches(&target("", "Namespace", "", "team-x", None)).unwrap(), "a Namespace is its own namespace");
    assert!(!c.matches(&target("", "Namespace", "", "default", None)).unwrap());
    let e = constraint("K", "c", json!({"match": {"excludedNamespaces": ["kube-*", "*-system"]}}));
    assert!(!e.matches(&target("", "Pod", "kube-public", "p", None)).unwrap());
    assert!(!e.matches(&target("", "Pod", "flux-system", "p", None)).unwrap());
    assert!(e.matches(&target("", "Pod", "default", "p", None)).unwrap());
    assert!(!e.matches(&target("", "Namespace", "", "kube-node-lease", None)).unwrap());
}

#[test]
fn glob_forms() {
    assert!(glob_matches("*", "anything"));
    assert!(glob_matches("a*", "abc") && !glob_matches("a*", "bac"));
    assert!(glob_matches("*c", "abc") && !glob_matches("*c", "cab"));
    assert!(glob_matches("*b*", "abc") && !glob_matches("*x*", "abc"));
    assert!(glob_matches("abc", "abc") && !glob_matches("abc", "abcd"));
}

#[test]
fn label_selector_on_object() {
    let c = constraint("K", "c", json!({"match": {"labelSelector": {"matchLabels": {"app": "web"}}}}));
    let p = pod("a", "p", "img");
    assert!(c.matches(&target("", "Pod", "a", "p", Some(&p))).unwrap());
    let mut q = p.clone();
    q["metadata"]["labels"] = json!({"app": "db"});
    assert!(!c.matches(&target("", "Pod", "a", "p", Some(&q))).unwrap());
    let c = constraint(
        "K",
        "c",
        json!({"match": {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}}}),
    );
    assert!(!c.matches(&target("", "Pod", "a", "p", Some(&p))).unwrap());
    assert!(c.matches(&target("", "Pod", "a", "p", Some(&q))).unwrap());
}

#[test]
fn namespace_selector_needs_the_namespace() {
    let c = constraint("K", "c", json!({"match": {"namespaceSelector": {"matchLabels": {"env": "prod"}}}}));
    let prod = ns_obj("a", json!({"env": "prod"}));
    let dev = ns_obj("a", json!({"env": "dev"}));
    let mut t = target("", "Pod", "a", "p", None);
    t.namespace_object = Some(&prod);
    assert!(c.matches(&t).unwrap());
    t.namespace_object = Some(&dev);
    assert!(!c.matches(&t).unwrap());
    t.namespace_object = None;
    assert!(matches!(c.matches(&t), Err(ConstraintError::Match(_))));
    assert!(c.matches(&target("", "Node", "", "n", None)).unwrap(), "cluster-scoped objects match");
    assert!(c.matches(&target("", "Namespace", "", "a", Some(&prod))).unwrap(), "a Namespace's own labels");
    assert!(!c.matches(&target("", "Namespace", "", "a", Some(&dev))).unwrap());
}

#[test]
fn name_match() {
    let c = constraint("K", "c", json!({"match": {"name": "web-*"}}));
    assert!(c.matches(&target("", "Pod", "a", "web-1", None)).unwrap());
    assert!(!c.matches(&target("", "Pod", "a", "db-1", None)).unwrap());
    let gen = json!({"metadata": {"generateName": "web-"}});
    assert!(c.matches(&target("", "Pod", "a", "", Some(&gen))).unwrap(), "prefix globs match generateName");
    let exact = constraint("K", "c", json!({"match": {"name": "web"}}));
    assert!(!exact.matches(&target("", "Pod", "a", "web-1", None)).unwrap());
}

#[test]
fn criteria_are_anded() {
    let c = constraint(
        "K",
        "c",
        json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "namespaces": ["a"], "name": "p"}}),
    );
    assert!(c.matches(&target("", "Pod", "a", "p", None)).unwrap());
    assert!(!c.matches(&target("", "Pod", "b", "p", None)).unwrap());
    assert!(!c.matches(&target("", "Pod", "a", "q", None)).unwrap());
    assert!(!c.matches(&target("", "Service", "a", "p", None)).unwrap());
}

#[test]
fn invalid_constraints_are_rejected() {
    let bad = Constraint::from_value(
        &json!({"kind": "K", "metadata": {"name": "c"}, "spec": {"enforcementAction": "block"}}),
    );
    assert!(matches!(bad, Err(ConstraintError::Invalid(m)) if m.contains("\"block\"")));
    let bad = Constraint::from_value(&json!({"kind": "K", "metadata": {"name": "c"},
        "spec": {"match": {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}}}}));
    assert!(matches!(bad, Err(ConstraintError::Invalid(m)) if m.contains("not a valid label selector operator")));
    let default = constraint("K", "c", json!({}));
    assert_eq!(default.enforcement_action, EnforcementAction::Deny);
    assert_eq!(default.parameters, json!({}));
}

// ---- webhook exclusions ----

#[test]
fn webhook_exclusions() {
    let plain = ns_obj("a", json!({}));
    assert!(!webhook_skips("CREATE", "a", Some(&plain)));
    assert!(!webhook_skips("UPDATE", "a", Some(&plain)));
    assert!(webhook_skips("DELETE", "a", Some(&plain)));
    assert!(webhook_skips("CONNECT", "a", Some(&plain)));
    assert!(webhook_skips("CREATE", "gatekeeper-system", None));
    let ignored = ns_obj("a", json!({"admission.gatekeeper.sh/ignore": "no-self-managing"}));
    assert!(webhook_skips("CREATE", "a", Some(&ignored)));

    let set = repos_set("deny");
    let req = request("CREATE", &pod("gatekeeper-system", "p", "docker.io/x"));
    let out = set.admit(&req, Some(&ns_obj("gatekeeper-system", json!({}))));
    assert!(out.skipped && out.denials.is_empty());
    let out = set.admit(&request("CREATE", &pod("a", "p", "docker.io/x")), Some(&ignored));
    assert!(out.skipped && out.to_verdict().denial.is_none());
    let out = set.admit(&request("DELETE", &pod("a", "p", "docker.io/x")), Some(&plain));
    assert!(out.skipped);
    let out = set.admit(&request("UPDATE", &pod("a", "p", "docker.io/x")), Some(&plain));
    assert_eq!(out.denials.len(), 1);
}

// ---- enforcement actions ----

#[test]
fn warn_admits_with_warnings() {
    let set = repos_set("warn");
    let out = set.admit(&request("CREATE", &pod("a", "p", "docker.io/x")), Some(&ns_obj("a", json!({}))));
    let v = out.to_verdict();
    assert!(v.denial.is_none());
    assert_eq!(v.warnings, vec!["[only-corp] image <docker.io/x> is not from an approved registry"]);
}

#[test]
fn dryrun_is_silent_at_admission_but_audited() {
    let set = repos_set("dryrun");
    let p = pod("a", "p", "docker.io/x");
    let out = set.admit(&request("CREATE", &p), Some(&ns_obj("a", json!({}))));
    assert_eq!(out.results[0].violations.len(), 1, "evaluated");
    let v = out.to_verdict();
    assert!(v.denial.is_none() && v.warnings.is_empty());
    let ns = ns_obj("a", json!({}));
    let audit = set.audit([(&p, Some(&ns))]);
    let (found, errors) = &audit[&("SimRepos".to_string(), "only-corp".to_string())];
    assert!(errors.is_empty());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].to_value()["enforcementAction"], json!("dryrun"));
}

#[test]
fn scoped_uses_the_enforcement_points() {
    let mut set = PolicySet::new();
    set.upsert_template(compiled(&template("SimRepos", REPOS_V0))).unwrap();
    set.upsert_constraint(constraint(
        "SimRepos",
        "scoped",
        json!({"enforcementAction": "scoped",
               "scopedEnforcementActions": [
                   {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
                   {"action": "deny", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]}],
               "parameters": {"registries": ["ok/"]}}),
    ));
    let p = pod("a", "p", "bad/x");
    let ns = ns_obj("a", json!({}));
    let v = set.admit(&request("CREATE", &p), Some(&ns)).to_verdict();
    assert!(v.denial.is_none(), "deny applies only to audit");
    assert_eq!(v.warnings.len(), 1);
    let audit = set.audit([(&p, Some(&ns))]);
    let entry = audit[&("SimRepos".to_string(), "scoped".to_string())].0[0].to_value();
    assert_eq!(entry["enforcementAction"], json!("scoped"));
    assert_eq!(entry["enforcementActions"], json!(["deny"]));

    let c = constraint(
        "K",
        "c",
        json!({"enforcementAction": "scoped",
        "scopedEnforcementActions": [{"action": "deny", "enforcementPoints": [{"name": "*"}]},
                                     {"action": "warn", "enforcementPoints": [{"name": "*"}]}]}),
    );
    assert_eq!(c.actions_for(WEBHOOK_ENFORCEMENT_POINT), vec![EnforcementAction::Deny, EnforcementAction::Warn]);
    let none = constraint("K", "c", json!({"enforcementAction": "scoped"}));
    assert!(none.actions_for(AUDIT_ENFORCEMENT_POINT).is_empty());
}

#[test]
fn several_denials_join_with_newlines_in_constraint_order() {
    let mut set = repos_set("deny");
    set.upsert_constraint(constraint(
        "SimRepos",
        "also-mirror",
        json!({"parameters": {"registries": ["mirror.corp/"]}}),
    ));
    let out = set.admit(&request("CREATE", &pod("a", "p", "docker.io/x")), Some(&ns_obj("a", json!({}))));
    assert_eq!(
        out.denial_message().unwrap(),
        "[also-mirror] image <docker.io/x> is not from an approved registry\n[only-corp] image <docker.io/x> is not \
         from an approved registry"
    );
}

#[test]
fn errors_fail_open() {
    let mut set = repos_set("deny");
    set.upsert_constraint(constraint(
        "SimRepos",
        "needs-ns",
        json!({"match": {"namespaceSelector": {"matchLabels": {"x": "y"}}}, "parameters": {"registries": []}}),
    ));
    let out = set.admit(&request("CREATE", &pod("a", "p", "docker.io/x")), None);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert!(!out.denials.is_empty(), "the other constraint still evaluated");
    let v = out.to_verdict();
    assert!(v.denial.is_none() && v.warnings.is_empty(), "failurePolicy Ignore admits");
}

#[test]
fn constraints_without_template_are_not_evaluated() {
    let mut set = repos_set("deny");
    set.remove_template("SimRepos");
    let out = set.admit(&request("CREATE", &pod("a", "p", "docker.io/x")), Some(&ns_obj("a", json!({}))));
    assert!(out.results.is_empty() && out.denials.is_empty());
}

// ---- the article's defect #5 ----

fn workload_constraint(kind: &str) -> Constraint {
    constraint(
        kind,
        "workloads",
        json!({"match": {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet", "DaemonSet"]}]},
               "parameters": {"registries": ["registry.corp/"]}}),
    )
}

#[test]
fn defect_5_spec_containers_never_fires_for_a_deployment() {
    let mut set = PolicySet::new();
    set.upsert_template(compiled(&template("SimReposDefect", REPOS_DEFECT))).unwrap();
    set.upsert_constraint(workload_constraint("SimReposDefect"));
    let ns = ns_obj("a", json!({}));
    let d = deployment("a", "web", "docker.io/evil");
    let out = set.admit(&request("CREATE", &d), Some(&ns));
    assert_eq!(out.results.len(), 1, "the constraint matched the Deployment");
    assert!(out.results[0].violations.is_empty() && out.to_verdict().denial.is_none());
    let audit = set.audit([(&d, Some(&ns))]);
    let (found, _) = &audit[&("SimReposDefect".to_string(), "workloads".to_string())];
    assert_eq!(audit_status(found, "2026-01-01T00:00:00Z")["totalViolations"], json!(0));
    // A Pod with the same image is not matched by the kinds at all.
    let out = set.admit(&request("CREATE", &pod("a", "p", "docker.io/evil")), Some(&ns));
    assert!(out.results.is_empty());
}

#[test]
fn defect_5_pod_template_variant_fires() {
    let mut set = PolicySet::new();
    set.upsert_template(compiled(&template_v1("SimReposTemplate", REPOS_V1_TEMPLATE))).unwrap();
    set.upsert_constraint(workload_constraint("SimReposTemplate"));
    let ns = ns_obj("a", json!({}));
    let out = set.admit(&request("CREATE", &deployment("a", "web", "docker.io/evil")), Some(&ns));
    assert_eq!(out.denial_message().unwrap(), "[workloads] image docker.io/evil of Deployment web is not approved");
    let ok = set.admit(&request("CREATE", &deployment("a", "web", "registry.corp/app")), Some(&ns));
    assert!(ok.denial_message().is_none());
}

// ---- reviews, audit, inventory ----

#[test]
fn admission_review_adds_namespace_object_and_uses_old_object_on_delete() {
    let p = pod("a", "p", "i");
    let mut req = request("DELETE", &p);
    req["object"] = Value::Null;
    req["oldObject"] = p.clone();
    let ns = ns_obj("a", json!({}));
    let r = admission_review(&req, Some(&ns));
    assert_eq!(r["object"], p);
    assert_eq!(r["namespaceObject"], ns);
}

#[test]
fn audit_review_has_only_kind_object_name_namespace() {
    let d = deployment("a", "web", "x");
    let r = audit_review(&d);
    let mut keys: Vec<_> = r.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["kind", "name", "namespace", "object"]);
    assert_eq!(r["kind"], json!({"group": "apps", "version": "v1", "kind": "Deployment"}));
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}});
    assert!(audit_review(&node).get("namespace").is_none());
}

#[test]
fn audit_sees_no_operation_or_user() {
    let rego = "package simop\nviolation[{\"msg\": \"no op\"}] { not input.review.operation }\n";
    let t = compiled(&template("SimOp", rego));
    let c = constraint("SimOp", "c", json!({}));
    let p = pod("a", "p", "i");
    assert_eq!(audit_object(&t, &c, &p, None).unwrap().len(), 1);
    let v = evaluate(&t, &c, &admission_review(&request("CREATE", &p), None)).unwrap();
    assert!(v.is_empty(), "admission reviews carry the operation");
}

#[test]
fn audit_status_shape_and_limit() {
    let t = compiled(&template("SimRepos", REPOS_V0));
    let c = constraint("SimRepos", "c", json!({"parameters": {"registries": ["ok/"]}}));
    let mut all = Vec::new();
    for i in 0..25 {
        all.extend(audit_object(&t, &c, &pod("a", &format!("p{i}"), "bad/x"), None).unwrap());
    }
    let s = audit_status(&all, "2026-01-01T00:00:00Z");
    assert_eq!(s["totalViolations"], json!(25));
    assert_eq!(s["violations"].as_array().unwrap().len(), 20);
    assert_eq!(s["auditTimestamp"], json!("2026-01-01T00:00:00Z"));
    assert_eq!(
        s["violations"][0],
        json!({"enforcementAction": "deny", "group": "", "version": "v1", "kind": "Pod", "name": "p0",
               "namespace": "a", "message": "image <bad/x> is not from an approved registry"})
    );
}

#[test]
fn audit_respects_match() {
    let t = compiled(&template("SimRepos", REPOS_V0));
    let c = constraint(
        "SimRepos",
        "c",
        json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
        "excludedNamespaces": ["kube-*"]}, "parameters": {"registries": ["ok/"]}}),
    );
    assert!(audit_object(&t, &c, &pod("kube-system", "p", "bad/x"), None).unwrap().is_empty());
    assert_eq!(audit_object(&t, &c, &pod("apps", "p", "bad/x"), None).unwrap().len(), 1);
}

const UNIQUE_HOST: &str = r#"
package simuniquehost

violation[{"msg": msg}] {
  host := input.review.object.spec.rules[_].host
  other := data.inventory.namespace[ns][_]["Ingress"][name]
  other.spec.rules[_].host == host
  not same(ns, name)
  msg := sprintf("host %v is used by %v/%v", [host, ns, name])
}

same(ns, name) {
  ns == input.review.object.metadata.namespace
  name == input.review.object.metadata.name
}
"#;

fn ingress(ns: &str, name: &str, host: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns},
           "spec": {"rules": [{"host": host}]}})
}

#[test]
fn inventory_layout_and_use() {
    let mut inv = Inventory::new();
    let first = ingress("a", "one", "x.example");
    inv.insert(&first);
    inv.insert(&ns_obj("a", json!({})));
    let v = inv.to_value();
    assert_eq!(v["namespace"]["a"]["networking.k8s.io/v1"]["Ingress"]["one"], first);
    assert_eq!(v["cluster"]["v1"]["Namespace"]["a"]["metadata"]["name"], json!("a"));

    let mut set = PolicySet::new();
    set.upsert_template(compiled(&template("SimUniqueHost", UNIQUE_HOST))).unwrap();
    set.upsert_constraint(constraint("SimUniqueHost", "unique-host", json!({})));
    let ns = ns_obj("b", json!({}));
    let req = request("CREATE", &ingress("b", "two", "x.example"));
    assert!(set.admit(&req, Some(&ns)).denials.is_empty(), "empty inventory: nothing to collide with");
    assert!(set.set_inventory(inv.to_value()).is_empty());
    assert_eq!(set.admit(&req, Some(&ns)).denials, vec!["[unique-host] host x.example is used by a/one"]);
    // The object itself in the inventory does not collide with itself.
    let again = request("UPDATE", &first);
    assert!(set.admit(&again, Some(&ns_obj("a", json!({})))).denials.is_empty());
    inv.remove(&first);
    assert_eq!(inv.to_value()["namespace"], json!({}), "empty levels are pruned");
    set.set_inventory(inv.to_value());
    assert!(set.admit(&req, Some(&ns)).denials.is_empty());
}

#[test]
fn compiled_templates_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledTemplate>();
    assert_send_sync::<PolicySet>();
}

// ---- robustness ----

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z*\\-/]{0,8}".prop_map(Value::String),
        prop::sample::select(vec!["", "*", "apps", "Pod", "Cluster", "Namespaced", "deny", "warn", "scoped", "In"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "kinds",
                    "apiGroups",
                    "match",
                    "scope",
                    "namespaces",
                    "excludedNamespaces",
                    "labelSelector",
                    "namespaceSelector",
                    "matchLabels",
                    "matchExpressions",
                    "key",
                    "operator",
                    "values",
                    "name",
                    "enforcementAction",
                    "scopedEnforcementActions",
                    "action",
                    "enforcementPoints",
                    "parameters",
                    "registries",
                    "metadata",
                    "labels",
                    "spec",
                    "containers",
                    "image",
                ]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_constraints_and_requests_never_panic(
        spec in arb_json(), object in arb_json(), ns in arb_json(), op in "(CREATE|UPDATE|DELETE|X)",
        namespace in "[a-z\\-]{0,6}", group in "(|apps|\\*)", kind in "(Pod|Deployment|Namespace)",
    ) {
        let mut set = PolicySet::new();
        set.upsert_template(compiled(&template("SimRepos", REPOS_V0))).unwrap();
        let c = Constraint::from_value(&json!({"kind": "SimRepos", "metadata": {"name": "c"}, "spec": spec}));
        let constrained = c.is_ok();
        if let Ok(c) = c {
            set.upsert_constraint(c);
        }
        let req = json!({"kind": {"group": group, "version": "v1", "kind": kind}, "operation": op,
                         "namespace": namespace, "name": "n", "object": object, "oldObject": null});
        let out = set.admit(&req, Some(&ns));
        // Whatever happened, a skipped request carries no results and a constraint-less set
        // produces none.
        prop_assert!(!out.skipped || out.results.is_empty());
        prop_assert!(constrained || out.results.is_empty());
        let _ = out.to_verdict();
        let _ = set.audit([(&object, Some(&ns))]);
        let _ = ingest(&json!({"metadata": {"name": kind.to_lowercase()}, "spec": object}));
    }
}

#[test]
fn a_call_to_a_function_that_does_not_exist_is_an_ingest_error() {
    let rego = "package simunknown\nviolation[{\"msg\": m}] {\n  input.review.object.kind == \"Pod\"\n  not nosuch.check(input.review.object)\n  m := \"x\"\n}\n";
    let ing = ingest(&template("SimUnknown", rego));
    assert!(ing.compiled.is_none());
    let e = &ing.errors[0];
    assert_eq!(e.code, "ingest_error");
    assert_eq!(
        e.message,
        "Could not ingest Rego: 1 error occurred: SimUnknown/template.rego:4: rego_type_error: undefined function nosuch.check"
    );
}

#[test]
fn builtins_extensions_and_own_functions_are_not_unknown() {
    // Builtins (sprintf, regex.match, startswith), the deprecated `any` Gatekeeper still
    // accepts, and functions the template defines, called by name.
    let rego = r#"package simknown
allowed(image) { startswith(image, "ecr/") }
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  not allowed(c.image)
  not any([regex.match("^x", c.name)])
  msg := sprintf("image %v", [c.image])
}
"#;
    let ing = ingest(&template("SimKnown", rego));
    assert!(ing.errors.is_empty(), "{:?}", ing.errors);
    // Rego v1 with `contains` and `if`.
    let v1 = "package simknownvone\nviolation contains {\"msg\": m} if {\n  some c in input.review.object.spec.containers\n  endswith(c.image, \":latest\")\n  m := concat(\" \", [\"latest\", c.name])\n}\n";
    let ing = ingest(&template_v1("SimKnownVOne", v1));
    assert!(ing.errors.is_empty(), "{:?}", ing.errors);
}
