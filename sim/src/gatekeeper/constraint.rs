//! Constraints: parsing a constraint object (any kind of `constraints.gatekeeper.sh`) and
//! deciding whether it applies to an object, as Gatekeeper's `spec.match` does; plus the
//! webhook-level exclusions that apply before any constraint.
//!
//! Matching is pure: the namespace object needed by `namespaceSelector` is an argument. This
//! module must not evaluate Rego or look anything up.
//!
//! The rules (all criteria AND together; an absent criterion matches):
//! * `kinds[{apiGroups, kinds}]`: some entry whose groups contain `*` or the exact group (`""`
//!   for core, `apps` for Deployment) and whose kinds contain `*` or the kind; an empty list
//!   inside an entry matches anything.
//! * `scope`: `Cluster` matches Namespace objects and objects without namespace; `Namespaced`
//!   matches namespaced objects other than Namespaces; anything else (`*`, typos) matches all.
//! * `namespaces` / `excludedNamespaces`: exact names or globs `prefix*`, `*suffix`, `*infix*`;
//!   for a Namespace object the name is used; cluster-scoped objects are not filtered.
//! * `labelSelector`: the object's labels. `namespaceSelector`: the namespace's labels (a
//!   Namespace object's own labels); cluster-scoped objects match; a namespaced object whose
//!   namespace object is not given is an error, as in Gatekeeper.
//! * `name`: exact or glob on `metadata.name` (a `prefix*` glob also matches `generateName`).

use serde_json::Value;

use super::{GATEKEEPER_NAMESPACE, IGNORE_LABEL};
use crate::apiserver::selectors::LabelSelector;

/// What a constraint does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforcementAction {
    Deny,
    Warn,
    Dryrun,
    /// The actions come from `spec.scopedEnforcementActions`, per enforcement point.
    Scoped,
}

impl EnforcementAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementAction::Deny => "deny",
            EnforcementAction::Warn => "warn",
            EnforcementAction::Dryrun => "dryrun",
            EnforcementAction::Scoped => "scoped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "deny" => Some(EnforcementAction::Deny),
            "warn" => Some(EnforcementAction::Warn),
            "dryrun" => Some(EnforcementAction::Dryrun),
            "scoped" => Some(EnforcementAction::Scoped),
            _ => None,
        }
    }
}

/// One entry of `spec.scopedEnforcementActions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedAction {
    /// `deny`, `warn` or `dryrun`.
    pub action: EnforcementAction,
    /// `enforcementPoints[].name`; `*` means every point.
    pub enforcement_points: Vec<String>,
}

/// A problem with a constraint object or with matching it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The constraint object itself is invalid (Gatekeeper's webhook denies it).
    #[error("{0}")]
    Invalid(String),
    /// Matching needs something that was not provided.
    #[error("failed to run Match criteria: {0}")]
    Match(String),
}

/// `spec.match`.
#[derive(Debug, Clone, Default)]
pub struct Match {
    /// `(apiGroups, kinds)` pairs.
    pub kinds: Vec<(Vec<String>, Vec<String>)>,
    pub scope: String,
    pub namespaces: Vec<String>,
    pub excluded_namespaces: Vec<String>,
    pub label_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub name: String,
}

/// A parsed constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The constraint kind (the template's kind).
    pub kind: String,
    /// `metadata.name`: the `[name]` prefix of messages.
    pub name: String,
    pub enforcement_action: EnforcementAction,
    pub scoped_actions: Vec<ScopedAction>,
    /// `spec.parameters`, `{}` when absent.
    pub parameters: Value,
    pub match_: Match,
}

/// The object a constraint is matched against.
#[derive(Debug, Clone, Copy)]
pub struct MatchTarget<'a> {
    /// API group (`""` for core).
    pub group: &'a str,
    pub kind: &'a str,
    /// `""` for cluster-scoped objects.
    pub namespace: &'a str,
    pub name: &'a str,
    /// The object (for labels and `generateName`); on DELETE the old object.
    pub object: Option<&'a Value>,
    /// The Namespace object of `namespace`, if known.
    pub namespace_object: Option<&'a Value>,
}

impl MatchTarget<'_> {
    fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }

    fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.object.and_then(|o| o.pointer("/metadata/labels")).and_then(Value::as_object)
    }
}

impl Constraint {
    /// Parses a constraint object. Unknown enforcement actions and invalid selectors are
    /// errors, as Gatekeeper's webhook rejects them.
    pub fn from_value(obj: &Value) -> Result<Constraint, ConstraintError> {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let action_str = match spec.get("enforcementAction") {
            None | Some(Value::Null) => "deny",
            Some(Value::String(s)) if s.is_empty() => "deny",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => "",
        };
        let enforcement_action = EnforcementAction::parse(action_str).ok_or_else(|| {
            ConstraintError::Invalid(format!(
                "could not find the provided enforcementAction value {action_str:?} within the supported list [deny \
                 dryrun warn scoped]"
            ))
        })?;
        let mut scoped_actions = Vec::new();
        if let Some(Value::Array(entries)) = spec.get("scopedEnforcementActions") {
            for e in entries {
                let a = e.get("action").and_then(Value::as_str).unwrap_or_default();
                let action = match EnforcementAction::parse(a) {
                    Some(EnforcementAction::Scoped) | None => {
                        return Err(ConstraintError::Invalid(format!(
                            "could not find the provided scopedEnforcementActions action {a:?} within the supported \
                             list [deny dryrun warn]"
                        )))
                    }
                    Some(x) => x,
                };
                let points = match e.get("enforcementPoints") {
                    Some(Value::Array(p)) => {
                        p.iter().filter_map(|x| x.get("name").and_then(Value::as_str)).map(str::to_string).collect()
                    }
                    _ => Vec::new(),
                };
                scoped_actions.push(ScopedAction { action, enforcement_points: points });
            }
        }
        let parameters = match spec.get("parameters") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(p) => p.clone(),
        };
        let m = spec.get("match").cloned().unwrap_or(Value::Null);
        let mut kinds = Vec::new();
        if let Some(Value::Array(entries)) = m.get("kinds") {
            for e in entries {
                kinds.push((strings(e.get("apiGroups")), strings(e.get("kinds"))));
            }
        }
        let selector = |key: &str| -> Result<Option<LabelSelector>, ConstraintError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => LabelSelector::from_object(v)
                    .map(Some)
                    .map_err(|e| ConstraintError::Invalid(format!("spec.match.{key}: {}", e.message))),
            }
        };
        let match_ = Match {
            kinds,
            scope: m.get("scope").and_then(Value::as_str).unwrap_or_default().to_string(),
            namespaces: strings(m.get("namespaces")),
            excluded_namespaces: strings(m.get("excludedNamespaces")),
            label_selector: selector("labelSelector")?,
            namespace_selector: selector("namespaceSelector")?,
            name: m.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        };
        Ok(Constraint { kind, name, enforcement_action, scoped_actions, parameters, match_ })
    }

    /// The actions that apply at an enforcement point (`validation.gatekeeper.sh`,
    /// `audit.gatekeeper.sh`). For `scoped`, every entry naming the point or `*`; otherwise the
    /// single action.
    pub fn actions_for(&self, point: &str) -> Vec<EnforcementAction> {
        if self.enforcement_action != EnforcementAction::Scoped {
            return vec![self.enforcement_action];
        }
        let mut out = Vec::new();
        for s in &self.scoped_actions {
            if s.enforcement_points.iter().any(|p| p == point || p == "*") && !out.contains(&s.action) {
                out.push(s.action);
            }
        }
        out
    }

    /// Whether the constraint applies to the target (all `spec.match` criteria).
    pub fn matches(&self, t: &MatchTarget<'_>) -> Result<bool, ConstraintError> {
        self.match_.matches(t)
    }
}

impl Match {
    /// All criteria, in Gatekeeper's order.
    pub fn matches(&self, t: &MatchTarget<'_>) -> Result<bool, ConstraintError> {
        Ok(self.kinds_match(t)
            && self.scope_match(t)
            && self.namespaces_match(t)
            && self.label_selector_match(t)
            && self.namespace_selector_match(t)?
            && self.name_match(t))
    }

    fn kinds_match(&self, t: &MatchTarget<'_>) -> bool {
        self.kind_matches(t.group, t.kind)
    }

    /// `spec.match.kinds` alone: whether objects of `group`/`kind` may match.
    pub fn kind_matches(&self, group: &str, kind: &str) -> bool {
        self.kinds.is_empty()
            || self.kinds.iter().any(|(groups, kinds)| {
                let kind_ok = kinds.is_empty() || kinds.iter().any(|k| k == "*" || k == kind);
                let group_ok = groups.is_empty() || groups.iter().any(|g| g == "*" || g == group);
                kind_ok && group_ok
            })
    }

    fn scope_match(&self, t: &MatchTarget<'_>) -> bool {
        let has_namespace = !t.namespace.is_empty();
        match self.scope.as_str() {
            "Cluster" => t.is_namespace() || !has_namespace,
            "Namespaced" => !t.is_namespace() && has_namespace,
            _ => true,
        }
    }

    fn namespaces_match(&self, t: &MatchTarget<'_>) -> bool {
        let ns = if t.is_namespace() { t.name } else { t.namespace };
        if ns.is_empty() {
            return true;
        }
        let included = self.namespaces.is_empty() || self.namespaces.iter().any(|p| glob_matches(p, ns));
        let excluded = self.excluded_namespaces.iter().any(|p| glob_matches(p, ns));
        included && !excluded
    }

    fn label_selector_match(&self, t: &MatchTarget<'_>) -> bool {
        self.label_selector.as_ref().is_none_or(|s| s.matches(t.labels()))
    }

    fn namespace_selector_match(&self, t: &MatchTarget<'_>) -> Result<bool, ConstraintError> {
        let Some(sel) = &self.namespace_selector else {
            return Ok(true);
        };
        if t.is_namespace() {
            return Ok(sel.matches(t.labels()));
        }
        if t.namespace.is_empty() {
            return Ok(true);
        }
        let Some(ns) = t.namespace_object else {
            return Err(ConstraintError::Match(
                "namespace selector for namespace-scoped object but missing Namespace".to_string(),
            ));
        };
        Ok(sel.matches(ns.pointer("/metadata/labels").and_then(Value::as_object)))
    }

    fn name_match(&self, t: &MatchTarget<'_>) -> bool {
        if self.name.is_empty() {
            return true;
        }
        if glob_matches(&self.name, t.name) {
            return true;
        }
        let generate_name = t.object.and_then(|o| o.pointer("/metadata/generateName")).and_then(Value::as_str);
        match (generate_name, self.name.strip_suffix('*')) {
            (Some(g), Some(prefix)) if !prefix.starts_with('*') && !g.is_empty() => g.starts_with(prefix),
            _ => false,
        }
    }
}

/// Gatekeeper's wildcard: `*x*` contains, `*x` suffix, `x*` prefix, otherwise exact.
pub fn glob_matches(pattern: &str, candidate: &str) -> bool {
    let starts = pattern.starts_with('*');
    let ends = pattern.len() > 1 && pattern.ends_with('*');
    match (starts, ends) {
        (true, true) => candidate.contains(&pattern[1..pattern.len() - 1]),
        (true, false) => candidate.ends_with(&pattern[1..]),
        (false, true) => candidate.starts_with(&pattern[..pattern.len() - 1]),
        (false, false) => pattern == candidate,
    }
}

/// The webhook-level exclusions, before any constraint: only CREATE and UPDATE are sent to
/// Gatekeeper; the `gatekeeper-system` namespace is exempt; namespaces labelled
/// `admission.gatekeeper.sh/ignore` are skipped (for a Namespace object, its own labels). Returns
/// true when the request never reaches Gatekeeper.
pub fn webhook_skips(operation: &str, namespace: &str, namespace_object: Option<&Value>) -> bool {
    if operation != "CREATE" && operation != "UPDATE" {
        return true;
    }
    if namespace == GATEKEEPER_NAMESPACE {
        return true;
    }
    namespace_object
        .and_then(|n| n.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .is_some_and(|l| l.contains_key(IGNORE_LABEL))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}
