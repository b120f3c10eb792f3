//! Evaluation: running a template's `violation[r]` for a constraint, the admission verdict
//! combined over constraints, and audit-mode evaluation with the constraint audit status.
//!
//! `input = {review: <review>, parameters: <spec.parameters or {}>}`; each result needs a string
//! `msg` (and may carry `details`); results without a string `msg` are dropped, as Gatekeeper's
//! result hook only forwards `r.msg`. This module must not decide which constraints exist or
//! which objects are audited: [`super::PolicySet`] and its callers do.
//!
//! Enforcement actions at admission: `deny` → `[<name>] <msg>` lines in the denial, `warn` →
//! a warning `[<name>] <msg>`, `dryrun` → nothing (audit only). `scoped` uses the
//! `scopedEnforcementActions` entries whose enforcement points name
//! `validation.gatekeeper.sh` (admission) or `audit.gatekeeper.sh` (audit) or `*`; a violation
//! may then both deny and warn, as in Gatekeeper's webhook. Any evaluation or match error makes
//! the whole review fail, and the webhook's `failurePolicy: Ignore` admits the request: the
//! outcome then allows it and carries the errors for the caller to report.

use serde_json::{json, Value};

use super::constraint::{Constraint, ConstraintError, EnforcementAction};
use super::template::CompiledTemplate;
use super::{AUDIT_VIOLATIONS_LIMIT, WEBHOOK_NAME};
use crate::apiserver::admission::Verdict;

/// One `violation[r]` result.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub msg: String,
    /// `r.details`, when present.
    pub details: Option<Value>,
}

/// An evaluation failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("constraint {constraint:?}: {source}")]
    Match {
        constraint: String,
        #[source]
        source: ConstraintError,
    },
    #[error("constraint {constraint:?} of kind {kind}: rego evaluation failed: {message}")]
    Rego { constraint: String, kind: String, message: String },
    #[error("constraint {constraint:?}: template {kind} is not compiled for it")]
    WrongTemplate { constraint: String, kind: String },
}

/// Runs `data.<package>.violation` for one constraint against one review (an admission
/// review or an [`audit_review`]). Matching is the caller's business.
pub fn evaluate(
    template: &CompiledTemplate,
    constraint: &Constraint,
    review: &Value,
) -> Result<Vec<Violation>, EvalError> {
    if template.kind != constraint.kind {
        return Err(EvalError::WrongTemplate { constraint: constraint.name.clone(), kind: template.kind.clone() });
    }
    let Some(package) = &template.package else {
        return Ok(Vec::new());
    };
    let rego_err = |message: String| EvalError::Rego {
        constraint: constraint.name.clone(),
        kind: constraint.kind.clone(),
        message,
    };
    let mut engine = template.engine.clone();
    let input = json!({"review": review, "parameters": constraint.parameters});
    engine.set_input(regorus::Value::from(input));
    let result = engine.eval_rule(format!("data.{package}.violation")).map_err(|e| rego_err(e.to_string()))?;
    let items: Vec<regorus::Value> = match &result {
        regorus::Value::Set(s) => s.iter().cloned().collect(),
        regorus::Value::Array(a) => a.iter().cloned().collect(),
        regorus::Value::Undefined => Vec::new(),
        other => return Err(rego_err(format!("violation is not a set: {other}"))),
    };
    let mut out = Vec::new();
    for item in items {
        let json: Value = serde_json::to_value(&item).map_err(|e| rego_err(e.to_string()))?;
        let Some(msg) = json.get("msg").and_then(Value::as_str) else {
            continue;
        };
        out.push(Violation { msg: msg.to_string(), details: json.get("details").cloned() });
    }
    Ok(out)
}

/// The review Gatekeeper's webhook evaluates: the `AdmissionRequest` (as
/// `AdmissionRequest::to_json` gives it) plus `namespaceObject`; on DELETE `object` is the old
/// object.
pub fn admission_review(request: &Value, namespace_object: Option<&Value>) -> Value {
    let mut review = request.clone();
    if let Value::Object(m) = &mut review {
        if m.get("operation").and_then(Value::as_str) == Some("DELETE") {
            let old = m.get("oldObject").cloned().unwrap_or(Value::Null);
            m.insert("object".to_string(), old);
        }
        if let Some(ns) = namespace_object {
            m.insert("namespaceObject".to_string(), ns.clone());
        }
    }
    review
}

/// The review audit evaluates: only `kind{group,version,kind}`, `object`, `name`, `namespace`
/// (namespace omitted for cluster-scoped objects).
pub fn audit_review(object: &Value) -> Value {
    let (group, version) = group_version(object);
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let mut review = json!({
        "kind": {"group": group, "version": version, "kind": kind},
        "object": object,
        "name": object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
    });
    if let Some(ns) = object.pointer("/metadata/namespace").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        review["namespace"] = json!(ns);
    }
    review
}

/// `(group, version)` from an object's `apiVersion`.
pub fn group_version(object: &Value) -> (&str, &str) {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// One constraint's result for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstraintResult {
    pub kind: String,
    pub name: String,
    /// The actions that applied at the enforcement point.
    pub actions: Vec<EnforcementAction>,
    pub violations: Vec<Violation>,
}

/// The combined admission answer over all constraints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdmissionOutcome {
    /// True when the webhook never saw the request (operation, exempt namespace, ignore label).
    pub skipped: bool,
    /// Per matching constraint (including those without violations).
    pub results: Vec<ConstraintResult>,
    /// `[<name>] <msg>` for every denying violation.
    pub denials: Vec<String>,
    /// `[<name>] <msg>` for every warning violation.
    pub warnings: Vec<String>,
    /// Evaluation errors: when any is present the request is admitted (failurePolicy Ignore)
    /// and `denials`/`warnings` are not sent.
    pub errors: Vec<String>,
}

impl AdmissionOutcome {
    /// The denial message (`[c1] msg1\n[c2] msg2`), when the request is denied.
    pub fn denial_message(&self) -> Option<String> {
        if !self.errors.is_empty() || self.denials.is_empty() {
            return None;
        }
        Some(self.denials.join("\n"))
    }

    /// The plugin answer: 403 `admission webhook "validation.gatekeeper.sh" denied the request:
    /// …` on deny, warnings otherwise; an outcome with errors allows without warnings.
    pub fn to_verdict(&self) -> Verdict {
        if !self.errors.is_empty() {
            return Verdict::allow();
        }
        match self.denial_message() {
            Some(m) => {
                let mut v = Verdict::deny_webhook(WEBHOOK_NAME, &m);
                v.warnings = self.warnings.clone();
                v
            }
            None => Verdict { warnings: self.warnings.clone(), denial: None },
        }
    }

    /// Folds one constraint's violations in, by the actions that apply.
    pub(crate) fn add(&mut self, result: ConstraintResult) {
        for v in &result.violations {
            let line = format!("[{}] {}", result.name, v.msg);
            if result.actions.contains(&EnforcementAction::Deny) {
                self.denials.push(line.clone());
            }
            if result.actions.contains(&EnforcementAction::Warn) {
                self.warnings.push(line);
            }
        }
        self.results.push(result);
    }
}

/// One entry of a constraint's `status.violations`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditViolation {
    /// The constraint's `spec.enforcementAction`.
    pub enforcement_action: EnforcementAction,
    /// For `scoped`: the actions that apply at audit.
    pub enforcement_actions: Vec<EnforcementAction>,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub message: String,
}

impl AuditViolation {
    /// `{enforcementAction, group, version, kind, name, namespace?, message}`.
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            "enforcementAction": self.enforcement_action.as_str(),
            "group": self.group,
            "version": self.version,
            "kind": self.kind,
            "name": self.name,
            "message": self.message,
        });
        if !self.namespace.is_empty() {
            v["namespace"] = json!(self.namespace);
        }
        if self.enforcement_action == EnforcementAction::Scoped {
            v["enforcementActions"] = json!(self.enforcement_actions.iter().map(|a| a.as_str()).collect::<Vec<_>>());
        }
        v
    }
}

/// Audits one object against one constraint: match (with the namespace object for
/// `namespaceSelector`), then evaluate with an [`audit_review`]. A `scoped` constraint with no
/// action at `audit.gatekeeper.sh` yields nothing.
pub fn audit_object(
    template: &CompiledTemplate,
    constraint: &Constraint,
    object: &Value,
    namespace_object: Option<&Value>,
) -> Result<Vec<AuditViolation>, EvalError> {
    let actions = constraint.actions_for(super::AUDIT_ENFORCEMENT_POINT);
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    let (group, version) = group_version(object);
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let namespace = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let target = super::MatchTarget { group, kind, namespace, name, object: Some(object), namespace_object };
    let matched = constraint
        .matches(&target)
        .map_err(|source| EvalError::Match { constraint: constraint.name.clone(), source })?;
    if !matched {
        return Ok(Vec::new());
    }
    let violations = evaluate(template, constraint, &audit_review(object))?;
    Ok(violations
        .into_iter()
        .map(|v| AuditViolation {
            enforcement_action: constraint.enforcement_action,
            enforcement_actions: actions.clone(),
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: namespace.to_string(),
            message: v.msg,
        })
        .collect())
}

/// What audit writes into a constraint's `status`: `auditTimestamp`, `totalViolations` (all of
/// them) and `violations` (the first 20).
pub fn audit_status(violations: &[AuditViolation], audit_timestamp: &str) -> Value {
    json!({
        "auditTimestamp": audit_timestamp,
        "totalViolations": violations.len(),
        "violations": violations.iter().take(AUDIT_VIOLATIONS_LIMIT).map(AuditViolation::to_value).collect::<Vec<_>>(),
    })
}
