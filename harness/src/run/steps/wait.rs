//! `wait`: until an object has a condition (status default `True`), exists, or is gone.
//! Default limit 30s; the step's `timeout` overrides it.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::context::{fail, Cx, POLL_MAX, POLL_MIN};
use crate::run::events::Failure;
use crate::run::expect::absent::holding;
use crate::scenario::Wait;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(cx: &Cx, w: &Wait, timeout: Option<Duration>) -> Result<(), Failure> {
    let limit = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let (t, ar) = cx.resolve(&w.api_version, &w.kind, &w.name, w.namespace.as_deref()).await?;
    let want_status = w.status.clone().unwrap_or_else(|| "True".into());
    let start = Instant::now();
    let mut pause = POLL_MIN;
    loop {
        // On the simulator, what the controllers will do has been done once it has settled.
        cx.stage.settle().await.map_err(|e| fail(e.to_string()))?;
        let obj = cx.kube.get(&ar, &t).await.map_err(|e| fail(e.to_string()))?;
        let (done, state) = match (&obj, &w.condition) {
            (None, _) if w.deleted => (true, String::new()),
            (Some(o), _) if w.deleted => (false, format!("still exists{}", holding(o))),
            (Some(_), _) if w.created => (true, String::new()),
            (None, _) => (false, "does not exist".into()),
            (Some(o), Some(cond)) => {
                let c = o
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(cond.as_str())));
                match c {
                    Some(c) if c.get("status").and_then(Value::as_str) == Some(want_status.as_str()) => {
                        (true, String::new())
                    }
                    Some(c) => (
                        false,
                        format!(
                            "condition {cond} is {} ({})",
                            c.get("status").and_then(Value::as_str).unwrap_or("?"),
                            c.get("message").and_then(Value::as_str).unwrap_or("")
                        ),
                    ),
                    None => (false, format!("has no condition {cond}")),
                }
            }
            (Some(_), None) => (true, String::new()),
        };
        if done {
            return Ok(());
        }
        if start.elapsed() >= limit {
            return Err(fail(format!("{t} {state} after {}", crate::scenario::Duration(limit))));
        }
        if !cx.pause(pause).await {
            return Err(fail("interrupted"));
        }
        pause = (pause * 2).min(POLL_MAX);
    }
}
