//! OpenAPI v3 documents: the `/openapi/v3` index and one document per group/version, with the
//! operations and `x-kubernetes-group-version-kind` markers kubectl reads to decide that the
//! server validates fields itself (`fieldValidation`) and that it takes apply patches.
//!
//! Schemas of custom resources are their CRD's `openAPIV3Schema`. Built-in kinds are described
//! as objects that preserve unknown fields (kubectl then uses its compiled-in knowledge for
//! strategic merge); this is a stated gap: `kubectl explain` shows no fields for them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::{json, Map, Value};

use super::resources::{Codec, Registry, ResourceDef};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group/version document lives.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(String, String)> = vec![("".into(), "v1".into())];
    for (g, vs) in reg.groups() {
        if g.is_empty() {
            continue;
        }
        for v in vs {
            gvs.push((g.clone(), v));
        }
    }
    for (g, v) in gvs {
        let doc = document(reg, &g, &v);
        let mut h = DefaultHasher::new();
        doc.to_string().hash(&mut h);
        let path = gv_path(&g, &v);
        paths
            .insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", h.finish())}));
    }
    json!({"paths": paths})
}

fn schema_name(d: &ResourceDef) -> String {
    let group = if d.group.is_empty() { "core".to_string() } else { d.group.clone() };
    match &d.codec {
        Codec::Builtin(_) => {
            format!("io.k8s.api.{}.{}.{}", group.split('.').next().unwrap_or(&group), d.version, d.kind)
        }
        Codec::Custom(_) => {
            let rev: Vec<&str> = d.group.split('.').rev().collect();
            format!("{}.{}.{}", rev.join("."), d.version, d.kind)
        }
    }
}

fn gvk(d: &ResourceDef) -> Value {
    json!([{"group": d.group, "version": d.version, "kind": d.kind}])
}

fn op(d: &ResourceDef, action: &str, params: &[&str], body_types: &[&str]) -> Value {
    let mut o = json!({
        "operationId": format!("{action}{}", d.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": d.group, "version": d.version, "kind": d.kind},
        "parameters": params.iter().map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}})).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(d))}}}}},
    });
    if !body_types.is_empty() {
        let content: Map<String, Value> =
            body_types.iter().map(|t| (t.to_string(), json!({"schema": {"type": "object"}}))).collect();
        o["requestBody"] = json!({"content": content, "required": true});
    }
    o
}

/// The document of one group/version (None when not served).
pub fn document(reg: &Registry, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let write_params = ["dryRun", "fieldManager", "fieldValidation"];
    for d in reg.resources(group, version) {
        let base = format!("/{}", gv_path(group, version));
        let (collection, item) = if d.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", d.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", d.plural),
            )
        } else {
            (format!("{base}/{}", d.plural), format!("{base}/{}/{{name}}", d.plural))
        };
        let patch_types: &[&str] = match d.codec {
            // Strategic merge is not advertised: without full schemas kubectl must fall back to
            // its compiled-in patch metadata for built-ins.
            Codec::Builtin(_) => {
                &["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
            }
            Codec::Custom(_) => {
                &["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
            }
        };
        paths.insert(collection, json!({
            "get": op(&d, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"], &[]),
            "post": op(&d, "post", &write_params, &["application/json", "application/yaml"]),
            "delete": op(&d, "deletecollection", &["labelSelector", "fieldSelector", "dryRun", "propagationPolicy"], &[]),
        }));
        paths.insert(
            item,
            json!({
                "get": op(&d, "get", &[], &[]),
                "put": op(&d, "put", &write_params, &["application/json", "application/yaml"]),
                "patch": op(&d, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"], patch_types),
                "delete": op(&d, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"], &[]),
            }),
        );
        let mut schema = match &d.codec {
            Codec::Custom(c) => {
                c.schema.clone().unwrap_or(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
            }
            Codec::Builtin(_) => json!({
                "type": "object",
                "description": format!("{} (the simulator does not publish field schemas for built-in kinds)", d.kind),
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        };
        schema["x-kubernetes-group-version-kind"] = gvk(&d);
        schemas.insert(schema_name(&d), schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (idp-harness simulator)", "version": format!("v{}.{}.0", super::discovery::KUBE_VERSION.0, super::discovery::KUBE_VERSION.1)},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// `/openapi/v2`: a Swagger 2.0 document without definitions. client-go asks for it in the
/// gnostic protobuf encoding only, to validate kinds the v3 documents do not describe; an
/// empty one makes kubectl skip client-side validation, so the server's answer (or kubectl's
/// own "no matches for kind") is what the user sees.
pub fn v2(accept: Option<&str>) -> (Vec<u8>, &'static str) {
    let title = b"Kubernetes (idp-harness simulator)";
    let version = format!("v{}.{}.0", super::discovery::KUBE_VERSION.0, super::discovery::KUBE_VERSION.1);
    if accept.is_some_and(|a| a.contains("protobuf")) {
        // Document { swagger = 1: "2.0", info = 2: Info { title = 1, version = 2 } }
        let mut info = vec![0x0a, title.len() as u8];
        info.extend_from_slice(title);
        info.push(0x12);
        info.push(version.len() as u8);
        info.extend_from_slice(version.as_bytes());
        let mut doc = vec![0x0a, 3];
        doc.extend_from_slice(b"2.0");
        doc.push(0x12);
        doc.push(info.len() as u8);
        doc.extend(info);
        (doc, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
    } else {
        let doc = json!({"swagger": "2.0", "info": {"title": String::from_utf8_lossy(title), "version": version}, "paths": {}, "definitions": {}});
        (doc.to_string().into_bytes(), "application/json")
    }
}
