//! The resource verbs: get, list, create, update, patch, delete and deletecollection, plus the
//! status and scale subresources. Every write goes through one pipeline: decode, prepare
//! (system metadata, defaults), validate, admit, store, then lifecycle follow-ups (finalizers,
//! garbage collection, namespace cascade, CRD registration).
//!
//! Handlers never hold the store lock across an await; the store's closures are short and pure.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::admission::{AdmissionRequest, Operation};
use super::error::{ApiError, FieldError};
use super::http::{Format, Query};
use super::lifecycle::{self, Propagation};
use super::resources::{Codec, ResourceDef};
use super::server::Shared;
use super::store::{name_of, namespace_of, rv_of, Store};
use super::{builtin_validation, crd, selectors, table};

/// Per-request settings the verbs need.
pub struct Req {
    pub query: Query,
    pub format: Format,
    pub content_type: String,
    pub user_agent: String,
    pub user: String,
    pub warnings: Vec<String>,
}

impl Req {
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun") == Some("All")
    }

    fn field_validation(&self) -> FieldValidation {
        match self.query.get("fieldValidation") {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }

    /// The field manager: `fieldManager`, else derived from the User-Agent.
    pub fn manager(&self) -> String {
        match self.query.get("fieldManager") {
            Some(m) => m.to_string(),
            None => super::managed::manager_from_user_agent(&self.user_agent),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

/// Current time as Kubernetes writes timestamps (RFC 3339, seconds).
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let root = ensure_object(obj);
    ensure_object(root.entry("metadata").or_insert_with(|| json!({})))
}

fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// A stored object as served at `def`'s version: converted from the storage shape when `def`
/// is stored as another resource, with `def`'s `apiVersion` and `kind`. Takes the stored form
/// only (what the store returns), never an object already in the served shape.
pub fn present(def: &ResourceDef, obj: &Value) -> Value {
    let mut out = def.from_storage(obj);
    if let Some(map) = out.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(def.api_version()));
        map.insert("kind".into(), Value::String(def.kind.clone()));
    }
    out
}

/// A stored object in the served shape for the update pipeline: the same `Arc` when `def` is
/// stored as itself (kept as the store has it), else converted with `apiVersion`/`kind` set.
fn served(def: &ResourceDef, stored: Arc<Value>) -> Arc<Value> {
    if def.stored_as.is_some() {
        Arc::new(present(def, &stored))
    } else {
        stored
    }
}

/// `present` for an object [`served`] already returned.
fn as_served(def: &ResourceDef, current: &Value) -> Value {
    if def.stored_as.is_some() {
        current.clone()
    } else {
        present(def, current)
    }
}

fn respond(def: &ResourceDef, req: &Req, obj: &Value) -> Value {
    let obj = present(def, obj);
    match req.format {
        Format::Table => {
            table::to_table(def, std::slice::from_ref(&Arc::new(obj)), None, None, req.query.get("includeObject"))
        }
        Format::Metadata => table::partial_metadata(&obj),
        _ => obj,
    }
}

// ---------- reads ----------

pub fn get(
    sh: &Shared,
    req: &Req,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: Option<&str>,
) -> Result<Value, ApiError> {
    let obj = sh
        .store
        .get(&def.group_resource(), ns, name)
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
    match sub {
        Some("scale") => scale_of(def, &obj),
        _ => Ok(respond(def, req, &obj)),
    }
}

/// Label and field selectors of a list or watch request, matched against stored objects.
///
/// Field labels are converted by the served resource's conversion (events.k8s.io
/// `regarding.name` becomes `involvedObject.name`) and evaluated on the stored object with the
/// field set of the resource it is stored as, as kube-apiserver evaluates them on the internal
/// object: a resource stored as another needs no conversion per object.
pub struct Filter {
    labels: Option<selectors::LabelSelector>,
    fields: Option<selectors::FieldSelector>,
    /// The storage group/resource, whose field set the stored objects have.
    group: String,
    plural: String,
}

impl Filter {
    pub fn from_query(def: &ResourceDef, q: &Query) -> Result<Filter, ApiError> {
        let labels = q.get("labelSelector").map(selectors::parse_label_selector).transpose()?;
        // Unsupported field labels are rejected up front, as kube-apiserver does.
        let fields = match q.get("fieldSelector") {
            Some(s) => {
                Some(selectors::parse_field_selector(s)?.convert_for(&def.group, &def.plural, def.namespaced, &[])?)
            }
            None => None,
        };
        let gr = def.group_resource();
        Ok(Filter { labels, fields, group: gr.group, plural: gr.resource })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// Whether a stored object (as the store holds it) passes the selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            if !l.matches(obj.pointer("/metadata/labels").and_then(Value::as_object)) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            return f.matches(|field| selectors::field_value(&self.group, &self.plural, obj, field).ok().flatten());
        }
        true
    }
}

fn encode_continue(rv: u64, key: &(String, String)) -> String {
    let raw = json!({"rv": rv, "ns": key.0, "name": key.1}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: illegal base64 data at input byte 0");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let ns = v.get("ns").and_then(Value::as_str).ok_or_else(bad)?.to_string();
    let name = v.get("name").and_then(Value::as_str).ok_or_else(bad)?.to_string();
    Ok((rv, (ns, name)))
}

pub fn list(sh: &Shared, req: &Req, def: &ResourceDef, ns: Option<&str>) -> Result<Value, ApiError> {
    let filter = Filter::from_query(def, &req.query)?;
    let limit: Option<usize> = match req.query.get("limit") {
        Some(l) => {
            Some(l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?.max(0) as usize)
                .filter(|l| *l > 0)
        }
        None => None,
    };
    let after = req.query.get("continue").map(decode_continue).transpose()?;
    if let Some(rv) = req.query.get("resourceVersion") {
        Store::parse_rv(rv)?;
    }
    let gr = def.group_resource();
    let (all, rv) = sh.store.list(&gr, ns, after.as_ref().map(|(_, k)| k));
    let mut items: Vec<Arc<Value>> = Vec::new();
    let mut next = None;
    let mut remaining = 0usize;
    for obj in all.iter() {
        if !filter.matches(obj) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            if next.is_none() {
                if let Some(last) = items.last() {
                    next = Some(encode_continue(rv, &(namespace_of(last).to_string(), name_of(last).to_string())));
                }
            }
            continue;
        }
        items.push(Arc::new(present(def, obj)));
    }
    let cont = next;
    match req.format {
        Format::Table => Ok(table::to_table(def, &items, Some(rv), cont.as_deref(), req.query.get("includeObject"))),
        Format::Metadata => {
            let metas: Vec<Value> = items.iter().map(|o| table::partial_metadata(o)).collect();
            let mut list_meta = json!({"resourceVersion": rv.to_string()});
            if let Some(c) = &cont {
                list_meta["continue"] = json!(c);
            }
            Ok(
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": metas}),
            )
        }
        _ => {
            let mut list_meta = json!({"resourceVersion": rv.to_string()});
            if let Some(c) = &cont {
                list_meta["continue"] = json!(c);
                if filter.is_empty() {
                    list_meta["remainingItemCount"] = json!(remaining);
                }
            }
            let items: Vec<Value> =
                items.into_iter().map(|o| Arc::try_unwrap(o).unwrap_or_else(|a| (*a).clone())).collect();
            Ok(json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": list_meta, "items": items}))
        }
    }
}

// ---------- writes: shared steps ----------

/// Checks `apiVersion`/`kind` of a body against the resource addressed.
fn check_type(def: &ResourceDef, obj: &mut Value, expect_kind: &str, expect_api: &str) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!("the body of the request is not a JSON object: {obj}")));
    };
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            return Err(ApiError::bad_request(format!("Object 'Kind' is missing in '{}'", Value::Object(map.clone()))));
        }
        Some(k) if k != expect_kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({expect_kind})"
            )));
        }
        _ => {}
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(expect_api.to_string()));
        }
        Some(v) if v != expect_api => {
            // Another version of the same group is converted (CRDs use the None strategy);
            // a different group is an error.
            let group = v.rsplit_once('/').map_or("", |(g, _)| g);
            if group != def.group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({expect_api})"
                )));
            }
            map.insert("apiVersion".into(), Value::String(expect_api.to_string()));
        }
        _ => {}
    }
    Ok(())
}

/// Decodes the object through its schema: built-ins through the typed struct, custom
/// resources through the structural schema. Unknown fields are dropped and reported as
/// `fieldValidation` asks. Returns warnings.
fn decode_schema(
    def: &ResourceDef,
    obj: &mut Value,
    fv: FieldValidation,
    apply: bool,
) -> Result<Vec<String>, ApiError> {
    let unknown: Vec<String> = match &def.codec {
        Codec::Builtin(codec) => {
            let typed = (codec.roundtrip)(obj).map_err(|e| {
                ApiError::bad_request(format!(
                    "{} in version {:?} cannot be handled as a {}: {}",
                    def.kind,
                    def.version,
                    def.kind,
                    go_decode_message(def, &e)
                ))
            })?;
            let mut unknown = Vec::new();
            unknown_fields(obj, &typed, "", &mut unknown);
            *obj = typed;
            unknown
        }
        Codec::Custom(custom) => crd::prune_and_default(custom, obj),
    };
    if unknown.is_empty() || fv == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    if apply {
        // Server-side apply is always strict about fields the schema does not declare.
        let msg = unknown.iter().map(|p| format!(".{p}: field not declared in schema")).collect::<Vec<_>>().join(", ");
        return Err(ApiError::bad_request(msg));
    }
    match fv {
        FieldValidation::Strict => {
            let list = unknown.iter().map(|p| format!("unknown field {p:?}")).collect::<Vec<_>>().join(", ");
            Err(ApiError::bad_request(format!("strict decoding error: {list}")))
        }
        _ => Ok(unknown.iter().map(|p| format!("unknown field {p:?}")).collect()),
    }
}

/// serde's decode error in the words of Go's `encoding/json`, as kube-apiserver reports it:
/// `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`.
fn go_decode_message(def: &ResourceDef, e: &super::resources::DecodeError) -> String {
    let (got, want) = match e.message.strip_prefix("invalid type: ").and_then(|r| r.split_once(", expected ")) {
        Some(pair) => pair,
        None => return if e.path.is_empty() { e.message.clone() } else { format!("{}: {}", e.path, e.message) },
    };
    let json_type = match got.split_whitespace().next().unwrap_or("") {
        "string" => "string",
        "integer" | "floating" => "number",
        "boolean" => "bool",
        "sequence" => "array",
        "map" => "object",
        "null" => "null",
        other => other,
    };
    let go_type = match want.trim() {
        "i32" => "int32".to_string(),
        "i64" => "int64".to_string(),
        "f64" => "float64".to_string(),
        "a boolean" => "bool".to_string(),
        "a string" => "string".to_string(),
        "a sequence" => "[]interface {}".to_string(),
        "a map" => "map[string]string".to_string(),
        other => other.trim_start_matches("struct ").to_string(),
    };
    let go_path: String = e.path.split('.').map(|s| s.split('[').next().unwrap_or(s)).collect::<Vec<_>>().join(".");
    match super::openapi::go_struct_of(def, &e.path) {
        Some(parent) => {
            format!("json: cannot unmarshal {json_type} into Go struct field {parent}.{go_path} of type {go_type}")
        }
        None => format!("json: cannot unmarshal {json_type} into Go value of type {go_type} at {go_path}"),
    }
}

/// Paths present (non-null) in `input` but absent in `typed`: fields the type does not know.
fn unknown_fields(input: &Value, typed: &Value, prefix: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match b.get(k) {
                    Some(tv) => unknown_fields(v, tv, &path, out),
                    None if !v.is_null() && !is_empty_container(v) => out.push(path),
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, tv)) in a.iter().zip(b.iter()).enumerate() {
                unknown_fields(v, tv, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty_container(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

/// Sets the system metadata of a new object.
fn init_metadata(def: &ResourceDef, obj: &mut Value, ns: &str) {
    let meta = meta_mut(obj);
    if def.namespaced {
        meta.insert("namespace".into(), Value::String(ns.to_string()));
    } else {
        meta.remove("namespace");
    }
    meta.insert("uid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), Value::String(now()));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("selfLink");
    if def.generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
}

/// Fills a name from `generateName`.
fn generate_name(obj: &mut Value) {
    let meta = meta_mut(obj);
    let has_name = meta.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    if has_name {
        return;
    }
    if let Some(prefix) = meta.get("generateName").and_then(Value::as_str).map(str::to_string) {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let id = uuid::Uuid::new_v4();
        let suffix: String =
            id.as_bytes().iter().take(5).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
        let base: String = prefix.chars().take(58).collect();
        meta.insert("name".into(), Value::String(format!("{base}{suffix}")));
    }
}

/// Metadata checks common to every object: name, labels, annotations, finalizers.
fn validate_metadata(def: &ResourceDef, obj: &Value, errors: &mut Vec<FieldError>, warnings: &mut Vec<String>) {
    use super::validation::names;
    let rule = names::name_rule(&def.group, &def.plural);
    errors.extend(names::validate_name(rule, name_of(obj)));
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        errors.extend(names::validate_labels(labels));
    }
    if let Some(annotations) = obj.pointer("/metadata/annotations").and_then(Value::as_object) {
        errors.extend(names::validate_annotations(annotations));
    }
    let finalizers: Vec<String> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if !finalizers.is_empty() {
        errors.extend(names::validate_finalizers(&finalizers));
        match def.codec {
            // apiextensions validates CRD metadata with the generic ObjectMeta rules, without
            // core's standard-finalizer check (its own `customresourcecleanup` finalizer has no `/`).
            Codec::Builtin(_) if def.group == "apiextensions.k8s.io" => {}
            Codec::Builtin(_) => errors.extend(names::validate_builtin_finalizer_names(&finalizers)),
            Codec::Custom(_) => {
                warnings.extend(finalizers.iter().flat_map(|f| names::custom_resource_finalizer_warnings(f)))
            }
        }
    }
}

/// Runs the admission chain.
fn admit(
    sh: &Shared,
    req: &mut Req,
    def: &ResourceDef,
    op: Operation,
    sub: Option<&str>,
    obj: Option<&mut Value>,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let (ns, name) = match (obj.as_deref(), old) {
        (Some(o), _) | (None, Some(o)) => (namespace_of(o).to_string(), name_of(o).to_string()),
        _ => (String::new(), String::new()),
    };
    let snapshot = obj.as_deref().cloned();
    let ar = AdmissionRequest {
        uid: uuid::Uuid::new_v4().to_string(),
        operation: op,
        resource: def,
        subresource: sub,
        namespace: &ns,
        name: &name,
        object: snapshot.as_ref(),
        old_object: old,
        dry_run: req.dry_run(),
        user: &req.user,
    };
    let warnings = sh.admission.run(&ar, obj)?;
    req.warnings.extend(warnings);
    Ok(())
}

/// The namespace must exist and, for creates, not be terminating.
fn check_namespace(sh: &Shared, def: &ResourceDef, ns: &str, name: &str, creating: bool) -> Result<(), ApiError> {
    if !def.namespaced {
        return Ok(());
    }
    let nsobj = sh
        .store
        .get(&super::resources::GroupResource::new("", "namespaces"), "", ns)
        .ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
    if creating && nsobj.pointer("/metadata/deletionTimestamp").is_some() {
        let mut e = ApiError::forbidden(format!(
            "{} {name:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            def.qualified()
        ));
        e.details = Some(Box::new(
            json!({"name": name, "group": def.group, "kind": def.plural, "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]}),
        ));
        return Err(e);
    }
    Ok(())
}

// ---------- create ----------

pub fn create(
    sh: &Shared,
    req: &mut Req,
    def: &ResourceDef,
    url_ns: Option<&str>,
    body: Value,
) -> Result<(u16, Value), ApiError> {
    let mut obj = body;
    check_type(def, &mut obj, &def.kind, &def.api_version())?;
    if def.verbs == ["create"] {
        // Review-style resources (SelfSubjectAccessReview): answered, never stored.
        return Ok((201, builtin_validation::review(def, obj)));
    }
    let ns = resolve_namespace(def, &obj, url_ns)?;
    generate_name(&mut obj);
    let w = decode_schema(def, &mut obj, req.field_validation(), false)?;
    req.warnings.extend(w);
    store_new(sh, req, def, &ns, obj, true)
}

/// The shared tail of every create (POST, or an apply that creates): system metadata,
/// defaults, validation, admission, then the store. `record_manager` is false when server-side
/// apply already wrote managedFields.
fn store_new(
    sh: &Shared,
    req: &mut Req,
    def: &ResourceDef,
    ns: &str,
    mut obj: Value,
    record_manager: bool,
) -> Result<(u16, Value), ApiError> {
    init_metadata(def, &mut obj, ns);
    if def.status && !matches!(def.codec, Codec::Builtin(_)) {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    builtin_validation::default_object(def, &mut obj);
    let mut errors = Vec::new();
    validate_metadata(def, &obj, &mut errors, &mut req.warnings);
    errors.extend(builtin_validation::validate(def, &obj, None));
    errors.extend(crd::validate_custom(def, &obj));
    if !errors.is_empty() {
        return Err(ApiError::invalid(&def.group, &def.kind, name_of(&obj), &errors));
    }
    req.warnings.extend(crd::fidelity_warnings(def, &obj));
    check_namespace(sh, def, ns, name_of(&obj), true)?;
    admit(sh, req, def, Operation::Create, None, Some(&mut obj), None)?;
    if record_manager {
        super::managed::on_create(def, &mut obj, &req.manager(), &now());
    }
    crd::before_store(sh, def, &mut obj, None)?;
    let obj = def.to_storage(obj);
    if req.dry_run() {
        return Ok((201, respond(def, req, &obj)));
    }
    let stored = sh.store.create(&def.group_resource(), obj)?;
    crd::after_store(sh, def, &stored);
    Ok((201, respond(def, req, &stored)))
}

fn resolve_namespace(def: &ResourceDef, obj: &Value, url_ns: Option<&str>) -> Result<String, ApiError> {
    if !def.namespaced {
        return Ok(String::new());
    }
    let body_ns = namespace_of(obj);
    let url_ns = url_ns.unwrap_or("");
    if !body_ns.is_empty() && !url_ns.is_empty() && body_ns != url_ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let ns = if url_ns.is_empty() { body_ns } else { url_ns };
    if ns.is_empty() {
        return Err(ApiError::bad_request("the namespace of the object is required"));
    }
    Ok(ns.to_string())
}

// ---------- update and patch ----------

/// What the client sent for an update, turned into the next object once the current one is
/// known.
pub enum Intent {
    /// PUT: the whole object.
    Replace(Value),
    /// PATCH with a JSON, merge or strategic patch.
    Patch(super::patch::PatchType, Value),
    /// Server-side apply.
    Apply { config: Value, force: bool },
}

/// Runs an update (PUT, PATCH or apply) with optimistic retries when the client did not pin a
/// resourceVersion.
pub fn update(
    sh: &Shared,
    req: &mut Req,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    intent: Intent,
) -> Result<(u16, Value), ApiError> {
    let gr = def.group_resource();
    let manager = req.manager();
    if let Intent::Apply { .. } = &intent {
        if req.query.get("fieldManager").is_none() {
            return Err(ApiError::bad_request("fieldManager is required for apply requests"));
        }
    }
    for _attempt in 0..16 {
        let Some(current) = sh.store.get(&gr, ns, name) else {
            // Apply creates; PUT and other patches need the object.
            if let Intent::Apply { config, force } = &intent {
                if sub.is_some() {
                    return Err(ApiError::not_found(&def.group, &def.plural, name));
                }
                let mut obj = config.clone();
                check_type(def, &mut obj, &def.kind, &def.api_version())?;
                check_body_name(&obj, name)?;
                let w = decode_schema(def, &mut obj, req.field_validation(), true)?;
                req.warnings.extend(w);
                let applied = super::managed::apply(def, None, &obj, &manager, *force, &now())?;
                let mut fresh = applied;
                if let Some(m) = fresh.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                    m.insert("name".into(), json!(name));
                    if def.namespaced {
                        m.insert("namespace".into(), json!(ns));
                    }
                }
                return store_new(sh, req, def, ns, fresh, false);
            }
            return Err(ApiError::not_found(&def.group, &def.plural, name));
        };
        // Everything below works on the served shape; the store gets `to_storage(next)`.
        let current = served(def, current);
        let user_rv: Option<String>;
        let mut next = match &intent {
            Intent::Replace(body) => {
                let mut b = body.clone();
                let (kind, api) = if sub == Some("scale") {
                    ("Scale".to_string(), "autoscaling/v1".to_string())
                } else {
                    (def.kind.clone(), def.api_version())
                };
                check_type(def, &mut b, &kind, &api)?;
                check_body_name(&b, name)?;
                user_rv = rv_of(&b).map(str::to_string);
                if sub == Some("scale") {
                    let replicas = b.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
                    let mut n = current.as_ref().clone();
                    set_path(
                        &mut n,
                        def.scale.as_ref().map_or(".spec.replicas", |s| s.spec_replicas_path.as_str()),
                        replicas,
                    );
                    n
                } else {
                    b
                }
            }
            Intent::Patch(kind, patch) => {
                user_rv = patch.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string);
                let base = if sub == Some("scale") { scale_of(def, &current)? } else { as_served(def, &current) };
                let shape = def.shape.clone();
                let mut patched =
                    super::patch::apply_patch(*kind, &base, patch, &shape).map_err(|e| e.to_api_error())?;
                if sub == Some("scale") {
                    let replicas = patched.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
                    let mut n = current.as_ref().clone();
                    set_path(
                        &mut n,
                        def.scale.as_ref().map_or(".spec.replicas", |s| s.spec_replicas_path.as_str()),
                        replicas,
                    );
                    patched = n;
                }
                patched
            }
            Intent::Apply { config, force } => {
                let mut c = config.clone();
                check_type(def, &mut c, &def.kind, &def.api_version())?;
                check_body_name(&c, name)?;
                user_rv = rv_of(&c).map(str::to_string);
                let w = decode_schema(def, &mut c, FieldValidation::Strict, true)?;
                req.warnings.extend(w);
                super::managed::apply(def, Some(&as_served(def, &current)), &c, &manager, *force, &now())?
            }
        };
        if let Some(want) = &user_rv {
            if Some(want.as_str()) != rv_of(&current) {
                return Err(ApiError::conflict_modified(&def.group, &def.plural, name));
            }
        }
        if !matches!(intent, Intent::Apply { .. }) {
            let w = decode_schema(def, &mut next, req.field_validation(), false)?;
            req.warnings.extend(w);
        } else {
            decode_schema(def, &mut next, FieldValidation::Ignore, false)?;
        }
        let mut next = merge_system_fields(def, sub, &current, next)?;
        builtin_validation::default_object(def, &mut next);
        let mut errors = Vec::new();
        validate_metadata(def, &next, &mut errors, &mut req.warnings);
        errors.extend(builtin_validation::validate(def, &next, Some(&current)));
        errors.extend(crd::validate_custom(def, &next));
        errors.extend(lifecycle::check_finalizer_change(&current, &next));
        if !errors.is_empty() {
            return Err(ApiError::invalid(&def.group, &def.kind, name, &errors));
        }
        req.warnings.extend(crd::fidelity_warnings(def, &next));
        admit(sh, req, def, Operation::Update, sub, Some(&mut next), Some(&current))?;
        if !matches!(intent, Intent::Apply { .. }) {
            super::managed::on_update(def, &current, &mut next, &manager, &now(), sub);
        }
        crd::before_store(sh, def, &mut next, Some(&current))?;
        let mut next = def.to_storage(next);
        if req.dry_run() {
            return Ok((200, respond(def, req, &next)));
        }
        // Pin the version we computed from; a concurrent writer makes us retry.
        let pinned = rv_of(&current).map(str::to_string);
        if let Some(m) = next.pointer_mut("/metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(pinned));
        }
        match sh.store.update_with(&gr, ns, name, |_| Ok(Some(next))) {
            Ok((stored, _)) => {
                crd::after_store(sh, def, &stored);
                let stored = lifecycle::after_update(sh, def, stored);
                return Ok((
                    200,
                    match sub {
                        Some("scale") => scale_of(def, &stored)?,
                        _ => respond(def, req, &stored),
                    },
                ));
            }
            Err(e) if e.code == 409 && user_rv.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(&def.group, &def.plural, name, "too many concurrent writers; please retry"))
}

fn check_body_name(body: &Value, name: &str) -> Result<(), ApiError> {
    let body_name = name_of(body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// Sets a dotted `.a.b` path.
fn set_path(obj: &mut Value, path: &str, v: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(map) = cur.as_object_mut() else { return };
        if i + 1 == parts.len() {
            map.insert(p.to_string(), v);
            return;
        }
        cur = map.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let pointer = format!("/{}", path.trim_start_matches('.').replace('.', "/"));
    obj.pointer(&pointer)
}

/// Combines the client's next object with the server-owned parts of the current one: system
/// metadata, the status (for main-resource writes) or everything but status (for status
/// writes), and the generation.
fn merge_system_fields(
    def: &ResourceDef,
    sub: Option<&str>,
    current: &Value,
    mut next: Value,
) -> Result<Value, ApiError> {
    if sub == Some("status") {
        let mut out = current.clone();
        if let Some(m) = out.as_object_mut() {
            match next.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
        return Ok(out);
    }
    let Some(cur_meta) = current.get("metadata").and_then(Value::as_object) else { return Ok(next) };
    {
        let meta = meta_mut(&mut next);
        for key in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match cur_meta.get(key) {
                Some(v) => meta.insert(key.to_string(), v.clone()),
                None => meta.remove(key),
            };
        }
        meta.remove("selfLink");
    }
    if def.status && sub.is_none() {
        if let Some(m) = next.as_object_mut() {
            match current.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
    }
    if def.generation && spec_changed(current, &next) {
        let gen = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0) + 1;
        meta_mut(&mut next).insert("generation".into(), json!(gen));
    }
    Ok(next)
}

/// True when anything but metadata and status differs.
fn spec_changed(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
            m.remove("apiVersion");
            m.remove("kind");
        }
        v
    };
    strip(a) != strip(b)
}

/// The `autoscaling/v1` Scale of an object.
fn scale_of(def: &ResourceDef, obj: &Value) -> Result<Value, ApiError> {
    let spec = def.scale.as_ref().ok_or_else(ApiError::no_resource)?;
    let replicas = get_path(obj, &spec.spec_replicas_path).cloned().unwrap_or(json!(0));
    let status_replicas = get_path(obj, &spec.status_replicas_path).cloned().unwrap_or(json!(0));
    let selector = spec.label_selector_path.as_deref().and_then(|p| get_path(obj, p)).cloned();
    let selector = selector.or_else(|| {
        obj.pointer("/spec/selector/matchLabels").and_then(Value::as_object).map(|m| {
            let mut parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
            parts.sort();
            json!(parts.join(","))
        })
    });
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let keep: Map<String, Value> = meta
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    matches!(k.as_str(), "name" | "namespace" | "uid" | "resourceVersion" | "creationTimestamp")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut status = json!({"replicas": status_replicas});
    if let Some(s) = selector {
        status["selector"] = s;
    }
    Ok(
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": keep, "spec": {"replicas": replicas}, "status": status}),
    )
}

// ---------- delete ----------

/// Options of a delete, from the body (`DeleteOptions`) and the query.
pub fn delete_options(
    req: &Req,
    body: Option<&Value>,
) -> Result<(Propagation, Option<String>, Option<String>), ApiError> {
    let policy = body
        .and_then(|b| b.get("propagationPolicy"))
        .and_then(Value::as_str)
        .or_else(|| req.query.get("propagationPolicy"));
    let orphan = body
        .and_then(|b| b.get("orphanDependents"))
        .and_then(Value::as_bool)
        .or_else(|| req.query.get("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy, orphan) {
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Background"), _) | (None, _) => Propagation::Background,
        (Some(other), _) => {
            return Err(ApiError::invalid(
                "",
                "DeleteOptions",
                "",
                &[FieldError::not_supported(
                    "propagationPolicy",
                    &json!(other),
                    &["Foreground".into(), "Background".into(), "Orphan".into()],
                )],
            ))
        }
    };
    let uid = body.and_then(|b| b.pointer("/preconditions/uid")).and_then(Value::as_str).map(str::to_string);
    let rv = body.and_then(|b| b.pointer("/preconditions/resourceVersion")).and_then(Value::as_str).map(str::to_string);
    Ok((propagation, uid, rv))
}

pub fn delete(
    sh: &Shared,
    req: &mut Req,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ApiError> {
    let (propagation, uid, rv) = delete_options(req, body)?;
    let current = sh
        .store
        .get(&def.group_resource(), ns, name)
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
    if let Some(uid) = &uid {
        if current.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return Err(ApiError::conflict(
                &def.group,
                &def.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    current.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("")
                ),
            ));
        }
    }
    if let Some(rv) = &rv {
        if Some(rv.as_str()) != rv_of(&current) {
            return Err(ApiError::conflict(
                &def.group,
                &def.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    rv_of(&current).unwrap_or("")
                ),
            ));
        }
    }
    admit(sh, req, def, Operation::Delete, None, None, Some(&served(def, current.clone())))?;
    if req.dry_run() {
        return Ok((200, respond(def, req, &current)));
    }
    let outcome = lifecycle::delete(sh, def, ns, name, propagation)?;
    let code = if outcome.gone { 200 } else { 202 };
    Ok((code, respond(def, req, &outcome.object)))
}

pub fn delete_collection(
    sh: &Shared,
    req: &mut Req,
    def: &ResourceDef,
    ns: Option<&str>,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let filter = Filter::from_query(def, &req.query)?;
    let (propagation, _, _) = delete_options(req, body)?;
    let (all, _) = sh.store.list(&def.group_resource(), ns, None);
    let mut deleted = Vec::new();
    for obj in all.iter().filter(|o| filter.matches(o)) {
        let (ons, oname) = (namespace_of(obj).to_string(), name_of(obj).to_string());
        admit(sh, req, def, Operation::Delete, None, None, Some(&served(def, obj.clone())))?;
        if req.dry_run() {
            deleted.push(present(def, obj));
            continue;
        }
        match lifecycle::delete(sh, def, &ons, &oname, propagation) {
            Ok(o) => deleted.push(present(def, &o.object)),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(
        json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": {"resourceVersion": sh.store.current_rv().to_string()}, "items": deleted}),
    )
}
