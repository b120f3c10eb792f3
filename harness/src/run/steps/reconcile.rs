//! `reconcile`: drive every Flux object to a verdict. On the simulator the stage settles (the
//! controllers' fixed point is the reconcile; ACK controllers resync with AWS first). On a real cluster every object is annotated
//! `reconcile.fluxcd.io/requestedAt`, as `flux reconcile` does, and must report that request in
//! `status.lastHandledReconcileAt`. Then every GitRepository, OCIRepository, HelmRepository,
//! Bucket, HelmChart, Kustomization and HelmRelease (or the kinds asked for) must have a Ready
//! condition that is True or False for its current generation. The verdict itself is for
//! `flux` expectations; this step fails only when objects have none in time, and names them.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::context::{fail, Cx, POLL_MAX};
use crate::run::events::Failure;
use crate::scenario::model::flux_api_version;
use crate::scenario::Reconcile;

/// How long `reconcile` waits for verdicts by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

const KINDS: [&str; 7] =
    ["GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart", "Kustomization", "HelmRelease"];

/// The annotation `flux reconcile` sets to ask for a reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

pub async fn run(cx: &Cx, r: &Reconcile, timeout: Option<Duration>) -> Result<(), Failure> {
    // The simulated ACK controllers look at AWS again too (their periodic resync, which time
    // never brings on the simulator), so drift made by a command step is corrected here.
    cx.stage.resync_aws_controllers();
    cx.stage.settle().await.map_err(|e| fail(e.to_string()))?;
    let kinds: Vec<&str> =
        if r.kinds.is_empty() { KINDS.to_vec() } else { r.kinds.iter().map(String::as_str).collect() };
    // Where the platform reaches its fixed point by itself, settling was the reconcile; on a
    // real cluster, ask for one as `flux reconcile` does.
    let token = if cx.stage.rest_is_final() {
        None
    } else {
        let token = jiff::Timestamp::now().to_string();
        request(cx, &kinds, r.namespace.as_deref(), &token).await?;
        Some(token)
    };
    let limit = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let start = Instant::now();
    loop {
        let pending = without_verdict(cx, &kinds, r.namespace.as_deref(), token.as_deref()).await?;
        if pending.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= limit || cx.cancelled() {
            return Err(fail(format!(
                "no verdict within {}: {}",
                crate::scenario::Duration(limit),
                pending.join("; ")
            )));
        }
        if !cx.pause(POLL_MAX).await {
            return Err(fail("interrupted"));
        }
    }
}

/// Annotates every Flux object of `kinds` with the reconcile request `token`.
async fn request(cx: &Cx, kinds: &[&str], namespace: Option<&str>, token: &str) -> Result<(), Failure> {
    for kind in kinds {
        let Some(api_version) = flux_api_version(kind) else { continue };
        let Ok((ar, _)) = cx.kube.resolve(api_version, kind).await else { continue };
        for obj in cx.kube.list(&ar, namespace).await.map_err(|e| fail(e.to_string()))? {
            if is_static(&obj) {
                continue;
            }
            let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            let t = crate::run::kube_io::Target {
                api_version: api_version.into(),
                kind: kind.to_string(),
                name: s("/metadata/name"),
                namespace: s("/metadata/namespace"),
            };
            let body = serde_json::json!({"metadata": {"annotations": {REQUESTED_AT: token}}});
            let a = cx
                .kube
                .send(
                    http::Method::PATCH,
                    &crate::run::kube_io::Kube::url(&ar, &t, None, ""),
                    "application/merge-patch+json",
                    body.to_string().into_bytes(),
                )
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !a.ok() {
                return Err(fail(format!("cannot request a reconcile of {t}: {} {}", a.code, a.message())));
            }
        }
    }
    Ok(())
}

/// Objects Flux never reports on: suspended ones and OCI HelmRepositories (static, without
/// conditions).
fn is_static(obj: &Value) -> bool {
    obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
        || (obj.get("kind").and_then(Value::as_str) == Some("HelmRepository")
            && obj.pointer("/spec/type").and_then(Value::as_str) == Some("oci"))
}

/// The Flux objects that have no verdict yet, each with what it shows instead.
async fn without_verdict(
    cx: &Cx,
    kinds: &[&str],
    namespace: Option<&str>,
    token: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let mut pending = Vec::new();
    for kind in kinds {
        let Some(api_version) = flux_api_version(kind) else { continue };
        // A kind the cluster does not serve (Flux without Helm, say) has no objects to drive.
        let Ok((ar, _)) = cx.kube.resolve(api_version, kind).await else { continue };
        let list = cx.kube.list(&ar, namespace).await.map_err(|e| fail(e.to_string()))?;
        for obj in list {
            let why = no_verdict(&obj).or_else(|| {
                let handled = obj.pointer("/status/lastHandledReconcileAt").and_then(Value::as_str);
                match token {
                    Some(t) if !is_static(&obj) && handled != Some(t) => {
                        Some(format!("has not handled the reconcile requested at {t} yet"))
                    }
                    _ => None,
                }
            });
            if let Some(why) = why {
                let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
                pending.push(format!("{kind} {}/{}: {why}", s("/metadata/namespace"), s("/metadata/name")));
            }
        }
    }
    Ok(pending)
}

/// Why an object has no verdict yet (None: it has one).
pub fn no_verdict(obj: &Value) -> Option<String> {
    if is_static(obj) {
        return None;
    }
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let ready = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready")));
    let Some(ready) = ready else { return Some("no Ready condition yet".into()) };
    let status = ready.get("status").and_then(Value::as_str).unwrap_or_default();
    if status != "True" && status != "False" {
        let msg = ready.get("message").and_then(Value::as_str).unwrap_or_default();
        return Some(format!("Ready={status} ({msg})"));
    }
    let observed = ready
        .get("observedGeneration")
        .or_else(|| obj.pointer("/status/observedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(generation);
    if observed < generation {
        return Some(format!("Ready reflects generation {observed}, the object is at {generation}"));
    }
    None
}
