//! The simulated source-controller (Flux source-controller v1.8): the
//! `source.toolkit.fluxcd.io` CRDs ([`crds`]), the GitRepository reconciler over the scenario
//! repositories ([`git_repository`]) and the reconciler of the sources the simulator cannot
//! fetch offline: HelmRepository, OCIRepository, Bucket and HelmChart ([`offline`]).
//!
//! Shared here: the finalizer both add, the condition types and reasons, and the helpers that
//! write metadata and status through the API server. This module must not build or apply
//! anything (that is kustomize- and helm-controller's) and must not reach any network.

pub mod crds;
pub mod git_repository;
pub mod offline;

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Flux, FluxVersion};
use crate::apiserver::resources::GroupResource;
use crate::platform::{Platform, PlatformError};
use crate::runtime::{Cx, ReconcileError};

pub use crds::GROUP;

/// `sourcev1.SourceFinalizer`.
pub const FINALIZER: &str = "finalizers.fluxcd.io";
/// The controller name events and field managers carry.
pub const CONTROLLER: &str = "source-controller";
/// The annotation `flux reconcile` sets (`meta.ReconcileRequestAnnotation`).
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";
/// The storage server artifacts URLs point at (source-controller's Service in `flux-system`).
pub const STORAGE_HOST: &str = "source-controller.flux-system.svc.cluster.local.";

/// Condition types and reasons (source-controller `api/v1/condition_types.go`, fluxcd/pkg
/// `apis/meta`).
pub mod cond {
    pub const READY: &str = "Ready";
    pub const RECONCILING: &str = "Reconciling";
    pub const STALLED: &str = "Stalled";
    pub const FETCH_FAILED: &str = "FetchFailed";
    pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
    pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
}

/// The GitRepository resource, for [`crate::runtime::Runtime::touch`] after a commit to a
/// scenario repository.
pub fn git_repositories() -> GroupResource {
    GroupResource::new(GROUP, "gitrepositories")
}

pub fn crds(version: FluxVersion) -> Vec<Value> {
    crds::crds(version)
}

/// Adds the controllers to the platform's runtime.
pub fn install(platform: &Platform, flux: &Flux) -> Result<(), PlatformError> {
    let rt = platform.runtime();
    rt.add(Arc::new(git_repository::GitRepositoryController::new(platform.repos().clone(), flux.artifacts.clone())));
    for kind in offline::Kind::ALL {
        rt.add(Arc::new(offline::OfflineController::new(kind)));
    }
    Ok(())
}

/// A string at a JSON pointer, or "".
pub(crate) fn text<'a>(obj: &'a Value, p: &str) -> &'a str {
    obj.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1)
}

pub(crate) fn has_finalizer(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(FINALIZER)))
}

pub(crate) fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// Adds or removes [`FINALIZER`] with a merge patch of `metadata.finalizers`.
pub(crate) async fn set_finalizer(cx: &Cx, plural: &str, obj: &Value, present: bool) -> Result<(), ReconcileError> {
    set_finalizer_in(cx, GROUP, plural, obj, present).await
}

/// [`set_finalizer`] for a resource of any group (helm-controller uses the same finalizer).
pub(crate) async fn set_finalizer_in(
    cx: &Cx,
    group: &str,
    plural: &str,
    obj: &Value,
    present: bool,
) -> Result<(), ReconcileError> {
    let mut list: Vec<Value> =
        obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
    list.retain(|v| v.as_str() != Some(FINALIZER));
    if present {
        list.push(json!(FINALIZER));
    }
    let path = cx.path(group, plural, text(obj, "/metadata/namespace"), text(obj, "/metadata/name"))?;
    let body = serde_json::to_vec(&json!({"metadata": {"finalizers": list}})).map_err(ReconcileError::new)?;
    let req = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(body)
        .map_err(ReconcileError::new)?;
    match cx.client.request::<Value>(req).await {
        Ok(_) => Ok(()),
        // Gone already (the last finalizer was removed by someone else).
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `status.lastHandledReconcileAt` for the object's reconcile request annotation, if any.
pub(crate) fn reconcile_request(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(RECONCILE_REQUEST_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The `Reconciling` message upstream leaves on an object whose reconcile failed
/// (fluxcd/pkg `runtime/reconcile` ProgressiveStatus: `processing object: new generation %d ->
/// %d` while the generation is not yet observed, else `reconciliation in progress`).
pub(crate) fn reconciling_message(obj: &Value) -> String {
    let observed = obj.pointer("/status/observedGeneration").and_then(Value::as_i64).unwrap_or(-1);
    let generation = generation(obj);
    if observed != generation {
        format!("processing object: new generation {observed} -> {generation}")
    } else {
        "reconciliation in progress".to_string()
    }
}
