//! CRDs of the simulated ACK controllers, generated from the Rust spec types (schemars) and
//! turned into Kubernetes structural schemas: every `$ref` inlined, `Option` fields plain (ACK's
//! CRDs are not nullable), only the formats Kubernetes knows kept. Structural schemas are what
//! makes the API server reject an undeclared field under server-side apply, as the real CRDs do.
//!
//! This module only converts schemas; it must not hold any resource's fields (those are in
//! `iam`, `rds` and `secretsmanager`).

use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::crds::{self, Version};

/// The structural schema of `T` (an object with its properties, required fields and nested
/// objects inlined).
pub fn structural<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    normalize(&mut v);
    v
}

/// Rewrites a generated JSON Schema into the subset a structural CRD schema allows.
fn normalize(v: &mut Value) {
    if v == &Value::Bool(true) {
        *v = json!({"x-kubernetes-preserve-unknown-fields": true});
        return;
    }
    let Some(o) = v.as_object_mut() else { return };
    for k in ["$schema", "title", "nullable", "definitions", "$defs", "components", "default", "examples"] {
        o.remove(k);
    }
    // `anyOf: [X, {type: null}]` (an optional subschema) is X.
    if let Some(Value::Array(any)) = o.get("anyOf").cloned() {
        let non_null: Vec<Value> = any.into_iter().filter(|s| s.get("type") != Some(&json!("null"))).collect();
        if non_null.len() == 1 {
            o.remove("anyOf");
            if let Some(Value::Object(inner)) = non_null.into_iter().next() {
                for (k, val) in inner {
                    o.entry(k).or_insert(val);
                }
            }
        }
    }
    if let Some(Value::Array(types)) = o.get("type").cloned() {
        if let Some(t) = types.into_iter().find(|t| t != "null") {
            o.insert("type".into(), t);
        }
    }
    if let Some(f) = o.get("format").and_then(Value::as_str) {
        if !matches!(f, "int64" | "int32" | "date-time") {
            o.remove("format");
        }
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for p in props.values_mut() {
            normalize(p);
        }
    }
    for k in ["items", "additionalProperties"] {
        if let Some(s) = o.get_mut(k) {
            normalize(s);
        }
    }
    if o.get("additionalProperties") == Some(&json!(false)) {
        o.remove("additionalProperties");
    }
}

/// One ACK kind: its group, names and schemas.
pub struct KindCrd {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub spec: Value,
    pub status: Value,
    /// `additionalPrinterColumns` `(name, type, jsonPath)`: upstream's CRDs have none except
    /// DBInstance's `STATUS`.
    pub columns: &'static [(&'static str, &'static str, &'static str)],
}

/// The status every ACK resource has (`ackResourceMetadata`, `conditions`) plus `extra`
/// properties of the kind.
pub fn status(extra: &[(&str, Value)]) -> Value {
    let mut props: Map<String, Value> = Map::new();
    props.insert(
        "ackResourceMetadata".into(),
        crds::object(
            &[("arn", crds::string()), ("ownerAccountID", crds::string()), ("region", crds::string())],
            &["ownerAccountID", "region"],
        ),
    );
    props.insert(
        "conditions".into(),
        crds::array(crds::object(
            &[
                ("lastTransitionTime", json!({"type": "string", "format": "date-time"})),
                ("message", crds::string()),
                ("reason", crds::string()),
                ("status", crds::string()),
                ("type", crds::string()),
            ],
            &["status", "type"],
        )),
    );
    for (k, v) in extra {
        props.insert((*k).to_string(), v.clone());
    }
    json!({"type": "object", "properties": props})
}

impl KindCrd {
    /// The CRD: `v1alpha1`, namespaced, status subresource, the kind's printer columns.
    pub fn crd(&self) -> Value {
        let version = self
            .columns
            .iter()
            .fold(Version::storage("v1alpha1"), |v, (name, type_, path)| v.column(name, type_, path));
        let schema = crds::resource(self.spec.clone(), self.status.clone());
        crds::crd(self.group, self.kind, self.plural, "Namespaced", &[], &[version], &schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        key: String,
        name: Option<String>,
    }

    #[derive(schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        required_name: String,
        count: Option<i64>,
        inner: Option<Inner>,
        list: Option<Vec<Inner>>,
        map: Option<BTreeMap<String, String>>,
    }

    #[test]
    fn generated_schemas_are_structural() {
        let s = structural::<Sample>();
        assert_eq!(s["type"], "object");
        assert_eq!(s["required"], json!(["requiredName"]));
        assert_eq!(s["properties"]["count"], json!({"type": "integer", "format": "int64"}));
        assert_eq!(s["properties"]["inner"]["type"], "object");
        assert_eq!(s["properties"]["inner"]["required"], json!(["key"]));
        assert_eq!(s["properties"]["list"]["items"]["properties"]["name"], json!({"type": "string"}));
        assert_eq!(s["properties"]["map"]["additionalProperties"], json!({"type": "string"}));
        let text = s.to_string();
        for banned in ["$ref", "nullable", "anyOf", "$schema", "\"null\""] {
            assert!(!text.contains(banned), "{banned} in {text}");
        }
    }
}
