//! `delete`: delete an object (propagation Background by default) and wait until it is gone,
//! so the next step sees the deletion finished. A missing object is the API's NotFound, which
//! an `error` expectation may ask for.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use super::ActionResult;
use crate::run::context::{fail, Cx, POLL_MAX, POLL_MIN};
use crate::run::events::Failure;
use crate::run::expect::absent::holding;
use crate::scenario::{Delete, Propagation};

/// How long a delete waits for the object to go by default (chainsaw's delete default is 15s).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

pub async fn run(cx: &Cx, d: &Delete, wants_failure: bool) -> Result<ActionResult, Failure> {
    let (t, ar) = cx.resolve(&d.api_version, &d.kind, &d.name, d.namespace.as_deref()).await?;
    let policy = match d.propagation.unwrap_or(Propagation::Background) {
        Propagation::Background => "Background",
        Propagation::Foreground => "Foreground",
        Propagation::Orphan => "Orphan",
    };
    let body =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}).to_string().into_bytes();
    let url = crate::run::kube_io::Kube::url(&ar, &t, None, "");
    let answer = cx.kube.send(Method::DELETE, &url, "application/json", body).await.map_err(|e| fail(e.to_string()))?;
    let mut result = ActionResult { warnings: answer.warnings.clone(), failed: None };
    if !answer.ok() {
        result.failed = Some(answer);
        return Ok(result);
    }
    if d.wait && !wants_failure {
        let start = Instant::now();
        let mut pause = POLL_MIN;
        loop {
            // On the simulator the controllers are done with the deletion (finalizers,
            // cascades) once it has settled, so the first look needs no sleep before it;
            // elsewhere settling does nothing and the looks back off.
            cx.stage.settle().await.map_err(|e| fail(e.to_string()))?;
            match cx.kube.get(&ar, &t).await.map_err(|e| fail(e.to_string()))? {
                None => break,
                Some(obj) if start.elapsed() >= DEFAULT_WAIT => {
                    return Err(fail(format!(
                        "{t} was not gone {}s after delete{}",
                        DEFAULT_WAIT.as_secs(),
                        holding(&obj)
                    )));
                }
                Some(_) => {
                    if !cx.pause(pause).await {
                        return Err(fail("interrupted"));
                    }
                    pause = (pause * 2).min(POLL_MAX);
                }
            }
        }
    }
    Ok(result)
}
