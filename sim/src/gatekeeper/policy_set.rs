//! The policy state a Gatekeeper pod holds: compiled templates by kind, constraints, and the
//! inventory; admission and audit over all of them.
//!
//! The later controller feeds it (`upsert_*`/`remove_*`/`set_inventory` from watch events) and
//! the admission plugin calls [`PolicySet::admit`]. Templates are prepared once per template or
//! inventory change and cloned per evaluation. This module must not read the store itself.

use std::collections::BTreeMap;

use serde_json::Value;

use super::constraint::{webhook_skips, Constraint, MatchTarget};
use super::eval::{admission_review, audit_object, evaluate, AdmissionOutcome, AuditViolation, ConstraintResult};
use super::template::{CompiledTemplate, TemplateError};
use super::WEBHOOK_ENFORCEMENT_POINT;

/// Templates, constraints and inventory. Constraints whose template is absent are kept but
/// not evaluated (their CRD would not exist).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Compiled templates as ingested (empty inventory).
    templates: BTreeMap<String, CompiledTemplate>,
    /// The same, prepared with the current inventory.
    prepared: BTreeMap<String, CompiledTemplate>,
    /// By (kind, name).
    constraints: BTreeMap<(String, String), Constraint>,
    inventory: Value,
}

impl PolicySet {
    pub fn new() -> Self {
        PolicySet { inventory: Value::Object(Default::default()), ..Default::default() }
    }

    /// Adds or replaces a template (by kind), preparing it with the current inventory.
    pub fn upsert_template(&mut self, template: CompiledTemplate) -> Result<(), TemplateError> {
        let prepared = template.with_inventory(&self.inventory)?;
        self.prepared.insert(template.kind.clone(), prepared);
        self.templates.insert(template.kind.clone(), template);
        Ok(())
    }

    pub fn remove_template(&mut self, kind: &str) {
        self.templates.remove(kind);
        self.prepared.remove(kind);
    }

    pub fn upsert_constraint(&mut self, constraint: Constraint) {
        self.constraints.insert((constraint.kind.clone(), constraint.name.clone()), constraint);
    }

    pub fn remove_constraint(&mut self, kind: &str, name: &str) {
        self.constraints.remove(&(kind.to_string(), name.to_string()));
    }

    /// Replaces `data.inventory` and prepares every template once with it. A template that
    /// fails to prepare keeps its previous inventory; its kind and error are returned.
    pub fn set_inventory(&mut self, inventory: Value) -> Vec<(String, TemplateError)> {
        self.inventory = inventory;
        let mut errors = Vec::new();
        for (kind, t) in &self.templates {
            match t.with_inventory(&self.inventory) {
                Ok(p) => {
                    self.prepared.insert(kind.clone(), p);
                }
                Err(e) => errors.push((kind.clone(), e)),
            }
        }
        errors
    }

    pub fn constraints(&self) -> impl Iterator<Item = &Constraint> {
        self.constraints.values()
    }

    /// Admission as Gatekeeper's validating webhook: webhook exclusions first, then every
    /// constraint whose template exists and whose `spec.match` matches, ordered by kind and
    /// name. `request` is `AdmissionRequest::to_json()`; `namespace_object` is the request's
    /// Namespace (for a Namespace object, the object itself).
    /// Whether any constraint is in force (without one every request is admitted as is).
    pub fn has_constraints(&self) -> bool {
        !self.constraints.is_empty()
    }

    /// Whether a constraint in force may match objects of `group`/`kind` (its `match.kinds`):
    /// when none does, a request for them is admitted without building its AdmissionReview.
    pub fn may_match_kind(&self, group: &str, kind: &str) -> bool {
        self.constraints.values().any(|c| self.prepared.contains_key(&c.kind) && c.match_.kind_matches(group, kind))
    }

    pub fn admit(&self, request: &Value, namespace_object: Option<&Value>) -> AdmissionOutcome {
        let s = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or_default();
        let operation = s("operation");
        let namespace = s("namespace");
        let name = s("name");
        let group = request.pointer("/kind/group").and_then(Value::as_str).unwrap_or_default();
        let kind = request.pointer("/kind/kind").and_then(Value::as_str).unwrap_or_default();
        let mut outcome = AdmissionOutcome::default();
        if webhook_skips(operation, namespace, namespace_object) {
            outcome.skipped = true;
            return outcome;
        }
        let review = admission_review(request, namespace_object);
        let object = review.get("object").filter(|o| o.is_object());
        let target = MatchTarget { group, kind, namespace, name, object, namespace_object };
        for c in self.constraints.values() {
            let Some(template) = self.prepared.get(&c.kind) else {
                continue;
            };
            let actions = c.actions_for(WEBHOOK_ENFORCEMENT_POINT);
            match c.matches(&target) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    outcome.errors.push(format!("constraint {:?}: {e}", c.name));
                    continue;
                }
            }
            match evaluate(template, c, &review) {
                Ok(violations) => {
                    outcome.add(ConstraintResult { kind: c.kind.clone(), name: c.name.clone(), actions, violations })
                }
                Err(e) => outcome.errors.push(e.to_string()),
            }
        }
        outcome
    }

    /// Audits objects (each with its Namespace object, if namespaced) against every constraint.
    /// Returns per (kind, name) the violations found and the errors met.
    pub fn audit<'a>(
        &self,
        objects: impl IntoIterator<Item = (&'a Value, Option<&'a Value>)> + Clone,
    ) -> BTreeMap<(String, String), (Vec<AuditViolation>, Vec<String>)> {
        let mut out = BTreeMap::new();
        for (key, c) in &self.constraints {
            let Some(template) = self.prepared.get(&c.kind) else {
                continue;
            };
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for (obj, ns) in objects.clone() {
                match audit_object(template, c, obj, ns) {
                    Ok(v) => found.extend(v),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            out.insert(key.clone(), (found, errors));
        }
        out
    }
}
