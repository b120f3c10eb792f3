//! Structural schemas of CustomResourceDefinitions (`apiextensions.k8s.io/v1`
//! `spec.versions[].schema.openAPIV3Schema`).
//!
//! `Structural` is the parsed schema. The work on custom objects lives in sibling modules and is
//! re-exported here:
//! - [`validate`] (`structural_validate`): kube-openapi's validator with kube-apiserver's field
//!   error wording, plus the list-type (`set`/`map`) duplicate checks;
//! - [`prune`] and [`apply_defaults`] (`structural_prune`): unknown-field pruning and defaulting
//!   as apiextensions-apiserver does them, and the three unknown-field messages;
//! - [`check_structural`] (`structural_check`): the errors a CRD gets when its schema is not
//!   structural or otherwise invalid.
//!
//! CEL (`x-kubernetes-validations`) is parsed but not evaluated: [`unsupported_features`] lists
//! where rules exist so the server can warn.
//!
//! All functions are pure and never panic on any input.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use super::typenode::TypeNode;
use crate::apiserver::error::FieldError;

pub use super::structural_check::check_structural;
pub use super::structural_prune::{
    apply_defaults, prune, prune_non_nullable_nulls, ssa_unknown_fields_message, strict_unknown_fields_message,
    unknown_field_warnings,
};
pub use super::structural_validate::{validate, validate_at};

/// Where a CRD's first version's schema sits; the default prefix of [`parse`] errors.
pub const DEFAULT_SCHEMA_PATH: &str = "spec.versions[0].schema.openAPIV3Schema";

/// `additionalProperties`: a boolean or a schema.
#[derive(Debug, Clone)]
pub enum AdditionalProperties {
    Bool(bool),
    Schema(Box<Structural>),
}

/// One `x-kubernetes-validations` entry (kept, not evaluated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationRule {
    pub rule: String,
    pub message: Option<String>,
    pub message_expression: Option<String>,
    pub reason: Option<String>,
    pub field_path: Option<String>,
    pub optional_old_self: Option<bool>,
}

/// A parsed (possibly not yet checked) structural schema node.
#[derive(Debug, Clone, Default)]
pub struct Structural {
    /// `type` (`object`, `array`, `string`, `integer`, `number`, `boolean`), if set.
    pub type_: Option<String>,
    /// `properties`, in schema order.
    pub properties: Vec<(String, Structural)>,
    pub items: Option<Box<Structural>>,
    pub additional_properties: Option<AdditionalProperties>,
    pub required: Vec<String>,
    pub enum_values: Option<Vec<Value>>,
    pub pattern: Option<String>,
    /// `pattern` compiled; `None` when absent or not a valid regular expression.
    pub pattern_regex: Option<Regex>,
    pub format: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub min_items: Option<i64>,
    pub max_items: Option<i64>,
    pub unique_items: bool,
    pub min_properties: Option<i64>,
    pub max_properties: Option<i64>,
    pub nullable: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub title: Option<String>,
    pub all_of: Vec<Structural>,
    pub any_of: Vec<Structural>,
    pub one_of: Vec<Structural>,
    pub not: Option<Box<Structural>>,
    pub preserve_unknown_fields: Option<bool>,
    pub int_or_string: bool,
    pub embedded_resource: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub map_type: Option<String>,
    pub validations: Vec<ValidationRule>,
}

impl Structural {
    /// The schema of property `name`, if declared.
    pub fn property(&self, name: &str) -> Option<&Structural> {
        self.properties.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// True when `x-kubernetes-preserve-unknown-fields: true`.
    pub fn preserves_unknown(&self) -> bool {
        self.preserve_unknown_fields == Some(true)
    }

    /// The schema for values under keys not in `properties` (`additionalProperties: <schema>`).
    pub fn additional_schema(&self) -> Option<&Structural> {
        match &self.additional_properties {
            Some(AdditionalProperties::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// The type as kube-openapi sees it: `integer,string` for int-or-string.
    pub(crate) fn openapi_types(&self) -> Vec<&str> {
        if self.int_or_string {
            return vec!["integer", "string"];
        }
        match &self.type_ {
            Some(t) if !t.is_empty() => vec![t.as_str()],
            _ => Vec::new(),
        }
    }
}

/// Joins a field path the way `field.Path.Child` does.
pub(crate) fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// `base[key]`, as `field.Path.Key` does.
pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// Parses a schema; malformed keywords are reported under [`DEFAULT_SCHEMA_PATH`].
pub fn parse(schema: &Value) -> Result<Structural, Vec<FieldError>> {
    parse_at(schema, DEFAULT_SCHEMA_PATH)
}

/// [`parse`], once per process for each distinct schema: every simulated platform of a run
/// installs the same CRDs, and parsing a schema costs far more than comparing it with the one
/// parsed before (a fifth of a platform's boot went to parsing the same schemas again).
pub fn parse_shared(schema: &Value) -> Result<Arc<Structural>, Vec<FieldError>> {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    use std::sync::{Mutex, OnceLock};
    type Parsed = Result<Arc<Structural>, Vec<FieldError>>;
    /// Schemas by hash, each with its parse (equal hashes are told apart by comparing).
    type Cache = HashMap<u64, Vec<(Value, Parsed)>>;
    // Distinct schemas are few (one per CRD version); the bound keeps a stream of generated
    // CRDs from growing the cache without end.
    const MAX_ENTRIES: usize = 1024;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    fn feed(v: &Value, h: &mut impl Hasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.as_i64(), n.as_u64(), n.as_f64().map(f64::to_bits)).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(items) => {
                (4u8, items.len()).hash(h);
                items.iter().for_each(|i| feed(i, h));
            }
            Value::Object(map) => {
                (5u8, map.len()).hash(h);
                for (k, v) in map {
                    k.hash(h);
                    feed(v, h);
                }
            }
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    feed(schema, &mut hasher);
    let key = hasher.finish();
    let cache = CACHE.get_or_init(Default::default);
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = lock().get(&key).and_then(|same| same.iter().find(|(v, _)| v == schema)) {
        return hit.1.clone();
    }
    let parsed = parse(schema).map(Arc::new);
    let mut c = lock();
    if c.len() >= MAX_ENTRIES {
        c.clear();
    }
    c.entry(key).or_default().push((schema.clone(), parsed.clone()));
    parsed
}

/// Parses a schema; errors (a keyword of the wrong JSON type) are reported under `base`, e.g.
/// `spec.versions[1].schema.openAPIV3Schema`.
pub fn parse_at(schema: &Value, base: &str) -> Result<Structural, Vec<FieldError>> {
    let mut errs = Vec::new();
    let s = parse_node(schema, base, &mut errs);
    if errs.is_empty() {
        Ok(s)
    } else {
        Err(errs)
    }
}

fn wrong(errs: &mut Vec<FieldError>, path: String, v: &Value, what: &str) {
    errs.push(FieldError::invalid(path, v, &format!("must be {what}")));
}

fn get_str(obj: &serde_json::Map<String, Value>, k: &str, path: &str, errs: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            wrong(errs, child(path, k), other, "a string");
            None
        }
    }
}

fn get_bool(obj: &serde_json::Map<String, Value>, k: &str, path: &str, errs: &mut Vec<FieldError>) -> Option<bool> {
    match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            wrong(errs, child(path, k), other, "a boolean");
            None
        }
    }
}

fn get_f64(obj: &serde_json::Map<String, Value>, k: &str, path: &str, errs: &mut Vec<FieldError>) -> Option<f64> {
    match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(other) => {
            wrong(errs, child(path, k), other, "a number");
            None
        }
    }
}

fn get_i64(obj: &serde_json::Map<String, Value>, k: &str, path: &str, errs: &mut Vec<FieldError>) -> Option<i64> {
    match obj.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Some(i),
            None => {
                wrong(errs, child(path, k), &Value::Number(n.clone()), "an integer");
                None
            }
        },
        Some(other) => {
            wrong(errs, child(path, k), other, "an integer");
            None
        }
    }
}

fn get_strings(obj: &serde_json::Map<String, Value>, k: &str, path: &str, errs: &mut Vec<FieldError>) -> Vec<String> {
    match obj.get(k) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (i, v) in a.iter().enumerate() {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    other => wrong(errs, format!("{}[{i}]", child(path, k)), other, "a string"),
                }
            }
            out
        }
        Some(other) => {
            wrong(errs, child(path, k), other, "a list of strings");
            Vec::new()
        }
    }
}

fn get_schemas(
    obj: &serde_json::Map<String, Value>,
    k: &str,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Vec<Structural> {
    match obj.get(k) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            a.iter().enumerate().map(|(i, v)| parse_node(v, &format!("{}[{i}]", child(path, k)), errs)).collect()
        }
        Some(other) => {
            wrong(errs, child(path, k), other, "a list of schemas");
            Vec::new()
        }
    }
}

fn parse_rules(v: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) -> Vec<ValidationRule> {
    let base = child(path, "x-kubernetes-validations");
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (i, r) in a.iter().enumerate() {
                let p = format!("{base}[{i}]");
                match r {
                    Value::Object(o) => out.push(ValidationRule {
                        rule: get_str(o, "rule", &p, errs).unwrap_or_default(),
                        message: get_str(o, "message", &p, errs),
                        message_expression: get_str(o, "messageExpression", &p, errs),
                        reason: get_str(o, "reason", &p, errs),
                        field_path: get_str(o, "fieldPath", &p, errs),
                        optional_old_self: get_bool(o, "optionalOldSelf", &p, errs),
                    }),
                    other => wrong(errs, p, other, "an object"),
                }
            }
            out
        }
        Some(other) => {
            wrong(errs, base, other, "a list of rules");
            Vec::new()
        }
    }
}

fn parse_node(v: &Value, path: &str, errs: &mut Vec<FieldError>) -> Structural {
    let obj = match v {
        Value::Object(o) => o,
        Value::Null => return Structural::default(),
        other => {
            wrong(errs, path.to_string(), other, "a schema object");
            return Structural::default();
        }
    };
    let mut s = Structural {
        type_: get_str(obj, "type", path, errs),
        format: get_str(obj, "format", path, errs),
        description: get_str(obj, "description", path, errs),
        title: get_str(obj, "title", path, errs),
        pattern: get_str(obj, "pattern", path, errs),
        minimum: get_f64(obj, "minimum", path, errs),
        maximum: get_f64(obj, "maximum", path, errs),
        exclusive_minimum: get_bool(obj, "exclusiveMinimum", path, errs).unwrap_or(false),
        exclusive_maximum: get_bool(obj, "exclusiveMaximum", path, errs).unwrap_or(false),
        multiple_of: get_f64(obj, "multipleOf", path, errs),
        min_length: get_i64(obj, "minLength", path, errs),
        max_length: get_i64(obj, "maxLength", path, errs),
        min_items: get_i64(obj, "minItems", path, errs),
        max_items: get_i64(obj, "maxItems", path, errs),
        unique_items: get_bool(obj, "uniqueItems", path, errs).unwrap_or(false),
        min_properties: get_i64(obj, "minProperties", path, errs),
        max_properties: get_i64(obj, "maxProperties", path, errs),
        nullable: get_bool(obj, "nullable", path, errs).unwrap_or(false),
        required: get_strings(obj, "required", path, errs),
        preserve_unknown_fields: get_bool(obj, "x-kubernetes-preserve-unknown-fields", path, errs),
        int_or_string: get_bool(obj, "x-kubernetes-int-or-string", path, errs).unwrap_or(false),
        embedded_resource: get_bool(obj, "x-kubernetes-embedded-resource", path, errs).unwrap_or(false),
        list_type: get_str(obj, "x-kubernetes-list-type", path, errs),
        list_map_keys: get_strings(obj, "x-kubernetes-list-map-keys", path, errs),
        map_type: get_str(obj, "x-kubernetes-map-type", path, errs),
        all_of: get_schemas(obj, "allOf", path, errs),
        any_of: get_schemas(obj, "anyOf", path, errs),
        one_of: get_schemas(obj, "oneOf", path, errs),
        validations: parse_rules(obj.get("x-kubernetes-validations"), path, errs),
        ..Structural::default()
    };
    s.pattern_regex = s.pattern.as_deref().and_then(super::compiled_regex);
    s.default = obj.get("default").cloned();
    s.enum_values = match obj.get("enum") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(other) => {
            wrong(errs, child(path, "enum"), other, "a list");
            None
        }
    };
    if let Some(n) = obj.get("not") {
        if !n.is_null() {
            s.not = Some(Box::new(parse_node(n, &child(path, "not"), errs)));
        }
    }
    match obj.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => {
            for (k, pv) in props {
                let p = key(&child(path, "properties"), k);
                s.properties.push((k.clone(), parse_node(pv, &p, errs)));
            }
        }
        Some(other) => wrong(errs, child(path, "properties"), other, "an object"),
    }
    match obj.get("items") {
        None | Some(Value::Null) => {}
        // A list of schemas is reported by `check_structural`; keep the first for walking.
        Some(Value::Array(a)) => {
            if let Some(first) = a.first() {
                s.items = Some(Box::new(parse_node(first, &format!("{}[0]", child(path, "items")), errs)));
            }
        }
        Some(iv) => s.items = Some(Box::new(parse_node(iv, &child(path, "items"), errs))),
    }
    match obj.get("additionalProperties") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => s.additional_properties = Some(AdditionalProperties::Bool(*b)),
        Some(av) => {
            s.additional_properties =
                Some(AdditionalProperties::Schema(Box::new(parse_node(av, &child(path, "additionalProperties"), errs))))
        }
    }
    s
}

/// The merge shape of a schema: list types and map keys for strategic merge patch and
/// server-side apply. Lists without `x-kubernetes-list-type` are atomic; `x-kubernetes-map-type:
/// atomic` objects are atomic maps; preserve-unknown-fields objects without properties are
/// `Unknown`.
pub fn to_type_node(s: &Structural) -> TypeNode {
    let is_object = s.type_.as_deref() == Some("object") || !s.properties.is_empty();
    let is_array = s.type_.as_deref() == Some("array") || s.items.is_some();
    if is_array {
        let items = s.items.as_deref().map(to_type_node).unwrap_or(TypeNode::Unknown);
        return match s.list_type.as_deref() {
            Some("map") if !s.list_map_keys.is_empty() => {
                let keys: Vec<&str> = s.list_map_keys.iter().map(String::as_str).collect();
                TypeNode::list_map(&keys, items)
            }
            Some("set") => TypeNode::set(),
            _ => TypeNode::atomic_list(items),
        };
    }
    if is_object {
        let atomic = s.map_type.as_deref() == Some("atomic");
        if s.properties.is_empty() && s.additional_schema().is_none() && !atomic {
            return TypeNode::Unknown;
        }
        let mut node = match s.additional_schema() {
            Some(a) => TypeNode::map_of(to_type_node(a)),
            None => TypeNode::object(std::iter::empty::<(&'static str, TypeNode)>()),
        };
        // The constructors take only static field names; fill in the CRD's names here.
        if let TypeNode::Object { fields, atomic: is_atomic, .. } = &mut node {
            let mut map: BTreeMap<String, Arc<TypeNode>> = BTreeMap::new();
            for (k, v) in &s.properties {
                map.insert(k.clone(), Arc::new(to_type_node(v)));
            }
            fields.extend(map);
            *is_atomic = atomic;
        }
        return node;
    }
    if s.type_.is_some() || s.int_or_string {
        return TypeNode::Scalar;
    }
    TypeNode::Unknown
}

/// Schema features this implementation does not enforce, one line each, for a server warning,
/// e.g. `x-kubernetes-validations (CEL) at spec: not evaluated`.
pub fn unsupported_features(s: &Structural) -> Vec<String> {
    let mut out = Vec::new();
    collect_unsupported(s, "", &mut out);
    out
}

fn collect_unsupported(s: &Structural, path: &str, out: &mut Vec<String>) {
    if !s.validations.is_empty() {
        let at = if path.is_empty() { "<root>" } else { path };
        out.push(format!("x-kubernetes-validations (CEL) at {at}: not evaluated"));
    }
    for (k, v) in &s.properties {
        collect_unsupported(v, &child(path, k), out);
    }
    if let Some(i) = &s.items {
        collect_unsupported(i, &format!("{path}[*]"), out);
    }
    if let Some(a) = s.additional_schema() {
        collect_unsupported(a, &format!("{path}[*]"), out);
    }
    for a in &s.all_of {
        collect_unsupported(a, path, out);
    }
}
