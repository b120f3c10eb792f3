//! The simulated kustomize-controller: reconciles `kustomize.toolkit.fluxcd.io/v1`
//! Kustomizations in the order of upstream's `internal/controller/kustomization_controller.go`:
//! finalizer, suspend, source (`ArtifactFailed`), dependencies (`DependencyNotReady`), path
//! (`ArtifactFailed`), build and post-build substitution (`BuildFailed`, [`build`],
//! [`substitute`]), staged server-side apply with dry-runs (`ReconciliationFailed`, [`apply`]),
//! inventory and prune ([`inventory`]), health checks (`HealthCheckFailed`, [`health`]), then
//! `Ready=True` `ReconciliationSucceeded` `Applied revision: <rev>`.
//!
//! Differences that come from the simulator having no clock: the status is written once per
//! reconcile (the intermediate `Progressing` patches upstream makes would only churn the fixed
//! point), durations in messages are the simulated ones (`Health check passed in 0s`,
//! `health check failed after <timeout>`), retries happen after any progress instead of after
//! `retryInterval`, and the success event is recorded when the status changed rather than on
//! every interval. A health check that is still in progress makes the reconcile wait
//! ([`Outcome::Wait`]); when nothing else can change it concludes with the timeout message.
//! Deployments never become ready here: no workload controller runs yet (see [`health`]).
//!
//! This module must not build, apply or delete objects itself: the submodules do, and every
//! write goes through the API server. Secret values must never reach a condition, event or
//! note.

pub mod apply;
pub mod build;
pub mod crd;
pub mod health;
pub mod inventory;
pub mod prefetch;
pub mod substitute;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{ArtifactStore, Flux, FluxVersion};
use crate::apiserver::resources::GroupResource;
use crate::apiserver::WeakApiServer;
use crate::conditions::{self, Condition};
use crate::platform::{Platform, PlatformError};
use crate::runtime::{Controller, Cx, Key, Outcome, ReconcileError, Watch};
use apply::{Change, ObjRef};
pub use build::{stats, BuildStats};
pub use crd::{GROUP, KIND, PLURAL, V1BETA2_WARNING};

/// The finalizer kustomize-controller puts on every Kustomization.
pub const FINALIZER: &str = "finalizers.fluxcd.io";
/// Where sources live.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// `--requeue-dependency` default, quoted in messages.
const DEPENDENCY_REQUEUE: &str = "30s";
const COMPONENT: &str = "kustomize-controller";

/// Condition reasons (fluxcd/pkg `apis/meta`).
pub mod reason {
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    pub const BUILD_FAILED: &str = "BuildFailed";
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    pub const PRUNE_FAILED: &str = "PruneFailed";
    pub const PROGRESSING: &str = "Progressing";
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    pub const SUCCEEDED: &str = "Succeeded";
}

/// The CRDs of the kustomize-controller for a Flux version.
pub fn crds(version: FluxVersion) -> Vec<Value> {
    vec![crd::kustomization_crd(version)]
}

/// Starts the controller on the platform's runtime.
pub fn install(platform: &Platform, flux: &Flux) -> Result<(), PlatformError> {
    let controller = KustomizeController {
        artifacts: flux.artifacts.clone(),
        kubectl: platform.tools().kubectl.clone(),
        scratch: platform.work_dir().join("kustomize"),
        cache: build::BuildCache::new(platform.tools().build_cache.clone()),
        server: platform.server().downgrade(),
    };
    platform.runtime().add(Arc::new(controller));
    Ok(())
}

/// The plural of a source kind.
fn source_plural(kind: &str) -> Option<&'static str> {
    match kind {
        "GitRepository" => Some("gitrepositories"),
        "OCIRepository" => Some("ocirepositories"),
        "Bucket" => Some("buckets"),
        "ExternalArtifact" => Some("externalartifacts"),
        _ => None,
    }
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// The controller.
pub struct KustomizeController {
    artifacts: ArtifactStore,
    kubectl: Option<PathBuf>,
    scratch: PathBuf,
    cache: build::BuildCache,
    server: WeakApiServer,
}

/// Kustomizations (namespace, name) whose spec matches `pred`.
fn kustomizations_where(server: &WeakApiServer, pred: impl Fn(&Value) -> bool) -> Vec<Key> {
    let Some(server) = server.upgrade() else { return Vec::new() };
    let (items, _) = server.store().list(&GroupResource::new(GROUP, PLURAL), None, None);
    items.iter().filter(|o| pred(o)).map(|o| Key::of(o)).collect()
}

impl Controller for KustomizeController {
    fn name(&self) -> &str {
        COMPONENT
    }

    fn resource(&self) -> GroupResource {
        GroupResource::new(GROUP, PLURAL)
    }

    fn on_own_change(&self, change: &crate::apiserver::store::Change) -> bool {
        crate::runtime::generation_or_request_changed(change)
    }

    fn watches(&self) -> Vec<Watch> {
        let mut out = Vec::new();
        for (kind, plural) in
            [("GitRepository", "gitrepositories"), ("OCIRepository", "ocirepositories"), ("Bucket", "buckets")]
        {
            let server = self.server.clone();
            out.push(Watch::with(SOURCE_GROUP, plural, move |c| {
                kustomizations_where(&server, |k| {
                    let ns = match s(k, "/spec/sourceRef/namespace") {
                        "" => s(k, "/metadata/namespace"),
                        n => n,
                    };
                    s(k, "/spec/sourceRef/kind") == kind && s(k, "/spec/sourceRef/name") == c.name && ns == c.namespace
                })
            }));
        }
        let server = self.server.clone();
        out.push(Watch::with(GROUP, PLURAL, move |c| {
            kustomizations_where(&server, |k| {
                let own_ns = s(k, "/metadata/namespace");
                k.pointer("/spec/dependsOn").and_then(Value::as_array).is_some_and(|deps| {
                    deps.iter().any(|d| {
                        let ns = match s(d, "/namespace") {
                            "" => own_ns,
                            n => n,
                        };
                        s(d, "/name") == c.name && ns == c.namespace
                    })
                })
            })
        }));
        out
    }

    fn reconcile<'a>(&'a self, cx: &'a Cx, key: &'a Key) -> BoxFuture<'a, Result<Outcome, ReconcileError>> {
        Box::pin(self.run(cx, key))
    }
}

/// The status being computed in one reconcile.
struct St {
    conditions: Value,
    generation: i64,
    observed_generation: Option<i64>,
    inventory: Option<Value>,
    last_applied: Option<String>,
    last_attempted: Option<String>,
    /// The last progress message reached in this reconcile (for `Reconciling`).
    progress: Option<String>,
    /// `reconcile.fluxcd.io/requestedAt`, echoed as `lastHandledReconcileAt`.
    requested_at: Option<String>,
}

impl St {
    fn of(obj: &Value) -> St {
        St {
            conditions: obj.pointer("/status/conditions").cloned().unwrap_or(json!([])),
            generation: obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1),
            observed_generation: obj.pointer("/status/observedGeneration").and_then(Value::as_i64),
            inventory: obj.pointer("/status/inventory").cloned(),
            last_applied: obj.pointer("/status/lastAppliedRevision").and_then(Value::as_str).map(str::to_string),
            last_attempted: obj.pointer("/status/lastAttemptedRevision").and_then(Value::as_str).map(str::to_string),
            progress: None,
            requested_at: obj
                .pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        conditions::set(&mut self.conditions, &Condition { type_, status, reason, message }, self.generation);
    }

    fn ready_false(&mut self, reason: &str, message: &str) {
        self.set("Ready", "False", reason, message);
    }

    fn ready_reason(&self) -> String {
        let obj = json!({"status": {"conditions": self.conditions}});
        conditions::get(&obj, "Ready").map(|c| s(c, "/reason").to_string()).unwrap_or_default()
    }

    fn progressing(&mut self, message: String) {
        self.progress = Some(message);
    }

    /// `finalizeStatus`.
    fn finish(&mut self) -> Value {
        let obj = json!({"status": {"conditions": self.conditions}});
        match conditions::status_of(&obj, "Ready") {
            Some("True") => {
                conditions::remove(&mut self.conditions, "Reconciling");
                self.observed_generation = Some(self.generation);
            }
            Some("False") => {
                let msg = self
                    .progress
                    .clone()
                    .or_else(|| conditions::get(&obj, "Reconciling").map(|c| s(c, "/message").to_string()));
                if let Some(m) = msg {
                    self.set("Reconciling", "True", reason::PROGRESSING_WITH_RETRY, &m);
                }
            }
            _ => {
                if let Some(m) = self.progress.clone() {
                    self.set("Reconciling", "True", reason::PROGRESSING, &m);
                }
            }
        }
        let mut status = json!({"conditions": self.conditions});
        if let Some(g) = self.observed_generation {
            status["observedGeneration"] = json!(g);
        }
        status["inventory"] = self.inventory.clone().unwrap_or(Value::Null);
        if let Some(r) = &self.last_applied {
            status["lastAppliedRevision"] = json!(r);
        }
        if let Some(r) = &self.last_attempted {
            status["lastAttemptedRevision"] = json!(r);
        }
        if let Some(r) = &self.requested_at {
            status["lastHandledReconcileAt"] = json!(r);
        }
        status
    }
}

impl KustomizeController {
    async fn run(&self, cx: &Cx, key: &Key) -> Result<Outcome, ReconcileError> {
        let Some(obj) = cx.get(GROUP, PLURAL, &key.namespace, &key.name) else {
            self.cache.forget(&key.namespace, &key.name);
            return Ok(Outcome::Done);
        };
        let mut obj = obj.as_ref().clone();
        let spec: crd::Spec = serde_json::from_value(obj.get("spec").cloned().unwrap_or(json!({})))
            .map_err(|e| ReconcileError::new(format!("reading spec: {e}")))?;
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return self.finalize(cx, &obj, &spec).await;
        }
        let finalizers: Vec<Value> =
            obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        if !finalizers.iter().any(|f| f.as_str() == Some(FINALIZER)) {
            let mut list = finalizers.clone();
            list.push(json!(FINALIZER));
            obj = self.patch_metadata(cx, key, json!({"metadata": {"finalizers": list}})).await?;
        }
        if spec.suspend {
            cx.note("reconciliation is suspended for this object");
            return Ok(Outcome::Done);
        }
        let mut st = St::of(&obj);
        let outcome = self.reconcile_ks(cx, key, &obj, &spec, &mut st).await?;
        let status = st.finish();
        let wrote = cx.merge_status(GROUP, PLURAL, &key.namespace, &key.name, &status).await?;
        if wrote && st.ready_reason() == reason::RECONCILIATION_SUCCEEDED {
            let interval = crd::parse_duration(&spec.interval).map(crd::go_duration).unwrap_or_default();
            let msg = format!("Reconciliation finished in 0s, next run in {interval}");
            cx.event(&obj, "Normal", reason::RECONCILIATION_SUCCEEDED, &msg, COMPONENT);
        }
        Ok(outcome)
    }

    async fn patch_metadata(&self, cx: &Cx, key: &Key, patch: Value) -> Result<Value, ReconcileError> {
        let path = cx.path(GROUP, PLURAL, &key.namespace, &key.name)?;
        let body = serde_json::to_vec(&patch).map_err(ReconcileError::new)?;
        let req = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(body)
            .map_err(ReconcileError::new)?;
        Ok(cx.client.request::<Value>(req).await?)
    }

    /// Deletion: prune the inventory when the deletion policy says so, then drop the finalizer.
    async fn finalize(&self, cx: &Cx, obj: &Value, spec: &crd::Spec) -> Result<Outcome, ReconcileError> {
        let key = Key::of(obj);
        let refs = inventory::refs(obj.pointer("/status/inventory"));
        let delete = !spec.suspend
            && !refs.is_empty()
            && match spec.deletion_policy.as_str() {
                "" | "MirrorPrune" => spec.prune,
                "Delete" | "WaitForTermination" => true,
                _ => false,
            };
        if delete {
            let mut sorted = refs.clone();
            sorted.sort_by_key(apply::sort_key);
            match inventory::delete_all(cx, &sorted, (&key.name, &key.namespace)).await {
                Ok(changes) => {
                    let lines: Vec<String> = changes.iter().map(Change::line).collect();
                    if !lines.is_empty() {
                        let reason = St::of(obj).ready_reason();
                        let reason = if reason.is_empty() { "info".to_string() } else { reason };
                        cx.event(obj, "Normal", &reason, &lines.join("\n"), COMPONENT);
                    }
                    cx.note(format!("deleted with its inventory: {}", lines.join(", ")));
                }
                Err(e) => {
                    cx.event(obj, "Warning", "error", "pruning for deleted resource failed", COMPONENT);
                    cx.note(format!("pruning for deleted resource failed: {e}"));
                    return Ok(Outcome::Retry);
                }
            }
        }
        let rest: Vec<Value> = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter(|f| f.as_str() != Some(FINALIZER)).cloned().collect())
            .unwrap_or_default();
        self.cache.forget(&key.namespace, &key.name);
        match self.patch_metadata(cx, &key, json!({"metadata": {"finalizers": rest}})).await {
            Ok(_) => Ok(Outcome::Done),
            // Removing the last finalizer deletes the object; a 404 then is success.
            Err(_) if cx.get(GROUP, PLURAL, &key.namespace, &key.name).is_none() => Ok(Outcome::Done),
            Err(e) => Err(e),
        }
    }

    /// Everything between the finalizer and `finalizeStatus`; sets `st`.
    async fn reconcile_ks(
        &self,
        cx: &Cx,
        key: &Key,
        obj: &Value,
        spec: &crd::Spec,
        st: &mut St,
    ) -> Result<Outcome, ReconcileError> {
        let previous = (st.ready_reason(), st.last_attempted.clone());
        // 1. The source and its artifact.
        let src_ns = if spec.source_ref.namespace.is_empty() {
            key.namespace.clone()
        } else {
            spec.source_ref.namespace.clone()
        };
        let kind = spec.source_ref.kind.as_str();
        if kind == "ExternalArtifact" {
            // getSource(): the ExternalArtifact feature gate is off by default
            // (internal/features/features.go), a terminal AccessDenied.
            let msg = format!(
                "can't access '{kind}/{src_ns}/{}', ExternalArtifact feature gate is disabled",
                spec.source_ref.name
            );
            st.ready_false("AccessDenied", &msg);
            st.set("Stalled", "True", "AccessDenied", &msg);
            cx.event(obj, "Warning", "AccessDenied", &msg, COMPONENT);
            return Ok(Outcome::Done);
        }
        conditions::remove(&mut st.conditions, "Stalled");
        let Some(plural) = source_plural(kind) else {
            let msg = format!("source `{}` kind '{kind}' not supported", spec.source_ref.name);
            st.ready_false(reason::ARTIFACT_FAILED, &msg);
            return Ok(Outcome::Retry);
        };
        if cx.server.registry().any_version(SOURCE_GROUP, plural).is_none() {
            let msg = format!(
                "unable to get source '{src_ns}/{}': no matches for kind \"{kind}\" in version \"{SOURCE_GROUP}/v1\"",
                spec.source_ref.name
            );
            st.ready_false(reason::ARTIFACT_FAILED, &msg);
            return Ok(Outcome::Retry);
        }
        let Some(source) = cx.get(SOURCE_GROUP, plural, &src_ns, &spec.source_ref.name) else {
            let msg = format!("{plural}.{SOURCE_GROUP} \"{}\" not found", spec.source_ref.name);
            st.ready_false(reason::ARTIFACT_FAILED, &msg);
            cx.note(format!("Source '{kind}/{src_ns}/{}' not found", spec.source_ref.name));
            return Ok(Outcome::Retry);
        };
        let revision = s(&source, "/status/artifact/revision").to_string();
        if source.pointer("/status/artifact").is_none() || revision.is_empty() {
            let msg = format!("Source artifact not found, retrying in {DEPENDENCY_REQUEUE}");
            st.ready_false(reason::ARTIFACT_FAILED, &msg);
            return Ok(Outcome::Retry);
        }
        // 2. Dependencies.
        if !spec.depends_on.is_empty() {
            if let Err(msg) = self.check_dependencies(cx, key, spec, &src_ns, &revision) {
                st.ready_false(reason::DEPENDENCY_NOT_READY, &msg);
                let event = format!("Dependencies do not meet ready condition, retrying in {DEPENDENCY_REQUEUE}");
                cx.event(obj, "Normal", reason::DEPENDENCY_NOT_READY, &event, COMPONENT);
                cx.note(msg);
                return Ok(Outcome::Retry);
            }
        }
        let timeout = crd::go_duration(spec.timeout());
        // 3. Fetch (the artifact store) and the path.
        st.progressing(format!("Fetching manifests for revision {revision} with a timeout of {timeout}"));
        st.set("Ready", "Unknown", reason::PROGRESSING, "Reconciliation in progress");
        let artifact = self.artifacts.get(kind, &src_ns, &spec.source_ref.name).filter(|a| a.revision == revision);
        let Some(artifact) = artifact else {
            let msg = format!("Source is not ready, artifact not found, retrying in {DEPENDENCY_REQUEUE}");
            st.ready_false(reason::ARTIFACT_FAILED, &msg);
            return Ok(Outcome::Retry);
        };
        let scratch = self.scratch.join(format!("kustomization-{}-{}", key.namespace, key.name));
        if !build::secure_join(&artifact.dir, &spec.path).exists() {
            let shown = build::secure_join(&scratch, &spec.path);
            let msg = format!("kustomization path not found: stat {}: no such file or directory", shown.display());
            return Ok(self.fail(cx, obj, st, &revision, reason::ARTIFACT_FAILED, &msg));
        }
        st.last_attempted = Some(revision.clone());
        st.progressing(format!("Building manifests for revision {revision} with a timeout of {timeout}"));
        // 4. Build and post-build.
        let digest = artifact.digest.clone();
        if self.cache.is_stale((&key.namespace, &key.name), &digest, spec) {
            self.prebuild(cx);
        }
        let built = self.cache.build(
            (&key.namespace, &key.name),
            self.kubectl.as_deref(),
            &artifact.dir,
            &digest,
            spec,
            &scratch,
        );
        let output = match built {
            Ok(o) => o,
            Err(e) => return Ok(self.fail(cx, obj, st, &revision, reason::BUILD_FAILED, &e.to_string())),
        };
        let mut objects = match self.post_build(cx, key, spec, &output) {
            Ok(o) => o,
            Err(msg) => return Ok(self.fail(cx, obj, st, &revision, reason::BUILD_FAILED, &msg)),
        };
        let (labels, annotations) =
            spec.common_metadata.as_ref().map(|m| (m.labels.clone(), m.annotations.clone())).unwrap_or_default();
        apply::set_metadata(&mut objects, &key.name, &key.namespace, &labels, &annotations);
        // 5. Staged apply.
        st.progressing(format!("Detecting drift for revision {revision} with a timeout of {timeout}"));
        let changes = match apply::apply_all_staged(cx, objects, spec.force).await {
            Ok(c) => c,
            Err(e) => {
                let mut log = String::new();
                for c in
                    e.applied.iter().filter(|c| matches!(c.action, apply::Action::Created | apply::Action::Configured))
                {
                    log.push_str(&c.line());
                    log.push('\n');
                }
                let msg = format!("{}\n{log}", e.message);
                return Ok(self.fail(cx, obj, st, &revision, reason::RECONCILIATION_FAILED, &msg));
            }
        };
        let changed: Vec<String> = changes
            .iter()
            .filter(|c| matches!(c.action, apply::Action::Created | apply::Action::Configured))
            .map(Change::line)
            .collect();
        if !changed.is_empty() {
            cx.event(obj, "Normal", reason::PROGRESSING, &changed.join("\n"), COMPONENT);
            cx.note(format!("server-side apply: {}", changed.join(", ")));
        }
        // 6. Inventory and prune.
        let old = inventory::refs(st.inventory.as_ref());
        let new_inventory = inventory::from_changes(&changes);
        let new_refs: Vec<ObjRef> = changes.iter().map(|c| c.obj.clone()).collect();
        st.inventory = Some(new_inventory);
        if spec.prune {
            let stale = inventory::stale(&old, &new_refs);
            match inventory::delete_all(cx, &stale, (&key.name, &key.namespace)).await {
                Ok(deleted) if !deleted.is_empty() => {
                    let lines: Vec<String> = deleted.iter().map(Change::line).collect();
                    cx.event(obj, "Normal", reason::PROGRESSING, &lines.join("\n"), COMPONENT);
                    cx.note(format!("garbage collection completed: {}", lines.join(", ")));
                }
                Ok(_) => {}
                Err(e) => {
                    // Re-track what could not be deleted.
                    let mut entries: Vec<Value> = changes
                        .iter()
                        .map(|c| json!({"id": c.obj.id(), "v": c.obj.version}))
                        .chain(stale.iter().map(|r| json!({"id": r.id(), "v": r.version})))
                        .collect();
                    entries.dedup();
                    st.inventory = Some(json!({"entries": entries}));
                    return Ok(self.fail(cx, obj, st, &revision, reason::PRUNE_FAILED, &e));
                }
            }
        }
        // 7. Health.
        // A health check that already timed out for this revision, with nothing re-applied
        // since, concludes at once: the simulated time has run out already.
        let timed_out = cx.quiescent
            || (changed.is_empty()
                && previous.0 == reason::HEALTH_CHECK_FAILED
                && previous.1.as_deref() == Some(revision.as_str()));
        match self.check_health(cx, key, spec, &changes, st, &revision, &timeout, timed_out) {
            HealthOutcome::NotChecked => conditions::remove(&mut st.conditions, "Healthy"),
            HealthOutcome::Healthy => {
                let was =
                    conditions::status_of(&json!({"status": {"conditions": st.conditions}}), "Healthy") == Some("True");
                let msg = "Health check passed in 0s";
                if !was {
                    cx.event(obj, "Normal", reason::PROGRESSING, msg, COMPONENT);
                }
                st.set("Healthy", "True", reason::SUCCEEDED, msg);
            }
            HealthOutcome::Waiting => return Ok(Outcome::Wait),
            HealthOutcome::Failed(msg) => {
                st.set("Healthy", "False", reason::HEALTH_CHECK_FAILED, &msg);
                let full = if msg.starts_with("timeout") {
                    format!("health check failed after {timeout}: {msg}")
                } else {
                    format!("health check failed after 0s: {msg}")
                };
                return Ok(self.fail(cx, obj, st, &revision, reason::HEALTH_CHECK_FAILED, &full));
            }
        }
        // 8. Success.
        st.last_applied = Some(revision.clone());
        st.set("Ready", "True", reason::RECONCILIATION_SUCCEEDED, &format!("Applied revision: {revision}"));
        Ok(Outcome::Done)
    }

    /// Builds, in parallel, every Kustomization whose build is not cached yet (see
    /// [`build::BuildCache::build_many`]).
    fn prebuild(&self, cx: &Cx) {
        let Some(kubectl) = self.kubectl.as_deref() else { return };
        let mut jobs = Vec::new();
        for ks in cx.list(GROUP, PLURAL, None) {
            let Ok(spec) = serde_json::from_value::<crd::Spec>(ks.get("spec").cloned().unwrap_or(json!({}))) else {
                continue;
            };
            if spec.suspend || ks.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let key = Key::of(&ks);
            let src_ns = if spec.source_ref.namespace.is_empty() {
                key.namespace.clone()
            } else {
                spec.source_ref.namespace.clone()
            };
            let Some(artifact) = self.artifacts.get(&spec.source_ref.kind, &src_ns, &spec.source_ref.name) else {
                continue;
            };
            if !build::secure_join(&artifact.dir, &spec.path).exists() {
                continue;
            }
            let digest = artifact.digest.clone();
            if !self.cache.is_stale((&key.namespace, &key.name), &digest, &spec) {
                continue;
            }
            let scratch = self.scratch.join(format!("kustomization-{}-{}", key.namespace, key.name));
            jobs.push(build::BuildJob {
                namespace: key.namespace,
                name: key.name,
                artifact_dir: artifact.dir.clone(),
                digest,
                spec,
                scratch,
            });
        }
        if jobs.len() > 1 {
            cx.note(format!("building {} Kustomizations in parallel", jobs.len()));
            self.cache.build_many(Some(kubectl), &jobs);
        }
    }

    /// Marks `Ready=False`, records the Warning event upstream records, and asks for a retry.
    fn fail(&self, cx: &Cx, obj: &Value, st: &mut St, revision: &str, reason: &str, msg: &str) -> Outcome {
        st.ready_false(reason, msg);
        cx.event(obj, "Warning", reason, msg, COMPONENT);
        cx.note(format!("{reason} at revision {revision}"));
        Outcome::Retry
    }

    fn check_dependencies(
        &self,
        cx: &Cx,
        key: &Key,
        spec: &crd::Spec,
        src_ns: &str,
        revision: &str,
    ) -> Result<(), String> {
        for d in &spec.depends_on {
            let ns = if d.namespace.is_empty() { key.namespace.as_str() } else { d.namespace.as_str() };
            let name = format!("{ns}/{}", d.name);
            let Some(dep) = cx.get(GROUP, PLURAL, ns, &d.name) else {
                return Err(format!("dependency '{name}' not found: {PLURAL}.{GROUP} \"{}\" not found", d.name));
            };
            let generation = dep.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            let observed = dep.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(-1);
            let has_conditions =
                dep.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
            if !has_conditions || generation != observed || conditions::status_of(&dep, "Ready") != Some("True") {
                return Err(format!("dependency '{name}' is not ready"));
            }
            let dep_src_ns = match s(&dep, "/spec/sourceRef/namespace") {
                "" => ns,
                n => n,
            };
            let same_source = s(&dep, "/spec/sourceRef/name") == spec.source_ref.name
                && dep_src_ns == src_ns
                && s(&dep, "/spec/sourceRef/kind") == spec.source_ref.kind;
            if same_source && s(&dep, "/status/lastAppliedRevision") != revision {
                return Err(format!("dependency '{name}' revision is not up to date"));
            }
        }
        Ok(())
    }

    /// Splits the build output, substitutes variables, parses the objects.
    fn post_build(&self, cx: &Cx, key: &Key, spec: &crd::Spec, output: &str) -> Result<Vec<Value>, String> {
        substitute::post_build(spec, output, |plural, name| {
            cx.get("", plural, &key.namespace, name).map(|o| o.as_ref().clone())
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn check_health(
        &self,
        cx: &Cx,
        key: &Key,
        spec: &crd::Spec,
        changes: &[Change],
        st: &mut St,
        revision: &str,
        timeout: &str,
        timed_out: bool,
    ) -> HealthOutcome {
        if spec.health_checks.is_empty() && !spec.wait {
            return HealthOutcome::NotChecked;
        }
        let refs: Vec<ObjRef> = if spec.wait {
            changes.iter().filter(|c| c.action != apply::Action::Skipped).map(|c| c.obj.clone()).collect()
        } else {
            spec.health_checks
                .iter()
                .map(|h| {
                    let (group, version) = match h.api_version.split_once('/') {
                        Some((g, v)) => (g.to_string(), v.to_string()),
                        None => (String::new(), h.api_version.clone()),
                    };
                    ObjRef {
                        group,
                        version,
                        kind: h.kind.clone(),
                        namespace: h.namespace.clone(),
                        name: h.name.clone(),
                    }
                })
                .collect()
        };
        let refs: Vec<ObjRef> = refs
            .into_iter()
            .filter(|r| !(r.kind == KIND && r.name == key.name && r.namespace == key.namespace))
            .collect();
        if refs.is_empty() {
            return HealthOutcome::NotChecked;
        }
        let items: Vec<(String, health::Status)> = refs
            .iter()
            .map(|r| {
                let current = if r.version.is_empty() {
                    cx.server
                        .registry()
                        .all()
                        .into_iter()
                        .find(|d| d.group == r.group && d.kind == r.kind)
                        .and_then(|d| apply::existing(cx, &ObjRef { version: d.version.clone(), ..r.clone() }))
                } else {
                    apply::existing(cx, r)
                };
                (r.display(), health::status(current.as_ref()))
            })
            .collect();
        match health::verdict(&items, timed_out) {
            Ok(()) => HealthOutcome::Healthy,
            Err(Some(msg)) => HealthOutcome::Failed(msg),
            Err(None) => {
                let msg = format!("Running health checks for revision {revision} with a timeout of {timeout}");
                st.progressing(msg.clone());
                st.set("Healthy", "Unknown", reason::PROGRESSING, &msg);
                HealthOutcome::Waiting
            }
        }
    }
}

enum HealthOutcome {
    NotChecked,
    Healthy,
    Waiting,
    Failed(String),
}

#[cfg(test)]
mod tests;
