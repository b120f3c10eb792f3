//! Tests for the structural schema modules: exact kube-apiserver messages per keyword, a
//! realistic CRD, pruning, defaulting, CRD schema errors and no-panic properties.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::structural::*;
use super::typenode::{ListType, TypeNode};
use crate::apiserver::error::{ApiError, CauseType};

fn schema(v: Value) -> Structural {
    match parse(&v) {
        Ok(s) => s,
        Err(e) => panic!("schema did not parse: {e:?}"),
    }
}

fn lines(s: &Structural, obj: Value) -> Vec<String> {
    validate(s, &obj).iter().map(|e| e.line()).collect()
}

fn spec_schema(spec_props: Value) -> Structural {
    schema(json!({"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": spec_props}}}))
}

#[test]
fn type_mismatch_reads_like_kube_apiserver() {
    let s = spec_schema(json!({"replicas": {"type": "integer"}}));
    let errs = validate(&s, &json!({"spec": {"replicas": "3"}}));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, CauseType::TypeInvalid);
    assert_eq!(
        errs[0].line(),
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
    let e = ApiError::invalid("example.com", "Widget", "w", &errs);
    assert_eq!(e.to_status()["details"]["causes"][0]["reason"], "FieldValueTypeInvalid");
}

#[test]
fn integral_float_passes_as_integer_and_int_passes_as_number() {
    let s = spec_schema(json!({"a": {"type": "integer"}, "b": {"type": "number"}}));
    assert!(lines(&s, json!({"spec": {"a": 2.0, "b": 3}})).is_empty());
    assert_eq!(
        lines(&s, json!({"spec": {"a": 2.5}})),
        vec![r#"spec.a: Invalid value: "number": spec.a in body must be of type integer: "number""#]
    );
}

#[test]
fn required_enum_pattern() {
    let s = spec_schema(json!({
        "size": {"type": "string"},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "name": {"type": "string", "pattern": "^a$"},
        "level": {"type": "integer", "enum": [1, 2]}
    }));
    let mut s2 = s.clone();
    if let Some((_, spec)) = s2.properties.iter_mut().find(|(k, _)| k == "spec") {
        spec.required = vec!["size".into()];
    }
    assert_eq!(
        lines(&s2, json!({"spec": {"mode": "x", "name": "ab", "level": 3}})),
        vec![
            r#"spec.mode: Unsupported value: "x": supported values: "a", "b""#,
            r#"spec.name: Invalid value: "ab": spec.name in body should match '^a$'"#,
            r#"spec.level: Unsupported value: 3: supported values: "1", "2""#,
            "spec.size: Required value",
        ]
    );
    assert_eq!(validate(&s2, &json!({"spec": {}}))[0].kind, CauseType::Required);
}

#[test]
fn numeric_bounds() {
    let s = spec_schema(json!({
        "min": {"type": "integer", "minimum": 1},
        "xmin": {"type": "integer", "minimum": 1, "exclusiveMinimum": true},
        "max": {"type": "number", "maximum": 1.5},
        "xmax": {"type": "integer", "maximum": 10, "exclusiveMaximum": true},
        "mul": {"type": "integer", "multipleOf": 5}
    }));
    assert_eq!(
        lines(&s, json!({"spec": {"min": 0, "xmin": 1, "max": 2.25, "xmax": 10, "mul": 7}})),
        vec![
            "spec.min: Invalid value: 0: spec.min in body should be greater than or equal to 1",
            "spec.xmin: Invalid value: 1: spec.xmin in body should be greater than 1",
            "spec.max: Invalid value: 2.25: spec.max in body should be less than or equal to 1.5",
            "spec.xmax: Invalid value: 10: spec.xmax in body should be less than 10",
            "spec.mul: Invalid value: 7: spec.mul in body should be a multiple of 5",
        ]
    );
    assert!(lines(&s, json!({"spec": {"min": 1, "xmin": 2, "max": 1.5, "xmax": 9, "mul": 10}})).is_empty());
}

#[test]
fn string_lengths() {
    let s = spec_schema(json!({
        "long": {"type": "string", "maxLength": 5},
        "one": {"type": "string", "maxLength": 1},
        "short": {"type": "string", "minLength": 3}
    }));
    let errs = validate(&s, &json!({"spec": {"long": "abcdef", "one": "ab", "short": "ab"}}));
    let got: Vec<String> = errs.iter().map(|e| e.line()).collect();
    assert_eq!(
        got,
        vec![
            "spec.long: Too long: may not be more than 5 bytes",
            "spec.one: Too long: may not be more than 1 byte",
            r#"spec.short: Invalid value: "ab": spec.short in body should be at least 3 chars long"#,
        ]
    );
    assert_eq!(errs[0].kind, CauseType::TooLong);
    // Length counts characters, not bytes.
    assert!(lines(&s, json!({"spec": {"long": "ééééé"}})).is_empty());
}

#[test]
fn array_and_object_sizes() {
    let s = spec_schema(json!({
        "few": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "many": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "props": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2},
        "toomany": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1}
    }));
    let errs = validate(
        &s,
        &json!({"spec": {"few": ["a"], "many": ["a", "b", "c"], "props": {"a": "x"}, "toomany": {"a": "x", "b": "y"}}}),
    );
    let got: Vec<String> = errs.iter().map(|e| e.line()).collect();
    assert_eq!(
        got,
        vec![
            "spec.few: Invalid value: 1: spec.few in body should have at least 2 items",
            "spec.many: Too many: 3: must have at most 2 items",
            "spec.props: Invalid value: 1: spec.props in body should have at least 2 properties",
            "spec.toomany: Too many: 2: must have at most 1 item",
        ]
    );
    assert_eq!(errs[1].kind, CauseType::TooMany);
}

#[test]
fn nested_item_paths_and_additional_properties_values() {
    let s = spec_schema(json!({
        "containers": {"type": "array", "items": {"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
    }));
    assert_eq!(
        lines(&s, json!({"spec": {"containers": [{"name": "a"}, {"port": "x"}], "labels": {"k": 1}}})),
        vec![
            r#"spec.containers[1].port: Invalid value: "string": spec.containers[1].port in body must be of type integer: "string""#,
            "spec.containers[1].name: Required value",
            r#"spec.labels.k: Invalid value: "integer": spec.labels.k in body must be of type string: "integer""#,
        ]
    );
}

#[test]
fn nullable_and_null_values() {
    let s = spec_schema(json!({
        "a": {"type": "string", "nullable": true},
        "b": {"type": "string"}
    }));
    assert_eq!(
        lines(&s, json!({"spec": {"a": null, "b": null}})),
        vec![r#"spec.b: Invalid value: "null": spec.b in body must be of type string: "null""#]
    );
}

#[test]
fn int_or_string() {
    let s = spec_schema(json!({"port": {"x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}}));
    assert!(lines(&s, json!({"spec": {"port": 80}})).is_empty());
    assert!(lines(&s, json!({"spec": {"port": "http"}})).is_empty());
    let got = lines(&s, json!({"spec": {"port": true}}));
    assert_eq!(
        got.first().map(String::as_str),
        Some(r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#)
    );
    assert!(got
        .iter()
        .any(|l| l == r#"<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)"#));
}

#[test]
fn formats() {
    let s = spec_schema(json!({
        "t": {"type": "string", "format": "date-time"},
        "d": {"type": "string", "format": "date"},
        "b": {"type": "string", "format": "byte"},
        "u": {"type": "string", "format": "made-up"}
    }));
    assert!(
        lines(&s, json!({"spec": {"t": "2024-01-02T03:04:05Z", "d": "2024-02-29", "b": "aGk=", "u": "x"}})).is_empty()
    );
    assert_eq!(
        lines(&s, json!({"spec": {"t": "yesterday", "d": "2023-02-29", "b": "!!"}})),
        vec![
            r#"spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday""#,
            r#"spec.d: Invalid value: "2023-02-29": spec.d in body must be of type date: "2023-02-29""#,
            r#"spec.b: Invalid value: "!!": spec.b in body must be of type byte: "!!""#,
        ]
    );
}

#[test]
fn an_ascii_hostname_is_checked_as_the_unicode_pattern_would() {
    use super::structural_validate::{check_format, HOSTNAME, HOSTNAME_ASCII};
    let full = regex::Regex::new(HOSTNAME).expect("the hostname pattern compiles");
    let ascii = regex::Regex::new(HOSTNAME_ASCII).expect("the ASCII hostname pattern compiles");
    // The classes agree on every ASCII character...
    let unicode_class = regex::Regex::new(r"^[\p{S}\p{L}]$").expect("compiles");
    let ascii_class = regex::Regex::new(r"^[a-zA-Z$+<=>^`|~]$").expect("compiles");
    for c in (0u8..128).map(char::from) {
        let t = c.to_string();
        assert_eq!(unicode_class.is_match(&t), ascii_class.is_match(&t), "{c:?}");
    }
    // ...so the patterns agree on ASCII names; other names take the Unicode pattern.
    let names = [
        "example.com",
        "a",
        "a-b.c-d.io",
        "-a.com",
        "a-.com",
        "a..com",
        "x.y",
        "x.y2",
        "$+.tld",
        "a_b.com",
        "my-app.dev-team-a.svc",
        "",
        "a.b.",
        "UPPER.Case",
        "a b.com",
        "bücher.de",
        "例え.テスト",
        "a.b€",
    ];
    for n in names {
        if n.is_ascii() {
            assert_eq!(full.is_match(n), ascii.is_match(n), "{n}");
        }
        assert_eq!(check_format("hostname", n), Some(full.is_match(n)), "{n}");
    }
    assert_eq!(check_format("hostname", "bücher.de"), Some(true));
    assert_eq!(check_format("hostname", "a_b.com"), Some(false));
}

#[test]
fn format_patterns_read_digits_and_spaces_as_go_does() {
    use super::structural_validate::check_format;
    // Go's \d is [0-9]: Arabic-Indic digits are not a date-time there.
    assert_eq!(check_format("date-time", "2026-11-25T04:00:00Z"), Some(true));
    assert_eq!(check_format("date-time", "٢٠٢٦-11-25T04:00:00Z"), Some(false));
    assert_eq!(check_format("duration", "١٠s"), Some(false));
    assert_eq!(check_format("duration", "10 minutes"), Some(true));
    // Go's \s is [\t\n\f\r ]: a no-break space is part of an email address there.
    assert_eq!(check_format("email", "a\u{a0}b@example.com"), Some(true));
    assert_eq!(check_format("email", "a b@example.com"), Some(false));
}

#[test]
fn one_of_and_not_are_composite_errors() {
    let s = spec_schema(
        json!({"x": {"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}], "not": {"enum": [5]}}}),
    );
    assert_eq!(
        lines(&s, json!({"spec": {"x": 5}})),
        vec![
            r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#,
            r#"<nil>: Invalid value: "": "spec.x" must not validate the schema (not)"#,
        ]
    );
    assert!(lines(&s, json!({"spec": {"x": 11}})).is_empty());
}

#[test]
fn list_type_set_and_map_duplicates() {
    let s = spec_schema(json!({
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
    }));
    let errs = validate(
        &s,
        &json!({"spec": {"tags": ["a", "b", "a", "a"], "ports": [{"name": "web", "port": 1}, {"name": "web", "port": 2}]}}),
    );
    let got: Vec<String> = errs.iter().map(|e| e.line()).collect();
    assert_eq!(got, vec![r#"spec.tags[2]: Duplicate value: "a""#, r#"spec.ports[1]: Duplicate value: {"name":"web"}"#]);
    assert!(errs.iter().all(|e| e.kind == CauseType::Duplicate));
}

#[test]
fn metadata_only_name_constraints_and_meta_fields_skipped() {
    let s = schema(json!({"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}}}));
    assert_eq!(
        lines(&s, json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "toolong", "labels": {"a": "b"}}})),
        vec!["metadata.name: Too long: may not be more than 3 bytes"]
    );
}

fn role_crd_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["name", "assumeRolePolicyDocument"],
                "properties": {
                    "name": {"type": "string", "maxLength": 64, "pattern": "^[\\w+=,.@-]+$"},
                    "assumeRolePolicyDocument": {"type": "string"},
                    "description": {"type": "string", "maxLength": 1000},
                    "maxSessionDuration": {"type": "integer", "format": "int64", "minimum": 3600, "maximum": 43200, "default": 3600},
                    "path": {"type": "string", "default": "/"},
                    "policies": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "inlinePolicies": {"type": "object", "additionalProperties": {"type": "string"}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"],
                        "items": {"type": "object", "required": ["key"], "properties": {
                            "key": {"type": "string"}, "value": {"type": "string", "default": ""}}}}
                }
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"ackResourceMetadata": {"type": "object", "properties": {"arn": {"type": "string"}}}}}
        }
    })
}

#[test]
fn realistic_role_crd_validate_prune_default() {
    assert!(check_structural(&role_crd_schema(), DEFAULT_SCHEMA_PATH).is_empty());
    let s = schema(role_crd_schema());
    let mut obj = json!({
        "apiVersion": "iam.services.k8s.aws/v1alpha1", "kind": "Role",
        "metadata": {"name": "r", "labels": {"x": "y"}},
        "spec": {"name": "my role", "maxSessionDuration": 60, "bogus": 1,
            "tags": [{"key": "a", "extra": true}, {"key": "a"}]},
        "status": {"anything": {"kept": 1}, "ackResourceMetadata": {"arn": "x", "junk": 2}},
        "topLevel": 1
    });
    let pruned = prune(&s, &mut obj);
    assert_eq!(pruned, vec!["spec.bogus", "spec.tags[0].extra", "status.ackResourceMetadata.junk", "topLevel"]);
    assert_eq!(obj["metadata"]["labels"]["x"], "y");
    assert_eq!(obj["status"]["anything"]["kept"], 1);
    apply_defaults(&s, &mut obj);
    assert_eq!(obj["spec"]["path"], "/");
    assert_eq!(obj["spec"]["tags"][1]["value"], "");
    assert_eq!(obj["spec"]["maxSessionDuration"], 60);
    assert_eq!(
        lines(&s, obj),
        vec![
            r#"spec.name: Invalid value: "my role": spec.name in body should match '^[\w+=,.@-]+$'"#,
            "spec.maxSessionDuration: Invalid value: 60: spec.maxSessionDuration in body should be greater than or equal to 3600",
            "spec.assumeRolePolicyDocument: Required value",
            r#"spec.tags[1]: Duplicate value: {"key":"a"}"#,
        ]
    );
    let node = to_type_node(&s);
    assert_eq!(node.field("spec").field("tags").list_type(), &ListType::Map(vec!["key".into()]));
    assert_eq!(node.field("spec").field("policies").list_type(), &ListType::Set);
    assert!(matches!(node.field("spec").field("inlinePolicies").field("any"), TypeNode::Scalar));
}

#[test]
fn unknown_field_messages() {
    let paths = vec!["spec.a".to_string(), "spec.b".to_string()];
    assert_eq!(
        strict_unknown_fields_message(&paths).as_deref(),
        Some(r#"strict decoding error: unknown field "spec.a", unknown field "spec.b""#)
    );
    assert_eq!(unknown_field_warnings(&paths[..1]), vec![r#"unknown field "spec.a""#]);
    assert_eq!(ssa_unknown_fields_message(&paths[..1]).as_deref(), Some(".spec.a: field not declared in schema"));
    assert_eq!(
        ssa_unknown_fields_message(&paths).as_deref(),
        Some("errors:\n  .spec.a: field not declared in schema\n  .spec.b: field not declared in schema")
    );
    assert_eq!(strict_unknown_fields_message(&[]), None);
}

#[test]
fn prune_embedded_resource_keeps_meta_and_nested_unknown_maps() {
    let s = spec_schema(json!({
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
            "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "free": {"type": "object", "additionalProperties": true}
    }));
    let mut obj = json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
        "spec": {"a": "1", "b": 2}, "other": 3}, "free": {"k": 1}}});
    assert_eq!(prune(&s, &mut obj), vec!["spec.template.other", "spec.template.spec.b"]);
    assert_eq!(obj["spec"]["template"]["kind"], "Pod");
    assert_eq!(obj["spec"]["free"]["k"], 1);
}

#[test]
fn defaulting_cases() {
    let s = spec_schema(json!({
        "a": {"type": "string", "default": "x"},
        "n": {"type": "string", "nullable": true, "default": "y"},
        "obj": {"type": "object", "default": {}, "properties": {"inner": {"type": "integer", "default": 7}}},
        "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"p": {"type": "integer", "default": 1}}}},
        "l": {"type": "array", "items": {"type": "string", "default": "z"}}
    }));
    let mut obj = json!({"spec": {"n": null, "m": {"k": {}}, "l": [null, "q"]}});
    apply_defaults(&s, &mut obj);
    assert_eq!(obj["spec"], json!({"n": null, "m": {"k": {"p": 1}}, "l": ["z", "q"], "a": "x", "obj": {"inner": 7}}));
    let mut obj = json!({"spec": {"a": null}});
    apply_defaults(&s, &mut obj);
    assert_eq!(obj["spec"]["a"], "x");
    let t = spec_schema(json!({"b": {"type": "string"}, "c": {"type": "string", "nullable": true}}));
    let mut obj = json!({"spec": {"b": null, "c": null}});
    prune_non_nullable_nulls(&t, &mut obj);
    assert_eq!(obj["spec"], json!({"c": null}));
}

const P: &str = "spec.versions[0].schema.openAPIV3Schema";

fn check_lines(v: Value) -> Vec<String> {
    check_structural(&v, P).iter().map(|e| e.line()).collect()
}

#[test]
fn non_structural_schemas() {
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"spec": {"properties": {"x": {"type": "string"}}}}})),
        vec![format!("{P}.properties[spec].type: Required value: must not be empty for specified object fields")]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"l": {"type": "array"}}})),
        vec![format!("{P}.properties[l].items: Required value: must be specified")]
    );
    assert_eq!(
        check_lines(json!({"type": "string"})),
        vec![format!(r#"{P}.type: Invalid value: "string": must be object at the root"#)]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "additionalProperties": {"type": "string"}})),
        vec![format!("{P}.additionalProperties: Forbidden: must not be used at the root")]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "string",
            "anyOf": [{"type": "string", "description": "d"}]}}})),
        vec![
            format!("{P}.properties[a].anyOf[0].description: Forbidden: must be empty to be structural"),
            format!("{P}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"),
        ]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "object",
            "allOf": [{"properties": {"b": {"minLength": 1}}}]}}})),
        vec![format!(
            "{P}.properties[a].properties[b]: Required value: because it is defined in {P}.properties[a].allOf[0].properties[b]"
        )]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"metadata": {"type": "object",
            "properties": {"labels": {"type": "object"}}}}})),
        vec![format!(
            "{P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
        )]
    );
}

#[test]
fn invalid_crd_schema_keywords() {
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}}})),
        vec![format!(
            "{P}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        )]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"},
            "x-kubernetes-list-type": "map"}}})),
        vec![
            format!("{P}.properties[a].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"),
            format!(r#"{P}.properties[a].items.type: Invalid value: "string": must be object if parent array's x-kubernetes-list-type is map"#),
        ]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "strin"}}})),
        vec![format!(
            r#"{P}.properties[a].type: Unsupported value: "strin": supported values: "array", "boolean", "integer", "number", "object", "string""#
        )]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}})),
        vec![format!(
            r#"{P}.properties[a].default: Invalid value: "string":  in body must be of type integer: "string""#
        )]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "properties": {"a": {"type": "object", "default": {"z": 1},
            "properties": {"b": {"type": "string"}}}}})),
        vec![format!(r#"{P}.properties[a].default: Invalid value: {{"z":1}}: must not have unknown fields"#)]
    );
    assert_eq!(
        check_lines(json!({"type": "object", "nullable": true})),
        vec![format!("{P}.nullable: Forbidden: nullable cannot be true at the root")]
    );
    assert!(check_lines(json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}}}))
    .is_empty());
}

#[test]
fn parse_reports_malformed_keywords() {
    let errs = parse(&json!({"type": 5, "properties": {"a": {"minLength": "x"}}})).err().unwrap_or_default();
    let got: Vec<String> = errs.iter().map(|e| e.line()).collect();
    assert_eq!(
        got,
        vec![
            format!("{P}.type: Invalid value: 5: must be a string"),
            format!(r#"{P}.properties[a].minLength: Invalid value: "x": must be an integer"#),
        ]
    );
}

#[test]
fn cel_rules_are_listed_as_unsupported() {
    let s = spec_schema(json!({"replicas": {"type": "integer",
        "x-kubernetes-validations": [{"rule": "self >= 0", "message": "must be positive"}]}}));
    assert_eq!(unsupported_features(&s), vec!["x-kubernetes-validations (CEL) at spec.replicas: not evaluated"]);
    assert!(lines(&s, json!({"spec": {"replicas": -1}})).is_empty());
    assert_eq!(s.property("spec").and_then(|p| p.property("replicas")).map(|r| r.validations.len()), Some(1));
}

#[test]
fn go_number_formatting() {
    use super::structural_validate::{go_float, go_quote};
    assert_eq!(go_float(1.5), "1.5");
    assert_eq!(go_float(2.0), "2");
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_quote("a\"b\u{1}"), r#""a\"b\x01""#);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-z]{0,6}".prop_map(Value::String),
        prop_oneof![
            Just("object"),
            Just("array"),
            Just("string"),
            Just("integer"),
            Just("number"),
            Just("set"),
            Just("map"),
            Just("atomic"),
            Just("^a+$"),
            Just("(")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("type"),
            Just("properties"),
            Just("items"),
            Just("additionalProperties"),
            Just("required"),
            Just("enum"),
            Just("pattern"),
            Just("minimum"),
            Just("maxLength"),
            Just("anyOf"),
            Just("allOf"),
            Just("not"),
            Just("nullable"),
            Just("default"),
            Just("x-kubernetes-list-type"),
            Just("x-kubernetes-list-map-keys"),
            Just("x-kubernetes-preserve-unknown-fields"),
            Just("x-kubernetes-embedded-resource"),
            Just("x-kubernetes-int-or-string"),
            Just("format"),
            Just("spec"),
            Just("a"),
            Just("metadata"),
            Just("multipleOf"),
            Just("minItems")
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(schema_v in arb_json(), obj in arb_json()) {
        let _ = check_structural(&schema_v, P);
        if let Ok(s) = parse(&schema_v) {
            let _ = validate(&s, &obj);
            let mut o = obj.clone();
            apply_defaults(&s, &mut o);
            let pruned = prune(&s, &mut o);
            // Pruning is idempotent.
            let mut again = o.clone();
            prop_assert!(prune(&s, &mut again).is_empty());
            prop_assert_eq!(&again, &o);
            prop_assert!(pruned.windows(2).all(|w| w[0] <= w[1]));
            let _ = to_type_node(&s);
            let _ = unsupported_features(&s);
        }
    }
}

#[test]
fn a_schema_is_parsed_once_per_process_and_told_apart_from_any_other() {
    let a = role_crd_schema();
    let first = parse_shared(&a).expect("parses");
    let again = parse_shared(&a.clone()).expect("parses");
    assert!(std::sync::Arc::ptr_eq(&first, &again), "an equal schema is answered from the cache");
    // One keyword differs: a different schema, parsed on its own.
    let mut b = a.clone();
    b["properties"]["spec"]["properties"]["name"]["maxLength"] = json!(7);
    let other = parse_shared(&b).expect("parses");
    assert!(!std::sync::Arc::ptr_eq(&first, &other));
    let name = |s: &Structural| s.property("spec").and_then(|p| p.property("name")).map(|n| n.max_length);
    assert_eq!(name(&other), Some(Some(7)));
    assert_ne!(name(&first), name(&other));
    // Errors are those of `parse`, and kept as well.
    let bad = json!({"type": "object", "properties": {"a": {"type": 5}}});
    let errs = parse_shared(&bad).expect_err("a keyword of the wrong type");
    assert_eq!(errs, parse(&bad).expect_err("the same"));
    assert_eq!(parse_shared(&bad).expect_err("again"), errs);
}
