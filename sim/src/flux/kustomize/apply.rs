//! Staged server-side apply, as fluxcd/pkg `ssa` `ApplyAllStaged` does it for
//! kustomize-controller: stage 1 CustomResourceDefinitions (`apiextensions.k8s.io`), Namespaces
//! (`v1`) and ClusterRoles (`rbac.authorization.k8s.io`); stage 2 every kind whose name ends in
//! `Class`; stage 3 the rest. Within a stage objects are sorted as `ssa.ReconcileOrder` sorts
//! them, each is server-side applied with `dryRun=All` first (field manager
//! `kustomize-controller`, `force=true`), and only when every dry-run of the stage passed are
//! the changed objects applied; a failure stops that stage and every later one. The error
//! reads as `ssa/errors` `DryRunErr`: `<Kind>/<ns>/<name> dry-run failed (<Reason>): <message>`,
//! without ` (<Reason>)` when the error has none (an unknown kind:
//! `no matches for kind "X" in version "g/v"`), `<Kind>/<ns>/<name> not found: ...` for a 404,
//! and `<Kind>/<name> namespace not specified: ...` for a namespaced object without namespace.
//! Only the first failure is reported (upstream returns the first error of its errgroup).
//!
//! This module writes only through the API server's HTTP surface (the in-process client), so
//! validation, admission (Gatekeeper) and SSA behave as for any client. It must not decide
//! conditions; the controller turns its results into status.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::runtime::Cx;

/// The field manager kustomize-controller applies with.
pub const FIELD_MANAGER: &str = "kustomize-controller";
const FLUX_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The identity of an object in a change set or inventory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjRef {
    pub fn of(obj: &Value) -> ObjRef {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let api = s("/apiVersion");
        let (group, version) = match api.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api),
        };
        ObjRef { group, version, kind: s("/kind"), namespace: s("/metadata/namespace"), name: s("/metadata/name") }
    }

    /// `<ns>_<name>_<group>_<Kind>` (cli-utils `ObjMetadata.String`).
    pub fn id(&self) -> String {
        format!("{}_{}_{}_{}", self.namespace, self.name, self.group, self.kind)
    }

    /// Parses an inventory entry.
    pub fn from_entry(id: &str, version: &str) -> Option<ObjRef> {
        let mut parts = id.splitn(4, '_');
        let namespace = parts.next()?.to_string();
        let name = parts.next()?.to_string();
        let group = parts.next()?.to_string();
        let kind = parts.next()?.to_string();
        // A name may contain `_` only in theory (DNS names do not); the split keeps the shape.
        Some(ObjRef { group, version: version.to_string(), kind, namespace, name })
    }

    /// `Kind/ns/name`, or `Kind/name` for cluster-scoped objects (`ssa/utils` `FmtObjMetadata`).
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// What applying did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Deleted,
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Skipped => "skipped",
        }
    }
}

/// One change-set entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub obj: ObjRef,
    pub action: Action,
}

impl Change {
    /// `Kind/ns/name created` (`ChangeSetEntry.String`).
    pub fn line(&self) -> String {
        format!("{} {}", self.obj.display(), self.action.as_str())
    }
}

/// A failed apply: the message and the changes made before it (earlier stages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApplyError {
    pub message: String,
    pub applied: Vec<Change>,
}

/// Kinds ordered first and last (`ssa.ReconcileOrder`).
const FIRST: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn kind_index(kind: &str) -> i64 {
    if let Some(i) = FIRST.iter().position(|k| *k == kind) {
        return i as i64 - FIRST.len() as i64;
    }
    if let Some(i) = LAST.iter().position(|k| *k == kind) {
        return 1 + i as i64;
    }
    0
}

/// `ssa.SortableUnstructureds` order.
pub fn sort_key(r: &ObjRef) -> (i64, String, String, String, String) {
    (kind_index(&r.kind), r.group.clone(), r.kind.clone(), r.namespace.clone(), r.name.clone())
}

/// The stage of an object (0: definitions, 1: classes, 2: the rest).
pub fn stage(r: &ObjRef) -> usize {
    let def = (r.kind.eq_ignore_ascii_case("CustomResourceDefinition") && r.group == "apiextensions.k8s.io")
        || (r.kind.eq_ignore_ascii_case("Namespace") && r.group.is_empty() && r.version == "v1")
        || (r.kind.eq_ignore_ascii_case("ClusterRole") && r.group == "rbac.authorization.k8s.io");
    if def {
        0
    } else if r.kind.ends_with("Class") {
        1
    } else {
        2
    }
}

/// The API error of a failed request: reason (may be empty), code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

fn failure(e: kube::Error) -> Failure {
    match e {
        kube::Error::Api(s) => Failure { code: s.code, reason: s.reason.clone(), message: s.message.clone() },
        other => Failure { code: 0, reason: String::new(), message: other.to_string() },
    }
}

/// `DryRunErr.Error()`.
fn dry_run_message(r: &ObjRef, f: &Failure) -> String {
    if f.code == 404 {
        if r.namespace.is_empty() {
            return format!("{} namespace not specified: {}", r.display(), f.message);
        }
        return format!("{} not found: {}", r.display(), f.message);
    }
    if f.reason.is_empty() {
        format!("{} dry-run failed: {}", r.display(), f.message)
    } else {
        format!("{} dry-run failed ({}): {}", r.display(), f.reason, f.message)
    }
}

/// Sends an apply patch; `dry_run` adds `dryRun=All`.
async fn patch(cx: &Cx, path: &str, obj: &Value, dry_run: bool) -> Result<Value, Failure> {
    let mut url = format!("{path}?fieldManager={FIELD_MANAGER}&force=true");
    if dry_run {
        url.push_str("&dryRun=All");
    }
    let body =
        serde_json::to_vec(obj).map_err(|e| Failure { code: 0, reason: String::new(), message: e.to_string() })?;
    let req = http::Request::patch(url)
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .body(body)
        .map_err(|e| Failure { code: 0, reason: String::new(), message: e.to_string() })?;
    cx.client.request::<Value>(req).await.map_err(failure)
}

/// Deletes an object with background propagation. A 404 counts as deleted.
pub async fn delete(cx: &Cx, path: &str) -> Result<(), String> {
    let req = http::Request::delete(format!("{path}?propagationPolicy=Background"))
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match cx.client.request::<Value>(req).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(failure(e).message),
    }
}

/// The REST path of `r`, or the error a RESTMapper gives for an unknown kind.
pub fn rest_path(cx: &Cx, r: &ObjRef) -> Result<(String, bool), Failure> {
    let def = cx.server.registry().by_kind(&r.group, &r.version, &r.kind).ok_or_else(|| Failure {
        code: 0,
        reason: String::new(),
        message: format!("no matches for kind \"{}\" in version \"{}\"", r.kind, r.api_version()),
    })?;
    let base =
        if r.group.is_empty() { format!("/api/{}", r.version) } else { format!("/apis/{}/{}", r.group, r.version) };
    let path = if def.namespaced && !r.namespace.is_empty() {
        format!("{base}/namespaces/{}/{}/{}", r.namespace, def.plural, r.name)
    } else {
        format!("{base}/{}/{}", def.plural, r.name)
    };
    Ok((path, def.namespaced))
}

/// The stored object, if any.
pub fn existing(cx: &Cx, r: &ObjRef) -> Option<Value> {
    let def = cx.server.registry().by_kind(&r.group, &r.version, &r.kind)?;
    let ns = if def.namespaced { r.namespace.as_str() } else { "" };
    cx.get(&r.group, &def.plural, ns, &r.name).map(|o| o.as_ref().clone())
}

/// The object without what every write changes.
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

/// `ssa/errors` `IsImmutableError`: any Conflict or Invalid error, or a message saying
/// `is immutable` / `immutable field`.
fn is_immutable(f: &Failure) -> bool {
    f.code == 409 || f.code == 422 || f.message.contains("is immutable") || f.message.contains("immutable field")
}

fn selected(obj: &Value, key: &str, value: &str) -> bool {
    ["/metadata/labels", "/metadata/annotations"]
        .iter()
        .any(|p| obj.pointer(p).and_then(|m| m.get(key)).and_then(Value::as_str) == Some(value))
}

/// Applies `objects` in stages. Returns the change set (every object, in stage and sort order).
pub async fn apply_all_staged(cx: &Cx, objects: Vec<Value>, force: bool) -> Result<Vec<Change>, ApplyError> {
    let mut stages: [Vec<(ObjRef, Value)>; 3] = Default::default();
    for o in objects {
        let r = ObjRef::of(&o);
        stages[stage(&r)].push((r, o));
    }
    let mut done: Vec<Change> = Vec::new();
    for mut objs in stages {
        if objs.is_empty() {
            continue;
        }
        objs.sort_by_key(|(r, _)| sort_key(r));
        match apply_stage(cx, &objs, force).await {
            Ok(changes) => done.extend(changes),
            Err(message) => return Err(ApplyError { message, applied: done }),
        }
    }
    Ok(done)
}

async fn apply_stage(cx: &Cx, objs: &[(ObjRef, Value)], force: bool) -> Result<Vec<Change>, String> {
    let reconcile_key = format!("{FLUX_GROUP}/reconcile");
    let ssa_key = format!("{FLUX_GROUP}/ssa");
    let force_key = format!("{FLUX_GROUP}/force");
    let mut changes = Vec::new();
    let mut to_apply: Vec<(String, &Value)> = Vec::new();
    let mut errors: BTreeMap<usize, String> = BTreeMap::new();
    for (i, (r, obj)) in objs.iter().enumerate() {
        let current = existing(cx, r);
        // Exclusions (`kustomize.toolkit.fluxcd.io/reconcile: disabled`, `ssa: Ignore`) and
        // `ssa: IfNotPresent` on an existing object: skipped.
        let excluded = selected(obj, &reconcile_key, "disabled")
            || selected(obj, &ssa_key, "Ignore")
            || current
                .as_ref()
                .is_some_and(|c| selected(c, &reconcile_key, "disabled") || selected(c, &ssa_key, "Ignore"))
            || (current.is_some() && selected(obj, &ssa_key, "IfNotPresent"));
        if excluded {
            changes.push(Change { obj: r.clone(), action: Action::Skipped });
            continue;
        }
        let (path, namespaced) = match rest_path(cx, r) {
            Ok(p) => p,
            Err(f) => {
                errors.insert(i, dry_run_message(r, &f));
                continue;
            }
        };
        if namespaced && r.namespace.is_empty() {
            let f = Failure {
                code: 404,
                reason: "NotFound".into(),
                message: "the server could not find the requested resource".into(),
            };
            errors.insert(i, dry_run_message(r, &f));
            continue;
        }
        let mut result = patch(cx, &path, obj, true).await;
        if let Err(f) = &result {
            let forced = force || selected(obj, &force_key, "enabled");
            if current.is_some() && forced && is_immutable(f) {
                cx.note(format!("{} immutable field detected: recreating it (force)", r.display()));
                if let Err(e) = delete(cx, &path).await {
                    errors.insert(i, format!("{} immutable field detected, failed to delete object: {e}", r.display()));
                    continue;
                }
                result = patch(cx, &path, obj, true).await;
                let recreated = Change { obj: r.clone(), action: Action::Created };
                if result.is_ok() {
                    to_apply.push((path.clone(), obj));
                    changes.push(recreated);
                    continue;
                }
            }
        }
        match result {
            Err(f) => {
                errors.insert(i, dry_run_message(r, &f));
            }
            Ok(dry) => {
                let current = existing(cx, r);
                let action = match &current {
                    None => Action::Created,
                    Some(c) if comparable(c) == comparable(&dry) => Action::Unchanged,
                    Some(_) => Action::Configured,
                };
                if action != Action::Unchanged {
                    to_apply.push((path, obj));
                }
                changes.push(Change { obj: r.clone(), action });
            }
        }
    }
    if let Some((_, first)) = errors.into_iter().next() {
        return Err(first);
    }
    for (path, obj) in to_apply {
        if let Err(f) = patch(cx, &path, obj, false).await {
            return Err(format!("{} apply failed: {}", ObjRef::of(obj).display(), f.message));
        }
    }
    Ok(changes)
}

/// Sets the owner labels and `commonMetadata` on every object (`SetOwnerLabels`,
/// `SetCommonMetadata`: common labels and annotations override existing ones).
pub fn set_metadata(
    objects: &mut [Value],
    name: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) {
    for o in objects.iter_mut() {
        if !o.get("metadata").is_some_and(Value::is_object) {
            o["metadata"] = json!({});
        }
        let meta = &mut o["metadata"];
        for (field, extra) in [("labels", labels), ("annotations", annotations)] {
            if extra.is_empty() && field == "annotations" {
                continue;
            }
            if !meta.get(field).is_some_and(Value::is_object) {
                meta[field] = json!({});
            }
            for (k, v) in extra {
                meta[field][k] = json!(v);
            }
        }
        meta["labels"][format!("{FLUX_GROUP}/name")] = json!(name);
        meta["labels"][format!("{FLUX_GROUP}/namespace")] = json!(namespace);
    }
}
