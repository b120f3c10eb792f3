//! Gatekeeper admission throughput: 50 constraints (over five templates, Rego v0 and v1, with
//! parameters and namespace matching) admitting Pod reviews on one core, through `PolicySet`
//! directly and through the API server's admission chain (in-process creates with the webhook
//! installed). Prints figures; asserts nothing about time.

#[macro_use]
#[path = "common/figures.rs"]
mod figures;

use std::time::Instant;

use serde_json::{json, Value};
use sim::gatekeeper::{ingest, Constraint, PolicySet};

fn template(kind: &str, rego: &str, v1: bool) -> Value {
    let target = if v1 {
        json!({"target": "admission.k8s.gatekeeper.sh", "code": [{"engine": "Rego", "source": {"version": "v1", "rego": rego}}]})
    } else {
        json!({"target": "admission.k8s.gatekeeper.sh", "rego": rego})
    };
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {"crd": {"spec": {"names": {"kind": kind}}}, "targets": [target]}
    })
}

const REPOS: &str = r#"package benchrepos
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  ok := [g | r = input.parameters.repos[_]; g = startswith(c.image, r)]
  not any(ok)
  msg := sprintf("container <%v> image <%v> not allowed", [c.name, c.image])
}"#;
const LABELS: &str = r#"package benchlabels
violation[{"msg": msg}] {
  required := {l | l := input.parameters.labels[_]}
  provided := {l | input.review.object.metadata.labels[l]}
  missing := required - provided
  count(missing) > 0
  msg := sprintf("missing labels %v", [missing])
}"#;
const LIMITS: &str = r#"package benchlimits
import rego.v1
violation contains {"msg": msg} if {
  some c in input.review.object.spec.containers
  not c.resources.limits.memory
  msg := sprintf("container <%v> has no memory limit", [c.name])
}"#;
const PRIVILEGED: &str = r#"package benchpriv
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  c.securityContext.privileged
  msg := sprintf("privileged container <%v>", [c.name])
}"#;
const TAGS: &str = r#"package benchtags
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  endswith(c.image, ":latest")
  msg := sprintf("container <%v> uses latest", [c.name])
}"#;

fn main() {
    let templates = [
        ("BenchRepos", REPOS, false, json!({"repos": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/"]})),
        ("BenchLabels", LABELS, false, json!({"labels": ["app", "team"]})),
        ("BenchLimits", LIMITS, true, json!({})),
        ("BenchPriv", PRIVILEGED, false, json!({})),
        ("BenchTags", TAGS, false, json!({})),
    ];
    let mut set = PolicySet::new();
    for (kind, rego, v1, _) in &templates {
        let ing = ingest(&template(kind, rego, *v1));
        let compiled = ing.compiled.unwrap_or_else(|| panic!("{kind} compiles: {:?}", ing.errors));
        set.upsert_template(compiled).expect("prepared");
    }
    for i in 0..50 {
        let (kind, _, _, params) = &templates[i % templates.len()];
        let c = json!({
            "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
            "metadata": {"name": format!("c{i}")},
            "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "namespaces": [format!("team-{}", i % 10)]},
                     "parameters": params}
        });
        set.upsert_constraint(Constraint::from_value(&c).expect("constraint"));
    }
    let review = |i: usize| {
        json!({
            "uid": format!("u{i}"), "operation": "CREATE", "name": format!("p{i}"), "namespace": format!("team-{}", i % 10),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{i}"), "namespace": format!("team-{}", i % 10), "labels": {"app": "x"}},
                       "spec": {"containers": [{"name": "c", "image": if i % 2 == 0 { "nginx:latest" } else { "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1" }}]}},
            "oldObject": null, "dryRun": false
        })
    };
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-0"}});
    let n = 5_000;
    let reviews: Vec<Value> = (0..n).map(review).collect();
    let t = Instant::now();
    let mut denied = 0;
    for r in &reviews {
        if set.admit(r, Some(&ns)).denial_message().is_some() {
            denied += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    figure!(
        "gatekeeper",
        "gatekeeper admission, 50 constraints, one core: {:.0} reviews/s ({n} reviews, {denied} denied, {:.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}
