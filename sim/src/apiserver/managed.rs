//! Bridges the request pipeline to server-side apply and managedFields bookkeeping
//! (`apply`): who manages which fields after a create, an update or an apply.
//!
//! The field-set algebra lives in `apply`; this module only picks the manager, the operation
//! and the shape, and must not reimplement merging.

use serde_json::Value;

use super::error::ApiError;
use super::resources::ResourceDef;

/// The manager name kube-apiserver derives from a User-Agent (the part before the first `/`).
pub fn manager_from_user_agent(ua: &str) -> String {
    super::apply::manager_from_user_agent(ua)
}

fn entries(obj: &Value) -> Vec<super::apply::ManagedEntry> {
    obj.pointer("/metadata/managedFields")
        .map(|m| super::apply::decode_managed_fields(m).unwrap_or_default())
        .unwrap_or_default()
}

fn store_entries(obj: &mut Value, entries: &[super::apply::ManagedEntry]) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), super::apply::encode_managed_fields(entries));
        }
    }
}

/// Records a create by `manager` (operation Update).
pub fn on_create(def: &ResourceDef, obj: &mut Value, manager: &str, now: &str) {
    // Written again below, once the change is recorded.
    super::apply::remove_managed_fields(obj);
    let e = super::apply::record_update(None, obj, Vec::new(), manager, &def.api_version(), &def.shape, now, None);
    store_entries(obj, &e);
}

/// Records an update, patch or status write by `manager` (operation Update).
pub fn on_update(def: &ResourceDef, old: &Value, next: &mut Value, manager: &str, now: &str, sub: Option<&str>) {
    let managed = entries(old);
    // `old` keeps its entries (the field sets are compared without them); `next` gets new ones.
    super::apply::remove_managed_fields(next);
    let e = super::apply::record_update(Some(old), next, managed, manager, &def.api_version(), &def.shape, now, sub);
    store_entries(next, &e);
}

/// Server-side apply of `config` by `manager` onto `live` (None: the object does not exist).
/// The result carries its `metadata.managedFields`.
pub fn apply(
    def: &ResourceDef,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApiError> {
    let managed = live.map(entries).unwrap_or_default();
    let api_version = def.api_version();
    let req = super::apply::ApplyRequest {
        manager,
        api_version: &api_version,
        force,
        shape: &def.shape,
        now,
        subresource: None,
    };
    let applied = super::apply::server_side_apply(live, config, managed, &req).map_err(|c| c.to_api_error())?;
    Ok(applied.object)
}
