//! Small builders for the CustomResourceDefinitions the simulated components install (Flux,
//! Gatekeeper, later ACK and Crossplane): the CRD envelope and the common schema shapes.
//!
//! Schemas are written in each component's module from the documented fields of the real
//! CRDs; this module only removes the JSON boilerplate. It must not hold any component's
//! schema.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{json, Map, Value};

/// The CRDs `make` returns, made once per process under `key` (a component and its version):
/// making a CRD is pure, and every simulated platform of a run installs the same ones.
pub fn made_once(key: &str, make: impl FnOnce() -> Vec<Value>) -> Arc<Vec<Value>> {
    static MADE: LazyLock<Mutex<HashMap<String, Arc<Vec<Value>>>>> = LazyLock::new(Default::default);
    let found = MADE.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
    let crds = match found {
        Some(crds) => crds,
        None => {
            let crds = Arc::new(make());
            MADE.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), crds.clone());
            crds
        }
    };
    crds
}

/// One served version of a CRD.
#[derive(Debug, Clone)]
pub struct Version<'a> {
    pub name: &'a str,
    pub storage: bool,
    /// `deprecationWarning`, sent as a Warning header on every request to this version.
    pub deprecated: Option<&'a str>,
    /// `additionalPrinterColumns` (`kubectl get` columns).
    pub columns: Vec<Value>,
}

impl<'a> Version<'a> {
    pub fn storage(name: &'a str) -> Self {
        Version { name, storage: true, deprecated: None, columns: Vec::new() }
    }

    pub fn served(name: &'a str) -> Self {
        Version { name, storage: false, deprecated: None, columns: Vec::new() }
    }

    pub fn deprecated(mut self, warning: &'a str) -> Self {
        self.deprecated = Some(warning);
        self
    }

    /// Adds a printer column (`jsonPath` like `.status.conditions[?(@.type=="Ready")].status`).
    pub fn column(mut self, name: &str, type_: &str, json_path: &str) -> Self {
        self.columns.push(json!({"name": name, "type": type_, "jsonPath": json_path}));
        self
    }
}

/// A CRD (`apiextensions.k8s.io/v1`) whose versions all share `schema` and have a status
/// subresource. `scope` is `Namespaced` or `Cluster`.
pub fn crd(
    group: &str,
    kind: &str,
    plural: &str,
    scope: &str,
    short_names: &[&str],
    versions: &[Version<'_>],
    schema: &Value,
) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut out = json!({
                "name": v.name, "served": true, "storage": v.storage,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
            });
            if let Some(w) = v.deprecated {
                out["deprecated"] = json!(true);
                out["deprecationWarning"] = json!(w);
            }
            if !v.columns.is_empty() {
                out["additionalPrinterColumns"] = json!(v.columns);
            }
            out
        })
        .collect();
    let mut names =
        json!({"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()});
    if !short_names.is_empty() {
        names["shortNames"] = json!(short_names);
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "names": names, "scope": scope, "versions": versions}
    })
}

/// The top level of a custom resource schema: `apiVersion`, `kind`, `metadata`, and the given
/// `spec` and `status` schemas.
pub fn resource(spec: Value, status: Value) -> Value {
    json!({"type": "object", "properties": {
        "apiVersion": string(), "kind": string(), "metadata": {"type": "object"},
        "spec": spec, "status": status,
    }})
}

pub fn string() -> Value {
    json!({"type": "string"})
}

pub fn enum_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

pub fn pattern(p: &str) -> Value {
    json!({"type": "string", "pattern": p})
}

pub fn boolean() -> Value {
    json!({"type": "boolean"})
}

pub fn integer() -> Value {
    json!({"type": "integer"})
}

pub fn strings() -> Value {
    array(string())
}

pub fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// A map of strings (labels, annotations, substitutions).
pub fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

/// An object whose content is not checked (`x-kubernetes-preserve-unknown-fields`).
pub fn open_object() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Any JSON value (`x-kubernetes-preserve-unknown-fields` without a type).
pub fn any() -> Value {
    json!({"x-kubernetes-preserve-unknown-fields": true})
}

/// An object with these properties (unknown ones are pruned, or rejected by strict clients)
/// and these required ones.
pub fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = properties.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let mut o = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// `metav1.Condition` list, as every Flux and ACK status has.
pub fn conditions() -> Value {
    array(object(
        &[
            ("type", string()),
            ("status", enum_of(&["True", "False", "Unknown"])),
            ("observedGeneration", integer()),
            ("lastTransitionTime", string()),
            ("reason", string()),
            ("message", string()),
        ],
        &["type", "status"],
    ))
}
