//! The simulated Gatekeeper deployment: its CRDs and namespace, the controllers that keep the
//! shared [`PolicySet`] in step with the store (templates → constraint CRDs and status,
//! constraints → status, the `Config`/`SyncSet` → `data.inventory`), audit, and the validating
//! webhook ([`super::webhook`]).
//!
//! Audit runs when the simulator is otherwise quiescent (the real one runs every 60 s: at the
//! fixed point the cluster has "waited long enough"). It writes a constraint's audit status only
//! when the violations changed, so the simulator settles. This module must not evaluate Rego
//! itself: [`PolicySet`] does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::constraint::Constraint;
use super::eval::{audit_status, AuditViolation};
use super::template::{ingest, CONSTRAINTS_GROUP};
use super::{crds, webhook, PolicySet, GATEKEEPER_NAMESPACE};
use crate::apiserver::resources::GroupResource;
use crate::apiserver::store::Change;
use crate::platform::{check_version, Platform, PlatformError};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};

/// Gatekeeper versions whose behaviour the simulator follows.
pub const SUPPORTED_VERSIONS: &[&str] = &["3.18", "3.19", "3.20", "3.21"];
/// The pod id Gatekeeper's status entries carry.
pub const POD_ID: &str = "gatekeeper-controller-manager-0";
const TEMPLATES_GROUP: &str = "templates.gatekeeper.sh";
const TEMPLATES: &str = "constrainttemplates";
const FIELD_MANAGER: &str = "gatekeeper";

/// A namespace exclusion from the `Config`'s `spec.match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// Namespace patterns (prefix or suffix globs).
    pub namespaces: Vec<String>,
    /// `audit`, `webhook`, `sync`, `mutation-webhook` or `*`.
    pub processes: Vec<String>,
}

impl Exclusion {
    /// True when `namespace` is excluded from `process`.
    pub fn excludes(exclusions: &[Exclusion], process: &str, namespace: &str) -> bool {
        !namespace.is_empty()
            && exclusions.iter().any(|e| {
                e.processes.iter().any(|p| p == "*" || p == process)
                    && e.namespaces.iter().any(|n| super::glob_matches(n, namespace))
            })
    }
}

/// What the controllers and the webhook share.
#[derive(Default)]
pub struct State {
    pub policy: RwLock<PolicySet>,
    /// Template name → constraint kind, for templates ingested so far.
    kinds: RwLock<BTreeMap<String, String>>,
    /// The kinds synced into `data.inventory`: (group, version, kind).
    sync: RwLock<BTreeSet<(String, String, String)>>,
    pub exclusions: RwLock<Vec<Exclusion>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Installs Gatekeeper on a platform: namespace, CRDs, controllers, webhook.
pub fn install(platform: &Platform, version: &str) -> Result<Arc<State>, PlatformError> {
    check_version("gatekeeper", version, SUPPORTED_VERSIONS)?;
    let server = platform.server();
    let fail =
        |e: crate::apiserver::ApiError| PlatformError::Install { component: "gatekeeper", message: e.to_string() };
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": GATEKEEPER_NAMESPACE,
        "labels": {"admission.gatekeeper.sh/ignore": "no-self-managing"},
    }});
    server.install("", "v1", "namespaces", None, &ns).map_err(fail)?;
    for crd in crate::crds::made_once("gatekeeper", crds::crds).iter() {
        server.install("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, crd).map_err(fail)?;
    }
    let state = Arc::new(State::default());
    server.admission().add_validating(Arc::new(webhook::Webhook::new(state.clone(), server.downgrade())));
    let rt = platform.runtime();
    rt.add(Arc::new(TemplateController { state: state.clone(), applied: Default::default() }));
    rt.add(Arc::new(ConfigController { state: state.clone() }));
    rt.add(Arc::new(AuditController { state: state.clone() }));
    Ok(state)
}

/// True when only `status` (or bookkeeping metadata) changed.
fn status_only(change: &Change) -> bool {
    if change.type_ == crate::apiserver::store::EventType::Deleted {
        return false;
    }
    let Some(old) = &change.old else { return false };
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(old) == strip(&change.object)
}

/// Templates: compile, create the constraint CRD, write status; and the constraints of each
/// template's kind: load them into the policy set and write their `byPod` status. One key per
/// template (its name, which is the lowercased constraint kind, which is the constraint
/// resource's plural).
struct TemplateController {
    state: Arc<State>,
    /// Constraint CRD name → what was last applied and the CRD's resourceVersion after it: the
    /// same CRD is not applied again while nobody has changed it (upstream writes it only
    /// when it differs from the stored one).
    applied: std::sync::Mutex<BTreeMap<String, (String, String)>>,
}

impl Controller for TemplateController {
    fn name(&self) -> &str {
        "gatekeeper-controller-manager"
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(TEMPLATES_GROUP, TEMPLATES)
    }

    fn watches(&self) -> Vec<Watch> {
        vec![Watch::with(CONSTRAINTS_GROUP, "*", |c| {
            if status_only(c) {
                Vec::new()
            } else {
                vec![Key::new("", &c.gr.resource)]
            }
        })]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.sync_template(cx, key))
    }
}

impl TemplateController {
    /// Server-side applies a constraint CRD, unless this controller applied the same one last
    /// and the stored CRD has not changed since.
    async fn apply_crd(&self, cx: &Cx, crd: &Value) -> Result<(), ReconcileError> {
        let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let body = serde_json::to_string(crd).map_err(ReconcileError::new)?;
        let stored_rv = cx
            .get("apiextensions.k8s.io", "customresourcedefinitions", "", name)
            .and_then(|c| c.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string));
        let last = self.applied.lock().ok().and_then(|a| a.get(name).cloned());
        if let (Some((applied, rv)), Some(stored)) = (&last, &stored_rv) {
            if *applied == body && rv == stored {
                return Ok(());
            }
        }
        let path = format!(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}?fieldManager={FIELD_MANAGER}&force=true"
        );
        let req = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
            .body(body.clone().into_bytes())
            .map_err(ReconcileError::new)?;
        let stored: Value = cx.client.request(req).await?;
        if let (Some(rv), Ok(mut applied)) =
            (stored.pointer("/metadata/resourceVersion").and_then(Value::as_str), self.applied.lock())
        {
            applied.insert(name.to_string(), (body, rv.to_string()));
        }
        Ok(())
    }

    async fn sync_template(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let Some(obj) = cx.get(TEMPLATES_GROUP, TEMPLATES, "", &key.name) else {
            // Deleted: its CRD (owned by it) and constraints go with garbage collection.
            if let Some(kind) = write(&self.state.kinds).remove(&key.name) {
                let mut policy = write(&self.state.policy);
                policy.remove_template(&kind);
                let names: Vec<String> =
                    policy.constraints().filter(|c| c.kind == kind).map(|c| c.name.clone()).collect();
                for n in names {
                    policy.remove_constraint(&kind, &n);
                }
                cx.note(format!("template {} deleted: kind {kind} no longer enforced", key.name));
            }
            return Ok(Outcome::Done);
        };
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let ingested = ingest(&obj);
        let mut outcome = Outcome::Done;
        match (&ingested.template, &ingested.compiled) {
            (Some(t), Some(compiled)) => {
                write(&self.state.kinds).insert(key.name.clone(), t.kind.clone());
                if let Err(e) = write(&self.state.policy).upsert_template(compiled.clone()) {
                    cx.note(format!("template {}: {e}", key.name));
                }
                let mut crd = t.constraint_crd();
                let uid = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
                crd["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": obj.get("apiVersion").cloned().unwrap_or(json!("templates.gatekeeper.sh/v1")),
                    "kind": "ConstraintTemplate", "name": key.name, "uid": uid,
                    "controller": true, "blockOwnerDeletion": true,
                }]);
                crd["metadata"]["labels"] = json!({"gatekeeper.sh/constraint": "yes"});
                self.apply_crd(cx, &crd).await?;
            }
            _ => {
                // Not compiled: nothing of this template is enforced.
                if let Some(kind) = read(&self.state.kinds).get(&key.name) {
                    write(&self.state.policy).remove_template(kind);
                }
                for e in &ingested.errors {
                    cx.note(format!("template {}: {}", key.name, e.message));
                }
                outcome = Outcome::Retry;
            }
        }
        let mut status = ingested.status(POD_ID, generation);
        if let Some(uid) = obj.pointer("/metadata/uid") {
            status["byPod"][0]["templateUID"] = uid.clone();
        }
        cx.merge_status(TEMPLATES_GROUP, TEMPLATES, "", &key.name, &status).await?;
        if let Some(t) = &ingested.template {
            self.sync_constraints(cx, &t.kind, ingested.compiled.is_some()).await?;
        }
        Ok(outcome)
    }

    /// Loads every constraint of `kind` into the policy set and writes its `byPod` entry.
    async fn sync_constraints(&self, cx: &Cx, kind: &str, compiled: bool) -> Result<(), ReconcileError> {
        let plural = kind.to_lowercase();
        let objects = cx.list(CONSTRAINTS_GROUP, &plural, None);
        let present: BTreeSet<String> = objects
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .map(String::from)
            .collect();
        {
            let mut policy = write(&self.state.policy);
            let stale: Vec<String> = policy
                .constraints()
                .filter(|c| c.kind == kind && !present.contains(&c.name))
                .map(|c| c.name.clone())
                .collect();
            for n in stale {
                policy.remove_constraint(kind, &n);
            }
        }
        for obj in objects {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
            let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            let mut pod = json!({
                "id": POD_ID,
                "constraintUID": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                "observedGeneration": generation,
                "operations": ["audit", "mutation-status", "status", "mutation-webhook", "webhook"],
                "enforced": false,
            });
            match Constraint::from_value(&obj) {
                Ok(c) => {
                    write(&self.state.policy).upsert_constraint(c);
                    pod["enforced"] = json!(compiled);
                }
                Err(e) => {
                    write(&self.state.policy).remove_constraint(kind, &name);
                    pod["errors"] = json!([{"message": e.to_string()}]);
                    cx.note(format!("constraint {kind}/{name}: {e}"));
                }
            }
            cx.merge_status(CONSTRAINTS_GROUP, &plural, "", &name, &json!({"byPod": [pod]})).await?;
        }
        Ok(())
    }
}

/// The `Config` (`gatekeeper-system/config`) and SyncSets: which kinds go into
/// `data.inventory`, and namespace exclusions per process. One key for all of them; any change
/// to a synced kind re-reads the inventory.
struct ConfigController {
    state: Arc<State>,
}

const CONFIG_GROUP: &str = "config.gatekeeper.sh";
const SYNCSET_GROUP: &str = "syncset.gatekeeper.sh";

impl Controller for ConfigController {
    fn name(&self) -> &str {
        "gatekeeper-sync"
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(CONFIG_GROUP, "configs")
    }

    fn watches(&self) -> Vec<Watch> {
        let state = self.state.clone();
        let config = || vec![Key::new(GATEKEEPER_NAMESPACE, "config")];
        vec![
            Watch::with(SYNCSET_GROUP, "syncsets", move |_| config()),
            Watch::with("*", "*", move |c| {
                let sync = read(&state.sync);
                if sync.is_empty() {
                    return Vec::new();
                }
                let (api_version, kind) = (
                    c.object.get("apiVersion").and_then(Value::as_str).unwrap_or_default(),
                    c.object.get("kind").and_then(Value::as_str).unwrap_or_default(),
                );
                let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
                if sync.contains(&(group.to_string(), version.to_string(), kind.to_string())) {
                    config()
                } else {
                    Vec::new()
                }
            }),
        ]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(async move {
            if key.namespace != GATEKEEPER_NAMESPACE || key.name != "config" {
                cx.note(format!("Config {key} ignored: Gatekeeper reads only {GATEKEEPER_NAMESPACE}/config"));
                return Ok(Outcome::Done);
            }
            let config = cx.get(CONFIG_GROUP, "configs", GATEKEEPER_NAMESPACE, "config");
            let mut kinds = BTreeSet::new();
            let gvks = |list: Option<&Value>, out: &mut BTreeSet<(String, String, String)>| {
                for g in list.and_then(Value::as_array).into_iter().flatten() {
                    let s = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    out.insert((s("group"), s("version"), s("kind")));
                }
            };
            if let Some(c) = &config {
                gvks(c.pointer("/spec/sync/syncOnly"), &mut kinds);
            }
            for s in cx.list(SYNCSET_GROUP, "syncsets", None) {
                gvks(s.pointer("/spec/gvks"), &mut kinds);
            }
            let exclusions: Vec<Exclusion> = config
                .as_ref()
                .and_then(|c| c.pointer("/spec/match"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|m| {
                    let list = |k: &str| -> Vec<String> {
                        m.get(k)
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                            .unwrap_or_default()
                    };
                    Exclusion { namespaces: list("excludedNamespaces"), processes: list("processes") }
                })
                .collect();
            let mut inventory = super::Inventory::new();
            for (group, version, kind) in &kinds {
                let Some(def) = cx.server.registry().by_kind(group, version, kind) else {
                    cx.note(format!("sync: {group}/{version} {kind} is not served; nothing synced for it"));
                    continue;
                };
                for obj in cx.list(&def.group, &def.plural, None) {
                    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
                    if !Exclusion::excludes(&exclusions, "sync", ns) {
                        inventory.insert(&obj);
                    }
                }
            }
            *write(&self.state.sync) = kinds;
            *write(&self.state.exclusions) = exclusions;
            let errors = write(&self.state.policy).set_inventory(inventory.to_value());
            for (kind, e) in errors {
                cx.note(format!("inventory for {kind}: {e}"));
            }
            Ok(Outcome::Done)
        })
    }
}

/// Audit: at the fixed point, every object against every constraint; writes
/// `totalViolations`, `violations` (at most 20) and `auditTimestamp` when the result changed.
struct AuditController {
    state: Arc<State>,
}

impl Controller for AuditController {
    fn name(&self) -> &str {
        "gatekeeper-audit"
    }

    fn resource(&self) -> GroupResource {
        // A pseudo-resource: audit has one key and no object of its own.
        GroupResource::new("audit.gatekeeper.sh", "audit")
    }

    fn watches(&self) -> Vec<Watch> {
        vec![Watch::with("*", "*", |c| if status_only(c) { Vec::new() } else { vec![Key::new("", "audit")] })]
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, _key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(async move {
            if !cx.quiescent {
                return Ok(Outcome::Wait);
            }
            self.audit(cx).await?;
            Ok(Outcome::Done)
        })
    }
}

impl AuditController {
    async fn audit(&self, cx: &Cx) -> Result<(), ReconcileError> {
        let exclusions = read(&self.state.exclusions).clone();
        let objects: Vec<(GroupResource, Arc<Value>)> = cx
            .server
            .store()
            .all_objects()
            .into_iter()
            .filter(|(gr, o)| {
                let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
                gr.resource != "events" && !Exclusion::excludes(&exclusions, "audit", ns)
            })
            .collect();
        let namespaces: BTreeMap<String, Arc<Value>> = cx
            .list("", "namespaces", None)
            .into_iter()
            .filter_map(|n| Some((n.pointer("/metadata/name")?.as_str()?.to_string(), n.clone())))
            .collect();
        let pairs: Vec<(&Value, Option<&Value>)> = objects
            .iter()
            .map(|(_, o)| {
                let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
                (o.as_ref(), namespaces.get(ns).map(|n| n.as_ref()))
            })
            .collect();
        let results = read(&self.state.policy).audit(pairs.iter().copied());
        for ((kind, name), (violations, errors)) in results {
            for e in &errors {
                cx.note(format!("audit {kind}/{name}: {e}"));
            }
            let plural = kind.to_lowercase();
            let Some(current) = cx.get(CONSTRAINTS_GROUP, &plural, "", &name) else { continue };
            if same_audit(current.get("status"), &violations) {
                continue;
            }
            let status = audit_status(&violations, &crate::apiserver::objects::now());
            cx.note(format!("audit {kind}/{name}: {} violation(s) among {} object(s)", violations.len(), pairs.len()));
            cx.merge_status(CONSTRAINTS_GROUP, &plural, "", &name, &status).await?;
        }
        Ok(())
    }
}

/// True when the stored audit status already says exactly this.
fn same_audit(status: Option<&Value>, violations: &[AuditViolation]) -> bool {
    let Some(status) = status else { return false };
    let fresh = audit_status(violations, "");
    status.get("auditTimestamp").is_some()
        && status.get("totalViolations") == fresh.get("totalViolations")
        && status.get("violations") == fresh.get("violations")
}
