//! `data.inventory`: the objects Gatekeeper replicates for policies that look at other objects
//! (uniqueness of ingress hosts, labels on the namespace, …).
//!
//! Layout: `cluster[<apiVersion>][<Kind>][<name>]` for cluster-scoped objects and
//! `namespace[<ns>][<apiVersion>][<Kind>][<name>]` for namespaced ones, `<apiVersion>` being
//! `v1` for core and `group/version` otherwise. Only kinds listed in the Gatekeeper `Config`
//! (`spec.sync.syncOnly`) or a `SyncSet` are synced; choosing which objects go in is the
//! caller's job. This module must not read the store.

use serde_json::{Map, Value};

/// The `data.inventory` document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    cluster: Map<String, Value>,
    namespace: Map<String, Value>,
}

impl Inventory {
    pub fn new() -> Self {
        Inventory::default()
    }

    /// Adds (or replaces) an object by its `apiVersion`, `kind`, `metadata.namespace` and
    /// `metadata.name`. Objects without apiVersion, kind or name are ignored.
    pub fn insert(&mut self, obj: &Value) {
        let Some((api_version, kind, ns, name)) = identity(obj) else {
            return;
        };
        let root = if ns.is_empty() { Some(&mut self.cluster) } else { object_entry(&mut self.namespace, ns) };
        if let Some(by_kind) = root.and_then(|r| object_entry(r, api_version)).and_then(|v| object_entry(v, kind)) {
            by_kind.insert(name.to_string(), obj.clone());
        }
    }

    /// Removes an object, pruning empty levels.
    pub fn remove(&mut self, obj: &Value) {
        let Some((api_version, kind, ns, name)) = identity(obj) else {
            return;
        };
        if ns.is_empty() {
            remove_path(&mut self.cluster, &[api_version, kind, name]);
        } else {
            remove_path(&mut self.namespace, &[ns, api_version, kind, name]);
        }
    }

    /// `{cluster: …, namespace: …}`, the value of `data.inventory`.
    pub fn to_value(&self) -> Value {
        serde_json::json!({"cluster": self.cluster, "namespace": self.namespace})
    }
}

fn identity(obj: &Value) -> Option<(&str, &str, &str, &str)> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).filter(|s| !s.is_empty())?;
    let kind = obj.get("kind").and_then(Value::as_str).filter(|s| !s.is_empty())?;
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).filter(|s| !s.is_empty())?;
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    Some((api_version, kind, ns, name))
}

fn object_entry<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let slot = m.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

fn remove_path(m: &mut Map<String, Value>, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        m.remove(*first);
        return;
    }
    if let Some(Value::Object(child)) = m.get_mut(*first) {
        remove_path(child, rest);
        if child.is_empty() {
            m.remove(*first);
        }
    }
}
