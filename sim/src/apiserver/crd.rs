//! CustomResourceDefinitions: checking a CRD, giving it the status kube-apiserver gives
//! (NamesAccepted, Established), serving its versions as soon as it is stored, and checking
//! custom objects against the version's structural schema.
//!
//! The schema language itself (validation, pruning, defaulting) is in `schema::structural`;
//! this module wires it to the registry and must not re-implement it.

use std::sync::Arc;

use serde_json::{json, Value};

use super::error::{ApiError, FieldError};
use super::lifecycle::CRD_CLEANUP;
use super::resources::{Codec, CustomCodec, PrinterColumn, ResourceDef, ScaleSpec, ALL_VERBS};
use super::schema::TypeNode;
use super::server::Shared;

fn is_crd(def: &ResourceDef) -> bool {
    def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions"
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Drops fields the custom resource's schema does not declare, applies defaults, and returns
/// the dropped paths.
pub fn prune_and_default(codec: &CustomCodec, obj: &mut Value) -> Vec<String> {
    match &codec.structural {
        Some(st) => {
            let pruned = super::schema::structural::prune(st, obj);
            super::schema::structural::apply_defaults(st, obj);
            pruned
        }
        None => Vec::new(),
    }
}

/// Schema validation of a custom object, and the checks of a CRD itself.
pub fn validate_custom(def: &ResourceDef, obj: &Value) -> Vec<FieldError> {
    if is_crd(def) {
        return validate_crd(obj);
    }
    match &def.codec {
        Codec::Custom(c) => match &c.structural {
            Some(st) => super::schema::structural::validate(st, obj),
            None => Vec::new(),
        },
        Codec::Builtin(_) => Vec::new(),
    }
}

fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let kind = s(crd, "/spec/names/kind");
    let name = s(crd, "/metadata/name");
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid("spec.group", &json!(group), "should be a domain with at least one dot"));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    }
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid("metadata.name", &json!(name), "must be spec.names.plural+\".\"+spec.group"));
    }
    let scope = s(crd, "/spec/scope");
    if !matches!(scope, "Cluster" | "Namespaced") {
        errs.push(if scope.is_empty() {
            FieldError::required("spec.scope", "")
        } else {
            FieldError::not_supported("spec.scope", &json!(scope), &["Cluster".into(), "Namespaced".into()])
        });
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!([]),
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions.iter().filter(|v| v.get("storage") == Some(&json!(true))).count();
        if storage != 1 {
            errs.push(FieldError::invalid(
                "spec.versions",
                &json!(versions.iter().map(|v| s(v, "/name")).collect::<Vec<_>>()),
                "must have exactly one version marked as storage version",
            ));
        }
        if !versions.iter().any(|v| v.get("served") == Some(&json!(true))) {
            errs.push(FieldError::invalid(
                "spec.versions",
                &json!(versions.iter().map(|v| s(v, "/name")).collect::<Vec<_>>()),
                "must have at least one version marked as served",
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if s(v, "/name").is_empty() {
                errs.push(FieldError::required(format!("spec.versions[{i}].name"), ""));
            }
            match v.pointer("/schema/openAPIV3Schema") {
                None => errs.push(FieldError::required(
                    format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "schemas are required",
                )),
                Some(schema) => {
                    // The errors name this version's path: parsed again only when there are any.
                    if super::schema::structural::parse_shared(schema).is_err() {
                        if let Err(mut schema_errs) = super::schema::structural::parse_at(
                            schema,
                            &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                        ) {
                            errs.append(&mut schema_errs);
                        }
                    }
                }
            }
        }
    }
    errs
}

/// Warnings for a CRD whose schema uses what the simulator does not enforce (CEL rules), so
/// that a platform relying on them hears it instead of passing silently.
pub fn fidelity_warnings(def: &ResourceDef, crd: &Value) -> Vec<String> {
    if !is_crd(def) {
        return Vec::new();
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for v in &versions {
        let Some(st) =
            v.pointer("/schema/openAPIV3Schema").and_then(|sc| super::schema::structural::parse_shared(sc).ok())
        else {
            continue;
        };
        for gap in super::schema::structural::unsupported_features(&st) {
            out.push(format!("idp-harness simulator: {} version {}: {gap}", s(crd, "/metadata/name"), s(v, "/name")));
        }
    }
    out
}

/// Sets server-owned fields of a CRD before it is stored: names defaults, the cleanup
/// finalizer and the status kube-apiserver reports once names are accepted.
pub fn before_store(_sh: &Shared, def: &ResourceDef, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    if !is_crd(def) {
        return Ok(());
    }
    let kind = s(obj, "/spec/names/kind").to_string();
    if s(obj, "/spec/names/singular").is_empty() {
        obj["spec"]["names"]["singular"] = json!(kind.to_lowercase());
    }
    if s(obj, "/spec/names/listKind").is_empty() {
        obj["spec"]["names"]["listKind"] = json!(format!("{kind}List"));
    }
    if obj.pointer("/spec/conversion").is_none() {
        obj["spec"]["conversion"] = json!({"strategy": "None"});
    }
    if obj.pointer("/metadata/deletionTimestamp").is_none() {
        let fins = obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        if !fins.iter().any(|f| f == CRD_CLEANUP) {
            let mut fins = fins;
            fins.push(json!(CRD_CLEANUP));
            obj["metadata"]["finalizers"] = json!(fins);
        }
    }
    let storage = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v.get("storage") == Some(&json!(true))))
        .map(|v| s(v, "/name").to_string())
        .unwrap_or_default();
    let mut stored: Vec<Value> =
        old.and_then(|o| o.pointer("/status/storedVersions")).and_then(Value::as_array).cloned().unwrap_or_default();
    if !stored.iter().any(|v| v == &json!(storage)) {
        stored.push(json!(storage));
    }
    let since = old
        .and_then(|o| o.pointer("/status/conditions/0/lastTransitionTime"))
        .cloned()
        .unwrap_or_else(|| json!(super::objects::now()));
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    obj["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": since, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": since, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
    Ok(())
}

/// Serves a stored CRD's versions.
pub fn after_store(sh: &Shared, def: &ResourceDef, crd: &Value) {
    if !is_crd(def) {
        return;
    }
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    sh.registry.replace_resource(group, plural, defs_of(crd));
}

/// Stops serving a removed CRD.
pub fn unregister(sh: &Shared, crd: &Value) {
    sh.registry.replace_resource(s(crd, "/spec/group"), s(crd, "/spec/names/plural"), Vec::new());
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The resource definitions a CRD serves, one per served version.
pub fn defs_of(crd: &Value) -> Vec<ResourceDef> {
    let group = s(crd, "/spec/group").to_string();
    let kind = s(crd, "/spec/names/kind").to_string();
    let plural = s(crd, "/spec/names/plural").to_string();
    let singular = match s(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        x => x.to_string(),
    };
    let list_kind = match s(crd, "/spec/names/listKind") {
        "" => format!("{kind}List"),
        x => x.to_string(),
    };
    let namespaced = s(crd, "/spec/scope") != "Cluster";
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served") == Some(&json!(true)))
        .map(|v| {
            let version = s(v, "/name").to_string();
            let schema = v.pointer("/schema/openAPIV3Schema").cloned();
            let structural = schema.as_ref().and_then(|sc| super::schema::structural::parse_shared(sc).ok());
            let shape =
                structural.as_ref().map(|st| super::schema::structural::to_type_node(st)).unwrap_or(TypeNode::Unknown);
            let scale = v.pointer("/subresources/scale").map(|sc| ScaleSpec {
                spec_replicas_path: s(sc, "/specReplicasPath").to_string(),
                status_replicas_path: s(sc, "/statusReplicasPath").to_string(),
                label_selector_path: sc.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
            });
            let deprecation_warning = (v.get("deprecated") == Some(&json!(true))).then(|| {
                match v.get("deprecationWarning").and_then(Value::as_str) {
                    Some(w) => w.to_string(),
                    None => format!("{group}/{version} {kind} is deprecated"),
                }
            });
            let printer_columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: s(c, "/name").to_string(),
                            type_: s(c, "/type").to_string(),
                            format: s(c, "/format").to_string(),
                            description: s(c, "/description").to_string(),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            json_path: s(c, "/jsonPath").to_string(),
                        })
                        .collect()
                })
                .unwrap_or_else(|| {
                    vec![PrinterColumn {
                        name: "Age".into(),
                        type_: "date".into(),
                        format: String::new(),
                        description: String::new(),
                        priority: 0,
                        json_path: ".metadata.creationTimestamp".into(),
                    }]
                });
            ResourceDef {
                group: group.clone(),
                version,
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: strings(crd.pointer("/spec/names/shortNames")),
                categories: strings(crd.pointer("/spec/names/categories")),
                status: v.pointer("/subresources/status").is_some(),
                scale,
                generation: true,
                printer_columns,
                deprecation_warning,
                storage: v.get("storage") == Some(&json!(true)),
                codec: Codec::Custom(Arc::new(CustomCodec { schema, structural })),
                shape: Arc::new(shape),
                verbs: ALL_VERBS,
                stored_as: None,
            }
        })
        .collect()
}
