//! `flux`: a Flux object's verdict, read from its Ready condition (status, reason, message
//! pattern) and its revision (`status.lastAppliedRevision` for Kustomizations and
//! HelmReleases, `status.artifact.revision` for sources). Failures quote the actual condition.

use serde_json::Value;

use super::condition;
use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::model::flux_api_version;
use crate::scenario::{ConditionExpect, FluxExpect};

/// Where Flux objects live unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "flux-system";

pub async fn check(cx: &Cx, f: &FluxExpect) -> Result<(), Failure> {
    let api_version = flux_api_version(&f.kind).ok_or_else(|| fail(format!("{:?} is not a Flux kind", f.kind)))?;
    let namespace = f.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let c = ConditionExpect {
        api_version: api_version.to_string(),
        kind: f.kind.clone(),
        name: f.name.clone(),
        namespace: Some(namespace.clone()),
        type_: "Ready".into(),
        status: Some(if f.ready.unwrap_or(true) { "True" } else { "False" }.into()),
        reason: f.reason.clone(),
        message: f.message.clone(),
    };
    condition::check(cx, &c).await?;
    let Some(pattern) = &f.revision else { return Ok(()) };
    let (t, ar) = cx.resolve(api_version, &f.kind, &f.name, Some(&namespace)).await?;
    let obj = cx.kube.get(&ar, &t).await.map_err(|e| fail(e.to_string()))?.unwrap_or(Value::Null);
    let pointer = if f.kind == "Kustomization" || f.kind == "HelmRelease" {
        "/status/lastAppliedRevision"
    } else {
        "/status/artifact/revision"
    };
    let revision = obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
    let re = regex::Regex::new(&cx.subst(pattern)?).map_err(|e| fail(format!("invalid revision pattern: {e}")))?;
    if !re.is_match(revision) {
        return Err(fail(format!("{t} revision {revision:?} (at {pointer}); expected it to match /{pattern}/")));
    }
    Ok(())
}
