//! Validation of a CRD's own `openAPIV3Schema`: the errors kube-apiserver returns (422 on the
//! CRD) when a schema is not structural or uses something CRDs do not allow.
//!
//! Covers the structural invariants (types everywhere, `items` for arrays, no
//! `additionalProperties` at the root, embedded resources, int-or-string, metadata restrictions),
//! the value-validation rules for `allOf`/`anyOf`/`oneOf`/`not` (no types, defaults,
//! descriptions or extensions inside, and nothing there that the structural part lacks), the
//! per-node OpenAPI rules (`$ref`, `uniqueItems`, list and map types, CEL rule shape) and
//! defaults (must validate and must not have unknown fields). Structural errors come sorted by
//! their text, as kube-apiserver sorts them.

use serde_json::{Map, Value};

use super::structural::{child, key, parse_at, Structural};
use super::structural_prune::prune;
use super::structural_validate::{go_quote, go_value, validate_at};
use crate::apiserver::error::{CauseType, FieldError};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// Checks a CRD version's `openAPIV3Schema` (`schema`) whose field path is `base`
/// (`spec.versions[0].schema.openAPIV3Schema`). Empty when the schema is acceptable.
pub fn check_structural(schema: &Value, base: &str) -> Vec<FieldError> {
    let parsed = match parse_at(schema, base) {
        Ok(s) => s,
        Err(errs) => return errs,
    };
    let Value::Object(root) = schema else {
        return vec![FieldError::required(child(base, "type"), "must not be empty at the root")];
    };
    let mut structural = Vec::new();
    invariants(root, Level::Root, base, &mut structural);
    completeness(root, base, &mut structural);
    structural.sort_by_key(|e| e.line());
    structural.dedup();

    let mut errs = Vec::new();
    if root.get("nullable") == Some(&Value::Bool(true)) {
        errs.push(FieldError::forbidden(child(base, "nullable"), "nullable cannot be true at the root"));
    }
    errs.extend(structural);
    if errs.is_empty() {
        defaults(&parsed, base, true, &mut errs);
    }
    openapi_rules(root, base, true, false, &mut errs);
    errs
}

fn invalid(path: String, v: &Value, why: &str) -> FieldError {
    FieldError { kind: CauseType::Invalid, field: path, detail: format!("Invalid value: {}: {why}", go_value(v)) }
}

fn not_supported(path: String, v: &Value, allowed: &[&str]) -> FieldError {
    let list: Vec<String> = allowed.iter().map(|a| go_quote(a)).collect();
    FieldError {
        kind: CauseType::NotSupported,
        field: path,
        detail: format!("Unsupported value: {}: supported values: {}", go_value(v), list.join(", ")),
    }
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn flag(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k) == Some(&Value::Bool(true))
}

fn props(m: &Map<String, Value>) -> Vec<(&String, &Map<String, Value>)> {
    match m.get("properties") {
        Some(Value::Object(p)) => p.iter().filter_map(|(k, v)| v.as_object().map(|o| (k, o))).collect(),
        _ => Vec::new(),
    }
}

fn schema_list<'a>(m: &'a Map<String, Value>, k: &str) -> Vec<&'a Map<String, Value>> {
    match m.get(k) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    }
}

fn is_int_or_string_any_of(any_of: &[&Map<String, Value>]) -> bool {
    let only_type = |m: &Map<String, Value>, t: &str| m.len() == 1 && str_of(m, "type") == t;
    matches!(any_of, [a, b] if only_type(a, "integer") && only_type(b, "string"))
}

/// `validateStructuralInvariants` over the structural part of the schema.
fn invariants(m: &Map<String, Value>, lvl: Level, path: &str, errs: &mut Vec<FieldError>) {
    let ty = str_of(m, "type");
    let embedded = flag(m, "x-kubernetes-embedded-resource");
    let int_or_string = flag(m, "x-kubernetes-int-or-string");
    let preserve = flag(m, "x-kubernetes-preserve-unknown-fields");
    let items = m.get("items").and_then(Value::as_object);
    if ty == "array" && items.is_none() {
        errs.push(FieldError::required(child(path, "items"), "must be specified"));
    }
    if let Some(i) = items {
        invariants(i, Level::Item, &child(path, "items"), errs);
    }
    for (k, p) in props(m) {
        invariants(p, Level::Field, &key(&child(path, "properties"), k), errs);
    }
    if let Some(a) = m.get("additionalProperties").filter(|a| !a.is_null()) {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(child(path, "additionalProperties"), "must not be used at the root"));
        }
        if let Some(ao) = a.as_object() {
            invariants(ao, Level::Field, &child(path, "additionalProperties"), errs);
        }
        if embedded {
            errs.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "must not be used if x-kubernetes-embedded-resource is set",
            ));
        }
    }
    if int_or_string && preserve {
        errs.push(invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errs.push(invalid(
            child(path, "x-kubernetes-embedded-resource"),
            &Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let any_of = schema_list(m, "anyOf");
    let all_of = schema_list(m, "allOf");
    let skip_any_of = is_int_or_string_any_of(&any_of);
    let skip_first_all_of_any_of =
        all_of.first().is_some_and(|first| is_int_or_string_any_of(&schema_list(first, "anyOf")));
    value_validation(m, skip_any_of, skip_first_all_of_any_of, path, errs);

    if embedded && ty != "object" {
        if ty.is_empty() {
            errs.push(FieldError::required(
                child(path, "type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errs.push(invalid(
                child(path, "type"),
                &Value::String(ty.into()),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if ty.is_empty() && !int_or_string && !preserve {
        let why = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(child(path, "type"), why));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(invalid(child(path, "type"), &Value::String(ty.into()), "must be object at the root"));
    }
    let check_meta = lvl == Level::Root || embedded;
    let properties = props(m);
    for meta_string in ["kind", "apiVersion"] {
        if let Some((_, p)) = properties.iter().find(|(k, _)| k.as_str() == meta_string) {
            if check_meta && str_of(p, "type") != "string" {
                let at = child(&key(&child(path, "properties"), meta_string), "type");
                errs.push(invalid(at, &Value::String(str_of(p, "type").into()), "must be string"));
            }
        }
    }
    if let Some((_, md)) = properties.iter().find(|(k, _)| k.as_str() == "metadata") {
        let at = key(&child(path, "properties"), "metadata");
        if check_meta && str_of(md, "type") != "object" {
            errs.push(invalid(child(&at, "type"), &Value::String(str_of(md, "type").into()), "must be object"));
        }
        if lvl == Level::Root {
            let inner = props(md);
            let only_names = inner.iter().all(|(k, _)| k.as_str() == "name" || k.as_str() == "generateName");
            let extra = md.keys().any(|k| !matches!(k.as_str(), "type" | "default" | "properties"));
            if !only_names || extra {
                errs.push(FieldError::forbidden(
                    at,
                    "must not specify anything other than name and generateName, but metadata is implicitly specified",
                ));
            }
        }
    }
    if embedded && !preserve && properties.is_empty() {
        errs.push(FieldError::required(
            child(path, "properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// `validateValueValidation`: what the junctors of one node may contain.
fn value_validation(
    m: &Map<String, Value>,
    skip_any_of: bool,
    skip_first: bool,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, a) in schema_list(m, "anyOf").into_iter().enumerate() {
            nested(a, false, &format!("{}[{i}]", child(path, "anyOf")), errs);
        }
    }
    for (i, a) in schema_list(m, "allOf").into_iter().enumerate() {
        nested(a, skip_first && i == 0, &format!("{}[{i}]", child(path, "allOf")), errs);
    }
    for (i, a) in schema_list(m, "oneOf").into_iter().enumerate() {
        nested(a, false, &format!("{}[{i}]", child(path, "oneOf")), errs);
    }
    if let Some(n) = m.get("not").and_then(Value::as_object) {
        nested(n, false, &child(path, "not"), errs);
    }
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        if let Err(e) = regex::Regex::new(p) {
            let first = e.to_string().lines().last().unwrap_or("").trim().to_string();
            errs.push(invalid(
                child(path, "pattern"),
                &Value::String(p.into()),
                &format!("must be a valid regular expression, but isn't: {first}"),
            ));
        }
    }
}

fn nested(m: &Map<String, Value>, skip_any_of: bool, path: &str, errs: &mut Vec<FieldError>) {
    value_validation(m, skip_any_of, false, path, errs);
    if let Some(i) = m.get("items").and_then(Value::as_object) {
        nested(i, false, &child(path, "items"), errs);
    }
    for (k, p) in props(m) {
        nested(p, false, &key(&child(path, "properties"), k), errs);
    }
    if !str_of(m, "type").is_empty() {
        errs.push(FieldError::forbidden(child(path, "type"), "must be empty to be structural"));
    }
    if m.get("additionalProperties").is_some_and(|a| !a.is_null()) {
        errs.push(FieldError::forbidden(child(path, "additionalProperties"), "must be undefined to be structural"));
    }
    if m.get("default").is_some_and(|d| !d.is_null()) {
        errs.push(FieldError::forbidden(child(path, "default"), "must be undefined to be structural"));
    }
    if !str_of(m, "title").is_empty() {
        errs.push(FieldError::forbidden(child(path, "title"), "must be empty to be structural"));
    }
    if !str_of(m, "description").is_empty() {
        errs.push(FieldError::forbidden(child(path, "description"), "must be empty to be structural"));
    }
    if flag(m, "nullable") {
        errs.push(FieldError::forbidden(child(path, "nullable"), "must be false to be structural"));
    }
    for ext in ["x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string"]
    {
        if flag(m, ext) {
            errs.push(FieldError::forbidden(child(path, ext), "must be false to be structural"));
        }
    }
    if m.get("x-kubernetes-list-map-keys").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        errs.push(FieldError::forbidden(child(path, "x-kubernetes-list-map-keys"), "must be empty to be structural"));
    }
    for ext in ["x-kubernetes-list-type", "x-kubernetes-map-type"] {
        if m.get(ext).is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(child(path, ext), "must be undefined to be structural"));
        }
    }
    if m.get("x-kubernetes-validations").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        errs.push(FieldError::forbidden(child(path, "x-kubernetes-validations"), "must be empty to be structural"));
    }
    if props(m).iter().any(|(k, _)| k.as_str() == "metadata") {
        errs.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// `validateStructuralCompleteness`: everything mentioned inside junctors exists outside them.
fn completeness(m: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    for (k, p) in props(m) {
        completeness(p, &key(&child(path, "properties"), k), errs);
    }
    if let Some(i) = m.get("items").and_then(Value::as_object) {
        completeness(i, &child(path, "items"), errs);
    }
    if let Some(a) = m.get("additionalProperties").and_then(Value::as_object) {
        completeness(a, &child(path, "additionalProperties"), errs);
    }
    junctor_completeness(m, Some(m), path, path, errs);
}

fn junctor_completeness(
    v: &Map<String, Value>,
    s: Option<&Map<String, Value>>,
    s_path: &str,
    v_path: &str,
    errs: &mut Vec<FieldError>,
) {
    for j in ["allOf", "anyOf", "oneOf"] {
        for (i, n) in schema_list(v, j).into_iter().enumerate() {
            nested_completeness(n, s, s_path, &format!("{}[{i}]", child(v_path, j)), errs);
        }
    }
    if let Some(n) = v.get("not").and_then(Value::as_object) {
        nested_completeness(n, s, s_path, &child(v_path, "not"), errs);
    }
}

fn nested_completeness(
    v: &Map<String, Value>,
    s: Option<&Map<String, Value>>,
    s_path: &str,
    v_path: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(FieldError::required(s_path.to_string(), &format!("because it is defined in {v_path}")));
        return;
    };
    junctor_completeness(v, Some(s), s_path, v_path, errs);
    let s_props = props(s);
    for (k, p) in props(v) {
        let sp = s_props.iter().find(|(sk, _)| *sk == k).map(|(_, m)| *m);
        nested_completeness(p, sp, &key(&child(s_path, "properties"), k), &key(&child(v_path, "properties"), k), errs);
    }
    if let Some(i) = v.get("items").and_then(Value::as_object) {
        let si = s.get("items").and_then(Value::as_object);
        nested_completeness(i, si, &child(s_path, "items"), &child(v_path, "items"), errs);
    }
}

/// Defaults must validate against their schema and must not carry unknown fields.
fn defaults(s: &Structural, path: &str, root: bool, errs: &mut Vec<FieldError>) {
    if let Some(d) = s.default.as_ref().filter(|d| !d.is_null()) {
        let at = child(path, "default");
        let found = validate_at(s, d, &at);
        if !found.is_empty() {
            errs.extend(found);
        } else {
            // Pruned as a resource's top (apiVersion, kind and metadata kept), as before.
            let mut copy = d.clone();
            if !prune(s, &mut copy).is_empty() && d.is_object() {
                errs.push(invalid(at, d, "must not have unknown fields"));
            }
        }
    }
    for (k, p) in &s.properties {
        if root && k == "metadata" {
            continue;
        }
        defaults(p, &key(&child(path, "properties"), k), false, errs);
    }
    if let Some(i) = &s.items {
        defaults(i, &child(path, "items"), false, errs);
    }
    if let Some(a) = s.additional_schema() {
        defaults(a, &child(path, "additionalProperties"), false, errs);
    }
}

/// Per-node rules of `ValidateCustomResourceDefinitionOpenAPISchema`.
fn openapi_rules(m: &Map<String, Value>, path: &str, root: bool, in_meta: bool, errs: &mut Vec<FieldError>) {
    let ty = str_of(m, "type");
    if let Some(t) = m.get("type").and_then(Value::as_str) {
        if !t.is_empty() && !TYPES.contains(&t) {
            errs.push(not_supported(child(path, "type"), &Value::String(t.into()), TYPES));
        }
        if t == "null" {
            errs.push(FieldError::forbidden(
                child(path, "type"),
                "type cannot be set to null, use nullable as an alternative",
            ));
        }
    }
    if root {
        if let Some((_, md)) = props(m).into_iter().find(|(k, _)| k.as_str() == "metadata") {
            if md.get("default").is_some_and(|d| !d.is_null()) {
                errs.push(FieldError::forbidden(
                    child(&key(&child(path, "properties"), "metadata"), "default"),
                    "must not be set in top-level metadata",
                ));
            }
        }
    }
    for (k, why) in [
        ("id", "id is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("$ref", "$ref is not supported"),
    ] {
        if m.get(k).is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(child(path, k), why));
        }
    }
    if m.get("items").is_some_and(Value::is_array) {
        errs.push(FieldError::forbidden(child(path, "items"), "items must be a schema object and not an array"));
    }
    if in_meta && flag(m, "x-kubernetes-embedded-resource") {
        errs.push(FieldError::forbidden(
            child(path, "x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
    if flag(m, "uniqueItems") {
        errs.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let properties = props(m);
    if let Some(a) = m.get("additionalProperties").filter(|a| !a.is_null()) {
        if !properties.is_empty() && (a == &Value::Bool(false) || a.is_object()) {
            errs.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if let Some(ao) = a.as_object() {
            openapi_rules(ao, &child(path, "additionalProperties"), false, in_meta, errs);
        }
    }
    let embedded = flag(m, "x-kubernetes-embedded-resource");
    for (k, p) in &properties {
        let meta = (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
        openapi_rules(p, &key(&child(path, "properties"), k), false, in_meta || meta, errs);
    }
    if let Some(n) = m.get("not").and_then(Value::as_object) {
        openapi_rules(n, &child(path, "not"), false, in_meta, errs);
    }
    for j in ["allOf", "oneOf", "anyOf"] {
        for (i, n) in schema_list(m, j).into_iter().enumerate() {
            openapi_rules(n, &format!("{}[{i}]", child(path, j)), false, in_meta, errs);
        }
    }
    if let Some(i) = m.get("items").and_then(Value::as_object) {
        openapi_rules(i, &child(path, "items"), false, in_meta, errs);
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        errs.push(invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            &Value::Bool(false),
            "must be true or undefined",
        ));
    }
    if let Some(mt) = m.get("x-kubernetes-map-type").and_then(Value::as_str) {
        if ty != "object" {
            if ty.is_empty() {
                errs.push(FieldError::required(
                    child(path, "type"),
                    "must be object if x-kubernetes-map-type is specified",
                ));
            } else {
                errs.push(invalid(
                    child(path, "type"),
                    &Value::String(ty.into()),
                    "must be object if x-kubernetes-map-type is specified",
                ));
            }
        }
        if mt != "atomic" && mt != "granular" {
            errs.push(not_supported(
                child(path, "x-kubernetes-map-type"),
                &Value::String(mt.into()),
                &["atomic", "granular"],
            ));
        }
    }
    list_rules(m, ty, path, errs);
    rule_shapes(m, path, errs);
}

fn list_rules(m: &Map<String, Value>, ty: &str, path: &str, errs: &mut Vec<FieldError>) {
    let list_type = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    if let Some(lt) = list_type {
        if ty != "array" {
            if ty.is_empty() {
                errs.push(FieldError::required(
                    child(path, "type"),
                    "must be array if x-kubernetes-list-type is specified",
                ));
            } else {
                errs.push(invalid(
                    child(path, "type"),
                    &Value::String(ty.into()),
                    "must be array if x-kubernetes-list-type is specified",
                ));
            }
        } else if lt == "set" {
            if let Some(items) = m.get("items").and_then(Value::as_object) {
                let ilt = items.get("x-kubernetes-list-type").and_then(Value::as_str);
                if ilt.is_some_and(|t| t != "atomic") {
                    let v = Value::String(ilt.unwrap_or("").into());
                    errs.push(invalid(
                        child(&child(path, "items"), "x-kubernetes-list-type"),
                        &v,
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    ));
                }
                if items.get("x-kubernetes-map-type").and_then(Value::as_str).is_some_and(|t| t != "atomic") {
                    let v = Value::String(ilt.unwrap_or("").into());
                    errs.push(invalid(
                        child(&child(path, "items"), "x-kubernetes-map-type"),
                        &v,
                        "must be atomic as item of a list with x-kubernetes-list-type=set",
                    ));
                }
            }
        }
        if !matches!(lt, "atomic" | "set" | "map") {
            errs.push(not_supported(
                child(path, "x-kubernetes-list-type"),
                &Value::String(lt.into()),
                &["atomic", "set", "map"],
            ));
        }
    }
    let keys: Vec<&str> = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !keys.is_empty() && list_type != Some("map") {
        match list_type {
            None => errs.push(FieldError::required(
                child(path, "x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(lt) => errs.push(invalid(
                child(path, "x-kubernetes-list-type"),
                &Value::String(lt.into()),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
        }
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            errs.push(FieldError::required(
                child(path, "x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match m.get("items").and_then(Value::as_object) {
            None => errs.push(FieldError::required(
                child(path, "items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(items) => {
                let it = str_of(items, "type");
                if it != "object" {
                    errs.push(invalid(
                        child(&child(path, "items"), "type"),
                        &Value::String(it.into()),
                        "must be object if parent array's x-kubernetes-list-type is map",
                    ));
                } else {
                    let item_props = props(items);
                    let keys_value = m.get("x-kubernetes-list-map-keys").cloned().unwrap_or(Value::Null);
                    let mut bad_name = false;
                    for k in &keys {
                        match item_props.iter().find(|(pk, _)| pk.as_str() == *k) {
                            Some((_, p)) => {
                                let pt = str_of(p, "type");
                                if !matches!(pt, "string" | "integer" | "number" | "boolean") {
                                    errs.push(invalid(
                                        child(&key(&child(&child(path, "items"), "properties"), k), "type"),
                                        &Value::String(pt.into()),
                                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                    ));
                                }
                            }
                            None => bad_name = true,
                        }
                    }
                    if bad_name {
                        errs.push(invalid(
                            child(path, "x-kubernetes-list-map-keys"),
                            &keys_value,
                            "entries must all be names of item properties",
                        ));
                    }
                    let mut sorted = keys.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    if sorted.len() != keys.len() {
                        errs.push(invalid(
                            child(path, "x-kubernetes-list-map-keys"),
                            &keys_value,
                            "must not contain duplicate entries",
                        ));
                    }
                }
            }
        }
    }
}

fn rule_shapes(m: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(rules) = m.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    for (i, r) in rules.iter().enumerate() {
        let Some(r) = r.as_object() else { continue };
        let at = format!("{}[{i}]", child(path, "x-kubernetes-validations"));
        let rule = str_of(r, "rule");
        if rule.trim().is_empty() {
            errs.push(FieldError::required(child(&at, "rule"), "rule is not specified"));
        }
        match r.get("message").and_then(Value::as_str) {
            Some(msg) if msg.trim().is_empty() => {
                errs.push(invalid(child(&at, "message"), &Value::String(msg.into()), "must be non-empty if specified"))
            }
            Some(msg) if msg.contains('\n') => {
                errs.push(invalid(child(&at, "message"), &Value::String(msg.into()), "must not contain line breaks"))
            }
            None if rule.contains('\n') => errs.push(FieldError::required(
                child(&at, "message"),
                "message must be specified if rule contains line breaks",
            )),
            _ => {}
        }
        if r.get("messageExpression").and_then(Value::as_str).is_some_and(|e| e.trim().is_empty()) {
            errs.push(FieldError::required(
                child(&at, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = r.get("reason").and_then(Value::as_str) {
            let ok = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"];
            if !ok.contains(&reason) {
                errs.push(not_supported(child(&at, "reason"), &Value::String(reason.into()), &ok));
            }
        }
    }
}
