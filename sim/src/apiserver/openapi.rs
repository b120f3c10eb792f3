//! OpenAPI v3 documents: the `/openapi/v3` index and one document per group/version, with the
//! operations and `x-kubernetes-group-version-kind` markers kubectl reads to decide that the
//! server validates fields itself (`fieldValidation`) and that it takes apply patches.
//!
//! Schemas of custom resources are their CRD's `openAPIV3Schema`. Schemas of built-in kinds are
//! generated from the k8s-openapi types (their `schemars` implementations) under the names
//! kube-apiserver uses (`io.k8s.api.apps.v1.Deployment`), with `$ref`s into
//! `#/components/schemas`; each document carries only the schemas its kinds reach. They are
//! generated on first request per group/version and cached for the process.
//!
//! Those schemas lack `x-kubernetes-patch-merge-key`/`x-kubernetes-patch-strategy`, so strategic
//! merge is not advertised on PATCH: kubectl then computes client-side apply patches from its
//! compiled-in patch metadata (which merges containers by name) instead of from the schema.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
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
        let (doc, builtin) = parts(reg, &g, &v);
        let mut h = DefaultHasher::new();
        doc.to_string().hash(&mut h);
        if let Some(b) = builtin {
            b.hash.hash(&mut h);
        }
        let path = gv_path(&g, &v);
        paths
            .insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", h.finish())}));
    }
    json!({"paths": paths})
}

/// The schema name of a resource's kind.
fn schema_name(d: &ResourceDef) -> String {
    match &d.codec {
        Codec::Builtin(c) => (c.schema_name)(),
        Codec::Custom(_) => {
            let rev: Vec<&str> = d.group.split('.').rev().collect();
            format!("{}.{}.{}", rev.join("."), d.version, d.kind)
        }
    }
}

/// The schema name of a resource's list kind, when the document describes it.
fn list_schema_name(d: &ResourceDef) -> Option<String> {
    match &d.codec {
        Codec::Builtin(_) => Some(format!("{}List", schema_name(d))),
        Codec::Custom(_) => None,
    }
}

fn gvk_of(d: &ResourceDef, kind: &str) -> Value {
    json!([{"group": d.group, "version": d.version, "kind": kind}])
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The component schemas of the built-in kinds of one group/version and everything they
/// reference, with a hash of their serialized form (for the index).
struct BuiltinSchemas {
    schemas: Map<String, Value>,
    hash: u64,
}

/// The cached schemas of the built-in kinds in `defs` (one group/version), generated on first use.
fn builtin_schemas(group: &str, version: &str, defs: &[Arc<ResourceDef>]) -> Option<Arc<BuiltinSchemas>> {
    type Cache = Mutex<HashMap<String, Arc<BuiltinSchemas>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let builtins: Vec<&ResourceDef> =
        defs.iter().map(|d| &**d).filter(|d| matches!(d.codec, Codec::Builtin(_))).collect();
    if builtins.is_empty() {
        return None;
    }
    let key = format!("{group}/{version}:{}", builtins.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>().join(","));
    let mut cache = CACHE.get_or_init(Cache::default).lock().unwrap_or_else(PoisonError::into_inner);
    Some(cache.entry(key).or_insert_with(|| Arc::new(generate_builtin_schemas(&builtins))).clone())
}

fn generate_builtin_schemas(builtins: &[&ResourceDef]) -> BuiltinSchemas {
    let mut generator = SchemaSettings::openapi3().into_generator();
    for d in builtins {
        if let Codec::Builtin(c) = &d.codec {
            (c.schema)(&mut generator);
        }
    }
    let list_meta = ListMeta::schema_name().into_owned();
    generator.subschema_for::<ListMeta>();
    let mut schemas = generator.take_definitions(true);
    for d in builtins {
        let name = schema_name(d);
        let Some(kind_schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) else { continue };
        kind_schema.insert("x-kubernetes-group-version-kind".into(), gvk_of(d, &d.kind));
        let prop = |p: &str| kind_schema.get("properties").and_then(|ps| ps.get(p)).cloned();
        let (api_version, kind) = (prop("apiVersion"), prop("kind"));
        if let Some(list) = list_schema_name(d) {
            let plural = d.plural.as_str();
            schemas.insert(
                list,
                json!({
                    "description": format!("{}List is a list of {}.", d.kind, d.kind),
                    "type": "object",
                    "properties": {
                        "apiVersion": api_version.unwrap_or(json!({"type": "string"})),
                        "items": {
                            "description": format!("Items is the list of {plural}."),
                            "type": "array",
                            "items": schema_ref(&name),
                        },
                        "kind": kind.unwrap_or(json!({"type": "string"})),
                        "metadata": {"description": "Standard list metadata.", "allOf": [schema_ref(&list_meta)]},
                    },
                    "required": ["items"],
                    "x-kubernetes-group-version-kind": gvk_of(d, &d.list_kind),
                }),
            );
        }
    }
    // kube-apiserver's documents list schemas by name.
    let sorted: BTreeMap<String, Value> = schemas.into_iter().collect();
    let schemas: Map<String, Value> = sorted.into_iter().collect();
    let mut h = DefaultHasher::new();
    serde_json::to_string(&schemas).unwrap_or_default().hash(&mut h);
    BuiltinSchemas { schemas, hash: h.finish() }
}

fn op(d: &ResourceDef, action: &str, params: &[&str], body_types: &[&str], body: Value, response: Value) -> Value {
    let mut o = json!({
        "operationId": format!("{action}{}", d.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": d.group, "version": d.version, "kind": d.kind},
        "parameters": params.iter().map(|p| json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}})).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": response}}}},
    });
    if !body_types.is_empty() {
        let content: Map<String, Value> =
            body_types.iter().map(|t| (t.to_string(), json!({"schema": body.clone()}))).collect();
        o["requestBody"] = json!({"content": content, "required": true});
    }
    o
}

/// The document of one group/version without the schemas of its built-in kinds, and those
/// schemas (cached).
fn parts(reg: &Registry, group: &str, version: &str) -> (Value, Option<Arc<BuiltinSchemas>>) {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let write_params = ["dryRun", "fieldManager", "fieldValidation"];
    let defs = reg.resources(group, version);
    for d in &defs {
        let base = format!("/{}", gv_path(group, version));
        let (collection, item) = if d.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", d.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", d.plural),
            )
        } else {
            (format!("{base}/{}", d.plural), format!("{base}/{}/{{name}}", d.plural))
        };
        // Strategic merge is not advertised, for built-ins too: the generated schemas carry no
        // patch merge keys, so kubectl must keep using its compiled-in patch metadata.
        let patch_types =
            ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];
        let name = schema_name(d);
        let kind_ref = schema_ref(&name);
        let list_ref = list_schema_name(d).map(|l| schema_ref(&l)).unwrap_or_else(|| kind_ref.clone());
        let object = json!({"type": "object"});
        let bodies = ["application/json", "application/yaml"];
        paths.insert(collection, json!({
            "get": op(d, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"], &[], Value::Null, list_ref),
            "post": op(d, "post", &write_params, &bodies, kind_ref.clone(), kind_ref.clone()),
            "delete": op(d, "deletecollection", &["labelSelector", "fieldSelector", "dryRun", "propagationPolicy"], &[], Value::Null, object.clone()),
        }));
        paths.insert(
            item,
            json!({
                "get": op(d, "get", &[], &[], Value::Null, kind_ref.clone()),
                "put": op(d, "put", &write_params, &bodies, kind_ref.clone(), kind_ref.clone()),
                "patch": op(d, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"], &patch_types, object.clone(), kind_ref.clone()),
                "delete": op(d, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"], &[], Value::Null, object),
            }),
        );
        if let Codec::Custom(c) = &d.codec {
            let mut schema =
                c.schema.clone().unwrap_or(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
            schema["x-kubernetes-group-version-kind"] = gvk_of(d, &d.kind);
            schemas.insert(name, schema);
        }
    }
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (idp-harness simulator)", "version": format!("v{}.{}.0", super::discovery::KUBE_VERSION.0, super::discovery::KUBE_VERSION.1)},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    (doc, builtin_schemas(group, version, &defs))
}

/// The document of one group/version.
pub fn document(reg: &Registry, group: &str, version: &str) -> Value {
    let (mut doc, builtin) = parts(reg, group, version);
    if let (Some(b), Some(schemas)) = (builtin, doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut)) {
        let custom = std::mem::take(schemas);
        schemas.extend(b.schemas.iter().map(|(k, v)| (k.clone(), v.clone())));
        schemas.extend(custom);
    }
    doc
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

/// The Go struct that holds the field at `path` (a dotted path with `[i]` indices, as serde
/// reports it) of a built-in kind, as kube-apiserver names it in decode errors (`EnvVar` for
/// `spec.template.spec.containers[0].env[0].value` of a Deployment). Generates the kind's
/// schemas; only called on the error path.
pub fn go_struct_of(d: &ResourceDef, path: &str) -> Option<String> {
    let Codec::Builtin(c) = &d.codec else { return None };
    let mut generator = SchemaSettings::openapi3().into_generator();
    (c.schema)(&mut generator);
    let schemas = generator.take_definitions(true);
    let resolve = |v: &Value| -> Option<String> {
        let r = v.get("$ref").or_else(|| v.pointer("/allOf/0/$ref"))?.as_str()?;
        r.rsplit('/').next().map(str::to_string)
    };
    let mut current = schema_name(d);
    let segments: Vec<&str> =
        path.split('.').map(|s| s.split('[').next().unwrap_or(s)).filter(|s| !s.is_empty()).collect();
    let Some((_, parents)) = segments.split_last() else { return short_go_name(&current) };
    for seg in parents {
        let prop = schemas.get(&current)?.pointer(&format!("/properties/{seg}"))?;
        let target = match prop.get("type").and_then(Value::as_str) {
            Some("array") => prop.get("items")?,
            Some("object") if prop.get("additionalProperties").is_some() => prop.get("additionalProperties")?,
            _ => prop,
        };
        current = resolve(target)?;
    }
    short_go_name(&current)
}

fn short_go_name(schema: &str) -> Option<String> {
    schema.rsplit('.').next().map(str::to_string)
}
