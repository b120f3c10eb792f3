//! What gator's constraint client does with templates, constraints and data, built on the
//! simulator's Gatekeeper core (`sim::gatekeeper`): adding a template (parse and compile its
//! Rego), adding a constraint (the checks the constraint framework makes, schema validation
//! against the template's constraint CRD, defaults), adding data (`data.inventory` and the
//! Namespace cache), and reviewing an object or an AdmissionRequest at gator's enforcement
//! point.
//!
//! The review is the one gator builds, not the webhook's: a plain object becomes an
//! AdmissionRequest with only `kind`, `name`, `namespace` and `object` set (no operation, no
//! user), an AdmissionReview file gives its request as is (on DELETE `object` is the old
//! object), and `namespaceObject` is null. Every enforcement action yields results (`deny`,
//! `warn` and `dryrun` alike); a `scoped` constraint yields results only when one of its
//! `scopedEnforcementActions` names `gator.gatekeeper.sh` or `*`. A match error becomes a
//! result ("unable to match constraints: …"), as the framework's autoreject does.
//!
//! This module evaluates through `sim::gatekeeper` and must not re-implement Rego evaluation or
//! `spec.match`; it must not read files or print.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sim::apiserver::schema::structural::{self, Structural};
use sim::gatekeeper::eval::group_version;
use sim::gatekeeper::{
    evaluate, CompiledTemplate, Constraint, ConstraintTemplate, EnforcementAction, Inventory, MatchTarget,
};

/// The enforcement point gator reviews at.
pub const GATOR_ENFORCEMENT_POINT: &str = "gator.gatekeeper.sh";
/// The target every result belongs to.
pub const TARGET: &str = sim::gatekeeper::ADMISSION_TARGET;
const TEMPLATES_GROUP: &str = "templates.gatekeeper.sh";
const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";

/// Why a template or constraint cannot be added. The texts follow the constraint framework's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    #[error("not a ConstraintTemplate")]
    NotATemplate,
    #[error("not a Constraint")]
    NotAConstraint,
    /// The template does not parse or its Rego does not compile.
    #[error("{0}")]
    Template(String),
    /// A template idp-harness cannot evaluate (no Rego source).
    #[error("{0}")]
    Unsupported(String),
    #[error("missing ConstraintTemplate: template {0:?} not found")]
    MissingTemplate(String),
    #[error("invalid Constraint: {0}")]
    InvalidConstraint(String),
    #[error("missing required field: spec.scopedEnforcementActions must be defined")]
    MissingScopedActions,
    /// The constraint does not satisfy its CRD's schema (what `invalid: true` tests expect).
    #[error("schema validation failed: {0}")]
    Schema(String),
}

/// One violation (or autoreject) as the constraint framework reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    pub msg: String,
    /// `{"details": <r.details or {}>}`.
    pub metadata: Value,
    /// The constraint as added (defaults applied, no status).
    pub constraint: Value,
    pub constraint_kind: String,
    pub constraint_name: String,
    /// `spec.enforcementAction` (`deny` when unset).
    pub enforcement_action: String,
    /// For `scoped` constraints: the actions at gator's enforcement point.
    pub scoped_actions: Vec<String>,
}

impl PolicyResult {
    /// Whether Gatekeeper's webhook would reject for it: the action, or one scoped action, is
    /// `deny` (gator test's exit status).
    pub fn denies(&self) -> bool {
        self.enforcement_action == "deny" || self.scoped_actions.iter().any(|a| a == "deny")
    }
}

/// Sorts results as gator's `Responses.Results()` does: by enforcement action, then message
/// (stable, so ties keep the constraint order).
pub fn sort_results<T>(results: &mut [T], key: impl Fn(&T) -> &PolicyResult) {
    results.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        (a.enforcement_action.as_str(), a.msg.as_str()).cmp(&(b.enforcement_action.as_str(), b.msg.as_str()))
    });
}

#[derive(Clone)]
struct TemplateEntry {
    compiled: CompiledTemplate,
    /// The constraint CRD's schema (for validation and defaults).
    schema: Structural,
}

#[derive(Clone)]
struct ConstraintEntry {
    parsed: Constraint,
    object: Value,
    action: String,
}

/// What is reviewed.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A plain object. `namespace` is the Namespace object gator attaches (`gator test` does,
    /// `gator verify` does not); without one, the Namespace is looked up in the data added.
    Object { object: &'a Value, namespace: Option<&'a Value> },
    /// The `request` of an AdmissionReview.
    Request(&'a Value),
}

/// Templates, constraints and data: one gator constraint client.
#[derive(Clone, Default)]
pub struct PolicyClient {
    templates: BTreeMap<String, TemplateEntry>,
    constraints: BTreeMap<(String, String), ConstraintEntry>,
    inventory: Inventory,
    has_data: bool,
    namespaces: BTreeMap<String, Value>,
    /// Templates prepared with the current inventory (rebuilt when data was added).
    prepared: Option<BTreeMap<String, CompiledTemplate>>,
}

fn api_group(obj: &Value) -> &str {
    group_version(obj).0
}

fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

impl PolicyClient {
    pub fn new() -> Self {
        PolicyClient::default()
    }

    /// Adds (or replaces) a ConstraintTemplate; returns its constraint kind.
    pub fn add_template(&mut self, obj: &Value) -> Result<String, AddError> {
        if api_group(obj) != TEMPLATES_GROUP || str_at(obj, "/kind") != "ConstraintTemplate" {
            return Err(AddError::NotATemplate);
        }
        let template = ConstraintTemplate::from_value(obj).map_err(|e| AddError::Template(e.cause))?;
        if template.rego.trim().is_empty() && !template.skipped_engines.is_empty() {
            return Err(AddError::Unsupported(format!(
                "template {:?} has no Rego source (engines: {}); idp-harness evaluates Rego only",
                template.name,
                template.skipped_engines.join(", ")
            )));
        }
        let compiled = template.compile().map_err(|e| AddError::Template(one_line(&e.cause)))?;
        let crd = template.constraint_crd();
        let schema_value = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().unwrap_or(Value::Null);
        let schema = structural::parse(&schema_value).map_err(|errs| {
            AddError::Template(format!(
                "invalid parameters schema: {}",
                errs.iter().map(|e| e.line()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let kind = template.kind.clone();
        self.templates.insert(kind.to_lowercase(), TemplateEntry { compiled, schema });
        self.prepared = None;
        Ok(kind)
    }

    /// Adds (or replaces) a constraint, with the constraint framework's checks in its order:
    /// metadata, template, `spec.match`, name, version, schema, unknown fields; then defaults.
    pub fn add_constraint(&mut self, obj: &Value) -> Result<(), AddError> {
        let name = str_at(obj, "/metadata/name");
        let kind = str_at(obj, "/kind");
        if name.is_empty() {
            return Err(AddError::InvalidConstraint("missing metadata.name".into()));
        }
        if kind.is_empty() {
            return Err(AddError::InvalidConstraint("missing kind".into()));
        }
        let (group, version) = group_version(obj);
        if group != CONSTRAINTS_GROUP {
            return Err(AddError::InvalidConstraint(format!(
                "wrong API Group for Constraint {name:?}, got {group:?} but need {CONSTRAINTS_GROUP:?}"
            )));
        }
        let Some(template) = self.templates.get(&kind.to_lowercase()) else {
            return Err(AddError::MissingTemplate(kind.to_lowercase()));
        };
        Constraint::from_value(obj).map_err(|e| AddError::InvalidConstraint(e.to_string()))?;
        if !is_dns1123_subdomain(name) {
            return Err(AddError::InvalidConstraint(format!(
                "invalid name: \"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
                 or '.', and must start and end with an alphanumeric character\" ({name:?})"
            )));
        }
        if !matches!(version, "v1alpha1" | "v1beta1") {
            return Err(AddError::InvalidConstraint(format!(
                "unsupported version {version:?} for Constraint {name:?}; supported versions: map[v1alpha1:true \
                 v1beta1:true]"
            )));
        }
        let mut object = obj.clone();
        if let Value::Object(m) = &mut object {
            m.remove("status");
        }
        let errs = structural::validate(&template.schema, &object);
        if !errs.is_empty() {
            let lines: Vec<String> = errs.iter().map(|e| e.line()).collect();
            let text = if lines.len() == 1 { lines[0].clone() } else { format!("[{}]", lines.join(", ")) };
            return Err(AddError::Schema(text));
        }
        let pruned = structural::prune(&template.schema, &mut object.clone());
        if !pruned.is_empty() {
            return Err(AddError::InvalidConstraint(format!("unknown fields: [{}]", pruned.join(" "))));
        }
        structural::apply_defaults(&template.schema, &mut object);
        let parsed = Constraint::from_value(&object).map_err(|e| AddError::InvalidConstraint(e.to_string()))?;
        if parsed.enforcement_action == EnforcementAction::Scoped
            && object.pointer("/spec/scopedEnforcementActions").is_none()
        {
            return Err(AddError::MissingScopedActions);
        }
        let action = parsed.enforcement_action.as_str().to_string();
        self.constraints.insert((kind.to_string(), name.to_string()), ConstraintEntry { parsed, object, action });
        Ok(())
    }

    /// Adds an object to `data.inventory` (and to the Namespace cache if it is a Namespace).
    pub fn add_data(&mut self, obj: &Value) {
        self.inventory.insert(obj);
        self.has_data = true;
        if str_at(obj, "/apiVersion") == "v1" && str_at(obj, "/kind") == "Namespace" {
            self.namespaces.insert(str_at(obj, "/metadata/name").to_string(), obj.clone());
        }
        self.prepared = None;
    }

    fn prepare(&mut self) -> Result<(), String> {
        if self.prepared.is_some() {
            return Ok(());
        }
        let mut prepared = BTreeMap::new();
        let inventory = self.inventory.to_value();
        for (k, t) in &self.templates {
            let p = if self.has_data {
                t.compiled.with_inventory(&inventory).map_err(|e| e.cause)?
            } else {
                t.compiled.clone()
            };
            prepared.insert(k.clone(), p);
        }
        self.prepared = Some(prepared);
        Ok(())
    }

    /// Reviews an object or request against every constraint, in constraint kind and name
    /// order. An evaluation error fails the whole review, as in gator.
    pub fn review(&mut self, subject: Subject<'_>) -> Result<Vec<PolicyResult>, String> {
        self.prepare()?;
        let review = match subject {
            Subject::Object { object, .. } => object_review(object),
            Subject::Request(request) => request_review(request)?,
        };
        let explicit_ns = match subject {
            Subject::Object { namespace, .. } => namespace,
            Subject::Request(_) => None,
        };
        let review_ns = str_at(&review, "/namespace");
        let ns = explicit_ns.or_else(|| self.namespaces.get(review_ns));
        let objects: Vec<&Value> =
            ["object", "oldObject"].iter().filter_map(|k| review.get(*k)).filter(|o| o.is_object()).collect();
        let prepared = self.prepared.as_ref().ok_or("templates not prepared")?;
        let mut results = Vec::new();
        for ((kind, _), c) in &self.constraints {
            let Some(template) = prepared.get(&kind.to_lowercase()) else {
                continue;
            };
            let scoped = c.parsed.enforcement_action == EnforcementAction::Scoped;
            let scoped_actions: Vec<String> = if scoped {
                c.parsed.actions_for(GATOR_ENFORCEMENT_POINT).iter().map(|a| a.as_str().to_string()).collect()
            } else {
                Vec::new()
            };
            if scoped && scoped_actions.is_empty() {
                continue;
            }
            let result = |msg: String, details: Value| PolicyResult {
                msg,
                metadata: json!({ "details": details }),
                constraint: c.object.clone(),
                constraint_kind: kind.clone(),
                constraint_name: c.parsed.name.clone(),
                enforcement_action: c.action.clone(),
                scoped_actions: scoped_actions.clone(),
            };
            match match_any(&c.parsed, &objects, ns, explicit_ns.is_some()) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) => {
                    results.push(result(format!("unable to match constraints: {e}"), json!({})));
                    continue;
                }
            }
            let violations = evaluate(template, &c.parsed, &review).map_err(|e| e.to_string())?;
            for v in violations {
                results.push(result(v.msg, v.details.unwrap_or_else(|| json!({}))));
            }
        }
        Ok(results)
    }
}

/// The target's matcher: the constraint matches when it matches the object or the old object;
/// a match error is returned with the object's name, as the target words it. With an explicit
/// Namespace (gator test), a cluster-scoped object is matched against that Namespace's labels
/// by `namespaceSelector`, as Gatekeeper does when the Namespace is given (it is empty then).
fn match_any(c: &Constraint, objects: &[&Value], ns: Option<&Value>, explicit_ns: bool) -> Result<bool, String> {
    if objects.is_empty() {
        return Err("invalid request object: neither object nor old object are defined".into());
    }
    for obj in objects {
        let (group, _) = group_version(obj);
        let kind = str_at(obj, "/kind");
        let namespace = str_at(obj, "/metadata/namespace");
        let name = str_at(obj, "/metadata/name");
        let target = MatchTarget { group, kind, namespace, name, object: Some(obj), namespace_object: ns };
        let mut matched =
            c.matches(&target).map_err(|e| format!("error matching the requested object: {name} :{e}"))?;
        let is_namespace = group.is_empty() && kind == "Namespace";
        if matched && explicit_ns && namespace.is_empty() && !is_namespace {
            if let (Some(sel), Some(ns)) = (&c.match_.namespace_selector, ns) {
                matched = sel.matches(ns.pointer("/metadata/labels").and_then(Value::as_object));
            }
        }
        if matched {
            return Ok(true);
        }
    }
    Ok(false)
}

/// gator's review of a plain object: the AdmissionRequest a Kubernetes object converts to
/// (`uid`, `resource` and `operation` empty, no user), plus a null `namespaceObject`.
pub fn object_review(obj: &Value) -> Value {
    let (group, version) = group_version(obj);
    let mut r = Map::new();
    r.insert("uid".into(), json!(""));
    r.insert("kind".into(), json!({"group": group, "version": version, "kind": str_at(obj, "/kind")}));
    r.insert("resource".into(), json!({"group": "", "version": "", "resource": ""}));
    let name = str_at(obj, "/metadata/name");
    if !name.is_empty() {
        r.insert("name".into(), json!(name));
    }
    let ns = str_at(obj, "/metadata/namespace");
    if !ns.is_empty() {
        r.insert("namespace".into(), json!(ns));
    }
    r.insert("operation".into(), json!(""));
    r.insert("userInfo".into(), json!({}));
    r.insert("object".into(), obj.clone());
    r.insert("namespaceObject".into(), Value::Null);
    Value::Object(r)
}

/// gator's review of an AdmissionRequest: the request with the fields a typed AdmissionRequest
/// always has, `object` set to `oldObject` on DELETE, and a null `namespaceObject`.
pub fn request_review(request: &Value) -> Result<Value, String> {
    let mut r = Map::new();
    r.insert("uid".into(), json!(""));
    r.insert("kind".into(), json!({"group": "", "version": "", "kind": ""}));
    r.insert("resource".into(), json!({"group": "", "version": "", "resource": ""}));
    r.insert("operation".into(), json!(""));
    r.insert("userInfo".into(), json!({}));
    if let Some(m) = request.as_object() {
        for (k, v) in m {
            if v.is_null() {
                continue;
            }
            match (r.get_mut(k), v) {
                (Some(Value::Object(base)), Value::Object(over)) => {
                    for (kk, vv) in over {
                        base.insert(kk.clone(), vv.clone());
                    }
                }
                _ => {
                    r.insert(k.clone(), v.clone());
                }
            }
        }
    }
    for k in ["name", "namespace"] {
        if r.get(k).and_then(Value::as_str) == Some("") {
            r.remove(k);
        }
    }
    if r.get("operation").and_then(Value::as_str) == Some("DELETE") {
        let Some(old) = r.get("oldObject").filter(|o| o.is_object()).cloned() else {
            return Err("target.HandleReview failed: oldObject cannot be nil for DELETE operations".into());
        };
        r.insert("object".into(), old);
    }
    r.insert("namespaceObject".into(), Value::Null);
    Ok(Value::Object(r))
}

/// regorus words a compile error over several lines (`--> file:line:col`, the source line, a
/// caret, `error: …`); gator's output has one line per error, so this folds it into
/// `<prefix> file:line:col: message`.
fn one_line(cause: &str) -> String {
    if !cause.contains('\n') {
        return cause.to_string();
    }
    let mut lines = cause.lines().map(str::trim).filter(|l| !l.is_empty());
    let prefix = lines.next().unwrap_or_default().to_string();
    let (mut at, mut msg) = (None, None);
    for l in lines {
        if let Some(x) = l.strip_prefix("--> ") {
            at = Some(x);
        } else if let Some(x) = l.strip_prefix("error: ") {
            msg = Some(x);
        }
    }
    match (at, msg) {
        (Some(at), Some(msg)) => format!("{prefix} {at}: {msg}"),
        _ => cause.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "),
    }
}

/// Kubernetes' `IsDNS1123Subdomain`.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS_V0: &str = r#"package k8sreqlabels
violation[{"msg": msg, "details": {"missing": missing}}] {
  provided := {l | input.review.object.metadata.labels[l]}
  required := {l | l := input.parameters.labels[_]}
  missing := required - provided
  count(missing) > 0
  msg := sprintf("missing labels: %v", [missing])
}
"#;

    fn template() -> Value {
        json!({
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": "k8sreqlabels"},
            "spec": {
                "crd": {"spec": {"names": {"kind": "K8sReqLabels"}, "validation": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"labels": {"type": "array", "items": {"type": "string"}},
                                   "mode": {"type": "string", "default": "strict"}}
                }}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": LABELS_V0}]
            }
        })
    }

    fn constraint(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sReqLabels", "metadata": {"name": name}, "spec": spec})
    }

    fn client() -> PolicyClient {
        let mut c = PolicyClient::new();
        assert_eq!(c.add_template(&template()).expect("template"), "K8sReqLabels");
        c
    }

    fn pod(labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps", "labels": labels}})
    }

    #[test]
    fn every_enforcement_action_yields_results_and_scoped_only_at_gator() {
        let mut c = client();
        for (name, action) in [("d", "deny"), ("w", "warn"), ("r", "dryrun")] {
            c.add_constraint(&constraint(
                name,
                json!({"enforcementAction": action, "parameters": {"labels": ["team"]}}),
            ))
            .expect("constraint");
        }
        let scoped = |points: Value| {
            json!({"enforcementAction": "scoped", "parameters": {"labels": ["team"]},
            "scopedEnforcementActions": [{"action": "deny", "enforcementPoints": points}]})
        };
        c.add_constraint(&constraint("s-gator", scoped(json!([{"name": "gator.gatekeeper.sh"}])))).expect("scoped");
        c.add_constraint(&constraint("s-all", scoped(json!([{"name": "*"}])))).expect("scoped");
        c.add_constraint(&constraint("s-webhook", scoped(json!([{"name": "validation.gatekeeper.sh"}]))))
            .expect("scoped");
        let results = c.review(Subject::Object { object: &pod(json!({})), namespace: None }).expect("review");
        let got: Vec<(&str, &str, bool)> =
            results.iter().map(|r| (r.constraint_name.as_str(), r.enforcement_action.as_str(), r.denies())).collect();
        assert_eq!(
            got,
            vec![
                ("d", "deny", true),
                ("r", "dryrun", false),
                ("s-all", "scoped", true),
                ("s-gator", "scoped", true),
                ("w", "warn", false)
            ]
        );
        assert_eq!(results[0].msg, "missing labels: {\"team\"}");
        assert_eq!(results[0].metadata, json!({"details": {"missing": ["team"]}}));
        assert_eq!(results[0].constraint["spec"]["parameters"]["mode"], "strict", "schema defaults are applied");
    }

    #[test]
    fn constraint_checks_follow_the_framework() {
        let mut c = client();
        let e = c.add_constraint(&constraint("x", json!({"parameters": {"labels": "team"}}))).expect_err("schema");
        assert!(matches!(e, AddError::Schema(_)), "{e}");
        assert!(e.to_string().starts_with("schema validation failed: spec.parameters.labels"), "{e}");
        let e = c.add_constraint(&constraint("x", json!({"parameters": {"labelz": []}}))).expect_err("unknown");
        assert_eq!(e.to_string(), "invalid Constraint: unknown fields: [spec.parameters.labelz]");
        let mut other = constraint("x", json!({}));
        other["kind"] = json!("K8sOther");
        assert_eq!(
            c.add_constraint(&other).expect_err("no template").to_string(),
            "missing ConstraintTemplate: template \"k8sother\" not found"
        );
        let mut v1 = constraint("x", json!({}));
        v1["apiVersion"] = json!("constraints.gatekeeper.sh/v1");
        assert!(c.add_constraint(&v1).expect_err("version").to_string().contains("unsupported version \"v1\""));
        let e = c.add_constraint(&constraint("x", json!({"enforcementAction": "scoped"}))).expect_err("scoped");
        assert_eq!(e, AddError::MissingScopedActions);
        assert_eq!(c.add_template(&json!({"apiVersion": "v1", "kind": "ConfigMap"})), Err(AddError::NotATemplate));
    }

    #[test]
    fn the_review_is_gators_not_the_webhooks() {
        let r = object_review(&pod(json!({})));
        assert_eq!(r["operation"], "");
        assert_eq!(r["kind"], json!({"group": "", "version": "v1", "kind": "Pod"}));
        assert_eq!(r["namespace"], "apps");
        assert!(r["namespaceObject"].is_null());
        let del =
            request_review(&json!({"operation": "DELETE", "userInfo": {"username": "u"}, "oldObject": pod(json!({}))}))
                .expect("delete");
        assert_eq!(del["object"]["kind"], "Pod");
        assert_eq!(del["userInfo"]["username"], "u");
        assert!(request_review(&json!({"operation": "DELETE"}))
            .expect_err("no old object")
            .contains("oldObject cannot be nil"));
    }

    #[test]
    fn a_namespace_selector_without_the_namespace_autorejects() {
        let mut c = client();
        let spec =
            json!({"parameters": {"labels": []}, "match": {"namespaceSelector": {"matchLabels": {"env": "prod"}}}});
        c.add_constraint(&constraint("ns", spec)).expect("constraint");
        let results = c.review(Subject::Object { object: &pod(json!({})), namespace: None }).expect("review");
        assert_eq!(results.len(), 1);
        assert_eq!(
            results[0].msg,
            "unable to match constraints: error matching the requested object: p :failed to run Match criteria: \
             namespace selector for namespace-scoped object but missing Namespace"
        );
        c.add_data(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"env": "dev"}}}),
        );
        assert!(c.review(Subject::Object { object: &pod(json!({})), namespace: None }).expect("review").is_empty());
    }
}
