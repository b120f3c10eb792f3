//! Defaulting and validation of built-in kinds, the parts kube-apiserver applies that platform
//! tests notice: pod and workload defaults, Secret `stringData`, Service cluster IPs, Namespace
//! finalizers, required fields, selector/template agreement, immutable fields.
//!
//! It covers what users hit, not all of upstream validation; metadata rules are in
//! `validation::names`. It must not touch the store.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::error::FieldError;
use super::resources::ResourceDef;
use super::validation::names;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let m = v.as_object_mut()?;
    let e = m.entry(key.to_string()).or_insert_with(|| json!({}));
    if !e.is_object() {
        return None;
    }
    e.as_object_mut()
}

fn default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

/// Applies kube-apiserver's defaults for built-in kinds.
pub fn default_object(def: &ResourceDef, obj: &mut Value) {
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                if let Some(spec) = obj_mut(obj, "spec") {
                    default(spec, "finalizers", json!(["kubernetes"]));
                }
                if let Some(status) = obj_mut(obj, "status") {
                    default(status, "phase", json!("Active"));
                }
            }
            let name = super::store::name_of(obj).to_string();
            if let Some(labels) = obj
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .map(|m| m.entry("labels").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
            {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        ("", "Pod") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                default_pod_spec(spec);
            }
            if let Some(status) = obj_mut(obj, "status") {
                default(status, "phase", json!("Pending"));
                default(status, "qosClass", json!("BestEffort"));
            }
        }
        ("apps", "Deployment") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                default(spec, "replicas", json!(1));
                default(spec, "revisionHistoryLimit", json!(10));
                default(spec, "progressDeadlineSeconds", json!(600));
                default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                );
                default_template(spec);
            }
        }
        ("apps", "ReplicaSet") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                default(spec, "replicas", json!(1));
                default_template(spec);
            }
        }
        ("apps", "StatefulSet") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                default(spec, "replicas", json!(1));
                default(spec, "podManagementPolicy", json!("OrderedReady"));
                default(spec, "revisionHistoryLimit", json!(10));
                default(spec, "updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
                default(
                    spec,
                    "persistentVolumeClaimRetentionPolicy",
                    json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                );
                default_template(spec);
            }
        }
        ("apps", "DaemonSet") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                default(spec, "revisionHistoryLimit", json!(10));
                default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
                default_template(spec);
            }
        }
        ("batch", "Job") => default_job(obj),
        ("batch", "CronJob") => {
            if let Some(spec) = obj_mut(obj, "spec") {
                default(spec, "concurrencyPolicy", json!("Allow"));
                default(spec, "suspend", json!(false));
                default(spec, "successfulJobsHistoryLimit", json!(3));
                default(spec, "failedJobsHistoryLimit", json!(1));
                if let Some(tspec) =
                    spec.get_mut("jobTemplate").and_then(|t| t.get_mut("spec")).and_then(Value::as_object_mut)
                {
                    default_template(tspec);
                }
            }
        }
        ("", "Service") => default_service(obj),
        ("", "Secret") => {
            let string_data = obj.as_object_mut().and_then(|m| m.remove("stringData"));
            if let Some(map) = obj.as_object_mut() {
                default(map, "type", json!("Opaque"));
            }
            if let Some(Value::Object(sd)) = string_data {
                if let Some(data) = obj_mut(obj, "data") {
                    for (k, v) in sd {
                        let text = v.as_str().unwrap_or_default().to_string();
                        data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(text)));
                    }
                }
            }
        }
        _ => {}
    }
}

fn default_template(spec: &mut Map<String, Value>) {
    if let Some(pspec) = spec.get_mut("template").and_then(|t| t.get_mut("spec")).and_then(Value::as_object_mut) {
        default_pod_spec(pspec);
    }
}

fn default_pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
                let tag = image.rsplit('/').next().unwrap_or("");
                let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
                default(c, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
                default(c, "terminationMessagePath", json!("/dev/termination-log"));
                default(c, "terminationMessagePolicy", json!("File"));
                default(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
    if spec.get("serviceAccountName").is_none_or(Value::is_null) {
        if let Some(sa) = spec.get("serviceAccount").cloned() {
            spec.insert("serviceAccountName".into(), sa);
        }
    }
}

fn default_job(obj: &mut Value) {
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let name = super::store::name_of(obj).to_string();
    let Some(spec) = obj_mut(obj, "spec") else { return };
    default(spec, "parallelism", json!(1));
    default(spec, "completions", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    let manual = spec.get("manualSelector") == Some(&json!(true));
    if !manual && !uid.is_empty() && spec.get("selector").is_none() {
        spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
        if let Some(labels) = spec
            .get_mut("template")
            .and_then(Value::as_object_mut)
            .map(|t| t.entry("metadata").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
            .map(|m| m.entry("labels").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            labels.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
            labels.insert("controller-uid".into(), json!(uid));
            labels.insert("batch.kubernetes.io/job-name".into(), json!(name));
            labels.insert("job-name".into(), json!(name));
        }
    }
    default_template(spec);
}

fn default_service(obj: &mut Value) {
    let name = super::store::name_of(obj).to_string();
    let Some(spec) = obj_mut(obj, "spec") else { return };
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if spec.get("type") != Some(&json!("ExternalName")) {
        if spec.get("clusterIP").is_none_or(|v| v.as_str().is_none_or(str::is_empty)) {
            // A stable address derived from the name, inside 10.96.0.0/12.
            let h = name.bytes().fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
            let ip = format!("10.96.{}.{}", (h >> 8) % 256, (h % 254) + 1);
            spec.insert("clusterIP".into(), json!(ip));
        }
        if let Some(ip) = spec.get("clusterIP").cloned() {
            default(spec, "clusterIPs", json!([ip]));
        }
        if !headless {
            default(spec, "internalTrafficPolicy", json!("Cluster"));
        }
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                default(p, "targetPort", port);
            }
        }
    }
}

/// Validates a built-in object (`old` set on update).
pub fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => validate_pod_spec(obj.get("spec"), "spec", &mut errs),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            validate_workload(obj, old, &mut errs);
        }
        ("batch", "Job") => validate_pod_spec(obj.pointer("/spec/template/spec"), "spec.template.spec", &mut errs),
        ("batch", "CronJob") => {
            if obj.pointer("/spec/schedule").and_then(Value::as_str).is_none_or(str::is_empty) {
                errs.push(FieldError::required("spec.schedule", ""));
            }
            validate_pod_spec(
                obj.pointer("/spec/jobTemplate/spec/template/spec"),
                "spec.jobTemplate.spec.template.spec",
                &mut errs,
            );
        }
        ("", "Service") => {
            let t = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
            let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
            let ports = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
            if t != "ExternalName" && !headless && ports == 0 {
                errs.push(FieldError::required("spec.ports", ""));
            }
        }
        ("", "ConfigMap" | "Secret") => {
            for field in ["data", "binaryData"] {
                if let Some(m) = obj.get(field).and_then(Value::as_object) {
                    for k in m.keys() {
                        if !valid_config_key(k) {
                            errs.push(FieldError::invalid(
                                format!("{field}[{k}]"),
                                &json!(k),
                                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                            ));
                        }
                    }
                }
            }
            if let Some(old) = old {
                if old.get("immutable") == Some(&json!(true)) {
                    if old.get("data") != obj.get("data") || old.get("binaryData") != obj.get("binaryData") {
                        errs.push(FieldError::forbidden("data", "field is immutable when `immutable` is set"));
                    }
                    if obj.get("immutable") != Some(&json!(true)) {
                        errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
                    }
                }
            }
        }
        _ => {}
    }
    errs
}

fn valid_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn validate_workload(obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let selector = obj.pointer("/spec/selector");
    match selector {
        None | Some(Value::Null) => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
            let matches = match super::selectors::LabelSelector::from_object(sel) {
                Ok(s) => s.matches(labels),
                Err(_) => false,
            };
            let empty = sel.get("matchLabels").and_then(Value::as_object).is_none_or(Map::is_empty)
                && sel.get("matchExpressions").and_then(Value::as_array).is_none_or(Vec::is_empty);
            if empty {
                errs.push(FieldError::invalid("spec.selector", sel, "empty selector is invalid for deployment"));
            } else if !matches {
                errs.push(FieldError::invalid_rendered(
                    "spec.template.metadata.labels",
                    &go_map(labels),
                    "`selector` does not match template `labels`",
                ));
            }
            if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector")) {
                if old_sel != sel {
                    errs.push(FieldError::invalid("spec.selector", sel, "field is immutable"));
                }
            }
        }
    }
    validate_pod_spec(obj.pointer("/spec/template/spec"), "spec.template.spec", errs);
}

/// `map[string]string{"app":"web"}`, as Go prints label maps in messages.
fn go_map(labels: Option<&Map<String, Value>>) -> String {
    let inner = labels
        .map(|m| m.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    format!("map[string]string{{{inner}}}")
}

fn validate_pod_spec(spec: Option<&Value>, at: &str, errs: &mut Vec<FieldError>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        errs.push(FieldError::required(format!("{at}.containers"), ""));
        return;
    };
    let mut seen = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let path = format!("{at}.containers[{i}]");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        } else {
            for m in names::name_messages(names::NameRule::Label, name, false) {
                errs.push(FieldError::invalid(format!("{path}.name"), &json!(name), &m));
            }
            if seen.contains(&name) {
                errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
            }
            seen.push(name);
        }
        if c.get("image").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
            errs.push(FieldError::required(format!("{path}.image"), ""));
        }
    }
}

/// Answers review-style requests (SelfSubjectAccessReview): the simulator authorizes
/// everything.
pub fn review(def: &ResourceDef, mut obj: Value) -> Value {
    if def.kind == "SelfSubjectAccessReview" {
        obj["status"] = json!({"allowed": true, "reason": "the simulator authorizes every request"});
    }
    obj
}
