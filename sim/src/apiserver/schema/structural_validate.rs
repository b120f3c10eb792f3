//! Validation of custom objects against a structural schema, worded as kube-apiserver words it.
//!
//! kube-apiserver runs kube-openapi's `validate` package and converts its results to field
//! errors (`kubeOpenAPIResultToFieldErrors`): the field path is the validator's dotted path
//! (`spec.containers[0].name`) and the detail repeats it followed by `in body`. This module walks
//! the schema in the same order (type, allOf/anyOf/oneOf/not, string, format, number, array,
//! enum, object) and then adds the list-type checks (`x-kubernetes-list-type: set|map`
//! duplicates). Properties are visited in schema order (upstream iterates a Go map).
//!
//! Values inside messages are printed like Go's apimachinery does: strings `%q`-quoted, numbers
//! bare (`1e+06` for large floats), objects and arrays as JSON with sorted keys.

use std::net::IpAddr;

use base64::Engine;
use regex::Regex;
use serde_json::Value;

use super::structural::{child, key, AdditionalProperties, Structural};
use crate::apiserver::error::{CauseType, FieldError};

/// Validates a whole custom object (`apiVersion`, `kind` and `metadata` other than
/// `metadata.name`/`generateName` constraints are not walked). Errors use paths like
/// `spec.replicas`, as kube-apiserver reports them for custom resources.
pub fn validate(s: &Structural, obj: &Value) -> Vec<FieldError> {
    let mut v = Validator { prefix: String::new(), errs: Vec::new() };
    v.node(s, obj, "", true);
    list_types(s, obj, "", &mut v.errs);
    v.errs
}

/// Validates `value` against `s` with errors placed under `prefix` (e.g. a default value at
/// `spec.versions[0].schema.openAPIV3Schema.properties[spec].default`). No list-type checks and
/// no special treatment of object metadata.
pub fn validate_at(s: &Structural, value: &Value, prefix: &str) -> Vec<FieldError> {
    let mut v = Validator { prefix: prefix.to_string(), errs: Vec::new() };
    v.node(s, value, "", false);
    v.errs
}

struct Validator {
    prefix: String,
    errs: Vec<FieldError>,
}

impl Validator {
    /// The field path for a kube-openapi error name (`.x` loses its dot; empty is the prefix,
    /// or `<nil>` when there is none, as a nil `field.Path` prints).
    fn field(&self, name: &str) -> String {
        let n = name.strip_prefix('.').unwrap_or(name);
        if n.is_empty() {
            if self.prefix.is_empty() {
                "<nil>".to_string()
            } else {
                self.prefix.clone()
            }
        } else {
            child(&self.prefix, n)
        }
    }

    fn push(&mut self, kind: CauseType, name: &str, value: Option<&str>, detail: String) {
        let label = match kind {
            CauseType::Required => "Required value",
            CauseType::TooLong => "Too long",
            CauseType::TooMany => "Too many",
            CauseType::NotSupported => "Unsupported value",
            CauseType::Duplicate => "Duplicate value",
            _ => "Invalid value",
        };
        let mut text = label.to_string();
        if let Some(v) = value {
            text.push_str(": ");
            text.push_str(v);
        }
        if !detail.is_empty() {
            text.push_str(": ");
            text.push_str(&detail);
        }
        let field = self.field(name);
        self.errs.push(FieldError { kind, field, detail: text });
    }

    /// `field.Invalid` with the error's value.
    fn invalid(&mut self, name: &str, value: &str, msg: String) {
        self.push(CauseType::Invalid, name, Some(value), msg);
    }

    /// A kube-openapi composite error (anyOf/oneOf/allOf/not): reported at the root path with
    /// an empty value.
    fn composite(&mut self, msg: String) {
        let field = if self.prefix.is_empty() { "<nil>".to_string() } else { self.prefix.clone() };
        self.errs.push(FieldError { kind: CauseType::Invalid, field, detail: format!("Invalid value: \"\": {msg}") });
    }

    fn type_invalid(&mut self, name: &str, expected: &str, got: &str) {
        let msg = format!("{name} in body must be of type {expected}: {}", go_quote(got));
        let field = self.field(name);
        self.errs.push(FieldError {
            kind: CauseType::TypeInvalid,
            field,
            detail: format!("Invalid value: {}: {msg}", go_quote(got)),
        });
    }

    /// Validates `data` at kube-openapi path `name`; `root` marks the resource root.
    fn node(&mut self, s: &Structural, data: &Value, name: &str, root: bool) {
        let types = s.openapi_types();
        if data.is_null() {
            if !types.is_empty() && !s.nullable {
                self.type_invalid(name, &types.join(","), "null");
            }
            self.enum_check(s, data, name);
            return;
        }
        let format = effective_format(s);
        if !types.is_empty() || !format.is_empty() {
            self.type_check(&types, &format, data, name);
        }
        self.junctors(s, data, name);
        if let Value::String(text) = data {
            self.string_checks(s, text, name);
            if !format.is_empty() && (types.is_empty() || types.contains(&"string")) {
                if let Some(false) = check_format(&format, text) {
                    self.type_invalid(name, &format, text);
                }
            }
        }
        if let Value::Number(n) = data {
            self.number_checks(s, n, name);
        }
        if let Value::Array(items) = data {
            self.array_checks(s, items, name);
        }
        self.enum_check(s, data, name);
        if let Value::Object(map) = data {
            self.object_checks(s, map, name, root);
        }
    }

    fn type_check(&mut self, types: &[&str], format: &str, data: &Value, name: &str) {
        let (sch_type, data_format) = schema_type_of(data);
        let is_float_int = sch_type == "number" && is_integral(data) && types.contains(&"integer");
        let is_int_float = sch_type == "integer" && types.contains(&"number");
        let is_lower_int = format == "int64" && data_format == "int32";
        let is_string_or_slice = matches!(data, Value::String(_) | Value::Array(_));
        let type_matches =
            types.contains(&sch_type) || data_format == format || is_float_int || is_int_float || is_lower_int;
        if !is_string_or_slice && !format.is_empty() && !type_matches {
            self.type_invalid(name, format, data_format);
            return;
        }
        let numeric = types.contains(&"number") || types.contains(&"integer");
        if !numeric && !format.is_empty() && is_string_or_slice {
            return;
        }
        if !(types.contains(&sch_type) || is_float_int || is_int_float) {
            self.type_invalid(name, &types.join(","), sch_type);
        }
    }

    fn junctors(&mut self, s: &Structural, data: &Value, name: &str) {
        let sub = |schema: &Structural| {
            let mut v = Validator { prefix: String::new(), errs: Vec::new() };
            v.node(schema, data, name, false);
            v.errs
        };
        let quoted = go_quote(name);
        if !s.any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut ok = false;
            for a in &s.any_of {
                let r = sub(a);
                if r.is_empty() {
                    ok = true;
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| r.len() < b.len()) {
                    best = Some(r);
                }
            }
            if !ok {
                self.composite(format!("{quoted} must validate at least one schema (anyOf)"));
            }
            if let Some(b) = best {
                self.merge(b);
            }
        }
        if !s.one_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut valid = 0usize;
            for o in &s.one_of {
                let r = sub(o);
                if r.is_empty() {
                    valid += 1;
                    best = None;
                    continue;
                }
                if valid == 0 && best.as_ref().is_none_or(|b| r.len() < b.len()) {
                    best = Some(r);
                }
            }
            if valid != 1 {
                let extra = if valid == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                self.composite(format!("{quoted} must validate one and only one schema (oneOf). {extra}"));
                if let Some(b) = best {
                    self.merge(b);
                }
            }
        }
        if !s.all_of.is_empty() {
            let mut valid = 0usize;
            for a in &s.all_of {
                let r = sub(a);
                if r.is_empty() {
                    valid += 1;
                }
                self.merge(r);
            }
            if valid != s.all_of.len() {
                let extra = if valid == 0 { ". None validated" } else { "" };
                self.composite(format!("{quoted} must validate all the schemas (allOf){extra}"));
            }
        }
        if let Some(n) = &s.not {
            if sub(n).is_empty() {
                self.composite(format!("{quoted} must not validate the schema (not)"));
            }
        }
    }

    /// Re-roots errors produced by a sub-validator without prefix.
    fn merge(&mut self, errs: Vec<FieldError>) {
        for mut e in errs {
            if !self.prefix.is_empty() {
                e.field = if e.field == "<nil>" { self.prefix.clone() } else { child(&self.prefix, &e.field) };
            }
            self.errs.push(e);
        }
    }

    fn string_checks(&mut self, s: &Structural, text: &str, name: &str) {
        let len = text.chars().count() as i64;
        if let Some(max) = s.max_length {
            if len > max {
                let unit = if max == 1 { "byte" } else { "bytes" };
                let detail =
                    if max >= 0 { format!("may not be more than {max} {unit}") } else { "value is too long".into() };
                self.push(CauseType::TooLong, name, None, detail);
                return;
            }
        }
        if let Some(min) = s.min_length {
            if len < min {
                self.invalid(name, &go_quote(text), format!("{name} in body should be at least {min} chars long"));
                return;
            }
        }
        if let Some(p) = &s.pattern {
            match &s.pattern_regex {
                Some(re) => {
                    if !re.is_match(text) {
                        self.invalid(name, &go_quote(text), format!("{name} in body should match '{p}'"));
                    }
                }
                None => {
                    let why = Regex::new(p).err().map(|e| e.to_string()).unwrap_or_default();
                    let shown = format!("{p}, but pattern is invalid: {why}");
                    self.invalid(name, &go_quote(text), format!("{name} in body should match '{shown}'"));
                }
            }
        }
    }

    fn number_checks(&mut self, s: &Structural, n: &serde_json::Number, name: &str) {
        let types = s.openapi_types();
        let int_type = types.len() == 1 && types.first() == Some(&"integer");
        let data_int = n.as_i64();
        let data_f = n.as_f64().unwrap_or(0.0);
        let shown = number_text(n);
        // An integer value uses integer comparison when the bound is usable as an integer.
        let int_bound = |b: f64| -> Option<i64> {
            if data_int.is_some() && (!int_type || (b.fract() == 0.0 && b.abs() < 9.2e18)) {
                Some(b as i64)
            } else {
                None
            }
        };
        if let Some(f) = s.multiple_of {
            match (data_int, int_bound(f)) {
                (Some(d), Some(fi)) => {
                    if fi <= 0 {
                        self.invalid(
                            name,
                            &fi.to_string(),
                            format!("factor MultipleOf declared for {name} must be positive: {fi}"),
                        );
                    } else if d % fi != 0 {
                        self.invalid(name, &shown, format!("{name} in body should be a multiple of {fi}"));
                    }
                }
                _ => {
                    if f <= 0.0 {
                        let ff = go_float(f);
                        self.invalid(
                            name,
                            &ff,
                            format!("factor MultipleOf declared for {name} must be positive: {ff}"),
                        );
                    } else {
                        let m = data_f / f;
                        if !(m.is_finite() && (m - m.round()).abs() < 1e-9 * m.abs().max(1.0)) {
                            self.invalid(
                                name,
                                &shown,
                                format!("{name} in body should be a multiple of {}", go_float(f)),
                            );
                        }
                    }
                }
            }
        }
        if let Some(b) = s.minimum {
            let excl = s.exclusive_minimum;
            let (fails, bound) = match (data_int, int_bound(b)) {
                (Some(d), Some(bi)) => (if excl { d <= bi } else { d < bi }, bi.to_string()),
                _ => (if excl { data_f <= b } else { data_f < b }, go_float(b)),
            };
            if fails {
                let op = if excl { "greater than" } else { "greater than or equal to" };
                self.invalid(name, &shown, format!("{name} in body should be {op} {bound}"));
            }
        }
        if let Some(b) = s.maximum {
            let excl = s.exclusive_maximum;
            let (fails, bound) = match (data_int, int_bound(b)) {
                (Some(d), Some(bi)) => (if excl { d >= bi } else { d > bi }, bi.to_string()),
                _ => (if excl { data_f >= b } else { data_f > b }, go_float(b)),
            };
            if fails {
                let op = if excl { "less than" } else { "less than or equal to" };
                self.invalid(name, &shown, format!("{name} in body should be {op} {bound}"));
            }
        }
    }

    fn array_checks(&mut self, s: &Structural, items: &[Value], name: &str) {
        if let Some(is) = &s.items {
            for (i, it) in items.iter().enumerate() {
                self.node(is, it, &format!("{name}[{i}]"), false);
            }
        }
        let size = items.len() as i64;
        if let Some(min) = s.min_items {
            if size < min {
                self.invalid(name, &size.to_string(), format!("{name} in body should have at least {min} items"));
            }
        }
        if let Some(max) = s.max_items {
            if size > max {
                let unit = if max == 1 { "item" } else { "items" };
                let detail =
                    if max >= 0 { format!("must have at most {max} {unit}") } else { "has too many items".into() };
                self.push(CauseType::TooMany, name, Some(&size.to_string()), detail);
            }
        }
        if s.unique_items {
            let mut seen: Vec<&Value> = Vec::new();
            for it in items {
                if seen.iter().any(|x| json_eq(x, it)) {
                    self.invalid(name, "\"\"", format!("{name} in body shouldn't contain duplicates"));
                    break;
                }
                seen.push(it);
            }
        }
    }

    fn enum_check(&mut self, s: &Structural, data: &Value, name: &str) {
        let Some(values) = &s.enum_values else { return };
        if values.is_empty() || (!data.is_null() && values.iter().any(|e| json_eq(e, data))) {
            return;
        }
        let allowed: Vec<String> = values
            .iter()
            .map(|e| match e {
                Value::String(t) => go_quote(t),
                other => go_quote(&go_json(other)),
            })
            .collect();
        let detail = format!("supported values: {}", allowed.join(", "));
        self.push(CauseType::NotSupported, name, Some(&go_value(data)), detail);
    }

    fn object_checks(&mut self, s: &Structural, map: &serde_json::Map<String, Value>, name: &str, root: bool) {
        let size = map.len() as i64;
        if let Some(min) = s.min_properties {
            if size < min {
                self.invalid(name, &size.to_string(), format!("{name} in body should have at least {min} properties"));
            }
        }
        if let Some(max) = s.max_properties {
            if size > max {
                let unit = if max == 1 { "item" } else { "items" };
                self.push(CauseType::TooMany, name, Some(&size.to_string()), format!("must have at most {max} {unit}"));
            }
        }
        match &s.additional_properties {
            Some(AdditionalProperties::Bool(false)) => {
                for k in map.keys() {
                    if s.property(k).is_none() && !(root && is_meta(k)) {
                        self.invalid(name, &go_quote(k), format!("{name}.{k} in body is a forbidden property"));
                    }
                }
            }
            Some(AdditionalProperties::Schema(a)) => {
                for (k, v) in map {
                    if s.property(k).is_none() {
                        self.node(a, v, &format!("{name}.{k}"), false);
                    }
                }
            }
            _ => {}
        }
        for (p, ps) in &s.properties {
            let Some(v) = map.get(p) else { continue };
            let rname = if name.is_empty() { p.clone() } else { format!("{name}.{p}") };
            if root && (p == "apiVersion" || p == "kind") {
                continue;
            }
            if root && p == "metadata" {
                for f in ["name", "generateName"] {
                    if let (Some(fs), Some(fv)) = (ps.property(f), v.get(f)) {
                        self.node(fs, fv, &format!("metadata.{f}"), false);
                    }
                }
                continue;
            }
            self.node(ps, v, &rname, false);
        }
        for r in &s.required {
            if !map.contains_key(r) {
                self.push(CauseType::Required, &format!("{name}.{r}"), None, String::new());
            }
        }
    }
}

fn is_meta(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

/// The format kube-apiserver keeps after stripping unsupported ones (`""` when none).
pub(crate) fn effective_format(s: &Structural) -> String {
    let Some(f) = s.format.as_deref().filter(|f| !f.is_empty()) else {
        return String::new();
    };
    let types = s.openapi_types();
    let t = if types.len() == 1 { types.first().copied().unwrap_or("") } else { "" };
    let keep = match t {
        "" | "string" => STRING_FORMATS.contains(&f.replace('-', "").as_str()),
        "integer" => f == "int32" || f == "int64",
        "number" => f == "float" || f == "double",
        _ => false,
    };
    if keep {
        f.to_string()
    } else {
        String::new()
    }
}

const STRING_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "k8sshortname",
    "k8slongname",
];

/// go-openapi's hostname pattern (kube-openapi `strfmt`), Unicode letters and symbols included.
pub(super) const HOSTNAME: &str = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
/// The same pattern for ASCII text: the ASCII symbols (`\p{S}`) are `$+<=>^`|~`, the ASCII
/// letters (`\p{L}`) `a-zA-Z`.
pub(super) const HOSTNAME_ASCII: &str = r"^([a-zA-Z0-9$+<=>^`|~]((-?[a-zA-Z0-9$+<=>^`|~]{0,62})?)|([a-zA-Z0-9$+<=>^`|~](([a-zA-Z0-9\-$+<=>^`|~]{0,61}[a-zA-Z0-9$+<=>^`|~])?)(\.)){1,}([a-zA-Z]){2,63})$";

/// Patterns here are Go's (RE2): `\d` and `\s` would be ASCII there but Unicode in Rust's
/// `regex`, so the format patterns spell their classes out.
fn re_match(pattern: &str, text: &str) -> bool {
    super::compiled_regex(pattern).is_none_or(|r| r.is_match(text))
}

/// Whether `text` is valid for a string format: `None` when the format is not checked here.
pub(crate) fn check_format(format: &str, text: &str) -> Option<bool> {
    let f = format.replace('-', "").to_ascii_lowercase();
    let ok = match f.as_str() {
        "datetime" => {
            re_match(
                r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?$",
                text,
            ) && text.get(0..10).is_some_and(valid_date)
        }
        "date" => text.len() == 10 && valid_date(text),
        "byte" => base64::engine::general_purpose::STANDARD.decode(text).is_ok(),
        "uuid" => re_match(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", text),
        "uuid3" => re_match(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$", text),
        "uuid4" => re_match(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", text),
        "uuid5" => re_match(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", text),
        "ipv4" => text.parse::<IpAddr>().is_ok() && text.contains('.'),
        "ipv6" => text.parse::<IpAddr>().is_ok() && text.contains(':'),
        "cidr" => match text.split_once('/') {
            Some((ip, bits)) => match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
                (Ok(IpAddr::V4(_)), Ok(b)) => b <= 32 && !bits.starts_with('+'),
                (Ok(IpAddr::V6(_)), Ok(b)) => b <= 128 && !bits.starts_with('+'),
                _ => false,
            },
            None => false,
        },
        "mac" => re_match(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{2}[:-]){7}([0-9A-Fa-f]{2})$", text),
        // An ASCII name needs no Unicode classes, whose automaton takes about 60 ms to build.
        "hostname" => text.len() <= 255 && re_match(if text.is_ascii() { HOSTNAME_ASCII } else { HOSTNAME }, text),
        "email" => re_match(r"^[^@\t\n\f\r ]+@[^@\t\n\f\r ]+$", text),
        "uri" => re_match(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|/)[^\t\n\f\r ]*$", text),
        "bsonobjectid" => re_match(r"^[0-9a-fA-F]{24}$", text),
        "duration" => re_match(
            r"^([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$|^[+-]?0$|^[0-9]+[\t\n\f\r ]*(ns|us|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)$",
            text,
        ),
        "hexcolor" => re_match(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", text),
        "k8sshortname" => text.len() <= 63 && re_match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", text),
        "k8slongname" => {
            text.len() <= 253 && re_match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", text)
        }
        _ => return None,
    };
    Some(ok)
}

fn valid_date(d: &str) -> bool {
    d.len() == 10 && d.parse::<jiff::civil::Date>().is_ok()
}

/// kube-openapi's name for the JSON type of a value, and its numeric format.
fn schema_type_of(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.as_i64().is_some() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
        Value::Null => ("null", ""),
    }
}

fn is_integral(v: &Value) -> bool {
    v.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

pub use super::super::gofmt::{go_float, go_json, go_quote, go_value, number_text};

/// `x-kubernetes-list-type` checks (`set` and `map` duplicates), as apiextensions-apiserver
/// runs them after schema validation.
fn list_types(s: &Structural, obj: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match obj {
        Value::Object(map) => {
            if let Some(a) = s.additional_schema() {
                for (k, v) in map {
                    list_types(a, v, &key(path, k), errs);
                }
            }
            for (k, v) in map {
                if let Some(p) = s.property(k) {
                    list_types(p, v, &child(path, k), errs);
                }
            }
        }
        Value::Array(items) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    for i in duplicates(items.iter().map(Some)) {
                        if let Some(v) = items.get(i) {
                            errs.push(dup(format!("{path}[{i}]"), v));
                        }
                    }
                }
                Some("map") => list_map_dups(s, items, path, errs),
                _ => {}
            }
            if let Some(is) = &s.items {
                for (i, v) in items.iter().enumerate() {
                    list_types(is, v, &format!("{path}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

fn dup(field: String, v: &Value) -> FieldError {
    FieldError { kind: CauseType::Duplicate, field, detail: format!("Duplicate value: {}", go_value(v)) }
}

/// Indices of second occurrences (each repeated value reported once).
fn duplicates<'a>(values: impl Iterator<Item = Option<&'a Value>>) -> Vec<usize> {
    let mut seen: Vec<(Option<&Value>, usize)> = Vec::new();
    let mut out = Vec::new();
    for (i, v) in values.enumerate() {
        let found = seen.iter_mut().find(|(x, _)| match (x, v) {
            (Some(a), Some(b)) => json_eq(a, b) && same_kind(a, b),
            (None, None) => true,
            _ => false,
        });
        match found {
            Some((_, times)) => {
                if *times == 1 {
                    out.push(i);
                }
                *times += 1;
            }
            None => seen.push((v, 1)),
        }
    }
    out
}

/// Go compares scalars as interface values: int64 1 and float64 1 differ.
fn same_kind(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_i64() == y.is_i64(),
        _ => true,
    }
}

fn list_map_dups(s: &Structural, items: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    for (i, x) in items.iter().enumerate() {
        if !x.is_object() && !x.is_null() {
            errs.push(FieldError {
                kind: CauseType::Invalid,
                field: format!("{path}[{i}]"),
                detail: format!("Invalid value: {}: must be an object for an array of list-type map", go_value(x)),
            });
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut k = serde_json::Map::new();
            for kf in &s.list_map_keys {
                if let Some(v) = x.get(kf) {
                    k.insert(kf.clone(), v.clone());
                }
            }
            Value::Object(k)
        })
        .collect();
    for i in duplicates(keys.iter().map(Some)) {
        if let Some(k) = keys.get(i) {
            errs.push(FieldError {
                kind: CauseType::Duplicate,
                field: format!("{path}[{i}]"),
                detail: format!("Duplicate value: {}", go_json(k)),
            });
        }
    }
}
