//! The inventory (`status.inventory.entries[{id, v}]`) and garbage collection: the entries
//! are the change set of the last successful apply, in its order (stage, then
//! `ssa.ReconcileOrder`); objects in the old inventory and not in the new one are deleted,
//! unless they opt out (`kustomize.toolkit.fluxcd.io/prune: disabled`, `reconcile: disabled`,
//! `ssa: Ignore`, as label or annotation) or no longer carry this Kustomization's owner labels
//! (fluxcd/pkg `ssa` `DeleteAll` with kustomize-controller's inclusions and exclusions).
//!
//! This module must not apply anything; deletion goes through the API server.

use serde_json::{json, Value};

use super::apply::{self, Action, Change, ObjRef};
use crate::runtime::Cx;

const FLUX_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The inventory of a change set.
pub fn from_changes(changes: &[Change]) -> Value {
    let entries: Vec<Value> = changes.iter().map(|c| json!({"id": c.obj.id(), "v": c.obj.version})).collect();
    json!({"entries": entries})
}

/// The objects of a stored inventory.
pub fn refs(inventory: Option<&Value>) -> Vec<ObjRef> {
    inventory
        .and_then(|i| i.get("entries"))
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .filter_map(|e| {
                    let id = e.get("id").and_then(Value::as_str)?;
                    let v = e.get("v").and_then(Value::as_str).unwrap_or_default();
                    ObjRef::from_entry(id, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Entries of `old` missing from `new` (compared by id), sorted as upstream sorts them.
pub fn stale(old: &[ObjRef], new: &[ObjRef]) -> Vec<ObjRef> {
    let keep: std::collections::HashSet<String> = new.iter().map(ObjRef::id).collect();
    let mut out: Vec<ObjRef> = old.iter().filter(|r| !keep.contains(&r.id())).cloned().collect();
    out.sort_by_key(apply::sort_key);
    out
}

fn has(obj: &Value, key: &str, value: &str) -> bool {
    ["/metadata/labels", "/metadata/annotations"]
        .iter()
        .any(|p| obj.pointer(p).and_then(|m| m.get(key)).and_then(Value::as_str) == Some(value))
}

/// Deletes `objects` as `DeleteAll` does. Returns the change set (deleted and skipped
/// objects; objects already gone are left out) or the first failure.
pub async fn delete_all(cx: &Cx, objects: &[ObjRef], owner: (&str, &str)) -> Result<Vec<Change>, String> {
    let mut changes = Vec::new();
    for r in objects {
        let Some(current) = apply::existing(cx, r) else { continue };
        let excluded = has(&current, &format!("{FLUX_GROUP}/prune"), "disabled")
            || has(&current, &format!("{FLUX_GROUP}/reconcile"), "disabled")
            || has(&current, &format!("{FLUX_GROUP}/ssa"), "Ignore");
        let label = |k: &str| current.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str);
        let owned = label(&format!("{FLUX_GROUP}/name")) == Some(owner.0)
            && label(&format!("{FLUX_GROUP}/namespace")) == Some(owner.1);
        if excluded || !owned {
            changes.push(Change { obj: r.clone(), action: Action::Skipped });
            continue;
        }
        let path = apply::rest_path(cx, r)
            .map(|(p, _)| p)
            .map_err(|_| format!("{} delete failed: unknown kind", r.display()))?;
        apply::delete(cx, &path).await.map_err(|e| format!("{} delete failed: {e}", r.display()))?;
        changes.push(Change { obj: r.clone(), action: Action::Deleted });
    }
    Ok(changes)
}
