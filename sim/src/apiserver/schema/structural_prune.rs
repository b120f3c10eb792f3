//! Pruning of unknown fields and defaulting, as apiextensions-apiserver does them for custom
//! resources, and the messages the server derives from pruned fields.
//!
//! Pruning treats the object as a resource root: `apiVersion`, `kind` and `metadata` are kept
//! (metadata is handled by ObjectMeta code elsewhere), as they are at every
//! `x-kubernetes-embedded-resource`. `x-kubernetes-preserve-unknown-fields` keeps unknown keys
//! but still prunes inside declared properties. Pruned paths come back sorted, dotted
//! (`spec.foo`, `spec.list[0].bar`).

use serde_json::Value;

use super::structural::{AdditionalProperties, Structural};

/// Removes fields the schema does not declare from a custom object; returns their paths,
/// sorted.
pub fn prune(s: &Structural, obj: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    // The top is a resource whatever its schema says (without copying the schema to say so).
    prune_node(Some(s), obj, "", &mut out, true);
    out.sort();
    out
}

fn join(parent: &str, k: &str) -> String {
    if parent.is_empty() {
        k.to_string()
    } else {
        format!("{parent}.{k}")
    }
}

fn is_meta(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

/// The schema for a key not in `properties`: `Some(None)` for `additionalProperties: true`
/// (values kept, but their own contents unknown), `None` when the key is unknown.
fn additional(s: &Structural) -> Option<Option<&Structural>> {
    match &s.additional_properties {
        Some(AdditionalProperties::Schema(a)) => Some(Some(a)),
        Some(AdditionalProperties::Bool(true)) => Some(None),
        _ => None,
    }
}

/// `root`: `x` is the object itself, whose `apiVersion`, `kind` and `metadata` are kept as at
/// an embedded resource.
fn prune_node(s: Option<&Structural>, x: &mut Value, path: &str, out: &mut Vec<String>, root: bool) {
    if let Some(sc) = s {
        if sc.preserves_unknown() {
            skip_prune(sc, x, path, out, root);
            return;
        }
    }
    match x {
        Value::Object(map) => {
            let Some(sc) = s else {
                for k in map.keys() {
                    out.push(join(path, k));
                }
                map.clear();
                return;
            };
            let mut remove = Vec::new();
            for (k, v) in map.iter_mut() {
                if (sc.embedded_resource || root) && is_meta(k) {
                    continue;
                }
                if let Some(p) = sc.property(k) {
                    prune_node(Some(p), v, &join(path, k), out, false);
                } else if let Some(a) = additional(sc) {
                    prune_node(a, v, &join(path, k), out, false);
                } else {
                    if !is_meta(k) || !path.is_empty() {
                        out.push(join(path, k));
                    }
                    remove.push(k.clone());
                }
            }
            for k in remove {
                map.remove(&k);
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|sc| sc.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                prune_node(item_schema, v, &format!("{path}[{i}]"), out, false);
            }
        }
        _ => {}
    }
}

fn skip_prune(s: &Structural, x: &mut Value, path: &str, out: &mut Vec<String>, root: bool) {
    match x {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if (s.embedded_resource || root) && is_meta(k) {
                    continue;
                }
                if let Some(p) = s.property(k) {
                    prune_node(Some(p), v, &join(path, k), out, false);
                } else if let Some(a) = additional(s) {
                    prune_node(a, v, &join(path, k), out, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.items.as_deref() {
                for (i, v) in items.iter_mut().enumerate() {
                    skip_prune(is, v, &format!("{path}[{i}]"), out, false);
                }
            }
        }
        _ => {}
    }
}

/// `strict decoding error: unknown field "spec.a", unknown field "spec.b"` (fieldValidation=Strict
/// on create, update and patch); `None` when nothing was pruned.
pub fn strict_unknown_fields_message(pruned: &[String]) -> Option<String> {
    if pruned.is_empty() {
        return None;
    }
    let parts: Vec<String> =
        pruned.iter().map(|p| format!("unknown field {}", super::structural_validate::go_quote(p))).collect();
    Some(format!("strict decoding error: {}", parts.join(", ")))
}

/// One `Warning` header text per pruned field (fieldValidation=Warn): `unknown field "spec.a"`.
pub fn unknown_field_warnings(pruned: &[String]) -> Vec<String> {
    pruned.iter().map(|p| format!("unknown field {}", super::structural_validate::go_quote(p))).collect()
}

/// The server-side apply wording for undeclared fields, one line per field:
/// `.spec.foo: field not declared in schema`. Several fields are listed as structured-merge-diff
/// joins them (`errors:\n  .spec.a: ...\n  .spec.b: ...`). `None` when nothing was pruned.
pub fn ssa_unknown_fields_message(pruned: &[String]) -> Option<String> {
    let lines: Vec<String> = pruned.iter().map(|p| format!(".{p}: field not declared in schema")).collect();
    match lines.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(format!("errors:\n  {}", many.join("\n  "))),
    }
}

fn is_non_nullable_null(v: &Value, s: &Structural) -> bool {
    v.is_null() && !s.nullable
}

/// Applies schema defaults: a property that is absent (or null while not nullable) gets its
/// default, in objects, list items and additionalProperties values; defaulted values are
/// themselves defaulted.
pub fn apply_defaults(s: &Structural, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            for (k, p) in &s.properties {
                let Some(d) = p.default.as_ref().filter(|d| !d.is_null()) else {
                    continue;
                };
                let missing = match map.get(k) {
                    None => true,
                    Some(v) => is_non_nullable_null(v, p),
                };
                if missing {
                    map.insert(k.clone(), d.clone());
                }
            }
            let additional = s.additional_schema();
            for (k, v) in map.iter_mut() {
                if let Some(p) = s.property(k) {
                    apply_defaults(p, v);
                } else if let Some(a) = additional {
                    if let Some(d) = a.default.as_ref().filter(|d| !d.is_null()) {
                        if is_non_nullable_null(v, a) {
                            *v = d.clone();
                        }
                    }
                    apply_defaults(a, v);
                }
            }
        }
        Value::Array(items) => {
            let Some(is) = s.items.as_deref() else { return };
            for v in items.iter_mut() {
                if let Some(d) = is.default.as_ref().filter(|d| !d.is_null()) {
                    if is_non_nullable_null(v, is) {
                        *v = d.clone();
                    }
                }
                apply_defaults(is, v);
            }
        }
        _ => {}
    }
}

/// Drops `null` values of non-nullable fields that have no default (apiextensions-apiserver
/// does this after defaulting, so `field: null` reads as "unset").
pub fn prune_non_nullable_nulls(s: &Structural, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            let mut drop = Vec::new();
            for (k, v) in map.iter() {
                let sub = s.property(k).or_else(|| s.additional_schema());
                if let Some(p) = sub {
                    if v.is_null() && !p.nullable && p.default.is_none() {
                        drop.push(k.clone());
                    }
                }
            }
            for k in drop {
                map.remove(&k);
            }
            for (k, v) in map.iter_mut() {
                if let Some(p) = s.property(k).or_else(|| s.additional_schema()) {
                    prune_non_nullable_nulls(p, v);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.items.as_deref() {
                for v in items.iter_mut() {
                    prune_non_nullable_nulls(is, v);
                }
            }
        }
        _ => {}
    }
}
