//! Server-side printing: `meta.k8s.io/v1` `Table` responses (what `kubectl get` asks for) and
//! `PartialObjectMetadata`. Built-in kinds get kube-apiserver's columns; custom resources get
//! their `additionalPrinterColumns`.
//!
//! Only formatting lives here; which objects to print is decided by the caller.

use std::sync::Arc;

use serde_json::{json, Value};

use super::resources::{PrinterColumn, ResourceDef};

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// A Table of `items` with `def`'s columns.
pub fn to_table(
    def: &ResourceDef,
    items: &[Arc<Value>],
    rv: Option<u64>,
    cont: Option<&str>,
    include: Option<&str>,
) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", "priority": 0}),
    ];
    for c in &def.printer_columns {
        columns.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let mut cells = vec![json!(super::store::name_of(obj))];
            for c in &def.printer_columns {
                cells.push(cell(c, obj, now));
            }
            let object = match include {
                Some("None") => Value::Null,
                Some("Object") => obj.as_ref().clone(),
                _ => partial_metadata(obj),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let mut meta = json!({});
    if let Some(rv) = rv {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}

fn ptr<'a>(obj: &'a Value, p: &str) -> Option<&'a Value> {
    obj.pointer(p)
}

fn int(obj: &Value, p: &str) -> i64 {
    ptr(obj, p).and_then(Value::as_i64).unwrap_or(0)
}

fn cell(col: &PrinterColumn, obj: &Value, now: jiff::Timestamp) -> Value {
    let Some(name) = col.json_path.strip_prefix("builtin:") else {
        return match super::jsonpath::parse(&col.json_path) {
            Ok(path) => {
                let found = path.eval(obj);
                super::jsonpath::printer_cell(&found, &col.type_)
            }
            Err(_) => Value::Null,
        };
    };
    match name {
        "age" => json!(age(obj, now)),
        "pod-ready" => {
            let total = ptr(obj, "/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let ready = ptr(obj, "/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |cs| cs.iter().filter(|c| c.get("ready") == Some(&json!(true))).count());
            json!(format!("{ready}/{total}"))
        }
        "pod-status" => json!(pod_status(obj)),
        "pod-restarts" => {
            let n: i64 = ptr(obj, "/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |cs| cs.iter().map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0)).sum());
            json!(n.to_string())
        }
        "ready-of-replicas" => json!(format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            ptr(obj, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
        )),
        "updated" => json!(int(obj, "/status/updatedReplicas")),
        "available" => json!(int(obj, "/status/availableReplicas")),
        "status-replicas" => json!(int(obj, "/status/replicas")),
        "ready" => json!(int(obj, "/status/readyReplicas")),
        "job-status" => {
            let conds = ptr(obj, "/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
            let has = |t: &str| {
                conds.iter().any(|c| c.get("type") == Some(&json!(t)) && c.get("status") == Some(&json!("True")))
            };
            json!(if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if has("Suspended") {
                "Suspended"
            } else {
                "Running"
            })
        }
        "job-completions" => json!(format!(
            "{}/{}",
            int(obj, "/status/succeeded"),
            ptr(obj, "/spec/completions").and_then(Value::as_i64).unwrap_or(1)
        )),
        "cronjob-active" => json!(ptr(obj, "/status/active").and_then(Value::as_array).map_or(0, Vec::len)),
        "external-ip" => {
            let ips: Vec<String> = ptr(obj, "/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i.get("ip").or(i.get("hostname")).and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let t = ptr(obj, "/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
            json!(if !ips.is_empty() {
                ips.join(",")
            } else if t == "LoadBalancer" {
                "<pending>".to_string()
            } else {
                "<none>".to_string()
            })
        }
        "service-ports" => {
            let ports: Vec<String> = ptr(obj, "/spec/ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            match p.get("nodePort").and_then(Value::as_i64) {
                                Some(np) => format!("{port}:{np}/{proto}"),
                                None => format!("{port}/{proto}"),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") })
        }
        "data-count" => json!(
            ptr(obj, "/data").and_then(Value::as_object).map_or(0, |m| m.len())
                + ptr(obj, "/binaryData").and_then(Value::as_object).map_or(0, |m| m.len())
        ),
        "secrets-count" => json!(ptr(obj, "/secrets").and_then(Value::as_array).map_or(0, Vec::len)),
        "node-status" => {
            let ready = ptr(obj, "/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c.get("type") == Some(&json!("Ready"))))
                .and_then(|c| c.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("Unknown");
            json!(if ready == "True" { "Ready" } else { "NotReady" })
        }
        "node-roles" => {
            let roles: Vec<String> = ptr(obj, "/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).map(str::to_string).collect()
                })
                .unwrap_or_default();
            json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") })
        }
        "event-last-seen" => {
            let ts = [
                "/series/lastObservedTime",
                "/lastTimestamp",
                "/deprecatedLastTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find_map(|p| ptr(obj, p).and_then(Value::as_str));
            json!(ts
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or("<unknown>".to_string(), |t| super::jsonpath::human_duration((now - t).get_seconds())))
        }
        // Events are printed alike through core/v1 and events.k8s.io/v1 (one resource, two
        // shapes): each cell reads the core field, then its events.k8s.io name.
        "event-object" => {
            let field = |f: &str| {
                ptr(obj, &format!("/involvedObject/{f}"))
                    .or_else(|| ptr(obj, &format!("/regarding/{f}")))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            json!(format!("{}/{}", field("kind").to_lowercase(), field("name")))
        }
        "event-message" => {
            json!(ptr(obj, "/message").or_else(|| ptr(obj, "/note")).and_then(Value::as_str).unwrap_or(""))
        }
        _ => Value::Null,
    }
}

fn pod_status(obj: &Value) -> String {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".to_string();
    }
    if let Some(cs) = obj.pointer("/status/containerStatuses").and_then(Value::as_array) {
        for c in cs {
            if let Some(reason) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
                return reason.to_string();
            }
            if let Some(reason) = c.pointer("/state/terminated/reason").and_then(Value::as_str) {
                return reason.to_string();
            }
        }
    }
    obj.pointer("/status/reason")
        .or_else(|| obj.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_string()
}

fn age(obj: &Value, now: jiff::Timestamp) -> String {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or("<unknown>".to_string(), |t| super::jsonpath::human_duration((now - t).get_seconds()))
}
