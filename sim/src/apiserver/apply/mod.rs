//! Server-side apply and managedFields bookkeeping, as kube-apiserver does them with
//! structured-merge-diff.
//!
//! [`server_side_apply`] merges an apply configuration into the live object, prunes what the
//! applier stopped setting, detects conflicts with other managers and returns the new object
//! and managedFields; [`record_update`] keeps ownership for creates, updates and patches. Both
//! are pure functions over JSON values and a [`TypeNode`] shape. This module must not touch
//! storage, admission, defaulting or validation, and must not panic on any input.

pub mod fieldset;
pub mod managed;
pub mod merge;

use std::fmt;

use serde_json::{Map, Value};

pub use fieldset::{path_string, FieldSet, FieldSetError, Path, PathElement};
pub use managed::{
    decode_managed_fields, encode_managed_fields, manager_from_user_agent, record_update, ManagedEntry,
    ManagedFieldsError, Operation,
};
pub use merge::{fields_of, validate_apply_config};

use crate::apiserver::error::ApiError;
use crate::apiserver::schema::typenode::TypeNode;
pub(crate) use managed::remove_managed_fields;
use managed::{sort_entries, without_managed_fields};
use merge::{compare, merge, prune, Markers};

/// One server-side apply request.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// `fieldManager` (required for apply).
    pub manager: &'a str,
    /// The apiVersion the configuration was sent as (`apps/v1`).
    pub api_version: &'a str,
    /// `force=true`: take conflicting fields instead of failing.
    pub force: bool,
    /// The merge shape of the kind.
    pub shape: &'a TypeNode,
    /// The time recorded in the applier's entry (RFC 3339).
    pub now: &'a str,
    /// `status`, `scale`, ... when applying to a subresource.
    pub subresource: Option<&'a str>,
}

/// The result of a successful apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The new object; its `metadata.managedFields` is the encoding of `managed` (absent when
    /// there are no entries).
    pub object: Value,
    /// The new managedFields entries, sorted as kube-apiserver sorts them.
    pub managed: Vec<ManagedEntry>,
    /// False when the apply changed nothing but ownership (kube-apiserver then keeps the old
    /// object and does not bump the applier's time).
    pub changed: bool,
}

/// One field another manager owns and the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as kube-apiserver names it: `"kubectl-client-side-apply" using apps/v1`.
    pub manager: String,
    /// The identifier conflicts are grouped and sorted by.
    pub identifier: String,
    /// The conflicting path.
    pub path: Path,
}

/// An apply refused because of conflicts (409 Conflict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyConflicts {
    /// Sorted by manager identifier, then in field-set order.
    pub conflicts: Vec<Conflict>,
}

impl ApplyConflicts {
    /// The message kube-apiserver returns:
    /// `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas`, or
    /// for several, `Apply failed with 2 conflicts: conflicts with "a":\n- .x\n- .y` with one
    /// group per manager.
    pub fn message(&self) -> String {
        if let [one] = self.conflicts.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {}: {}", one.manager, path_string(&one.path));
        }
        let mut lines: Vec<String> = Vec::new();
        let mut current: Option<&str> = None;
        for c in &self.conflicts {
            if current != Some(c.identifier.as_str()) {
                lines.push(format!("conflicts with {}:", c.manager));
                current = Some(c.identifier.as_str());
            }
            lines.push(format!("- {}", path_string(&c.path)));
        }
        format!("Apply failed with {} conflicts: {}", self.conflicts.len(), lines.join("\n"))
    }

    /// `details.causes`: (field path, `conflict with "mgr" using apps/v1`).
    pub fn causes(&self) -> Vec<(String, String)> {
        self.conflicts.iter().map(|c| (path_string(&c.path), format!("conflict with {}", c.manager))).collect()
    }

    /// The 409 `ApiError`.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::apply_conflict(self.message(), self.causes())
    }
}

impl fmt::Display for ApplyConflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ApplyConflicts {}

impl From<ApplyConflicts> for ApiError {
    fn from(c: ApplyConflicts) -> ApiError {
        c.to_api_error()
    }
}

/// Server-side apply of `config` onto `live` (None: the object does not exist yet).
///
/// Fields in `config` are set (objects merged, list-maps merged by key, sets by value, atomic
/// values replaced). Fields the same manager set in its previous apply, that `config` no
/// longer sets and no other manager owns, are removed. A field `config` would change that
/// another manager owns is a conflict unless `req.force`, which takes it from them; fields
/// set to an equal value become shared. The applier's entry holds exactly the fields of
/// `config`; entries left empty are dropped.
///
/// As kube-apiserver: a live object without managedFields first has all its fields recorded
/// for `before-first-apply`; the manager `kubectl` may take over, without conflict, fields of
/// the `kubectl.kubernetes.io/last-applied-configuration` annotation whose values are still
/// live, and rewrites that annotation when it exists. Callers should run
/// [`validate_apply_config`] first, reset fields the subresource may not change, and keep
/// `metadata.name`/`uid`/... checks to themselves.
pub fn server_side_apply(
    live: Option<&Value>,
    config: &Value,
    managed: Vec<ManagedEntry>,
    req: &ApplyRequest,
) -> Result<Applied, ApplyConflicts> {
    let subresource = req.subresource.filter(|s| !s.is_empty());
    let config = without_managed_fields(config);
    let live_exists = live.is_some();
    let live = live.map(without_managed_fields).unwrap_or_else(|| std::borrow::Cow::Owned(Value::Object(Map::new())));
    let mut managed = managed;
    if live_exists && managed.is_empty() {
        // An object nobody owns yet: its fields go to "before-first-apply" first, so the
        // first applier conflicts with values it would change.
        managed = record_update(
            None,
            &live,
            Vec::new(),
            BEFORE_FIRST_APPLY,
            req.api_version,
            req.shape,
            req.now,
            subresource,
        );
    }
    let mut result = match apply_once(&live, &config, managed.clone(), req, req.force) {
        Err(conflicts) if req.manager == KUBECTL && !req.force => match allowed_by_last_applied(&live, req) {
            Some(allowed) => {
                let remaining: Vec<Conflict> =
                    conflicts.conflicts.into_iter().filter(|c| !allowed.contains(&c.path)).collect();
                if remaining.is_empty() {
                    apply_once(&live, &config, managed, req, true)
                } else {
                    Err(ApplyConflicts { conflicts: remaining })
                }
            }
            None => Err(conflicts),
        },
        other => other,
    }?;
    if req.manager == KUBECTL {
        update_last_applied(&mut result.object, &config);
    }
    let entries = result.managed.clone();
    set_managed_fields(&mut result.object, &entries);
    Ok(result)
}

/// The manager kube-apiserver gives the fields of an object that had no managedFields when
/// it was first applied to.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// `kubectl apply --server-side`'s default manager, which kube-apiserver lets take over the
/// fields of `kubectl.kubernetes.io/last-applied-configuration`.
const KUBECTL: &str = "kubectl";

/// The client-side apply annotation.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn last_applied(obj: &Value) -> Option<&str> {
    obj.get("metadata")?.get("annotations")?.get(LAST_APPLIED_ANNOTATION)?.as_str().filter(|s| !s.is_empty())
}

/// Fields of the last client-side apply whose values are still live: `kubectl` may take them
/// over without conflict when it first applies server-side.
fn allowed_by_last_applied(live: &Value, req: &ApplyRequest) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(req.api_version) {
        return None;
    }
    let set = merge::raw_fields_of(&last, req.shape);
    let cmp = compare(&last, live, req.shape, Markers::All);
    Some(set.difference(&cmp.modified).difference(&cmp.added).difference(&cmp.removed))
}

/// After an apply by `kubectl`, an existing last-applied annotation is rewritten to the new
/// configuration (as Go encodes it, without the annotation itself, newline-terminated).
fn update_last_applied(object: &mut Value, config: &Value) {
    if last_applied(object).is_none() {
        return;
    }
    let mut cfg = config.clone();
    if let Some(Value::Object(meta)) = cfg.get_mut("metadata") {
        let now_empty = match meta.get_mut("annotations") {
            Some(Value::Object(ann)) => {
                ann.remove(LAST_APPLIED_ANNOTATION);
                ann.is_empty()
            }
            _ => false,
        };
        if now_empty {
            meta.remove("annotations");
        }
    }
    let text = format!("{}\n", fieldset::go_json(&cfg));
    if let Some(Value::Object(ann)) = object.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
        ann.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(text));
    }
}

/// One apply attempt on a live object without managedFields.
fn apply_once(
    live: &Value,
    config: &Value,
    managed: Vec<ManagedEntry>,
    req: &ApplyRequest,
    force: bool,
) -> Result<Applied, ApplyConflicts> {
    let shape = req.shape;
    let subresource = req.subresource.filter(|s| !s.is_empty());

    let config_set = fields_of(config, shape);
    let (mine, mut others): (Vec<ManagedEntry>, Vec<ManagedEntry>) =
        managed.into_iter().partition(|e| e.is(req.manager, Operation::Apply, req.api_version, subresource));
    let previous = mine.into_iter().last();

    let mut merged = merge(Some(live), config, shape);
    if let Some(prev) = previous.as_ref().filter(|p| !p.fields.is_empty()) {
        let owned = others.iter().fold(config_set.clone(), |acc, e| acc.union(&e.fields));
        prune(&mut merged, shape, &prev.fields, &owned);
    }

    let cmp = compare(live, &merged, shape, Markers::All);
    let changed_paths = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    let mut taken: Vec<FieldSet> = Vec::with_capacity(others.len());
    for other in &others {
        let clash = other.fields.intersection(&changed_paths);
        for path in clash.paths() {
            conflicts.push(Conflict { manager: other.describe(), identifier: other.identifier(), path });
        }
        taken.push(clash);
    }
    if !force && !conflicts.is_empty() {
        // Stable: field-set order within a manager, managers by identifier.
        conflicts.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        return Err(ApplyConflicts { conflicts });
    }
    for (other, clash) in others.iter_mut().zip(taken.iter()) {
        other.fields = other.fields.difference(clash).difference(&cmp.removed);
    }

    let changed = *live != merged;
    let time = match &previous {
        Some(prev) if !changed => prev.time.clone(),
        _ => req.now.to_string(),
    };
    let mut entries = others;
    entries.push(ManagedEntry {
        manager: req.manager.to_string(),
        operation: Operation::Apply,
        api_version: req.api_version.to_string(),
        time,
        fields: config_set,
        subresource: subresource.map(str::to_string),
    });
    entries.retain(|e| !e.fields.is_empty());
    sort_entries(&mut entries);

    Ok(Applied { object: merged, managed: entries, changed })
}

/// Writes `entries` into `metadata.managedFields` (removing it when there are none).
pub fn set_managed_fields(object: &mut Value, entries: &[ManagedEntry]) {
    let encoded = encode_managed_fields(entries);
    let empty = matches!(&encoded, Value::Array(a) if a.is_empty());
    let Value::Object(root) = object else { return };
    if empty {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert("managedFields".to_string(), encoded);
    }
}

#[cfg(test)]
mod tests;
