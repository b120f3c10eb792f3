//! `patch`: merge, strategic or JSON patch of an object (or its status subresource).

use http::Method;

use super::ActionResult;
use crate::run::context::{fail, Cx};
use crate::run::events::Failure;
use crate::scenario::{PatchKind, PatchStep};

pub async fn run(cx: &Cx, p: &PatchStep, _wants_failure: bool) -> Result<ActionResult, Failure> {
    let (t, ar) = cx.resolve(&p.api_version, &p.kind, &p.name, p.namespace.as_deref()).await?;
    let ctype = match p.type_ {
        PatchKind::Merge => "application/merge-patch+json",
        PatchKind::Strategic => "application/strategic-merge-patch+json",
        PatchKind::Json => "application/json-patch+json",
    };
    let body = serde_json::to_vec(&cx.subst_value(&p.patch)?).map_err(|e| fail(e.to_string()))?;
    let url = crate::run::kube_io::Kube::url(&ar, &t, p.subresource.as_deref(), "fieldManager=idp-harness");
    let answer = cx.kube.send(Method::PATCH, &url, ctype, body).await.map_err(|e| fail(e.to_string()))?;
    let warnings = answer.warnings.clone();
    Ok(ActionResult { failed: (!answer.ok()).then_some(answer), warnings })
}
